"""The app's shared resources: plain getters the pages call, and the demo's one-time set-up.

Getters only hand out objects: they never provision, discover or read the credentials file,
so opening a page has no side effects. What the demo organization needs before anyone looks
at it (its simulated providers and a first discovery of their models) is the explicit
:func:`prepare_demo`, called once per process by app.py (and by `switchyard init`).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st

from core.domain import DEMO_ORG
from core.settings import get_settings
from core.warehouse.db import Warehouse

if TYPE_CHECKING:
    from core.config_store import CatalogStore, DiscoveryRun, ProviderStore


@st.cache_resource(show_spinner=False)
def _warehouse(path: str) -> Warehouse:
    # The app keeps the file open while pages use it and lets go after 2 s idle,
    # so a CLI ingest waits at most a moment (see core.warehouse.db).
    return Warehouse(Path(path), idle_close_s=2.0, lock_timeout_s=get_settings().lock_timeout_s,
                     label="the Switchyard app")


def warehouse() -> Warehouse:
    """The process's warehouse (one DuckDB database per file; each thread takes a cursor)."""
    return _warehouse(str(get_settings().warehouse_path))


def provider_store() -> ProviderStore:
    """The config store's providers (cheap: each call opens its own connection)."""
    from core.config_store import ProviderStore

    return ProviderStore()


def catalog_store() -> CatalogStore:
    """The model catalog in the config store."""
    from core.config_store import CatalogStore

    return CatalogStore()


@st.cache_data(ttl=60, show_spinner=False)
def local_ollama() -> str | None:
    """The URL of an Ollama answering on this machine at the adapter's default address, if
    any (checked once a minute)."""
    import asyncio

    import httpx

    from core.providers.ollama import DEFAULT_URL, detect_local

    async def probe() -> bool:
        async with httpx.AsyncClient() as client:
            return await detect_local(client, DEFAULT_URL, timeout=0.5)

    try:
        return DEFAULT_URL if asyncio.run(probe()) else None
    except Exception:  # noqa: BLE001 - detection is a convenience, never an error
        return None


_prepared: set[str] = set()  # config stores whose demo organization is ready
_prepare_lock = threading.Lock()


def demo_ready() -> bool:
    """Has :func:`prepare_demo` finished for this process's config store?"""
    return str(get_settings().config_path) in _prepared


def prepare_demo() -> DiscoveryRun | None:
    """Once per process and config store: give the demo organization its simulated providers
    and fill its empty catalog with one discovery run. Returns that run (None when nothing
    was run). A run where every provider failed is tried again on the next call, so a
    simulator that was not up yet does not leave the demo catalog empty for good."""
    from core.catalog.view import ensure_demo_catalog
    from core.connections import ensure_demo_providers

    key = str(get_settings().config_path)
    with _prepare_lock:  # a second session waits instead of discovering twice
        if key in _prepared:
            return None
        providers = provider_store()
        ensure_demo_providers(providers)
        run = ensure_demo_catalog(providers, catalog_store(), DEMO_ORG)
        if run is None or run.status != "failed":
            _prepared.add(key)
        return run
