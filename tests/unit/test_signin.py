"""core.signin: sessions that end for good, and sign-in that resists guessing (fake clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.auth import AccessDenied, UserError, UserStore
from core.config_store import ProviderStore, connect
from core.config_store.sessions import SessionStore
from core.domain import Role
from core.signin import LOCK_FOR, WRONG, SignIn

PW = "correct-horse-42"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest.fixture()
def users(home: Path) -> UserStore:
    s = UserStore()
    s.add_user("owner", "Owner", "", PW, Role.admin, "demo")
    s.add_user("ann", "Ann", "", PW, Role.analyst, "demo")
    s.add_user("acme", "Acme admin", "", PW, Role.admin, "acme")
    return s


@pytest.fixture()
def service(users: UserStore, clock: Clock) -> SignIn:
    return SignIn(users, clock=clock)


def _actions(org: str = "demo") -> list[str]:
    return [e.action for e in ProviderStore().audit_entries(org, limit=1000)][::-1]


def _signed_in(service: SignIn, name: str = "ann") -> tuple[str, str]:
    """A session id and its cookie token, as after the form and the cookie route."""
    result = service.attempt(name, PW, "10.0.0.1")
    assert result.session_id and result.ticket
    token, _ = service.redeem(result.ticket)
    return result.session_id, token


# -- sessions -------------------------------------------------------------------------------


def test_sign_in_opens_a_session_known_by_id_and_by_cookie(service: SignIn) -> None:
    session_id, token = _signed_in(service)
    assert service.resume(session_id=session_id)[0].username == "ann"
    assert service.resume(cookie_token=token)[0].username == "ann"
    assert service.resume(cookie_token=token + "x") is None
    assert "auth.signed_in" in _actions()


def test_the_store_keeps_only_a_hash_of_the_cookie_token(service: SignIn) -> None:
    session_id, token = _signed_in(service)
    conn = connect()
    try:
        dump = "\n".join(conn.iterdump())
    finally:
        conn.close()
    assert token not in dump


def test_a_ticket_sets_the_cookie_once_and_only_while_fresh(service: SignIn,
                                                            clock: Clock) -> None:
    first = service.attempt("ann", PW)
    token, max_age = service.redeem(first.ticket)
    assert max_age == 12 * 3600
    assert service.redeem(first.ticket) is None  # used
    late = service.attempt("ann", PW)
    clock.advance(seconds=61)
    assert service.redeem(late.ticket) is None  # expired
    assert service.redeem("made-up") is None


def test_sign_out_ends_the_session_and_its_copied_cookie(service: SignIn) -> None:
    session_id, token = _signed_in(service)
    service.sign_out(session_id)
    assert service.resume(session_id=session_id) is None
    assert service.resume(cookie_token=token) is None
    assert "auth.signed_out" in _actions()


def test_idle_timeout_and_absolute_lifetime(service: SignIn, clock: Clock) -> None:
    session_id, token = _signed_in(service)
    clock.advance(minutes=29)
    assert service.resume(cookie_token=token) is not None  # use keeps it alive
    clock.advance(minutes=29)
    assert service.resume(session_id=session_id) is not None
    clock.advance(minutes=31)
    assert service.resume(session_id=session_id) is None  # idle too long
    assert service.resume(cookie_token=token) is None  # and it stays over

    session_id, _ = _signed_in(service)
    for _ in range(12 * 3 - 1):  # used every 20 minutes until 11 h 40 min
        clock.advance(minutes=20)
        assert service.resume(session_id=session_id) is not None
    clock.advance(minutes=20)
    assert service.resume(session_id=session_id) is None  # 12 h after sign-in


def _change_ann(users: UserStore, change: str, *, acting) -> None:
    """Make one of the user changes that must end ann's sessions."""
    if change == "password":
        users.set_password("ann", PW + "-new", acting=acting)
    elif change == "role":
        users.set_role("ann", Role.viewer, acting=acting)
    elif change == "organization":
        users.set_org("ann", "acme", acting=acting)
    else:
        users.remove_user("ann", acting=acting)


@pytest.mark.parametrize("change", ["password", "role", "organization", "removal"])
def test_user_changes_end_their_sessions(service: SignIn, users: UserStore,
                                         change: str) -> None:
    session_id, token = _signed_in(service)
    kept_id, _ = _signed_in(service, "owner")
    _change_ann(users, change, acting=users.get("owner"))
    assert service.resume(session_id=session_id) is None
    assert service.resume(cookie_token=token) is None
    assert service.resume(session_id=kept_id) is not None  # others are not touched
    assert "auth.session_revoked" in _actions()


def test_only_the_owner_moves_users_between_organizations(users: UserStore) -> None:
    with pytest.raises(AccessDenied):
        users.set_org("ann", "acme", acting=users.get("acme"))
    assert users.get("ann").org_id == "demo"


def test_moving_a_user_changes_their_organization_for_good(service: SignIn,
                                                           users: UserStore) -> None:
    owner = users.get("owner")
    moved = users.set_org("ann", "acme", acting=owner)
    assert moved.username == "ann" and moved.org_id == "acme"
    assert UserStore().get("ann").org_id == "acme"  # written, not only returned
    assert UserStore().get("ann").role is Role.analyst


def test_moving_a_user_to_their_own_organization_ends_nothing(service: SignIn,
                                                             users: UserStore) -> None:
    session_id, _ = _signed_in(service)
    users.set_org("ann", "demo", acting=users.get("owner"))
    assert service.resume(session_id=session_id) is not None
    assert "auth.session_revoked" not in _actions()


def test_the_owner_stays_and_a_bad_organization_is_refused(users: UserStore) -> None:
    owner = users.get("owner")
    with pytest.raises(UserError, match="instance owner stays"):
        users.set_org("owner", "acme", acting=owner)
    with pytest.raises(UserError):
        users.set_org("ann", "Not An Org!", acting=owner)
    assert users.get("owner").org_id == "demo" and users.get("ann").org_id == "demo"


def test_a_new_cookie_key_ends_every_session(service: SignIn, monkeypatch) -> None:
    session_id, token = _signed_in(service)
    monkeypatch.setenv("SWITCHYARD_COOKIE_KEY", "a-brand-new-key-" + "x" * 40)
    assert service.resume(session_id=session_id) is None
    assert service.resume(cookie_token=token) is None
    assert service.attempt("ann", PW).session_id  # signing in again works


def test_revoke_all_ends_every_session(service: SignIn) -> None:
    sessions = [_signed_in(service, name) for name in ("ann", "owner", "acme")]
    assert service.revoke_all(actor="cli") == 3
    for session_id, token in sessions:
        assert service.resume(session_id=session_id) is None
        assert service.resume(cookie_token=token) is None
    assert SessionStore().live(service.clock()) == []


# -- throttling -----------------------------------------------------------------------------


def test_growing_delays_then_a_lockout_that_the_right_password_does_not_lift(
        service: SignIn, clock: Clock) -> None:
    assert service.attempt("ann", "wrong-1").message == WRONG
    assert service.attempt("ann", "wrong-2").message == WRONG
    assert service.attempt("ann", "wrong-3").message == WRONG
    # the 4th try must wait 2 s: refused without looking at the password, not counted
    refused = service.attempt("ann", PW)
    assert refused.session_id is None
    assert refused.message == "Too many attempts; try again in 2 seconds."
    clock.advance(seconds=2)
    assert service.attempt("ann", "wrong-4").message == WRONG
    clock.advance(seconds=3)
    assert service.attempt("ann", PW).message == "Too many attempts; try again in 1 second."
    clock.advance(seconds=1)
    locked = service.attempt("ann", "wrong-5")
    assert locked.message == "Too many attempts; try again in 15 minutes."
    clock.advance(minutes=10)
    still = service.attempt("ann", PW)
    assert still.session_id is None
    assert still.message == "Too many attempts; try again in 5 minutes."
    clock.advance(minutes=5)
    assert service.attempt("ann", PW).session_id is not None
    actions = _actions()
    assert actions.count("auth.sign_in_failed") == 5
    assert actions.count("auth.locked_out") == 1
    assert actions.count("auth.sign_in_refused") == 3


def test_unknown_users_get_the_same_message_and_the_same_lockout(service: SignIn,
                                                                 clock: Clock) -> None:
    messages = []
    for i in range(5):
        messages.append(service.attempt("nobody", f"guess-{i}").message)
        clock.advance(seconds=10)
    assert messages[:4] == [WRONG] * 4
    assert messages[4] == "Too many attempts; try again in 15 minutes."
    assert service.attempt("nobody", "guess").message.startswith("Too many attempts")
    entries = ProviderStore().audit_entries("demo", include_instance=True, limit=1000)
    assert sum(e.action == "auth.sign_in_failed" and e.org_id is None for e in entries) == 5


def test_failures_are_forgotten_after_a_quiet_spell(service: SignIn, clock: Clock) -> None:
    for i in range(4):
        service.attempt("ann", f"wrong-{i}")
        clock.advance(seconds=10)
    clock.advance(seconds=LOCK_FOR.total_seconds() + 1)
    assert service.attempt("ann", "wrong-again").message == WRONG  # counted from 1 again
    assert service.attempt("ann", PW).session_id is not None


def test_one_address_guessing_many_names_is_locked_out(service: SignIn, clock: Clock) -> None:
    for i in range(20):
        assert service.attempt(f"user{i}", "guess", "203.0.113.9").session_id is None
        clock.advance(seconds=61)  # past any delay
    refused = service.attempt("ann", PW, "203.0.113.9")
    assert refused.session_id is None and refused.message.startswith("Too many attempts")
    assert service.attempt("ann", PW, "198.51.100.7").session_id is not None


def test_an_admin_unlocks_a_user(service: SignIn, users: UserStore, clock: Clock) -> None:
    for i in range(5):
        service.attempt("ann", f"wrong-{i}")
        clock.advance(seconds=20)
    assert "ann" in service.lockouts()
    with pytest.raises(AccessDenied):
        service.unlock("ann", acting=users.get("acme"))  # another organization's admin
    users.add_user("vic", "Vic", "", PW, Role.viewer, "demo")
    with pytest.raises(AccessDenied):
        service.unlock("ann", acting=users.get("vic"))
    assert service.unlock("ann", acting=users.get("owner"))
    assert "ann" not in service.lockouts()
    assert service.attempt("ann", PW).session_id is not None
    assert "auth.unlocked" in _actions()


# -- what each ending and unlock writes -----------------------------------------------------

ENDINGS = ("auth.session_revoked", "auth.signed_out")


def _entries(actions: tuple[str, ...], org: str = "demo", *, include_instance: bool = False,
             store: ProviderStore | None = None) -> list[tuple]:
    """The audit rows of ``actions``, oldest first, as (org, actor, action, target, detail)."""
    entries = (store or ProviderStore()).audit_entries(org, include_instance=include_instance,
                                                       limit=1000)
    return [(e.org_id, e.actor, e.action, e.target, e.detail) for e in entries[::-1]
            if e.action in actions]


@pytest.mark.parametrize(("change", "reason"), [
    ("password", "password changed"), ("own password", "password changed"),
    ("role", "role changed"), ("organization", "organization changed"),
    ("removal", "user removed")])
def test_each_user_change_records_who_ended_the_sessions_and_why(
        service: SignIn, users: UserStore, change: str, reason: str) -> None:
    first, _ = _signed_in(service)
    second, _ = _signed_in(service)
    actor = "ann" if change == "own password" else "owner"
    _change_ann(users, change.removeprefix("own "), acting=users.get(actor))
    # ended by the change itself (not later, by resume noticing it), in the old organization
    for session_id in (first, second):
        rec = SessionStore().by_id(session_id)
        assert rec.revoked_at is not None and rec.revoked_reason == reason
    assert _entries(ENDINGS) == [
        ("demo", actor, "auth.session_revoked", "ann", {"reason": reason, "sessions": 2})]


def test_setting_the_role_a_user_already_has_ends_nothing(service: SignIn,
                                                          users: UserStore) -> None:
    session_id, _ = _signed_in(service)
    same = users.set_role("ann", Role.analyst, acting=users.get("owner"))
    assert same.role is Role.analyst
    assert SessionStore().by_id(session_id).revoked_at is None
    assert service.resume(session_id=session_id) is not None
    assert _entries(ENDINGS) == []


def test_changes_end_sessions_in_the_stores_the_settings_name(home: Path, clock: Clock) -> None:
    """A UserStore and SignIn built on explicit settings (not the environment's) keep and end
    their sessions in that config store, signed with that cookie key."""
    from dataclasses import replace

    from core.settings import get_settings

    elsewhere = home / "elsewhere"
    settings = replace(get_settings(), config_path=elsewhere / "config.sqlite",
                       credentials_path=elsewhere / "credentials.json",
                       cookie_key_path=elsewhere / "cookie.key")
    users = UserStore(settings)
    users.add_user("owner", "Owner", "", PW, Role.admin, "demo")
    users.add_user("ann", "Ann", "", PW, Role.analyst, "demo")
    service = SignIn(users, settings=settings, clock=clock)
    session_id = service.attempt("ann", PW).session_id
    assert service.resume(session_id=session_id)[0].username == "ann"
    users.set_password("ann", PW + "-new", acting=users.get("owner"))
    assert service.resume(session_id=session_id) is None
    assert SessionStore(settings=settings).by_id(session_id).revoked_reason == (
        "password changed")


@pytest.mark.parametrize(("ending", "reason"), [
    ("lifetime", "lifetime over"), ("idle", "idle timeout"),
    ("cookie key", "cookie key changed")])
def test_a_session_found_over_is_revoked_for_good_with_its_reason(
        service: SignIn, clock: Clock, monkeypatch, ending: str, reason: str) -> None:
    session_id, token = _signed_in(service)
    if ending == "lifetime":
        clock.advance(hours=12)
    elif ending == "idle":
        clock.advance(minutes=31)
    else:
        monkeypatch.setenv("SWITCHYARD_COOKIE_KEY", "a-brand-new-key-" + "x" * 40)
    assert service.resume(cookie_token=token) is None
    rec = SessionStore().by_id(session_id)
    assert rec.revoked_at == clock.now and rec.revoked_reason == reason
    assert _entries(ENDINGS) == [
        ("demo", "system", "auth.session_revoked", "ann", {"reason": reason, "sessions": 1})]
    monkeypatch.delenv("SWITCHYARD_COOKIE_KEY", raising=False)  # the old key back: still over
    assert service.resume(session_id=session_id) is None


def test_a_session_lives_until_the_idle_limit_is_passed(service: SignIn,
                                                        clock: Clock) -> None:
    """Used 60 s after sign-in (its last-seen time is written then), then left alone for
    exactly the idle limit (30 min): still alive (only more than 30 min idle ends it)."""
    start = clock.now
    session_id, _ = _signed_in(service)
    clock.advance(seconds=60)
    assert service.resume(session_id=session_id) is not None
    assert SessionStore().by_id(session_id).last_seen_at == start + timedelta(seconds=60)
    clock.advance(minutes=30)
    assert service.resume(session_id=session_id) is not None


@pytest.mark.parametrize(("field", "value"), [("roles", ["viewer"]), ("org_id", "acme")])
def test_a_session_ends_when_the_credentials_file_changes_under_it(
        service: SignIn, users: UserStore, field: str, value) -> None:
    """Edited by hand (no set_role/set_org to end the sessions), the user's role or
    organization no longer matches the session's: resume ends it."""
    import json

    session_id, _ = _signed_in(service)
    data = users.credentials()
    data["usernames"]["ann"][field] = value
    users.path.write_text(json.dumps(data))
    assert service.resume(session_id=session_id) is None
    assert SessionStore().by_id(session_id).revoked_reason == "user changed"


def test_sign_out_is_recorded_as_the_users_own(service: SignIn) -> None:
    first, _ = _signed_in(service)
    _, token = _signed_in(service)
    service.sign_out(first)
    service.sign_out_cookie(token)
    service.sign_out("no-such-session")  # nothing to end, nothing written
    service.sign_out_cookie("no-such-cookie")
    entry = ("demo", "ann", "auth.signed_out", "ann", {"reason": "signed out", "sessions": 1})
    assert _entries(ENDINGS) == [entry, entry]
    assert SessionStore().by_id(first).revoked_reason == "signed out"


def test_revoking_a_users_sessions_is_recorded_in_their_organization(
        service: SignIn, users: UserStore) -> None:
    _signed_in(service)
    _signed_in(service)
    _signed_in(service, "owner")
    assert service.revoke_user("ann", actor="cli", reason="revoked by the operator") == 2
    assert service.revoke_user("ghost", actor="cli", reason="revoked by the operator") == 0
    assert _entries(ENDINGS) == [("demo", "cli", "auth.session_revoked", "ann",
                                  {"reason": "revoked by the operator", "sessions": 2})]
    assert [r.username for r in SessionStore().live(service.clock())] == ["owner"]


def test_revoke_all_is_recorded_instance_wide(service: SignIn) -> None:
    ids = [_signed_in(service, name)[0] for name in ("ann", "owner", "acme")]
    assert service.revoke_all(actor="operator") == 3
    assert _entries(ENDINGS, include_instance=True) == [
        (None, "operator", "auth.session_revoked", None,
         {"reason": "revoked by the operator", "sessions": 3})]
    assert {SessionStore().by_id(i).revoked_reason for i in ids} == {"revoked by the operator"}


def _lock(service: SignIn, clock: Clock, name: str) -> None:
    for i in range(5):
        service.attempt(name, f"wrong-{i}")
        clock.advance(seconds=20)
    assert name in service.lockouts()


def test_unlock_refusals_say_exactly_why(service: SignIn, users: UserStore,
                                         clock: Clock) -> None:
    _lock(service, clock, "ann")
    users.add_user("vic", "Vic", "", PW, Role.viewer, "demo")
    with pytest.raises(AccessDenied) as caught:
        service.unlock("ann", acting=users.get("vic"))
    assert str(caught.value) == "Only admins can unlock users."
    with pytest.raises(AccessDenied) as caught:
        service.unlock("ann", acting=users.get("acme"))
    assert str(caught.value) == "Admins can unlock users of their own organization only."
    assert "ann" in service.lockouts()
    assert _entries(("auth.unlocked",)) == []


def test_each_unlock_is_recorded_with_who_did_it(service: SignIn, users: UserStore,
                                                  clock: Clock) -> None:
    users.add_user("bob", "Bob", "", PW, Role.viewer, "acme")
    for name in ("ann", "bob", "nobody"):
        _lock(service, clock, name)
    assert service.unlock("bob", acting=users.get("acme"))  # an admin of bob's organization
    assert service.unlock("nobody", acting=users.get("owner"))  # a name no one has
    assert service.unlock("ann", acting=None)  # the operator at the command line
    assert service.lockouts() == {}
    assert _entries(("auth.unlocked",), "acme") == [("acme", "acme", "auth.unlocked", "bob", {})]
    assert _entries(("auth.unlocked",), include_instance=True) == [
        (None, "owner", "auth.unlocked", "nobody", {}),
        ("demo", "cli", "auth.unlocked", "ann", {})]


def test_a_cookie_never_outlives_its_session(home: Path, users: UserStore, clock: Clock,
                                             monkeypatch) -> None:
    monkeypatch.setenv("SWITCHYARD_SESSION_MAX_HOURS", "0.01")  # 36 seconds
    service = SignIn(users, clock=clock)
    early = service.attempt("ann", PW)
    clock.advance(seconds=10)
    assert service.redeem(early.ticket)[1] == 26
    late = service.attempt("ann", PW)
    clock.advance(seconds=35.5)  # half a second of the session left
    assert service.redeem(late.ticket)[1] == 0
