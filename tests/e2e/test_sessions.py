"""As an attacker would: a sign-in cookie copied before sign-out opens nothing afterwards."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from core.settings import get_settings
from tests.helpers import PASSWORD, prepare_home, serve

pytestmark = pytest.mark.e2e


def _sign_in(page: Page, url: str) -> None:
    page.goto(url)
    page.get_by_label("Username").fill("owner")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Usage & Cost")).to_be_visible()


def _session_cookie(page: Page, name: str) -> dict:
    """The session cookie once the browser has it (the sign-in's pixel sets it)."""
    for _ in range(100):
        found = [c for c in page.context.cookies() if c["name"] == name]
        if found:
            return found[0]
        page.wait_for_timeout(100)
    raise AssertionError(f"no {name} cookie was set")


def test_a_cookie_replayed_after_sign_out_lands_on_the_sign_in_form(
        browser: Browser, tmp_path: Path) -> None:
    home = prepare_home(tmp_path / "home", events=0)
    name = get_settings().cookie_name
    with serve(home, "sessions.log") as url:
        victim = browser.new_context()
        page = victim.new_page()
        _sign_in(page, url)
        cookie = _session_cookie(page, name)
        assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
        assert name not in page.evaluate("document.cookie")  # no script can read it

        # the copied cookie works while the session lives (a reload keeps the sign-in) ...
        thief = browser.new_context()
        thief.add_cookies([cookie])
        stolen = thief.new_page()
        stolen.goto(url)
        expect(stolen.get_by_role("heading", name="Usage & Cost")).to_be_visible()
        thief.close()

        # ... and opens nothing once its owner has signed out
        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_role("button", name="Sign in")).to_be_visible()
        replay = browser.new_context()
        replay.add_cookies([cookie])
        again = replay.new_page()
        again.goto(url)
        expect(again.get_by_role("button", name="Sign in")).to_be_visible()
        expect(again.get_by_label("Password", exact=True)).to_be_visible()
        expect(again.get_by_role("heading", name="Usage & Cost")).to_have_count(0)
        replay.close()

        # the victim's own browser has forgotten the cookie too
        page.reload()
        expect(page.get_by_role("button", name="Sign in")).to_be_visible()
        assert not [c for c in victim.cookies() if c["name"] == name]
        victim.close()
