"""The Usage & Cost page's questions, answered from rollups (never by scanning raw events).

Every function takes a :class:`~core.domain.UsageFilter`, whose ``org_id`` scopes the query;
callers get that filter from :mod:`core.auth`, so one organization never sees another's rows.
Percentiles are read from the mergeable log-bucketed histograms (see ``load.HIST_GAMMA``):
geometric interpolation inside a bucket keeps them within about 1% of exact quantiles.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from core.domain import UsageFilter, check_org_id
from core.warehouse.db import Warehouse, one_row
from core.warehouse.load import HIST_GAMMA

DIMENSIONS = {"model": "request_model", "provider": "provider_name", "feature": "feature"}
EVENT_PAGE_COLUMNS = [
    "ts",
    "request_id",
    "provider_name",
    "request_model",
    "response_model",
    "feature",
    "source",
    "status",
    "error_type",
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "reasoning_output_tokens",
    "cost_usd",
    "duration_ms",
    "ttft_ms",
    "finish_reason",
]


def _dims_where(f: UsageFilter) -> tuple[str, list[Any]]:
    sql = ["org_id = ?"]
    params: list[Any] = [check_org_id(f.org_id)]
    for col, values in (
        ("provider_name", f.providers),
        ("request_model", f.models),
        ("feature", f.features),
        ("source", f.sources),
    ):
        if values:
            sql.append(f"{col} IN ({', '.join('?' for _ in values)})")
            params.extend(values)
    return " AND ".join(sql), params


def _hour_where(f: UsageFilter, start: date | None = None) -> tuple[str, list[Any]]:
    dims, params = _dims_where(f)
    lo = datetime.combine(start or f.start, datetime.min.time())
    hi = datetime.combine(f.end + timedelta(days=1), datetime.min.time())
    return f"{dims} AND hour >= ? AND hour < ?", [*params, lo, hi]


def _day_where(f: UsageFilter, start: date | None = None) -> tuple[str, list[Any]]:
    dims, params = _dims_where(f)
    return f"{dims} AND day BETWEEN ? AND ?", [*params, start or f.start, f.end]


def group_quantiles(
    gid: np.ndarray, bucket: np.ndarray, n: np.ndarray, ps: tuple[float, ...] = (0.5, 0.95, 0.99)
) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """Quantiles per integer group from (group, bucket, count) rows in any order.

    Returns (group ids present, {"p50": …}, samples per group). Pure numpy, so callers can
    feed dictionary codes straight from Arrow without building pandas groupbys.
    """
    names = [f"p{round(p * 100):d}" for p in ps]
    gid = np.asarray(gid, dtype=np.int64)
    bucket = np.asarray(bucket, dtype=np.int64)
    n = np.asarray(n, dtype=np.float64)
    keep = n > 0
    if not keep.all():
        gid, bucket, n = gid[keep], bucket[keep], n[keep]
    if not len(n):
        empty = np.zeros(0)
        return np.zeros(0, dtype=np.int64), {k: empty for k in names}, np.zeros(0, dtype=np.int64)
    b0 = int(bucket.min())
    width = int(bucket.max()) - b0 + 1
    flat = gid * width + (bucket - b0)
    size = (int(gid.max()) + 1) * width
    if size <= 4 * len(flat) + (1 << 20):  # small key space: a dense bincount beats sorting
        dense = np.bincount(flat, weights=n, minlength=size)
        key = np.flatnonzero(dense)
        counts = dense[key]
    else:
        key, inverse = np.unique(flat, return_inverse=True)
        counts = np.bincount(inverse.ravel(), weights=n)
    g = key // width
    b = (key % width + b0).astype(np.float64)
    cum = np.cumsum(counts)
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    ends = np.r_[starts[1:], len(g)]
    base = np.where(starts > 0, cum[starts - 1], 0.0)
    total = cum[ends - 1] - base
    out: dict[str, np.ndarray] = {}
    for p, name in zip(ps, names, strict=True):
        target = base + np.maximum(p * total, 1e-9)
        idx = np.minimum(np.searchsorted(cum, target, side="left"), ends - 1)
        prev = cum[idx] - counts[idx]
        frac = np.clip((target - prev) / counts[idx], 0.0, 1.0)
        out[name] = np.power(HIST_GAMMA, b[idx] + frac)
    return g[starts], out, np.rint(total).astype(np.int64)


def percentiles_from_hist(
    hist: pd.DataFrame, keys: list[str], ps: tuple[float, ...] = (0.5, 0.95, 0.99)
) -> pd.DataFrame:
    """Quantiles per group from (keys…, bucket, n) rows. Columns p50, p95, p99 (ms)."""
    names = [f"p{round(p * 100):d}" for p in ps]
    if hist.empty:
        return pd.DataFrame(columns=[*keys, *names, "samples"])
    if keys:
        grouped = hist.groupby(keys, sort=True, observed=True)
        gid = grouped.ngroup().to_numpy()
        labels = grouped.size().index.to_frame(index=False)
    else:
        gid = np.zeros(len(hist), dtype=np.int64)
        labels = pd.DataFrame(index=[0])
    known = gid >= 0  # rows with a missing key belong to no group, as in a groupby
    present, values, samples = group_quantiles(
        gid[known], hist["bucket"].to_numpy()[known], hist["n"].to_numpy()[known], ps
    )
    out = labels.iloc[present].reset_index(drop=True)
    for name in names:
        out[name] = values[name]
    out["samples"] = samples
    return out


@dataclass
class Dashboard:
    """Everything the Usage & Cost page draws, for one filter."""

    kpis: dict[str, dict[str, float | None]]
    daily_cost: pd.DataFrame  # day, request_model, provider_name, feature, cost_usd, requests
    latency_daily: pd.DataFrame  # day, request_model, p50, p95, p99
    models: pd.DataFrame  # provider_name, request_model, requests, errors, cost_usd, …, p50, p95
    providers: pd.DataFrame  # provider_name, requests, errors, error_rate
    error_types: pd.DataFrame  # provider_name, error_type, n
    features: pd.DataFrame  # feature, cost_usd, requests, share
    timeline: pd.DataFrame  # bucket start, requests, errors, error_rate (hourly when <= 14 days)

    @property
    def empty(self) -> bool:
        return not self.kpis["current"].get("requests")

    def delta(self, key: str) -> str | None:
        """The KPI's change against the previous period, as the page labels it."""
        return kpi_delta(self.kpis["current"], self.kpis["previous"], key)


def kpi_delta(
    current: dict[str, float | None], previous: dict[str, float | None], key: str
) -> str | None:
    """A KPI's change against the previous period: "+12.3%", or "+0.40 pp" for the error rate.

    None (no delta shown) when either value is missing, the previous period had no requests
    (nothing to compare with), or the previous value is zero (a percentage of nothing).
    The error rate is already a share, so its change is in percentage points, not percent.
    """
    a, b = current.get(key), previous.get(key)
    if a is None or b is None or not previous.get("requests"):
        return None
    if key == "error_rate":
        return f"{(a - b) * 100:+.2f} pp"
    if not b:
        return None
    return f"{(a - b) / b * 100:+.1f}%"


def _kpi_block(row: dict[str, Any], p95: float | None) -> dict[str, float | None]:
    requests = float(row.get("requests") or 0)
    errors = float(row.get("errors") or 0)
    return {
        "spend": float(row.get("cost_usd") or 0.0),
        "requests": requests,
        "tokens": float(row.get("tokens") or 0),
        "p95_ms": p95,
        "error_rate": (errors / requests) if requests else None,
    }


class _HistPercentiles:
    """Percentiles of one period's histogram rows (Arrow), grouped three ways with numpy."""

    def __init__(self, hist: pa.Table, start: date) -> None:
        self.n = hist.column("n").to_numpy()
        self.bucket = hist.column("bucket").to_numpy()
        self.day = (hist.column("day").to_numpy() - np.datetime64(start, "D")).astype(np.int64)
        self.start = start
        prov = hist.column("provider_name").dictionary_encode().combine_chunks()
        model = hist.column("request_model").dictionary_encode().combine_chunks()
        self.providers = prov.dictionary.to_pylist()
        self.models = model.dictionary.to_pylist()
        self.prov = prov.indices.to_numpy().astype(np.int64)
        self.model = model.indices.to_numpy().astype(np.int64)

    def total_p95(self) -> float | None:
        _, values, _ = group_quantiles(np.zeros(len(self.n), dtype=np.int64), self.bucket, self.n,
                                       (0.95,))
        return float(values["p95"][0]) if len(values["p95"]) else None

    def by_day_model(self) -> pd.DataFrame:
        k = max(len(self.models), 1)
        g, values, samples = group_quantiles(self.day * k + self.model, self.bucket, self.n)
        out = pd.DataFrame({
            "day": [self.start + timedelta(days=int(d)) for d in g // k],
            "request_model": [self.models[m] for m in g % k],
            **values,
            "samples": samples,
        })
        return out.sort_values(["day", "request_model"], ignore_index=True)

    def by_provider_model(self) -> pd.DataFrame:
        k = max(len(self.models), 1)
        g, values, _ = group_quantiles(self.prov * k + self.model, self.bucket, self.n, (0.5, 0.95))
        return pd.DataFrame({
            "provider_name": [self.providers[p] for p in g // k],
            "request_model": [self.models[m] for m in g % k],
            **values,
        })


def dashboard(wh: Warehouse, f: UsageFilter) -> Dashboard:
    """Run the page's full set of rollup queries in one cursor."""
    prev = f.previous_period()
    hw, hp = _hour_where(f, start=prev.start)
    cw, cp = _day_where(f)
    pw, pp = _day_where(prev)
    cur_lo = datetime.combine(f.start, datetime.min.time())
    with wh.cursor() as cur:
        hourly = cur.execute(
            f"""
            SELECT CAST(hour AS DATE) AS day, provider_name, request_model, feature,
                   hour >= ? AS is_current,
                   sum(requests) AS requests, sum(errors) AS errors, sum(cost_usd) AS cost_usd,
                   sum(input_tokens + output_tokens) AS tokens,
                   sum(duration_ms_sum) AS duration_ms_sum, sum(duration_n) AS duration_n
            FROM usage_hourly WHERE {hw} GROUP BY ALL
            """,
            [cur_lo, *hp],
        ).df()
        # The histograms are the biggest rollup: fetch them as Arrow (no pandas strings) and
        # compute percentiles on dictionary codes; the previous period only needs its p95.
        hist = cur.sql(
            f"""
            SELECT day, provider_name, request_model, bucket, CAST(sum(n) AS BIGINT) AS n
            FROM latency_daily_hist WHERE {cw} GROUP BY ALL
            """,
            params=cp,
        ).to_arrow_table()
        prev_hist = cur.execute(
            f"SELECT bucket, CAST(sum(n) AS BIGINT) AS n FROM latency_daily_hist WHERE {pw} "
            "GROUP BY ALL",
            pp,
        ).fetchnumpy()
        ew, ep = _hour_where(f)
        error_types = cur.execute(
            f"""
            SELECT provider_name, error_type, sum(n) AS n FROM errors_hourly WHERE {ew}
            GROUP BY ALL ORDER BY n DESC
            """,
            ep,
        ).df()
        hourly_timeline = f.days <= 14
        tw, tp = _hour_where(f)
        grain = "hour" if hourly_timeline else "CAST(CAST(hour AS DATE) AS TIMESTAMP)"
        timeline = cur.execute(
            f"""
            SELECT {grain} AS period, provider_name, sum(requests) AS requests,
                   sum(errors) AS errors
            FROM usage_hourly WHERE {tw} GROUP BY ALL ORDER BY period
            """,
            tp,
        ).df()

    if not hourly.empty:
        hourly["day"] = pd.to_datetime(hourly["day"]).dt.date
    cur_rows = hourly[hourly["is_current"]] if not hourly.empty else hourly
    prev_rows = hourly[~hourly["is_current"]] if not hourly.empty else hourly
    hist_pct = _HistPercentiles(hist, f.start)

    def totals(df: pd.DataFrame) -> dict[str, Any]:
        if df.empty:
            return {}
        return df[["requests", "errors", "cost_usd", "tokens"]].sum().to_dict()

    _, prev_p95, _ = group_quantiles(
        np.zeros(len(prev_hist["n"]), dtype=np.int64), prev_hist["bucket"], prev_hist["n"], (0.95,)
    )
    kpis = {
        "current": _kpi_block(totals(cur_rows), hist_pct.total_p95()),
        "previous": _kpi_block(
            totals(prev_rows), float(prev_p95["p95"][0]) if len(prev_p95["p95"]) else None
        ),
    }

    if cur_rows.empty:
        daily_cost = pd.DataFrame(
            columns=["day", "provider_name", "request_model", "feature", "cost_usd", "requests"]
        )
    else:
        daily_cost = cur_rows.groupby(
            ["day", "provider_name", "request_model", "feature"], as_index=False
        )[["cost_usd", "requests"]].sum()

    latency_daily = hist_pct.by_day_model()
    model_pct = hist_pct.by_provider_model()
    if cur_rows.empty:
        models = pd.DataFrame(
            columns=[
                "provider_name", "request_model", "requests", "errors", "cost_usd", "tokens",
                "avg_ms", "p50", "p95", "error_rate", "cost_per_1k",
            ]
        )
    else:
        models = cur_rows.groupby(["provider_name", "request_model"], as_index=False)[
            ["requests", "errors", "cost_usd", "tokens", "duration_ms_sum", "duration_n"]
        ].sum()
        models["avg_ms"] = models["duration_ms_sum"] / models["duration_n"].where(
            models["duration_n"] > 0
        )
        models = models.drop(columns=["duration_ms_sum", "duration_n"]).merge(
            model_pct, on=["provider_name", "request_model"], how="left"
        )
        models["error_rate"] = models["errors"] / models["requests"]
        models["cost_per_1k"] = models["cost_usd"] / models["requests"] * 1000
        models = models.sort_values("cost_usd", ascending=False, ignore_index=True)

    if cur_rows.empty:
        providers = pd.DataFrame(columns=["provider_name", "requests", "errors", "error_rate"])
        features = pd.DataFrame(columns=["feature", "cost_usd", "requests", "share"])
    else:
        providers = cur_rows.groupby("provider_name", as_index=False)[["requests", "errors"]].sum()
        providers["error_rate"] = providers["errors"] / providers["requests"]
        providers = providers.sort_values("error_rate", ascending=False, ignore_index=True)
        features = cur_rows.groupby("feature", as_index=False)[["cost_usd", "requests"]].sum()
        total = features["cost_usd"].sum()
        features["share"] = features["cost_usd"] / total if total else 0.0
        features = features.sort_values("cost_usd", ascending=False, ignore_index=True)

    if not timeline.empty:
        timeline["error_rate"] = timeline["errors"] / timeline["requests"]

    return Dashboard(
        kpis=kpis,
        daily_cost=daily_cost,
        latency_daily=latency_daily,
        models=models,
        providers=providers,
        error_types=error_types,
        features=features,
        timeline=timeline,
    )


def filter_options(wh: Warehouse, org_id: str) -> dict[str, Any]:
    """Values the filters can take for this organization, and the date span of its data."""
    with wh.cursor() as cur:
        combos = cur.execute(
            "SELECT DISTINCT provider_name, request_model, feature, source FROM usage_hourly "
            "WHERE org_id = ?",
            [check_org_id(org_id)],
        ).df()
        span = one_row(cur, "SELECT min(hour), max(hour) FROM usage_hourly WHERE org_id = ?", [org_id])
    first, last = (span or (None, None))
    return {
        "providers": sorted(combos["provider_name"].unique().tolist()),
        "models": sorted(combos["request_model"].unique().tolist()),
        "model_provider": dict(
            combos[["request_model", "provider_name"]].drop_duplicates().itertuples(index=False)
        ),
        "features": sorted(combos["feature"].unique().tolist()),
        "sources": sorted(combos["source"].unique().tolist()),
        "first_day": first.date() if first else None,
        "last_day": last.date() if last else None,
    }


DEFAULT_RANGE_DAYS = 30


def default_date_range(first: date, last: date) -> tuple[date, date]:
    """The Usage page's default dates: the last 30 days of data (all of it when shorter).

    Anchored on the newest data, not on today: demo or imported history may end in the past.
    """
    return max(first, last - timedelta(days=DEFAULT_RANGE_DAYS - 1)), last


def _event_where(f: UsageFilter) -> tuple[str, list[Any]]:
    dims, params = _dims_where(f)
    lo = datetime.combine(f.start, datetime.min.time())
    hi = datetime.combine(f.end + timedelta(days=1), datetime.min.time())
    return f"{dims} AND ts >= ? AND ts < ?", [*params, lo, hi]


def events_page(
    wh: Warehouse, f: UsageFilter, *, limit: int = 200, offset: int = 0, errors_only: bool = False
) -> pd.DataFrame:
    """The newest raw events matching the filter (drill-down), one page at a time."""
    where, params = _event_where(f)
    if errors_only:
        where += " AND status = 'error'"
    # Two phases: find the oldest timestamp on the page from the ts column alone, then fetch
    # whole rows only from there on (zone maps skip the rest). Same rows, several times faster.
    with wh.cursor() as cur:
        return cur.execute(
            f"SELECT {', '.join(EVENT_PAGE_COLUMNS)} FROM usage_events WHERE {where} "
            f"AND ts >= (SELECT min(ts) FROM (SELECT ts FROM usage_events WHERE {where} "
            "ORDER BY ts DESC LIMIT ?)) ORDER BY ts DESC, request_id LIMIT ? OFFSET ?",
            [*params, *params, int(limit) + int(offset), int(limit), int(offset)],
        ).df()


EXPORT_LIMIT = 1_000_000


def export_events(wh: Warehouse, f: UsageFilter, fmt: str, *, errors_only: bool = False) -> bytes:
    """The filtered events as CSV or Parquet bytes (newest first, at most EXPORT_LIMIT rows).

    CSV goes through :func:`core.exports.csv_bytes`, so a value a spreadsheet would run as a
    formula (``=HYPERLINK(…)`` as a feature name) is neutralised; Parquet keeps raw values.
    """
    import os
    import tempfile

    from core.exports import csv_bytes

    if fmt not in ("csv", "parquet"):
        raise ValueError("export format must be csv or parquet")
    where, params = _event_where(f)
    if errors_only:
        where += " AND status = 'error'"
    sql = (f"SELECT {', '.join(EVENT_PAGE_COLUMNS)} FROM usage_events WHERE {where} "
           f"ORDER BY ts DESC, request_id LIMIT {EXPORT_LIMIT}")
    if fmt == "csv":
        with wh.cursor() as cur:
            table = cur.sql(sql, params=params).to_arrow_table()
        # Arrow-backed columns: integers with gaps stay integers ("12", not "12.0")
        return csv_bytes(table.to_pandas(types_mapper=pd.ArrowDtype))
    fd, tmp = tempfile.mkstemp(suffix=".parquet")
    os.close(fd)
    try:
        with wh.cursor() as cur:
            cur.sql(sql, params=params).write_parquet(tmp)
        with open(tmp, "rb") as fh:
            return fh.read()
    finally:
        os.unlink(tmp)


def org_ids(wh: Warehouse) -> list[str]:
    """Organizations that have usage data (for the instance owner's organization switcher)."""
    with wh.cursor() as cur:
        return [r[0] for r in cur.execute(
            "SELECT DISTINCT org_id FROM usage_hourly ORDER BY 1"
        ).fetchall()]


def event_count(wh: Warehouse, org_id: str | None = None) -> int:
    with wh.cursor() as cur:
        if org_id is None:
            return int(one_row(cur, "SELECT coalesce(sum(requests), 0) FROM usage_hourly")[0])
        return int(
            one_row(cur, "SELECT coalesce(sum(requests), 0) FROM usage_hourly WHERE org_id = ?",
                    [check_org_id(org_id)])[0]
        )


# -- measured performance and usage per model, for the catalog ---------------------------------


@dataclass(frozen=True)
class ModelPerformance:
    """One model's measured figures for an organization, from the rollups.

    The window is the ``days`` days ending on ``as_of`` (inclusive); "today" is ``as_of``.
    Latency is of successful calls; throughput is output tokens per second of successful
    call time; growth compares the window's requests with the ``days`` days before it.
    """

    provider_name: str
    model: str
    requests: int
    errors: int
    cost_usd: float
    avg_ms: float | None
    p95_ms: float | None
    success_rate: float | None
    tokens_per_s: float | None
    requests_per_min: float
    requests_today: int
    cost_today: float
    requests_prev: int
    growth_pct: float | None


def last_data_day(wh: Warehouse, org_id: str) -> date | None:
    """The newest day with usage for an organization (demo history may end before today)."""
    with wh.cursor() as cur:
        row = one_row(cur, "SELECT max(hour) FROM usage_hourly WHERE org_id = ?", [check_org_id(org_id)])
    return row[0].date() if row and row[0] is not None else None


def model_performance(
    wh: Warehouse,
    org_id: str,
    *,
    as_of: date | None = None,
    days: int = 7,
    sources: list[str] | None = None,
) -> dict[tuple[str, str], ModelPerformance]:
    """Per (provider_name, model): latency, success, throughput, today's usage and growth.

    Two rollup reads (hourly sums and daily latency histograms), never a scan of raw events;
    p95 comes from the mergeable histograms (within about 2% of the exact quantile). Models
    used only in the previous window are included (their growth is -100%).
    """
    if days < 1:
        raise ValueError("days must be at least 1")
    org_id = check_org_id(org_id)
    as_of = as_of or datetime.now(UTC).date()
    start = as_of - timedelta(days=days - 1)
    prev_start = start - timedelta(days=days)
    midnight = datetime.min.time()
    lo, today, hi = (datetime.combine(d, midnight) for d in (start, as_of, as_of + timedelta(1)))
    src_sql, src_params = "", []
    if sources:
        src_sql = f" AND source IN ({', '.join('?' for _ in sources)})"
        src_params = list(sources)
    with wh.cursor() as cur:
        sums = cur.execute(
            f"""
            SELECT provider_name, request_model,
                coalesce(sum(requests) FILTER (WHERE hour >= ?), 0) AS requests,
                coalesce(sum(errors) FILTER (WHERE hour >= ?), 0) AS errors,
                coalesce(sum(cost_usd) FILTER (WHERE hour >= ?), 0) AS cost_usd,
                coalesce(sum(output_tokens) FILTER (WHERE hour >= ?), 0) AS output_tokens,
                coalesce(sum(duration_ms_sum) FILTER (WHERE hour >= ?), 0) AS duration_ms_sum,
                coalesce(sum(duration_n) FILTER (WHERE hour >= ?), 0) AS duration_n,
                coalesce(sum(requests) FILTER (WHERE hour >= ?), 0) AS requests_today,
                coalesce(sum(cost_usd) FILTER (WHERE hour >= ?), 0) AS cost_today,
                coalesce(sum(requests) FILTER (WHERE hour < ?), 0) AS requests_prev
            FROM usage_hourly
            WHERE org_id = ? AND hour >= ? AND hour < ?{src_sql}
            GROUP BY ALL
            """,
            [lo] * 6 + [today] * 2 + [lo, org_id, datetime.combine(prev_start, midnight), hi,
                                      *src_params],
        ).fetchall()
        hist = cur.sql(
            f"""
            SELECT provider_name, request_model, bucket, CAST(sum(n) AS BIGINT) AS n
            FROM latency_daily_hist
            WHERE org_id = ? AND day BETWEEN ? AND ?{src_sql}
            GROUP BY ALL
            """,
            params=[org_id, start, as_of, *src_params],
        ).to_arrow_table()
    keys: dict[tuple[str, str], int] = {}
    gid = np.array([keys.setdefault((p, m), len(keys)) for p, m in zip(
        hist.column("provider_name").to_pylist(), hist.column("request_model").to_pylist(),
        strict=True)], dtype=np.int64)
    present, values, _ = group_quantiles(
        gid, hist.column("bucket").to_numpy(), hist.column("n").to_numpy(), (0.95,)
    )
    by_gid = dict(zip(present.tolist(), values["p95"].tolist(), strict=True))
    minutes = days * 24 * 60
    out: dict[tuple[str, str], ModelPerformance] = {}
    for (provider, model, requests, errors, cost, out_tokens, dur_sum, dur_n, req_today,
         cost_today, req_prev) in sums:
        g = keys.get((provider, model))
        out[(provider, model)] = ModelPerformance(
            provider_name=provider,
            model=model,
            requests=int(requests),
            errors=int(errors),
            cost_usd=float(cost),
            avg_ms=float(dur_sum) / dur_n if dur_n else None,
            p95_ms=by_gid.get(g) if g is not None else None,
            success_rate=1.0 - errors / requests if requests else None,
            tokens_per_s=float(out_tokens) / (dur_sum / 1000.0) if dur_sum else None,
            requests_per_min=float(requests) / minutes,
            requests_today=int(req_today),
            cost_today=float(cost_today),
            requests_prev=int(req_prev),
            growth_pct=(requests - req_prev) / req_prev * 100.0 if req_prev else None,
        )
    return out


def models_in_use(wh: Warehouse, org_id: str) -> list[tuple[str, str]]:
    """(provider_name, request_model) pairs an organization has usage for, sorted."""
    with wh.cursor() as cur:
        return [(p, m) for p, m in cur.execute(
            "SELECT DISTINCT provider_name, request_model FROM usage_hourly WHERE org_id = ? "
            "ORDER BY 1, 2", [check_org_id(org_id)]
        ).fetchall()]
