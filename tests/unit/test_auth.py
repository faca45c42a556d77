"""Users, roles and organization scoping, enforced in core (not only by hiding widgets)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.auth import AccessDenied, UserError, UserStore, check_password
from core.domain import Role, UsageFilter

PW = "correct-horse-42"


@pytest.fixture()
def store(home: Path) -> UserStore:
    s = UserStore()
    s.add_user("owner", "Owner", "", PW, Role.admin, "demo")
    s.add_user("ann", "Ann", "ann@example.com", PW, Role.analyst, "demo")
    s.add_user("acme", "Acme admin", "", PW, Role.admin, "acme")
    return s


def test_first_user_must_be_admin_and_becomes_owner(home: Path) -> None:
    s = UserStore()
    with pytest.raises(UserError, match="first user must be an admin"):
        s.add_user("vic", "V", "", PW, Role.viewer, "demo")
    owner = s.add_user("boss", "Boss", "", PW, Role.admin, "demo")
    assert owner.owner
    second = s.add_user("two", "Two", "", PW, Role.admin, "demo")
    assert not second.owner


@pytest.mark.parametrize(
    ("username", "password", "org", "message"),
    [
        ("x", PW, "demo", "Username"),
        ("good", "short", "demo", "at least 8"),
        ("good", PW, "Bad Org!", "organization id"),
        ("ann", PW, "demo", "already a user"),
    ],
)
def test_bad_user_input_is_refused_with_a_reason(store: UserStore, username, password, org,
                                                 message) -> None:
    with pytest.raises(UserError, match=message):
        store.add_user(username, "Name", "", password, Role.viewer, org)


def test_passwords_are_bcrypt_hashed(store: UserStore) -> None:
    text = store.path.read_text()
    assert PW not in text and "$2b$" in text
    assert check_password(store, "ann", PW)
    assert not check_password(store, "ann", PW + "!")


def test_admins_manage_only_their_own_org(store: UserStore) -> None:
    acme = store.get("acme")
    ann = store.get("ann")
    with pytest.raises(AccessDenied):
        store.add_user("x1", "X", "", PW, Role.viewer, "demo", acting=acme)
    with pytest.raises(AccessDenied):
        store.set_role("ann", Role.admin, acting=acme)
    with pytest.raises(AccessDenied):
        store.add_user("x2", "X", "", PW, Role.viewer, "demo", acting=ann)
    store.add_user("x3", "X", "", PW, Role.viewer, "acme", acting=acme)
    # the owner administers every organization
    store.set_role("x3", Role.editor, acting=store.get("owner"))
    assert store.get("x3").role is Role.editor
    with pytest.raises(UserError, match="owner"):
        store.remove_user("owner", acting=store.get("owner"))


def test_scope_keeps_users_in_their_organization(store: UserStore) -> None:
    ann, acme, owner = store.get("ann"), store.get("acme"), store.get("owner")
    assert ann.scope() == "demo"
    with pytest.raises(AccessDenied):
        acme.scope("demo")
    assert owner.scope("acme") == "acme"
    assert acme.visible_orgs(["demo", "acme"]) == ["acme"]
    assert owner.visible_orgs(["acme"]) == ["acme", "demo"]


def test_role_pages() -> None:
    from core.auth import ROLE_PAGES

    assert "users" in ROLE_PAGES[Role.admin]
    for role in (Role.editor, Role.analyst, Role.viewer):
        assert "users" not in ROLE_PAGES[role]
        assert "usage" in ROLE_PAGES[role]


def test_usage_filter_validates_org_and_dates() -> None:
    from datetime import date

    with pytest.raises(ValueError):
        UsageFilter(org_id="demo'; DROP TABLE usage_events; --", start=date(2026, 1, 1),
                    end=date(2026, 1, 2))
    with pytest.raises(ValueError, match="before the start"):
        UsageFilter(org_id="demo", start=date(2026, 1, 2), end=date(2026, 1, 1))
    f = UsageFilter(org_id="demo", start=date(2026, 1, 8), end=date(2026, 1, 14))
    prev = f.previous_period()
    assert (prev.start, prev.end) == (date(2026, 1, 1), date(2026, 1, 7))


def test_only_admins_change_users_even_themselves(store: UserStore) -> None:
    """The Users page hides these controls from non-admins; core must refuse them too."""
    store.add_user("vic", "Vic", "", PW, Role.viewer, "demo")
    vic = store.get("vic")
    with pytest.raises(AccessDenied, match="Only admins"):
        store.set_role("vic", Role.admin, acting=vic)
    with pytest.raises(AccessDenied, match="Only admins"):
        store.set_role("ann", Role.viewer, acting=vic)
    with pytest.raises(AccessDenied, match="Only admins"):
        store.set_password("ann", PW + "x", acting=vic)
    with pytest.raises(AccessDenied, match="Only admins"):
        store.remove_user("ann", acting=vic)
    assert store.get("vic").role is Role.viewer
    assert store.get("ann").role is Role.analyst
    assert check_password(store, "ann", PW)
    # changing one's own password is allowed to everyone
    store.set_password("vic", PW + "x", acting=vic)
    assert check_password(store, "vic", PW + "x")


def _refusal(exc_type, call, *args, **kw) -> str:
    with pytest.raises(exc_type) as caught:
        call(*args, **kw)
    return str(caught.value)


def test_refusals_tell_the_user_exactly_why(store: UserStore) -> None:
    """These messages are shown as they are on the Users page and in the app."""
    owner, acme = store.get("owner"), store.get("acme")
    store.add_user("vic", "Vic", "", PW, Role.viewer, "demo")
    vic = store.get("vic")
    assert _refusal(AccessDenied, acme.scope, "demo") == (
        "You can only see your own organization's data.")
    assert _refusal(AccessDenied, store.set_role, "ann", Role.viewer, acting=vic) == (
        "Only admins can change users.")
    assert _refusal(AccessDenied, store.set_role, "ann", Role.viewer, acting=acme) == (
        "Admins can change users of their own organization only.")
    assert _refusal(AccessDenied, store.remove_user, "ann", acting=acme) == (
        "Admins can change users of their own organization only.")
    assert _refusal(AccessDenied, store.set_org, "ann", "acme", acting=acme) == (
        "Only the instance owner can move users between organizations.")
    assert _refusal(UserError, store.remove_user, "owner", acting=owner) == (
        "The instance owner cannot be removed.")
    assert _refusal(UserError, store.set_role, "owner", Role.viewer, acting=owner) == (
        "The instance owner stays an admin.")
    assert _refusal(UserError, store.set_org, "owner", "acme", acting=owner) == (
        "The instance owner stays in their organization.")
    assert _refusal(UserError, store.remove_user, "ghost", acting=owner) == (
        "There is no user called ghost.")


def test_an_admin_manages_the_users_of_their_own_organization(store: UserStore) -> None:
    """A non-owner admin is not limited to adding users: they change and remove them too."""
    acme = store.get("acme")
    store.add_user("bob", "Bob", "", PW, Role.viewer, "acme", acting=acme)
    changed = store.set_role("bob", Role.editor, acting=acme)
    assert (changed.username, changed.role, changed.org_id) == ("bob", Role.editor, "acme")
    assert UserStore().get("bob").role is Role.editor
    store.set_password("bob", PW + "-new", acting=acme)
    assert check_password(store, "bob", PW + "-new")
    store.remove_user("bob", acting=acme)
    assert store.get("bob") is None
    assert [u.username for u in store.list_users("acme")] == ["acme"]


def test_the_owner_can_be_kept_an_admin_but_not_demoted(store: UserStore) -> None:
    owner = store.get("owner")
    kept = store.set_role("owner", Role.admin, acting=owner)
    assert (kept.username, kept.role, kept.owner) == ("owner", Role.admin, True)
    for role in (Role.editor, Role.analyst, Role.viewer):
        with pytest.raises(UserError, match="instance owner stays an admin"):
            store.set_role("owner", role, acting=owner)
    assert store.get("owner").role is Role.admin


def test_a_password_of_exactly_the_minimum_length_is_accepted(store: UserStore) -> None:
    owner = store.get("owner")
    with pytest.raises(UserError, match="^Passwords need at least 8 characters.$"):
        store.set_password("ann", "x" * 7, acting=owner)
    store.set_password("ann", "y" * 8, acting=owner)
    assert check_password(store, "ann", "y" * 8)


def _user_trail() -> list[tuple]:
    """The user-change audit entries, oldest first: (org, actor, action, target, detail)."""
    import json

    from core.config_store.db import connect

    conn = connect()
    try:
        rows = conn.execute("SELECT org_id, actor, action, target, detail_json FROM audit_log "
                            "WHERE action LIKE 'auth.user%' OR action IN ('auth.role_changed', "
                            "'auth.org_changed', 'auth.password_changed') ORDER BY id").fetchall()
    finally:
        conn.close()
    return [(r[0], r[1], r[2], r[3], json.loads(r[4] or "{}")) for r in rows]


def test_every_user_change_is_in_the_audit_log_even_without_a_live_session(
        store: UserStore) -> None:
    """A role, organization or password change and a removal leave a trace of their own:
    the session entries exist only when the user happened to be signed in."""
    owner, acme = store.get("owner"), store.get("acme")
    assert owner is not None and acme is not None
    store.add_user("vic", "Vic", "", PW, Role.viewer, "acme", acting=acme)
    store.set_role("vic", Role.editor, acting=acme)
    store.set_role("vic", Role.editor, acting=acme)  # no change: no entry
    store.set_password("vic", PW + "x", acting=acme)
    store.set_org("vic", "demo", acting=owner)
    store.set_org("vic", "demo", acting=owner)  # no change: no entry
    store.remove_user("vic", acting=owner)
    assert _user_trail() == [
        ("demo", "cli", "auth.user_added", "owner", {"role": "admin", "owner": True}),
        ("demo", "cli", "auth.user_added", "ann", {"role": "analyst", "owner": False}),
        ("acme", "cli", "auth.user_added", "acme", {"role": "admin", "owner": False}),
        ("acme", "acme", "auth.user_added", "vic", {"role": "viewer", "owner": False}),
        ("acme", "acme", "auth.role_changed", "vic", {"from": "viewer", "to": "editor"}),
        ("acme", "acme", "auth.password_changed", "vic", {"own": False}),
        ("acme", "owner", "auth.org_changed", "vic", {"from": "acme", "to": "demo"}),
        ("demo", "owner", "auth.org_changed", "vic", {"from": "acme", "to": "demo"}),
        ("demo", "owner", "auth.user_removed", "vic", {"roles": ["editor"]}),
    ]
    store.set_password("ann", PW + "y", acting=store.get("ann"))
    assert _user_trail()[-1] == ("demo", "ann", "auth.password_changed", "ann", {"own": True})


def test_a_refused_change_leaves_no_audit_entry(store: UserStore) -> None:
    ann = store.get("ann")
    before = _user_trail()
    with pytest.raises(AccessDenied):
        store.set_role("ann", Role.admin, acting=ann)
    with pytest.raises(UserError):
        store.set_password("ann", "short", acting=ann)
    assert _user_trail() == before


def test_people_frame_is_the_users_table(store: UserStore, monkeypatch) -> None:
    """The Users page's table: one row per person in a fixed column order, the owner marked,
    and a lockout shown as its end in local time (matched case-insensitively)."""
    import time
    from datetime import UTC, datetime

    from core.auth import people_frame

    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        people = [store.get("owner"), store.get("ann")]
        frame = people_frame([p for p in people if p is not None],
                             {"ann": datetime(2026, 3, 1, 9, 5, tzinfo=UTC)})
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert list(frame.columns) == ["Username", "Name", "E-mail", "Role", "Organization",
                                   "Owner", "Locked until"]
    assert frame.to_dict("records") == [
        {"Username": "owner", "Name": "Owner", "E-mail": "", "Role": "admin",
         "Organization": "demo", "Owner": "yes", "Locked until": ""},
        {"Username": "ann", "Name": "Ann", "E-mail": "ann@example.com", "Role": "analyst",
         "Organization": "demo", "Owner": "", "Locked until": "18:05"},
    ]
    assert list(people_frame([], {}).columns) == list(frame.columns)


def test_a_mixed_case_username_shows_its_lockout(home: Path) -> None:
    from datetime import UTC, datetime

    from core.auth import people_frame

    s = UserStore()
    s.add_user("Boss", "Boss", "", PW, Role.admin, "demo")
    frame = people_frame([s.get("Boss")], {"boss": datetime(2026, 3, 1, 9, 5, tzinfo=UTC)})
    assert frame.loc[0, "Locked until"] != ""


@pytest.mark.parametrize("role", list(Role))
def test_may_open_follows_the_role_pages(role: Role) -> None:
    from core.auth import ROLE_PAGES, User

    user = User(username="u", name="U", email="", role=role, org_id="demo", owner=False)
    for page in ("usage", "catalog", "compare", "providers", "users"):
        assert user.may_open(page) is (page in ROLE_PAGES[role])
    assert user.may_open("users") is (role is Role.admin)


def test_moving_a_user_to_a_malformed_organization_says_why(store: UserStore) -> None:
    owner = store.get("owner")
    assert owner is not None
    with pytest.raises(UserError, match="organization id"):
        store.set_org("ann", "Bad Org!", acting=owner)
    assert store.get("ann").org_id == "demo"
