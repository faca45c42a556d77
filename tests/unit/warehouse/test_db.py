"""Migrations, and the app and the CLI sharing one DuckDB file without corrupting or dead-locking."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest

from core.warehouse.db import Warehouse, WarehouseBusy
from core.warehouse.migrations import MIGRATIONS, migrate

ROOT = Path(__file__).resolve().parents[3]


def test_migrations_create_the_schema_once(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    assert migrate(con) == [v for v, _, _ in MIGRATIONS]
    assert migrate(con) == []  # idempotent
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert {"usage_events", "usage_hourly", "latency_daily_hist", "errors_hourly", "ingest_log",
            "quarantine", "schema_migrations"} <= tables
    cols = {r[0] for r in con.execute("DESCRIBE usage_events").fetchall()}
    assert {"provider_name", "request_model", "response_model", "input_tokens", "output_tokens",
            "cache_read_input_tokens", "reasoning_output_tokens", "error_type", "finish_reason",
            "org_id", "feature", "source", "cost_usd", "duration_ms", "ttft_ms", "request_id",
            "status"} <= cols


def test_extension_autoload_and_autoinstall_are_off(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path / "w.duckdb")
    with wh.cursor() as cur:
        settings = dict(cur.execute(
            "SELECT name, value FROM duckdb_settings() WHERE name IN "
            "('autoinstall_known_extensions', 'autoload_known_extensions')"
        ).fetchall())
    assert settings == {"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"}


def test_a_cursor_per_thread_works_concurrently(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path / "w.duckdb", idle_close_s=0.5)
    results: list[int] = []

    def work() -> None:
        with wh.cursor() as cur:
            results.append(cur.execute("SELECT count(*) FROM usage_events").fetchone()[0])

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [0] * 8
    wh.close()


HOLDER = """
import os, sys, time
from core.warehouse.db import Warehouse
wh = Warehouse(sys.argv[1], label="the Switchyard app")
with wh.cursor() as cur:
    print("holding", flush=True)
    # hold for the given seconds, or until the test creates the release file
    deadline = time.monotonic() + float(sys.argv[2])
    release = sys.argv[1] + ".release"
    while time.monotonic() < deadline and not os.path.exists(release):
        time.sleep(0.02)
"""


def _hold(path: Path, seconds: float) -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, "-c", HOLDER, str(path), str(seconds)], cwd=ROOT,
                         stdout=subprocess.PIPE, text=True)
    assert p.stdout is not None and p.stdout.readline().strip() == "holding"
    return p


def test_a_second_process_waits_says_so_and_then_succeeds(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    holder = _hold(path, 1.5)
    messages: list[str] = []
    wh = Warehouse(path, lock_timeout_s=30, on_wait=messages.append, label="test")
    t0 = time.monotonic()
    with wh.transaction() as cur:
        cur.execute("INSERT INTO ingest_log VALUES ('x', 'demo', 'f', 'jsonl', now()::TIMESTAMP, "
                    "now()::TIMESTAMP, 0, 0, 0, 0, 0)")
    assert time.monotonic() - t0 >= 0.5
    assert messages and "in use by the Switchyard app" in messages[0] and "waiting" in messages[0]
    assert holder.wait(10) == 0
    with wh.cursor() as cur:
        assert cur.execute("SELECT count(*) FROM ingest_log").fetchone()[0] == 1


def test_a_second_process_gives_up_with_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    holder = _hold(path, 3)
    wh = Warehouse(path, lock_timeout_s=0.3, label="test")
    with pytest.raises(WarehouseBusy, match="still in use by the Switchyard app"):
        with wh.cursor():
            pass
    holder.wait(10)


def test_cli_ingest_while_the_app_holds_the_warehouse(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    events = tmp_path / "e.jsonl"
    events.write_text("\n".join(json.dumps({
        "request_id": f"r{i}", "ts": "2026-11-01T10:00:00Z", "provider_name": "openai",
        "request_model": "gpt-4o", "input_tokens": 10, "output_tokens": 5, "duration_ms": 100,
    }) for i in range(5)))
    # Held until the CLI has said it waits, however slowly it starts on a busy machine.
    holder = _hold(home / "warehouse.duckdb", 120)
    env = {**os.environ, "SWITCHYARD_HOME": str(home)}
    cli = subprocess.Popen([sys.executable, "-m", "core.cli", "ingest", str(events)], cwd=ROOT,
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert cli.stderr is not None
    said = cli.stderr.readline()  # blocks until the CLI reports the wait (or exits)
    (home / "warehouse.duckdb.release").touch()
    stdout, rest = cli.communicate(timeout=60)
    assert cli.returncode == 0, said + rest
    assert "in use by the Switchyard app" in said
    assert "5 loaded" in stdout
    holder.wait(10)


def test_the_data_version_changes_on_commit_only_and_is_read_without_opening(
        tmp_path: Path) -> None:
    """Pages cache on this token: a commit must change it, a rollback or a read must not, and
    reading it must not open (or wait for) the DuckDB file."""
    wh = Warehouse(tmp_path / "w.duckdb")
    before = wh.data_version()
    with wh.cursor() as cur:
        cur.execute("SELECT 1").fetchall()
    assert wh.data_version() == before
    with wh.transaction() as cur:
        cur.execute("CREATE TABLE t (x INTEGER)")
    committed = wh.data_version()
    assert committed != before
    with pytest.raises(RuntimeError), wh.transaction() as cur:
        cur.execute("INSERT INTO t VALUES (1)")
        raise RuntimeError("boom")
    assert wh.data_version() == committed
    assert oct((tmp_path / "w.duckdb.version").stat().st_mode & 0o777) == "0o600"
    wh.close()
    other = Warehouse(tmp_path / "w.duckdb", lock_timeout_s=0.1)
    assert other.data_version() == committed and other._conn is None
