"""What pages show, cached while its inputs have not changed (Streamlit glue).

A page switch must draw within seed 002's 500 ms, and most of a page's time went into work
repeated on every rerun: reopening the warehouse after its idle close, the same queries, and
above all building Plotly figures (~30–150 ms each). So each page's data is cached keyed on
what it depends on — the filter and a **data version**, never on time:

* the warehouse's token (:meth:`core.warehouse.db.Warehouse.data_version`), which every
  committed transaction changes (ingest, re-pricing, price overrides, comparison results)
  and which is read from a file beside the warehouse, so a cache hit never opens DuckDB;
* the catalog's (:meth:`core.config_store.CatalogStore.data_version`), which discovery,
  rule edits, default changes and provider edits change.

Data is cached with ``st.cache_data`` (a copy per caller). Figures are cached with
``st.cache_resource``: unpickling a Plotly figure rebuilds and re-validates it (~100 ms,
slower than building it), and ``st.plotly_chart`` only reads the figure it is given.
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
import streamlit as st

from core import charts
from core.catalog import view as cat
from core.config_store import CatalogStore, ProviderStore
from core.domain import UsageFilter
from core.pricing import PriceOverride
from core.warehouse import queries
from core.warehouse.db import Warehouse
from core.warehouse.prices import list_overrides

MAX_ENTRIES = 64


# -- Usage & Cost ---------------------------------------------------------------------------


@st.cache_data(max_entries=MAX_ENTRIES, show_spinner=False)
def _org_ids(path: str, version: str, _wh: Warehouse) -> list[str]:
    return list(queries.org_ids(_wh))


def org_ids(wh: Warehouse) -> list[str]:
    """Organizations with usage in the warehouse."""
    return _org_ids(str(wh.path), wh.data_version(), wh)


@st.cache_data(max_entries=MAX_ENTRIES, show_spinner=False)
def _filter_options(path: str, version: str, org_id: str, _wh: Warehouse) -> dict[str, Any]:
    return queries.filter_options(_wh, org_id)


def filter_options(wh: Warehouse, org_id: str) -> dict[str, Any]:
    return _filter_options(str(wh.path), wh.data_version(), org_id, wh)


@st.cache_data(max_entries=MAX_ENTRIES, show_spinner=False)
def _dashboard(path: str, version: str, flt: UsageFilter, _wh: Warehouse) -> queries.Dashboard:
    return queries.dashboard(_wh, flt)


def dashboard(wh: Warehouse, flt: UsageFilter) -> queries.Dashboard:
    return _dashboard(str(wh.path), wh.data_version(), flt, wh)


@st.cache_data(max_entries=MAX_ENTRIES, show_spinner=False)
def _events(path: str, version: str, flt: UsageFilter, limit: int, offset: int,
            errors_only: bool, _wh: Warehouse) -> Any:
    return queries.events_page(_wh, flt, limit=limit, offset=offset, errors_only=errors_only)


def events_page(wh: Warehouse, flt: UsageFilter, *, limit: int, offset: int,
                errors_only: bool) -> Any:
    return _events(str(wh.path), wh.data_version(), flt, limit, offset, errors_only, wh)


_USAGE_FIGURES = {
    "daily_cost": lambda d, arg: charts.daily_cost(d.daily_cost, arg),
    "top_features": lambda d, arg: charts.top_features(d.features),
    "cost_vs_latency": lambda d, arg: charts.cost_vs_latency(d.models),
    "latency": lambda d, arg: charts.latency_over_time(d.latency_daily, arg),
    "errors_by_provider": lambda d, arg: charts.error_rate_by_provider(d.providers,
                                                                       d.error_types),
    "error_timeline": lambda d, arg: charts.error_timeline(d.timeline),
}


@st.cache_resource(max_entries=MAX_ENTRIES, show_spinner=False)
def _usage_figure(path: str, version: str, flt: UsageFilter, name: str, arg: str | None,
                  _wh: Warehouse) -> go.Figure:
    return _USAGE_FIGURES[name](_dashboard(path, version, flt, _wh), arg)


def usage_figure(wh: Warehouse, flt: UsageFilter, name: str, arg: str | None = None
                 ) -> go.Figure:
    """One of the Usage page's figures (``name`` in :data:`_USAGE_FIGURES`; ``arg`` is the
    daily-cost grouping or the latency percentile)."""
    return _usage_figure(str(wh.path), wh.data_version(), flt, name, arg, wh)


# -- Model catalog --------------------------------------------------------------------------


@st.cache_data(max_entries=MAX_ENTRIES, show_spinner=False)
def _overrides(path: str, version: str, org_id: str, _wh: Warehouse) -> list[PriceOverride]:
    return list_overrides(_wh, org_id)


def price_overrides(wh: Warehouse, org_id: str) -> list[PriceOverride]:
    """The organization's negotiated prices (the Prices tab)."""
    return _overrides(str(wh.path), wh.data_version(), org_id, wh)


@st.cache_data(max_entries=MAX_ENTRIES, show_spinner=False)
def _catalog(org_id: str, wh_version: str, catalog_version: tuple, _providers: ProviderStore,
             _catalog_store: CatalogStore, _wh: Warehouse) -> cat.Catalog:
    return cat.build_catalog(org_id, providers=_providers, catalog=_catalog_store,
                             warehouse=_wh)


def catalog(org_id: str, providers: ProviderStore, catalog_store: CatalogStore,
            wh: Warehouse) -> cat.Catalog:
    """The catalog view (models + prices + performance); rebuilt when a version changes."""
    return _catalog(org_id, wh.data_version(), catalog_store.data_version(org_id), providers,
                    catalog_store, wh)


@st.cache_resource(max_entries=MAX_ENTRIES, show_spinner=False)
def _price_vs_speed(org_id: str, wh_version: str, catalog_version: tuple,
                    keys: tuple[str, ...], _entries: tuple[cat.CatalogEntry, ...]
                    ) -> go.Figure | None:
    points = cat.scatter_frame(_entries)
    return None if points.empty else charts.price_vs_speed(points)


def price_vs_speed(org_id: str, wh: Warehouse, catalog_store: CatalogStore,
                   shown: list[cat.CatalogEntry]) -> go.Figure | None:
    """The catalog's scatter of the models shown (same versions and models: same figure);
    None when no model shown has both a price and a measured latency."""
    return _price_vs_speed(org_id, wh.data_version(), catalog_store.data_version(org_id),
                           tuple(e.key for e in shown), tuple(shown))
