"""core.resources: getters without side effects, and the demo's explicit one-time set-up."""

from __future__ import annotations

from pathlib import Path

import pytest

from core import resources
from core.config_store import DiscoveryRun
from core.domain import DEMO_ORG


def test_getters_do_not_provision_or_discover(home: Path) -> None:
    providers = resources.provider_store()
    assert providers.list(DEMO_ORG) == []
    assert resources.catalog_store().models(DEMO_ORG) == []
    assert not resources.demo_ready()


def test_prepare_demo_provisions_and_discovers_once(home: Path, sim, monkeypatch) -> None:
    run = resources.prepare_demo()
    assert run is not None and run.status == "success"
    assert resources.demo_ready()
    records = resources.provider_store().list(DEMO_ORG)
    assert records and all(r.simulated for r in records)
    assert len(resources.catalog_store().models(DEMO_ORG)) >= 20

    import core.catalog.view as catalog_module

    def boom(*args, **kwargs):
        raise AssertionError("discovery ran twice")

    monkeypatch.setattr(catalog_module, "ensure_demo_catalog", boom)
    assert resources.prepare_demo() is None


def test_a_failed_first_discovery_is_tried_again(home: Path, monkeypatch) -> None:
    import core.catalog.view as catalog_module

    calls: list[str] = []

    def failing(providers, catalog, org_id):
        calls.append(org_id)
        return DiscoveryRun.model_construct(status="failed") if len(calls) == 1 else None

    monkeypatch.setattr(catalog_module, "ensure_demo_catalog", failing)
    assert resources.prepare_demo().status == "failed"
    assert not resources.demo_ready()
    assert resources.prepare_demo() is None
    assert resources.demo_ready() and calls == [DEMO_ORG, DEMO_ORG]


def test_local_ollama_probes_the_adapters_default_url(monkeypatch: pytest.MonkeyPatch) -> None:
    import core.providers.ollama as ollama

    probed: list[str] = []

    async def detect(client, url, timeout=0.5):
        probed.append(url)
        return True

    monkeypatch.setattr(ollama, "DEFAULT_URL", "http://127.0.0.1:1")
    monkeypatch.setattr(ollama, "detect_local", detect)
    resources.local_ollama.clear()
    try:
        assert resources.local_ollama() == "http://127.0.0.1:1"
    finally:
        resources.local_ollama.clear()
    assert probed == ["http://127.0.0.1:1"]
