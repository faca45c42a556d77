"""Configured providers -> adapters -> connection tests, and the demo's simulated providers."""

from __future__ import annotations

from pathlib import Path

from core import connections
from core.config_store import ProviderStore
from core.config_store.schemas import parse_provider_settings

CANARY = "sk-canary-CONNECTIONS-51f0aa29c4"



def test_demo_providers_are_added_once_and_removed_ones_stay_removed(home: Path) -> None:
    store = ProviderStore()
    first = connections.ensure_demo_providers(store)
    assert len(first) == len(connections.DEMO_PROVIDERS)
    assert all(r.simulated for r in first)
    assert len(connections.ensure_demo_providers(store)) == len(first)
    store.remove("demo", "sim-mistral", "tester")
    assert "sim-mistral" not in {r.id for r in connections.ensure_demo_providers(store)}
    # other organizations never get simulated providers: an empty one stays empty
    assert connections.ensure_demo_providers(store, "acme") == []
    assert store.list("acme") == []


def test_demo_providers_are_not_added_next_to_real_ones(home: Path) -> None:
    store = ProviderStore()
    cfg = parse_provider_settings({"type": "openai", "name": "OpenAI prod"})
    store.add("demo", cfg, CANARY, "tester")
    records = connections.ensure_demo_providers(store)
    assert [r.name for r in records] == ["OpenAI prod"]


def test_every_demo_provider_connects_to_the_simulator(home: Path, sim) -> None:
    store = ProviderStore()
    records = connections.ensure_demo_providers(store)
    seen = []
    outcomes = connections.run_tests(store, records, actor="tester", on_done=seen.append)
    assert len(seen) == len(records)
    for o in outcomes:
        assert o.result is not None and o.result.ok, (o.name, o.result and o.result.message)
        assert o.result.models and o.result.models > 0
    stored = {r.id: r for r in store.list("demo")}
    assert all(r.last_test_ok for r in stored.values())


def test_a_second_test_within_seconds_is_throttled(home: Path, sim) -> None:
    store = ProviderStore()
    rec = connections.ensure_demo_providers(store)[0]
    connections.run_tests(store, [rec], actor="tester")
    (again,) = connections.run_tests(store, [store.get("demo", rec.id)], actor="tester")
    assert again.result is None and again.throttled is not None
    assert "before testing it again" in str(again.throttled)


def test_failures_are_recorded_with_the_reason_and_without_the_key(home: Path, sim) -> None:
    store = ProviderStore()
    cfg = parse_provider_settings({"type": "openai_compatible", "name": "Gateway",
                                   "base_url": sim.base_urls["openai_compatible"]})
    store.add("demo", cfg, "bad-key", "tester")
    sim.simulator.clear_faults()
    (o,) = connections.run_tests(store, store.list("demo"), actor="tester")
    assert not o.result.ok and "Authentication" in o.result.message
    assert "bad-key" not in o.result.message



def test_a_provider_outage_is_reported_as_unavailable(home: Path, sim) -> None:
    from core.simulator.faults import FaultRule

    store = ProviderStore()
    records = connections.ensure_demo_providers(store)
    sim.simulator.add_fault(FaultRule(provider="anthropic", status=529))
    outcomes = {o.provider_id: o for o in connections.run_tests(store, records, actor="tester")}
    assert not outcomes["sim-anthropic"].result.ok
    assert "Unavailable" in outcomes["sim-anthropic"].result.message
    assert outcomes["sim-openai"].result.ok
