"""Users, roles and organizations; the sign-in gate and the checks every page repeats.

Users live in a JSON credentials file under SWITCHYARD_HOME (mode 0600, never in git) in the
shape streamlit-authenticator once read, with bcrypt password hashes. Each user has one role
and belongs to one organization. The first admin, created at setup, is the instance owner:
the only user who may see and switch between organizations.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import bcrypt

from core.domain import DEMO_ORG, Role, check_org_id
from core.settings import Settings, get_settings, write_private_file

USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,31}$")
MIN_PASSWORD = 8

# Which pages each role may open (page keys are the pages/ file stems).
ROLE_PAGES: dict[Role, tuple[str, ...]] = {
    Role.admin: ("usage", "catalog", "compare", "providers", "users"),
    Role.editor: ("usage", "catalog", "compare", "providers"),
    Role.analyst: ("usage", "catalog", "compare", "providers"),
    Role.viewer: ("usage", "catalog", "compare", "providers"),
}
# Roles that may add, edit, delete and test providers (others read the list, without keys).
PROVIDER_ROLES = (Role.admin, Role.editor)
# Catalog: who may spend a call on a model's quick test, and who may change defaults and
# run discovery (prices and classification rules are the admin's).
CATALOG_TEST_ROLES = (Role.admin, Role.editor, Role.analyst)
CATALOG_MANAGE_ROLES = (Role.admin, Role.editor)
# Roles that may load usage files into their organization's warehouse data.
INGEST_ROLES = (Role.admin, Role.editor, Role.analyst)


class UserError(ValueError):
    """A user-management request that cannot be honoured; the message says why."""


class AccessDenied(PermissionError):
    """The signed-in user may not do this."""


@dataclass(frozen=True)
class User:
    username: str
    name: str
    email: str
    role: Role
    org_id: str
    owner: bool = False

    def may_open(self, page: str) -> bool:
        return page in ROLE_PAGES[self.role]

    def visible_orgs(self, known: list[str]) -> list[str]:
        """Organizations this user may look at: all for the owner, else their own."""
        if self.owner:
            return sorted(set(known) | {self.org_id})
        return [self.org_id]

    def scope(self, requested_org: str | None = None) -> str:
        """The organization a query may touch. Enforced here, not by hiding widgets."""
        org = requested_org or self.org_id
        if org != self.org_id and not self.owner:
            raise AccessDenied("You can only see your own organization's data.")
        return check_org_id(org)


def hash_password(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=12)).decode()


class UserStore:
    """The credentials file: read it fresh, change it under a lock, write it atomically."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self.path: Path = self.settings.credentials_path
        self.lock_path = self.path.with_name(self.path.name + ".lock")

    # -- reading -------------------------------------------------------------------------
    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {"usernames": {}}
        except json.JSONDecodeError as exc:
            raise UserError(f"The credentials file {self.path} is damaged: {exc}") from None
        data.setdefault("usernames", {})
        return data

    def is_empty(self) -> bool:
        return not self._read()["usernames"]

    def credentials(self) -> dict[str, Any]:
        """A fresh copy of the whole file (callers may change it freely)."""
        return self._read()

    def get(self, username: str | None) -> User | None:
        if not username:
            return None
        rec = self._read()["usernames"].get(username)
        if rec is None:
            return None
        return self._user(username, rec)

    @staticmethod
    def _user(username: str, rec: dict[str, Any]) -> User:
        roles = rec.get("roles") or [Role.viewer.value]
        return User(
            username=username,
            name=rec.get("name") or username,
            email=rec.get("email") or "",
            role=Role(roles[0]),
            org_id=rec.get("org_id") or DEMO_ORG,
            owner=bool(rec.get("owner")),
        )

    def list_users(self, org_id: str | None = None) -> list[User]:
        users = [self._user(u, r) for u, r in sorted(self._read()["usernames"].items())]
        return [u for u in users if org_id is None or u.org_id == org_id]

    def organizations(self) -> list[str]:
        return sorted({u.org_id for u in self.list_users()})

    # -- writing -------------------------------------------------------------------------
    @contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            data = self._read()
            yield data
            write_private_file(self.path, json.dumps(data, indent=2, sort_keys=True).encode())
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    @staticmethod
    def _validate(username: str, name: str, email: str, password: str | None) -> None:
        if not USERNAME_RE.fullmatch(username or ""):
            raise UserError(
                "Username must be 2-32 letters, digits, '.', '_' or '-', starting with a letter "
                "or digit."
            )
        if not (name or "").strip():
            raise UserError("Please enter a display name.")
        if email and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
            raise UserError("That e-mail address does not look right.")
        if password is not None and len(password) < MIN_PASSWORD:
            raise UserError(f"Passwords need at least {MIN_PASSWORD} characters.")

    def add_user(
        self,
        username: str,
        name: str,
        email: str,
        password: str,
        role: Role | str,
        org_id: str,
        *,
        acting: User | None = None,
    ) -> User:
        """Add a user. The very first user must be an admin and becomes the instance owner."""
        username = (username or "").strip()
        self._validate(username, name, email, password)
        try:
            role = Role(role)
            org_id = check_org_id(org_id)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        with self._locked() as data:
            users = data["usernames"]
            first = not users
            if first and role is not Role.admin:
                raise UserError("The first user must be an admin.")
            # acting=None is the local operator at the command line (trusted, like a DBA).
            if not first and acting is not None:
                if acting.role is not Role.admin:
                    raise AccessDenied("Only admins can add users.")
                if org_id != acting.org_id and not acting.owner:
                    raise AccessDenied("Admins can add users to their own organization only.")
            if username in users:
                raise UserError(f"There is already a user called {username}.")
            users[username] = {
                "name": name.strip(),
                "email": email.strip(),
                "password": hash_password(password),
                "roles": [role.value],
                "org_id": org_id,
                "owner": first,
            }
            user = self._user(username, users[username])
        self._audit(org_id, acting, "auth.user_added", username,
                    {"role": role.value, "owner": first})
        return user

    def _end_sessions(self, username: str, org_id: str | None, acting: User,
                      reason: str) -> None:
        """End the user's sessions, before the change is written: if writing fails, they
        sign in again, never the other way round."""
        from datetime import UTC, datetime

        from core.config_store.sessions import SessionStore

        SessionStore(settings=self.settings).revoke_user(
            username, actor=acting.username, reason=reason, now=datetime.now(UTC),
            org_id=org_id)

    def _audit(self, org_id: str | None, acting: User | None, action: str, username: str,
               detail: dict[str, Any]) -> None:
        """One audit entry per user change, after it is written (the session entries only
        exist when the user had a live session). ``acting=None`` is the command line."""
        from core.config_store.sessions import SessionStore

        SessionStore(settings=self.settings).audit(
            org_id, acting.username if acting else "cli", action, username, detail)

    def set_role(self, username: str, role: Role | str, *, acting: User) -> User:
        role = Role(role)
        with self._locked() as data:
            rec = self._editable(data, username, acting)
            if rec.get("owner") and role is not Role.admin:
                raise UserError("The instance owner stays an admin.")
            before = rec.get("roles") or []
            if before != [role.value]:
                self._end_sessions(username, rec.get("org_id"), acting, "role changed")
            rec["roles"] = [role.value]
            user = self._user(username, rec)
        if before != [role.value]:
            self._audit(user.org_id, acting, "auth.role_changed", username,
                        {"from": ",".join(before), "to": role.value})
        return user

    def set_org(self, username: str, org_id: str, *, acting: User) -> User:
        """Move a user to another organization (the instance owner only: no one else sees
        two organizations). Their sessions end, so nothing of the old one stays open."""
        try:
            org_id = check_org_id(org_id)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        if not acting.owner:
            raise AccessDenied("Only the instance owner can move users between organizations.")
        with self._locked() as data:
            rec = self._editable(data, username, acting)
            if rec.get("owner"):
                raise UserError("The instance owner stays in their organization.")
            before = rec.get("org_id")
            if before != org_id:
                self._end_sessions(username, before, acting, "organization changed")
            rec["org_id"] = org_id
            user = self._user(username, rec)
        if before != org_id:  # both organizations' trails show the move
            for org in (before, org_id):
                self._audit(org, acting, "auth.org_changed", username,
                            {"from": before, "to": org_id})
        return user

    def set_password(self, username: str, password: str, *, acting: User) -> None:
        if len(password or "") < MIN_PASSWORD:
            raise UserError(f"Passwords need at least {MIN_PASSWORD} characters.")
        with self._locked() as data:
            if username != acting.username:
                rec = self._editable(data, username, acting)
            else:
                rec = data["usernames"][username]
            self._end_sessions(username, rec.get("org_id"), acting, "password changed")
            rec["password"] = hash_password(password)
        self._audit(rec.get("org_id"), acting, "auth.password_changed", username,
                    {"own": username == acting.username})

    def remove_user(self, username: str, *, acting: User) -> None:
        with self._locked() as data:
            rec = self._editable(data, username, acting)
            if rec.get("owner"):
                raise UserError("The instance owner cannot be removed.")
            if username == acting.username:
                raise UserError("You cannot remove yourself.")
            self._end_sessions(username, rec.get("org_id"), acting, "user removed")
            del data["usernames"][username]
        self._audit(rec.get("org_id"), acting, "auth.user_removed", username,
                    {"roles": rec.get("roles") or []})

    @staticmethod
    def _editable(data: dict[str, Any], username: str, acting: User) -> dict[str, Any]:
        if acting.role is not Role.admin:
            raise AccessDenied("Only admins can change users.")
        rec = data["usernames"].get(username)
        if rec is None:
            raise UserError(f"There is no user called {username}.")
        if rec.get("org_id") != acting.org_id and not acting.owner:
            raise AccessDenied("Admins can change users of their own organization only.")
        return rec


def check_password(store: UserStore, username: str, password: str) -> bool:
    rec = store.credentials()["usernames"].get(username)
    if not rec:
        return False
    return bcrypt.checkpw(password.encode(), rec["password"].encode())


def people_frame(people: list[User], locked: Mapping[str, datetime]) -> Any:
    """The Users page's table (and its CSV); ``locked`` maps lowercased usernames to the end
    of their sign-in lockout (shown in the viewer's local time)."""
    import pandas as pd

    return pd.DataFrame([
        {"Username": u.username, "Name": u.name, "E-mail": u.email, "Role": u.role.value,
         "Organization": u.org_id, "Owner": "yes" if u.owner else "",
         "Locked until": (f"{locked[u.username.lower()].astimezone():%H:%M}"
                          if u.username.lower() in locked else "")}
        for u in people
    ], columns=["Username", "Name", "E-mail", "Role", "Organization", "Owner", "Locked until"])
