"""AppTest: first-run setup, sign-in, sign-out and role gating."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.auth import UserStore
from core.settings import get_settings
from tests.helpers import PASSWORD, ROOT, app, login, page_path, signed_in


def _fill(at, label: str, value: str) -> None:
    next(t for t in at.text_input if t.label == label).input(value)


def _click(at, label: str):
    next(b for b in at.button if b.label == label).click()
    return at.run()


def test_first_run_creates_the_owner_admin(home: Path) -> None:
    at = app().run()
    assert not at.exception
    assert at.title[0].value == "Welcome to Switchyard"

    _fill(at, "Username", "ada")
    _fill(at, "Display name", "Ada Lovelace")
    _fill(at, "Password", "short")
    _fill(at, "Repeat password", "short")
    at = _click(at, "Create admin account")
    assert "at least 8 characters" in at.error[0].value

    _fill(at, "Password", PASSWORD)
    _fill(at, "Repeat password", PASSWORD + "x")
    at = _click(at, "Create admin account")
    assert "differ" in at.error[0].value

    _fill(at, "Repeat password", PASSWORD)
    _fill(at, "Password", PASSWORD)
    at = _click(at, "Create admin account")
    assert not at.exception
    assert any("Admin account created" in s.value for s in at.success)

    creds = get_settings().credentials_path
    data = json.loads(creds.read_text())
    rec = data["usernames"]["ada"]
    assert rec["roles"] == ["admin"] and rec["owner"] is True and rec["org_id"] == "demo"
    assert rec["password"].startswith("$2") and PASSWORD not in creds.read_text()
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600

    at = login(at, "ada", "wrong-password")
    assert any("incorrect" in e.value for e in at.error)
    at = login(at, "ada", PASSWORD)
    assert not at.exception
    assert [t.value for t in at.title] == ["Usage & Cost"]


def test_cookie_key_is_generated_private_and_not_the_default(home: Path) -> None:
    app().run()
    key_file = get_settings().cookie_key_path
    assert key_file.exists()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text().strip()
    assert len(key) >= 32 and key != "some_key"


def test_sign_out_returns_to_the_sign_in_form(seeded_home: Path) -> None:
    at = signed_in("owner")
    assert [t.value for t in at.title] == ["Usage & Cost"]
    at = _click(at, "Sign out")
    assert not at.exception
    assert "Usage & Cost" not in [t.value for t in at.title] and not at.metric
    assert any(t.label == "Password" for t in at.text_input)
    assert any("signed out" in i.value for i in at.info)


def test_viewer_sees_only_their_pages_and_cannot_open_users_by_url(seeded_home: Path) -> None:
    at = signed_in("viewer")
    assert not at.exception
    assert [t.value for t in at.title] == ["Usage & Cost"]
    # navigation does not offer the Users page to a viewer at all ...
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(page_path("users"))

    # ... and the page itself refuses a viewer who reaches its script some other way.
    page = AppTest.from_file(str(ROOT / "pages" / "users.py"), default_timeout=60)
    page.session_state["_session_id"] = at.session_state["_session_id"]
    page.run()
    assert not page.exception
    assert any("do not have access" in e.value for e in page.error)
    assert not page.dataframe and not page.button


def test_signed_out_visitor_cannot_open_a_page_script(seeded_home: Path) -> None:
    page = AppTest.from_file(str(ROOT / "pages" / "usage.py"), default_timeout=60).run()
    assert not page.exception
    assert any("Please sign in" in e.value for e in page.error)
    assert not page.metric and not page.dataframe


def test_admin_adds_a_user_and_changes_their_role(seeded_home: Path) -> None:
    at = signed_in("owner")
    at.switch_page(page_path("users")).run()
    assert not at.exception
    assert at.title[0].value == "Users"
    _fill(at, "Username", "newbie")
    _fill(at, "Display name", "New Person")
    _fill(at, "Initial password", PASSWORD)
    at = _click(at, "Add user")
    assert not at.exception
    assert any("Added newbie" in s.value for s in at.success)

    at.selectbox(key="edit_user").select("newbie").run()
    at.selectbox(key="edit_role").select("analyst").run()
    at = _click(at, "Save role")
    assert any("newbie is now analyst" in s.value for s in at.success)

    # the new user can sign in with the role that was set
    fresh = login(app().run(), "newbie", PASSWORD)
    assert not fresh.exception
    assert [t.value for t in fresh.title] == ["Usage & Cost"]
    assert fresh.session_state["_user"].role.value == "analyst"


def test_admin_of_another_org_sees_only_their_org(seeded_home: Path) -> None:
    at = signed_in("acme_admin")
    assert not at.exception
    assert any("No usage in this organization yet" in i.value for i in at.info)
    # one organization to look at: no (faded, disabled) chooser, the sidebar names it
    assert "flt_org" not in [s.key for s in at.selectbox]
    assert any("Organization: `acme`" in c.value for c in at.sidebar.caption)
    at.switch_page(page_path("users")).run()
    names = at.dataframe[0].value["Username"].tolist()
    assert names == ["acme_admin"]


def _lock(username: str) -> None:
    """Lock ``username`` as five failed sign-ins would (the delays are unit-tested with a
    fake clock; here only the outcome matters)."""
    from datetime import UTC, datetime, timedelta

    from core.config_store.sessions import FailureCount, SessionStore

    now = datetime.now(UTC)
    SessionStore().set_failures("user", username, FailureCount(5, now, now + timedelta(minutes=15)))


def test_a_locked_out_user_is_refused_even_with_the_right_password(seeded_home: Path) -> None:
    _lock("editor")
    at = login(app().run(), "editor", PASSWORD)
    assert not at.exception
    assert "Usage & Cost" not in [t.value for t in at.title]
    [error] = at.error
    assert re.fullmatch(r"Too many attempts; try again in \d+ minutes\.", error.value)


def test_an_admin_unlocks_a_user_on_the_users_page(seeded_home: Path) -> None:
    _lock("editor")
    at = signed_in("owner")
    at.switch_page(page_path("users")).run()
    table = at.dataframe[0].value
    assert table.set_index("Username").loc["editor", "Locked until"] != ""
    at.selectbox(key="edit_user").select("editor").run()
    assert any("locked out" in w.value for w in at.warning)
    at = _click(at, "Unlock")
    assert not at.exception
    assert any("Unlocked editor" in s.value for s in at.success)
    fresh = login(app().run(), "editor", PASSWORD)
    assert [t.value for t in fresh.title] == ["Usage & Cost"]


def test_a_role_change_ends_the_users_open_session(seeded_home: Path) -> None:
    editor = signed_in("editor")
    assert [t.value for t in editor.title] == ["Usage & Cost"]
    store = UserStore()
    store.set_role("editor", "viewer", acting=store.get("owner"))
    editor.run()
    assert not editor.exception
    assert "Usage & Cost" not in [t.value for t in editor.title]
    assert any(t.label == "Password" for t in editor.text_input)
    assert any("session has ended" in i.value for i in editor.info)
