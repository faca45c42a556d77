"""Provider configurations and their encrypted API keys, scoped by organization.

Every method takes the caller's ``org_id`` and every statement filters on it
(``WHERE org_id = ?``), so a provider of one organization is invisible and unchangeable from
another, whatever id a page passes in. API keys are encrypted by :mod:`core.vault` on the way
in and decrypted only by :meth:`ProviderStore.api_key`, at call time; records carry a hint
(``key_last4``) and ``has_key``, never the key. Every change is written to the audit log in
the same transaction as the change, without secrets.

The config store remembers which master key id its secrets are under (``meta.vault_key_id``).
That lets a process notice another process's key rotation (it reloads the key files), lets an
interrupted rotation be finished, and refuses to encrypt a new secret under a different key
from the one the existing secrets use (two servers with different master keys would otherwise
each make the other's keys unreadable).
"""

from __future__ import annotations

import builtins
import json
import logging
import re
import secrets as _secrets
import sqlite3
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any, Final, Literal, cast
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, ValidationError

from core.config_store.db import StoreConnections, now_iso
from core.config_store.schemas import (
    SECRET_FIELDS,
    SETTINGS_CLASSES,
    ProviderSettings,
    ProviderSettingsBase,
    parse_provider_settings,
)
from core.domain import check_org_id
from core.provider_names import PROVIDER_TYPES, KeyPolicy, ProviderType, ProviderTypeInfo
from core.redact import scrub
from core.settings import Settings, get_settings
from core.vault import Vault, VaultError, last4, load_vault

logger = logging.getLogger(__name__)

PROVIDER_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
MAX_KEY_CHARS = 8192
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
META_KEY_ID = "vault_key_id"


class ConfigStoreError(ValueError):
    """A request the store cannot honour; the message is written for the person asking."""


class ProviderNotFound(ConfigStoreError, LookupError):
    """No such provider in this organization (it may exist in another: we do not say)."""


class StaleWrite(ConfigStoreError):
    """The provider changed since the caller read it (optimistic concurrency)."""


class _Keep(Enum):
    KEEP = "keep"

    def __repr__(self) -> str:
        return "KEEP"


KEEP: Final = _Keep.KEEP
"""``update(..., api_key=KEEP)`` leaves the stored key as it is."""

KeyChange = str | None | Literal[_Keep.KEEP]


class ProviderRecord(BaseModel):
    """A provider as the pages see it. Deliberately has no field that could hold the key."""

    model_config = ConfigDict(frozen=True)

    id: str
    org_id: str
    name: str
    type: ProviderType
    base_url: str | None
    settings: ProviderSettings
    simulated: bool
    version: int
    created_at: datetime
    updated_at: datetime
    created_by: str
    updated_by: str | None
    last_test_at: datetime | None
    last_test_ok: bool | None
    last_test_message: str | None
    last_test_latency_ms: float | None
    models_count: int | None  # what the last connection test counted
    catalog_models: int = 0  # active models discovery has put in the catalog
    has_key: bool
    key_last4: str | None
    key_updated_at: datetime | None

    @property
    def info(self) -> ProviderTypeInfo:
        return PROVIDER_TYPES[self.type]

    @property
    def enabled(self) -> bool:
        return self.settings.enabled

    @property
    def model_count(self) -> int | None:
        """How many models it serves: the catalog's active models once discovery has listed
        them (discovery writes the catalog, not this row), else the last connection test's
        count, else the models configured by hand; None when nothing has counted them."""
        if self.catalog_models:
            return self.catalog_models
        if self.models_count is not None:
            return self.models_count
        return len(self.settings.models) or None


class AuditEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    ts: datetime
    org_id: str | None  # None: an instance-wide event such as a master key rotation
    actor: str
    action: str
    target: str | None
    detail: dict[str, Any]


def new_provider_id(name: str) -> str:
    """A readable, globally unique id: the name's slug plus 6 random hex digits."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40].strip("-") or "provider"
    return f"{slug}-{_secrets.token_hex(3)}"


def _org(org_id: str) -> str:
    try:
        return check_org_id(org_id)
    except ValueError as exc:
        raise ConfigStoreError(str(exc)) from None


def _clean_key(api_key: str | None, *, blank_ok: bool) -> str | None:
    """Strip a pasted key and refuse what cannot be a key. Never echoes the value."""
    if api_key is None:
        return None
    if not isinstance(api_key, str):
        raise ConfigStoreError("The API key must be text.")
    key = api_key.strip()
    if not key:
        if blank_ok:
            return None
        raise ConfigStoreError("The API key is empty: enter a key, or keep or remove the "
                               "current one.")
    if _CONTROL_RE.search(key):
        raise ConfigStoreError("The API key contains a line break or control character; paste "
                               "just the key.")
    if len(key) > MAX_KEY_CHARS:
        raise ConfigStoreError(f"The API key is longer than {MAX_KEY_CHARS} characters.")
    return key


def _origin(url: str | None) -> tuple[str, str | None, int | None] | None:
    if not url:
        return None
    p = urlsplit(url)
    return (p.scheme, p.hostname, p.port)  # urlsplit lower-cases both


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _at(value: str) -> datetime:
    """A NOT NULL timestamp column."""
    return datetime.fromisoformat(value)


def _safe_detail(detail: Mapping[str, Any] | None) -> str:
    """Audit details are for names and counts; a secret-looking field is a bug, so refuse."""
    data = dict(detail or {})
    for k in data:
        if str(k).lower().replace("-", "_") in SECRET_FIELDS:
            raise ValueError(f"audit detail field {k!r} looks like a secret")
    return json.dumps(data, sort_keys=True, default=str)


def write_audit(conn: sqlite3.Connection, org_id: str | None, actor: str, action: str,
                target: str | None, detail: Mapping[str, Any] | None) -> None:
    """Append one audit entry on ``conn``, inside the caller's transaction, so a change and
    its audit entry commit (or roll back) together. Shared by every store in this package."""
    conn.execute(
        "INSERT INTO audit_log (ts, org_id, actor, action, target, detail_json) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (now_iso(), org_id, actor or "unknown", action, target, _safe_detail(detail)),
    )


_SELECT = """
    SELECT p.id, p.org_id, p.name, p.type, p.base_url, p.settings_json, p.simulated, p.version,
           p.created_at, p.updated_at, p.created_by, p.updated_by, p.last_test_at,
           p.last_test_ok, p.last_test_message, p.last_test_latency_ms, p.models_count,
           (SELECT COUNT(*) FROM catalog_models c WHERE c.org_id = p.org_id
              AND c.provider_id = p.id AND c.active = 1) AS catalog_models,
           s.provider_id IS NOT NULL AS has_key, s.last4, s.updated_at AS key_updated_at
    FROM providers p
    LEFT JOIN provider_secrets s ON s.provider_id = p.id AND s.org_id = p.org_id
"""


class ProviderStore(StoreConnections):
    """Provider configurations in ``config.sqlite``. Cheap to create; safe to share between
    threads (each call opens its own connection)."""

    def __init__(self, path: Path | str | None = None, *, settings: Settings | None = None,
                 vault: Vault | None = None) -> None:
        self.settings = settings or get_settings()
        self.path = Path(path) if path is not None else self.settings.config_path
        self._vault = vault
        self._vault_lock = threading.Lock()
        with self._connect():  # create and migrate now, so a bad path fails here
            pass

    def __repr__(self) -> str:
        return f"ProviderStore(path={str(self.path)!r})"

    # -- connections -----------------------------------------------------------------------
    # -- the vault -------------------------------------------------------------------------
    @staticmethod
    def _meta_get(conn: sqlite3.Connection, key: str) -> str | None:
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    @staticmethod
    def _meta_set(conn: sqlite3.Connection, key: str, value: str | None) -> None:
        if value is None:
            conn.execute("DELETE FROM meta WHERE key = ?", (key,))
        else:
            conn.execute("INSERT INTO meta (key, value) VALUES (?, ?) "
                         "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value))

    def _expected_key_id(self, conn: sqlite3.Connection) -> str | None:
        """The key id the stored secrets are under; None when there are no secrets."""
        if conn.execute("SELECT 1 FROM provider_secrets LIMIT 1").fetchone() is None:
            return None
        return self._meta_get(conn, META_KEY_ID)

    def recorded_key_id(self) -> str | None:
        """The master key id the store last recorded (used by rotation's crash handling)."""
        with self._connect() as conn:
            return self._meta_get(conn, META_KEY_ID)

    def _load_vault(self, expected: str | None) -> Vault:
        with self._vault_lock:
            self._vault = load_vault(self.settings, expected_key_id=expected)
            return self._vault

    def reload_vault(self) -> Vault:
        """Re-read the master key(s) from the environment / key files."""
        with self._connect() as conn:
            expected = self._expected_key_id(conn)
        return self._load_vault(expected)

    def use_vault(self, vault: Vault) -> None:
        """Swap in a vault (after a rotation in this process, or in tests)."""
        with self._vault_lock:
            self._vault = vault

    @property
    def vault(self) -> Vault:
        return self._vault if self._vault is not None else self.reload_vault()

    def _vault_for_write(self, conn: sqlite3.Connection) -> Vault:
        expected = self._expected_key_id(conn)
        vault = self._vault if self._vault is not None else self._load_vault(expected)
        if expected is not None and vault.current_key_id != expected:
            vault = self._load_vault(expected)  # another process may have rotated the key
            if vault.current_key_id != expected:
                raise VaultError(
                    f"The stored API keys are encrypted with master key {expected}, but this "
                    f"server's master key is {vault.current_key_id}. Every Switchyard process "
                    "must use the same master key (SWITCHYARD_MASTER_KEY or the master.key file)."
                )
        return vault

    def _vault_for_blob(self, blob: bytes) -> Vault:
        vault = self.vault
        if not vault.can_decrypt(blob):
            vault = self.reload_vault()  # rotated elsewhere since we loaded the keys
        return vault

    def _put_secret(self, conn: sqlite3.Connection, org_id: str, provider_id: str, key: str,
                    actor: str, now: str) -> None:
        vault = self._vault_for_write(conn)
        blob = vault.encrypt(key, org_id=org_id, provider_id=provider_id)
        conn.execute(
            "INSERT INTO provider_secrets (provider_id, org_id, key_id, ciphertext, last4, "
            "updated_at, updated_by) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (provider_id) DO UPDATE SET key_id = excluded.key_id, "
            "ciphertext = excluded.ciphertext, last4 = excluded.last4, "
            "updated_at = excluded.updated_at, updated_by = excluded.updated_by "
            "WHERE provider_secrets.org_id = excluded.org_id",
            (provider_id, org_id, vault.current_key_id, blob, last4(key), now, actor),
        )
        self._meta_set(conn, META_KEY_ID, vault.current_key_id)

    def rewrap_secrets(self, rewrap: Callable[[str, str, bytes], bytes], *, new_key_id: str,
                       actor: str, detail: Mapping[str, Any] | None = None) -> int:
        """Replace every stored ciphertext (all organizations) by ``rewrap(org, id, blob)``,
        record ``new_key_id`` as current and audit it, in ONE transaction: all or nothing.

        For :func:`core.vault.rotate`; it is the only cross-organization write.
        """
        with self._write() as conn:
            rows = conn.execute("SELECT provider_id, org_id, ciphertext FROM provider_secrets "
                                "ORDER BY org_id, provider_id").fetchall()
            for provider_id, org_id, blob in rows:
                new_blob = rewrap(org_id, provider_id, bytes(blob))
                if Vault.blob_key_id(new_blob) != new_key_id:
                    raise VaultError("Rotation produced a secret under the wrong key; aborted.")
                conn.execute("UPDATE provider_secrets SET ciphertext = ?, key_id = ? "
                             "WHERE provider_id = ? AND org_id = ?",
                             (new_blob, new_key_id, provider_id, org_id))
            self._meta_set(conn, META_KEY_ID, new_key_id)
            self._audit(conn, None, actor, "vault.rotate", None,
                        {**(detail or {}), "secrets": len(rows)})
        self._checkpoint()
        return len(rows)

    def reset_secrets(self, actor: str) -> int:
        """Forget every stored API key (all organizations): the way out when the master key
        is lost. Providers stay; their keys must be entered again."""
        with self._write() as conn:
            n = conn.execute("DELETE FROM provider_secrets").rowcount
            self._meta_set(conn, META_KEY_ID, None)
            self._audit(conn, None, actor, "vault.reset", None, {"secrets_removed": n})
        self._checkpoint()
        return n

    def _checkpoint(self) -> None:
        """Fold the WAL into the database and truncate it, so replaced ciphertexts do not
        linger in the WAL file. Best effort: readers may hold it open."""
        try:
            with self._connect() as conn:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as exc:  # pragma: no cover - only under contention
            logger.info("WAL checkpoint skipped: %s", exc)

    # -- audit -----------------------------------------------------------------------------
    _audit = staticmethod(write_audit)

    def audit(self, org_id: str, actor: str, action: str, target: str | None = None,
              detail: Mapping[str, Any] | None = None) -> None:
        """Append an entry for ``org_id`` (for other parts of core; never pass secrets)."""
        with self._write() as conn:
            self._audit(conn, _org(org_id), actor, action, target, detail)

    def audit_entries(self, org_id: str, *, limit: int = 200, include_instance: bool = False,
                      target: str | None = None) -> builtins.list[AuditEntry]:
        """Newest first. ``include_instance`` adds instance-wide events (for the owner)."""
        org = _org(org_id)
        where = "(org_id = ? OR org_id IS NULL)" if include_instance else "org_id = ?"
        params: builtins.list[Any] = [org]
        if target is not None:
            where += " AND target = ?"
            params.append(target)
        with self._connect() as conn:
            rows = conn.execute(
                f"SELECT id, ts, org_id, actor, action, target, detail_json FROM audit_log "
                f"WHERE {where} ORDER BY id DESC LIMIT ?", (*params, int(limit))
            ).fetchall()
        return [AuditEntry(id=r["id"], ts=datetime.fromisoformat(r["ts"]), org_id=r["org_id"],
                           actor=r["actor"], action=r["action"], target=r["target"],
                           detail=json.loads(r["detail_json"] or "{}")) for r in rows]

    # -- providers -------------------------------------------------------------------------
    @staticmethod
    def _settings_from_row(row: sqlite3.Row) -> ProviderSettings:
        data = json.loads(row["settings_json"] or "{}")
        data.update(type=row["type"], name=row["name"], base_url=row["base_url"])
        try:
            return cast("ProviderSettings", parse_provider_settings(data))
        except ValidationError:
            # Stored before a rule was tightened: show it (so it can be fixed), do not fail.
            logger.warning("Provider %s has settings that no longer validate", row["id"])
            return cast("ProviderSettings",
                        SETTINGS_CLASSES[ProviderType(row["type"])].model_construct(**data))

    def _record(self, row: sqlite3.Row) -> ProviderRecord:
        ok = row["last_test_ok"]
        return ProviderRecord(
            id=row["id"], org_id=row["org_id"], name=row["name"], type=row["type"],
            base_url=row["base_url"], settings=self._settings_from_row(row),
            simulated=bool(row["simulated"]), version=row["version"],
            created_at=_at(row["created_at"]), updated_at=_at(row["updated_at"]),
            created_by=row["created_by"], updated_by=row["updated_by"],
            last_test_at=_dt(row["last_test_at"]), last_test_ok=None if ok is None else bool(ok),
            last_test_message=row["last_test_message"],
            last_test_latency_ms=row["last_test_latency_ms"], models_count=row["models_count"],
            catalog_models=row["catalog_models"], has_key=bool(row["has_key"]), key_last4=row["last4"] if row["has_key"] else None,
            key_updated_at=_dt(row["key_updated_at"]),
        )

    @staticmethod
    def _check_key_policy(cfg: ProviderSettingsBase, will_have_key: bool, simulated: bool
                          ) -> None:
        info = cfg.info
        if will_have_key and info.key_policy is KeyPolicy.none:
            raise ConfigStoreError(f"{info.label} takes no API key; leave the key empty.")
        if not will_have_key and info.key_policy is KeyPolicy.required and not simulated:
            raise ConfigStoreError(f"{info.label} needs an {info.key_label.lower()}.")

    @staticmethod
    def _settings_json(cfg: ProviderSettingsBase, key: str | None) -> str:
        text = json.dumps(cfg.model_dump(mode="json"), sort_keys=True)
        if key and key in text:
            raise ConfigStoreError("The API key appears in the settings (a header or the URL?). "
                                   "Enter it only in the API key field, where it is encrypted.")
        return text

    @staticmethod
    def _parse(cfg: ProviderSettingsBase | Mapping[str, Any]) -> ProviderSettingsBase:
        return parse_provider_settings(cfg)  # re-validates models too

    @staticmethod
    def _name_taken(exc: sqlite3.IntegrityError, name: str) -> ConfigStoreError:
        if "name" in str(exc):
            return ConfigStoreError(f"There is already a provider called “{name}” in this "
                                    "organization.")
        return ConfigStoreError("That provider id is already taken.")

    def add(self, org_id: str, cfg: ProviderSettingsBase | Mapping[str, Any],
            api_key: str | None, actor: str, *, simulated: bool = False,
            provider_id: str | None = None) -> ProviderRecord:
        """Store a new provider (and its key, encrypted). Raises ``pydantic.ValidationError``
        for bad settings and :class:`ConfigStoreError` for everything else."""
        org = _org(org_id)
        settings = self._parse(cfg)
        key = _clean_key(api_key, blank_ok=True)
        self._check_key_policy(settings, key is not None, simulated)
        pid = provider_id or new_provider_id(settings.name)
        if not PROVIDER_ID_RE.fullmatch(pid):
            raise ConfigStoreError("Provider ids are 1-63 lowercase letters, digits, '-' or '_'.")
        settings_json = self._settings_json(settings, key)
        now = now_iso()
        with self._write() as conn:
            try:
                conn.execute(
                    "INSERT INTO providers (id, org_id, name, type, base_url, settings_json, "
                    "simulated, version, created_at, updated_at, created_by, updated_by) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?)",
                    (pid, org, settings.name, settings.type, settings.base_url, settings_json,
                     int(simulated), now, now, actor, actor),
                )
            except sqlite3.IntegrityError as exc:
                raise self._name_taken(exc, settings.name) from None
            if key is not None:
                self._put_secret(conn, org, pid, key, actor, now)
            self._audit(conn, org, actor, "provider.add", pid, {
                "name": settings.name, "type": settings.type, "base_url": settings.base_url,
                "simulated": simulated, "key_change": "set" if key else "none",
            })
        record = self.get(org, pid)
        assert record is not None
        return record

    def update(self, org_id: str, provider_id: str,
               cfg: ProviderSettingsBase | Mapping[str, Any] | None, api_key: KeyChange,
               actor: str, *, expected_version: int | None = None) -> ProviderRecord:
        """Change settings and/or the key. ``cfg=None`` keeps the settings; ``api_key`` is a
        new key, ``None`` to remove it, or :data:`KEEP`. With ``expected_version`` the update
        fails with :class:`StaleWrite` if someone else changed the provider meanwhile.

        Pointing a provider that has a key at a different server requires entering the key
        again, so an edit cannot quietly send the stored key to a new address.
        """
        org = _org(org_id)
        key = api_key if api_key is KEEP else _clean_key(api_key, blank_ok=False)
        now = now_iso()
        with self._write() as conn:
            row = conn.execute("SELECT * FROM providers WHERE org_id = ? AND id = ?",
                               (org, provider_id)).fetchone()
            if row is None:
                raise ProviderNotFound("There is no such provider in this organization.")
            if expected_version is not None and row["version"] != expected_version:
                raise StaleWrite("Someone else changed this provider since you opened it. "
                                 "Reload it and make your change again.")
            old = self._settings_from_row(row)
            new = old if cfg is None else self._parse(cfg)
            if new.type != old.type:
                raise ConfigStoreError("The provider type cannot be changed; add a new provider "
                                       "instead.")
            had_key = conn.execute("SELECT 1 FROM provider_secrets WHERE org_id = ? AND "
                                   "provider_id = ?", (org, provider_id)).fetchone() is not None
            if key is KEEP and had_key and _origin(new.base_url) != _origin(old.base_url):
                raise ConfigStoreError("The base URL now points at a different server: enter the "
                                       "API key again to confirm it may be sent there.")
            will_have_key = had_key if key is KEEP else key is not None
            self._check_key_policy(new, will_have_key, bool(row["simulated"]))
            settings_json = self._settings_json(new, None if key is KEEP else key)
            before, after = old.model_dump(mode="json"), new.model_dump(mode="json")
            changed = sorted(k for k in after if before.get(k) != after.get(k))
            key_change = ("unchanged" if key is KEEP else "removed" if key is None
                          else "replaced" if had_key else "set")
            if not changed and (key is KEEP or (key is None and not had_key)):
                return self._record(conn.execute(_SELECT + " WHERE p.org_id = ? AND p.id = ?",
                                                 (org, provider_id)).fetchone())
            try:
                conn.execute(
                    "UPDATE providers SET name = ?, base_url = ?, settings_json = ?, "
                    "version = version + 1, updated_at = ?, updated_by = ? "
                    "WHERE org_id = ? AND id = ?",
                    (new.name, new.base_url, settings_json, now, actor, org, provider_id),
                )
            except sqlite3.IntegrityError as exc:
                raise self._name_taken(exc, new.name) from None
            if key is None:
                conn.execute("DELETE FROM provider_secrets WHERE org_id = ? AND provider_id = ?",
                             (org, provider_id))
            elif key is not KEEP:
                self._put_secret(conn, org, provider_id, key, actor, now)
            self._audit(conn, org, actor, "provider.edit", provider_id,
                        {"name": new.name, "changed": changed, "key_change": key_change})
        record = self.get(org, provider_id)
        assert record is not None
        return record

    def remove(self, org_id: str, provider_id: str, actor: str) -> None:
        """Delete a provider; its encrypted key goes with it (ON DELETE CASCADE)."""
        org = _org(org_id)
        with self._write() as conn:
            row = conn.execute("SELECT name, type FROM providers WHERE org_id = ? AND id = ?",
                               (org, provider_id)).fetchone()
            if row is None:
                raise ProviderNotFound("There is no such provider in this organization.")
            conn.execute("DELETE FROM providers WHERE org_id = ? AND id = ?", (org, provider_id))
            self._audit(conn, org, actor, "provider.delete", provider_id,
                        {"name": row["name"], "type": row["type"]})

    def get(self, org_id: str, provider_id: str) -> ProviderRecord | None:
        org = _org(org_id)
        with self._connect() as conn:
            row = conn.execute(_SELECT + " WHERE p.org_id = ? AND p.id = ?",
                               (org, provider_id)).fetchone()
        return None if row is None else self._record(row)

    def list(self, org_id: str) -> builtins.list[ProviderRecord]:
        """This organization's providers, by name."""
        org = _org(org_id)
        with self._connect() as conn:
            rows = conn.execute(_SELECT + " WHERE p.org_id = ? ORDER BY p.name COLLATE NOCASE",
                                (org,)).fetchall()
        return [self._record(r) for r in rows]

    def api_key(self, org_id: str, provider_id: str) -> str | None:
        """The plaintext key, for an adapter about to make a call; None if it has none.

        Keep the result in memory only for the call. Raises :class:`ProviderNotFound`
        outside the organization and :class:`VaultError` if the key cannot be decrypted.
        """
        org = _org(org_id)
        with self._connect() as conn:
            row = conn.execute(
                "SELECT p.id, s.ciphertext FROM providers p LEFT JOIN provider_secrets s "
                "ON s.provider_id = p.id AND s.org_id = p.org_id "
                "WHERE p.org_id = ? AND p.id = ?", (org, provider_id)).fetchone()
        if row is None:
            raise ProviderNotFound("There is no such provider in this organization.")
        if row["ciphertext"] is None:
            return None
        blob = bytes(row["ciphertext"])
        return self._vault_for_blob(blob).decrypt(blob, org_id=org, provider_id=provider_id)

    def record_test(self, org_id: str, provider_id: str, ok: bool, message: str,
                    latency_ms: float | None = None, models_count: int | None = None, *,
                    actor: str = "system", audit: bool = True) -> None:
        """Remember a connection test's outcome (the message is scrubbed of key-like text).

        ``audit=False`` for frequent automatic checks that should not flood the audit log.
        """
        org = _org(org_id)
        try:
            key = self.api_key(org, provider_id)
        except VaultError:
            key = None
        text = scrub(message or "", key)[:500]
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE providers SET last_test_at = ?, last_test_ok = ?, last_test_message = ?, "
                "last_test_latency_ms = ?, models_count = COALESCE(?, models_count) "
                "WHERE org_id = ? AND id = ?",
                (now_iso(), int(bool(ok)), text, latency_ms, models_count, org, provider_id),
            )
            if cur.rowcount == 0:
                raise ProviderNotFound("There is no such provider in this organization.")
            if audit:
                self._audit(conn, org, actor, "provider.test", provider_id,
                            {"ok": bool(ok), "latency_ms": latency_ms,
                             "models_count": models_count})

    def last_test_age(self, org_id: str, provider_id: str) -> float | None:
        """Seconds since the last connection test (None: never tested), for throttling."""
        record = self.get(org_id, provider_id)
        if record is None:
            raise ProviderNotFound("There is no such provider in this organization.")
        if record.last_test_at is None:
            return None
        return max((datetime.now(UTC) - record.last_test_at).total_seconds(), 0.0)
