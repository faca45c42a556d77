"""AppTest fixtures: a home with users and a little demo history."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.auth import UserStore
from core.domain import Role
from core.warehouse.db import Warehouse
from tests.helpers import DEMO_END, PASSWORD


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


@pytest.fixture()
def offered_downloads(monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """What each download button of a run offers, by key (or label): the exact bytes a user
    would save."""
    import streamlit as st
    from streamlit.delta_generator import DeltaGenerator

    offered: dict[str, object] = {}
    real = DeltaGenerator.download_button

    def spy(self, label, data, *args, **kwargs):
        offered[kwargs.get("key") or label] = data
        return real(self, label, data, *args, **kwargs)

    monkeypatch.setattr(DeltaGenerator, "download_button", spy)
    monkeypatch.setattr(st, "download_button", lambda *a, **kw: spy(st._main, *a, **kw))
    return offered
