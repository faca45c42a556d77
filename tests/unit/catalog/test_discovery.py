"""Model discovery: the pure diff, the catalog store, and runs against the simulator."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from core import connections
from core.catalog import discovery
from core.catalog.discovery import (
    Diff,
    DiscoveryError,
    apply_diff,
    apply_listing,
    choose_default,
    diff,
    run_discovery,
)
from core.config_store import (
    KEEP,
    CatalogModel,
    CatalogStore,
    ConfigStoreError,
    InvalidRules,
    ModelMeta,
    ProviderNotFound,
    ProviderStore,
    StaleWrite,
)
from core.config_store.schemas import parse_provider_settings
from core.model_classes import DEFAULT_RULES
from core.simulator.faults import FaultRule
from core.vault import Vault, new_master_key

CANARY = "sk-canary-DISCOVERY-7f3a9c51e2"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


# ---- pure: diff, apply, default ----------------------------------------------------------

def meta(mid: str, **kw) -> ModelMeta:
    return ModelMeta(model_id=mid, **kw)


def row(mid: str, *, active: bool = True, **kw) -> CatalogModel:
    extra = {} if active else {"deprecated_at": T0}
    return CatalogModel(model_id=mid, org_id="demo", provider_id="p", active=active,
                        first_seen=T0, last_seen=T0, updated_at=T0, **extra, **kw)


def groups(d: Diff) -> dict[str, list[str]]:
    return {
        "new": [m.model_id for m in d.new], "updated": [m.model_id for m in d.updated],
        "reactivated": [m.model_id for m in d.reactivated], "deprecated": list(d.deprecated),
        "unchanged": list(d.unchanged),
    }


def test_diff_sorts_a_listing_into_the_five_groups() -> None:
    existing = [row("same"), row("renamed", display_name="Old"), row("gone"),
                row("back", active=False), row("long-gone", active=False)]
    listed = [meta("same"), meta("renamed", display_name="New"), meta("back"), meta("fresh"),
              meta("fresh", display_name="duplicate: the first listing wins")]
    d = diff(existing, listed)
    assert groups(d) == {"new": ["fresh"], "updated": ["renamed"], "reactivated": ["back"],
                         "deprecated": ["gone"], "unchanged": ["long-gone", "same"]}
    assert d.new[0].display_name is None and d.updated[0].display_name == "New"
    assert d.changed and not diff([row("same")], [meta("same")]).changed
    # a change of class (new rules) is an update too
    assert groups(diff([row("m", model_class="fast")], [meta("m", model_class="legacy")])
                  )["updated"] == ["m"]


mids = st.sampled_from([f"m{i}" for i in range(8)])
metas = st.builds(meta, mids, display_name=st.sampled_from([None, "A", "B"]),
                  model_class=st.sampled_from([None, "flagship", "fast", "legacy"]),
                  context_window=st.sampled_from([None, 8_000, 128_000]))
rows = st.builds(lambda m, active: row(**{"mid": m.model_id, "active": active},
                                       **m.model_dump(exclude={"model_id"})),
                 metas, st.booleans())
existings = st.lists(rows, max_size=8, unique_by=lambda r: r.model_id)
listings = st.lists(metas, max_size=10)


@settings(max_examples=150, deadline=None)
@given(existing=existings, listed=listings)
def test_diff_partitions_the_union_of_known_and_listed(existing, listed) -> None:
    g = groups(diff(existing, listed))
    flat = [mid for ids in g.values() for mid in ids]
    assert len(flat) == len(set(flat)), "a model is in two groups"
    assert set(flat) == {r.model_id for r in existing} | {m.model_id for m in listed}
    listed_ids = {m.model_id for m in listed}
    assert not set(g["deprecated"]) & listed_ids
    assert set(g["new"]) | set(g["updated"]) | set(g["reactivated"]) <= listed_ids


@settings(max_examples=150, deadline=None)
@given(existing=existings, listed=listings)
def test_applying_a_diff_twice_changes_nothing_and_deletes_nothing(existing, listed) -> None:
    now = T0 + timedelta(days=30)
    d1 = diff(existing, listed)
    after = apply_diff(existing, d1, org_id="demo", provider_id="p", now=now)
    # never deleted: every known model is still there; unlisted ones are inactive
    assert {r.model_id for r in existing} <= {r.model_id for r in after}
    listed_ids = {m.model_id for m in listed}
    for r in after:
        assert r.active == (r.model_id in listed_ids)
        assert (r.deprecated_at is None) == r.active
        assert not (r.is_default and not r.active)
    d2 = diff(after, listed)
    assert not d2.changed, groups(d2)
    assert apply_diff(after, d2, org_id="demo", provider_id="p", now=now) == after
    # the default is always an active model, and exists when anything is active
    chosen = choose_default(after, None)
    assert (chosen is None) == (not listed_ids)
    assert chosen is None or chosen in listed_ids


def test_choose_default_prefers_pinned_then_configured_flagship_then_newest() -> None:
    day = timedelta(days=1)
    models = [row("gpt-5", model_class="flagship", released_at=T0),
              row("gpt-5-2025-08-07", model_class="flagship", released_at=T0),
              row("gpt-5.1", model_class="flagship", released_at=T0 + day),
              row("gpt-5-mini", model_class="fast", released_at=T0 + 2 * day),
              row("gpt-4o", model_class="legacy")]
    assert choose_default(models, None) == "gpt-5.1"  # the newest flagship
    assert choose_default(models, "gpt-5") == "gpt-5"  # configured and a flagship
    assert choose_default(models, "gpt-4o") == "gpt-5.1"  # configured, but legacy
    pinned = [m.model_copy(update={"is_default": True, "default_pinned": True})
              if m.model_id == "gpt-4o" else m for m in models]
    assert choose_default(pinned, "gpt-5") == "gpt-4o"  # a person chose it
    # a tie on release date: the moving alias, not the dated snapshot
    assert choose_default(models[:2], None) == "gpt-5"
    # no flagship: the configured model (even through its dated snapshot), else the fastest
    no_flag = [row("claude-haiku-4-5-20251001", model_class="fast"),
               row("claude-3-haiku", model_class="legacy")]
    assert choose_default(no_flag, "claude-haiku-4-5") == "claude-haiku-4-5-20251001"
    assert choose_default(no_flag, "missing") == "claude-haiku-4-5-20251001"
    assert choose_default([row("a", active=False)], "a") is None


# ---- the store ---------------------------------------------------------------------------

@pytest.fixture()
def stores(home: Path) -> tuple[ProviderStore, CatalogStore]:
    return ProviderStore(), CatalogStore()


def add_provider(store: ProviderStore, org: str, name: str = "OpenAI", ptype: str = "openai",
                 **kw) -> str:
    cfg = parse_provider_settings({"type": ptype, "name": name, **kw})
    return store.add(org, cfg, "sk-test-key-123456", "tester").id


def sync(catalog: CatalogStore, providers: ProviderStore, org: str, pid: str,
         listed: list[ModelMeta], when: datetime):
    return apply_listing(catalog, providers.get(org, pid), listed, when)


def test_store_applies_listings_reactivates_and_never_deletes(stores) -> None:
    providers, catalog = stores
    pid = add_provider(providers, "acme")
    v1 = [meta("gpt-5", model_class="flagship"), meta("gpt-4o", model_class="legacy")]
    d, written, previous = sync(catalog, providers, "acme", pid, v1, T0)
    assert groups(d)["new"] == ["gpt-4o", "gpt-5"] and previous is None
    assert written.default_model_id == "gpt-5"
    first = {m.model_id: m for m in catalog.models("acme")}
    assert first["gpt-5"].is_default and first["gpt-5"].first_seen == T0

    d, _, _ = sync(catalog, providers, "acme", pid, [v1[0]], T0 + timedelta(days=30))
    assert d.deprecated == ("gpt-4o",)
    gone = catalog.model("acme", pid, "gpt-4o")
    assert gone is not None and not gone.active and gone.deprecated_at is not None
    assert [m.model_id for m in catalog.models("acme", active_only=True)] == ["gpt-5"]
    assert len(catalog.models("acme")) == 2  # still there

    d, _, _ = sync(catalog, providers, "acme", pid, v1, T0 + timedelta(days=60))
    assert [m.model_id for m in d.reactivated] == ["gpt-4o"]
    back = catalog.model("acme", pid, "gpt-4o")
    assert back.active and back.deprecated_at is None and back.first_seen == T0
    assert back.last_seen == T0 + timedelta(days=60)


@settings(max_examples=15, deadline=None)
@given(listings=st.lists(listings, min_size=1, max_size=4))
def test_the_store_writes_exactly_what_the_pure_diff_says(listings) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "config.sqlite"
        providers = ProviderStore(db, vault=Vault(new_master_key()))
        catalog = CatalogStore(db)
        pid = add_provider(providers, "acme")
        record = providers.get("acme", pid)
        expected: list[CatalogModel] = []
        for i, listed in enumerate(listings):
            when = T0 + timedelta(days=i)
            expected = apply_diff(expected, diff(expected, listed), org_id="acme",
                                  provider_id=pid, now=when)
            apply_listing(catalog, record, listed, when)
            stored = catalog.models("acme")
            strip = {"is_default", "default_pinned", "updated_at"}
            assert sorted((m.model_dump(exclude=strip) for m in stored),
                          key=lambda m: m["model_id"]) == \
                [m.model_dump(exclude=strip) for m in expected]
            defaults = [m.model_id for m in stored if m.is_default]
            assert defaults == ([choose_default(expected, None)]
                                if any(m.active for m in expected) else [])


def test_organizations_are_isolated(stores) -> None:
    providers, catalog = stores
    pid = add_provider(providers, "acme")
    sync(catalog, providers, "acme", pid, [meta("gpt-5", model_class="flagship")], T0)
    assert catalog.models("other") == [] and catalog.defaults("other") == {}
    assert catalog.model("other", pid, "gpt-5") is None
    with pytest.raises(ProviderNotFound):
        catalog.set_default("other", pid, "gpt-5", "mallory")
    with pytest.raises(ProviderNotFound):
        catalog.sync_provider("other", pid, lambda existing: pytest.fail("planned"))
    catalog.set_rules("other", [{"pattern": "*", "model_class": "legacy"}], "mallory")
    assert catalog.rules("acme").is_default and len(catalog.rules("other").rules) == 1
    with pytest.raises(ConfigStoreError):
        catalog.models("NOT AN ORG")


def test_set_default_pins_until_the_model_is_gone(stores) -> None:
    providers, catalog = stores
    pid = add_provider(providers, "acme")
    v1 = [meta("gpt-5", model_class="flagship"), meta("gpt-4o", model_class="legacy")]
    sync(catalog, providers, "acme", pid, v1, T0)
    with pytest.raises(ConfigStoreError, match="not in this provider's catalog"):
        catalog.set_default("acme", pid, "gpt-9", "alice")
    pinned = catalog.set_default("acme", pid, "gpt-4o", "alice")
    assert pinned.is_default and pinned.default_pinned
    assert not catalog.model("acme", pid, "gpt-5").is_default
    sync(catalog, providers, "acme", pid, v1, T0 + timedelta(days=1))
    assert catalog.defaults("acme")[pid].model_id == "gpt-4o"  # discovery kept it
    sync(catalog, providers, "acme", pid, v1[:1], T0 + timedelta(days=2))
    assert catalog.defaults("acme")[pid].model_id == "gpt-5"  # gone: discovery chose again
    with pytest.raises(ConfigStoreError, match="no longer offered"):
        catalog.set_default("acme", pid, "gpt-4o", "alice")
    catalog.set_default("acme", pid, None, "alice")  # back to automatic
    assert not catalog.defaults("acme")[pid].default_pinned
    actions = [(e.action, e.detail.get("model_id")) for e in
               providers.audit_entries("acme") if e.action == "catalog.default"]
    assert actions == [("catalog.default", None), ("catalog.default", "gpt-4o")]


def test_rules_default_then_own_then_reset_with_audit_and_stale_writes(stores) -> None:
    providers, catalog = stores
    rs = catalog.rules("acme")
    assert rs.is_default and rs.version == 0 and rs.rules == DEFAULT_RULES
    mine = [{"provider_type": "openai", "pattern": "gpt-4o*", "model_class": "flagship",
             "note": "we like it"}, *[r.model_dump() for r in DEFAULT_RULES]]
    rs = catalog.set_rules("acme", mine, "alice", expected_version=0)
    assert not rs.is_default and rs.version == 1 and rs.updated_by == "alice"
    assert rs.rules[0].pattern == "gpt-4o*" and len(rs.rules) == len(DEFAULT_RULES) + 1
    with pytest.raises(StaleWrite):
        catalog.set_rules("acme", [], "bob", expected_version=0)
    empty = catalog.set_rules("acme", [], "bob", expected_version=1)
    assert empty.rules == () and not empty.is_default  # "classify nothing" is a choice
    with pytest.raises(InvalidRules) as info:
        catalog.set_rules("acme", [{"pattern": "(", "match": "regex", "model_class": "x"}],
                          "bob")
    assert any(m.startswith("Rule 1") for m in info.value.messages)
    assert catalog.rules("acme").version == 2  # a bad save changed nothing
    assert catalog.reset_rules("acme", "carol").is_default
    audit = [e for e in providers.audit_entries("acme") if e.action.startswith("catalog.rules")]
    assert [e.action for e in audit] == ["catalog.rules.reset", "catalog.rules", "catalog.rules"]
    assert "openai: gpt-4o* -> flagship" in audit[2].detail["added"]


def test_removing_a_provider_removes_its_catalog_rows(stores) -> None:
    providers, catalog = stores
    pid = add_provider(providers, "acme")
    sync(catalog, providers, "acme", pid, [meta("gpt-5")], T0)
    providers.remove("acme", pid, "alice")
    assert catalog.models("acme") == []


# ---- discovery against the simulator -------------------------------------------------------

@pytest.fixture()
def sim(monkeypatch: pytest.MonkeyPatch) -> Iterator:
    from core.simulator.server import start_background

    with start_background(0, seed=5, latency_scale=0.0) as handle:
        monkeypatch.setenv("SWITCHYARD_SIMULATOR_URL", handle.url)
        yield handle


@pytest.fixture()
def demo(home: Path, sim) -> tuple[ProviderStore, CatalogStore]:
    providers = ProviderStore()
    connections.ensure_demo_providers(providers)
    return providers, CatalogStore()


def test_every_demo_provider_is_discovered_in_parallel_with_progress(demo) -> None:
    providers, catalog = demo
    seen: list[tuple[int, int, str, bool]] = []
    run = run_discovery(providers, catalog, "demo", actor="alice",
                        on_progress=lambda *a: seen.append(a))
    n = len(connections.DEMO_PROVIDERS)
    assert run.id is not None and run.status == "success" and run.errors == {}
    assert run.providers_checked == n and [s[0] for s in seen] == list(range(1, n + 1))
    assert all(s[1] == n and s[3] for s in seen)
    assert run.models_added == run.models_discovered == len(catalog.models("demo")) > 20
    by_id = {p.provider_id: p for p in run.providers}
    assert all(p.ok and p.listed > 0 for p in by_id.values())
    defaults = {pid: m.model_id for pid, m in catalog.defaults("demo").items()}
    assert defaults == {"sim-openai": "gpt-5", "sim-anthropic": "claude-sonnet-4-5-20250929",
                        "sim-gemini": "gemini-2.5-pro", "sim-mistral": "mistral-large-latest",
                        "sim-ollama": "llama3.2-vision:11b", "sim-vision": "builtin/stable"}
    m = catalog.model("demo", "sim-openai", "gpt-5-mini")
    assert (m.model_class, m.kind, m.active) == ("fast", "multimodal", True)
    assert catalog.model("demo", "sim-vision", "builtin/stable").kind == "tagging"
    assert catalog.models("demo", model_class="flagship", provider_id="sim-gemini")[0] \
        .model_id == "gemini-2.5-pro"
    again = run_discovery(providers, catalog, "demo", actor="alice")
    assert (again.models_added, again.models_updated, again.models_deprecated) == (0, 0, 0)
    assert [r.id for r in catalog.runs("demo")] == [again.id, run.id]
    audit = [e for e in providers.audit_entries("demo") if e.action == "catalog.discover"]
    assert [e.target for e in audit] == [str(again.id), str(run.id)]
    assert audit[1].detail["defaults"]["sim-openai"] == "gpt-5"


def test_one_failing_provider_makes_a_partial_run_and_keeps_its_models(demo, sim) -> None:
    providers, catalog = demo
    run_discovery(providers, catalog, "demo", actor="alice")
    mistral_before = catalog.models("demo", provider_id="sim-mistral")
    sim.simulator.add_fault(FaultRule(provider="mistral", status=500))
    sim.simulator.add_fault(FaultRule(provider="openai", list_models_add=["gpt-5.1"]))
    run = run_discovery(providers, catalog, "demo", actor="alice")
    assert run.status == "partial"
    assert list(run.errors) == ["sim-mistral"] and "500" in run.errors["sim-mistral"]
    assert [(r.provider_id, r.model_id) for r in run.added] == [("sim-openai", "gpt-5.1")]
    # a provider that did not answer is not a provider that retired its models
    assert catalog.models("demo", provider_id="sim-mistral") == mistral_before
    assert all(m.active for m in mistral_before)
    assert catalog.runs("demo")[0].status == "partial"


def test_a_run_fails_when_every_chosen_provider_fails(demo, sim) -> None:
    providers, catalog = demo
    sim.simulator.add_fault(FaultRule(provider="openai", status=503))
    run = run_discovery(providers, catalog, "demo", provider_ids=["sim-openai"], actor="cron")
    assert run.status == "failed" and run.providers_checked == 1
    assert run.models_discovered == 0 and catalog.models("demo") == []
    assert catalog.runs("demo")[0].id == run.id


def test_new_and_dropped_models_are_added_and_deprecated_and_history_shows_both(demo,
                                                                                  sim) -> None:
    providers, catalog = demo
    first = run_discovery(providers, catalog, "demo", actor="cron")
    sim.simulator.add_fault(FaultRule(provider="openai", list_models_add=["gpt-5.1"],
                                      list_models_remove=["gpt-4o-mini"]))
    second = run_discovery(providers, catalog, "demo", actor="cron")
    assert second.status == "success"
    assert [(r.provider_id, r.model_id) for r in second.added] == [("sim-openai", "gpt-5.1")]
    assert [(r.provider_id, r.model_id) for r in second.deprecated] == [
        ("sim-openai", "gpt-4o-mini"), ("sim-openai", "gpt-4o-mini-2024-07-18")]
    gone = catalog.model("demo", "sim-openai", "gpt-4o-mini")
    assert gone is not None and not gone.active and gone.deprecated_at is not None
    new = catalog.model("demo", "sim-openai", "gpt-5.1")
    assert new.active and new.model_class == "flagship"
    assert catalog.defaults("demo")["sim-openai"].model_id == "gpt-5.1"  # newest flagship
    history = catalog.runs("demo")
    assert [r.id for r in history] == [second.id, first.id]
    assert history[0].added == second.added and history[0].deprecated == second.deprecated
    assert history[1].models_added == first.models_added

    sim.simulator.add_fault(FaultRule(provider="openai", list_models_add=["gpt-4o-mini"]))
    third = run_discovery(providers, catalog, "demo", provider_ids=["sim-openai"], actor="cron")
    assert {r.model_id for r in third.reactivated} == {"gpt-4o-mini", "gpt-4o-mini-2024-07-18"}
    assert catalog.model("demo", "sim-openai", "gpt-4o-mini").active


def test_a_hung_provider_times_out_without_stalling_the_run(demo, sim) -> None:
    providers, catalog = demo
    sim.simulator.add_fault(FaultRule(provider="gemini", latency_ms=5_000))
    run = run_discovery(providers, catalog, "demo", actor="cron", timeout_s=0.5)
    assert run.status == "partial" and list(run.errors) == ["sim-gemini"]
    assert "timed out" in run.errors["sim-gemini"]
    assert run.duration_ms < 4_000


def test_rule_changes_reclassify_on_the_next_run(demo) -> None:
    providers, catalog = demo
    run_discovery(providers, catalog, "demo", actor="cron")
    catalog.set_rules("demo", [{"pattern": "gpt-4o*", "model_class": "flagship"},
                               *[r.model_dump() for r in DEFAULT_RULES]], "alice")
    run = run_discovery(providers, catalog, "demo", provider_ids=["sim-openai"], actor="cron")
    assert run.models_updated == 4  # gpt-4o, gpt-4o-mini and their snapshots
    assert catalog.model("demo", "sim-openai", "gpt-4o").model_class == "flagship"


def test_errors_never_carry_the_key(home: Path) -> None:
    """A provider that echoes the key in its error (as OpenAI's 401 does) is quoted without it."""
    import httpx

    def handler(request: httpx.Request) -> httpx.Response:
        key = request.headers.get("authorization", "").removeprefix("Bearer ")
        status = 401 if "gw-a" in str(request.url) else 500
        return httpx.Response(status, json={"error": {
            "message": f"Incorrect API key provided: {key}. Check it at example.com."}})

    providers, catalog = ProviderStore(), CatalogStore()
    for name, host in (("Gateway A", "gw-a"), ("Gateway B", "gw-b")):
        cfg = parse_provider_settings({"type": "openai_compatible", "name": name,
                                       "base_url": f"https://{host}.example/v1"})
        providers.add("demo", cfg, CANARY, "tester")

    async def go():
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            return await discovery.discover(providers, catalog, "demo", actor="tester",
                                            client=client)

    run = asyncio.run(go())
    assert run.status == "failed" and len(run.errors) == 2
    for message in run.errors.values():
        assert "Incorrect API key provided" in message, message
        assert CANARY not in message and CANARY[:8] not in message
    assert any("Authentication" in m for m in run.errors.values())
    stored = catalog.runs("demo")[0].model_dump_json()
    audit = "".join(e.model_dump_json() for e in providers.audit_entries("demo"))
    assert CANARY not in stored and CANARY not in audit
    files = [p for p in home.iterdir() if p.name.startswith("config.sqlite")]
    assert files and all(CANARY.encode() not in p.read_bytes() for p in files)


def test_choosing_providers(demo) -> None:
    providers, catalog = demo
    with pytest.raises(DiscoveryError, match="No such provider in this organization: nope"):
        run_discovery(providers, catalog, "demo", provider_ids=["nope"], actor="x")
    with pytest.raises(DiscoveryError, match="No such provider"):  # another org's provider
        run_discovery(providers, catalog, "acme", provider_ids=["sim-openai"], actor="x")
    with pytest.raises(DiscoveryError, match="no enabled providers"):
        run_discovery(providers, catalog, "acme", actor="x")
    rec = providers.get("demo", "sim-ollama")
    providers.update("demo", rec.id, rec.settings.model_copy(update={"enabled": False}), KEEP,
                     "x")
    with pytest.raises(DiscoveryError, match="disabled"):
        run_discovery(providers, catalog, "demo", provider_ids=["sim-ollama"], actor="x")
    run = run_discovery(providers, catalog, "demo", actor="x")
    assert "sim-ollama" not in {p.provider_id for p in run.providers}
    assert run.providers_checked == len(connections.DEMO_PROVIDERS) - 1


# ---- the CLI -------------------------------------------------------------------------------

def test_cli_discover_exit_codes_and_history(demo, sim) -> None:
    from core.cli import main

    runner = CliRunner()
    ok = runner.invoke(main, ["discover"])
    assert ok.exit_code == 0, ok.output
    assert "OpenAI (simulated): 12 listed · 12 new" in ok.output
    assert "Discovery succeeded" in ok.output

    sim.simulator.add_fault(FaultRule(provider="mistral", status=500))
    sim.simulator.add_fault(FaultRule(provider="openai", list_models_remove=["gpt-4o"]))
    partial = runner.invoke(main, ["discover"])
    assert partial.exit_code == 0
    assert "FAILED  Mistral (simulated)" in partial.output
    assert "partly failed" in partial.output and "Partial run" in partial.output
    assert "- OpenAI (simulated): gpt-4o\n" in partial.output
    assert runner.invoke(main, ["discover", "--strict"]).exit_code == 2

    failed = runner.invoke(main, ["discover", "--provider", "sim-mistral"])
    assert failed.exit_code == 1 and "Discovery failed" in failed.output
    unknown = runner.invoke(main, ["discover", "--provider", "nope"])
    assert unknown.exit_code == 1 and "No such provider" in unknown.output

    history = runner.invoke(main, ["discover", "--history", "--limit", "2"])
    assert history.exit_code == 0
    lines = [x for x in history.output.splitlines() if x.startswith("#")]
    assert len(lines) == 2 and "\tfailed\t" in lines[0] and "\tpartial\t" in lines[1]
