"""Shared fixtures: every test gets its own SWITCHYARD_HOME."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh SWITCHYARD_HOME with nothing in it; secrets come from generated files."""
    h = tmp_path / "home"
    monkeypatch.setenv("SWITCHYARD_HOME", str(h))
    for var in ("SWITCHYARD_COOKIE_KEY", "SWITCHYARD_WAREHOUSE", "SWITCHYARD_CREDENTIALS",
                "SWITCHYARD_CONFIG_DB", "SWITCHYARD_COOKIE_KEY_FILE", "SWITCHYARD_MASTER_KEY",
                "SWITCHYARD_MASTER_KEY_FILE"):
        monkeypatch.delenv(var, raising=False)
    return h
