"""Model prices: genai-prices lookups, negotiated overrides with effective dates, re-pricing,
and the catalog's measured performance figures read from the rollups."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from genai_prices import Usage, calc_price
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from core.pricing import (
    GENAI_PRICES_PROVIDER,
    MAX_TS,
    OverlappingOverride,
    PriceOverride,
    find_overlap,
    genai_models,
    match_model,
    override_messages,
    price_for,
    rate_periods,
    rates,
)
from core.warehouse import prices as wprices
from core.warehouse.db import Warehouse
from core.warehouse.ingest import ingest_bytes
from core.warehouse.load import HIST_GAMMA
from core.warehouse.prices import (
    add_override,
    delete_override,
    list_overrides,
    reprice,
)
from core.warehouse.queries import last_data_day, model_performance

SEEDS = [
    ("openai", "gpt-4o"),
    ("openai", "gpt-4o-2024-08-06"),
    ("openai", "gpt-4o-mini"),
    ("anthropic", "claude-haiku-4-5"),
    ("anthropic", "claude-sonnet-4-5"),
    ("gcp.gemini", "gemini-2.5-flash"),
    ("gcp.gemini", "gemini-2.5-pro"),
    ("mistral_ai", "mistral-large-latest"),
]
USAGES = [  # (input incl. cached, output, cached): small, cached, long-context (above tiers)
    (1_000, 200, 0),
    (12_345, 678, 4_000),
    (250_000, 3_000, 10_000),
]
WHEN = datetime(2026, 1, 15, 12, tzinfo=UTC)


def _override(**kw: Any) -> PriceOverride:
    data: dict[str, Any] = dict(org_id="acme", provider_name="openai", model="gpt-4o",
                                input_per_mtok=1.0, output_per_mtok=2.0,
                                effective_from=date(2026, 1, 10))
    data.update(kw)
    return PriceOverride(**data)


# -- genai-prices ---------------------------------------------------------------------------


@pytest.mark.parametrize(("provider", "model"), SEEDS)
def test_seed_models_are_priced_as_genai_prices_prices_them(provider: str, model: str) -> None:
    price = price_for(provider, model, at=WHEN)
    assert price.source == "genai-prices" and price.known
    assert price.input_per_mtok > 0 and price.output_per_mtok > 0
    assert price.matched_model is not None
    for inp, out, cached in USAGES:
        theirs = calc_price(
            Usage(input_tokens=inp, output_tokens=out, cache_read_tokens=cached), model,
            provider_id=GENAI_PRICES_PROVIDER[provider], genai_request_timestamp=WHEN,
        )
        assert price.cost(inp, out, cached) == pytest.approx(float(theirs.total_price), rel=1e-12)
    # the older per-token API (demo history) agrees below the long-context tiers
    r = rates(provider, model, WHEN.replace(tzinfo=None))
    assert r is not None and r.input * 1e6 == pytest.approx(price.input_per_mtok)
    assert r.output * 1e6 == pytest.approx(price.output_per_mtok)


def test_dated_snapshots_match_the_way_genai_prices_matches() -> None:
    base, dated = price_for("openai", "gpt-4o"), price_for("openai", "gpt-4o-2024-08-06")
    assert dated.matched_model == base.matched_model == "gpt-4o" == match_model("openai",
                                                                               "gpt-4o-2024-11-20")
    assert (dated.input_per_mtok, dated.output_per_mtok) == (base.input_per_mtok,
                                                             base.output_per_mtok)
    old = price_for("openai", "gpt-4o-2024-05-13")  # priced on its own by genai-prices
    assert old.matched_model == "gpt-4o-2024-05-13" and old.input_per_mtok != base.input_per_mtok
    assert match_model("anthropic", "claude-haiku-4-5-20251001") == "claude-haiku-4-5"
    assert match_model("gemini", "gemini-2.5-flash") == "gemini-2.5-flash"  # provider alias
    assert price_for("openai", "no-such-model-xyz").source == "unknown"
    assert price_for("openai", "no-such-model-xyz").cost(100, 100) is None


def test_local_models_are_free_and_cached_input_falls_back_to_input() -> None:
    local = price_for("ollama", "llama3.2-vision:11b")
    assert local.source == "free (local)" and local.cost(5000, 500, 100) == 0.0
    mistral = price_for("mistral", "mistral-large-latest")
    assert mistral.cached_input_per_mtok is None  # not priced by genai-prices…
    assert mistral.cost(1000, 0, 400) == pytest.approx(mistral.cost(1000, 0, 0))  # …costs as input


def test_long_context_tiers_are_bands() -> None:
    sonnet = price_for("anthropic", "claude-sonnet-4-5")
    assert sonnet.tiered and len(sonnet.bands) == 2
    assert sonnet.band_for(200_000) is sonnet.bands[0] and sonnet.band_for(200_001) is sonnet.bands[1]
    rows = rate_periods("anthropic", "claude-sonnet-4-5")
    assert [(r.band_lo, r.band_hi) for r in rows] == [(-1, 200_000), (200_000, rows[1].band_hi)]


def _date_constrained() -> tuple[str, str, date] | None:
    """A model of ours whose genai-prices price changes on a date (from the bundled data)."""
    from genai_prices.data_snapshot import find_provider_by_id, get_snapshot
    from genai_prices.types import StartDateConstraint

    for ours, theirs in GENAI_PRICES_PROVIDER.items():
        provider = find_provider_by_id(get_snapshot().providers, theirs)
        for info in provider.models if provider else ():
            if isinstance(info.prices, list):
                for c in info.prices:
                    if isinstance(c.constraint, StartDateConstraint):
                        if price_for(ours, info.id).known:
                            return ours, info.id, c.constraint.start_date
    return None


def test_date_constrained_prices_change_on_their_day() -> None:
    found = _date_constrained()
    if found is None:
        pytest.skip("the bundled genai-prices data has no date-constrained price")
    provider, model, day = found
    pid = GENAI_PRICES_PROVIDER[provider]
    for when in (datetime.combine(day - timedelta(days=1), datetime.min.time()) + timedelta(hours=23),
                 datetime.combine(day, datetime.min.time())):
        ours = price_for(provider, model, at=when)
        theirs = calc_price(Usage(input_tokens=5000, output_tokens=500, cache_read_tokens=1000),
                            model, provider_id=pid, genai_request_timestamp=when.replace(tzinfo=UTC))
        assert ours.cost(5000, 500, 1000) == pytest.approx(float(theirs.total_price), rel=1e-12)
    assert price_for(provider, model, at=day).effective_from == day


def test_listing_a_providers_models() -> None:
    known = {m.model_id: m for m in genai_models("openai")}
    assert "gpt-4o" in known and known["gpt-4o"].price.input_per_mtok == price_for(
        "openai", "gpt-4o").input_per_mtok
    assert known["gpt-4o"].name and known["gpt-4o"].context_window
    assert all(m.price.provider_name == "openai" for m in known.values())
    assert genai_models("clarifai") == [] and genai_models("ollama") == []
    mistral = {m.model_id: m for m in genai_models("mistral_ai")}
    # an entry whose own id matches no request id is still priced from the entry
    assert all(m.price.known for m in mistral.values() if m.model_id.startswith("mistral-large"))


# -- overrides: validation --------------------------------------------------------------------


@pytest.mark.parametrize(("kw", "expect"), [
    ({"input_per_mtok": -1}, "input price cannot be negative"),
    ({"output_per_mtok": -0.5}, "output price cannot be negative"),
    ({"cached_input_per_mtok": -2}, "cached-input price cannot be negative"),
    ({"per_image": -0.01}, "price per image cannot be negative"),
    ({"input_per_mtok": float("inf")}, "finite"),
    ({"effective_to": date(2026, 1, 9)}, "before it starts on 2026-01-10"),
    ({"org_id": "Not An Org"}, "organization id"),
    ({"model": "   "}, "model id is empty"),
])
def test_bad_overrides_get_clear_messages(kw: dict, expect: str) -> None:
    with pytest.raises(ValidationError) as exc:
        _override(**kw)
    assert any(expect in m for m in override_messages(exc.value)), override_messages(exc.value)


def test_a_one_day_override_and_provider_aliases() -> None:
    o = _override(provider_name="Azure", effective_to=date(2026, 1, 10))
    assert o.provider_name == "azure.ai.openai"
    assert o.covers(datetime(2026, 1, 10, 23, 59)) and not o.covers(datetime(2026, 1, 11))
    assert not o.covers(datetime(2026, 1, 9, 23, 59))


@pytest.fixture()
def wh(tmp_path: Path) -> Iterator[Warehouse]:
    w = Warehouse(tmp_path / "w.duckdb", idle_close_s=30)
    yield w
    w.close()


def test_overlapping_periods_are_rejected(wh: Warehouse) -> None:
    add_override(wh, _override(effective_to=date(2026, 1, 31)))
    with pytest.raises(OverlappingOverride, match="overlaps the existing price"):
        add_override(wh, _override(effective_from=date(2026, 1, 31)))
    with pytest.raises(OverlappingOverride):  # the same model under its dated id
        add_override(wh, _override(model="gpt-4o-2024-08-06", effective_from=date(2026, 1, 1),
                                   effective_to=date(2026, 1, 10)))
    with pytest.raises(OverlappingOverride):  # an open-ended one starting earlier
        add_override(wh, _override(effective_from=date(2025, 12, 1)))
    add_override(wh, _override(effective_from=date(2026, 2, 1)))  # the day after: fine
    add_override(wh, _override(org_id="other"))  # another organization: fine
    add_override(wh, _override(model="gpt-4o-2024-05-13"))  # another genai-prices model: fine
    assert len(list_overrides(wh, "acme")) == 3
    assert len(list_overrides(wh, "acme", model="gpt-4o-2024-11-20")) == 2


def test_a_new_price_can_supersede_an_open_ended_one(wh: Warehouse) -> None:
    first = add_override(wh, _override()).override
    with pytest.raises(OverlappingOverride):
        add_override(wh, _override(input_per_mtok=0.8, effective_from=date(2026, 3, 1)))
    added = add_override(wh, _override(input_per_mtok=0.8, effective_from=date(2026, 3, 1)),
                         supersede=True)
    assert added.ended is not None and added.ended.override_id == first.override_id
    assert added.ended.effective_to == date(2026, 2, 28)
    stored = list_overrides(wh, "acme")
    assert [(o.effective_from, o.effective_to) for o in stored] == [
        (date(2026, 1, 10), date(2026, 2, 28)), (date(2026, 3, 1), None)]
    assert price_for("openai", "gpt-4o", org_id="acme", at=date(2026, 2, 28),
                     overrides=stored).input_per_mtok == 1.0
    assert price_for("openai", "gpt-4o", org_id="acme", at=date(2026, 3, 1),
                     overrides=stored).input_per_mtok == 0.8
    gone = delete_override(wh, "acme", first.override_id[:8])
    assert gone.override_id == first.override_id and len(list_overrides(wh, "acme")) == 1
    with pytest.raises(wprices.UnknownOverride):
        delete_override(wh, "other", added.override.override_id)  # not another org's


# -- overrides: the price chosen at an instant (property-based) --------------------------------


@st.composite
def _periods(draw: st.DrawFn) -> list[PriceOverride]:
    """Up to 5 non-overlapping overrides (distinct input prices), the last maybe open-ended."""
    n = draw(st.integers(0, 5))
    day = date(2026, 1, 1) + timedelta(days=draw(st.integers(0, 20)))
    out = []
    for i in range(n):
        day += timedelta(days=draw(st.integers(0, 10)))  # gap (0: adjacent)
        length = draw(st.one_of(st.none(), st.integers(1, 15))) if i == n - 1 else draw(
            st.integers(1, 15))
        end = None if length is None else day + timedelta(days=length - 1)
        out.append(_override(model=draw(st.sampled_from(["gpt-4o", "gpt-4o-2024-08-06"])),
                             input_per_mtok=10.0 + i, output_per_mtok=20.0 + i,
                             effective_from=day, effective_to=end))
        if end is None:
            break
        day = end + timedelta(days=1)
    return out


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(overrides=_periods(), offsets=st.lists(st.integers(-10 * 86400, 120 * 86400),
                                              min_size=1, max_size=8),
       input_tokens=st.integers(0, 400_000))
def test_the_price_at_an_instant_is_the_override_whose_period_contains_it(
    overrides: list[PriceOverride], offsets: list[int], input_tokens: int
) -> None:
    for i, o in enumerate(overrides):
        assert find_overlap(o, overrides[:i]) is None  # they are valid together
    genai = price_for("openai", "gpt-4o")
    rows = rate_periods("openai", "gpt-4o-2024-11-20", overrides)
    for s in offsets:
        at = datetime(2026, 1, 1) + timedelta(seconds=s)
        containing = [o for o in overrides if o.effective_from <= at.date()
                      and (o.effective_to is None or at.date() <= o.effective_to)]
        got = price_for("openai", "gpt-4o-2024-11-20", org_id="acme", at=at, overrides=overrides)
        if containing:
            assert got.source == "override" and got.override_id == containing[0].override_id
            assert got.input_per_mtok == containing[0].input_per_mtok
        else:
            assert got.source == "genai-prices" and got.input_per_mtok == genai.input_per_mtok
        # the SQL rate rows agree: exactly one row holds this instant and token count
        hits = [r for r in rows if r.valid_from <= at < r.valid_to
                and r.band_lo < input_tokens <= r.band_hi]
        assert len(hits) == 1
        band = got.band_for(input_tokens)
        assert hits[0].r_in == band.input_per_mtok / 1e6 and hits[0].source == got.source
        # another organization's overrides never apply
        assert price_for("openai", "gpt-4o", org_id="other", at=at,
                         overrides=overrides).source == "genai-prices"
    assert rows[0].valid_from.year == 1900 and rows[-1].valid_to == MAX_TS
    assert all(a.valid_to <= b.valid_from or a.band_lo != b.band_lo
               for a, b in zip(rows, rows[1:], strict=False))


# -- ingest and re-pricing --------------------------------------------------------------------


def _event(rid: str, ts: str, provider: str, model: str, inp: int, out: int, cached: int = 0,
           **kw: Any) -> dict[str, Any]:
    return {"request_id": rid, "ts": ts, "provider_name": provider, "request_model": model,
            "input_tokens": inp, "output_tokens": out, "cache_read_input_tokens": cached,
            "duration_ms": 500 + len(rid), "feature": kw.pop("feature", "chat"), **kw}


def _ingest(wh: Warehouse, org: str, events: list[dict[str, Any]]) -> None:
    body = "\n".join(json.dumps(e) for e in events).encode()
    report = ingest_bytes(wh, org, body, "events.jsonl")
    assert report.rows_loaded == len(events), report.summary()


def _costs(wh: Warehouse, org: str | None = None) -> dict[str, float | None]:
    with wh.cursor() as cur:
        sql = "SELECT request_id, cost_usd FROM usage_events"
        rows = cur.execute(sql + (" WHERE org_id = ?" if org else ""), [org] if org else []).fetchall()
    return dict(rows)


def _rollups(wh: Warehouse) -> list[tuple]:
    with wh.cursor() as cur:
        return cur.execute("SELECT * FROM usage_hourly ORDER BY ALL").fetchall()


def _assert_rollups_match_events(wh: Warehouse) -> None:
    with wh.cursor() as cur:
        diff = cur.execute("""
            SELECT h.org_id, h.hour, h.provider_name, h.request_model, h.feature, h.cost_usd, e.cost
            FROM usage_hourly h FULL JOIN (
                SELECT org_id, date_trunc('hour', ts) AS hour, provider_name, request_model,
                       feature, source, coalesce(sum(cost_usd), 0) AS cost, count(*) AS n
                FROM usage_events GROUP BY ALL) e
            USING (org_id, hour, provider_name, request_model, feature, source)
            WHERE h.cost_usd IS NULL OR e.cost IS NULL OR abs(h.cost_usd - e.cost) > 1e-12
               OR h.requests <> e.n
        """).fetchall()
    assert diff == []


EVENTS = [
    _event("a1", "2026-01-05T10:00:00Z", "openai", "gpt-4o", 1000, 200, 100),
    _event("a2", "2026-01-09T23:59:59Z", "openai", "gpt-4o-2024-08-06", 2000, 300),
    _event("a3", "2026-01-10T00:00:00Z", "openai", "gpt-4o", 1500, 100, 500),
    _event("a4", "2026-01-12T08:30:00Z", "openai", "gpt-4o-2024-08-06", 800, 50, feature="tags"),
    _event("a5", "2026-01-15T09:00:00Z", "openai", "gpt-4o", 900, 60, cost_usd=0.5),  # billed
    _event("a6", "2026-01-15T09:10:00Z", "openai", "gpt-4o-mini", 900, 60),
    _event("a7", "2026-01-15T09:20:00Z", "anthropic", "claude-sonnet-4-5", 250_000, 900, 20_000),
    _event("a8", "2026-01-16T11:00:00Z", "mistral", "mistral-large-latest", 3000, 400),
    _event("a9", "2026-01-16T12:00:00Z", "ollama", "llama3.2-vision:11b", 1200, 80),
    _event("a10", "2026-01-17T12:00:00Z", "openai", "mystery-1", 100, 10),
    _event("a11", "2026-01-18T12:00:00Z", "openai", "gpt-4o", 100, 10, status="error",
           error_type="500"),
]
OTHER = [_event("o1", "2026-01-15T09:00:00Z", "openai", "gpt-4o", 1000, 100)]


@pytest.fixture()
def loaded(wh: Warehouse) -> Warehouse:
    _ingest(wh, "acme", EVENTS)
    _ingest(wh, "other", OTHER)
    return wh


def _expected(e: dict[str, Any], overrides: list[PriceOverride] = ()) -> float | None:
    p = price_for(e["provider_name"], e["request_model"], org_id="acme",
                  at=datetime.fromisoformat(e["ts"].replace("Z", "+00:00")), overrides=overrides)
    return p.cost(e["input_tokens"], e["output_tokens"], e["cache_read_input_tokens"])


def test_ingest_prices_missing_costs_as_price_for_does(loaded: Warehouse) -> None:
    costs = _costs(loaded, "acme")
    for e in EVENTS:
        want = e.get("cost_usd", _expected(e))
        assert costs[e["request_id"]] == (None if want is None else pytest.approx(want, rel=1e-12))
    assert costs["a10"] is None and costs["a9"] == 0.0
    assert costs["a7"] == pytest.approx(float(calc_price(
        Usage(input_tokens=250_000, output_tokens=900, cache_read_tokens=20_000),
        "claude-sonnet-4-5", provider_id="anthropic").total_price))  # the long-context tier


def test_an_override_prices_later_events_only(wh: Warehouse) -> None:
    o = add_override(wh, _override(cached_input_per_mtok=0.5)).override
    _ingest(wh, "acme", EVENTS)
    costs = _costs(wh, "acme")
    # before 2026-01-10 00:00 UTC: genai-prices; from then on: the negotiated price
    assert costs["a1"] == pytest.approx(_expected(EVENTS[0]))
    assert costs["a2"] == pytest.approx(price_for("openai", "gpt-4o").cost(2000, 300))
    assert costs["a3"] == pytest.approx((1000 * 1.0 + 500 * 0.5 + 100 * 2.0) / 1e6)
    assert costs["a4"] == pytest.approx((800 * 1.0 + 50 * 2.0) / 1e6)  # dated id, same model
    assert costs["a5"] == 0.5  # a cost given by the source is kept at ingest
    assert costs["a6"] == pytest.approx(_expected(EVENTS[5]))  # gpt-4o-mini: not overridden
    for e in EVENTS:
        if "cost_usd" not in e:
            want = _expected(e, [o])
            assert costs[e["request_id"]] == (None if want is None else pytest.approx(want))
    # another organization's events keep the list price
    _ingest(wh, "other", OTHER)
    assert _costs(wh, "other")["o1"] == pytest.approx(price_for("openai", "gpt-4o").cost(1000, 100))


def test_a_price_per_image_is_charged_per_successful_call(wh: Warehouse) -> None:
    assert price_for("gcp.vision", "builtin/stable").source == "unknown"  # not in genai-prices
    add_override(wh, _override(provider_name="gcp.vision", model="builtin/stable",
                               input_per_mtok=0, output_per_mtok=0, per_image=0.0015,
                               effective_from=date(2026, 1, 1)))
    _ingest(wh, "acme", [
        _event("v1", "2026-01-15T09:00:00Z", "gcp.vision", "builtin/stable", 0, 0),
        _event("v2", "2026-01-15T09:01:00Z", "gcp.vision", "builtin/stable", 0, 0,
               status="error", error_type="503"),
        _event("v3", "2025-12-31T23:00:00Z", "gcp.vision", "builtin/stable", 0, 0),
    ])
    costs = _costs(wh, "acme")
    assert costs == {"v1": pytest.approx(0.0015), "v2": 0.0, "v3": None}
    priced = price_for("gcp.vision", "builtin/stable", org_id="acme", at=date(2026, 1, 15),
                       overrides=list_overrides(wh, "acme"))
    assert priced.per_image == 0.0015 and priced.cost(images=1) == pytest.approx(0.0015)


def test_reprice_changes_exactly_the_affected_events(loaded: Warehouse) -> None:
    wh = loaded
    first = reprice(wh, "acme")  # re-pricing replaces a cost the source gave (a5's bill) too
    assert first.changed == 1 and first.cost_before - first.cost_after == pytest.approx(
        0.5 - _expected(EVENTS[4]))
    before, other_before, rollups_before = _costs(wh, "acme"), _costs(wh, "other"), _rollups(wh)
    assert reprice(wh, "acme").changed == 0  # nothing moved: nothing rewritten
    assert _rollups(wh) == rollups_before
    o = add_override(wh, _override(cached_input_per_mtok=0.5)).override
    result = reprice(wh, "acme", actor="test")
    after = _costs(wh, "acme")
    affected = {"a3", "a4", "a5", "a11"}  # the gpt-4o family from 2026-01-10
    assert {k for k in before if before[k] != after[k]} == affected
    for e in EVENTS:
        if e["request_id"] in affected:
            assert after[e["request_id"]] == pytest.approx(_expected(e, [o]), rel=1e-12)
    assert result.changed == len(affected) and result.unpriced == 1  # mystery-1
    assert result.events == len(EVENTS) - 1
    assert result.cost_before == pytest.approx(sum(v or 0 for v in before.values()))
    assert result.cost_after == pytest.approx(sum(v or 0 for v in after.values()))
    assert _costs(wh, "other") == other_before
    _assert_rollups_match_events(wh)
    assert reprice(wh, "acme").changed == 0  # idempotent
    with wh.cursor() as cur:
        assert cur.execute("SELECT count(*), max(changed) FROM reprice_log").fetchone() == (4, 4)


def test_reprice_respects_its_window_and_only_missing(loaded: Warehouse) -> None:
    wh = loaded
    before = _costs(wh, "acme")
    add_override(wh, _override())
    add_override(wh, _override(model="mystery-1", effective_from=date(2026, 1, 1)))
    assert reprice(wh, "acme", until=date(2026, 1, 9)).changed == 0
    missing = reprice(wh, "acme", only_missing=True)
    assert missing.changed == missing.events == 1 and missing.unpriced == 0
    after = _costs(wh, "acme")
    assert {k for k in before if before[k] != after[k]} == {"a10"}
    assert after["a10"] == pytest.approx((100 * 1.0 + 10 * 2.0) / 1e6)
    window = reprice(wh, "acme", since=date(2026, 1, 12), until=date(2026, 1, 12))
    assert window.changed == 1 and _costs(wh, "acme")["a3"] == before["a3"]
    with pytest.raises(ValueError, match="before since"):
        reprice(wh, "acme", since=date(2026, 1, 12), until=date(2026, 1, 11))
    _assert_rollups_match_events(wh)


def test_a_failure_midway_leaves_everything_unchanged(
    loaded: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    wh = loaded
    add_override(wh, _override())
    costs, rollups = _costs(wh), _rollups(wh)

    def boom(cur: Any, org_id: str) -> None:
        raise RuntimeError("disk full (injected)")

    monkeypatch.setattr(wprices, "_rebuild_rollups", boom)
    with pytest.raises(RuntimeError, match="injected"):
        reprice(wh, "acme")
    assert _costs(wh) == costs and _rollups(wh) == rollups
    with wh.cursor() as cur:
        assert cur.execute("SELECT count(*) FROM reprice_log").fetchone()[0] == 0
    monkeypatch.undo()
    assert reprice(wh, "acme").changed == 4  # and it works once the fault is gone
    _assert_rollups_match_events(wh)


def test_price_for_uses_the_overrides_it_is_given_and_never_reads_storage(home: Path) -> None:
    from core.warehouse.db import get_warehouse

    wh = get_warehouse()
    add_override(wh, _override(effective_to=date(2026, 1, 31)))
    overrides = list_overrides(wh, "acme")
    at = date(2026, 1, 20)
    assert price_for("openai", "gpt-4o", org_id="acme", at=at, overrides=overrides).source == \
        "override"
    assert price_for("openai", "gpt-4o", org_id="acme", at=date(2026, 2, 1),
                     overrides=overrides).source == "genai-prices"
    assert price_for("openai", "gpt-4o", org_id="other", at=at, overrides=overrides).source == \
        "genai-prices"
    # No hidden fallback: without overrides the stored one is not consulted.
    assert price_for("openai", "gpt-4o", org_id="acme", at=at).source == "genai-prices"


# -- measured performance for the catalog -----------------------------------------------------

END = date(2026, 2, 28)


@pytest.fixture(scope="module")
def demo_wh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    from core.warehouse.demo import build_demo

    w = Warehouse(Path(tmp_path_factory.mktemp("perf")) / "w.duckdb", idle_close_s=30)
    build_demo(w, 80_000, 30, seed=5, end=END)
    yield w
    w.close()


def _exact_performance(wh: Warehouse, as_of: date) -> dict[tuple[str, str], dict[str, Any]]:
    lo = datetime.combine(as_of - timedelta(days=6), datetime.min.time())
    prev = lo - timedelta(days=7)
    today = datetime.combine(as_of, datetime.min.time())
    hi = today + timedelta(days=1)
    with wh.cursor() as cur:
        df = cur.execute("""
            SELECT provider_name, request_model,
                count(*) FILTER (WHERE ts >= $lo) AS requests,
                count(*) FILTER (WHERE ts >= $lo AND status = 'error') AS errors,
                avg(duration_ms) FILTER (WHERE ts >= $lo AND status = 'ok') AS avg_ms,
                quantile_disc(duration_ms, 0.95) FILTER (WHERE ts >= $lo AND status = 'ok')
                    AS p95_disc,
                list(duration_ms) FILTER (WHERE ts >= $lo AND status = 'ok') AS samples,
                sum(output_tokens) FILTER (WHERE ts >= $lo) AS out_tokens,
                sum(duration_ms) FILTER (WHERE ts >= $lo AND status = 'ok') AS ok_ms,
                count(*) FILTER (WHERE ts >= $today) AS requests_today,
                coalesce(sum(cost_usd) FILTER (WHERE ts >= $today), 0) AS cost_today,
                count(*) FILTER (WHERE ts < $lo) AS requests_prev
            FROM usage_events WHERE org_id = 'demo' AND ts >= $prev AND ts < $hi
            GROUP BY ALL
        """, {"lo": lo, "prev": prev, "today": today, "hi": hi}).df()
    return {(r["provider_name"], r["request_model"]): r for r in df.to_dict("records")}


def test_model_performance_agrees_with_exact_computations(demo_wh: Warehouse) -> None:
    import numpy as np

    assert last_data_day(demo_wh, "demo") == END
    got = model_performance(demo_wh, "demo", as_of=END)
    exact = _exact_performance(demo_wh, END)
    assert set(got) == set(exact) and len(got) >= 10
    compared = 0
    for key, x in exact.items():
        g = got[key]
        assert g.requests == x["requests"] and g.errors == x["errors"]
        assert g.requests_today == x["requests_today"] and g.requests_prev == x["requests_prev"]
        assert g.cost_today == pytest.approx(x["cost_today"], rel=1e-9, abs=1e-12)
        assert g.requests_per_min == pytest.approx(x["requests"] / (7 * 24 * 60))
        if x["requests"]:
            assert g.success_rate == pytest.approx(1 - x["errors"] / x["requests"])
            assert g.avg_ms == pytest.approx(x["avg_ms"], rel=1e-9)
            assert g.tokens_per_s == pytest.approx(x["out_tokens"] / (x["ok_ms"] / 1000), rel=1e-9)
        if x["requests_prev"]:
            assert g.growth_pct == pytest.approx(
                (x["requests"] - x["requests_prev"]) / x["requests_prev"] * 100)
        samples = np.sort(np.asarray([] if x["samples"] is None else x["samples"]))
        if len(samples) >= 200:  # as the percentile tests: within one bucket of rank p·n
            assert g.p95_ms == pytest.approx(x["p95_disc"], rel=0.02)
            k = int(np.ceil(0.95 * len(samples)))
            assert samples[max(k - 2, 0)] / HIST_GAMMA <= g.p95_ms <= samples[
                min(k, len(samples) - 1)] * HIST_GAMMA
            compared += 1
    assert compared >= 5
    # "today" defaults to today: the demo history ended long ago, so nothing happened today
    assert all(p.requests_today == 0 for p in model_performance(demo_wh, "demo").values())


def test_growth_is_none_without_a_base_and_new_or_gone_models_show(wh: Warehouse) -> None:
    _ingest(wh, "acme", [
        _event("n1", "2026-03-10T10:00:00Z", "openai", "gpt-5", 100, 10),
        _event("n2", "2026-03-10T11:00:00Z", "openai", "gpt-5", 100, 10),
        _event("g1", "2026-03-02T10:00:00Z", "openai", "gpt-4o", 100, 10),
        _event("b1", "2026-03-01T10:00:00Z", "openai", "gpt-4o-mini", 100, 10),
        _event("b2", "2026-03-09T10:00:00Z", "openai", "gpt-4o-mini", 100, 10, status="error",
               error_type="429"),
    ])
    got = model_performance(wh, "acme", as_of=date(2026, 3, 10))
    new, gone = got[("openai", "gpt-5")], got[("openai", "gpt-4o")]
    assert new.growth_pct is None and new.requests_today == 2 and new.success_rate == 1.0
    assert gone.requests == 0 and gone.growth_pct == -100.0 and gone.success_rate is None
    assert gone.avg_ms is None and gone.p95_ms is None
    mini = got[("openai", "gpt-4o-mini")]
    assert mini.growth_pct == 0.0 and mini.success_rate == 0.0 and mini.p95_ms is None
    assert model_performance(wh, "other", as_of=date(2026, 3, 10)) == {}


# -- the command line -------------------------------------------------------------------------


def _run(*args: str, input: str | None = None):
    from core.cli import main

    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def test_cli_set_list_reprice(home: Path, tmp_path: Path) -> None:
    f = tmp_path / "events.jsonl"
    f.write_text("\n".join(json.dumps(e) for e in EVENTS))
    assert _run("ingest", str(f), "--org", "acme").exit_code == 0

    listed = _run("prices", "list", "--org", "acme")
    assert listed.exit_code == 0 and "gpt-4o-mini" in listed.output
    assert "free (local)" in listed.output and "unknown" in listed.output

    bad = _run("prices", "set", "openai", "gpt-4o", "--input", "-1", "--output", "2",
               "--from", "2026-01-10", "--org", "acme")
    assert bad.exit_code != 0 and "input price cannot be negative" in bad.output

    ok = _run("prices", "set", "openai", "gpt-4o", "--input", "1", "--output", "2",
              "--cached-input", "0.5", "--from", "2026-01-10", "--note", "contract 42",
              "--org", "acme")
    assert ok.exit_code == 0, ok.output
    assert "Saved" in ok.output and "prices reprice --org acme --since 2026-01-10" in ok.output

    clash = _run("prices", "set", "openai", "gpt-4o-2024-08-06", "--input", "0.9", "--output",
                 "1.8", "--from", "2026-02-01", "--org", "acme")
    assert clash.exit_code != 0 and "overlaps" in clash.output and "--supersede" in clash.output
    later = _run("prices", "set", "openai", "gpt-4o-2024-08-06", "--input", "0.9", "--output",
                 "1.8", "--from", "2026-02-01", "--org", "acme", "--supersede")
    assert later.exit_code == 0 and "Ended" in later.output

    listed = _run("prices", "list", "--org", "acme", "--at", "2026-01-20")
    assert "override since 2026-01-10" in listed.output and "contract 42" in listed.output
    assert _run("prices", "list", "--provider", "anthropic").output.count("anthropic") > 5

    repriced = _run("prices", "reprice", "--org", "acme", "--since", "2026-01-01")
    assert repriced.exit_code == 0, repriced.output
    assert "Cost before: $" in repriced.output and "Cost after:  $" in repriced.output
    assert "(4 changed)" in repriced.output

    oid = re.findall(r"^  ([0-9a-f]{8})  ", listed.output, re.M)[0]
    removed = _run("prices", "remove", oid, "--org", "acme", "--yes")
    assert removed.exit_code == 0 and "Removed" in removed.output


# -- rates as SQL: the temp table and the fragments ingest uses ---------------------------------

RATES_SCHEMA = [
    ("provider_name", "VARCHAR"), ("request_model", "VARCHAR"), ("valid_from", "TIMESTAMP"),
    ("valid_to", "TIMESTAMP"), ("band_lo", "BIGINT"), ("band_hi", "BIGINT"), ("r_in", "DOUBLE"),
    ("r_out", "DOUBLE"), ("r_cache", "DOUBLE"), ("r_image", "DOUBLE"),
]


def _schema(cur: Any, table: str) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in cur.execute(f"DESCRIBE {table}").fetchall()]


def test_the_rates_table_holds_each_models_rate_periods_for_its_org(wh: Warehouse) -> None:
    add_override(wh, _override(effective_to=date(2026, 1, 31), cached_input_per_mtok=0.5))
    overrides = list_overrides(wh, "acme")
    combos = [("openai", "gpt-4o"), ("anthropic", "claude-sonnet-4-5"), ("openai", "mystery-1")]

    def want(org_overrides: list[PriceOverride]) -> list[tuple]:
        return sorted(
            (prov, model, p.valid_from, p.valid_to, p.band_lo, p.band_hi, p.r_in, p.r_out,
             p.r_cache, p.r_image)
            for prov, model in combos for p in rate_periods(prov, model, org_overrides))

    with wh.cursor(write=True) as cur:
        n = wprices.rates_table(cur, "acme", combos)  # named _rates unless told
        rows = cur.execute("SELECT * FROM _rates ORDER BY ALL").fetchall()
        assert rows == want(overrides) and n == len(rows)
        assert _schema(cur, "_rates") == RATES_SCHEMA
        # the negotiated price is a row of its own, from 2026-01-10 to the end of 2026-01-31,
        # between genai-prices' rows; the long-context model has its two token bands
        top = 2**62
        assert [r[2:] for r in rows if r[1] == "gpt-4o"][1] == (
            datetime(2026, 1, 10), datetime(2026, 2, 1), -1, top, 1e-6, 2e-6, 5e-7, None)
        assert [r[2:6] for r in rows if r[1] == "gpt-4o"] == [
            (datetime(1900, 1, 1), datetime(2026, 1, 10), -1, top),
            (datetime(2026, 1, 10), datetime(2026, 2, 1), -1, top),
            (datetime(2026, 2, 1), MAX_TS, -1, top)]
        assert [r[4:6] for r in rows if r[1] == "claude-sonnet-4-5"] == [(-1, 200_000),
                                                                       (200_000, top)]
        assert not any(r[1] == "mystery-1" for r in rows)  # no known price: no row
        # another organization never gets acme's override
        n_other = wprices.rates_table(cur, "other", combos, "_other_rates")
        other = cur.execute("SELECT * FROM _other_rates ORDER BY ALL").fetchall()
        assert other == want([]) and n_other == len(other)
        # nothing to price: an empty table, still with its column types (it is joined to events)
        assert wprices.rates_table(cur, "acme", [("openai", "mystery-1")], "_empty") == 0
        assert cur.execute("SELECT count(*) FROM _empty").fetchone() == (0,)
        assert _schema(cur, "_empty") == RATES_SCHEMA
        assert wprices.rates_table(cur, "acme", [], "_none") == 0
        assert _schema(cur, "_none") == RATES_SCHEMA


def test_the_sql_fragments_price_events_aliased_c_against_rates_aliased_r(wh: Warehouse) -> None:
    """What ingest uses: ``computed_cost_sql()`` and ``rates_join_sql(t)`` with their defaults
    price event ``c`` at rate row ``r``, and the join keeps events that have no price."""
    with wh.cursor(write=True) as cur:
        wprices.rates_table(cur, "acme", [("openai", "gpt-4o"), ("openai", "mystery-1")])
        cur.execute("""
            CREATE TEMP TABLE _ev AS SELECT * FROM (VALUES
                ('x1', 'openai', 'gpt-4o', TIMESTAMP '2026-01-15 12:00:00', 1000, 200, 100, 'ok'),
                ('x2', 'openai', 'mystery-1', TIMESTAMP '2026-01-15 12:00:00', 1000, 200, 0, 'ok'))
            t(request_id, provider_name, request_model, ts, input_tokens, output_tokens,
              cache_read_input_tokens, status)
        """)
        got = cur.execute(
            f"SELECT c.request_id, {wprices.computed_cost_sql()} FROM _ev c "
            f"{wprices.rates_join_sql('_rates')} ORDER BY 1"
        ).fetchall()
    assert got == [("x1", pytest.approx(price_for("openai", "gpt-4o", at=WHEN).cost(1000, 200, 100),
                                        rel=1e-12)), ("x2", None)]


# -- what a re-pricing tells the user and records ------------------------------------------------


@pytest.mark.parametrize(("result", "text"), [
    (wprices.RepriceResult(1234, 1000.0, 1234.567, changed=1000),
     "1,234 events re-priced (1,000 changed): $1,000.00 before, $1,234.57 after (+$234.57)"),
    (wprices.RepriceResult(3, 10.0, 7.5, changed=2),
     "3 events re-priced (2 changed): $10.00 before, $7.50 after (-$2.50)"),
    (wprices.RepriceResult(4, 1.0, 1.5, changed=4),
     "4 events re-priced (4 changed): $1.00 before, $1.50 after (+$0.50)"),
    (wprices.RepriceResult(2, 5.0, 5.0),
     "2 events re-priced (0 changed): $5.00 before, $5.00 after (+$0.00)"),
    # a drop below half a cent rounds to nothing: "+$0.00", never "-$0.00"
    (wprices.RepriceResult(2, 5.004, 5.0, changed=1),
     "2 events re-priced (1 changed): $5.00 before, $5.00 after (+$0.00)"),
    (wprices.RepriceResult(2, 5.0, 5.0049, changed=1),
     "2 events re-priced (1 changed): $5.00 before, $5.00 after (+$0.00)"),
    (wprices.RepriceResult(10, 0.0, 0.0, unpriced=1234),
     "10 events re-priced (0 changed): $0.00 before, $0.00 after (+$0.00); 1,234 events have "
     "no known price and were left as they were"),
])
def test_the_reprice_summary_users_read(result: wprices.RepriceResult, text: str) -> None:
    assert result.summary() == text


def test_reprice_records_who_when_and_what_in_utc(
    loaded: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    wh = loaded
    add_override(wh, _override())
    monkeypatch.setenv("TZ", "Asia/Tokyo")  # far from UTC: local time would show
    time.tzset()
    try:
        t0 = datetime.now(UTC).replace(tzinfo=None)
        result = reprice(wh, "acme", since=date(2026, 1, 1), until=date(2026, 1, 31))
        t1 = datetime.now(UTC).replace(tzinfo=None)
    finally:
        monkeypatch.undo()
        time.tzset()
    with wh.cursor() as cur:
        rows = cur.execute("SELECT * FROM reprice_log").fetchall()
    assert len(rows) == 1
    (rid, org, since, until, only_missing, events, changed, before, after, actor, started,
     finished) = rows[0]
    assert len(rid) == 32 and org == "acme" and (since, until) == (date(2026, 1, 1),
                                                                  date(2026, 1, 31))
    assert only_missing is False and actor == "system"  # nobody named: the system did it
    assert (events, changed, before, after) == (result.events, result.changed,
                                                result.cost_before, result.cost_after)
    assert (events, changed) == (len(EVENTS) - 1, 4)
    assert t0 <= started <= finished <= t1
    assert result.seconds == (finished - started).total_seconds() > 0


# -- overrides: superseding and deleting ---------------------------------------------------------


def test_supersede_only_ends_an_open_ended_price_that_started_earlier(wh: Warehouse) -> None:
    first = add_override(wh, _override()).override  # open-ended from 2026-01-10
    for clash in (_override(input_per_mtok=0.8),  # the same first day: nothing left to keep
                  _override(input_per_mtok=0.8, effective_from=date(2026, 1, 1))):  # earlier
        with pytest.raises(OverlappingOverride) as exc:
            add_override(wh, clash, supersede=True)
        assert exc.value.args and first.override_id[:8] in str(exc.value)
    assert list_overrides(wh, "acme") == [first]  # untouched, still open-ended
    bounded = add_override(wh, _override(model="gpt-4o-mini", effective_to=date(2026, 1, 31)))
    with pytest.raises(OverlappingOverride):  # a price with an end is never cut short
        add_override(wh, _override(model="gpt-4o-mini", effective_from=date(2026, 1, 20)),
                     supersede=True)
    assert list_overrides(wh, "acme", model="gpt-4o-mini") == [bounded.override]


def test_deleting_an_override_by_id_or_prefix(wh: Warehouse) -> None:
    a = add_override(wh, _override(override_id="abcdef01" + "0" * 24)).override
    b = add_override(wh, _override(override_id="abcdef02" + "0" * 24, model="gpt-4o-mini")).override
    c = add_override(wh, _override(override_id="123456ff" + "0" * 24, model="o3")).override
    theirs = add_override(wh, _override(org_id="other", override_id="fedcba98" + "0" * 24)).override

    def ids(org: str = "acme") -> set[str]:
        return {o.override_id for o in list_overrides(wh, org)}

    with pytest.raises(wprices.UnknownOverride, match="^give at least 6 characters of the override id$"):
        delete_override(wh, "acme", " 12345 ")
    with pytest.raises(wprices.UnknownOverride) as exc:
        delete_override(wh, "acme", "abcdef")  # two of them start so
    assert str(exc.value) == "abcdef matches 2 overrides; give more of it"
    with pytest.raises(wprices.UnknownOverride) as exc:
        delete_override(wh, "acme", "fedcba98")  # another organization's
    assert str(exc.value) == "no price override fedcba98 in organization acme"
    assert ids() == {a.override_id, b.override_id, c.override_id}
    assert ids("other") == {theirs.override_id}
    assert delete_override(wh, "acme", " 123456 ") == c  # six characters are enough
    assert ids() == {a.override_id, b.override_id}
    with pytest.raises(wprices.UnknownOverride, match="abcdef0 matches 2 overrides"):
        delete_override(wh, "acme", "abcdef0")
    assert delete_override(wh, "acme", "abcdef02") == b
    assert delete_override(wh, "acme", "abcdef") == a  # unique again once b is gone
    assert ids() == set() and ids("other") == {theirs.override_id}


def test_reprice_prices_each_event_at_its_own_instant_and_band(loaded: Warehouse) -> None:
    wh = loaded
    other_before = _costs(wh, "other")
    add_override(wh, _override(effective_to=date(2026, 1, 12), cached_input_per_mtok=0.5))
    add_override(wh, _override(org_id="other", input_per_mtok=50.0))  # never acme's price
    result = reprice(wh, "acme")
    costs = _costs(wh, "acme")
    list_gpt4o = price_for("openai", "gpt-4o", at=WHEN)
    assert costs["a2"] == pytest.approx(list_gpt4o.cost(2000, 300), rel=1e-12)  # 23:59:59 the day before
    assert costs["a3"] == pytest.approx((1000 * 1.0 + 500 * 0.5 + 100 * 2.0) / 1e6, rel=1e-12)
    assert costs["a4"] == pytest.approx((800 * 1.0 + 50 * 2.0) / 1e6, rel=1e-12)  # its last day
    assert costs["a5"] == pytest.approx(list_gpt4o.cost(900, 60), rel=1e-12)  # after it ended
    # above 200k input tokens the whole call is at the long-context rates
    assert costs["a7"] == pytest.approx((230_000 * 6.0 + 20_000 * 0.6 + 900 * 22.5) / 1e6,
                                        rel=1e-12)
    assert costs["a9"] == 0.0 and costs["a10"] is None  # free (local); no known price
    assert costs["a11"] == pytest.approx(list_gpt4o.cost(100, 10), rel=1e-12)  # errors cost tokens
    assert (result.events, result.unpriced) == (len(EVENTS) - 1, 1)
    assert result.cost_after == pytest.approx(sum(v or 0 for v in costs.values()), rel=1e-12)
    assert _costs(wh, "other") == other_before  # re-pricing acme never touches other
    _assert_rollups_match_events(wh)


def test_a_blank_provider_name_is_refused(wh: Warehouse) -> None:
    with pytest.raises(ValidationError) as exc:
        _override(provider_name="   ")
    assert any("provider" in m for m in override_messages(exc.value))


def test_list_overrides_for_one_provider_leaves_out_the_others(wh: Warehouse) -> None:
    add_override(wh, _override())
    add_override(wh, _override(provider_name="anthropic", model="claude-haiku-4-5"))
    assert [o.provider_name for o in list_overrides(wh, "acme", provider_name="OpenAI")] == [
        "openai"]
    assert [o.model for o in list_overrides(wh, "acme", provider_name="anthropic")] == [
        "claude-haiku-4-5"]
    assert len(list_overrides(wh, "acme")) == 2
