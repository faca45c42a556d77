"""The catalog view's rules that used to live in the page: slider limits, price and
performance lines, discovery messages, the scatter's points."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

from core import charts
from core.catalog import view as cat
from core.config_store.catalog_store import DiscoveryRun, ModelRef
from core.pricing import ModelPrice, PriceSource
from core.warehouse.queries import ModelPerformance


def _perf(p95: float | None, requests: int = 10) -> ModelPerformance:
    return ModelPerformance("openai", "m", requests, 0, 1.0, 100.0, p95, 1.0, None, 0.0, 0, 0.0,
                            0, None)


def _entry(model_id: str, price: ModelPrice, perf: ModelPerformance | None = None,
           accuracy: tuple[float, int] | None = None) -> cat.CatalogEntry:
    model = SimpleNamespace(model_id=model_id, display_name=None, active=True, kind="text",
                            input_types=("text",), specialties=(),
                            recommended_for=None, model_class=None)
    provider = SimpleNamespace(id="p1", name="OpenAI")
    return cat.CatalogEntry(model, provider, price, perf, accuracy)  # type: ignore[arg-type]


def _price(inp: float | None, out: float | None, source: PriceSource) -> ModelPrice:
    return ModelPrice("openai", "m", inp, out, source=source)


def test_a_slider_at_its_top_means_no_limit_and_below_it_a_limit() -> None:
    entries = [_entry("a", _price(2.0, 6.0, PriceSource.genai_prices), _perf(2400.0)),
               _entry("b", _price(0.5, 1.0, PriceSource.genai_prices), _perf(800.0))]
    limits = cat.FilterLimits.of(entries)
    assert limits == cat.FilterLimits(max_price=4.0, max_p95_s=3.0)  # 3.0 blended, 2.4 s
    at_top = cat.filters_from_form(limits, max_price=4.0, max_p95_s=3.0)
    assert at_top.max_price is None and at_top.max_p95_ms is None
    below = cat.filters_from_form(limits, max_price=1.5, max_p95_s=1.0, min_success_pct=90,
                                  min_accuracy_pct=0)
    assert (below.max_price, below.max_p95_ms, below.min_success, below.min_accuracy) == (
        1.5, 1000.0, 0.9, None)
    assert [e.model.model_id for e in cat.select(entries, below)] == ["b"]


def test_limits_of_an_empty_catalog_are_one_dollar_and_one_second() -> None:
    assert cat.FilterLimits.of([]) == cat.FilterLimits(max_price=2.0, max_p95_s=2.0)


def test_price_line_says_where_the_price_comes_from() -> None:
    assert cat.CatalogEntry.price_line(_entry("a", _price(None, None, PriceSource.unknown))
                                       ).startswith("Price unknown")
    assert _entry("a", _price(0.0, 0.0, PriceSource.free_local)).price_line() == \
        "Free (runs locally)"
    assert _entry("a", _price(2.5, 10.0, PriceSource.genai_prices)).price_line() == \
        "$2.50 in · $10.00 out per Mtok"
    assert _entry("a", _price(2.0, 8.0, PriceSource.override)).price_line() == \
        "$2.00 in · $8.00 out per Mtok · negotiated"


def test_perf_line_without_usage_still_shows_comparison_accuracy() -> None:
    e = _entry("a", _price(1.0, 1.0, PriceSource.genai_prices), None, (0.82, 40))
    assert e.perf_line() == "No usage in the window yet. Accuracy 0.82 (40 scored)."


def test_discovery_messages_name_new_retired_and_failed() -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    run = DiscoveryRun(org_id="acme", started_at=now, finished_at=now, duration_ms=1500,
                       status="partial", providers_checked=2, models_discovered=3,
                       models_added=1, models_updated=0, models_deprecated=1,
                       errors={"p2": "HTTP 401"}, added=(ModelRef(provider_id="p1",
                                                                  model_id="gpt-5"),),
                       deprecated=(ModelRef(provider_id="p1", model_id="gpt-3.5"),),
                       actor="ada")
    lines = cat.discovery_messages(run, {"p2": "Anthropic"})
    assert lines[0].startswith("Discovery partly failed: 1 of 2 providers")
    assert lines[1:] == ["New: `gpt-5`", "No longer listed (now inactive): `gpt-3.5`",
                         "Anthropic failed: HTTP 401"]


def test_scatter_keeps_only_models_with_price_and_latency() -> None:
    entries = [_entry("a", _price(2.0, 6.0, PriceSource.genai_prices), _perf(900.0, 0)),
               _entry("b", _price(None, None, PriceSource.unknown), _perf(500.0)),
               _entry("c", _price(1.0, 1.0, PriceSource.genai_prices), _perf(None))]
    points = cat.scatter_frame(entries)
    assert points.to_dict("records") == [{"Model": "a", "Provider": "OpenAI", "Price": 3.0,
                                          "p95 ms": 900.0, "Requests": 1}]
    fig = charts.price_vs_speed(points)
    assert list(fig.data[0].x) == [3.0] and fig.layout.title.text.startswith("Price vs speed")
    assert charts.price_vs_speed(cat.scatter_frame([])).layout.title.text.startswith(
        "Price vs speed: no model")
