"""The catalog as users see it: discovered models + prices + measured performance, one row each.

The three sources live apart (catalog rows in the config store, prices from genai-prices and
the organization's overrides, performance from the warehouse rollups); this module joins them
so the Catalog page only filters, sorts and draws. It also runs a model's quick test through
its adapter, so "Test" measures exactly like every other call.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date

import httpx
import pandas as pd

from core.config_store import CatalogStore, ProviderRecord, ProviderStore
from core.config_store.catalog_store import CatalogModel, DiscoveryRun, RuleSet
from core.pricing import ModelPrice, PriceOverride, PriceSource, price_for
from core.providers.base import CallOptions, ImagePart, TextPart, TokenUsage
from core.providers.errors import ProviderError
from core.redact import scrub
from core.warehouse.comparison_runs import model_accuracy
from core.warehouse.db import Warehouse
from core.warehouse.prices import list_overrides
from core.warehouse.queries import ModelPerformance, last_data_day, model_performance

logger = logging.getLogger(__name__)
_SNAPSHOT = re.compile(r"-(\d{8}|\d{4}-\d{2}-\d{2})$")  # a dated snapshot's suffix
SORTS = ("name", "provider", "cost", "performance", "popularity")
KINDS = ("text", "vision", "multimodal", "tagging")
CLASSES = ("flagship", "fast", "legacy")
DEFAULT_PROMPT = "In one sentence: what kind of tasks are you best at?"


def _money(v: float | None, digits: int = 2) -> str:
    return "—" if v is None else f"${v:,.{digits}f}"


def _ms(v: float | None) -> str:
    return "—" if v is None else f"{v:,.0f} ms"


@dataclass(frozen=True)
class CatalogEntry:
    """One model of one configured provider, with what it costs and how it performs."""

    model: CatalogModel
    provider: ProviderRecord
    price: ModelPrice
    perf: ModelPerformance | None
    accuracy: tuple[float, int] | None = None  # mean comparison score, scored calls

    @property
    def key(self) -> str:
        return f"{self.provider.id}/{self.model.model_id}"

    @property
    def title(self) -> str:
        return self.model.display_name or self.model.model_id

    @property
    def blended_per_mtok(self) -> float | None:
        """USD per million tokens at 3 input : 1 output, a common single figure to sort by."""
        p = self.price
        if p.input_per_mtok is None or p.output_per_mtok is None:
            return 0.0 if p.source is PriceSource.free_local else None
        return (3 * p.input_per_mtok + p.output_per_mtok) / 4

    def price_line(self) -> str:
        """One line of what the model costs, for its card."""
        p = self.price
        if p.source is PriceSource.unknown:
            return "Price unknown — an admin can set a negotiated price on the Prices tab."
        if p.source is PriceSource.free_local:
            return "Free (runs locally)"
        text = f"{_money(p.input_per_mtok)} in · {_money(p.output_per_mtok)} out per Mtok"
        if p.cached_input_per_mtok is not None:
            text += f" · cached {_money(p.cached_input_per_mtok, 3)}"
        if p.per_image:
            text += f" · {_money(p.per_image, 4)}/image"
        return text + (" · negotiated" if p.source is PriceSource.override else "")

    def perf_line(self) -> str:
        """One line of how the model performed in the window (and in comparisons)."""
        f, acc = self.perf, self.accuracy
        if f is None or not f.requests:
            return "No usage in the window yet." + (
                f" Accuracy {acc[0]:.2f} ({acc[1]} scored)." if acc else "")
        growth = "" if f.growth_pct is None else f" · {f.growth_pct:+.0f}% vs prior week"
        ok = "—" if f.success_rate is None else f"{f.success_rate:.1%}"
        scored = f" · accuracy {acc[0]:.2f} ({acc[1]} scored)" if acc else ""
        return (f"avg {_ms(f.avg_ms)} · p95 {_ms(f.p95_ms)} · {ok} ok · {f.requests:,} requests"
                f"{growth} · today {f.requests_today:,} req / {_money(f.cost_today)}{scored}")

    def recommendation(self) -> str:
        return self.model.recommended_for or {
            "flagship": "hardest tasks where quality matters most",
            "fast": "high-volume, latency-sensitive features",
            "legacy": "existing integrations; consider a newer model",
        }.get(self.model.model_class or "", "general use")


@dataclass(frozen=True)
class Catalog:
    entries: tuple[CatalogEntry, ...]
    as_of: date | None  # the day performance figures end (newest data day)
    days: int = 7

    @property
    def providers(self) -> list[str]:
        return sorted({e.provider.name for e in self.entries})


def provider_name_for(record: ProviderRecord) -> str:
    """The usage-event provider name of a configured provider (OpenTelemetry GenAI)."""
    return record.info.otel_name or record.type.value


def build_catalog(org_id: str, *, providers: ProviderStore, catalog: CatalogStore,
                  warehouse: Warehouse | None, days: int = 7) -> Catalog:
    """Every catalog model of the organization's providers, priced and measured."""
    records = {r.id: r for r in providers.list(org_id)}
    overrides: list[PriceOverride] = []
    perf: dict[tuple[str, str], ModelPerformance] = {}
    accuracy: dict[tuple[str, str], tuple[float, int]] = {}
    as_of = None
    if warehouse is not None:
        overrides = list_overrides(warehouse, org_id)
        accuracy = model_accuracy(warehouse, org_id)
        as_of = last_data_day(warehouse, org_id)
        if as_of is not None:
            perf = model_performance(warehouse, org_id, as_of=as_of, days=days)
    models = catalog.models(org_id)
    listed = {(m.provider_id, m.model_id) for m in models}
    entries = []
    for m in models:
        record = records.get(m.provider_id)
        if record is None:
            continue
        pname = provider_name_for(record)
        price = price_for(pname, m.model_id, org_id=org_id, overrides=overrides)
        measured = perf.get((pname, m.model_id))
        alias = _SNAPSHOT.sub("", m.model_id)
        if measured is None and alias != m.model_id and (m.provider_id, alias) not in listed:
            # Anthropic lists only dated ids while usage is logged under the alias
            measured = perf.get((pname, alias))
        entries.append(CatalogEntry(m, record, price, measured,
                                    accuracy.get((m.provider_id, m.model_id))))
    return Catalog(tuple(entries), as_of, days)


@dataclass(frozen=True)
class Filters:
    providers: Sequence[str] = ()  # provider display names; empty = all
    kinds: Sequence[str] = ()
    classes: Sequence[str] = ()
    image_input: bool = False
    max_price: float | None = None  # blended USD per Mtok
    max_p95_ms: float | None = None  # speed
    min_success: float | None = None  # reliability, 0..1
    min_accuracy: float | None = None  # from comparisons, 0..1
    search: str = ""
    include_inactive: bool = False


@dataclass(frozen=True)
class FilterLimits:
    """The top of the price and speed sliders: a slider at its top means "no limit", so a
    model dearer or slower than every model shown today is not hidden by default."""

    max_price: float  # USD per Mtok (3:1 blend)
    max_p95_s: float

    @classmethod
    def of(cls, entries: Iterable[CatalogEntry]) -> FilterLimits:
        items = list(entries)
        prices = [p for p in (e.blended_per_mtok for e in items) if p is not None]
        lat = [e.perf.p95_ms for e in items if e.perf and e.perf.p95_ms]
        top = max(max(prices, default=1.0), 1.0)
        top_s = max(max(lat, default=1000.0) / 1000, 1.0)
        return cls(float(round(top + 0.5)), float(round(top_s + 0.5)))


def filters_from_form(limits: FilterLimits, *, providers: Sequence[str] = (),
                      kinds: Sequence[str] = (), classes: Sequence[str] = (),
                      image_input: bool = False, max_price: float | None = None,
                      max_p95_s: float | None = None, min_success_pct: float = 0,
                      min_accuracy_pct: float = 0, search: str = "",
                      include_inactive: bool = False) -> Filters:
    """The sidebar's values as :class:`Filters`: a slider at its top is no limit, seconds
    become milliseconds and percentages fractions (0 % is no minimum)."""
    return Filters(
        tuple(providers), tuple(kinds), tuple(classes), image_input,
        None if max_price is None or max_price >= limits.max_price else max_price,
        None if max_p95_s is None or max_p95_s >= limits.max_p95_s else max_p95_s * 1000,
        min_success_pct / 100 if min_success_pct else None,
        min_accuracy_pct / 100 if min_accuracy_pct else None,
        search, include_inactive,
    )


def select(entries: Iterable[CatalogEntry], f: Filters, sort: str = "name",
           descending: bool = False) -> list[CatalogEntry]:
    """Filter and sort. Models without a figure pass a figure's filter (unknown is not bad)
    and sort last, so a new model is never hidden for lack of history."""
    words = f.search.lower().split()
    out = []
    for e in entries:
        m = e.model
        if not f.include_inactive and not m.active:
            continue
        if f.providers and e.provider.name not in f.providers:
            continue
        if f.kinds and m.kind not in f.kinds:
            continue
        if f.classes and (m.model_class or "unclassified") not in f.classes:
            continue
        if f.image_input and "image" not in m.input_types:
            continue
        blended = e.blended_per_mtok
        if f.max_price is not None and blended is not None and blended > f.max_price:
            continue
        p95 = e.perf.p95_ms if e.perf else None
        if f.max_p95_ms is not None and p95 is not None and p95 > f.max_p95_ms:
            continue
        ok = e.perf.success_rate if e.perf else None
        if f.min_success is not None and ok is not None and ok < f.min_success:
            continue
        if f.min_accuracy is not None and e.accuracy is not None and \
                e.accuracy[0] < f.min_accuracy:
            continue
        text = " ".join([m.model_id, e.title, e.provider.name, m.kind, m.model_class or "",
                         *m.specialties, e.recommendation()]).lower()
        if any(w not in text for w in words):
            continue
        out.append(e)

    def key(e: CatalogEntry) -> tuple:
        if sort == "provider":
            return (0, e.provider.name.lower(), e.model.model_id)
        if sort == "cost":
            v = e.blended_per_mtok
        elif sort == "performance":
            v = e.perf.p95_ms if e.perf and e.perf.p95_ms is not None else None
        elif sort == "popularity":
            v = e.perf.requests if e.perf else None
            v = None if v is None else -v  # most used first
        else:
            return (0, e.title.lower(), e.provider.name.lower())
        return (v is None, v if v is not None else 0.0, e.title.lower())

    return sorted(out, key=key, reverse=descending)


def frame(entries: Iterable[CatalogEntry]) -> pd.DataFrame:
    """The table view and its CSV export."""
    rows = []
    for e in entries:
        m, p, perf = e.model, e.price, e.perf
        rows.append({
            "Model": m.model_id, "Name": e.title, "Provider": e.provider.name,
            "Simulated": e.provider.simulated, "Type": m.kind, "Class": m.model_class or "",
            "Default": m.is_default, "Active": m.active,
            "Context window": m.context_window, "Max output": m.max_output_tokens,
            "Input": ", ".join(m.input_types), "Output": ", ".join(m.output_types),
            "Specialties": ", ".join(m.specialties),
            "Input $/Mtok": p.input_per_mtok, "Output $/Mtok": p.output_per_mtok,
            "Cached input $/Mtok": p.cached_input_per_mtok, "Per image $": p.per_image,
            "Price source": p.source,
            "Avg latency ms": perf.avg_ms if perf else None,
            "p95 latency ms": perf.p95_ms if perf else None,
            "Success rate": perf.success_rate if perf else None,
            "Accuracy (comparisons)": e.accuracy[0] if e.accuracy else None,
            "Output tokens/s": perf.tokens_per_s if perf else None,
            "Requests (window)": perf.requests if perf else 0,
            "Requests today": perf.requests_today if perf else 0,
            "Cost today $": perf.cost_today if perf else 0.0,
            "Growth vs previous week %": perf.growth_pct if perf else None,
            "Recommended for": e.recommendation(),
            "First seen": m.first_seen, "Deprecated": m.deprecated_at,
        })
    return pd.DataFrame(rows)


def scatter_frame(entries: Iterable[CatalogEntry]) -> pd.DataFrame:
    """Price against p95 latency for the models that have both (the catalog's scatter)."""
    rows = [{"Model": e.model.model_id, "Provider": e.provider.name,
             "Price": e.blended_per_mtok, "p95 ms": e.perf.p95_ms,
             "Requests": max(e.perf.requests, 1)}
            for e in entries
            if e.perf and e.perf.p95_ms and e.blended_per_mtok is not None]
    return pd.DataFrame(rows, columns=["Model", "Provider", "Price", "p95 ms", "Requests"])


def discovery_messages(run: DiscoveryRun, names: dict[str, str]) -> list[str]:
    """What a finished discovery run tells the person who started it (one line each)."""
    out = [run.summary()]
    if run.added:
        out.append("New: " + ", ".join(f"`{m.model_id}`" for m in run.added))
    if run.deprecated:
        out.append("No longer listed (now inactive): "
                   + ", ".join(f"`{m.model_id}`" for m in run.deprecated))
    out += [f"{names.get(pid, pid)} failed: {err}" for pid, err in run.errors.items()]
    return out


def history_frame(runs: Iterable[DiscoveryRun]) -> pd.DataFrame:
    """Discovery runs as the History table (and its CSV)."""
    return pd.DataFrame([{
        "Run": r.id, "Started": r.started_at, "Status": r.status,
        "Providers": r.providers_checked, "Listed": r.models_discovered,
        "New": r.models_added, "Updated": r.models_updated,
        "Deprecated": r.models_deprecated, "Seconds": round(r.duration_ms / 1000, 2),
        "Errors": "; ".join(f"{k}: {v}" for k, v in r.errors.items()), "By": r.actor,
    } for r in runs])


def overrides_frame(overrides: Iterable[PriceOverride]) -> pd.DataFrame:
    """Negotiated prices as the Prices table."""
    return pd.DataFrame([{
        "Provider": o.provider_name, "Model": o.model, "Input $/Mtok": o.input_per_mtok,
        "Output $/Mtok": o.output_per_mtok, "Cached $/Mtok": o.cached_input_per_mtok,
        "Per image $": o.per_image, "From": o.effective_from, "To": o.effective_to,
        "Note": o.note, "By": o.created_by} for o in overrides])


def rule_rows(rules: RuleSet) -> list[dict[str, str | None]]:
    """Classification rules as editable rows (the editor hands rows of this shape back)."""
    return [{"provider_type": r.provider_type or "any", "pattern": r.pattern,
             "match": r.match, "class": r.model_class, "note": r.note} for r in rules.rules]


def filled_rules(rows: Iterable[dict]) -> list[dict]:
    """The editor's rows that are rules (a row without a pattern is an empty new line)."""
    return [r for r in rows if r.get("pattern")]


# --- a model's quick test ------------------------------------------------------------------

@dataclass(frozen=True)
class ModelTest:
    ok: bool
    text: str = ""
    tags: tuple[tuple[str, float], ...] = ()
    latency_ms: float | None = None
    ttft_ms: float | None = None
    usage: TokenUsage = field(default_factory=TokenUsage)
    cost_usd: float | None = None
    error: str | None = None

    @property
    def latency_text(self) -> str:
        return _ms(self.latency_ms)

    @property
    def ttft_text(self) -> str:
        return _ms(self.ttft_ms)


def sample_photo() -> bytes:
    """A small synthetic picture (sky, sun, grass, a red house) for image-only models when the
    user brings no photo of their own."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (256, 192), (135, 190, 235))
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 130, 256, 192), fill=(70, 150, 60))
    draw.ellipse((190, 18, 235, 63), fill=(250, 215, 60))
    draw.rectangle((60, 80, 140, 140), fill=(190, 40, 40))
    draw.polygon([(50, 82), (100, 40), (150, 82)], fill=(110, 60, 40))
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=85)
    return out.getvalue()


async def _test(store: ProviderStore, entry: CatalogEntry, prompt: str, image: bytes | None,
                image_type: str, timeout_s: float) -> ModelTest:
    from core.connections import adapter_for

    parts: list = [TextPart(prompt)] if prompt.strip() else []
    if image is not None:
        parts.insert(0, ImagePart(image, image_type))
    async with httpx.AsyncClient(timeout=httpx.Timeout(timeout_s, connect=5.0)) as client:
        adapter = adapter_for(store, entry.provider, client)
        try:
            done = await adapter.complete(entry.model.model_id, parts,
                                          CallOptions(max_tokens=300, timeout_s=timeout_s))
        except ProviderError as exc:
            return ModelTest(False, error=exc.user_message())
    u = done.usage
    cost = entry.price.cost(u.input_tokens, u.output_tokens, u.cached_input_tokens,
                            images=1 if image is not None else 0)
    return ModelTest(True, done.text, tuple((t.name, t.score) for t in done.tags),
                     done.duration_ms, done.ttft_ms, u, cost)


def run_test(store: ProviderStore, entry: CatalogEntry, prompt: str = DEFAULT_PROMPT,
             image: bytes | None = None, image_type: str = "image/jpeg",
             timeout_s: float = 60.0) -> ModelTest:
    """One quick prompt (and photo) through the model's adapter: output, latency, cost.
    Image-only models (tagging) get the sample photo when no photo is given."""
    if entry.model.kind == "tagging" and image is None:
        image = sample_photo()
    try:
        return asyncio.run(_test(store, entry, prompt, image, image_type, timeout_s))
    except Exception as exc:  # noqa: BLE001 - a test reports, it never breaks the page
        return ModelTest(False, error=f"Unexpected error: {scrub(f'{type(exc).__name__}: {exc}')}")


def current_default(entries: Iterable[CatalogEntry], entry: CatalogEntry) -> CatalogEntry | None:
    """The model ``entry`` would be compared against: its provider's default, else the most
    used active model of the same kind."""
    pool = [e for e in entries if e.model.active and e.key != entry.key]
    same = [e for e in pool if e.provider.id == entry.provider.id and e.model.is_default]
    if same:
        return same[0]
    kind = [e for e in pool if e.model.kind == entry.model.kind and e.model.is_default]
    kind.sort(key=lambda e: -(e.perf.requests if e.perf else 0))
    return kind[0] if kind else None


def ensure_demo_catalog(providers: ProviderStore, catalog: CatalogStore,
                        org_id: str) -> DiscoveryRun | None:
    """Fill an empty catalog of an all-simulated (demo) organization with one discovery run,
    so a first-time user sees models at once (None: nothing to do). Real organizations
    discover on request."""
    from core.catalog.discovery import DiscoveryError, run_discovery

    records = providers.list(org_id)
    if not records or not all(r.simulated for r in records) or catalog.models(org_id):
        return None
    try:
        run = run_discovery(providers, catalog, org_id, actor="system")
    except DiscoveryError as exc:
        logger.warning("demo catalog: discovery not run: %s", exc)
        return None
    if run.status != "success":
        logger.warning("demo catalog: %s %s", run.summary(), run.errors)
    return run
