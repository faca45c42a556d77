"""Discovery benchmark: every demo provider against the simulator at its normal latency.

The target (issue 4) is one discovery of all configured providers in under 10 seconds. The
simulator's model-list endpoints answer with their modelled latency (``latency_scale=1``), so
the run's wall time is what a person waiting on the page would see. As a baseline measured in
the same run, the same providers are also discovered one after another: ``ratio`` is how much
the parallel scan saves over a serial one. Everything happens in a temporary SWITCHYARD_HOME
that is removed at the end.
"""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.catalog.discovery import discover
from core.config_store import CatalogStore, ProviderStore
from core.connections import ensure_demo_providers
from core.domain import DEMO_ORG
from core.settings import get_settings
from core.vault import Vault, new_master_key

TARGET_S = 10.0


def run_discovery_bench(*, seed: int = 7, latency_scale: float = 1.0,
                        progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Cold run (every model new), warm run (nothing changed), serial baseline; returns the
    JSON-ready result (``providers``, ``wall_s``, ``target_s``, ``ok`` and details)."""
    from core.simulator.launcher import start_background

    say = progress or (lambda _m: None)
    tmp = Path(tempfile.mkdtemp(prefix="switchyard-bench-discovery-"))
    try:
        settings = dataclasses.replace(get_settings(), home=tmp,
                                       config_path=tmp / "config.sqlite",
                                       master_key_path=tmp / "master.key")
        # A throwaway in-memory master key: nothing to back up, no key file written.
        providers = ProviderStore(settings=settings, vault=Vault(new_master_key()))
        records = ensure_demo_providers(providers, DEMO_ORG)
        catalog = CatalogStore(settings=settings)
        with start_background(0, seed=seed, latency_scale=latency_scale) as sim:

            async def once(ids: list[str] | None = None):
                return await discover(providers, catalog, DEMO_ORG, provider_ids=ids,
                                      actor="bench", sim_root=sim.url)

            def timed(ids: list[str] | None = None):
                t = time.perf_counter()
                run = asyncio.run(once(ids))
                return run, time.perf_counter() - t

            say(f"Discovering {len(records)} simulated providers (latency x{latency_scale:g})…")
            cold, cold_s = timed()
            say(f"cold: {cold.summary()}")
            warm, warm_s = timed()
            say(f"warm: {warm.summary()}")
            serial_s = 0.0
            for r in records:
                _run, s = timed([r.id])
                serial_s += s
            say(f"serial baseline: {serial_s:.2f} s for {len(records)} providers one by one")
        wall_s = max(cold_s, warm_s)
        ok = cold.status == "success" and warm.status == "success" and wall_s < TARGET_S
        return {
            "providers": len(records), "models": cold.models_discovered,
            "cold_s": round(cold_s, 3), "warm_s": round(warm_s, 3),
            "serial_s": round(serial_s, 3), "ratio": round(serial_s / warm_s, 2),
            "wall_s": round(wall_s, 3), "target_s": TARGET_S, "ok": ok,
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
