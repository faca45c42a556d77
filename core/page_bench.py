"""`switchyard bench pages`: how long a signed-in admin waits when switching pages.

Seed 002 asks for pages within 500 ms. This drives the real app (`streamlit run app.py` on a
loopback port, over a fresh home with the default demo: ``switchyard init``'s 200k events and
simulated providers) in Debian's chromium through Playwright, as the browser tests do, and
times each sidebar click from the click until the page has finished drawing.

"Finished drawing" is read off the app's own protocol, not guessed from a spinner: the
browser's websocket carries Streamlit's ``ForwardMsg`` protobufs, and a script run ends with a
``script_finished`` message. A switch is done at the last ``script_finished`` after the click
that no new run follows within a short quiet period (a page may rerun itself once), plus one
animation frame for the browser to paint the last of what arrived (half of a measured double
``requestAnimationFrame``). Nothing here asserts a time: it prints one JSON line with each
page's median and maximum, and the target, for a person to compare.

Playwright is a development dependency (the browser tests use it), imported only here.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from core.settings import PROJECT_ROOT

TARGET_MS = 500.0
QUIET_S = 0.35  # a run that starts later than this after the last one is not part of the switch
ADMIN, PASSWORD = "bench-admin", "bench-password-0123"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-gpu", "--no-first-run"]


class BenchError(RuntimeError):
    """The benchmark could not run (no chromium, the app did not start, a page never drew)."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _prepare(home: Path, events: int) -> None:
    """Like `make run`'s `switchyard init`, plus one admin to sign in as."""
    env = {**os.environ, "SWITCHYARD_HOME": str(home), "SWITCHYARD_DEMO_EVENTS": str(events)}
    cli = [sys.executable, "-m", "core.cli"]
    subprocess.run([*cli, "init"], cwd=PROJECT_ROOT, env=env, check=True, timeout=900,
                   stdout=subprocess.DEVNULL)
    script = ("from core.auth import UserStore\n"
              f"UserStore().add_user({ADMIN!r}, 'Bench Admin', '', {PASSWORD!r}, 'admin', 'demo')")
    subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, env=env, check=True,
                   timeout=120)


@contextmanager
def _serve(home: Path):
    port = _free_port()
    env = {**os.environ, "SWITCHYARD_HOME": str(home)}
    log_path = home.parent / "streamlit.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            # served as `make run` serves it (core/web.py's headers and session cookie)
            [sys.executable, "-m", "streamlit", "run", "core/launcher/switchyard_web.py",
             "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.headless", "true",
             "--browser.gatherUsageStats", "false"],
            cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 90
            while True:
                try:
                    if httpx.get(f"{url}/_stcore/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise BenchError("The app did not start:\n" + log_path.read_text()[-2000:])
                time.sleep(0.3)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


class _RunWatcher:
    """Timestamps of ``script_finished`` and ``new_session`` messages on the app's websocket."""

    def __init__(self) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        self._parse = ForwardMsg.FromString
        self._lock = threading.Lock()
        self.events: list[tuple[float, str]] = []

    def on_frame(self, payload: bytes | str) -> None:
        if isinstance(payload, str):
            return
        try:
            kind = self._parse(payload).WhichOneof("type")
        except Exception:  # noqa: BLE001 - not a ForwardMsg (should not happen): ignore it
            return
        if kind in ("script_finished", "new_session"):
            with self._lock:
                self.events.append((time.perf_counter(), kind))

    def since(self, t0: float) -> list[tuple[float, str]]:
        with self._lock:
            return [e for e in self.events if e[0] >= t0]


def _wait_switch(page: Any, watcher: _RunWatcher, t0: float, timeout_s: float = 60.0) -> float:
    """Milliseconds from ``t0`` to the end of the last run of this switch."""
    deadline = time.perf_counter() + timeout_s
    while time.perf_counter() < deadline:
        page.wait_for_timeout(20)  # lets Playwright deliver websocket events
        events = watcher.since(t0)
        finished = [t for t, kind in events if kind == "script_finished"]
        if not finished:
            continue
        last_start = max((t for t, kind in events if kind == "new_session"), default=0.0)
        if last_start > finished[-1]:
            continue  # a rerun is under way
        if time.perf_counter() - finished[-1] >= QUIET_S:
            # what arrived is drawn as it arrives; the last deltas need one more frame
            f0 = time.perf_counter()
            page.evaluate("() => new Promise(r => requestAnimationFrame("
                          "() => requestAnimationFrame(r)))")
            return (finished[-1] - t0 + (time.perf_counter() - f0) / 2) * 1000
    raise BenchError("A page did not finish drawing within a minute.")


def _sign_in(page: Any, url: str) -> None:
    page.goto(url)
    page.get_by_label("Username").wait_for(timeout=60_000)
    page.wait_for_timeout(1500)  # let the first runs (session resume, navigation) finish
    for attempt in range(3):
        page.get_by_label("Username").fill(ADMIN)
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        try:
            page.get_by_role("heading", name="Usage & Cost").wait_for(timeout=20_000)
            return
        except Exception:  # noqa: BLE001 - a rerun swallowed the click: try again
            if attempt == 2:
                raise BenchError("Could not sign in to the app.") from None


def _pages() -> list[str]:
    from core.session import PAGE_FILES  # the sidebar's titles, in order

    return [title for _, title, _ in PAGE_FILES.values()]


def run_pages_bench(*, events: int = 200_000, rounds: int = 4,
                    progress: Callable[[str], None] = lambda m: None) -> dict[str, Any]:
    """Median and maximum page-switch time per page over ``rounds`` rounds of the sidebar."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        raise BenchError("Debian's chromium is not installed (apt-get install chromium).")
    from playwright.sync_api import sync_playwright

    titles = _pages()
    times: dict[str, list[float]] = {t: [] for t in titles}
    with tempfile.TemporaryDirectory(prefix="switchyard-bench-pages-") as tmp:
        home = Path(tmp) / "home"
        progress(f"Preparing a home with the default demo ({events:,} events)…")
        _prepare(home, events)
        with _serve(home) as url, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=exe, headless=True, args=CHROMIUM_ARGS)
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            page = context.new_page()
            watcher = _RunWatcher()
            page.on("websocket", lambda ws: ws.on("framereceived", watcher.on_frame))
            _sign_in(page, url)
            _wait_switch(page, watcher, 0.0)
            order = [*titles[1:], titles[0]]  # start away from the page we landed on
            for r in range(rounds + 1):  # round 0 warms every page's caches up, untimed
                for title in order:
                    link = page.get_by_role("link", name=title)
                    t0 = time.perf_counter()
                    link.click()
                    ms = _wait_switch(page, watcher, t0)
                    if r:
                        times[title].append(ms)
                progress(f"round {r}/{rounds}" + (" (warm-up)" if r == 0 else ""))
            browser.close()
    result: dict[str, Any] = {"events": events, "rounds": rounds, "target_ms": TARGET_MS}
    for title, values in times.items():
        result[title] = {"median_ms": round(statistics.median(values), 1),
                         "max_ms": round(max(values), 1)}
    result["all_within_target"] = all(v["median_ms"] <= TARGET_MS
                                      for k, v in result.items() if isinstance(v, dict))
    return result


def main() -> None:  # pragma: no cover - `python -m core.page_bench`
    print(json.dumps(run_pages_bench(progress=lambda m: print(m, file=sys.stderr))))


if __name__ == "__main__":  # pragma: no cover
    main()
