"""Shared fixtures: every test gets its own SWITCHYARD_HOME."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _keep_umask() -> Iterator[None]:
    """The CLI makes its process's files private (os.umask); run in-process by CliRunner,
    that must not leak into the next test."""
    mask = os.umask(0o022)
    os.umask(mask)
    yield
    os.umask(mask)


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh SWITCHYARD_HOME with nothing in it; secrets come from generated files."""
    h = tmp_path / "home"
    monkeypatch.setenv("SWITCHYARD_HOME", str(h))
    for var in ("SWITCHYARD_COOKIE_KEY", "SWITCHYARD_WAREHOUSE", "SWITCHYARD_CREDENTIALS",
                "SWITCHYARD_CONFIG_DB", "SWITCHYARD_COOKIE_KEY_FILE", "SWITCHYARD_MASTER_KEY",
                "SWITCHYARD_MASTER_KEY_FILE", "SWITCHYARD_SAMPLE_SETS"):
        monkeypatch.delenv(var, raising=False)
    return h


@pytest.fixture()
def sim(monkeypatch: pytest.MonkeyPatch) -> Iterator:
    """The provider simulator on a loopback port, instant answers; the app's and the CLI's
    simulated providers use it (SWITCHYARD_SIMULATOR_URL)."""
    from core.simulator.server import start_background

    with start_background(0, seed=5, latency_scale=0.0) as handle:
        monkeypatch.setenv("SWITCHYARD_SIMULATOR_URL", handle.url)
        yield handle
