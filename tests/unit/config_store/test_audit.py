"""The audit log refuses secret-looking detail fields and stays append-only."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from core.config_store import ProviderStore, connect, write_audit
from core.config_store.db import write_transaction

CANARY = "sk-CANARY-0b9e3d1f"


@pytest.mark.parametrize("field", ["api_key", "API-Key", "password", "token", "secret",
                                   "authorization"])
def test_secret_looking_detail_fields_are_refused_and_nothing_is_written(
        home: Path, field: str) -> None:
    store = ProviderStore()
    with pytest.raises(ValueError, match="looks like a secret"):
        store.audit("demo", "ann", "provider.updated", "p1", {"name": "x", field: CANARY})
    assert store.audit_entries("demo") == []
    conn = connect()
    try:
        with pytest.raises(ValueError, match="looks like a secret"), write_transaction(conn):
            write_audit(conn, "demo", "ann", "provider.updated", "p1", {field: CANARY})
        dump = "\n".join(conn.iterdump())
    finally:
        conn.close()
    assert CANARY not in dump


def test_names_and_counts_are_recorded(home: Path) -> None:
    store = ProviderStore()
    store.audit("demo", "ann", "provider.updated", "p1", {"name": "OpenAI", "models": 3})
    [entry] = store.audit_entries("demo")
    assert (entry.actor, entry.action, entry.target) == ("ann", "provider.updated", "p1")
    assert entry.detail == {"name": "OpenAI", "models": 3}


def test_the_audit_log_is_append_only(home: Path) -> None:
    store = ProviderStore()
    store.audit("demo", "ann", "provider.updated", "p1", {"name": "x"})
    conn = connect()
    try:
        for sql in ("UPDATE audit_log SET actor = 'eve'", "DELETE FROM audit_log"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                conn.execute(sql)
    finally:
        conn.close()
