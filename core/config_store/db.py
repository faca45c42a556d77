"""The config store's SQLite file: connections, versioned migrations, transactions.

SQLite in WAL mode suits this store: small transactional writes, several processes (the
app, the CLI, services reading assignments) reading while one writes. Every connection gets
``foreign_keys=ON`` (off by default in SQLite), a busy timeout so writers queue instead of
failing, ``synchronous=FULL`` (a committed key rotation must survive a power cut before
master.key is replaced) and ``secure_delete`` (old ciphertexts are zeroed, not left in free
pages).

Migrations are an append-only list: a new table is one more :class:`Migration`. Each is
applied once, inside a ``BEGIN IMMEDIATE`` transaction that re-reads the version, so two
processes starting together do not both apply it. Never edit an applied migration.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from core.settings import get_settings

BUSY_TIMEOUT_MS = 10_000


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


MIGRATIONS: list[Migration] = [
    Migration(
        1,
        "providers, encrypted provider secrets, audit log, meta",
        """
        CREATE TABLE meta (
            key   TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );

        CREATE TABLE providers (
            id                   TEXT PRIMARY KEY,
            org_id               TEXT NOT NULL,
            name                 TEXT NOT NULL,
            type                 TEXT NOT NULL,
            base_url             TEXT,
            settings_json        TEXT NOT NULL DEFAULT '{}',
            simulated            INTEGER NOT NULL DEFAULT 0 CHECK (simulated IN (0, 1)),
            version              INTEGER NOT NULL DEFAULT 1,
            created_at           TEXT NOT NULL,
            updated_at           TEXT NOT NULL,
            created_by           TEXT NOT NULL,
            updated_by           TEXT,
            last_test_at         TEXT,
            last_test_ok         INTEGER CHECK (last_test_ok IN (0, 1)),
            last_test_message    TEXT,
            last_test_latency_ms REAL,
            models_count         INTEGER,
            UNIQUE (org_id, id)
        );
        CREATE UNIQUE INDEX providers_org_name ON providers (org_id, name COLLATE NOCASE);

        -- Ciphertext only (core.vault format). The composite foreign key makes it impossible
        -- for a secret to point at another organization's provider.
        CREATE TABLE provider_secrets (
            provider_id TEXT PRIMARY KEY,
            org_id      TEXT NOT NULL,
            key_id      TEXT NOT NULL,
            ciphertext  BLOB NOT NULL,
            last4       TEXT NOT NULL DEFAULT '',
            updated_at  TEXT NOT NULL,
            updated_by  TEXT,
            FOREIGN KEY (org_id, provider_id) REFERENCES providers (org_id, id)
                ON DELETE CASCADE
        );
        CREATE INDEX provider_secrets_key_id ON provider_secrets (key_id);

        -- org_id NULL: an instance-wide event (e.g. master key rotation).
        CREATE TABLE audit_log (
            id          INTEGER PRIMARY KEY AUTOINCREMENT,
            ts          TEXT NOT NULL,
            org_id      TEXT,
            actor       TEXT NOT NULL,
            action      TEXT NOT NULL,
            target      TEXT,
            detail_json TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX audit_log_org ON audit_log (org_id, id);
        CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        BEGIN
            SELECT RAISE(ABORT, 'the audit log is append-only');
        END;
        CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
        BEGIN
            SELECT RAISE(ABORT, 'the audit log is append-only');
        END;
        """,
    ),
    Migration(
        2,
        "model catalog, classification rules, discovery runs",
        """
        -- One row per model a provider of an organization has listed. A model that is no
        -- longer listed is deactivated (deprecated_at), never deleted, so history and past
        -- usage keep their names; it is re-activated if it comes back. Removing a provider
        -- removes its models (the composite key keeps them inside the organization).
        CREATE TABLE catalog_models (
            org_id              TEXT NOT NULL,
            provider_id         TEXT NOT NULL,
            model_id            TEXT NOT NULL,
            display_name        TEXT,
            kind                TEXT NOT NULL
                                CHECK (kind IN ('text', 'vision', 'multimodal', 'tagging')),
            model_class         TEXT CHECK (model_class IN ('flagship', 'fast', 'legacy')),
            context_window      INTEGER,
            max_output_tokens   INTEGER,
            input_types_json    TEXT NOT NULL DEFAULT '["text"]',
            output_types_json   TEXT NOT NULL DEFAULT '["text"]',
            specialties_json    TEXT NOT NULL DEFAULT '[]',
            recommended_for     TEXT,
            released_at         TEXT,
            active              INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
            is_default          INTEGER NOT NULL DEFAULT 0 CHECK (is_default IN (0, 1)),
            default_pinned      INTEGER NOT NULL DEFAULT 0 CHECK (default_pinned IN (0, 1)),
            first_seen          TEXT NOT NULL,
            last_seen           TEXT NOT NULL,
            deprecated_at       TEXT,
            updated_at          TEXT NOT NULL,
            PRIMARY KEY (org_id, provider_id, model_id),
            FOREIGN KEY (org_id, provider_id) REFERENCES providers (org_id, id)
                ON DELETE CASCADE,
            CHECK (active = 1 OR (is_default = 0 AND deprecated_at IS NOT NULL))
        );
        CREATE UNIQUE INDEX catalog_models_one_default
            ON catalog_models (org_id, provider_id) WHERE is_default = 1;

        -- An organization's classification rules (first match wins). No rule set: the
        -- defaults (seed 003); a rule set with no rules: classify nothing.
        CREATE TABLE catalog_rule_sets (
            org_id     TEXT PRIMARY KEY,
            version    INTEGER NOT NULL DEFAULT 1,
            updated_at TEXT NOT NULL,
            updated_by TEXT NOT NULL
        );
        CREATE TABLE catalog_rules (
            org_id        TEXT NOT NULL REFERENCES catalog_rule_sets (org_id) ON DELETE CASCADE,
            position      INTEGER NOT NULL,
            provider_type TEXT,
            pattern       TEXT NOT NULL,
            match         TEXT NOT NULL DEFAULT 'glob' CHECK (match IN ('glob', 'regex')),
            model_class   TEXT NOT NULL CHECK (model_class IN ('flagship', 'fast', 'legacy')),
            note          TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (org_id, position)
        );

        -- One row per discovery run. Errors hold the provider's message only (scrubbed).
        CREATE TABLE discovery_runs (
            id                  INTEGER PRIMARY KEY AUTOINCREMENT,
            org_id              TEXT NOT NULL,
            started_at          TEXT NOT NULL,
            finished_at         TEXT NOT NULL,
            duration_ms         REAL NOT NULL,
            status              TEXT NOT NULL CHECK (status IN ('success', 'partial', 'failed')),
            providers_checked   INTEGER NOT NULL,
            models_discovered   INTEGER NOT NULL,
            models_added        INTEGER NOT NULL,
            models_updated      INTEGER NOT NULL,
            models_deprecated   INTEGER NOT NULL,
            models_reactivated  INTEGER NOT NULL DEFAULT 0,
            errors_json         TEXT NOT NULL DEFAULT '{}',
            added_json          TEXT NOT NULL DEFAULT '[]',
            deprecated_json     TEXT NOT NULL DEFAULT '[]',
            reactivated_json    TEXT NOT NULL DEFAULT '[]',
            providers_json      TEXT NOT NULL DEFAULT '[]',
            actor               TEXT NOT NULL
        );
        CREATE INDEX discovery_runs_org ON discovery_runs (org_id, id);
        """,
    ),
    Migration(
        3,
        "sign-in sessions and failed sign-in counters",
        """
        -- One row per sign-in. The browser's cookie holds a random token of which only the
        -- SHA-256 is kept here; the Streamlit session refers to the row by its id, which never
        -- leaves the server. A session ends when revoked, idle too long, past its absolute
        -- lifetime or signed under another cookie key (key_id).
        CREATE TABLE auth_sessions (
            id                TEXT PRIMARY KEY,
            username          TEXT NOT NULL,
            org_id            TEXT NOT NULL,
            role              TEXT NOT NULL,
            key_id            TEXT NOT NULL,
            cookie_hash       TEXT UNIQUE,
            ticket_hash       TEXT UNIQUE,
            ticket_expires_at TEXT,
            client            TEXT,
            created_at        TEXT NOT NULL,
            last_seen_at      TEXT NOT NULL,
            expires_at        TEXT NOT NULL,
            revoked_at        TEXT,
            revoked_reason    TEXT
        );
        CREATE INDEX auth_sessions_user ON auth_sessions (username);

        -- Consecutive failed sign-ins per typed username ('user') and per client address
        -- ('client'); a success clears the user's row, an admin's unlock clears it too.
        CREATE TABLE sign_in_failures (
            scope           TEXT NOT NULL CHECK (scope IN ('user', 'client')),
            subject         TEXT NOT NULL,
            failures        INTEGER NOT NULL DEFAULT 0,
            last_failure_at TEXT NOT NULL,
            locked_until    TEXT,
            PRIMARY KEY (scope, subject)
        );
        """,
    ),
]


def now_iso() -> str:
    """UTC timestamps as ISO text: sortable, readable in the sqlite3 shell."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def statements(sql: str) -> list[str]:
    """Split a script into statements (``sqlite3.complete_statement`` copes with triggers).

    ``executescript`` would COMMIT first and so cannot run inside our transaction.
    """
    out: list[str] = []
    buf = ""
    for line in sql.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                out.append(buf.strip())
            buf = ""
    if buf.strip():
        raise ValueError("migration SQL ends with an incomplete statement")
    return out


def connect(path: Path | str | None = None) -> sqlite3.Connection:
    """An autocommit-mode connection (transactions are explicit), migrated to the latest."""
    p = Path(path) if path is not None else get_settings().config_path
    p.parent.mkdir(parents=True, exist_ok=True)
    if not p.exists():  # the store holds ciphertexts and the audit log: owner-only
        os.close(os.open(p, os.O_WRONLY | os.O_CREAT, 0o600))
    conn = sqlite3.connect(p, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise sqlite3.OperationalError(f"could not switch {p} to WAL mode (got {mode})")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA secure_delete = ON")
        migrate(conn)
    except BaseException:
        conn.close()
        raise
    return conn


@contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` … ``COMMIT``, or ``ROLLBACK`` on any exception.

    IMMEDIATE takes the write lock up front, so read-then-write logic inside (version checks,
    the current key id) cannot be invalidated by another writer.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def current_version(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()
    return int(row[0])


def migrate(conn: sqlite3.Connection) -> list[int]:
    """Apply pending migrations, each in its own transaction. Returns the versions applied."""
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    if not exists:  # checked first: even IF NOT EXISTS would wait for the write lock
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
    latest = MIGRATIONS[-1].version if MIGRATIONS else 0
    if current_version(conn) >= latest:
        return []
    applied: list[int] = []
    for m in MIGRATIONS:
        with write_transaction(conn):
            if current_version(conn) >= m.version:
                continue  # applied earlier, or by another process just now
            for stmt in statements(m.sql):
                conn.execute(stmt)
            conn.execute("INSERT INTO schema_version VALUES (?, ?, ?)",
                         (m.version, m.name, now_iso()))
        applied.append(m.version)
    return applied


class StoreConnections:
    """Connections for a store class over the config file at ``self.path``: one short-lived
    connection per operation (several processes share the file), rows by column name."""

    path: Path

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        conn = connect(self.path)
        conn.row_factory = sqlite3.Row
        try:
            yield conn
        finally:
            conn.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._connect() as conn, write_transaction(conn):
            yield conn
