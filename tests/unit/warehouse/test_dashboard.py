"""The Usage & Cost page's exact numbers, from a warehouse small enough to compute by hand.

Eight events for organization "acme" (and one for "other", which must never show): six in the
current period (10-12 November), one in the previous period (7-9 November) and one on the
day after the period (13 November, outside every figure). Latencies are of successful calls
only and come from the log-bucketed histograms, so the expected percentiles are written as
``G ** (bucket + fraction)`` with the fraction of the bucket the quantile's rank reaches.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from core.domain import UsageFilter
from core.warehouse import queries
from core.warehouse.db import Warehouse
from core.warehouse.ingest import ingest_bytes
from core.warehouse.load import HIST_GAMMA, HIST_LN

G = HIST_GAMMA
ORG, OTHER = "acme", "other"
START, END = date(2026, 11, 10), date(2026, 11, 12)
FLT = UsageFilter(org_id=ORG, start=START, end=END)
NAN = float("nan")


def _bucket(ms: float) -> int:
    """The histogram bucket of a duration, as load.BUCKET_SQL computes it."""
    return math.floor(math.log(ms) / HIST_LN)


B100, B200, B300, B400 = (_bucket(ms) for ms in (100.0, 200.0, 300.0, 400.0))


def _event(rid: str, ts: str, provider: str, model: str, feature: str, source: str,
           tokens: tuple[int, int], cost: float, ms: float | None = None,
           error: str | None = None, org: str = ORG) -> dict[str, Any]:
    e: dict[str, Any] = {
        "request_id": rid, "ts": ts, "provider_name": provider, "request_model": model,
        "feature": feature, "source": source, "input_tokens": tokens[0],
        "output_tokens": tokens[1], "cost_usd": cost, "status": "error" if error else "ok",
        "error_type": error,
    }
    if ms is not None:
        e["duration_ms"] = ms
    return e


EVENTS = [
    # current period
    _event("e1", "2026-11-10T09:15:00Z", "openai", "gpt-4o", "support", "production",
           (100, 50), 0.30, 100.0),
    _event("e2", "2026-11-10T09:40:00Z", "openai", "gpt-4o", "support", "production",
           (200, 100), 0.20, 200.0),
    _event("e3", "2026-11-10T14:00:00Z", "openai", "gpt-4o", "support", "benchmark",
           (10, 0), 0.0, error="429"),
    _event("e4", "2026-11-11T10:00:00Z", "anthropic", "claude-haiku-4-5", "search",
           "production", (1000, 10), 0.05, 400.0),
    _event("e5", "2026-11-12T23:30:00Z", "anthropic", "claude-haiku-4-5", "search",
           "production", (20, 0), 0.01, error="500"),
    _event("e6", "2026-11-12T08:00:00Z", "mistral_ai", "mistral-small", "summarize", "health",
           (30, 0), 0.02, error="timeout"),
    # previous period
    _event("p1", "2026-11-08T12:00:00Z", "openai", "gpt-4o", "support", "production",
           (100, 100), 0.40, 300.0),
    # the day after the period
    _event("a1", "2026-11-13T00:00:00Z", "openai", "gpt-4o", "support", "production",
           (1, 1), 5.0, 50.0),
]
OTHER_EVENTS = [
    _event("x1", "2026-11-10T09:00:00Z", "openai", "gpt-4o", "other_feature", "production",
           (7, 7), 9.99, 900.0, org=OTHER),
]


def _jsonl(events: list[dict[str, Any]]) -> bytes:
    return "\n".join(json.dumps(e) for e in events).encode()


@pytest.fixture(scope="module")
def wh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    w = Warehouse(tmp_path_factory.mktemp("dash") / "wh.duckdb")
    assert ingest_bytes(w, ORG, _jsonl(EVENTS), "acme.jsonl").rows_loaded == len(EVENTS)
    assert ingest_bytes(w, OTHER, _jsonl(OTHER_EVENTS), "other.jsonl").rows_loaded == 1
    yield w
    w.close()


@pytest.fixture()
def dash(wh: Warehouse) -> queries.Dashboard:
    # Per test, not per module: mutmut maps a function to the tests that call it, and a
    # module-scoped result would tie dashboard() to the first test only.
    return queries.dashboard(wh, FLT)


def _frame(rows: list[tuple], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns)


def _same(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Same columns in the same order, same rows in the same order, index 0..n-1."""
    assert list(got.columns) == list(expected.columns)
    assert list(got.index) == list(range(len(expected)))
    pd.testing.assert_frame_equal(got, expected, check_dtype=False, check_index_type=False)


# -- the KPIs, current against previous ---------------------------------------------------------


def test_kpis_of_the_current_and_previous_periods(dash: queries.Dashboard) -> None:
    cur, prev = dash.kpis["current"], dash.kpis["previous"]
    assert cur == {
        "spend": pytest.approx(0.58), "requests": 6.0, "tokens": 1520.0,
        # p95 of 100, 200 and 400 ms: rank 2.85 is 85% into the 400 ms bucket
        "p95_ms": pytest.approx(G ** (B400 + 0.85), rel=1e-12), "error_rate": 0.5,
    }
    # one successful call and no error: the error rate is 0, not missing
    assert prev == {
        "spend": pytest.approx(0.40), "requests": 1.0, "tokens": 200.0,
        "p95_ms": pytest.approx(G ** (B300 + 0.95), rel=1e-12), "error_rate": 0.0,
    }
    assert not dash.empty
    assert dash.delta("spend") == "+45.0%"
    assert dash.delta("requests") == "+500.0%"
    assert dash.delta("error_rate") == "+50.00 pp"


def test_an_organization_without_data_has_an_empty_dashboard(wh: Warehouse) -> None:
    dash = queries.dashboard(wh, UsageFilter(org_id="nobody", start=START, end=END))
    empty = {"spend": 0.0, "requests": 0.0, "tokens": 0.0, "p95_ms": None, "error_rate": None}
    assert dash.kpis == {"current": empty, "previous": empty}
    assert dash.empty and dash.delta("spend") is None
    columns = {
        "daily_cost": ["day", "provider_name", "request_model", "feature", "cost_usd",
                       "requests"],
        "latency_daily": ["day", "request_model", "p50", "p95", "p99", "samples"],
        "models": ["provider_name", "request_model", "requests", "errors", "cost_usd", "tokens",
                   "avg_ms", "p50", "p95", "error_rate", "cost_per_1k"],
        "providers": ["provider_name", "requests", "errors", "error_rate"],
        "error_types": ["provider_name", "error_type", "n"],
        "features": ["feature", "cost_usd", "requests", "share"],
        "timeline": ["period", "provider_name", "requests", "errors"],
    }
    for name, cols in columns.items():
        frame = getattr(dash, name)
        assert frame.empty and list(frame.columns) == cols, name


def test_a_period_with_calls_but_no_latency_has_no_p95(wh: Warehouse) -> None:
    """Only the failed call of 12 November: requests and errors, but no successful duration."""
    dash = queries.dashboard(wh, UsageFilter(org_id=ORG, start=END, end=END,
                                             providers=["mistral_ai"]))
    assert dash.kpis["current"] == {"spend": pytest.approx(0.02), "requests": 1.0,
                                    "tokens": 30.0, "p95_ms": None, "error_rate": 1.0}
    assert dash.latency_daily.empty
    _same(dash.models, _frame(
        [("mistral_ai", "mistral-small", 1, 1, 0.02, 30, NAN, NAN, NAN, 1.0, 20.0)],
        list(dash.models.columns)))


# -- the frames the page draws ----------------------------------------------------------------


def test_daily_cost_by_day_provider_model_and_feature(dash: queries.Dashboard) -> None:
    _same(dash.daily_cost, _frame([
        (date(2026, 11, 10), "openai", "gpt-4o", "support", 0.50, 3),
        (date(2026, 11, 11), "anthropic", "claude-haiku-4-5", "search", 0.05, 1),
        (date(2026, 11, 12), "anthropic", "claude-haiku-4-5", "search", 0.01, 1),
        (date(2026, 11, 12), "mistral_ai", "mistral-small", "summarize", 0.02, 1),
    ], ["day", "provider_name", "request_model", "feature", "cost_usd", "requests"]))
    assert all(type(d) is date for d in dash.daily_cost["day"])  # dates, not timestamps


def test_latency_by_day_and_model(dash: queries.Dashboard) -> None:
    # gpt-4o on the 10th: 100 ms and 200 ms. The median's rank (1 of 2) is the whole first
    # bucket; p95 and p99 are 90% and 98% into the second.
    _same(dash.latency_daily, _frame([
        (date(2026, 11, 10), "gpt-4o", G ** (B100 + 1), G ** (B200 + 0.9), G ** (B200 + 0.98), 2),
        (date(2026, 11, 11), "claude-haiku-4-5", G ** (B400 + 0.5), G ** (B400 + 0.95),
         G ** (B400 + 0.99), 1),
    ], ["day", "request_model", "p50", "p95", "p99", "samples"]))
    assert dash.latency_daily["samples"].dtype == np.int64


def test_models_sorted_by_cost_with_rates_and_latency(dash: queries.Dashboard) -> None:
    _same(dash.models, _frame([
        ("openai", "gpt-4o", 3, 1, 0.50, 460, 150.0, G ** (B100 + 1), G ** (B200 + 0.9),
         1 / 3, 0.50 / 3 * 1000),
        # one successful call: its duration is the average
        ("anthropic", "claude-haiku-4-5", 2, 1, 0.06, 1030, 400.0, G ** (B400 + 0.5),
         G ** (B400 + 0.95), 0.5, 30.0),
        # failed calls only: no latency, but still listed
        ("mistral_ai", "mistral-small", 1, 1, 0.02, 30, NAN, NAN, NAN, 1.0, 20.0),
    ], ["provider_name", "request_model", "requests", "errors", "cost_usd", "tokens", "avg_ms",
        "p50", "p95", "error_rate", "cost_per_1k"]))


def test_providers_sorted_by_error_rate(dash: queries.Dashboard) -> None:
    _same(dash.providers, _frame([
        ("mistral_ai", 1, 1, 1.0),
        ("anthropic", 2, 1, 0.5),
        ("openai", 3, 1, 1 / 3),
    ], ["provider_name", "requests", "errors", "error_rate"]))


def test_features_sorted_by_cost_with_their_share(dash: queries.Dashboard) -> None:
    _same(dash.features, _frame([
        ("support", 0.50, 3, 0.50 / 0.58),
        ("search", 0.06, 2, 0.06 / 0.58),
        ("summarize", 0.02, 1, 0.02 / 0.58),
    ], ["feature", "cost_usd", "requests", "share"]))


def test_features_that_cost_nothing_have_a_zero_share(wh: Warehouse) -> None:
    dash = queries.dashboard(wh, UsageFilter(org_id=ORG, start=START, end=END,
                                             sources=["benchmark"]))
    _same(dash.features, _frame([("support", 0.0, 1, 0.0)],
                                ["feature", "cost_usd", "requests", "share"]))


def test_error_types(dash: queries.Dashboard) -> None:
    got = dash.error_types.sort_values("provider_name", ignore_index=True)
    _same(got, _frame([("anthropic", "500", 1), ("mistral_ai", "timeout", 1),
                       ("openai", "429", 1)], ["provider_name", "error_type", "n"]))


def test_the_timeline_is_hourly_for_a_short_period(dash: queries.Dashboard) -> None:
    _same(dash.timeline, _frame([
        (datetime(2026, 11, 10, 9), "openai", 2, 0, 0.0),
        (datetime(2026, 11, 10, 14), "openai", 1, 1, 1.0),
        (datetime(2026, 11, 11, 10), "anthropic", 1, 0, 0.0),
        (datetime(2026, 11, 12, 8), "mistral_ai", 1, 1, 1.0),
        (datetime(2026, 11, 12, 23), "anthropic", 1, 1, 1.0),
    ], ["period", "provider_name", "requests", "errors", "error_rate"]))


def _timeline(wh: Warehouse, days: int) -> list[tuple[datetime, str, int, int, float]]:
    f = UsageFilter(org_id=ORG, start=START, end=START + timedelta(days=days - 1),
                    providers=["openai"])
    t = queries.dashboard(wh, f).timeline
    cols = ["period", "provider_name", "requests", "errors", "error_rate"]
    return [(p.to_pydatetime(), prov, int(r), int(e), pytest.approx(rate))
            for p, prov, r, e, rate in t[cols].itertuples(index=False)]


def test_the_timeline_is_hourly_up_to_14_days_and_daily_beyond(wh: Warehouse) -> None:
    hourly = [(datetime(2026, 11, 10, 9), "openai", 2, 0, 0.0),
              (datetime(2026, 11, 10, 14), "openai", 1, 1, 1.0),
              (datetime(2026, 11, 13, 0), "openai", 1, 0, 0.0)]
    assert _timeline(wh, 1) == hourly[:2]
    assert _timeline(wh, 14) == hourly
    assert _timeline(wh, 15) == [(datetime(2026, 11, 10), "openai", 3, 1, 1 / 3),
                                 (datetime(2026, 11, 13), "openai", 1, 0, 0.0)]


# -- filters ----------------------------------------------------------------------------------


def test_the_day_after_the_period_is_outside_it(wh: Warehouse, dash: queries.Dashboard) -> None:
    """a1 (13 November, 00:00) belongs to no figure of a period ending on the 12th."""
    assert "a1" not in queries.events_page(wh, FLT)["request_id"].tolist()
    assert dash.kpis["current"]["requests"] == 6
    longer = queries.dashboard(wh, FLT.model_copy(update={"end": date(2026, 11, 13)}))
    assert longer.kpis["current"]["requests"] == 7
    assert longer.kpis["current"]["spend"] == pytest.approx(5.58)


@pytest.mark.parametrize(("spec", "requests", "spend"), [
    ({"providers": ["anthropic", "mistral_ai"]}, 3, 0.08),
    ({"models": ["gpt-4o", "mistral-small"]}, 4, 0.52),
    ({"features": ["search", "summarize"]}, 3, 0.08),
    ({"sources": ["benchmark", "health"]}, 2, 0.02),
    ({"sources": ["production"]}, 4, 0.56),
    ({"providers": ["openai"], "sources": ["production"]}, 2, 0.50),
])
def test_each_filter_keeps_only_its_values(wh: Warehouse, spec: dict[str, list[str]],
                                           requests: int, spend: float) -> None:
    f = UsageFilter(org_id=ORG, start=START, end=END, **spec)
    kpis = queries.dashboard(wh, f).kpis["current"]
    assert (kpis["requests"], kpis["spend"]) == (requests, pytest.approx(spend))
    page = queries.events_page(wh, f)
    assert len(page) == requests
    assert queries.export_events(wh, f, "csv").decode().count("\n") == requests + 1


# -- events pages and export -----------------------------------------------------------------


def test_event_pages_newest_first(wh: Warehouse) -> None:
    newest_first = ["e5", "e6", "e4", "e3", "e2", "e1"]
    assert queries.events_page(wh, FLT)["request_id"].tolist() == newest_first
    for offset in range(7):
        for limit in (1, 2, 3):
            page = queries.events_page(wh, FLT, limit=limit, offset=offset)
            assert page["request_id"].tolist() == newest_first[offset:offset + limit]
    errors = queries.events_page(wh, FLT, errors_only=True)
    assert errors["request_id"].tolist() == ["e5", "e6", "e3"]
    assert list(errors.columns) == queries.EVENT_PAGE_COLUMNS


def test_an_event_page_holds_200_events_by_default(tmp_path: Path) -> None:
    w = Warehouse(tmp_path / "many.duckdb")
    try:
        events = [_event(f"m{i:03d}", f"2026-11-10T{i // 60:02d}:{i % 60:02d}:00Z", "openai",
                         "gpt-4o", "support", "production", (1, 1), 0.001, 100.0)
                  for i in range(201)]
        assert ingest_bytes(w, ORG, _jsonl(events), "many.jsonl").rows_loaded == 201
        page = queries.events_page(w, UsageFilter(org_id=ORG, start=START, end=START))
        assert len(page) == 200
        assert page["request_id"].iloc[0] == "m200" and page["request_id"].iloc[-1] == "m001"
    finally:
        w.close()


def test_parquet_export_holds_the_filtered_events(wh: Warehouse) -> None:
    import io

    got = pd.read_parquet(io.BytesIO(queries.export_events(wh, FLT, "parquet")))
    assert got["request_id"].tolist() == ["e5", "e6", "e4", "e3", "e2", "e1"]
    assert list(got.columns) == queries.EVENT_PAGE_COLUMNS
    with pytest.raises(ValueError, match="export format must be csv or parquet"):
        queries.export_events(wh, FLT, "xlsx")


# -- filter options, counts, last day -------------------------------------------------------------


def test_filter_options_of_one_organization(wh: Warehouse) -> None:
    assert queries.filter_options(wh, ORG) == {
        "providers": ["anthropic", "mistral_ai", "openai"],
        "models": ["claude-haiku-4-5", "gpt-4o", "mistral-small"],
        "model_provider": {"claude-haiku-4-5": "anthropic", "gpt-4o": "openai",
                           "mistral-small": "mistral_ai"},
        "features": ["search", "summarize", "support"],
        "sources": ["benchmark", "health", "production"],
        "first_day": date(2026, 11, 8),
        "last_day": date(2026, 11, 13),
    }


def test_counts_and_days_of_one_organization(wh: Warehouse) -> None:
    assert queries.event_count(wh, ORG) == 8
    assert queries.event_count(wh, OTHER) == 1
    assert queries.event_count(wh) == 9
    assert queries.event_count(wh, "nobody") == 0
    assert queries.last_data_day(wh, ORG) == date(2026, 11, 13)
    assert queries.last_data_day(wh, "nobody") is None
    assert queries.org_ids(wh) == [ORG, OTHER]
    assert queries.models_in_use(wh, ORG) == [("anthropic", "claude-haiku-4-5"),
                                             ("mistral_ai", "mistral-small"),
                                             ("openai", "gpt-4o")]


# -- measured performance per model ------------------------------------------------------------


def test_model_performance_over_three_days(wh: Warehouse) -> None:
    perf = queries.model_performance(wh, ORG, as_of=END, days=3)
    assert set(perf) == {("openai", "gpt-4o"), ("anthropic", "claude-haiku-4-5"),
                         ("mistral_ai", "mistral-small")}
    assert perf[("openai", "gpt-4o")] == queries.ModelPerformance(
        provider_name="openai", model="gpt-4o", requests=3, errors=1,
        cost_usd=pytest.approx(0.50), avg_ms=150.0,
        p95_ms=pytest.approx(G ** (B200 + 0.9), rel=1e-12),
        success_rate=pytest.approx(2 / 3), tokens_per_s=pytest.approx(150 / 0.3),
        requests_per_min=3 / (3 * 24 * 60), requests_today=0, cost_today=0.0,
        requests_prev=1, growth_pct=200.0)
    assert perf[("anthropic", "claude-haiku-4-5")] == queries.ModelPerformance(
        provider_name="anthropic", model="claude-haiku-4-5", requests=2, errors=1,
        cost_usd=pytest.approx(0.06), avg_ms=400.0,
        p95_ms=pytest.approx(G ** (B400 + 0.95), rel=1e-12), success_rate=0.5,
        tokens_per_s=pytest.approx(10 / 0.4), requests_per_min=2 / (3 * 24 * 60),
        requests_today=1, cost_today=pytest.approx(0.01), requests_prev=0, growth_pct=None)
    assert perf[("mistral_ai", "mistral-small")] == queries.ModelPerformance(
        provider_name="mistral_ai", model="mistral-small", requests=1, errors=1,
        cost_usd=pytest.approx(0.02), avg_ms=None, p95_ms=None, success_rate=0.0,
        tokens_per_s=None, requests_per_min=1 / (3 * 24 * 60), requests_today=1,
        cost_today=pytest.approx(0.02), requests_prev=0, growth_pct=None)


def test_model_performance_over_one_day_and_by_source(wh: Warehouse) -> None:
    """A one-day window is allowed; the day after ``as_of`` is outside it."""
    perf = queries.model_performance(wh, ORG, as_of=START, days=1)
    gpt = perf[("openai", "gpt-4o")]
    assert (gpt.requests, gpt.requests_today, gpt.requests_prev) == (3, 3, 0)
    assert gpt.requests_per_min == 3 / (24 * 60)
    perf = queries.model_performance(wh, ORG, as_of=END, days=1)
    assert perf[("anthropic", "claude-haiku-4-5")].requests == 1
    assert ("openai", "gpt-4o") not in perf  # a1 is on the 13th
    only = queries.model_performance(wh, ORG, as_of=END, days=3, sources=["benchmark"])
    assert list(only) == [("openai", "gpt-4o")] and only[("openai", "gpt-4o")].requests == 1
    with pytest.raises(ValueError, match="days must be at least 1"):
        queries.model_performance(wh, ORG, as_of=END, days=0)


@pytest.fixture()
def far_from_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A local time zone whose date differs from the UTC date right now."""
    if not hasattr(time, "tzset"):
        pytest.skip("needs time.tzset")
    # UTC+14 is a day ahead from 10:00 UTC on, UTC-12 a day behind until 12:00 UTC
    zone = "Etc/GMT-14" if datetime.now(UTC).hour >= 10 else "Etc/GMT+12"
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    yield zone
    monkeypatch.undo()
    time.tzset()
    assert os.environ.get("TZ") != zone


def test_model_performance_today_is_the_utc_day(tmp_path: Path, far_from_utc: str) -> None:
    today = datetime.now(UTC).date()
    assert datetime.now().date() != today  # the test is not vacuous
    w = Warehouse(tmp_path / "today.duckdb")
    try:
        ts = f"{today.isoformat()}T12:00:00Z"
        body = _jsonl([_event("t1", ts, "openai", "gpt-4o", "support", "production", (1, 1),
                              0.5, 100.0)])
        assert ingest_bytes(w, ORG, body, "today.jsonl").rows_loaded == 1
        perf = queries.model_performance(w, ORG)[("openai", "gpt-4o")]
        assert (perf.requests, perf.requests_today) == (1, 1)
    finally:
        w.close()


def test_latency_by_day_and_model_is_sorted_whatever_the_rows_order() -> None:
    """The histogram rows arrive in any order (a hash aggregate): the frame is sorted by day
    and model name, indexed 0..n-1, and each model's codes map back to its own name."""
    import pyarrow as pa

    hist = pa.table({
        "day": pa.array([date(2026, 11, 11), date(2026, 11, 10), date(2026, 11, 10)],
                        pa.date32()),
        "provider_name": ["openai", "openai", "anthropic"],
        "request_model": ["gpt-4o", "gpt-4o", "claude-haiku-4-5"],
        "bucket": pa.array([B200, B100, B400], pa.int16()),
        "n": pa.array([1, 1, 1], pa.int64()),
    })
    pct = queries._HistPercentiles(hist, START)
    _same(pct.by_day_model(), _frame([
        (date(2026, 11, 10), "claude-haiku-4-5", G ** (B400 + 0.5), G ** (B400 + 0.95),
         G ** (B400 + 0.99), 1),
        (date(2026, 11, 10), "gpt-4o", G ** (B100 + 0.5), G ** (B100 + 0.95),
         G ** (B100 + 0.99), 1),
        (date(2026, 11, 11), "gpt-4o", G ** (B200 + 0.5), G ** (B200 + 0.95),
         G ** (B200 + 0.99), 1),
    ], ["day", "request_model", "p50", "p95", "p99", "samples"]))
    by_model = pct.by_provider_model().sort_values("request_model", ignore_index=True)
    _same(by_model, _frame([
        ("anthropic", "claude-haiku-4-5", G ** (B400 + 0.5), G ** (B400 + 0.95)),
        ("openai", "gpt-4o", G ** (B100 + 1), G ** (B200 + 0.9)),
    ], ["provider_name", "request_model", "p50", "p95"]))
    assert pct.total_p95() == pytest.approx(G ** (B400 + 0.85), rel=1e-12)
