"""The Usage & Cost page's questions, answered from rollups (never by scanning raw events).

Every function takes a :class:`~core.domain.UsageFilter`, whose ``org_id`` scopes the query;
callers get that filter from :mod:`core.auth`, so one organization never sees another's rows.
Percentiles are read from the mergeable log-bucketed histograms (see ``load.HIST_GAMMA``):
geometric interpolation inside a bucket keeps them within about 1% of exact quantiles.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from core.domain import UsageFilter, check_org_id
from core.warehouse.db import Warehouse
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


def percentiles_from_hist(
    hist: pd.DataFrame, keys: list[str], ps: tuple[float, ...] = (0.5, 0.95, 0.99)
) -> pd.DataFrame:
    """Quantiles per group from (keys…, bucket, n) rows. Columns p50, p95, p99 (ms)."""
    names = [f"p{round(p * 100):d}" for p in ps]
    if hist.empty:
        return pd.DataFrame(columns=[*keys, *names, "samples"])
    h = hist.groupby([*keys, "bucket"], as_index=False, sort=True)["n"].sum() if keys else (
        hist.groupby("bucket", as_index=False, sort=True)["n"].sum()
    )
    if keys:
        gid = h.groupby(keys, sort=False).ngroup().to_numpy()
    else:
        gid = np.zeros(len(h), dtype=np.int64)
    n = h["n"].to_numpy(dtype=np.float64)
    b = h["bucket"].to_numpy(dtype=np.float64)
    cum = np.cumsum(n)
    starts = np.flatnonzero(np.r_[True, gid[1:] != gid[:-1]])
    ends = np.r_[starts[1:], len(h)]
    base = np.where(starts > 0, cum[starts - 1], 0.0)
    total = cum[ends - 1] - base
    out: dict[str, Any] = {}
    if keys:
        first = h.iloc[starts]
        for k in keys:
            out[k] = first[k].to_numpy()
    for p, name in zip(ps, names, strict=True):
        target = base + np.maximum(p * total, 1e-9)
        idx = np.searchsorted(cum, target, side="left")
        idx = np.minimum(idx, ends - 1)
        prev = cum[idx] - n[idx]
        frac = np.clip((target - prev) / n[idx], 0.0, 1.0)
        out[name] = np.power(HIST_GAMMA, b[idx] + frac)
    out["samples"] = total.astype(np.int64)
    return pd.DataFrame(out)


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


def dashboard(wh: Warehouse, f: UsageFilter) -> Dashboard:
    """Run the page's full set of rollup queries in one cursor."""
    prev = f.previous_period()
    hw, hp = _hour_where(f, start=prev.start)
    dw, dp = _day_where(f, start=prev.start)
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
        hist = cur.execute(
            f"""
            SELECT day, provider_name, request_model, bucket, sum(n) AS n
            FROM latency_daily_hist WHERE {dw} GROUP BY ALL
            """,
            dp,
        ).df()
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

    for df in (hourly, hist):
        if not df.empty:
            df["day"] = pd.to_datetime(df["day"]).dt.date
    cur_rows = hourly[hourly["is_current"]] if not hourly.empty else hourly
    prev_rows = hourly[~hourly["is_current"]] if not hourly.empty else hourly
    cur_hist = hist[hist["day"] >= f.start] if not hist.empty else hist
    prev_hist = hist[hist["day"] < f.start] if not hist.empty else hist

    def totals(df: pd.DataFrame) -> dict[str, Any]:
        if df.empty:
            return {}
        return df[["requests", "errors", "cost_usd", "tokens"]].sum().to_dict()

    def p95(h: pd.DataFrame) -> float | None:
        if h.empty:
            return None
        return float(percentiles_from_hist(h, [], (0.95,))["p95"].iloc[0])

    kpis = {
        "current": _kpi_block(totals(cur_rows), p95(cur_hist)),
        "previous": _kpi_block(totals(prev_rows), p95(prev_hist)),
    }

    if cur_rows.empty:
        daily_cost = pd.DataFrame(
            columns=["day", "provider_name", "request_model", "feature", "cost_usd", "requests"]
        )
    else:
        daily_cost = cur_rows.groupby(
            ["day", "provider_name", "request_model", "feature"], as_index=False
        )[["cost_usd", "requests"]].sum()

    latency_daily = percentiles_from_hist(cur_hist, ["day", "request_model"])
    model_pct = percentiles_from_hist(cur_hist, ["provider_name", "request_model"], (0.5, 0.95))
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
            model_pct.drop(columns=["samples"]), on=["provider_name", "request_model"], how="left"
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
        span = cur.execute(
            "SELECT min(hour), max(hour) FROM usage_hourly WHERE org_id = ?", [org_id]
        ).fetchone()
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
    with wh.cursor() as cur:
        return cur.execute(
            f"SELECT {', '.join(EVENT_PAGE_COLUMNS)} FROM usage_events WHERE {where} "
            "ORDER BY ts DESC, request_id LIMIT ? OFFSET ?",
            [*params, int(limit), int(offset)],
        ).df()


EXPORT_LIMIT = 1_000_000


def export_events(wh: Warehouse, f: UsageFilter, fmt: str, *, errors_only: bool = False) -> bytes:
    """The filtered events as CSV or Parquet bytes (newest first, at most EXPORT_LIMIT rows)."""
    import os
    import tempfile

    if fmt not in ("csv", "parquet"):
        raise ValueError("export format must be csv or parquet")
    where, params = _event_where(f)
    if errors_only:
        where += " AND status = 'error'"
    fd, tmp = tempfile.mkstemp(suffix="." + fmt)
    os.close(fd)
    try:
        with wh.cursor() as cur:
            rel = cur.sql(
                f"SELECT {', '.join(EVENT_PAGE_COLUMNS)} FROM usage_events WHERE {where} "
                f"ORDER BY ts DESC, request_id LIMIT {EXPORT_LIMIT}",
                params=params,
            )
            if fmt == "parquet":
                rel.write_parquet(tmp)
            else:
                rel.write_csv(tmp, header=True)
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
            return int(cur.execute("SELECT coalesce(sum(requests), 0) FROM usage_hourly").fetchone()[0])
        return int(
            cur.execute(
                "SELECT coalesce(sum(requests), 0) FROM usage_hourly WHERE org_id = ?",
                [check_org_id(org_id)],
            ).fetchone()[0]
        )
