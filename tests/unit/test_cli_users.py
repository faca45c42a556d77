"""`switchyard init` leaves a private home; `switchyard users unlock|sessions` end lockouts and
sessions, as an operator runs them."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner

from core.auth import UserStore
from core.cli import main
from core.config_store import ProviderStore
from core.config_store.sessions import SessionStore
from core.domain import Role
from core.signin import SignIn
from tests.helpers import PASSWORD, ROOT


def _run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_init_leaves_the_home_0700_and_every_runtime_file_0600(home: Path, sim) -> None:
    env = {**os.environ, "SWITCHYARD_DEMO_EVENTS": "2000", "SWITCHYARD_DEMO_DAYS": "3"}
    done = subprocess.run([sys.executable, "-c", "from core.cli import main; main()", "init"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Building demo history: 2,000 events" in done.stdout
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    files = [p for p in home.rglob("*") if p.is_file()]
    names = {p.name for p in files}
    assert {"warehouse.duckdb", "config.sqlite", "cookie.key", "master.key"} <= names
    for p in files:
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
    for d in (p for p in home.rglob("*") if p.is_dir()):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700, d


def test_the_warehouse_is_private_even_when_a_library_opens_it(home: Path) -> None:
    from core.settings import get_settings
    from core.warehouse.db import Warehouse

    os.umask(0o022)  # a process that did not go through the CLI
    wh = Warehouse(get_settings().warehouse_path)
    with wh.cursor():
        pass
    wh.close()
    assert stat.S_IMODE(get_settings().warehouse_path.stat().st_mode) == 0o600


def _users() -> UserStore:
    store = UserStore()
    store.add_user("owner", "Owner", "", PASSWORD, Role.admin, "demo")
    store.add_user("ann", "Ann", "", PASSWORD, Role.analyst, "demo")
    return store


def test_users_unlock(home: Path) -> None:
    _users()
    now = [datetime(2026, 11, 20, 9, 0, tzinfo=UTC)]
    service = SignIn(clock=lambda: now[0])
    for i in range(5):
        service.attempt("ann", f"wrong-{i}")
        now[0] += timedelta(seconds=30)  # past each delay
    assert "ann" in service.lockouts()
    result = _run("users", "unlock", "ann")
    assert result.exit_code == 0 and "Unlocked ann" in result.output
    assert service.lockouts() == {}
    unlocks = [(e.org_id, e.actor, e.target, e.detail)
               for e in ProviderStore().audit_entries("demo", limit=1000)
               if e.action == "auth.unlocked"]
    assert unlocks == [("demo", "cli", "ann", {})]  # the operator, in ann's organization
    assert service.attempt("ann", PASSWORD).session_id is not None


def test_users_sessions_revoke_all_and_by_user(home: Path) -> None:
    store = _users()
    service = SignIn(store)
    ann = service.open_session(store.get("ann")).session_id
    owner = service.open_session(store.get("owner")).session_id
    result = _run("users", "sessions", "revoke", "--user", "ann")
    assert result.exit_code == 0 and "Ended 1 session." in result.output
    assert service.resume(session_id=ann) is None
    assert service.resume(session_id=owner) is not None
    listed = _run("users", "sessions", "list")
    assert listed.output.startswith("owner\tdemo\t")
    result = _run("users", "sessions", "revoke", "--all")
    assert "Ended 1 session." in result.output
    assert service.resume(session_id=owner) is None
    assert SessionStore().live(service.clock()) == []
    assert _run("users", "sessions", "revoke").exit_code == 2  # --all or --user, not neither
