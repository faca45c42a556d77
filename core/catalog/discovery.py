"""Model discovery: ask every provider which models it offers, and bring the catalog up to date.

Why: providers ship and retire models monthly, and users want to learn of it without reading
changelogs (seed 003). One run lists the models of all (or chosen) enabled providers of an
organization *in parallel* through the adapters' model-list endpoints, so the run takes as
long as the slowest provider, not the sum; a per-provider timeout bounds even that. One
provider failing never stops the others (the run is then ``partial``; ``failed`` only when
all fail).

Each listing is :func:`describe`-d (kind, class by the organization's rules, specialties),
:func:`diff`-ed against the catalog into new / updated / deprecated / reactivated /
unchanged, and applied with the provider's new default in ONE transaction per provider
(:meth:`CatalogStore.sync_provider`). A model no longer listed becomes inactive, never
deleted. Every run is logged with its errors (the provider's message, never a key).

:func:`diff`, :func:`apply_diff` and :func:`choose_default` are pure, so the rules of the
catalog's life can be tested without a database or a network.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from core.config_store import (
    CatalogModel,
    CatalogStore,
    ConfigStoreError,
    DiscoveryRun,
    ModelMeta,
    ModelRef,
    ProviderRecord,
    ProviderResult,
    ProviderStore,
    ProviderSync,
)
from core.connections import adapter_for, simulator_root
from core.model_classes import (
    ClassRule,
    classify,
    input_types_of,
    is_snapshot,
    kind_of,
    recommended_for,
    released_at,
    specialties_of,
)
from core.providers.base import ModelInfo
from core.providers.errors import ProviderError
from core.redact import scrub

logger = logging.getLogger(__name__)

PROVIDER_TIMEOUT_S = 10.0  # one hung provider cannot hold the run longer than this
MAX_MODEL_ID_CHARS = 300
_BAD_ID = re.compile(r"[\s\x00-\x1f\x7f]")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CLASS_RANK = {"flagship": 0, "fast": 1, None: 2, "legacy": 3}

Progress = Callable[[int, int, str, bool], None]
"""``on_progress(done, total, provider_name, ok)``, called as each provider finishes."""

__all__ = [
    "PROVIDER_TIMEOUT_S", "Diff", "DiscoveryError", "DiscoveryRun", "Progress", "apply_diff",
    "apply_listing", "choose_default", "describe", "diff", "discover", "run_discovery",
]


class DiscoveryError(ValueError):
    """A discovery that cannot start (no such provider, nothing to scan); for the person."""


# ---- pure parts ------------------------------------------------------------------------


@dataclass(frozen=True)
class Diff:
    """A listing against the catalog. Every model id in either is in exactly one group:

    * ``new``: listed, not in the catalog
    * ``updated``: listed, active, metadata changed (the new metadata)
    * ``reactivated``: listed again after being deprecated (the new metadata)
    * ``deprecated``: active in the catalog, no longer listed
    * ``unchanged``: listed with the same metadata, or deprecated earlier and still unlisted
    """

    new: tuple[ModelMeta, ...] = ()
    updated: tuple[ModelMeta, ...] = ()
    deprecated: tuple[str, ...] = ()
    reactivated: tuple[ModelMeta, ...] = ()
    unchanged: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.new or self.updated or self.deprecated or self.reactivated)


def _unique(listed: Iterable[ModelMeta]) -> dict[str, ModelMeta]:
    out: dict[str, ModelMeta] = {}
    for m in listed:
        out.setdefault(m.model_id, m)  # a provider listing an id twice: the first wins
    return out


def diff(existing: Iterable[CatalogModel], listed: Iterable[ModelMeta]) -> Diff:
    """Compare a provider's catalog rows with what it lists now (see :class:`Diff`)."""
    known = {m.model_id: m for m in existing}
    seen = _unique(listed)
    new: list[ModelMeta] = []
    updated: list[ModelMeta] = []
    reactivated: list[ModelMeta] = []
    unchanged: list[str] = []
    deprecated: list[str] = []
    for mid, meta in seen.items():
        old = known.get(mid)
        if old is None:
            new.append(meta)
        elif not old.active:
            reactivated.append(meta)
        elif old.meta() != meta:
            updated.append(meta)
        else:
            unchanged.append(mid)
    for mid, old in known.items():
        if mid not in seen:
            (deprecated if old.active else unchanged).append(mid)

    def by_id(items: list[ModelMeta]) -> tuple[ModelMeta, ...]:
        return tuple(sorted(items, key=lambda m: m.model_id))

    return Diff(by_id(new), by_id(updated), tuple(sorted(deprecated)), by_id(reactivated),
                tuple(sorted(unchanged)))


def apply_diff(existing: Iterable[CatalogModel], d: Diff, *, org_id: str, provider_id: str,
               now: datetime) -> list[CatalogModel]:
    """The catalog rows after ``d`` (what :meth:`CatalogStore.sync_provider` writes, minus
    the default): nothing is removed; deprecated rows are inactive and lose the default."""
    rows = {m.model_id: m for m in existing}
    for meta in d.new:
        rows[meta.model_id] = CatalogModel(**meta.model_dump(), org_id=org_id,
                                           provider_id=provider_id, first_seen=now,
                                           last_seen=now, updated_at=now)
    for meta in (*d.updated, *d.reactivated):
        rows[meta.model_id] = rows[meta.model_id].model_copy(update={
            **meta.model_dump(), "active": True, "deprecated_at": None, "last_seen": now,
            "updated_at": now})
    for mid in d.unchanged:
        if rows[mid].active:
            rows[mid] = rows[mid].model_copy(update={"last_seen": now})
    for mid in d.deprecated:
        rows[mid] = rows[mid].model_copy(update={
            "active": False, "deprecated_at": now, "is_default": False, "default_pinned": False,
            "updated_at": now})
    return sorted(rows.values(), key=lambda m: m.model_id)


def _resolve(model_id: str | None, pool: Sequence[CatalogModel]) -> CatalogModel | None:
    """``model_id`` in ``pool``, or the newest dated snapshot of it (a provider configured
    with ``claude-haiku-4-5`` when the listing shows ``claude-haiku-4-5-20251001``)."""
    if not model_id:
        return None
    for m in pool:
        if m.model_id == model_id:
            return m
    snaps = [m for m in pool if m.model_id.startswith(model_id + "-") and is_snapshot(m.model_id)]
    return max(snaps, key=lambda m: (m.released_at or _EPOCH, m.model_id)) if snaps else None


def _best(pool: Sequence[CatalogModel]) -> CatalogModel:
    """The newest release; at a tie the moving alias over a dated snapshot, then the shortest
    id (``gpt-5`` over ``gpt-5-2025-08-07``, ``mistral-large-latest`` over ``-2411``)."""
    return max(pool, key=lambda m: (m.released_at or _EPOCH, not is_snapshot(m.model_id),
                                    -len(m.model_id), m.model_id))


def choose_default(models: Sequence[CatalogModel], configured: str | None) -> str | None:
    """A provider's default after a sync, from its rows (after :func:`apply_diff`):

    1. a default a person pinned, while it is listed;
    2. the provider's configured default model when it is a flagship;
    3. the newest flagship by the rules;
    4. the configured default model (any class), while it is listed;
    5. the newest fast, then unclassified, then legacy model.
    """
    active = [m for m in models if m.active]
    if not active:
        return None
    for m in active:
        if m.is_default and m.default_pinned:
            return m.model_id
    flagships = [m for m in active if m.model_class == "flagship"]
    mine = _resolve(configured, active)
    if mine is not None and mine.model_class == "flagship":
        return mine.model_id
    if flagships:
        return _best(flagships).model_id
    if mine is not None:
        return mine.model_id
    rank = min(CLASS_RANK[m.model_class] for m in active)
    return _best([m for m in active if CLASS_RANK[m.model_class] == rank]).model_id


def describe(provider_type: str, info: ModelInfo, rules: Sequence[ClassRule]) -> ModelMeta:
    """A listed model as catalog metadata: kind, class by ``rules``, specialties, advice."""
    kind = kind_of(provider_type, info)
    model_class = classify(provider_type, info.id, rules)
    return ModelMeta(
        model_id=info.id, display_name=(info.display_name or "")[:200] or None, kind=kind,
        model_class=model_class, context_window=info.context_window,
        max_output_tokens=info.max_output_tokens,
        input_types=input_types_of(provider_type, info),
        output_types=tuple(dict.fromkeys(info.output_types or ("text",))),
        specialties=specialties_of(provider_type, info, kind),
        recommended_for=recommended_for(provider_type, kind, model_class),
        released_at=released_at(info),
    )


def _usable(infos: Iterable[ModelInfo]) -> list[ModelInfo]:
    """Drop ids no one could call (blank, whitespace, absurdly long): a provider's bad row must
    not fail its whole listing."""
    out = []
    for info in infos:
        mid = str(info.id or "")
        if mid and len(mid) <= MAX_MODEL_ID_CHARS and not _BAD_ID.search(mid):
            out.append(info)
        else:
            logger.info("discovery: skipped an unusable model id (%d chars)", len(mid))
    return out


# ---- the run ---------------------------------------------------------------------------


@dataclass
class _Outcome:
    result: ProviderResult
    diff: Diff | None = None


def apply_listing(catalog: CatalogStore, record: ProviderRecord, listed: Sequence[ModelMeta],
                  now: datetime) -> tuple[Diff, ProviderSync, str | None]:
    """Bring one provider's catalog in line with ``listed`` in ONE transaction: diff, apply,
    choose the default. Returns (the diff, what was written, the previous default)."""
    box: dict[str, object] = {}

    def plan(existing: list[CatalogModel]) -> ProviderSync:
        d = diff(existing, listed)
        after = apply_diff(existing, d, org_id=record.org_id, provider_id=record.id, now=now)
        box["diff"] = d
        box["previous"] = next((m.model_id for m in existing if m.is_default), None)
        return ProviderSync(insert=d.new, update=(*d.updated, *d.reactivated),
                            seen=tuple(_unique(listed)), deprecate=d.deprecated,
                            default_model_id=choose_default(after, record.settings.default_model))

    sync = catalog.sync_provider(record.org_id, record.id, plan, now=now.isoformat())
    return box["diff"], sync, box["previous"]  # type: ignore[return-value]


async def _one(provider_store: ProviderStore, catalog: CatalogStore, record: ProviderRecord,
               rules: Sequence[ClassRule], client: httpx.AsyncClient, sim_root: str | None,
               timeout_s: float) -> _Outcome:
    started = time.perf_counter()

    def failed(message: str) -> _Outcome:
        return _Outcome(ProviderResult(
            provider_id=record.id, name=record.name, type=record.type.value, ok=False,
            error=scrub(message)[:500], duration_ms=(time.perf_counter() - started) * 1000))

    try:
        adapter = adapter_for(provider_store, record, client, sim_root)
        infos = await asyncio.wait_for(adapter.list_models(), timeout_s)
        listed = [describe(record.type.value, i, rules) for i in _usable(infos)]
        d, sync, previous = await asyncio.to_thread(apply_listing, catalog, record, listed,
                                                    datetime.now(UTC))
    except TimeoutError:
        return failed(f"{record.name}: no model list within {timeout_s:g} s (timed out)")
    except ProviderError as exc:
        return failed(exc.user_message())
    except ConfigStoreError as exc:  # e.g. the provider was removed during the run
        return failed(f"{record.name}: {exc}")
    except Exception as exc:  # noqa: BLE001 - one provider's surprise must not stop the run
        logger.warning("discovery: %s failed unexpectedly: %s", record.id, type(exc).__name__)
        return failed(f"{record.name}: unexpected error: {type(exc).__name__}: {exc}")
    return _Outcome(ProviderResult(
        provider_id=record.id, name=record.name, type=record.type.value, ok=True,
        listed=len(sync.seen), added=len(d.new), updated=len(d.updated),
        deprecated=len(d.deprecated), reactivated=len(d.reactivated),
        default_model=sync.default_model_id, default_changed=previous != sync.default_model_id,
        duration_ms=(time.perf_counter() - started) * 1000), d)


def _select(provider_store: ProviderStore, org_id: str,
            provider_ids: Iterable[str] | None) -> list[ProviderRecord]:
    try:
        records = provider_store.list(org_id)
    except ConfigStoreError as exc:
        raise DiscoveryError(str(exc)) from None
    if provider_ids is None:
        chosen = [r for r in records if r.enabled]
    else:
        wanted = list(dict.fromkeys(provider_ids))
        by_id = {r.id: r for r in records}
        unknown = [p for p in wanted if p not in by_id]
        if unknown:
            raise DiscoveryError(f"No such provider in this organization: {', '.join(unknown)}.")
        chosen = [by_id[p] for p in wanted]
        off = [r.name for r in chosen if not r.enabled]
        if off:
            raise DiscoveryError(f"{', '.join(off)} {'is' if len(off) == 1 else 'are'} "
                                 "disabled; enable it on the Providers page to scan it.")
    if not chosen:
        raise DiscoveryError("There are no enabled providers to scan in this organization.")
    return chosen


async def discover(provider_store: ProviderStore, catalog_store: CatalogStore, org_id: str, *,
                   provider_ids: Iterable[str] | None = None, actor: str,
                   on_progress: Progress | None = None, client: httpx.AsyncClient | None = None,
                   sim_root: str | None = None,
                   timeout_s: float = PROVIDER_TIMEOUT_S) -> DiscoveryRun:
    """Scan the organization's enabled providers (or ``provider_ids``) in parallel, update the
    catalog, log and return the run. Raises :class:`DiscoveryError` before scanning when
    there is nothing (or no such provider) to scan; provider failures never raise."""
    records = _select(provider_store, org_id, provider_ids)
    rules = catalog_store.rules(org_id).rules
    if sim_root is None and any(r.simulated for r in records):
        sim_root = simulator_root()
    own = client is None
    http = client or httpx.AsyncClient(timeout=httpx.Timeout(15.0, connect=5.0))
    started_at, t0 = datetime.now(UTC), time.perf_counter()
    total, done = len(records), 0

    async def run(record: ProviderRecord) -> _Outcome:
        nonlocal done
        outcome = await _one(provider_store, catalog_store, record, rules, http, sim_root,
                             timeout_s)
        done += 1
        if on_progress is not None:
            try:
                on_progress(done, total, record.name, outcome.result.ok)
            except Exception:  # noqa: BLE001 - a broken progress bar must not lose the run
                logger.exception("discovery: on_progress failed")
        return outcome

    try:
        outcomes = await asyncio.gather(*(run(r) for r in records))
    finally:
        if own:
            await http.aclose()
    ok = [o for o in outcomes if o.result.ok]

    def refs(group: Callable[[Diff], Iterable[ModelMeta | str]]) -> tuple[ModelRef, ...]:
        return tuple(ModelRef(provider_id=o.result.provider_id,
                              model_id=m if isinstance(m, str) else m.model_id)
                     for o in ok if o.diff is not None for m in group(o.diff))

    run_record = DiscoveryRun(
        org_id=org_id, started_at=started_at, finished_at=datetime.now(UTC),
        duration_ms=(time.perf_counter() - t0) * 1000,
        status="success" if len(ok) == total else "partial" if ok else "failed",
        providers_checked=total,
        models_discovered=sum(o.result.listed for o in ok),
        models_added=sum(o.result.added for o in ok),
        models_updated=sum(o.result.updated for o in ok),
        models_deprecated=sum(o.result.deprecated for o in ok),
        models_reactivated=sum(o.result.reactivated for o in ok),
        errors={o.result.provider_id: o.result.error or "failed"
                for o in outcomes if not o.result.ok},
        added=refs(lambda d: d.new), deprecated=refs(lambda d: d.deprecated),
        reactivated=refs(lambda d: d.reactivated),
        providers=tuple(o.result for o in outcomes), actor=actor,
    )
    return await asyncio.to_thread(catalog_store.log_run, run_record)


def run_discovery(provider_store: ProviderStore, catalog_store: CatalogStore, org_id: str,
                  **kw) -> DiscoveryRun:
    """Synchronous :func:`discover`, for the CLI, background jobs and scripts (not for code
    already inside an event loop)."""
    return asyncio.run(discover(provider_store, catalog_store, org_id, **kw))
