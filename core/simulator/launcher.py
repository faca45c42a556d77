"""The simulator's one door for production code: start it, find its URLs, teach it, and the
``switchyard simulator`` command.

The simulator is a leaf: nothing outside ``core/simulator`` imports any other module of it
(tests may), so it can change shape without touching the app, and no production module can
come to depend on its engine. The server (uvicorn, every protocol's routes) is imported only
when a simulator is started, so the CLI and the app do not pay for it until then.

    handle = start_background(seed=1, latency_scale=0)
    urls = handle.base_urls          # {"openai": "http://127.0.0.1:PORT/openai/v1", ...}
    ...
    handle.stop()
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.simulator.cli import simulator_command
from core.simulator.knowledge import KnowledgeUpdate, TeachError, teach
from core.simulator.urls import base_urls

if TYPE_CHECKING:
    from core.simulator.server import SimulatorHandle

__all__ = ["KnowledgeUpdate", "SimulatorHandle", "TeachError", "base_urls", "serve",
           "simulator_command", "start_background", "teach"]


def start_background(port: int = 0, **kw: Any) -> SimulatorHandle:
    """A simulator on 127.0.0.1:``port`` in a daemon thread (see
    :func:`core.simulator.server.start_background`)."""
    from core.simulator.server import start_background as start

    return start(port, **kw)


def serve(port: int = 8787, **sim_kwargs: Any) -> None:
    """The simulator in the foreground until interrupted."""
    from core.simulator.server import serve as run

    run(port, **sim_kwargs)
