"""The model catalog, its classification rules and the discovery run log, scoped by organization.

Why in the config store: these are small transactional writes read by several processes (the
app, ``switchyard discover`` from cron, services asking for a provider's default flagship),
which is what SQLite in WAL mode is for. All of the catalog's SQL lives here; the logic
(diffing a listing against the catalog, classifying, choosing defaults) lives in
:mod:`core.catalog.discovery` and reaches the database through :meth:`CatalogStore.sync_provider`,
which runs the caller's plan inside ONE write transaction so the plan sees exactly the rows it
changes (two discoveries at once cannot interleave).

Every method takes the caller's ``org_id`` and every statement filters on it. Rule changes,
default changes and discovery runs are audited in the same transaction as the change, through
the audit helper the provider store uses.
"""

from __future__ import annotations

import builtins
import json
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from core.config_store.db import StoreConnections, now_iso
from core.config_store.providers import (
    ConfigStoreError,
    ProviderNotFound,
    StaleWrite,
    _org,
    write_audit,
)
from core.model_classes import (
    DEFAULT_RULES,
    ClassRule,
    ModelClass,
    ModelKind,
    RulesError,
    parse_rules,
)
from core.settings import Settings, get_settings

RunStatus = Literal["success", "partial", "failed"]
_FROZEN = ConfigDict(frozen=True, protected_namespaces=())


class InvalidRules(ConfigStoreError):
    """Rules that failed validation; ``messages`` has one line per problem (``Rule 2, …``)."""

    def __init__(self, messages: Sequence[str]) -> None:
        self.messages = list(messages)
        super().__init__("; ".join(self.messages))


class ModelMeta(BaseModel):
    """What a listing (plus classification) says about a model: the part discovery compares
    to decide whether a known model was *updated*."""

    model_config = _FROZEN

    model_id: str = Field(min_length=1, max_length=300)
    display_name: str | None = None
    kind: ModelKind = "text"
    model_class: ModelClass | None = None
    context_window: int | None = None
    max_output_tokens: int | None = None
    input_types: tuple[str, ...] = ("text",)
    output_types: tuple[str, ...] = ("text",)
    specialties: tuple[str, ...] = ()
    recommended_for: str | None = None
    released_at: datetime | None = None


META_FIELDS: tuple[str, ...] = tuple(ModelMeta.model_fields)


class CatalogModel(ModelMeta):
    """A catalog row: the metadata plus its life (first/last seen, active, default)."""

    org_id: str
    provider_id: str
    active: bool = True
    is_default: bool = False
    default_pinned: bool = False  # chosen by a person: discovery keeps it while it is listed
    first_seen: datetime
    last_seen: datetime
    deprecated_at: datetime | None = None
    updated_at: datetime

    def meta(self) -> ModelMeta:
        return ModelMeta(**{f: getattr(self, f) for f in META_FIELDS})


class ModelRef(BaseModel):
    model_config = _FROZEN

    provider_id: str
    model_id: str


class ProviderResult(BaseModel):
    """One provider's part of a discovery run (the CLI prints one line per result)."""

    model_config = _FROZEN

    provider_id: str
    name: str
    type: str
    ok: bool
    listed: int = 0
    added: int = 0
    updated: int = 0
    deprecated: int = 0
    reactivated: int = 0
    default_model: str | None = None
    default_changed: bool = False
    error: str | None = None  # the provider's message, scrubbed of anything key-like
    duration_ms: float = 0.0


class DiscoveryRun(BaseModel):
    """One logged discovery run (``id`` is None until :meth:`CatalogStore.log_run`)."""

    model_config = _FROZEN

    id: int | None = None
    org_id: str
    started_at: datetime
    finished_at: datetime
    duration_ms: float
    status: RunStatus
    providers_checked: int
    models_discovered: int
    models_added: int
    models_updated: int
    models_deprecated: int
    models_reactivated: int = 0
    errors: dict[str, str] = Field(default_factory=dict)  # provider id -> message
    added: tuple[ModelRef, ...] = ()
    deprecated: tuple[ModelRef, ...] = ()
    reactivated: tuple[ModelRef, ...] = ()
    providers: tuple[ProviderResult, ...] = ()
    actor: str

    def summary(self) -> str:
        failed = len(self.errors)
        head = {"success": "Discovery succeeded", "partial": "Discovery partly failed",
                "failed": "Discovery failed"}[self.status]
        text = (f"{head}: {self.providers_checked - failed} of {self.providers_checked} "
                f"providers, {self.models_discovered} models listed, {self.models_added} new, "
                f"{self.models_updated} updated, {self.models_deprecated} deprecated")
        if self.models_reactivated:
            text += f", {self.models_reactivated} back"
        return f"{text} ({self.duration_ms / 1000:.2f} s)."


class RuleSet(BaseModel):
    """An organization's classification rules. ``is_default``: it has none of its own, so the
    defaults apply; ``version`` 0 then (pass it back as ``expected_version``)."""

    model_config = _FROZEN

    org_id: str
    rules: tuple[ClassRule, ...]
    is_default: bool
    version: int
    updated_at: datetime | None = None
    updated_by: str | None = None


@dataclass(frozen=True)
class ProviderSync:
    """What to write for one provider's listing (a plan's answer to :meth:`sync_provider`).

    ``update`` rows get the new metadata and are (re-)activated; ``seen`` are every listed id
    (their ``last_seen`` moves); ``deprecate`` rows become inactive; ``default_model_id`` is
    the provider's default afterwards (None: no default)."""

    insert: tuple[ModelMeta, ...] = ()
    update: tuple[ModelMeta, ...] = ()
    seen: tuple[str, ...] = ()
    deprecate: tuple[str, ...] = ()
    default_model_id: str | None = None


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _at(value: str) -> datetime:
    """A NOT NULL timestamp column."""
    return datetime.fromisoformat(value)


def _j(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


_MODEL_COLS = """org_id, provider_id, model_id, display_name, kind, model_class, context_window,
    max_output_tokens, input_types_json, output_types_json, specialties_json, recommended_for,
    released_at, active, is_default, default_pinned, first_seen, last_seen, deprecated_at,
    updated_at"""


def _model(row: sqlite3.Row) -> CatalogModel:
    return CatalogModel(
        org_id=row["org_id"], provider_id=row["provider_id"], model_id=row["model_id"],
        display_name=row["display_name"], kind=row["kind"], model_class=row["model_class"],
        context_window=row["context_window"], max_output_tokens=row["max_output_tokens"],
        input_types=tuple(json.loads(row["input_types_json"])),
        output_types=tuple(json.loads(row["output_types_json"])),
        specialties=tuple(json.loads(row["specialties_json"])),
        recommended_for=row["recommended_for"], released_at=_dt(row["released_at"]),
        active=bool(row["active"]), is_default=bool(row["is_default"]),
        default_pinned=bool(row["default_pinned"]), first_seen=_at(row["first_seen"]),
        last_seen=_at(row["last_seen"]), deprecated_at=_dt(row["deprecated_at"]),
        updated_at=_at(row["updated_at"]),
    )


def _meta_params(m: ModelMeta) -> tuple[Any, ...]:
    return (m.display_name, m.kind, m.model_class, m.context_window, m.max_output_tokens,
            _j(list(m.input_types)), _j(list(m.output_types)), _j(list(m.specialties)),
            m.recommended_for, m.released_at.isoformat() if m.released_at else None)


def _refs(data: str) -> tuple[ModelRef, ...]:
    return tuple(ModelRef(**r) for r in json.loads(data or "[]"))


def _run(row: sqlite3.Row) -> DiscoveryRun:
    return DiscoveryRun(
        id=row["id"], org_id=row["org_id"], started_at=_at(row["started_at"]),
        finished_at=_at(row["finished_at"]), duration_ms=row["duration_ms"],
        status=row["status"], providers_checked=row["providers_checked"],
        models_discovered=row["models_discovered"], models_added=row["models_added"],
        models_updated=row["models_updated"], models_deprecated=row["models_deprecated"],
        models_reactivated=row["models_reactivated"],
        errors=json.loads(row["errors_json"] or "{}"), added=_refs(row["added_json"]),
        deprecated=_refs(row["deprecated_json"]), reactivated=_refs(row["reactivated_json"]),
        providers=tuple(ProviderResult(**p) for p in json.loads(row["providers_json"] or "[]")),
        actor=row["actor"],
    )


def _rule_line(r: ClassRule) -> str:
    where = r.provider_type or "any"
    return f"{where}: {r.pattern}{' (regex)' if r.match == 'regex' else ''} -> {r.model_class}"


class CatalogStore(StoreConnections):
    """The catalog tables of ``config.sqlite``. Cheap to create; safe to share between
    threads (each call opens its own connection)."""

    def __init__(self, path: Path | str | None = None, *,
                 settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self.path = Path(path) if path is not None else self.settings.config_path
        with self._connect():  # create and migrate now, so a bad path fails here
            pass

    def __repr__(self) -> str:
        return f"CatalogStore(path={str(self.path)!r})"

    @staticmethod
    def _provider_exists(conn: sqlite3.Connection, org: str, provider_id: str) -> None:
        if conn.execute("SELECT 1 FROM providers WHERE org_id = ? AND id = ?",
                        (org, provider_id)).fetchone() is None:
            raise ProviderNotFound("There is no such provider in this organization.")

    # -- models ----------------------------------------------------------------------------
    def models(self, org_id: str, *, provider_id: str | None = None, active_only: bool = False,
               model_class: str | None = None) -> builtins.list[CatalogModel]:
        """The organization's catalog, by provider then model id (active ones first)."""
        org = _org(org_id)
        where, params = ["org_id = ?"], [org]
        if provider_id is not None:
            where.append("provider_id = ?")
            params.append(provider_id)
        if active_only:
            where.append("active = 1")
        if model_class is not None:
            where.append("model_class = ?")
            params.append(model_class)
        with self._connect() as conn:
            rows = conn.execute(
                f"SELECT {_MODEL_COLS} FROM catalog_models WHERE {' AND '.join(where)} "
                "ORDER BY provider_id, active DESC, model_id", params).fetchall()
        return [_model(r) for r in rows]

    def data_version(self, org_id: str) -> tuple:
        """Changes whenever the organization's catalog, rules or providers change (a page
        caches the catalog view keyed on it): counts and newest update times, one query."""
        org = _org(org_id)
        with self._connect() as conn:
            return tuple(conn.execute(
                "SELECT (SELECT count(*) || '/' || coalesce(max(updated_at), '') || '/' || "
                "sum(active) || '/' || sum(is_default) FROM catalog_models WHERE org_id = ?), "
                "(SELECT coalesce(max(version), 0) FROM catalog_rule_sets WHERE org_id = ?), "
                "(SELECT count(*) || '/' || coalesce(sum(version), 0) || '/' || "
                "coalesce(max(updated_at), '') FROM providers WHERE org_id = ?)",
                (org, org, org)).fetchone())

    def model(self, org_id: str, provider_id: str, model_id: str) -> CatalogModel | None:
        org = _org(org_id)
        with self._connect() as conn:
            row = conn.execute(f"SELECT {_MODEL_COLS} FROM catalog_models WHERE org_id = ? "
                               "AND provider_id = ? AND model_id = ?",
                               (org, provider_id, model_id)).fetchone()
        return None if row is None else _model(row)

    def defaults(self, org_id: str) -> dict[str, CatalogModel]:
        """Each provider's default model (provider id -> model), for pages and services."""
        return {m.provider_id: m for m in self.models(org_id, active_only=True) if m.is_default}

    def sync_provider(self, org_id: str, provider_id: str,
                      plan: Callable[[builtins.list[CatalogModel]], ProviderSync],
                      *, now: str | None = None) -> ProviderSync:
        """Apply one provider's listing in ONE transaction: ``plan`` gets the provider's
        current rows (read under the write lock) and returns what to write. Nothing is ever
        deleted: deprecated rows are deactivated."""
        org = _org(org_id)
        ts = now or now_iso()
        with self._write() as conn:
            self._provider_exists(conn, org, provider_id)
            rows = conn.execute(f"SELECT {_MODEL_COLS} FROM catalog_models WHERE org_id = ? "
                                "AND provider_id = ? ORDER BY model_id",
                                (org, provider_id)).fetchall()
            sync = plan([_model(r) for r in rows])
            key = (org, provider_id)
            for m in sync.insert:
                conn.execute(
                    f"INSERT INTO catalog_models ({_MODEL_COLS}) VALUES "
                    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, 0, 0, ?, ?, NULL, ?)",
                    (*key, m.model_id, *_meta_params(m), ts, ts, ts))
            for m in sync.update:
                conn.execute(
                    "UPDATE catalog_models SET display_name = ?, kind = ?, model_class = ?, "
                    "context_window = ?, max_output_tokens = ?, input_types_json = ?, "
                    "output_types_json = ?, specialties_json = ?, recommended_for = ?, "
                    "released_at = ?, active = 1, deprecated_at = NULL, last_seen = ?, "
                    "updated_at = ? WHERE org_id = ? AND provider_id = ? AND model_id = ?",
                    (*_meta_params(m), ts, ts, *key, m.model_id))
            conn.executemany(
                "UPDATE catalog_models SET last_seen = ? WHERE org_id = ? AND provider_id = ? "
                "AND model_id = ?", [(ts, *key, mid) for mid in sync.seen])
            conn.executemany(
                "UPDATE catalog_models SET active = 0, deprecated_at = ?, is_default = 0, "
                "default_pinned = 0, updated_at = ? WHERE org_id = ? AND provider_id = ? "
                "AND model_id = ? AND active = 1", [(ts, ts, *key, mid) for mid in sync.deprecate])
            current = conn.execute("SELECT model_id FROM catalog_models WHERE org_id = ? AND "
                                   "provider_id = ? AND is_default = 1", key).fetchone()
            if (current[0] if current else None) != sync.default_model_id:
                conn.execute("UPDATE catalog_models SET is_default = 0, default_pinned = 0 "
                             "WHERE org_id = ? AND provider_id = ? AND is_default = 1", key)
                if sync.default_model_id is not None:
                    cur = conn.execute(
                        "UPDATE catalog_models SET is_default = 1 WHERE org_id = ? AND "
                        "provider_id = ? AND model_id = ? AND active = 1",
                        (*key, sync.default_model_id))
                    if cur.rowcount != 1:
                        raise ConfigStoreError(f"Cannot make {sync.default_model_id} the default:"
                                               " it is not an active model of this provider.")
        return sync

    def set_default(self, org_id: str, provider_id: str, model_id: str | None,
                    actor: str) -> CatalogModel | None:
        """Make ``model_id`` the provider's default and pin it (discovery keeps a pinned
        default while the provider lists it). ``None`` unpins: the next discovery chooses."""
        org = _org(org_id)
        with self._write() as conn:
            self._provider_exists(conn, org, provider_id)
            key = (org, provider_id)
            old = conn.execute("SELECT model_id, default_pinned FROM catalog_models WHERE "
                               "org_id = ? AND provider_id = ? AND is_default = 1",
                               key).fetchone()
            previous = old["model_id"] if old else None
            if model_id is None:
                conn.execute("UPDATE catalog_models SET default_pinned = 0 WHERE org_id = ? "
                             "AND provider_id = ?", key)
                write_audit(conn, org, actor, "catalog.default", provider_id,
                            {"model_id": None, "previous": previous, "pinned": False})
                return None
            row = conn.execute("SELECT active, deprecated_at FROM catalog_models WHERE "
                               "org_id = ? AND provider_id = ? AND model_id = ?",
                               (*key, model_id)).fetchone()
            if row is None:
                raise ConfigStoreError(f"{model_id} is not in this provider's catalog; run "
                                       "discovery first.")
            if not row["active"]:
                raise ConfigStoreError(f"{model_id} is no longer offered by the provider "
                                       f"(deprecated {str(row['deprecated_at'])[:10]}); choose "
                                       "an active model.")
            conn.execute("UPDATE catalog_models SET is_default = 0, default_pinned = 0 "
                         "WHERE org_id = ? AND provider_id = ? AND is_default = 1", key)
            conn.execute("UPDATE catalog_models SET is_default = 1, default_pinned = 1, "
                         "updated_at = ? WHERE org_id = ? AND provider_id = ? AND model_id = ?",
                         (now_iso(), *key, model_id))
            write_audit(conn, org, actor, "catalog.default", provider_id,
                        {"model_id": model_id, "previous": previous, "pinned": True})
        return self.model(org, provider_id, model_id)

    # -- rules -----------------------------------------------------------------------------
    def rules(self, org_id: str) -> RuleSet:
        """The organization's rules, or the defaults (seed 003) when it has none of its own."""
        org = _org(org_id)
        with self._connect() as conn:
            return self._rules(conn, org)

    @staticmethod
    def _rules(conn: sqlite3.Connection, org: str) -> RuleSet:
        head = conn.execute("SELECT version, updated_at, updated_by FROM catalog_rule_sets "
                            "WHERE org_id = ?", (org,)).fetchone()
        if head is None:
            return RuleSet(org_id=org, rules=DEFAULT_RULES, is_default=True, version=0)
        rows = conn.execute("SELECT provider_type, pattern, match, model_class, note FROM "
                            "catalog_rules WHERE org_id = ? ORDER BY position", (org,)).fetchall()
        rules = tuple(ClassRule.model_construct(**dict(r)) for r in rows)  # validated on write
        return RuleSet(org_id=org, rules=rules, is_default=False, version=head["version"],
                       updated_at=_dt(head["updated_at"]), updated_by=head["updated_by"])

    def set_rules(self, org_id: str, rules: Iterable[ClassRule | Mapping[str, Any]], actor: str,
                  *, expected_version: int | None = None) -> RuleSet:
        """Replace the organization's rules (order matters: first match wins). Raises
        :class:`InvalidRules` with one message per problem, and :class:`StaleWrite` when
        ``expected_version`` is given and someone saved rules meanwhile. An empty list is
        kept as "classify nothing"; :meth:`reset_rules` returns to the defaults."""
        org = _org(org_id)
        try:
            parsed = parse_rules(rules)
        except RulesError as exc:
            raise InvalidRules(exc.messages) from None
        now = now_iso()
        with self._write() as conn:
            before = self._rules(conn, org)
            if expected_version is not None and before.version != expected_version:
                raise StaleWrite("Someone else changed the classification rules since you "
                                 "opened them. Reload them and make your change again.")
            version = before.version + 1
            conn.execute(
                "INSERT INTO catalog_rule_sets (org_id, version, updated_at, updated_by) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (org_id) DO UPDATE SET version = "
                "excluded.version, updated_at = excluded.updated_at, "
                "updated_by = excluded.updated_by", (org, version, now, actor))
            conn.execute("DELETE FROM catalog_rules WHERE org_id = ?", (org,))
            conn.executemany(
                "INSERT INTO catalog_rules (org_id, position, provider_type, pattern, match, "
                "model_class, note) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(org, i, r.provider_type, r.pattern, r.match, r.model_class, r.note)
                 for i, r in enumerate(parsed)])
            old_lines = [_rule_line(r) for r in before.rules]
            new_lines = [_rule_line(r) for r in parsed]
            write_audit(conn, org, actor, "catalog.rules", None, {
                "rules": len(parsed), "version": version, "was_default": before.is_default,
                "added": [x for x in new_lines if x not in old_lines][:50],
                "removed": [x for x in old_lines if x not in new_lines][:50],
            })
            return self._rules(conn, org)

    def reset_rules(self, org_id: str, actor: str) -> RuleSet:
        """Drop the organization's own rules: the defaults apply again."""
        org = _org(org_id)
        with self._write() as conn:
            n = conn.execute("SELECT COUNT(*) FROM catalog_rules WHERE org_id = ?",
                             (org,)).fetchone()[0]
            had = conn.execute("DELETE FROM catalog_rule_sets WHERE org_id = ?", (org,)).rowcount
            if had:  # rules go with their set (ON DELETE CASCADE)
                write_audit(conn, org, actor, "catalog.rules.reset", None, {"rules_removed": n})
            return self._rules(conn, org)

    # -- discovery runs ----------------------------------------------------------------------
    def log_run(self, run: DiscoveryRun) -> DiscoveryRun:
        """Record a finished run and its audit entry; returns it with its id."""
        org = _org(run.org_id)

        def refs(items: Sequence[ModelRef]) -> str:
            return _j([r.model_dump() for r in items])

        with self._write() as conn:
            cur = conn.execute(
                "INSERT INTO discovery_runs (org_id, started_at, finished_at, duration_ms, "
                "status, providers_checked, models_discovered, models_added, models_updated, "
                "models_deprecated, models_reactivated, errors_json, added_json, "
                "deprecated_json, reactivated_json, providers_json, actor) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (org, run.started_at.isoformat(), run.finished_at.isoformat(),
                 run.duration_ms, run.status, run.providers_checked, run.models_discovered,
                 run.models_added, run.models_updated, run.models_deprecated,
                 run.models_reactivated, _j(run.errors), refs(run.added), refs(run.deprecated),
                 refs(run.reactivated), _j([p.model_dump() for p in run.providers]), run.actor))
            run_id = int(cur.lastrowid or 0)
            write_audit(conn, org, run.actor, "catalog.discover", str(run_id), {
                "status": run.status, "providers_checked": run.providers_checked,
                "models_discovered": run.models_discovered, "added": run.models_added,
                "updated": run.models_updated, "deprecated": run.models_deprecated,
                "reactivated": run.models_reactivated, "failed": sorted(run.errors),
                "defaults": {p.provider_id: p.default_model for p in run.providers
                             if p.default_changed},
                "duration_ms": round(run.duration_ms, 1),
            })
        return run.model_copy(update={"id": run_id})

    def runs(self, org_id: str, *, limit: int = 20) -> builtins.list[DiscoveryRun]:
        """The organization's discovery runs, newest first."""
        org = _org(org_id)
        with self._connect() as conn:
            rows = conn.execute("SELECT * FROM discovery_runs WHERE org_id = ? "
                                "ORDER BY id DESC LIMIT ?", (org, int(limit))).fetchall()
        return [_run(r) for r in rows]

    def run(self, org_id: str, run_id: int) -> DiscoveryRun | None:
        org = _org(org_id)
        with self._connect() as conn:
            row = conn.execute("SELECT * FROM discovery_runs WHERE org_id = ? AND id = ?",
                               (org, int(run_id))).fetchone()
        return None if row is None else _run(row)
