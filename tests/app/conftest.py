"""AppTest helpers: a home with users and a little demo history, and signed-in sessions."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.auth import UserStore
from core.domain import Role
from core.warehouse.db import Warehouse

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct-horse-42"
DEMO_END = date(2026, 11, 20)


@pytest.fixture()
def seeded_home(home: Path) -> Path:
    """Owner admin + one user per role in 'demo', an admin of 'acme', and demo history."""
    from core.settings import get_settings
    from core.warehouse.demo import build_demo

    store = UserStore()
    store.add_user("owner", "Olivia Owner", "", PASSWORD, Role.admin, "demo")
    for role in ("editor", "analyst", "viewer"):
        store.add_user(role, role.title(), "", PASSWORD, role, "demo")
    store.add_user("acme_admin", "Acme Admin", "", PASSWORD, Role.admin, "acme")
    wh = Warehouse(get_settings().warehouse_path)
    build_demo(wh, events=6000, days=40, seed=3, end=DEMO_END)
    wh.close()
    return home


HARNESS = Path(__file__).resolve().parent / "harness" / "streamlit_app.py"


def app() -> AppTest:
    """The whole app (sign-in, navigation, sidebar, page) as the server runs it."""
    return AppTest.from_file(str(HARNESS), default_timeout=60)


def page_path(name: str) -> str:
    """A page's path for ``AppTest.switch_page`` (pages are registered by absolute path)."""
    return str(ROOT / "pages" / f"{name}.py")


def signed_in(username: str) -> AppTest:
    """An AppTest whose session is signed in as ``username`` (as after the login form)."""
    at = app()
    at.session_state["authentication_status"] = True
    at.session_state["username"] = username
    at.session_state["name"] = username
    return at.run()


def login(at: AppTest, username: str, password: str) -> AppTest:
    user_box = next(t for t in at.text_input if t.label == "Username")
    pass_box = next(t for t in at.text_input if t.label == "Password")
    user_box.input(username)
    pass_box.input(password)
    next(b for b in at.button if b.label == "Sign in").click()
    return at.run()
