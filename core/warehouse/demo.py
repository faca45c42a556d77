"""Deterministic, realistic demo usage history, generated column-wise with numpy.

A first run of the app must show something worth looking at: four features, each with a
main model and a couple of A/B or legacy models whose share shifts over time, token counts
shaped like each feature's prompts, per-model latencies, daily and weekly seasonality,
baseline errors and one multi-hour provider incident. Everything is drawn from one seeded
generator, so the same arguments give the same table; request ids are derived from
(org, seed, row) so building the same demo twice adds nothing.

Costs come from genai-prices rates (``core.pricing.rates``) per provider, model and
month, never from a hand-written price table.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from core.domain import check_org_id
from core.pricing import rates
from core.warehouse.db import Warehouse
from core.warehouse.formats import read_usage_parquet
from core.warehouse.load import IngestReport, load_stage


@dataclass(frozen=True)
class ModelSpec:
    provider: str
    model: str
    response_model: str  # the dated snapshot the provider answers with
    ttft_ms: float  # median time to first token (before image / reasoning overheads)
    tokens_per_s: float  # median output speed
    sigma: float  # log-normal spread of the time to first token


MODELS: list[ModelSpec] = [
    ModelSpec("gcp.gemini", "gemini-1.5-flash", "gemini-1.5-flash-002", 300, 260, 0.35),
    ModelSpec("gcp.gemini", "gemini-1.5-pro", "gemini-1.5-pro-002", 800, 110, 0.40),
    ModelSpec("gcp.gemini", "gemini-2.0-flash", "gemini-2.0-flash-001", 250, 300, 0.35),
    ModelSpec("gcp.gemini", "gemini-2.5-flash", "gemini-2.5-flash", 380, 280, 0.40),
    ModelSpec("gcp.gemini", "gemini-2.5-pro", "gemini-2.5-pro", 1100, 150, 0.45),
    ModelSpec("openai", "gpt-4o", "gpt-4o-2024-08-06", 450, 150, 0.40),
    ModelSpec("openai", "gpt-4o-mini", "gpt-4o-mini-2024-07-18", 300, 220, 0.35),
    ModelSpec("openai", "gpt-4.1", "gpt-4.1-2025-04-14", 480, 150, 0.40),
    ModelSpec("openai", "gpt-4.1-mini", "gpt-4.1-mini-2025-04-14", 320, 220, 0.35),
    ModelSpec("openai", "gpt-5", "gpt-5-2025-08-07", 600, 180, 0.50),
    ModelSpec("openai", "gpt-5-mini", "gpt-5-mini-2025-08-07", 380, 260, 0.45),
    ModelSpec("anthropic", "claude-haiku-4-5", "claude-haiku-4-5-20251001", 330, 220, 0.35),
    ModelSpec("anthropic", "claude-sonnet-4-5", "claude-sonnet-4-5-20250929", 700, 120, 0.40),
    ModelSpec("anthropic", "claude-opus-4-1", "claude-opus-4-1-20250805", 1100, 75, 0.45),
    ModelSpec("mistral_ai", "mistral-large-latest", "mistral-large-2411", 500, 110, 0.40),
    ModelSpec("mistral_ai", "mistral-small-latest", "mistral-small-2503", 260, 240, 0.35),
    ModelSpec("ollama", "llama3.2-vision:11b", "llama3.2-vision:11b", 600, 60, 0.80),
]
MODEL_INDEX = {m.model: i for i, m in enumerate(MODELS)}
PROVIDERS = sorted({m.provider for m in MODELS})


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    share: float
    in_median: float  # input tokens (images make photo_analysis large)
    in_sigma: float
    out_median: float
    out_sigma: float
    max_tokens: int  # output cap: reaching it ends with finish_reason 'length'
    cache_hit: float  # share of calls with a cached prompt prefix (where providers cache)
    content_filter: float  # share of successful calls stopped by a safety filter
    routes: tuple[tuple[str, float, float], ...]  # (model, share at the start, share at the end)


FEATURES: list[FeatureSpec] = [
    FeatureSpec(
        "photo_analysis", 0.38, 1500, 0.35, 110, 0.45, 512, 0.05, 0.002,
        (
            ("gemini-2.0-flash", 0.62, 0.25),  # main model, being replaced by 2.5 Flash
            ("gemini-2.5-flash", 0.05, 0.42),
            ("gemini-1.5-flash", 0.08, 0.00),  # retired during the period
            ("gpt-4o", 0.12, 0.12),
            ("gemini-2.5-pro", 0.04, 0.06),
            ("claude-sonnet-4-5", 0.04, 0.07),
            ("llama3.2-vision:11b", 0.05, 0.08),  # local A/B test
        ),
    ),
    FeatureSpec(
        "description_generation", 0.27, 650, 0.50, 220, 0.55, 1024, 0.35, 0.0,
        (
            ("gpt-4o-mini", 0.50, 0.40),
            ("gpt-4.1-mini", 0.15, 0.22),
            ("claude-haiku-4-5", 0.15, 0.15),
            ("gemini-1.5-pro", 0.08, 0.02),
            ("mistral-small-latest", 0.07, 0.12),
            ("gemini-2.5-flash", 0.02, 0.06),
            ("claude-opus-4-1", 0.03, 0.03),  # premium listings
        ),
    ),
    FeatureSpec(
        "safety_chat", 0.20, 1400, 0.80, 170, 0.70, 1024, 0.60, 0.015,
        (
            ("claude-sonnet-4-5", 0.55, 0.50),
            ("gpt-5", 0.10, 0.25),  # A/B test, growing
            ("gpt-4.1", 0.20, 0.08),
            ("mistral-large-latest", 0.10, 0.10),
            ("claude-opus-4-1", 0.05, 0.05),  # escalations
        ),
    ),
    FeatureSpec(
        "search_processing", 0.15, 160, 0.50, 40, 0.60, 256, 0.0, 0.0,
        (
            ("gpt-4o-mini", 0.40, 0.20),
            ("gpt-5-mini", 0.10, 0.35),
            ("gemini-2.0-flash", 0.30, 0.25),
            ("mistral-small-latest", 0.15, 0.15),
            ("llama3.2-vision:11b", 0.05, 0.05),
        ),
    ),
]

# Image tokens differ by provider (Gemini tiles cheaply, Claude counts more per image).
PHOTO_INPUT_FACTOR = {"gcp.gemini": 0.6, "openai": 1.0, "anthropic": 1.3, "mistral_ai": 1.0,
                      "ollama": 1.0}
CACHING_PROVIDERS = {"openai", "anthropic", "gcp.gemini"}
REASONING_MEDIAN = {"gpt-5": 220.0, "gpt-5-mini": 140.0}  # hidden reasoning tokens

BASE_ERROR_RATE = {"gcp.gemini": 0.012, "openai": 0.008, "anthropic": 0.010, "mistral_ai": 0.015,
                   "ollama": 0.020}
ERROR_MIX: dict[str, tuple[tuple[str, float], ...]] = {
    "default": (("429", 0.45), ("500", 0.20), ("503", 0.20), ("timeout", 0.15)),
    "anthropic": (("429", 0.40), ("529", 0.20), ("500", 0.15), ("503", 0.10), ("timeout", 0.15)),
    "ollama": (("timeout", 0.60), ("500", 0.40)),
}
INCIDENT_MIX = (("529", 0.60), ("503", 0.30), ("timeout", 0.10))
TIMEOUT_MS = 30_000.0
SOURCE_MIX = (("production", 0.955), ("benchmark", 0.03), ("health", 0.015))
FINISH = ("stop", "length", "content_filter")
MAX_INPUT_TOKENS = 100_000  # below every long-context price tier, so rates are linear


@dataclass(frozen=True)
class Incident:
    """The one multi-hour outage in the demo history (tests and the README point at it)."""

    provider: str
    start: datetime  # UTC-naive, on the hour
    hours: int
    error_rate: float = 0.40
    latency_factor: float = 2.0


def _span(days: int, end: date | None) -> tuple[date, date]:
    last = end or datetime.now(UTC).date()
    return last - timedelta(days=days - 1), last


def incident(days: int, seed: int, end: date | None = None) -> Incident:
    """Where the outage falls: Anthropic, 3-5 hours of one afternoon ~2 weeks before ``end``."""
    first, last = _span(days, end)
    rng = np.random.default_rng([seed, 7919])
    back = 13 if days > 20 else days // 2
    day = max(first, last - timedelta(days=back))
    hour = int(rng.integers(11, 16))
    return Incident("anthropic", datetime.combine(day, datetime.min.time()) + timedelta(hours=hour),
                    int(rng.integers(3, 6)))


def _hour_weights(first: date, days: int, rng: np.random.Generator) -> np.ndarray:
    """Relative traffic per hour: business-hours peak (UTC), quieter weekends, mild growth."""
    hours = np.arange(days * 24)
    hod = hours % 24
    diurnal = 0.25 + np.exp(-0.5 * ((hod - 14.0) / 4.0) ** 2) + 0.15 * np.exp(
        -0.5 * ((hod - 20.0) / 2.0) ** 2
    )
    weekday = (first.weekday() + hours // 24) % 7
    weekly = np.where(weekday >= 5, 0.55, 1.0)
    trend = 1.0 + 0.35 * hours / max(len(hours) - 1, 1)
    daily_noise = np.repeat(rng.lognormal(0.0, 0.07, days), 24)
    return diurnal * weekly * trend * daily_noise


def _pick(u: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Categorical draw from uniforms ``u`` with fixed probabilities."""
    cum = np.cumsum(probs / probs.sum())
    return np.minimum(np.searchsorted(cum, u, side="right"), len(probs) - 1)


def _month_rates(first: date, days: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-token rates from genai-prices: (hour slot -> month index, rates[model, month, 3])."""
    month0 = first.year * 12 + first.month - 1
    days_months = np.array(
        [(d.year * 12 + d.month - 1) - month0 for d in (first + timedelta(i) for i in range(days))]
    )
    table = np.full((len(MODELS), int(days_months[-1]) + 1, 3), np.nan)
    for k in range(table.shape[1]):
        y, m = divmod(month0 + k, 12)
        for mi, spec in enumerate(MODELS):
            r = rates(spec.provider, spec.model, datetime(y, m + 1, 15))
            if r is not None:  # unknown prices stay NaN (null): ingest then leaves them unknown
                table[mi, k] = (r.input, r.cache_read, r.output)
    return np.repeat(days_months, 24), table


@dataclass(frozen=True)
class _Context:
    """What every chunk shares: the period, the incident and the price table."""

    org_id: str
    seed: int
    t0_us: int
    span_us: float
    incident: Incident
    incident_provider: int
    incident_hours: tuple[int, int]  # [first, last) hour slot of the incident
    hour_month: np.ndarray
    rates: np.ndarray


def _lookup(values: list[float]) -> np.ndarray:
    return np.asarray(values, dtype=np.float32)


_PROV = np.array([PROVIDERS.index(m.provider) for m in MODELS])
_TTFT = _lookup([m.ttft_ms for m in MODELS])
_TPS = _lookup([m.tokens_per_s for m in MODELS])
_SIGMA = _lookup([m.sigma for m in MODELS])
_REASONING = _lookup([REASONING_MEDIAN.get(m.model, 0.0) for m in MODELS])
_ERR_RATE = _lookup([BASE_ERROR_RATE[m.provider] for m in MODELS])
_CACHING = np.array([m.provider in CACHING_PROVIDERS for m in MODELS])
_PHOTO = _lookup([PHOTO_INPUT_FACTOR[m.provider] for m in MODELS])
_PHOTO_FEATURE = [f.name for f in FEATURES].index("photo_analysis")
_F_SHARE = np.array([f.share for f in FEATURES])
_F_IN = _lookup([np.log(f.in_median) for f in FEATURES])
_F_IN_SIG = _lookup([f.in_sigma for f in FEATURES])
_F_OUT = _lookup([np.log(f.out_median) for f in FEATURES])
_F_OUT_SIG = _lookup([f.out_sigma for f in FEATURES])
_F_CAP = np.array([f.max_tokens for f in FEATURES])
_F_CACHE = _lookup([f.cache_hit for f in FEATURES])
_F_FILTER = _lookup([f.content_filter for f in FEATURES])
ERROR_TYPES = sorted({e for mix in (*ERROR_MIX.values(), INCIDENT_MIX) for e, _ in mix})
_DICTS = {
    "provider_name": pa.array(PROVIDERS),
    "request_model": pa.array([m.model for m in MODELS]),
    "response_model": pa.array([m.response_model for m in MODELS]),
    "feature": pa.array([f.name for f in FEATURES]),
    "source": pa.array([s for s, _ in SOURCE_MIX]),
    "status": pa.array(["ok", "error"]),
    "error_type": pa.array(ERROR_TYPES),
    "finish_reason": pa.array(list(FINISH)),
}


def _dict(name: str, indices: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    """A dictionary-encoded string column: cheap to build, read by DuckDB as VARCHAR."""
    codes = pa.array(indices.astype(np.int8), mask=null)
    return pa.DictionaryArray.from_arrays(codes, _DICTS[name])


def _error_types(
    u: np.ndarray, is_err: np.ndarray, prov: np.ndarray, incident: np.ndarray
) -> np.ndarray:
    out = np.zeros(len(u), dtype=np.int64)
    for pi, pname in enumerate(PROVIDERS):
        mixes = [(ERROR_MIX.get(pname, ERROR_MIX["default"]), is_err & (prov == pi) & ~incident)]
        mixes.append((INCIDENT_MIX, is_err & (prov == pi) & incident))
        for mix, sel in mixes:
            if sel.any():
                codes = np.array([ERROR_TYPES.index(e) for e, _ in mix])
                out[sel] = codes[_pick(u[sel], np.array([p for _, p in mix]))]
    return out


def _chunk(ctx: _Context, rng: np.random.Generator, hour: np.ndarray, row0: int) -> pa.RecordBatch:
    """Events ``row0…`` whose hour slots are ``hour`` (sorted, whole hours only)."""
    n = len(hour)
    f32 = np.float32

    def normal() -> np.ndarray:
        return rng.standard_normal(n, dtype=f32)

    def uniform() -> np.ndarray:
        return rng.random(n, dtype=f32)

    # when: uniform inside the hour, sorted (hours are whole, so the chunk stays hour-ordered)
    ts = np.sort(ctx.t0_us + hour * 3_600_000_000 + rng.integers(0, 3_600_000_000, n))
    frac = ((ts - ctx.t0_us) / ctx.span_us).astype(f32)  # 0..1 through the period

    # what: a feature, then a model from the feature's mix at that point in time
    feat = _pick(uniform(), _F_SHARE)
    model = np.zeros(n, dtype=np.int64)
    u = uniform()
    for fi, spec in enumerate(FEATURES):
        sel = np.flatnonzero(feat == fi)
        t = frac[sel]
        w0 = sum(r[1] for r in spec.routes)
        w1 = sum(r[2] for r in spec.routes)
        target = u[sel] * (w0 + (w1 - w0) * t)
        chosen = np.zeros(len(sel), dtype=np.int64)
        cum = np.zeros(len(sel), dtype=f32)
        for _, a, b in spec.routes[:-1]:  # the first route whose cumulative share passes target
            cum += a + (b - a) * t
            chosen += cum <= target
        model[sel] = np.array([MODEL_INDEX[r[0]] for r in spec.routes])[chosen]
    prov = _PROV[model]
    src = _pick(uniform(), np.array([p for _, p in SOURCE_MIX]))
    health = src == 2

    # tokens: log-normal by feature; images cost more input on some providers
    photo = feat == _PHOTO_FEATURE
    log_in = _F_IN[feat] + _F_IN_SIG[feat] * normal() + np.where(photo, np.log(_PHOTO[model]), 0)
    inp = np.clip(np.rint(np.exp(log_in)), 1, MAX_INPUT_TOKENS).astype(np.int64)
    out_raw = np.exp(_F_OUT[feat] + _F_OUT_SIG[feat] * normal())
    cap = _F_CAP[feat]
    filtered = uniform() < _F_FILTER[feat]
    finish = np.where(filtered, 2, np.where(out_raw >= cap, 1, 0))
    out = np.clip(np.rint(out_raw), 1, cap).astype(np.int64)
    out = np.where(filtered, np.minimum(out, 12), out)
    hit = _CACHING[model] & (inp >= 1024) & (uniform() < _F_CACHE[feat])
    cached = np.where(hit, (inp * rng.uniform(0.3, 0.9, n)).astype(np.int64) // 128 * 128, 0)
    rm = _REASONING[model]
    reasoning = np.where(rm > 0, np.rint(rm * np.exp(0.8 * normal())), 0).astype(np.int64)
    out += reasoning  # OpenTelemetry output tokens include reasoning tokens
    # health checks: a one-word prompt and answer
    inp = np.where(health, 8 + model % 5, inp)
    out = np.where(health, 1 + model % 3, out)
    cached[health] = 0
    reasoning[health] = 0
    finish[health] = 0

    # latency: time to first token (+ image and hidden reasoning time) + visible generation
    tps = _TPS[model] * np.exp(0.2 * normal())
    ttft = _TTFT[model] * np.where(photo, f32(1.4), f32(1)) * np.exp(_SIGMA[model] * normal())
    ttft += reasoning / tps * 1000
    duration = ttft + (out - reasoning) / tps * 1000

    # errors: a baseline by provider, and the incident
    lo, hi = ctx.incident_hours
    incident = (prov == ctx.incident_provider) & (hour >= lo) & (hour < hi)
    is_err = uniform() < np.where(incident, f32(ctx.incident.error_rate), _ERR_RATE[model])
    slow = np.where(incident, f32(ctx.incident.latency_factor), f32(1))
    duration *= slow
    ttft *= slow
    err_type = _error_types(uniform(), is_err, prov, incident)
    z = normal()
    err_ms = np.where(err_type == ERROR_TYPES.index("429"), 150 * np.exp(0.5 * z),
                      1100 * np.exp(0.6 * z))
    timeout = err_type == ERROR_TYPES.index("timeout")
    err_ms = np.where(timeout, TIMEOUT_MS + 300 * uniform(), err_ms)
    duration = np.round(np.where(is_err, err_ms, duration).astype(np.float64), 3)
    ttft = np.where(is_err, np.nan, np.round(np.minimum(ttft, duration), 3))
    for tokens in (inp, out, cached, reasoning):  # failed calls are not billed
        tokens[is_err] = 0

    # cost: genai-prices rates of the event's model and month
    r = ctx.rates[model, ctx.hour_month[hour]]
    cost = (inp - cached) * r[:, 0] + cached * r[:, 1] + out * r[:, 2]

    prefix = f"demo-{ctx.org_id}-{ctx.seed}-"
    ids = pc.binary_join_element_wise(
        prefix,
        pc.utf8_lpad(pc.cast(pa.array(np.arange(row0, row0 + n)), pa.string()), 10, "0"),
        "",
    )
    return pa.RecordBatch.from_pydict(
        {
            "request_id": ids,
            "ts": pa.array(ts, pa.timestamp("us")),
            "org_id": pa.DictionaryArray.from_arrays(
                pa.array(np.zeros(n, dtype=np.int8)), pa.array([ctx.org_id])
            ),
            "provider_name": _dict("provider_name", prov),
            "request_model": _dict("request_model", model),
            "response_model": _dict("response_model", model, is_err),
            "feature": _dict("feature", feat),
            "source": _dict("source", src),
            "input_tokens": pa.array(inp, pa.int64()),
            "output_tokens": pa.array(out, pa.int64()),
            "cache_read_input_tokens": pa.array(cached, pa.int64()),
            "reasoning_output_tokens": pa.array(reasoning, pa.int64()),
            "cost_usd": pa.array(cost, pa.float64(), from_pandas=True),
            "duration_ms": pa.array(duration, pa.float64()),
            "ttft_ms": pa.array(ttft, pa.float64(), from_pandas=True),
            "status": _dict("status", is_err.astype(np.int8)),
            "error_type": _dict("error_type", err_type, ~is_err),
            "finish_reason": _dict("finish_reason", finish, is_err),
        }
    )


CHUNK_EVENTS = 1 << 19
DUCKDB_ROW_GROUP = 122_880


def generate(
    events: int, days: int, seed: int, org_id: str = "demo", end: date | None = None
) -> pa.Table:
    """``events`` usage events over the ``days`` days ending ``end`` (default today, UTC).

    Hour counts are drawn once; the events are then generated in chunks of whole hours,
    each from its own seeded stream, so the result does not depend on thread scheduling
    while both cores work (numpy and Arrow release the GIL).
    """
    check_org_id(org_id)
    if events < 0 or days < 1:
        raise ValueError("events must be >= 0 and days >= 1")
    n = int(events)
    first, _ = _span(days, end)
    inc = incident(days, seed, end)
    rng = np.random.default_rng(seed)
    w = _hour_weights(first, days, rng)
    counts = rng.multinomial(n, w / w.sum())
    hour = np.repeat(np.arange(days * 24, dtype=np.int64), counts)
    t0 = datetime.combine(first, datetime.min.time())
    inc_h0 = int((inc.start - t0).total_seconds() // 3600)
    hour_month, price_table = _month_rates(first, days)
    ctx = _Context(
        org_id=org_id,
        seed=seed,
        t0_us=int(np.datetime64(t0, "us").astype(np.int64)),
        span_us=days * 86_400e6,
        incident=inc,
        incident_provider=PROVIDERS.index(inc.provider),
        incident_hours=(inc_h0, inc_h0 + inc.hours),
        hour_month=hour_month,
        rates=price_table,
    )
    bounds = np.concatenate([[0], np.cumsum(counts)])
    cut_at = bounds[np.searchsorted(bounds, np.arange(CHUNK_EVENTS, n, CHUNK_EVENTS))]
    cuts = np.unique(np.r_[0, cut_at, n])
    parts = list(zip(cuts[:-1], cuts[1:], strict=True)) or [(0, 0)]

    def make(i: int) -> pa.RecordBatch:
        lo, hi = parts[i]
        return _chunk(ctx, np.random.default_rng([seed, i]), hour[lo:hi], int(lo))

    with ThreadPoolExecutor(max_workers=min(len(parts), os.cpu_count() or 1)) as pool:
        batches = list(pool.map(make, range(len(parts))))
    return pa.Table.from_batches(batches)


def build_demo(
    wh: Warehouse,
    events: int,
    days: int,
    seed: int,
    org_id: str = "demo",
    end: date | None = None,
    progress: Callable[[str], None] | None = None,
) -> IngestReport:
    """Generate the demo history and load it through the normal ingest pipeline.

    The events go through a temporary Parquet file and ``read_usage_parquet``, exactly like
    an imported file (validation, de-duplication, rollups). That is also the fastest route:
    DuckDB scans Parquet in parallel faster than a registered Arrow table, and row groups of
    DuckDB's own size (122,880 rows) land without any re-packing at commit.
    """
    say = progress or (lambda _m: None)
    say(f"Generating {events:,} demo events over {days} days (seed {seed})…")
    table = generate(events, days, seed, org_id=org_id, end=end)
    with tempfile.TemporaryDirectory(prefix="switchyard-demo-") as tmp:
        path = Path(tmp) / "demo.parquet"
        pq.write_table(table, path, row_group_size=DUCKDB_ROW_GROUP)
        del table
        say("Loading them into the warehouse…")
        name = f"demo history (seed {seed}, {events:,} events, {days} days)"
        stage = read_usage_parquet(path, name)
        stage.format = "demo"
        report = load_stage(wh, org_id, stage)
    say(f"Done in {report.seconds:.1f} s.")
    return report
