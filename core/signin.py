"""Sign-in rules, in core so that no page can skip them: throttled password checks, and
server-side sessions with an idle timeout, an absolute lifetime and ends that stick.

Guessing is slowed per typed username and per client address: after a few failures each
attempt must wait a growing delay, then the name (or address) is locked for a while — and a
locked attempt is refused without looking at the password, so the right password does not
help either. An unknown username and a wrong password get the same message and cost the same
bcrypt work. Every failure, refusal, lockout and unlock is audited.

A session is checked against the store on every rerun (:meth:`SignIn.resume`), so a session
ended by sign-out, a password reset, a role or organization change, deleting the user, a
revocation or a new cookie key is over at once, and a copied cookie opens nothing.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import bcrypt

from core.auth import AccessDenied, User, UserStore
from core.config_store.sessions import FailureCount, SessionRecord, SessionStore
from core.domain import Role
from core.settings import Settings, cookie_key, get_settings

WRONG = "Username or password is incorrect."
# Per typed username: attempts 1-2 fail freely, the 3rd and 4th make the next attempt wait
# 2 s and 4 s, the 5th locks the name.
FREE_FAILURES = 2
LOCK_AFTER = 5
LOCK_FOR = timedelta(minutes=15)
# Per client address, looser (colleagues behind one NAT): waits from the 6th failure, a
# lock at the 20th.
CLIENT_FREE_FAILURES = 5
CLIENT_LOCK_AFTER = 20
MAX_DELAY = timedelta(seconds=60)
TOUCH_EVERY = timedelta(seconds=60)  # how often a used session's last-seen time is written
MAX_NAME = 64  # of a typed username kept in the audit log
_DUMMY_HASH = bcrypt.hashpw(b"not a password", bcrypt.gensalt(rounds=12))


def _now() -> datetime:
    return datetime.now(UTC)


def delay_after(failures: int, free: int = FREE_FAILURES) -> timedelta:
    """How long the next attempt must wait after ``failures`` failures in a row."""
    if failures <= free:
        return timedelta(0)
    return min(timedelta(seconds=2 ** (failures - free)), MAX_DELAY)


def key_id(key: str) -> str:
    """A fingerprint of the cookie key, stored with each session: a new key ends them all."""
    return hashlib.sha256(("switchyard-session:" + key).encode()).hexdigest()[:16]


def wait_message(wait: timedelta) -> str:
    seconds = max(1, math.ceil(wait.total_seconds()))
    if seconds < 90:
        return f"Too many attempts; try again in {seconds} second{'s' if seconds != 1 else ''}."
    minutes = math.ceil(seconds / 60)
    return f"Too many attempts; try again in {minutes} minutes."


@dataclass(frozen=True)
class SignInResult:
    """``user`` and ``session_id`` on success; else ``message`` for the person."""

    user: User | None = None
    session_id: str | None = None
    ticket: str | None = None  # trade it for the HttpOnly cookie (core.web)
    message: str | None = None


class SignIn:
    """The sign-in service. ``clock`` is injectable so tests never wait for real time."""

    def __init__(self, users: UserStore | None = None, sessions: SessionStore | None = None,
                 *, settings: Settings | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.settings = settings or get_settings()
        self.users = users or UserStore(self.settings)
        self.sessions = sessions or SessionStore(settings=self.settings)
        self.clock = clock or _now

    @property
    def idle(self) -> timedelta:
        return timedelta(minutes=self.settings.session_idle_minutes)

    @property
    def lifetime(self) -> timedelta:
        return timedelta(hours=self.settings.session_max_hours)

    # -- signing in ------------------------------------------------------------------------
    def _blocked(self, scope: str, subject: str, free: int, now: datetime) -> timedelta | None:
        fc = self.sessions.failures(scope, subject)  # type: ignore[arg-type]
        if fc is None:
            return None
        if fc.locked_until is not None and fc.locked_until > now:
            return fc.locked_until - now
        if fc.locked_until is None:
            ready = fc.last_failure_at + delay_after(fc.failures, free)
            if ready > now:
                return ready - now
        return None

    def attempt(self, username: str, password: str, client: str | None = None) -> SignInResult:
        """Check a password under the throttle; on success open a session."""
        now = self.clock()
        name = (username or "").strip()
        subject = name.lower()[:MAX_NAME]
        rec = self.users.credentials()["usernames"].get(name)
        org = rec.get("org_id") if rec else None
        checks = [("user", subject, FREE_FAILURES)]
        if client:
            checks.append(("client", client, CLIENT_FREE_FAILURES))
        for scope, who, free in checks:
            wait = self._blocked(scope, who, free, now)
            if wait is not None:
                self.sessions.audit(org, subject or "?", "auth.sign_in_refused", subject,
                                    {"client": client, "scope": scope})
                return SignInResult(message=wait_message(wait))
        stored = (rec or {}).get("password", "").encode() or _DUMMY_HASH
        ok = bcrypt.checkpw((password or "").encode(), stored) and rec is not None
        if ok:
            user = self.users.get(name)
            assert user is not None
            self.sessions.clear_failures("user", subject)
            return self.open_session(user, client)
        locked = False
        for scope, who, _free in checks:
            lock_after = LOCK_AFTER if scope == "user" else CLIENT_LOCK_AFTER
            locked |= self._count_failure(scope, who, lock_after, org, subject, client, now)
        return SignInResult(message=wait_message(LOCK_FOR) if locked else WRONG)

    def _count_failure(self, scope: str, who: str, lock_after: int, org: str | None,
                       subject: str, client: str | None, now: datetime) -> bool:
        fc = self.sessions.failures(scope, who)  # type: ignore[arg-type]
        fresh = fc is None or now - fc.last_failure_at > LOCK_FOR or (
            fc.locked_until is not None and fc.locked_until <= now)
        failures = 1 if fresh else fc.failures + 1  # type: ignore[union-attr]
        locked = failures >= lock_after
        detail = {"client": client, "failures": failures, "scope": scope}
        self.sessions.set_failures(
            scope, who,  # type: ignore[arg-type]
            FailureCount(failures, now, now + LOCK_FOR if locked else None),
            audit=(org, subject or "?", "auth.sign_in_failed", detail))
        if locked:
            self.sessions.audit(org, "system", "auth.locked_out", subject,
                                {**detail, "minutes": int(LOCK_FOR.total_seconds() // 60)})
        return locked

    # -- sessions --------------------------------------------------------------------------
    def open_session(self, user: User, client: str | None = None) -> SignInResult:
        """A new session for ``user`` (whose password has been checked), audited."""
        now = self.clock()
        record, ticket = self.sessions.create(
            username=user.username, org_id=user.org_id, role=user.role.value,
            key_id=key_id(cookie_key(self.settings)), client=client, now=now,
            expires_at=now + self.lifetime)
        return SignInResult(user=user, session_id=record.id, ticket=ticket)

    def resume(self, *, session_id: str | None = None,
               cookie_token: str | None = None) -> tuple[User, SessionRecord] | None:
        """The signed-in user of a live session (by the server-side id or the browser's
        cookie token), or None. A session found ended for a reason is revoked for good."""
        if session_id:
            rec = self.sessions.by_id(session_id)
        elif cookie_token:
            rec = self.sessions.by_cookie(cookie_token)
        else:
            return None
        if rec is None or rec.revoked_at is not None:
            return None
        now = self.clock()
        user = self.users.get(rec.username)
        reason = None
        if now >= rec.expires_at:
            reason = "lifetime over"
        elif now - rec.last_seen_at > self.idle:
            reason = "idle timeout"
        elif rec.key_id != key_id(cookie_key(self.settings)):
            reason = "cookie key changed"
        elif user is None:
            reason = "user removed"
        elif user.role.value != rec.role or user.org_id != rec.org_id:
            reason = "user changed"
        if reason is not None:
            self.sessions.revoke(rec.id, actor="system", reason=reason, now=now)
            return None
        if now - rec.last_seen_at >= TOUCH_EVERY:
            self.sessions.touch(rec.id, now)
        assert user is not None
        return user, rec

    def redeem(self, ticket: str) -> tuple[str, int] | None:
        """The cookie token for a sign-in's ticket and its max-age in seconds (None: no)."""
        now = self.clock()
        got = self.sessions.redeem_ticket(ticket, now)
        if got is None:
            return None
        rec, token = got
        if self.resume(session_id=rec.id) is None:
            return None
        return token, max(0, int((rec.expires_at - now).total_seconds()))

    def sign_out(self, session_id: str) -> None:
        rec = self.sessions.by_id(session_id)
        if rec is not None:  # an unknown id has nothing to end (and nobody to name)
            self.sessions.revoke(session_id, actor=rec.username, reason="signed out",
                                 now=self.clock())

    def sign_out_cookie(self, token: str) -> None:
        """Sign out the session a browser's cookie belongs to (the sign-out route)."""
        rec = self.sessions.by_cookie(token)
        if rec is not None:
            self.sessions.revoke(rec.id, actor=rec.username, reason="signed out",
                                 now=self.clock())

    def revoke_user(self, username: str, *, actor: str, reason: str) -> int:
        user = self.users.get(username)
        return self.sessions.revoke_user(username, actor=actor, reason=reason,
                                         now=self.clock(),
                                         org_id=user.org_id if user else None)

    def revoke_all(self, *, actor: str) -> int:
        return self.sessions.revoke_all(actor=actor, reason="revoked by the operator",
                                        now=self.clock())

    # -- lockouts --------------------------------------------------------------------------
    def lockouts(self) -> dict[str, datetime]:
        """Usernames (as typed, lowercased) locked now, with the end of their lockout."""
        return self.sessions.locked(self.clock())

    def unlock(self, username: str, *, acting: User | None) -> bool:
        """Clear a username's failures and lockout. ``acting=None`` is the local operator at
        the command line; otherwise an admin of the user's organization (or the owner)."""
        user = self.users.get(username)
        if acting is not None:
            if acting.role is not Role.admin:
                raise AccessDenied("Only admins can unlock users.")
            if user is not None and user.org_id != acting.org_id and not acting.owner:
                raise AccessDenied("Admins can unlock users of their own organization only.")
        subject = username.strip().lower()[:MAX_NAME]
        return self.sessions.clear_failures(
            "user", subject,
            audit=(user.org_id if user else None, acting.username if acting else "cli",
                   "auth.unlocked", {}))
