"""What the Compare views share: who is looking, the stores, cached reads and the problems
list."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd
import streamlit as st

from core.auth import User
from core.compare import service
from core.compare.analysis import Analysis, analyse
from core.compare.sample_store import SampleStore, resolve_sources
from core.compare.samples import Problem, SampleSet
from core.compare.spec import SpecError, parse_spec
from core.config_store import ProviderStore
from core.exports import csv_bytes


@dataclass(frozen=True)
class Ctx:
    """The signed-in user and the stores every view works with."""

    user: User
    may_run: bool
    providers: ProviderStore
    wh: service.Warehouse  # the warehouse type, named through the service (no store import)
    sample_store: SampleStore

    @property
    def org_id(self) -> str:
        return self.user.org_id


@st.cache_data(ttl=300, show_spinner=False)
def samples(org: str, set_ids: tuple[str, ...], bundled: bool) -> tuple[SampleSet, list]:
    """Bundled samples plus these uploaded sets (sets never change once saved)."""
    return resolve_sources(list(set_ids), org, bundled=bundled)


@st.cache_data(ttl=300, show_spinner=False)
def run_samples(_wh: service.Warehouse, org: str, run_id: str) -> tuple[SampleSet | None, str | None]:
    """The photos and prompts a past run compared (None and why, when a set is gone)."""
    try:
        return service.open_run(_wh, org, run_id).samples, None
    except (SpecError, service.RunNotFound) as exc:
        return None, str(exc)


@st.cache_data(max_entries=64, show_spinner=False)
def frame(_wh: service.Warehouse, org: str, run_id: str, done: int, status: str) -> pd.DataFrame:
    """A run's result rows, read once per run state (done calls, status)."""
    return service.load_results(_wh, org, run_id)


@st.cache_data(max_entries=32, show_spinner="Analysing the results…")
def analysis(_wh: service.Warehouse, org: str, run_id: str, done: int, status: str, spec_json: str
             ) -> tuple[pd.DataFrame, Analysis]:
    """One analysis per run state: reruns of the page reuse it."""
    spec = parse_spec(json.loads(spec_json))
    rows = frame(_wh, org, run_id, done, status)
    found, _ = run_samples(_wh, org, run_id)
    return rows, analyse(rows, spec, features=found.item_features() if found else None)


def problems(found: list[Problem], key: str) -> None:
    """Skipped items (errors) and notes (warnings), with where they are, downloadable."""
    if not found:
        return
    errors = any(p.level == "error" for p in found)
    with st.expander(service.problems_label(found), expanded=errors):
        table = service.problems_table(found)
        st.dataframe(table, hide_index=True)
        st.download_button("Problems (CSV)", csv_bytes(table), "sample-problems.csv",
                           "text/csv", key=f"dl_{key}")
