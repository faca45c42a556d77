"""Organizations are isolated in the config store: with two organizations' providers, keys,
catalog, rules, discovery runs and audit entries in one store, every public read for one of
them returns nothing of the other (whatever ids a caller passes in)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.catalog.discovery import apply_listing
from core.config_store import CatalogStore, ModelMeta, ProviderNotFound, ProviderStore
from core.config_store.catalog_store import DiscoveryRun
from core.config_store.schemas import parse_provider_settings
from core.vault import MasterKeyGenerated

T0 = datetime(2026, 11, 1, tzinfo=UTC)
KEYS = {"alpha": "sk-alpha-ISOLATION-0123456789", "beta": "sk-beta-ISOLATION-9876543210"}


def _fill(providers: ProviderStore, catalog: CatalogStore, org: str) -> str:
    cfg = parse_provider_settings({"type": "openai", "name": f"{org}-openai"})
    pid = providers.add(org, cfg, KEYS[org], f"{org}-admin").id
    providers.record_test(org, pid, True, f"{org} ok", 3)
    apply_listing(catalog, providers.get(org, pid),
                  [ModelMeta(model_id=f"{org}-model-1"), ModelMeta(model_id=f"{org}-model-2")],
                  T0)
    catalog.set_default(org, pid, f"{org}-model-2", f"{org}-admin")
    catalog.set_rules(org, [{"pattern": f"{org}-*", "model_class": "fast", "note": org}],
                      f"{org}-admin", expected_version=catalog.rules(org).version)
    catalog.log_run(DiscoveryRun(org_id=org, started_at=T0, finished_at=T0, duration_ms=1.0,
                                 status="success", providers_checked=1, models_discovered=2,
                                 models_added=2, models_updated=0, models_deprecated=0,
                                 actor=f"{org}-admin"))
    providers.audit(org, f"{org}-admin", "test.note", pid, {"note": f"{org} note"})
    return pid


@pytest.fixture()
def two_orgs(home: Path) -> tuple[ProviderStore, CatalogStore, dict[str, str]]:
    with pytest.warns(MasterKeyGenerated):
        providers = ProviderStore()
        providers.vault  # noqa: B018 - generate the master key here, where the warning is expected
    catalog = CatalogStore()
    ids = {org: _fill(providers, catalog, org) for org in ("alpha", "beta")}
    return providers, catalog, ids


def test_every_config_store_read_for_one_org_returns_nothing_of_the_other(two_orgs) -> None:
    providers, catalog, ids = two_orgs
    a, b = ids["alpha"], ids["beta"]
    beta_runs = catalog.runs("beta")
    answers = {
        "list": providers.list("alpha"),
        "get own": providers.get("alpha", a),
        "get other's id": providers.get("alpha", b),
        "api_key own": providers.api_key("alpha", a),
        "last_test_age own": providers.last_test_age("alpha", a),
        "audit_entries": providers.audit_entries("alpha"),
        "models": catalog.models("alpha"),
        "models of other's provider": catalog.models("alpha", provider_id=b),
        "model of other's provider": catalog.model("alpha", b, "beta-model-1"),
        "defaults": catalog.defaults("alpha"),
        "rules": catalog.rules("alpha"),
        "runs": catalog.runs("alpha"),
        "run by other's id": catalog.run("alpha", beta_runs[0].id),
        "data_version": catalog.data_version("alpha"),
    }
    leaks = {name: value for name, value in answers.items() if "beta" in repr(value)
             or KEYS["beta"] in repr(value) or b in repr(value)}
    assert leaks == {}
    # and alpha's own data is really there (the reads are not simply empty)
    assert [r.id for r in answers["list"]] == [a] and answers["api_key own"] == KEYS["alpha"]
    assert {m.model_id for m in answers["models"]} == {"alpha-model-1", "alpha-model-2"}
    assert answers["defaults"][a].model_id == "alpha-model-2"
    assert [r.pattern for r in answers["rules"].rules] == ["alpha-*"]
    assert len(answers["runs"]) == 1 and answers["get other's id"] is None
    assert answers["run by other's id"] is None
    assert any(e.action == "test.note" for e in answers["audit_entries"])
    for read in (providers.last_test_age, providers.api_key):
        with pytest.raises(ProviderNotFound):  # another organization's provider is not there
            read("alpha", b)


def test_data_versions_of_two_orgs_move_independently(two_orgs) -> None:
    providers, catalog, ids = two_orgs
    before = {org: catalog.data_version(org) for org in ids}
    catalog.set_default("beta", ids["beta"], "beta-model-1", "beta-admin")
    assert catalog.data_version("alpha") == before["alpha"]
    assert catalog.data_version("beta") != before["beta"]
