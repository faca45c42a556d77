"""Configured providers -> live adapters: connection tests, the demo's simulated providers.

This is where the config store (settings, encrypted key), the adapter registry and the
simulator meet, so the Providers page and the CLI stay thin. The plaintext key is fetched
from the vault right before an adapter is built and lives only as long as that adapter.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

import httpx
import pandas as pd

from core.config_store import ProviderRecord, ProviderStore
from core.config_store.schemas import check_model_id, parse_provider_settings
from core.domain import DEMO_ORG
from core.provider_names import PROVIDER_TYPES, KeyPolicy, ProviderType
from core.providers.base import Adapter, CheckResult
from core.providers.errors import ProviderError
from core.providers.ollama import OllamaAdapter, PullProgress
from core.providers.registry import make_adapter
from core.redact import scrub

# One connection test per provider every few seconds: protects provider quotas from a
# nervous double click and a "Test all" right after a single test.
TEST_INTERVAL_S = 5.0
SIMULATED_KEY = "simulated-demo-key"  # not a secret: the simulator accepts any key

# The demo organization's simulated providers: (id, type, display name, default model).
DEMO_PROVIDERS: tuple[tuple[str, ProviderType, str, str], ...] = (
    ("sim-openai", ProviderType.openai, "OpenAI (simulated)", "gpt-4o-mini"),
    ("sim-anthropic", ProviderType.anthropic, "Anthropic (simulated)", "claude-haiku-4-5"),
    ("sim-gemini", ProviderType.gemini, "Google Gemini (simulated)", "gemini-2.5-flash"),
    ("sim-mistral", ProviderType.mistral, "Mistral (simulated)", "mistral-small-latest"),
    ("sim-ollama", ProviderType.ollama, "Ollama (simulated)", "llama3.2-vision:11b"),
    ("sim-vision", ProviderType.gcp_vision, "Cloud Vision (simulated)", "builtin/stable"),
)


class Throttled(Exception):
    """A provider was tested moments ago; says when the next test may run."""

    def __init__(self, name: str, wait_s: float) -> None:
        self.wait_s = wait_s
        super().__init__(
            f"{name} was tested {TEST_INTERVAL_S - wait_s:.0f} s ago; wait {wait_s:.0f} s "
            "before testing it again."
        )


@dataclass(frozen=True)
class TestOutcome:
    provider_id: str
    name: str
    result: CheckResult | None  # None when throttled
    throttled: Throttled | None = None

    def message(self) -> str:
        """One line for the person who asked for the test."""
        if self.throttled:
            return f"⏳ {self.throttled}"
        if self.result and self.result.ok:
            return f"✅ {self.name}: {self.result.message}"
        return f"❌ {self.name}: {self.result.message if self.result else 'failed'}"


def _when(ts: datetime | None) -> str:
    return f"{ts:%d %b %H:%M:%S}" if ts else "never"


def providers_table(records: Iterable[ProviderRecord], *, with_keys: bool) -> pd.DataFrame:
    """The Providers page's table (and its CSV): status of each provider's last test; the
    key column (last four characters only) for those who manage providers."""
    status = {True: "✅ connected", False: "❌ failed", None: "— not tested"}
    rows = []
    for r in records:
        row: dict[str, object] = {
            "Name": r.name + (" (simulated)" if r.simulated and "simulated" not in r.name else ""),
            "Type": r.info.label,
            "Base URL": "built-in simulator" if r.simulated else (r.settings.base_url or ""),
            "Models": r.model_count,
            "Last test": status[r.last_test_ok],
            "Tested at": _when(r.last_test_at),
            "Latency (ms)": round(r.last_test_latency_ms) if r.last_test_latency_ms else None,
            "Message": r.last_test_message or "",
            "Enabled": r.enabled,
        }
        if with_keys:
            row["Key"] = (r.key_last4 or "set") if r.has_key else (
                "not needed" if r.info.key_policy is KeyPolicy.none else "none")
        rows.append(row)
    return pd.DataFrame(rows)


def simulator_root() -> str:
    """Where simulated providers live: ``SWITCHYARD_SIMULATOR_URL`` (e.g. a
    ``switchyard simulator`` you started) or an in-process simulator started on first use."""
    from core.settings import lookup

    url = lookup("SWITCHYARD_SIMULATOR_URL")
    if url:
        return str(url).rstrip("/")
    return _in_process_simulator()


_SIM_HANDLE = None


def _in_process_simulator() -> str:
    """One simulator per process, on a free loopback port (the app and the CLI share code)."""
    global _SIM_HANDLE
    if _SIM_HANDLE is None:
        from core.simulator.launcher import start_background

        _SIM_HANDLE = start_background(0, seed=int(os.environ.get("SWITCHYARD_SIM_SEED", 7)))
    return _SIM_HANDLE.url


def base_url_for(record: ProviderRecord, sim_root: str | None = None) -> str | None:
    """The URL an adapter calls: simulated providers follow wherever the simulator runs."""
    if record.simulated:
        from core.simulator.launcher import base_urls

        root = sim_root or simulator_root()
        return base_urls(root)[record.type.value] if root else None
    return record.settings.base_url


def adapter_for(store: ProviderStore, record: ProviderRecord, client: httpx.AsyncClient,
                sim_root: str | None = None) -> Adapter:
    headers = record.settings.adapter_headers()
    return make_adapter(
        record.type.value, client,
        base_url=base_url_for(record, sim_root),
        api_key=store.api_key(record.org_id, record.id),
        headers=headers,
    )


def check_throttle(store: ProviderStore, record: ProviderRecord) -> None:
    age = store.last_test_age(record.org_id, record.id)
    if age is not None and age < TEST_INTERVAL_S:
        raise Throttled(record.name, TEST_INTERVAL_S - age)


async def _test_one(store: ProviderStore, record: ProviderRecord, client: httpx.AsyncClient,
                    sim_root: str | None, actor: str) -> CheckResult:
    started = time.perf_counter()
    try:
        adapter = adapter_for(store, record, client, sim_root)
        result = await adapter.check()
    except ProviderError as exc:
        result = CheckResult(False, exc.user_message(), error=exc)
    except Exception as exc:  # noqa: BLE001 - a test must report, not crash the page
        result = CheckResult(False, f"Unexpected error: {scrub(type(exc).__name__ + ': ' + str(exc))}")
    latency = result.latency_ms if result.latency_ms is not None else \
        (time.perf_counter() - started) * 1000
    store.record_test(record.org_id, record.id, result.ok, result.message, latency,
                      result.models, actor=actor)
    return result


async def test_providers(
    store: ProviderStore,
    records: Iterable[ProviderRecord],
    *,
    actor: str,
    client: httpx.AsyncClient | None = None,
    sim_root: str | None = None,
    on_done: Callable[[TestOutcome], None] | None = None,
    throttle: bool = True,
) -> list[TestOutcome]:
    """Test several providers in parallel; ``on_done`` is called as each finishes (progress)."""
    records = list(records)
    if any(r.simulated for r in records) and sim_root is None:
        sim_root = simulator_root()
    own = client is None
    client = client or httpx.AsyncClient(timeout=httpx.Timeout(15.0, connect=5.0))
    outcomes: list[TestOutcome] = []

    async def run(record: ProviderRecord) -> None:
        if throttle:
            try:
                check_throttle(store, record)
            except Throttled as exc:
                out = TestOutcome(record.id, record.name, None, exc)
                outcomes.append(out)
                if on_done:
                    on_done(out)
                return
        result = await _test_one(store, record, client, sim_root, actor)
        out = TestOutcome(record.id, record.name, result)
        outcomes.append(out)
        if on_done:
            on_done(out)

    try:
        await asyncio.gather(*(run(r) for r in records))
    finally:
        if own:
            await client.aclose()
    order = {r.id: i for i, r in enumerate(records)}
    return sorted(outcomes, key=lambda o: order[o.provider_id])


def run_tests(store: ProviderStore, records: Iterable[ProviderRecord], **kw) -> list[TestOutcome]:
    """Synchronous wrapper for the page and the CLI."""
    return asyncio.run(test_providers(store, records, **kw))


def ensure_demo_providers(store: ProviderStore, org_id: str = DEMO_ORG) -> list[ProviderRecord]:
    """Give the demo organization its simulated providers, once. Never touches an
    organization that has configured a real provider, and never re-adds one a user removed
    (the audit log remembers that the demo was provisioned)."""
    existing = store.list(org_id)
    if org_id != DEMO_ORG:  # simulated providers are the demo's, never a real team's
        return existing
    if any(not r.simulated for r in existing):
        return existing
    if any(e.action == "demo.provisioned" for e in store.audit_entries(org_id, limit=1000)):
        return existing
    have = {r.id for r in existing}
    for pid, ptype, name, model in DEMO_PROVIDERS:
        if pid in have:
            continue
        info = PROVIDER_TYPES[ptype]
        cfg = parse_provider_settings({
            "type": ptype.value, "name": name, "default_model": model,
            **({"base_url": info.suggested_base_url or info.default_base_url}
               if info.base_url_required else {}),
        })
        key = SIMULATED_KEY if info.key_policy.value != "none" else None
        store.add(org_id, cfg, key, "system", simulated=True, provider_id=pid)
    store.audit(org_id, "system", "demo.provisioned", None,
                {"providers": [p[0] for p in DEMO_PROVIDERS]})
    return store.list(org_id)


class PullError(ValueError):
    """A pull that cannot start: not an Ollama provider, or not a model name."""


async def pull_model_async(store: ProviderStore, record: ProviderRecord, model: str, *,
                           actor: str, on_progress: Callable[[PullProgress], None] | None = None,
                           client: httpx.AsyncClient | None = None,
                           sim_root: str | None = None) -> PullProgress:
    """Download ``model`` into the Ollama server of ``record`` (seed 001's pullModel),
    reporting each progress line; audited as ``provider.pull`` whatever the outcome.
    Raises :class:`PullError` before calling anyone, a ProviderError when the pull fails."""
    if record.type is not ProviderType.ollama:
        raise PullError(f"{record.name} is not an Ollama server: only Ollama pulls models.")
    try:
        name = check_model_id(model.strip())
    except ValueError as exc:
        raise PullError(f"Model {exc}") from None
    own = client is None
    # no read deadline: a layer may take minutes between lines on a slow line; the
    # adapter's overall deadline bounds the whole pull
    http = client or httpx.AsyncClient(timeout=httpx.Timeout(None, connect=5.0))
    try:
        adapter = adapter_for(store, record, http, sim_root)
        if not isinstance(adapter, OllamaAdapter):  # the registry maps ollama to it
            raise PullError(f"{record.name} has no Ollama adapter.")
        try:
            done = await adapter.pull(name, on_progress)
        except ProviderError as exc:
            store.audit(record.org_id, actor, "provider.pull", record.id,
                        {"model": name, "ok": False, "error": exc.kind})
            raise
    finally:
        if own:
            await http.aclose()
    store.audit(record.org_id, actor, "provider.pull", record.id, {"model": name, "ok": True})
    return done


def pull_model(store: ProviderStore, record: ProviderRecord, model: str, **kw) -> PullProgress:
    """Synchronous :func:`pull_model_async`, for the page and the CLI."""
    return asyncio.run(pull_model_async(store, record, model, **kw))
