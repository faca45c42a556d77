"""SessionStore directly: which sessions a revocation ends (and its audit entry), tickets,
touch, live sessions, failure counters and lockouts (explicit timestamps, no clock)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.config_store import ProviderStore, connect
from core.config_store.sessions import TICKET_TTL, FailureCount, SessionRecord, SessionStore

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
LIFETIME = timedelta(hours=12)


@pytest.fixture()
def store(home: Path) -> SessionStore:
    return SessionStore()


def _open(store: SessionStore, username: str = "ann", org_id: str = "demo", *,
          now: datetime = T0, client: str | None = "10.0.0.1") -> tuple[SessionRecord, str]:
    """A session with its cookie set (ticket redeemed); returns its record and cookie token."""
    rec, ticket = store.create(username=username, org_id=org_id, role="analyst", key_id="k1",
                               client=client, now=now, expires_at=now + LIFETIME)
    redeemed = store.redeem_ticket(ticket, now)
    assert redeemed is not None
    return rec, redeemed[1]


def _audit(*, skip: tuple[str, ...] = ("auth.signed_in",)) -> list[tuple]:
    """Every audit entry, oldest first: (org, actor, action, target, detail)."""
    conn = connect()
    try:
        rows = conn.execute("SELECT org_id, actor, action, target, detail_json FROM audit_log "
                            "ORDER BY id").fetchall()
    finally:
        conn.close()
    return [(r[0], r[1], r[2], r[3], json.loads(r[4] or "{}")) for r in rows if r[2] not in skip]


def _ended(store: SessionStore, session_id: str) -> tuple[datetime | None, str | None, bool]:
    rec = store.by_id(session_id)
    assert rec is not None
    return rec.revoked_at, rec.revoked_reason, rec.has_cookie


# -- creating and finding sessions -----------------------------------------------------------


def test_a_new_session_is_recorded_with_its_sign_in_audit(store: SessionStore) -> None:
    rec, ticket = store.create(username="ann", org_id="demo", role="analyst", key_id="k1",
                               client="10.0.0.1", now=T0, expires_at=T0 + LIFETIME)
    assert (rec.username, rec.org_id, rec.role, rec.key_id, rec.client) == (
        "ann", "demo", "analyst", "k1", "10.0.0.1")
    assert (rec.created_at, rec.last_seen_at, rec.expires_at) == (T0, T0, T0 + LIFETIME)
    assert rec.revoked_at is None and rec.revoked_reason is None and not rec.has_cookie
    assert store.by_id(rec.id) == rec
    assert _audit(skip=()) == [("demo", "ann", "auth.signed_in", "ann",
                                {"client": "10.0.0.1", "session": rec.id[:8]})]


def test_unknown_ids_and_cookies_find_nothing(store: SessionStore) -> None:
    rec, token = _open(store)
    assert store.by_id("no-such-session") is None
    assert store.by_cookie("no-such-token") is None
    assert store.by_cookie(token).id == rec.id


# -- tickets ---------------------------------------------------------------------------------


def test_a_ticket_is_good_until_its_last_instant_and_only_once(store: SessionStore) -> None:
    rec, ticket = store.create(username="ann", org_id="demo", role="analyst", key_id="k1",
                               client=None, now=T0, expires_at=T0 + LIFETIME)
    redeemed = store.redeem_ticket(ticket, T0 + TICKET_TTL)  # exactly at its expiry: still good
    assert redeemed is not None
    got, token = redeemed
    assert got.id == rec.id and got.username == "ann"
    assert store.by_cookie(token).id == rec.id and store.by_id(rec.id).has_cookie
    assert store.redeem_ticket(ticket, T0) is None  # used


def test_an_expired_ticket_is_refused_and_burnt(store: SessionStore) -> None:
    assert TICKET_TTL == timedelta(seconds=60)
    rec, ticket = store.create(username="ann", org_id="demo", role="analyst", key_id="k1",
                               client=None, now=T0, expires_at=T0 + LIFETIME)
    assert store.redeem_ticket(ticket, T0 + TICKET_TTL + timedelta(microseconds=1)) is None
    assert store.redeem_ticket(ticket, T0) is None  # it cannot be tried again either
    assert not store.by_id(rec.id).has_cookie


def test_a_revoked_sessions_ticket_is_refused(store: SessionStore) -> None:
    rec, ticket = store.create(username="ann", org_id="demo", role="analyst", key_id="k1",
                               client=None, now=T0, expires_at=T0 + LIFETIME)
    assert store.revoke(rec.id, actor="ann", reason="signed out", now=T0)
    assert store.redeem_ticket(ticket, T0) is None
    assert store.redeem_ticket("made-up", T0) is None


def test_cookie_tokens_are_256_random_bits_new_for_every_session(store: SessionStore) -> None:
    tokens = [_open(store)[1] for _ in range(5)]
    assert len(set(tokens)) == 5
    for token in tokens:
        assert len(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))) == 32


# -- touch and live ---------------------------------------------------------------------------


def test_touch_moves_last_seen_of_a_live_session_only(store: SessionStore) -> None:
    live, _ = _open(store)
    ended, _ = _open(store, "bob")
    store.revoke(ended.id, actor="owner", reason="revoked by an admin", now=T0)
    later = T0 + timedelta(minutes=20)
    store.touch(live.id, later)
    store.touch(ended.id, later)
    assert store.by_id(live.id).last_seen_at == later
    assert store.by_id(ended.id).last_seen_at == T0
    assert store.by_id(live.id).expires_at == T0 + LIFETIME  # the lifetime does not move


def test_live_sessions_are_unrevoked_and_within_their_lifetime(store: SessionStore) -> None:
    first, _ = _open(store, "ann", now=T0)
    second, _ = _open(store, "bob", now=T0 + timedelta(hours=1))
    third, _ = _open(store, "ann", now=T0 + timedelta(hours=2))
    ended, _ = _open(store, "ann", now=T0 + timedelta(hours=3))
    store.revoke(ended.id, actor="ann", reason="signed out", now=T0 + timedelta(hours=3))
    now = T0 + timedelta(hours=4)
    assert [r.id for r in store.live(now)] == [first.id, second.id, third.id]
    assert [r.id for r in store.live(now, "ann")] == [first.id, third.id]
    # the first ends 12 h after it began: live until then, not at that instant
    assert [r.id for r in store.live(T0 + LIFETIME - timedelta(microseconds=1), "ann")] == [
        first.id, third.id]
    assert [r.id for r in store.live(T0 + LIFETIME, "ann")] == [third.id]


# -- ending sessions --------------------------------------------------------------------------


def test_revoke_ends_exactly_that_session_and_audits_it(store: SessionStore) -> None:
    target, token = _open(store, "ann")
    sibling, sibling_token = _open(store, "ann")
    other, _ = _open(store, "acme", "acme")
    when = T0 + timedelta(minutes=5)

    assert store.revoke(target.id, actor="owner", reason="revoked by an admin", now=when) is True

    assert _ended(store, target.id) == (when, "revoked by an admin", False)
    assert store.by_cookie(token) is None
    assert _ended(store, sibling.id) == (None, None, True)
    assert store.by_cookie(sibling_token).id == sibling.id
    assert _ended(store, other.id) == (None, None, True)
    assert _audit() == [("demo", "owner", "auth.session_revoked", "ann",
                         {"reason": "revoked by an admin", "sessions": 1})]

    # ending it again changes nothing and records nothing
    assert store.revoke(target.id, actor="owner", reason="again", now=when + LIFETIME) is False
    assert _ended(store, target.id) == (when, "revoked by an admin", False)
    assert store.revoke("no-such-session", actor="owner", reason="x", now=when) is False
    assert len(_audit()) == 1


def test_signing_out_is_audited_as_a_sign_out_in_the_sessions_org(store: SessionStore) -> None:
    rec, _ = _open(store, "acme", "acme")
    assert store.revoke(rec.id, actor="acme", reason="signed out", now=T0) is True
    assert _ended(store, rec.id) == (T0, "signed out", False)
    assert _audit() == [("acme", "acme", "auth.signed_out", "acme",
                         {"reason": "signed out", "sessions": 1})]
    assert [e.action for e in ProviderStore().audit_entries("demo")] == []


def test_revoke_user_ends_every_live_session_of_that_user_only(store: SessionStore) -> None:
    a1, t1 = _open(store, "ann")
    a2, t2 = _open(store, "ann", client=None)
    earlier, _ = _open(store, "ann")
    store.revoke(earlier.id, actor="ann", reason="signed out", now=T0)
    bob, bob_token = _open(store, "bob")
    acme, _ = _open(store, "acme", "acme")
    when = T0 + timedelta(hours=1)

    n = store.revoke_user("ann", actor="owner", reason="password reset", now=when,
                          org_id="demo")

    assert n == 2
    for rec, token in ((a1, t1), (a2, t2)):
        assert _ended(store, rec.id) == (when, "password reset", False)
        assert store.by_cookie(token) is None
    assert _ended(store, earlier.id) == (T0, "signed out", False)  # not ended twice
    assert _ended(store, bob.id) == (None, None, True)
    assert store.by_cookie(bob_token).id == bob.id
    assert _ended(store, acme.id) == (None, None, True)
    assert _audit()[1:] == [("demo", "owner", "auth.session_revoked", "ann",
                             {"reason": "password reset", "sessions": 2})]
    assert [e.action for e in ProviderStore().audit_entries("acme")] == [
        "auth.signed_in"]  # another organization's admin does not see it

    # nothing left to end: no count, no audit entry
    assert store.revoke_user("ann", actor="owner", reason="again", now=when,
                             org_id="demo") == 0
    assert len(_audit()) == 2


def test_revoke_all_ends_every_live_session_of_every_org(store: SessionStore) -> None:
    ann, ann_token = _open(store, "ann")
    acme, acme_token = _open(store, "acme", "acme")
    earlier, _ = _open(store, "bob")
    store.revoke(earlier.id, actor="bob", reason="signed out", now=T0)
    when = T0 + timedelta(hours=2)

    assert store.revoke_all(actor="cli", reason="revoked by the operator", now=when) == 2

    for rec, token in ((ann, ann_token), (acme, acme_token)):
        assert _ended(store, rec.id) == (when, "revoked by the operator", False)
        assert store.by_cookie(token) is None
    assert _ended(store, earlier.id) == (T0, "signed out", False)
    assert store.live(when) == []
    assert _audit()[1:] == [(None, "cli", "auth.session_revoked", None,
                             {"reason": "revoked by the operator", "sessions": 2})]


# -- failed sign-ins and lockouts --------------------------------------------------------------


def test_failure_counters_are_stored_per_scope_and_subject(store: SessionStore) -> None:
    assert store.failures("user", "ann") is None
    count = FailureCount(3, T0, T0 + timedelta(minutes=15))
    store.set_failures("user", "ann", count,
                       audit=("demo", "ann", "auth.locked_out", {"failures": 3}))
    store.set_failures("client", "10.0.0.1", FailureCount(1, T0, None),
                       audit=(None, "ann", "auth.sign_in_failed", {"failures": 1}))
    assert store.failures("user", "ann") == count
    assert store.failures("client", "10.0.0.1") == FailureCount(1, T0, None)
    assert store.failures("client", "ann") is None
    store.set_failures("user", "ann", FailureCount(4, T0 + timedelta(seconds=5), None))
    assert store.failures("user", "ann") == FailureCount(4, T0 + timedelta(seconds=5), None)
    assert _audit() == [("demo", "ann", "auth.locked_out", "ann", {"failures": 3}),
                        (None, "ann", "auth.sign_in_failed", None, {"failures": 1})]

    assert store.clear_failures("user", "ann",
                                audit=("demo", "owner", "auth.unlocked", {})) is True
    assert store.failures("user", "ann") is None
    assert store.failures("client", "10.0.0.1") is not None
    assert store.clear_failures("user", "ann") is False
    assert _audit()[-1] == ("demo", "owner", "auth.unlocked", "ann", {})


def test_locked_lists_users_whose_lockout_has_not_ended(store: SessionStore) -> None:
    until = T0 + timedelta(minutes=15)
    store.set_failures("user", "ann", FailureCount(5, T0, until))
    store.set_failures("user", "bob", FailureCount(2, T0, None))  # counted, not locked
    store.set_failures("user", "eve", FailureCount(5, T0, T0 + timedelta(minutes=5)))
    store.set_failures("client", "10.0.0.1", FailureCount(20, T0, until))  # not a user
    assert store.locked(T0) == {"ann": until, "eve": T0 + timedelta(minutes=5)}
    assert store.locked(T0 + timedelta(minutes=5)) == {"ann": until}  # eve's ended
    assert store.locked(until - timedelta(microseconds=1)) == {"ann": until}
    assert store.locked(until) == {}
