"""Browser-suite fixtures: the real app served by `streamlit run`, driven by Playwright in
Debian's chromium."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import CHROMIUM_ARGS, prepare_home, serve


@pytest.fixture(scope="session")
def e2e_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return prepare_home(tmp_path_factory.mktemp("e2e") / "home")


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
