"""What several test modules share: a valid PNG without Pillow, a loopback guard, comparison
result rows with known properties, AppTest sessions, and a served app for the browser suite.

Tests import these from here, never from a ``conftest.py`` (which holds fixtures only) or
from another test module."""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "correct-horse-42"


def png(r: int, g: int, b: int, size: int = 2) -> bytes:
    """A size×size PNG of one colour (real bytes: providers and the simulator decode it)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + bytes((r, g, b)) * size for _ in range(size))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0,
                                                               0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def forbid_non_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any attempt to reach a host other than 127.0.0.1 (no internet in tests)."""
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: object) -> None:
        host = address[0] if isinstance(address, tuple) else address
        if host not in ("127.0.0.1", "::1", "localhost"):
            raise AssertionError(f"test tried to connect to {address!r}")
        return real_connect(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", connect)


def fake_results(models: dict[str, dict], items: int = 30, iterations: int = 2,
                 seed: int = 0, features: tuple[str, ...] = ("photo",)) -> pd.DataFrame:
    """``comparison_results``-like rows: per model key a mean ``score``, latency ``ms`` and
    ``cost`` per call, optional ``sd`` (score noise), ``errors`` (share failing) and ``vary``
    (answers differ across iterations). Items share a difficulty that pairing cancels."""
    rng = np.random.default_rng(seed)
    rows = []
    for key, m in models.items():
        for j in range(items):
            kind = features[j % len(features)]
            item = f"{'photo' if kind == 'photo' else 'prompt'}:{kind}-{j}"
            difficulty = (j % 5) / 10  # shared by every model: what pairing cancels
            for it in range(iterations):
                score = float(np.clip(m["score"] - difficulty + rng.normal(0, m.get("sd", .1)),
                                      0, 1))
                ok = rng.random() >= m.get("errors", 0.0)
                rows.append({
                    "model_key": key, "item_id": item, "iteration": it + 1,
                    "status": "ok" if ok else "error",
                    "duration_ms": m["ms"] * float(np.exp(rng.normal(0, .2))) if ok else None,
                    "cost_usd": m["cost"], "score": score if ok else 0.0,
                    "bucket": ("accurate" if score >= .8 else "partial" if score >= .4
                               else "failed") if ok else "failed",
                    "tags_json": None,
                    "output_text": f"{key} on {item}" + (f" take {it}" if m.get("vary") else ""),
                })
    return pd.DataFrame(rows)


# -- a simulated photo with known ground truth ---------------------------------------------

DOG = png(200, 120, 40)
DOG_TRUTH = {"tags": ["dog", "grass", "ball", "park", "tree", "sky", "leash", "sunlight"],
             "synonyms": {"dog": ["puppy", "canine"], "grass": ["lawn"]},
             "description": "A brown dog with a ball on the grass in a park."}


# -- AppTest -------------------------------------------------------------------------------

DEMO_END = date(2026, 11, 20)  # the last day of the AppTest homes' demo history
HARNESS = ROOT / "tests" / "app" / "harness" / "streamlit_app.py"


def app():
    """The whole app (sign-in, navigation, sidebar, page) as the server runs it."""
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(str(HARNESS), default_timeout=60)


def page_path(name: str) -> str:
    """A page's path for ``AppTest.switch_page`` (pages are registered by absolute path)."""
    return str(ROOT / "pages" / f"{name}.py")


def signed_in(username: str):
    """An AppTest whose session is signed in as ``username`` (as after the login form)."""
    from core.auth import UserStore
    from core.signin import SignIn

    user = UserStore().get(username)
    assert user is not None, username
    at = app()
    at.session_state["_session_id"] = SignIn().open_session(user).session_id
    return at.run()


def login(at, username: str, password: str):
    user_box = next(t for t in at.text_input if t.label == "Username")
    pass_box = next(t for t in at.text_input if t.label == "Password")
    user_box.input(username)
    pass_box.input(password)
    next(b for b in at.button if b.label == "Sign in").click()
    return at.run()


# -- the browser suite -----------------------------------------------------------------------

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
]


def free_port() -> int:
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


LAUNCHER = "core/launcher/switchyard_web.py"  # app.py behind Switchyard's server, as `make run`


@contextmanager
def serve(home: Path, log_name: str = "streamlit.log") -> Iterator[str]:
    """The app as `make run` serves it, on a free loopback port with SWITCHYARD_HOME=home;
    yields the URL."""
    port = free_port()
    env = {**os.environ, "SWITCHYARD_HOME": str(home)}
    log_path = home.parent / log_name
    log = log_path.open("w")  # a file, not a pipe: nobody reads a pipe, and a full one blocks
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", LAUNCHER, "--server.port", str(port),
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


def sign_in(page: Any, url: str, username: str = "owner", password: str = PASSWORD) -> None:
    """Sign in from the start page. The sign-in cookie component reruns the script once it
    has loaded; a click that lands in that rerun is lost, so wait for quiet and retry."""
    from playwright.sync_api import expect

    page.goto(url)
    settle(page)
    home = page.get_by_role("heading", name="Usage & Cost")
    for attempt in range(3):
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password", exact=True).fill(password)
        page.get_by_role("button", name="Sign in").click()
        try:
            expect(home).to_be_visible(timeout=15_000)
            break
        except AssertionError:
            if attempt == 2:
                raise
            settle(page)
    settle(page)


def settle(page: Any, quiet_ms: int = 900) -> None:
    """Wait until the script has finished running: the status widget shows while it runs, but
    only after a short delay, so it must stay away for ``quiet_ms`` (a person waits too)."""
    from playwright.sync_api import expect

    status = page.get_by_test_id("stStatusWidget")
    quiet, step = 0, 150
    for _ in range(400):  # at most ~60 s
        page.wait_for_timeout(step)
        quiet = quiet + step if status.count() == 0 else 0
        if quiet >= quiet_ms:
            return
    expect(status).to_have_count(0)


def go_to(page: Any, link: str, heading: str | None = None) -> None:
    """Open a page from the sidebar; click again if a rerun swallowed the first click."""
    from playwright.sync_api import expect

    target = page.get_by_role("heading", name=heading or link)
    for attempt in range(3):
        page.get_by_role("link", name=link).click()
        try:
            expect(target).to_be_visible(timeout=10_000)
            break
        except AssertionError:
            if attempt == 2:
                raise
            settle(page)
    settle(page)


def yaml_bomb(levels: int = 9) -> str:
    """Nine levels of nine aliases each, 9**9 (387 million) strings once expanded, as the
    tags of a photo: reading those tags is what costs gigabytes."""
    names = "abcdefghijklmnop"
    lines = [f"{names[0]}: &{names[0]} [" + ", ".join(['"lol"'] * 9) + "]"]
    for i in range(1, levels):
        lines.append(f"{names[i]}: &{names[i]} [" + ", ".join([f"*{names[i - 1]}"] * 9) + "]")
    return "\n".join(lines) + f"\nphotos:\n  red.png: {{tags: *{names[levels - 1]}}}\n"


def open_tab(at, key: str, label: str):
    """Open the tab ``label`` of the keyed tabs ``key`` (pages run only the open tab), as a
    click on it would, and rerun."""
    at.session_state[key] = label
    return at.run(timeout=60)
