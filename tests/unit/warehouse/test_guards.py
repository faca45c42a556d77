"""Tests that catch a leak or a wrong price: each one fails on a hand-made mutation of core that
left the rest of the suite passing (issue 10, item 7).

* two organizations in one warehouse: nothing of one comes back from the other's queries
  (fails when ``queries._dims_where`` loses its ``org_id`` condition);
* the long-context price band starts *above* 200,000 input tokens in SQL as in Python
  (fails when the SQL boundary ``>`` becomes ``>=``);
* interpolation inside a latency bucket (fails, with a +1% bias, when it is dropped).
"""

from __future__ import annotations

import inspect
import io
import json
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from core.domain import UsageFilter
from core.pricing import price_for
from core.warehouse import queries
from core.warehouse.db import Warehouse
from core.warehouse.ingest import ingest_bytes
from core.warehouse.load import HIST_GAMMA
from core.warehouse.prices import reprice

# -- two organizations at once ----------------------------------------------------------------

A, B = "alpha", "bravo"
DAY = date(2026, 11, 10)
MODELS = [("openai", "gpt-4o"), ("anthropic", "claude-haiku-4-5")]  # shared by both orgs
B_MARKERS = ("bravo-req-", "bravo_only_feature", "bravo-only-model")


def _org_events(org: str, n: int, seed: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        provider, model = MODELS[i % 2]
        if org == B and i % 5 == 0:
            model = "bravo-only-model"
        out.append({
            "request_id": f"{org}-req-{i}",
            "ts": f"{DAY.isoformat()}T{i % 24:02d}:{i % 60:02d}:00Z",
            "provider_name": provider, "request_model": model,
            "feature": "bravo_only_feature" if org == B else "alpha_feature",
            "input_tokens": int(rng.integers(100, 5000)), "output_tokens": 50,
            "cost_usd": 0.001 * (1 + i % 3), "duration_ms": float(rng.lognormal(6.5, 0.4)),
            "status": "error" if i % 7 == 0 else "ok",
            "error_type": "429" if i % 7 == 0 else None,
            "source": "production",
        })
    return out


@pytest.fixture(scope="module")
def two_orgs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    wh = Warehouse(tmp_path_factory.mktemp("two") / "wh.duckdb")
    for org, n, seed in ((A, 120, 1), (B, 300, 2)):
        body = "\n".join(json.dumps(e) for e in _org_events(org, n, seed)).encode()
        report = ingest_bytes(wh, org, body, f"{org}.jsonl")
        assert report.rows_loaded == n
    yield wh
    wh.close()


FLT_A = UsageFilter(org_id=A, start=DAY, end=DAY)


def _text(value: Any) -> str:
    """Everything a result holds, as text (frames, dataclasses, dicts, bytes)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, pd.DataFrame):
        return value.to_csv()
    if isinstance(value, queries.Dashboard):
        return "\n".join(_text(getattr(value, f)) for f in value.__dataclass_fields__)
    if isinstance(value, dict):
        return "\n".join(f"{_text(k)}={_text(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return "\n".join(_text(v) for v in value)
    return repr(value)


def _leaks(value: Any) -> list[str]:
    text = _text(value)
    return [m for m in B_MARKERS if m in text]


def test_the_usage_page_queries_for_one_org_show_nothing_of_the_other(two_orgs: Warehouse) -> None:
    dash = queries.dashboard(two_orgs, FLT_A)
    assert dash.kpis["current"]["requests"] == 120
    assert dash.kpis["current"]["spend"] == pytest.approx(sum(e["cost_usd"]
                                                              for e in _org_events(A, 120, 1)))
    assert set(dash.features["feature"]) == {"alpha_feature"}
    assert int(dash.models["requests"].sum()) == 120
    assert int(dash.latency_daily["samples"].sum()) == sum(
        1 for e in _org_events(A, 120, 1) if e["status"] == "ok")
    assert _leaks(dash) == []

    page = queries.events_page(two_orgs, FLT_A, limit=1000)
    assert len(page) == 120 and page["request_id"].str.startswith("alpha-req-").all()

    exported = queries.export_events(two_orgs, FLT_A, "csv").decode()
    assert exported.count("alpha-req-") == 120 and _leaks(exported) == []
    parquet = pd.read_parquet(io.BytesIO(
        queries.export_events(two_orgs, FLT_A, "parquet")))
    assert len(parquet) == 120 and _leaks(parquet) == []


# Every public function of core.warehouse.queries, called for organization A. A new function
# must be added here (the completeness check below fails otherwise), so it is checked too.
def _calls(wh: Warehouse) -> dict[str, Callable[[], Any]]:
    return {
        "dashboard": lambda: queries.dashboard(wh, FLT_A),
        "filter_options": lambda: queries.filter_options(wh, A),
        "events_page": lambda: queries.events_page(wh, FLT_A, limit=1000),
        "export_events": lambda: queries.export_events(wh, FLT_A, "csv")
        + queries.export_events(wh, FLT_A, "parquet"),
        "event_count": lambda: queries.event_count(wh, A),
        "last_data_day": lambda: queries.last_data_day(wh, A),
        "model_performance": lambda: queries.model_performance(wh, A, as_of=DAY),
        "models_in_use": lambda: queries.models_in_use(wh, A),
    }


# Public functions that read no organization's data, or list organizations by design.
NOT_ORG_SCOPED = {
    "org_ids": "the instance owner's organization switcher lists every organization",
    "group_quantiles": "pure numpy",
    "percentiles_from_hist": "pure pandas",
    "kpi_delta": "pure",
    "default_date_range": "pure",
}


def test_every_public_query_for_one_org_returns_nothing_of_the_other(two_orgs: Warehouse) -> None:
    public = {name for name, fn in inspect.getmembers(queries, inspect.isfunction)
              if fn.__module__ == queries.__name__ and not name.startswith("_")
              and "__mutmut" not in name}  # `make mutate` adds its own copies of each function
    calls = _calls(two_orgs)
    assert public == set(calls) | set(NOT_ORG_SCOPED), "add the new query to _calls"
    for name, call in calls.items():
        assert _leaks(call()) == [], name
    assert queries.event_count(two_orgs, A) == 120
    assert queries.last_data_day(two_orgs, A) == DAY
    perf = queries.model_performance(two_orgs, A, as_of=DAY)
    assert set(perf) == set(MODELS) and sum(p.requests for p in perf.values()) == 120
    assert queries.filter_options(two_orgs, A)["features"] == ["alpha_feature"]
    assert queries.org_ids(two_orgs) == [A, B]  # both exist: the test is not vacuous


# -- the long-context price band boundary -----------------------------------------------------

TIERED = ("anthropic", "claude-sonnet-4-5")  # genai-prices: a >200k input-token tier


@pytest.fixture()
def wh(tmp_path: Path) -> Iterator[Warehouse]:
    w = Warehouse(tmp_path / "wh.duckdb")
    yield w
    w.close()


def _tiered_events() -> list[dict[str, Any]]:
    provider, model = TIERED
    return [{"request_id": f"band-{n}", "ts": "2026-11-01T10:00:00Z", "provider_name": provider,
             "request_model": model, "input_tokens": n, "output_tokens": 1000}
            for n in (199_999, 200_000, 200_001)]


def _costs(wh: Warehouse) -> dict[str, list[float]]:
    with wh.cursor() as cur:
        rows = cur.execute("SELECT request_id, cost_usd FROM usage_events").fetchall()
    out: dict[str, list[float]] = {}
    for rid, cost in rows:
        out.setdefault(rid, []).append(cost)
    return out


def _python_cost(n: int) -> float:
    price = price_for(*TIERED, at=datetime(2026, 11, 1, 10))
    assert price.tiered
    cost = price.cost(n, 1000)
    assert cost is not None
    return cost


def test_exactly_200k_input_tokens_is_priced_at_the_base_rate_in_sql(wh: Warehouse) -> None:
    body = "\n".join(json.dumps(e) for e in _tiered_events()).encode()
    report = ingest_bytes(wh, "acme", body, "band.jsonl")
    assert report.rows_loaded == 3 and report.costs_computed == 3
    costs = _costs(wh)
    base = price_for(*TIERED, at=datetime(2026, 11, 1, 10)).bands[0]
    at_boundary = (200_000 * base.input_per_mtok + 1000 * base.output_per_mtok) / 1e6
    assert costs["band-200000"] == [pytest.approx(at_boundary, rel=1e-12)]
    for n in (199_999, 200_000, 200_001):
        assert costs[f"band-{n}"] == [pytest.approx(_python_cost(n), rel=1e-12)]
    # the tier above is dearer per token: the boundary is where the price jumps
    assert costs["band-200001"][0] > 1.5 * costs["band-200000"][0]

    # re-pricing joins the same bands
    with wh.cursor() as cur:
        cur.execute("UPDATE usage_events SET cost_usd = NULL")
    reprice(wh, "acme", only_missing=True)
    assert _costs(wh) == costs


# -- interpolation inside a latency bucket ----------------------------------------------------


def test_a_percentile_inside_one_bucket_is_interpolated() -> None:
    """All samples spread evenly (in log space) through one bucket: the p50 lies halfway.

    Without interpolation the estimate is the bucket's lower edge (−1%) or upper edge (+1%):
    the tolerance here is a tenth of that.
    """
    bucket = 300  # [G**300, G**301) ms, about 380–388 ms
    n = 1000
    lo = HIST_GAMMA ** bucket
    exact = HIST_GAMMA ** (bucket + 0.5)
    g, values, samples = queries.group_quantiles(
        np.zeros(1, dtype=np.int64), np.array([bucket]), np.array([n]), (0.5, 0.95))
    assert samples.tolist() == [n]
    assert values["p50"][0] == pytest.approx(exact, rel=1e-3)
    assert values["p95"][0] == pytest.approx(HIST_GAMMA ** (bucket + 0.95), rel=1e-3)
    assert abs(values["p50"][0] / lo - 1) > 0.005  # not the bucket's edge


def test_percentiles_from_a_known_distribution_within_a_tenth_of_a_bucket() -> None:
    """Durations uniform in log space over 40 buckets: every quantile is known exactly."""
    buckets = np.arange(250, 290)
    counts = np.full(len(buckets), 250)
    hist = pd.DataFrame({"bucket": buckets, "n": counts})
    got = queries.percentiles_from_hist(hist, [])
    for p, name in ((0.5, "p50"), (0.95, "p95"), (0.99, "p99")):
        exact = HIST_GAMMA ** (buckets[0] + p * len(buckets))
        assert got[name].iloc[0] == pytest.approx(exact, rel=0.001), name
