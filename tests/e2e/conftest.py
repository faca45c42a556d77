"""Browser tests: the real app served by `streamlit run`, driven by Playwright in Debian's chromium."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct-horse-42"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare_home(home: Path, events: int = 20000) -> Path:
    """A home with an owner admin and, unless ``events`` is 0, a small demo history (built
    like `switchyard demo`), in a subprocess as the CLI would."""
    env = {**os.environ, "SWITCHYARD_HOME": str(home)}
    today = date.today()
    script = (
        "from datetime import date\n"
        "from core.auth import UserStore\n"
        "from core.warehouse.db import get_warehouse\n"
        "from core.warehouse.demo import build_demo\n"
        f"UserStore().add_user('owner', 'Olivia Owner', '', {PASSWORD!r}, 'admin', 'demo')\n"
    )
    if events:
        script += (f"build_demo(get_warehouse(), events={events}, days=40, seed=5, "
                   f"end=date({today.year}, {today.month}, {today.day}))\n")
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, check=True, timeout=300)
    return home


@pytest.fixture(scope="session")
def e2e_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return prepare_home(tmp_path_factory.mktemp("e2e") / "home")


@contextmanager
def serve(home: Path, log_name: str = "streamlit.log") -> Iterator[str]:
    """`streamlit run app.py` on a free loopback port with SWITCHYARD_HOME=home; yields the URL."""
    port = _free_port()
    env = {**os.environ, "SWITCHYARD_HOME": str(home)}
    log_path = home.parent / log_name
    log = log_path.open("w")  # a file, not a pipe: nobody reads a pipe, and a full one blocks
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true",
         "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/_stcore/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.3)
    else:
        proc.kill()
        raise RuntimeError("streamlit did not start:\n" + log_path.read_text())
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="session")
def app_url(e2e_home: Path) -> Iterator[str]:
    with serve(e2e_home) as url:
        yield url


@pytest.fixture(scope="session")
def browser():
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.fail("Debian's chromium is not installed; `make test` installs it (apt-get install chromium).")
    from playwright.sync_api import expect, sync_playwright

    # A busy 2-core CI machine renders slower than a laptop: wait up to 30 s for a state.
    expect.set_options(timeout=30_000)

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=exe, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture()
def page(browser, tmp_path: Path):
    context = browser.new_context(accept_downloads=True, viewport={"width": 1400, "height": 1000})
    p = context.new_page()
    p.set_default_timeout(30_000)
    yield p
    context.close()
