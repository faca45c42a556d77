"""Providers: who Switchyard can call, with which key, and whether the connection works.

Admins and editors add, edit, delete and test; analysts and viewers read the list (no keys).
"""

from __future__ import annotations

import streamlit as st
from pydantic import ValidationError

from core import connections, resources, session
from core.auth import PROVIDER_ROLES
from core.config_store import ConfigStoreError, ProviderStore
from core.config_store.schemas import parse_provider_settings
from core.exports import csv_bytes
from core.provider_names import ProviderType
from pages.provider_views.add import add_tab
from pages.provider_views.context import Ctx
from pages.provider_views.delete import delete_tab
from pages.provider_views.edit import edit_tab
from pages.provider_views.pull import pull_tab

user = session.require_page("providers")
manage = user.role in PROVIDER_ROLES
store: ProviderStore = resources.provider_store()
org_id = user.org_id

st.title("Providers")
session.show_flash()
records = store.list(org_id)

if any(r.simulated for r in records):
    st.info(
        "**Demo mode.** Providers marked *simulated* are answered by Switchyard's built-in "
        "provider simulator on this machine, not by the real APIs: no keys, no cost. "
        + ("Add a real provider with its key to call the real service." if manage else ""),
        icon=":material/science:",
    )


if not records:
    st.info(
        "No providers yet. "
        + ("Add one below: pick its type, paste the key, and test the connection."
           if manage else "Ask an admin or editor to add one.")
    )
else:
    table = connections.providers_table(records, with_keys=manage)
    st.dataframe(table, hide_index=True, width="stretch")
    st.download_button("Download (CSV)", csv_bytes(table), file_name="providers.csv",
                       mime="text/csv", key="providers_csv", on_click="ignore")

    if manage:
        names = {r.id: r.name for r in records}
        c1, c2, c3 = st.columns([3, 1, 1], vertical_alignment="bottom")
        picked = c1.selectbox("Provider to test", list(names), format_func=names.get, key="test_pick")
        one = c2.button("Test connection", key="test_one", width="stretch")
        every = c3.button("Test all", key="test_all", type="primary", width="stretch")
        if one or every:
            chosen = records if every else [r for r in records if r.id == picked]
            bar = st.progress(0.0, text=f"Testing {len(chosen)} provider(s)…")
            done: list[str] = []

            def _progress(outcome: connections.TestOutcome) -> None:
                done.append(outcome.name)
                bar.progress(len(done) / len(chosen),
                             text=f"Tested {len(done)} of {len(chosen)}: {outcome.name}")

            outcomes = connections.run_tests(store, chosen, actor=user.username,
                                             on_done=_progress)
            bar.empty()
            for o in outcomes:
                session.flash(o.message())
            st.rerun()

if not manage:
    st.caption("You can see the providers and their status. Adding, editing and testing "
               "providers is for admins and editors.")
    st.stop()

# --- a local Ollama, offered when one answers on localhost:11434 ------------------------
local = resources.local_ollama()
if local and not any(r.type is ProviderType.ollama and not r.simulated for r in records):
    with st.container(border=True):
        st.markdown(f"**A local Ollama is running** at `{local}`.")
        if st.button("Add local Ollama", key="add_ollama"):
            try:
                cfg = parse_provider_settings({"type": "ollama", "name": "Local Ollama",
                                               "base_url": local})
                store.add(org_id, cfg, None, user.username)
            except (ValidationError, ConfigStoreError) as exc:
                st.error(str(exc))
            else:
                session.flash("Added Local Ollama. Test it to see its models.")
                st.rerun()

ctx = Ctx(user=user, org_id=org_id, store=store, records=records)
tab_add, tab_edit, tab_delete, tab_pull = st.tabs(
    ["Add a provider", "Edit", "Delete", "Pull a model (Ollama)"])

with tab_add:
    add_tab(ctx)
with tab_edit:
    edit_tab(ctx)
with tab_delete:
    delete_tab(ctx)
with tab_pull:
    pull_tab(ctx)
