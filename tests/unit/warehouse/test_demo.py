"""Demo history: deterministic, shaped like real traffic, priced by genai-prices, idempotent."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from genai_prices import Usage, calc_price

from core.pricing import GENAI_PRICES_PROVIDER
from core.warehouse import demo
from core.warehouse.db import Warehouse
from core.warehouse.load import CANONICAL_COLUMNS
from core.warehouse.queries import event_count

END = date(2026, 2, 28)
FEATURES = {"photo_analysis", "description_generation", "safety_chat", "search_processing"}
PROVIDER_MODELS = {
    "gcp.gemini": {"gemini-1.5-flash", "gemini-1.5-pro", "gemini-2.0-flash", "gemini-2.5-flash",
                   "gemini-2.5-pro"},
    "openai": {"gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-5", "gpt-5-mini"},
    "anthropic": {"claude-haiku-4-5", "claude-sonnet-4-5", "claude-opus-4-1"},
    "mistral_ai": {"mistral-large-latest", "mistral-small-latest"},
    "ollama": {"llama3.2-vision:11b"},
}


@pytest.fixture(scope="module")
def events() -> pd.DataFrame:
    return demo.generate(120_000, 42, seed=5, end=END).to_pandas()


def test_same_arguments_give_the_same_table() -> None:
    a = demo.generate(20_000, 20, seed=3, end=END)
    b = demo.generate(20_000, 20, seed=3, end=END)
    assert a.equals(b)
    c = demo.generate(20_000, 20, seed=4, end=END)
    assert not a.equals(c)
    assert not a.column("duration_ms").equals(c.column("duration_ms"))
    assert demo.generate(0, 5, seed=1, end=END).num_rows == 0


def test_columns_types_ids_and_time_span(events: pd.DataFrame) -> None:
    table = demo.generate(1000, 10, seed=9, org_id="acme", end=END)
    assert table.column_names == list(CANONICAL_COLUMNS)
    assert table.schema.field("ts").type == pa.timestamp("us")
    for col in ("input_tokens", "output_tokens", "cache_read_input_tokens",
                "reasoning_output_tokens"):
        assert table.schema.field(col).type == pa.int64()
    for col in ("cost_usd", "duration_ms", "ttft_ms"):
        assert table.schema.field(col).type == pa.float64()
    ids = table.column("request_id").to_pylist()
    assert ids[0] == "demo-acme-9-0000000000" and len(set(ids)) == len(ids)
    assert set(table.column("org_id").to_pylist()) == {"acme"}

    first = datetime.combine(END - timedelta(days=41), datetime.min.time())
    assert events["ts"].min() >= first
    assert events["ts"].max() < datetime.combine(END + timedelta(days=1), datetime.min.time())
    assert events["ts"].is_monotonic_increasing
    assert events["ts"].dt.date.nunique() == 42


def test_features_providers_and_model_mixes(events: pd.DataFrame) -> None:
    assert set(events["feature"]) == FEATURES
    pairs = events[["provider_name", "request_model"]].drop_duplicates()
    assert {p: set(g["request_model"]) for p, g in pairs.groupby("provider_name", observed=True)} \
        == PROVIDER_MODELS
    for feature in FEATURES:
        mix = events.loc[events["feature"] == feature, "request_model"].value_counts(
            normalize=True
        )
        assert mix.iloc[0] > 0.25 and (mix > 0.03).sum() >= 3  # a main model and A/B models
    # the photo feature moves from Gemini 2.0 Flash to 2.5 Flash over the period
    photo = events[events["feature"] == "photo_analysis"]
    early = photo[photo["ts"] < photo["ts"].quantile(0.2)]["request_model"].value_counts()
    late = photo[photo["ts"] > photo["ts"].quantile(0.8)]["request_model"].value_counts()
    assert early["gemini-2.0-flash"] > early["gemini-2.5-flash"]
    assert late["gemini-2.5-flash"] > late["gemini-2.0-flash"]
    assert events["source"].value_counts(normalize=True)["production"] > 0.9
    assert {"benchmark", "health"} <= set(events["source"])


def test_tokens_latency_and_seasonality_look_real(events: pd.DataFrame) -> None:
    ok = events[(events["status"] == "ok") & (events["source"] == "production")]
    tokens = ok.groupby("feature", observed=True)[["input_tokens", "output_tokens"]].median()
    assert tokens.loc["photo_analysis", "input_tokens"] > tokens.loc["search_processing",
                                                                        "input_tokens"] * 4
    assert tokens.loc["description_generation", "output_tokens"] > tokens.loc[
        "photo_analysis", "output_tokens"]
    assert (events["cache_read_input_tokens"] <= events["input_tokens"]).all()
    cached = events.groupby("provider_name", observed=True)["cache_read_input_tokens"].sum()
    assert cached["openai"] > 0 and cached["anthropic"] > 0
    assert cached["ollama"] == 0 and cached["mistral_ai"] == 0
    reasoning = events.groupby("request_model", observed=True)["reasoning_output_tokens"].sum()
    assert reasoning[reasoning > 0].index.tolist() == ["gpt-5", "gpt-5-mini"]
    assert (events["output_tokens"] >= events["reasoning_output_tokens"]).all()

    median = ok.groupby("request_model", observed=True)["duration_ms"].median()
    for fast in ("gemini-2.0-flash", "gpt-4o-mini", "mistral-small-latest"):
        assert 300 < median[fast] < 1200
    for slow in ("gemini-2.5-pro", "claude-opus-4-1", "gpt-5"):
        assert 1500 < median[slow] < 6000
    assert (ok["ttft_ms"] <= ok["duration_ms"]).all()
    finish = ok.groupby("feature", observed=True)["finish_reason"].value_counts()
    assert finish["safety_chat", "content_filter"] > 0 and finish["description_generation",
                                                                   "length"] > 0

    hourly = events.groupby(events["ts"].dt.hour).size()
    assert hourly.loc[12:16].mean() > 2 * hourly.loc[0:4].mean()  # business hours, UTC
    daily = events.groupby(events["ts"].dt.dayofweek).size()
    assert daily.loc[5:6].mean() < 0.75 * daily.loc[0:4].mean()  # quieter weekends


def test_errors_have_types_and_no_output(events: pd.DataFrame) -> None:
    err = events[events["status"] == "error"]
    assert err["error_type"].notna().all() and events.loc[events["status"] == "ok",
                                                           "error_type"].isna().all()
    assert set(err["error_type"]) >= {"429", "500", "503", "timeout", "529"}
    assert (err["output_tokens"] == 0).all() and err["ttft_ms"].isna().all()
    timeouts = err[err["error_type"] == "timeout"]["duration_ms"]
    assert timeouts.between(demo.TIMEOUT_MS, demo.TIMEOUT_MS * 1.02).all()
    inc = demo.incident(42, 5, END)
    outside = events[(events["ts"] < inc.start - timedelta(hours=1))]
    rates = (outside["status"] == "error").groupby(outside["provider_name"], observed=True).mean()
    assert ((rates > 0.003) & (rates < 0.03)).all()


def test_costs_come_from_genai_prices(events: pd.DataFrame) -> None:
    ok = events[(events["status"] == "ok")]
    assert (ok.loc[ok["provider_name"] == "ollama", "cost_usd"] == 0).all()
    assert (ok.loc[ok["provider_name"] != "ollama", "cost_usd"] > 0).all()
    sample = ok[ok["provider_name"] != "ollama"].groupby("request_model", observed=True).sample(
        2, random_state=1
    )
    for row in sample.itertuples():
        price = calc_price(
            Usage(input_tokens=row.input_tokens, cache_read_tokens=row.cache_read_input_tokens,
                  output_tokens=row.output_tokens),
            row.request_model,
            provider_id=GENAI_PRICES_PROVIDER[row.provider_name],
            genai_request_timestamp=row.ts.to_pydatetime(),
        )
        assert row.cost_usd == pytest.approx(float(price.total_price), rel=1e-9)


def test_build_demo_shows_the_incident_and_adds_nothing_twice(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path / "w.duckdb")
    messages: list[str] = []
    report = demo.build_demo(wh, 100_000, 30, seed=2, end=END, progress=messages.append)
    assert report.rows_loaded == 100_000 and report.rows_quarantined == 0 and messages
    assert not list(tmp_path.glob("*.parquet"))

    inc = demo.incident(30, 2, END)
    assert 3 <= inc.hours <= 5 and END - timedelta(days=20) < inc.start.date() < END
    with wh.cursor() as cur:
        hourly = cur.execute(
            "SELECT hour, provider_name, sum(requests) AS n, sum(errors) AS e FROM usage_hourly "
            "WHERE org_id = 'demo' GROUP BY ALL"
        ).df()
        zero_cost = cur.execute(
            "SELECT DISTINCT provider_name FROM usage_events "
            "WHERE status = 'ok' AND NOT cost_usd > 0"
        ).fetchall()
    assert zero_cost == [("ollama",)]
    hourly["rate"] = hourly["e"] / hourly["n"]
    during = (hourly["hour"] >= inc.start) & (hourly["hour"] < inc.start + timedelta(hours=inc.hours))
    anthropic = hourly["provider_name"] == inc.provider
    spike = hourly[during & anthropic]
    assert len(spike) == inc.hours and (spike["rate"] > 0.25).all()
    calm = hourly[~during & anthropic & (hourly["n"] >= 20)]
    assert calm["rate"].max() < 0.15
    others = hourly[during & ~anthropic]
    assert others["e"].sum() / others["n"].sum() < 0.05

    again = demo.build_demo(wh, 100_000, 30, seed=2, end=END)
    assert again.rows_loaded == 0 and again.rows_duplicate == 100_000
    assert event_count(wh, "demo") == 100_000
    wh.close()


def test_chunks_cover_every_event_once() -> None:
    """Generation runs in chunks of whole hours; ids stay unique, ordered and gap-free."""
    table = demo.generate(3 * demo.CHUNK_EVENTS + 17, 3, seed=1, end=END)
    ids = np.array([int(i[-10:]) for i in table.column("request_id").to_pylist()])
    assert (ids == np.arange(table.num_rows)).all() and table.num_rows == 3 * demo.CHUNK_EVENTS + 17
    assert len(table.to_batches()) >= 3
