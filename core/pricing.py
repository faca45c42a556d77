"""Model prices from genai-prices' bundled data (no network update unless a user asks).

Bulk work (demo history, ingest of millions of rows) needs per-token *rates* it can apply
column-wise, so :func:`rates` asks genai-prices for the price of small probe usages and
divides. ``input_tokens`` includes cached input tokens, as in genai-prices and OpenTelemetry.
Local models (Ollama) cost nothing; a model genai-prices does not know has no rate (None).

:func:`price_for` answers "what does this model cost, at this instant, for this organization,
and why": a negotiated :class:`PriceOverride` whose period covers the instant wins, then free
local models, then genai-prices (matched by its own model matching, so dated snapshots such as
``gpt-4o-2024-08-06`` resolve; date-constrained and long-context-tiered prices honoured).
:func:`rate_periods` gives the same choice as non-overlapping periods, for SQL range joins in
``core.warehouse.prices`` (ingest and re-pricing); overrides are stored in the warehouse.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from typing import Any

from genai_prices import Usage, calc_price
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from core.provider_names import FREE_PROVIDERS, canonical_provider
from core.validation import messages

# Our canonical provider name -> genai-prices provider id.
GENAI_PRICES_PROVIDER: dict[str, str] = {
    "openai": "openai",
    "azure.ai.openai": "azure",
    "anthropic": "anthropic",
    "gcp.gemini": "google",
    "gcp.vertex_ai": "google",
    "mistral_ai": "mistral",
    "aws.bedrock": "aws",
    "groq": "groq",
    "deepseek": "deepseek",
    "cohere": "cohere",
    "x_ai": "x-ai",
}

@dataclass(frozen=True)
class Rates:
    """USD per token."""

    input: float
    output: float
    cache_read: float

    def cost(self, input_tokens: int, output_tokens: int, cache_read_tokens: int = 0) -> float:
        uncached = max(input_tokens - cache_read_tokens, 0)
        return uncached * self.input + cache_read_tokens * self.cache_read + output_tokens * self.output


PROBE = 1000


@lru_cache(maxsize=4096)
def _rates(provider: str, model: str, month: str) -> Rates | None:
    if provider in FREE_PROVIDERS:
        return Rates(0.0, 0.0, 0.0)
    pid = GENAI_PRICES_PROVIDER.get(provider)
    when = datetime.fromisoformat(month + "-15")
    try:
        kwargs: dict[str, Any] = {"provider_id": pid} if pid else {}
        rin = calc_price(Usage(input_tokens=PROBE), model, genai_request_timestamp=when, **kwargs)
        rout = calc_price(Usage(output_tokens=PROBE), model, genai_request_timestamp=when, **kwargs)
        try:
            rcache = calc_price(
                Usage(input_tokens=PROBE, cache_read_tokens=PROBE),
                model,
                genai_request_timestamp=when,
                **kwargs,
            )
            cache_rate = float(rcache.total_price) / PROBE
        except Exception:  # noqa: BLE001 - no cache price: cached tokens cost as input
            cache_rate = float(rin.total_price) / PROBE
    except LookupError:
        return None
    return Rates(float(rin.total_price) / PROBE, float(rout.total_price) / PROBE, cache_rate)


def rates(provider: str, model: str, when: datetime | None = None) -> Rates | None:
    """Per-token rates for ``model`` at ``provider`` in the month of ``when`` (None: unknown)."""
    when = when or datetime.now()
    canonical = canonical_provider(provider) or provider
    return _rates(canonical, model, when.strftime("%Y-%m"))


def price_per_million(provider: str, model: str, when: datetime | None = None) -> dict | None:
    r = rates(provider, model, when)
    if r is None:
        return None
    return {
        "input_per_mtok": r.input * 1e6,
        "output_per_mtok": r.output * 1e6,
        "cache_read_per_mtok": r.cache_read * 1e6,
    }


# ---------------------------------------------------------------------------------------------
# Prices per model: genai-prices' bundled data, per-organization overrides, effective dates.
#
# Why a second layer above ``rates``: the catalog shows prices per million tokens with where
# they came from, negotiated prices must win over list prices from a date on (and never
# before it), and ingest / re-pricing need those choices as non-overlapping time periods they
# can range-join in SQL. Everything below is built from genai-prices' own model matching and
# its own rule for date-constrained and long-context-tiered prices.
# ---------------------------------------------------------------------------------------------

class PriceSource(StrEnum):
    """Where a price comes from; the values are what exports and the CLI show."""

    genai_prices = "genai-prices"
    override = "override"  # the organization's negotiated price
    free_local = "free (local)"  # a model that runs on the user's own machine
    unknown = "unknown"

MIN_TS = datetime(1900, 1, 1)  # open ends of rate periods, as plain timestamps for range joins
MAX_TS = datetime(9999, 12, 31)
BAND_MAX = 2**62  # open top of the input-token band of the last long-context tier
PRICE_KEYS = ("input_mtok", "output_mtok", "cache_read_mtok")


@dataclass(frozen=True)
class PriceBand:
    """Prices (USD per Mtok) for calls whose input tokens are above ``above_input_tokens``.

    genai-prices' long-context tiers charge *all* tokens of a call at the tier's price once
    the call's input tokens exceed the tier's start; a band is one such range.
    """

    above_input_tokens: int
    input_per_mtok: float
    output_per_mtok: float
    cached_input_per_mtok: float  # already falls back to the input price when not priced


@dataclass(frozen=True)
class ModelPrice:
    """What one model costs at one instant, and why (``source``, effective dates, note)."""

    provider_name: str
    model: str
    input_per_mtok: float | None = None
    output_per_mtok: float | None = None
    cached_input_per_mtok: float | None = None  # None: not priced (cached tokens cost as input)
    per_image: float | None = None  # USD per image (per successful call) where priced that way
    source: PriceSource = PriceSource.unknown
    effective_from: date | None = None  # None: since genai-prices' first price
    effective_to: date | None = None  # last day it applies (inclusive); None: open-ended
    matched_model: str | None = None  # genai-prices' model id the model id resolved to
    tiered: bool = False  # long-context tiers exist; the figures above are the base tier
    note: str | None = None
    override_id: str | None = None
    bands: tuple[PriceBand, ...] = ()

    @property
    def known(self) -> bool:
        return self.source is not PriceSource.unknown

    def band_for(self, input_tokens: int) -> PriceBand | None:
        """The band genai-prices would charge a call with ``input_tokens`` at."""
        chosen = None
        for band in self.bands:
            if input_tokens > band.above_input_tokens:
                chosen = band
        return chosen

    def cost(
        self,
        input_tokens: int = 0,
        output_tokens: int = 0,
        cache_read_tokens: int = 0,
        images: int = 0,
    ) -> float | None:
        """USD for one call (``input_tokens`` includes cached ones); None when unpriced."""
        if not self.known:
            return None
        band = self.band_for(input_tokens)
        total = images * (self.per_image or 0.0)
        if band is not None:
            uncached = max(input_tokens - cache_read_tokens, 0)
            total += (
                uncached * band.input_per_mtok
                + cache_read_tokens * band.cached_input_per_mtok
                + output_tokens * band.output_per_mtok
            ) / 1e6
        return total


@dataclass(frozen=True)
class KnownModel:
    """A model genai-prices' bundled data knows for a provider, with its current price."""

    model_id: str
    name: str | None
    context_window: int | None
    deprecated: bool
    price: ModelPrice


@dataclass(frozen=True)
class RatePeriod:
    """Per-token rates over [valid_from, valid_to) for calls with input tokens in (lo, hi].

    The rows ingest and re-pricing range-join against; for one model they never overlap.
    """

    valid_from: datetime
    valid_to: datetime
    band_lo: int
    band_hi: int
    r_in: float
    r_out: float
    r_cache: float
    r_image: float | None
    source: PriceSource


# -- genai-prices -----------------------------------------------------------------------------


def genai_provider_id(provider_name: str) -> str | None:
    """genai-prices' provider id for one of our provider names (None: let it guess by model)."""
    canonical = canonical_provider(provider_name) or provider_name
    if canonical in GENAI_PRICES_PROVIDER:
        return GENAI_PRICES_PROVIDER[canonical]
    from genai_prices.data_snapshot import find_provider_by_id, get_snapshot

    found = find_provider_by_id(get_snapshot().providers, canonical)
    return found.id if found else None


def _decimal_at(value: Any, input_tokens: int) -> Decimal | None:
    """genai-prices' tier rule: the highest tier whose start the call's input exceeds."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        return value
    price = value.base
    for tier in reversed(value.tiers):
        if input_tokens > tier.start:
            return tier.price
    return price


def _bands(gp: Any) -> tuple[tuple[PriceBand, ...], bool]:
    """Bands of one genai-prices ``ModelPrice``; empty when it has no token prices."""
    values = {key: getattr(gp, key, None) for key in PRICE_KEYS}
    if values["input_mtok"] is None and values["output_mtok"] is None:
        if any(v is not None for k, v in vars(gp).items() if not k.startswith("_")):
            return (), False  # priced per request, image or second only: no token price
        return (PriceBand(-1, 0.0, 0.0, 0.0),), False  # listed with no price at all: free
    starts = sorted({
        t.start for v in values.values() if v is not None and not isinstance(v, Decimal)
        for t in v.tiers
    })
    bands = []
    for lo in [-1, *starts]:
        probe = lo + 1
        vin = _decimal_at(values["input_mtok"], probe) or Decimal(0)
        vout = _decimal_at(values["output_mtok"], probe) or Decimal(0)
        vcache = _decimal_at(values["cache_read_mtok"], probe)
        bands.append(PriceBand(lo, float(vin), float(vout), float(vin if vcache is None else vcache)))
    return tuple(bands), bool(starts)


@dataclass(frozen=True)
class _GenaiPeriod:
    start: date | None  # inclusive; None: open
    end: date | None  # exclusive; None: open
    bands: tuple[PriceBand, ...]
    tiered: bool
    cache_priced: bool


def _periods(info: Any) -> tuple[_GenaiPeriod, ...]:
    """A genai-prices ModelInfo's prices as consecutive periods, split at their start dates.

    Each period is evaluated with genai-prices' own ``get_prices`` (last active price wins).
    Time-of-day prices (off-peak discounts) are evaluated at 12:00 UTC: rates are per day.
    """
    from genai_prices.types import StartDateConstraint

    prices = info.prices
    starts: list[date] = []
    if isinstance(prices, list):
        starts = sorted({
            c.constraint.start_date for c in prices if isinstance(c.constraint, StartDateConstraint)
        })
    edges: list[date | None] = [None, *starts, None]
    periods: list[_GenaiPeriod] = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        day = lo if lo is not None else (hi - timedelta(days=1) if hi is not None else date.today())
        gp = info.get_prices(datetime.combine(day, time(12), tzinfo=UTC))
        bands, tiered = _bands(gp)
        if not bands:
            continue
        cache_priced = getattr(gp, "cache_read_mtok", None) is not None
        if periods and periods[-1].bands == bands and periods[-1].end == lo:
            periods[-1] = _GenaiPeriod(periods[-1].start, hi, bands, tiered, cache_priced)
        else:
            periods.append(_GenaiPeriod(lo, hi, bands, tiered, cache_priced))
    return tuple(periods)


@lru_cache(maxsize=4096)
def _genai_model(provider: str, model: str) -> tuple[Any, tuple[_GenaiPeriod, ...]] | None:
    """genai-prices' ModelInfo for (provider, model), found by its own matching, and periods."""
    from genai_prices.data_snapshot import get_snapshot

    try:
        _, info = get_snapshot().find_provider_model(model, None, genai_provider_id(provider), None)
    except LookupError:
        return None
    return info, _periods(info)


def _price_at(provider: str, model: str, info: Any, periods: Iterable[_GenaiPeriod],
              day: date) -> ModelPrice | None:
    for p in periods:
        if (p.start is None or p.start <= day) and (p.end is None or day < p.end):
            return _from_genai(provider, model, info, p)
    return None


def model_key(provider_name: str, model: str) -> str:
    """The identity prices attach to: genai-prices' model id when it knows the model.

    So an override for ``gpt-4o`` also prices ``gpt-4o-2024-08-06``, exactly as genai-prices
    prices both as one model; an unknown model is its own (lowercased) key.
    """
    provider = canonical_provider(provider_name) or provider_name
    found = _genai_model(provider, model.strip())
    return found[0].id if found else model.strip().lower()


def match_model(provider_name: str, model: str) -> str | None:
    """genai-prices' model id for a model id (dated snapshots included), None when unknown."""
    provider = canonical_provider(provider_name) or provider_name
    found = _genai_model(provider, model.strip())
    return found[0].id if found else None


# -- overrides --------------------------------------------------------------------------------


def _utc_naive(at: datetime | date | None) -> datetime:
    if at is None:
        return datetime.now(UTC).replace(tzinfo=None)
    if isinstance(at, datetime):
        return at.astimezone(UTC).replace(tzinfo=None) if at.tzinfo else at
    return datetime.combine(at, time())


class PriceOverride(BaseModel):
    """A negotiated price for one organization's model, from one day to another (inclusive).

    Dates are UTC days: the price applies from 00:00 of ``effective_from`` to the end of
    ``effective_to`` (open-ended when None). Cached input without its own price costs as input.
    """

    model_config = ConfigDict(frozen=True)

    override_id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    org_id: str
    provider_name: str = Field(min_length=1)
    model: str = Field(min_length=1, max_length=200)
    input_per_mtok: float
    output_per_mtok: float
    cached_input_per_mtok: float | None = None
    per_image: float | None = None
    effective_from: date
    effective_to: date | None = None
    note: str | None = Field(default=None, max_length=500)
    created_by: str = Field(default="unknown", min_length=1, max_length=200)
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC).replace(tzinfo=None))

    @field_validator("org_id")
    @classmethod
    def _org(cls, v: str) -> str:
        from core.domain import check_org_id

        return check_org_id(v)

    @field_validator("provider_name")
    @classmethod
    def _provider(cls, v: str) -> str:
        # Blank would match no stored override, so the overlap check would never see it.
        if not v.strip():
            raise ValueError("the provider name is empty")
        return canonical_provider(v) or v

    @field_validator("model")
    @classmethod
    def _model(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError("the model id is empty")
        return v

    @field_validator("input_per_mtok", "output_per_mtok", "cached_input_per_mtok", "per_image")
    @classmethod
    def _price(cls, v: float | None, info: ValidationInfo) -> float | None:
        if v is None:
            return v
        what = {"per_image": "price per image"}.get(
            info.field_name or "", f"{(info.field_name or '').replace('_per_mtok', '')} price"
        ).replace("cached_input", "cached-input")
        if math.isnan(v) or math.isinf(v):
            raise ValueError(f"{what} must be a finite number of USD (got {v})")
        if v < 0:
            raise ValueError(f"{what} cannot be negative (got {v:g} USD)")
        return float(v)

    @model_validator(mode="after")
    def _dates(self) -> PriceOverride:
        if self.effective_to is not None and self.effective_to < self.effective_from:
            raise ValueError(
                f"the price ends on {self.effective_to} (effective_to), before it starts on "
                f"{self.effective_from} (effective_from)"
            )
        return self

    @property
    def key(self) -> tuple[str, str, str]:
        return self.org_id, self.provider_name, model_key(self.provider_name, self.model)

    @property
    def starts(self) -> datetime:
        return datetime.combine(self.effective_from, time())

    @property
    def ends(self) -> datetime:
        """Exclusive end instant (MAX_TS when open-ended)."""
        if self.effective_to is None:
            return MAX_TS
        return datetime.combine(self.effective_to + timedelta(days=1), time())

    def covers(self, at: datetime | date) -> bool:
        instant = _utc_naive(at)
        return self.starts <= instant < self.ends

    def overlaps(self, other: PriceOverride) -> bool:
        return self.key == other.key and self.starts < other.ends and other.starts < self.ends

    @property
    def period(self) -> str:
        return f"{self.effective_from} → {self.effective_to or 'open-ended'}"

    def describe(self) -> str:
        cached = (f", cached input ${self.cached_input_per_mtok:g}"
                  if self.cached_input_per_mtok is not None else "")
        image = f", ${self.per_image:g}/image" if self.per_image is not None else ""
        return (f"{self.provider_name} {self.model} {self.period}: input ${self.input_per_mtok:g}, "
                f"output ${self.output_per_mtok:g}{cached} per Mtok{image}")


class OverlappingOverride(ValueError):
    """A new override's period overlaps an existing one for the same org, provider and model."""

    def __init__(self, new: PriceOverride, existing: PriceOverride) -> None:
        self.new, self.existing = new, existing
        super().__init__(
            f"{new.provider_name} {new.model} {new.period} overlaps the existing price "
            f"{existing.describe()} (id {existing.override_id[:8]}); a model has one price "
            "at a time: end the existing one before the new one starts, or pick another period"
        )


def find_overlap(new: PriceOverride, existing: Iterable[PriceOverride]) -> PriceOverride | None:
    """The first existing override (same org/provider/model) whose period overlaps ``new``."""
    for other in sorted(existing, key=lambda o: o.effective_from):
        if other.override_id != new.override_id and new.overlaps(other):
            return other
    return None


def _override_where(err: Mapping[str, Any]) -> str:
    """Our own checks already name what is wrong; pydantic's generic ones need the field."""
    if err.get("type") == "value_error":
        return ""
    return ".".join(str(x) for x in err.get("loc", ()))


def override_messages(exc: ValidationError) -> list[str]:
    """Plain sentences for a PriceOverride ValidationError (for the CLI and the page), by
    :func:`core.validation.messages`."""
    return messages(exc, label=_override_where)


def _winner(candidates: Iterable[PriceOverride]) -> PriceOverride | None:
    """Among overrides covering one instant (only one, once validated), the latest started."""
    return max(candidates, key=lambda o: (o.effective_from, o.created_at), default=None)


def _relevant(
    provider: str, model: str, org_id: str | None, overrides: Iterable[PriceOverride]
) -> list[PriceOverride]:
    key = model_key(provider, model)
    return [
        o for o in overrides
        if (org_id is None or o.org_id == org_id) and o.provider_name == provider
        and model_key(o.provider_name, o.model) == key
    ]


def _from_override(provider: str, model: str, o: PriceOverride) -> ModelPrice:
    cached = o.cached_input_per_mtok
    band = PriceBand(-1, o.input_per_mtok, o.output_per_mtok,
                     o.input_per_mtok if cached is None else cached)
    return ModelPrice(
        provider, model, o.input_per_mtok, o.output_per_mtok, cached, o.per_image, PriceSource.override,
        o.effective_from, o.effective_to, match_model(provider, model), False, o.note,
        o.override_id, (band,),
    )


def _from_genai(provider: str, model: str, info: Any, p: _GenaiPeriod) -> ModelPrice:
    base = p.bands[0]
    return ModelPrice(
        provider, model, base.input_per_mtok, base.output_per_mtok,
        base.cached_input_per_mtok if p.cache_priced else None, None, PriceSource.genai_prices,
        p.start, p.end - timedelta(days=1) if p.end else None, info.id, p.tiered, None, None,
        p.bands,
    )


def _free(provider: str, model: str) -> ModelPrice:
    return ModelPrice(provider, model, 0.0, 0.0, 0.0, None, PriceSource.free_local,
                      bands=(PriceBand(-1, 0.0, 0.0, 0.0),))


def price_for(
    provider_name: str,
    model: str,
    *,
    org_id: str | None = None,
    at: datetime | date | None = None,
    overrides: Iterable[PriceOverride] = (),
) -> ModelPrice:
    """The price of ``model`` at ``provider_name`` effective at ``at`` (default: now, UTC).

    An organization's override whose period contains ``at`` wins; then local models are free;
    then genai-prices' bundled data; else the price is "unknown". ``overrides`` is the list to
    consider, passed explicitly (callers read them once from ``core.warehouse.prices``): this
    module never opens storage.
    """
    provider = canonical_provider(provider_name) or provider_name
    model = model.strip()
    instant = _utc_naive(at)
    chosen = _winner(
        o for o in _relevant(provider, model, org_id, overrides) if o.covers(instant)
    )
    if chosen is not None:
        return _from_override(provider, model, chosen)
    if provider in FREE_PROVIDERS:
        return _free(provider, model)
    found = _genai_model(provider, model)
    if found is not None:
        price = _price_at(provider, model, found[0], found[1], instant.date())
        if price is not None:
            return price
    return ModelPrice(provider, model, matched_model=found[0].id if found else None)


def genai_models(provider_name: str, *, at: datetime | date | None = None) -> list[KnownModel]:
    """Every model genai-prices' bundled data lists for a provider, priced at ``at``.

    Only the provider's own entries (not models it resells from a fallback provider); the
    catalog uses :func:`match_model` / :func:`price_for` for the ids a provider actually lists.
    """
    from genai_prices.data_snapshot import find_provider_by_id, get_snapshot

    provider = canonical_provider(provider_name) or provider_name
    pid = genai_provider_id(provider)
    gp_provider = find_provider_by_id(get_snapshot().providers, pid) if pid else None
    if gp_provider is None:
        return []
    day = _utc_naive(at).date()
    out = []
    for info in gp_provider.models:  # priced from the entry itself: some ids match no request
        price = _price_at(provider, info.id, info, _periods(info), day)
        out.append(KnownModel(
            info.id, info.name, info.context_window, bool(info.deprecated),
            price or ModelPrice(provider, info.id, matched_model=info.id),
        ))
    return out


def rate_periods(
    provider_name: str, model: str, overrides: Iterable[PriceOverride] = ()
) -> list[RatePeriod]:
    """Non-overlapping per-token rate rows for one model, overrides cut into genai-prices'.

    Built from the same choice as :func:`price_for` at every instant (elementary intervals
    between all period edges, adjacent equal rows merged), so SQL pricing and ``price_for``
    cannot disagree, and an event matches at most one row.
    """
    provider = canonical_provider(provider_name) or provider_name
    relevant = _relevant(provider, model, None, overrides)
    found = None if provider in FREE_PROVIDERS else _genai_model(provider, model)
    genai = found[1] if found else ()
    edges = {MIN_TS, MAX_TS}
    for o in relevant:
        edges.update((o.starts, o.ends))
    for p in genai:
        edges.update(datetime.combine(d, time()) for d in (p.start, p.end) if d is not None)
    cuts = sorted(e for e in edges if MIN_TS <= e <= MAX_TS)
    rows: list[RatePeriod] = []
    for lo, hi in zip(cuts[:-1], cuts[1:], strict=True):
        won = _winner(x for x in relevant if x.starts <= lo < x.ends)
        if won is not None:
            price = _from_override(provider, model, won)
        elif provider in FREE_PROVIDERS:
            price = _free(provider, model)
        else:
            maybe = _price_at(provider, model, found[0], genai, lo.date()) if found else None
            if maybe is None:
                continue
            price = maybe
        bands = price.bands
        for i, band in enumerate(bands):
            top = bands[i + 1].above_input_tokens if i + 1 < len(bands) else BAND_MAX
            row = RatePeriod(lo, hi, band.above_input_tokens, top, band.input_per_mtok / 1e6,
                             band.output_per_mtok / 1e6, band.cached_input_per_mtok / 1e6,
                             price.per_image, price.source)
            prev = next((r for r in reversed(rows) if r.band_lo == row.band_lo), None)
            if prev is not None and prev.valid_to == lo and replace(
                prev, valid_from=lo, valid_to=hi
            ) == row:
                rows[rows.index(prev)] = replace(prev, valid_to=hi)
            else:
                rows.append(row)
    return rows
