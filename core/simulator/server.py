"""Serving the simulator with uvicorn on 127.0.0.1: in a background thread for tests and
the demo (:func:`start_background`), or in the foreground for the CLI (:func:`serve`).

Only the loopback interface is ever bound: the simulator accepts any key and has admin
endpoints, so it must not be reachable from other machines.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from core.simulator.app import create_app
from core.simulator.engine import Simulator
from core.simulator.urls import base_urls

HOST = "127.0.0.1"


@dataclass
class SimulatorHandle:
    """A running simulator: where it is, its state, and how to stop it."""

    url: str
    port: int
    simulator: Simulator
    app: ASGIApp = field(repr=False)  # what is served (tests may also drive it in-process)
    _server: uvicorn.Server = field(repr=False)
    _thread: threading.Thread = field(repr=False)

    @property
    def base_urls(self) -> dict[str, str]:
        return base_urls(self.url)

    def stop(self, timeout: float = 5.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)

    def __enter__(self) -> SimulatorHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _config(app: ASGIApp, port: int) -> uvicorn.Config:
    # uvloop and httptools (uvicorn's "standard" extras) when installed: the simulator then
    # spends a fraction of the time per request, so a benchmark measures the client, not it.
    return uvicorn.Config(app, host=HOST, port=port, log_level="warning",
                          access_log=False, lifespan="off", timeout_graceful_shutdown=1,
                          timeout_keep_alive=30, loop="auto", http="auto")


def start_background(port: int = 0, *, ready_timeout: float = 10.0,
                     **sim_kwargs: Any) -> SimulatorHandle:
    """Start a simulator on 127.0.0.1:``port`` (0 = any free port) in a daemon thread and
    return once it accepts connections. ``sim_kwargs`` go to :class:`Simulator` (seed,
    latency_scale, fixed_latency_ms, baseline_faults, ground_truth, prompt_set, …)."""
    sim = Simulator(**sim_kwargs)
    app = create_app(sim)
    server = uvicorn.Server(_config(app, port))
    thread = threading.Thread(target=server.run, name="switchyard-simulator", daemon=True)
    thread.start()
    deadline = time.monotonic() + ready_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"simulator did not start on {HOST}:{port}")
        time.sleep(0.01)
    # Let uvicorn bind (its own sockets get TCP_NODELAY; sockets handed in do not, which
    # costs ~40 ms per request through delayed ACKs) and read back the port it chose.
    bound = server.servers[0].sockets[0].getsockname()[1]
    return SimulatorHandle(f"http://{HOST}:{bound}", bound, sim, app, server, thread)


def serve(port: int = 8787, **sim_kwargs: Any) -> None:
    """Run the simulator in the foreground until interrupted (the CLI command)."""
    uvicorn.Server(_config(create_app(Simulator(**sim_kwargs)), port)).run()
