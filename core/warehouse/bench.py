"""Warehouse benchmark: the Usage page's queries on rollups vs pandas on the raw events.

Both sides answer the same questions for the same filter (the last 30 days, everything
selected, compared with the 30 days before): KPIs, daily cost, latency percentiles per
day and model, the model table, errors by provider and type, cost by feature, the error
timeline, the newest 200 events and the filter options. Switchyard goes through
``core.warehouse.queries`` exactly as the page does; pandas works on a DataFrame already in
memory (loading it is not timed), which is the fastest a notebook could be.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from core.domain import UsageFilter
from core.warehouse import queries
from core.warehouse.db import Warehouse
from core.warehouse.demo import generate
from core.warehouse.ingest import ingest_path

ORG = "bench"
SEED = 7
END = date(2026, 3, 31)  # fixed, so runs on different days are comparable
PANDAS_MAX_REPEAT = 3


def _median_ms(fn: Callable[[], Any], repeat: int) -> float:
    fn()  # warm-up: caches, connection, page-in
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def switchyard_page(wh: Warehouse, f: UsageFilter) -> tuple[Any, ...]:
    """Everything the Usage page asks the warehouse for on one render."""
    return (
        queries.dashboard(wh, f),
        queries.events_page(wh, f, limit=200),
        queries.filter_options(wh, f.org_id),
    )


def _q(s: pd.Series, p: float) -> float:
    return float(s.quantile(p)) if len(s) else float("nan")


def pandas_page(df: pd.DataFrame, f: UsageFilter) -> dict[str, Any]:
    """The same answers computed directly from raw events with pandas (exact percentiles)."""
    prev = f.previous_period()
    lo = pd.Timestamp(datetime.combine(f.start, datetime.min.time()))
    prev_lo = pd.Timestamp(datetime.combine(prev.start, datetime.min.time()))
    hi = pd.Timestamp(datetime.combine(f.end + timedelta(days=1), datetime.min.time()))
    in_org = df["org_id"] == f.org_id
    ts = df["ts"]
    cur = df[in_org & (ts >= lo) & (ts < hi)]
    before = df[in_org & (ts >= prev_lo) & (ts < lo)]

    def kpis(d: pd.DataFrame) -> dict[str, float | None]:
        ok = d["duration_ms"][d["status"] == "ok"]
        n = len(d)
        return {
            "spend": float(d["cost_usd"].sum()),
            "requests": float(n),
            "tokens": float(d["input_tokens"].sum() + d["output_tokens"].sum()),
            "p95_ms": _q(ok, 0.95) if len(ok) else None,
            "error_rate": float((d["status"] == "error").sum() / n) if n else None,
        }

    cur = cur.assign(
        day=cur["ts"].dt.floor("D"),
        is_error=cur["status"] == "error",
        tokens=cur["input_tokens"] + cur["output_tokens"],
    )
    ok = cur[~cur["is_error"]]
    g = {"observed": True, "sort": False}
    daily_cost = cur.groupby(["day", "provider_name", "request_model", "feature"], **g).agg(
        cost_usd=("cost_usd", "sum"), requests=("ts", "size")
    )
    latency_daily = ok.groupby(["day", "request_model"], **g)["duration_ms"].quantile(
        [0.5, 0.95, 0.99]
    ).unstack()
    models = cur.groupby(["provider_name", "request_model"], **g).agg(
        requests=("ts", "size"), errors=("is_error", "sum"), cost_usd=("cost_usd", "sum"),
        tokens=("tokens", "sum"),
    )
    model_lat = ok.groupby(["provider_name", "request_model"], **g)["duration_ms"]
    models = models.join(model_lat.mean().rename("avg_ms")).join(
        model_lat.quantile([0.5, 0.95]).unstack()
    )
    models["error_rate"] = models["errors"] / models["requests"]
    models["cost_per_1k"] = models["cost_usd"] / models["requests"] * 1000
    providers = cur.groupby("provider_name", **g).agg(
        requests=("ts", "size"), errors=("is_error", "sum")
    )
    providers["error_rate"] = providers["errors"] / providers["requests"]
    errs = cur[cur["is_error"]]
    error_types = errs.groupby(["provider_name", "error_type"], **g).size().sort_values(
        ascending=False
    )
    features = cur.groupby("feature", **g).agg(
        cost_usd=("cost_usd", "sum"), requests=("ts", "size")
    )
    features["share"] = features["cost_usd"] / features["cost_usd"].sum()
    grain = "h" if f.days <= 14 else "D"
    timeline = cur.groupby([cur["ts"].dt.floor(grain), "provider_name"], **g).agg(
        requests=("ts", "size"), errors=("is_error", "sum")
    )
    newest = cur.nlargest(200, "ts", keep="all").sort_values(
        ["ts", "request_id"], ascending=[False, True]
    ).head(200)[queries.EVENT_PAGE_COLUMNS]
    org = df.loc[in_org, ["provider_name", "request_model", "feature", "source"]]
    combos = org.drop_duplicates()
    options: dict[str, Any] = {
        col: sorted(combos[col].unique().tolist()) for col in combos.columns
    }
    options["model_provider"] = dict(
        combos[["request_model", "provider_name"]].drop_duplicates().itertuples(index=False)
    )
    org_ts = ts[in_org]
    options["span"] = [org_ts.min(), org_ts.max()]
    return {
        "kpis": {"current": kpis(cur), "previous": kpis(before)},
        "daily_cost": daily_cost, "latency_daily": latency_daily, "models": models,
        "providers": providers, "error_types": error_types, "features": features,
        "timeline": timeline, "events": newest, "options": options,
    }


def run_warehouse_bench(
    events: int, days: int = 60, repeat: int = 5, progress: Callable[[str], None] | None = None
) -> dict[str, float | int]:
    """Generate, ingest and query ``events`` demo events; see the module docstring."""
    say = progress or (lambda _m: None)
    tmp = Path(tempfile.mkdtemp(prefix="switchyard-bench-"))
    wh: Warehouse | None = None
    try:
        say(f"Generating {events:,} events over {days} days…")
        path = tmp / "events.parquet"
        table = generate(events, days, SEED, org_id=ORG, end=END)
        pq.write_table(table, path)  # as pyarrow writes it by default
        del table

        say("Ingesting the Parquet file into a fresh warehouse…")
        wh = Warehouse(tmp / "bench.duckdb", idle_close_s=2.0)  # as the app opens it
        t = time.perf_counter()
        report = ingest_path(wh, ORG, path)
        ingest_s = time.perf_counter() - t
        if report.rows_loaded != events:
            raise RuntimeError(f"ingest loaded {report.rows_loaded:,} of {events:,} events")
        say(f"  {report.summary()} in {ingest_s:.2f} s")

        opts = queries.filter_options(wh, ORG)
        last = opts["last_day"]  # the page's default filter: the last 30 days, everything
        f = UsageFilter(org_id=ORG, start=max(opts["first_day"], last - timedelta(days=29)), end=last)
        say(f"Timing the Usage page's queries ({repeat} runs after a warm-up)…")
        switchyard_ms = _median_ms(lambda: switchyard_page(wh, f), repeat)
        say(f"  switchyard: {switchyard_ms:.1f} ms")

        say("Loading the same events into pandas (not timed)…")
        df = pd.read_parquet(path)
        runs = min(repeat, PANDAS_MAX_REPEAT)
        say(f"Timing the same aggregations in pandas ({runs} runs after a warm-up)…")
        pandas_ms = _median_ms(lambda: pandas_page(df, f), runs)
        say(f"  pandas: {pandas_ms:.1f} ms")
    finally:
        if wh is not None:
            wh.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        "events": events,
        "switchyard_ms": round(switchyard_ms, 2),
        "pandas_ms": round(pandas_ms, 2),
        "ratio": round(pandas_ms / switchyard_ms, 2),
        "ingest_events_per_s": round(events / ingest_s),
    }
