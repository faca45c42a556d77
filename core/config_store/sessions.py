"""Sign-in sessions and failed sign-in counters in the config store (the SQL only).

A session is a row that the server can end: sign-out, a password reset, a role or
organization change, deleting the user, `switchyard users sessions revoke --all` or a new
cookie key all end it at once, wherever its cookie has been copied to. The browser holds a
random token in an HttpOnly cookie; the store keeps only its SHA-256. The rules (idle timeout,
lifetime, lockout policy) are the caller's (:mod:`core.signin`); this module stores and
compares.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from core.config_store.db import StoreConnections
from core.config_store.providers import write_audit
from core.settings import Settings, get_settings

TICKET_TTL = timedelta(seconds=60)  # a sign-in's one-time ticket for its cookie
Scope = Literal["user", "client"]


def token_hash(token: str) -> str:
    """What the store keeps of a cookie token or ticket: never the value itself."""
    return hashlib.sha256(token.encode()).hexdigest()


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="microseconds")


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _ts(value: str) -> datetime:
    """A NOT NULL timestamp column."""
    return datetime.fromisoformat(value)


@dataclass(frozen=True)
class SessionRecord:
    id: str
    username: str
    org_id: str
    role: str
    key_id: str
    client: str | None
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    revoked_reason: str | None
    has_cookie: bool


@dataclass(frozen=True)
class FailureCount:
    failures: int
    last_failure_at: datetime
    locked_until: datetime | None


_COLUMNS = ("id, username, org_id, role, key_id, client, created_at, last_seen_at, expires_at, "
            "revoked_at, revoked_reason, cookie_hash IS NOT NULL AS has_cookie")


def _record(row) -> SessionRecord:
    return SessionRecord(
        id=row["id"], username=row["username"], org_id=row["org_id"], role=row["role"],
        key_id=row["key_id"], client=row["client"], created_at=_ts(row["created_at"]),
        last_seen_at=_ts(row["last_seen_at"]), expires_at=_ts(row["expires_at"]),
        revoked_at=_dt(row["revoked_at"]), revoked_reason=row["revoked_reason"],
        has_cookie=bool(row["has_cookie"]),
    )


class SessionStore(StoreConnections):
    """Sessions and failure counters in ``config.sqlite``; each call its own connection."""

    def __init__(self, path: Path | str | None = None, *,
                 settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self.path = Path(path) if path is not None else self.settings.config_path

    # -- sessions --------------------------------------------------------------------------
    def create(self, *, username: str, org_id: str, role: str, key_id: str, client: str | None,
               now: datetime, expires_at: datetime) -> tuple[SessionRecord, str]:
        """A new session and the one-time ticket that lets the browser fetch its cookie."""
        session_id = secrets.token_urlsafe(32)
        ticket = secrets.token_urlsafe(32)
        with self._write() as conn:
            conn.execute(
                "INSERT INTO auth_sessions (id, username, org_id, role, key_id, ticket_hash, "
                "ticket_expires_at, client, created_at, last_seen_at, expires_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (session_id, username, org_id, role, key_id, token_hash(ticket),
                 _iso(now + TICKET_TTL), client, _iso(now), _iso(now), _iso(expires_at)))
            write_audit(conn, org_id, username, "auth.signed_in", username,
                        {"client": client, "session": session_id[:8]})
            row = conn.execute(f"SELECT {_COLUMNS} FROM auth_sessions WHERE id = ?",
                               (session_id,)).fetchone()
        return _record(row), ticket

    def redeem_ticket(self, ticket: str, now: datetime) -> tuple[SessionRecord, str] | None:
        """Trade a fresh ticket, once, for the session's cookie token (None: unknown, used
        or expired). A new token each time: the store keeps its hash only."""
        token = secrets.token_urlsafe(32)
        with self._write() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS}, ticket_expires_at FROM auth_sessions "
                "WHERE ticket_hash = ? AND revoked_at IS NULL", (token_hash(ticket),)).fetchone()
            if row is None:
                return None
            conn.execute("UPDATE auth_sessions SET ticket_hash = NULL, ticket_expires_at = NULL "
                         "WHERE id = ?", (row["id"],))
            expires = _dt(row["ticket_expires_at"])
            if expires is None or expires < now:
                return None
            conn.execute("UPDATE auth_sessions SET cookie_hash = ? WHERE id = ?",
                         (token_hash(token), row["id"]))
        return _record(row), token

    def by_id(self, session_id: str) -> SessionRecord | None:
        with self._connect() as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM auth_sessions WHERE id = ?",
                               (session_id,)).fetchone()
        return _record(row) if row else None

    def by_cookie(self, token: str) -> SessionRecord | None:
        with self._connect() as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM auth_sessions WHERE cookie_hash = ?",
                               (token_hash(token),)).fetchone()
        return _record(row) if row else None

    def touch(self, session_id: str, now: datetime) -> None:
        with self._write() as conn:
            conn.execute("UPDATE auth_sessions SET last_seen_at = ? WHERE id = ? "
                         "AND revoked_at IS NULL", (_iso(now), session_id))

    def revoke(self, session_id: str, *, actor: str, reason: str, now: datetime) -> bool:
        """End one session (True when it was live)."""
        with self._write() as conn:
            row = conn.execute("SELECT username, org_id FROM auth_sessions WHERE id = ? AND "
                               "revoked_at IS NULL", (session_id,)).fetchone()
            if row is None:
                return False
            self._end(conn, "id = ?", (session_id,), reason, now)
            action = "auth.signed_out" if reason == "signed out" else "auth.session_revoked"
            write_audit(conn, row["org_id"], actor, action, row["username"],
                        {"reason": reason, "sessions": 1})
        return True

    def revoke_user(self, username: str, *, actor: str, reason: str, now: datetime,
                    org_id: str | None = None) -> int:
        """End every live session of ``username``; returns how many."""
        with self._write() as conn:
            n = self._end(conn, "username = ?", (username,), reason, now)
            if n:
                write_audit(conn, org_id, actor, "auth.session_revoked", username,
                            {"reason": reason, "sessions": n})
        return n

    def revoke_all(self, *, actor: str, reason: str, now: datetime) -> int:
        """End every live session of the instance; returns how many."""
        with self._write() as conn:
            n = self._end(conn, "1 = 1", (), reason, now)
            write_audit(conn, None, actor, "auth.session_revoked", None,
                        {"reason": reason, "sessions": n})
        return n

    @staticmethod
    def _end(conn, where: str, params: tuple, reason: str, now: datetime) -> int:
        cur = conn.execute(
            "UPDATE auth_sessions SET revoked_at = ?, revoked_reason = ?, cookie_hash = NULL, "
            f"ticket_hash = NULL WHERE revoked_at IS NULL AND {where}",
            (_iso(now), reason, *params))
        return cur.rowcount

    def live(self, now: datetime, username: str | None = None) -> list[SessionRecord]:
        """Sessions not revoked and within their lifetime (idle ones included)."""
        sql = f"SELECT {_COLUMNS} FROM auth_sessions WHERE revoked_at IS NULL AND expires_at > ?"
        params: list = [_iso(now)]
        if username is not None:
            sql += " AND username = ?"
            params.append(username)
        with self._connect() as conn:
            rows = conn.execute(sql + " ORDER BY created_at", params).fetchall()
        return [_record(r) for r in rows]

    def audit(self, org_id: str | None, actor: str, action: str, target: str | None,
              detail: dict) -> None:
        with self._write() as conn:
            write_audit(conn, org_id, actor, action, target, detail)

    # -- failed sign-ins -------------------------------------------------------------------
    def failures(self, scope: Scope, subject: str) -> FailureCount | None:
        with self._connect() as conn:
            row = conn.execute("SELECT failures, last_failure_at, locked_until FROM "
                               "sign_in_failures WHERE scope = ? AND subject = ?",
                               (scope, subject)).fetchone()
        if row is None:
            return None
        return FailureCount(row["failures"], _ts(row["last_failure_at"]),
                            _dt(row["locked_until"]))

    def set_failures(self, scope: Scope, subject: str, count: FailureCount, *,
                     audit: tuple[str | None, str, str, dict] | None = None) -> None:
        """Store a counter, with its audit entry (org, actor, action, detail) in the same
        transaction."""
        with self._write() as conn:
            conn.execute(
                "INSERT INTO sign_in_failures (scope, subject, failures, last_failure_at, "
                "locked_until) VALUES (?, ?, ?, ?, ?) ON CONFLICT (scope, subject) DO UPDATE "
                "SET failures = excluded.failures, last_failure_at = excluded.last_failure_at, "
                "locked_until = excluded.locked_until",
                (scope, subject, count.failures, _iso(count.last_failure_at),
                 _iso(count.locked_until) if count.locked_until else None))
            if audit is not None:
                org_id, actor, action, detail = audit
                write_audit(conn, org_id, actor, action, subject if scope == "user" else None,
                            detail)

    def clear_failures(self, scope: Scope, subject: str, *,
                       audit: tuple[str | None, str, str, dict] | None = None) -> bool:
        with self._write() as conn:
            n = conn.execute("DELETE FROM sign_in_failures WHERE scope = ? AND subject = ?",
                             (scope, subject)).rowcount
            if audit is not None:
                org_id, actor, action, detail = audit
                write_audit(conn, org_id, actor, action, subject, detail)
        return bool(n)

    def locked(self, now: datetime) -> dict[str, datetime]:
        """Usernames whose lockout has not ended yet, with its end."""
        with self._connect() as conn:
            rows = conn.execute("SELECT subject, locked_until FROM sign_in_failures WHERE "
                                "scope = 'user' AND locked_until > ?", (_iso(now),)).fetchall()
        return {r["subject"]: _ts(r["locked_until"]) for r in rows}
