"""Pull a model into an Ollama server, with progress, then add it to the catalog."""

from __future__ import annotations

import streamlit as st

from core import resources, session
from core.catalog.discovery import DiscoveryError, pull_and_discover
from core.config_store import ConfigStoreError
from core.connections import PullError
from core.provider_names import ProviderType
from core.providers.errors import ProviderError
from core.providers.ollama import PullProgress
from pages.provider_views.context import Ctx


def pull_tab(ctx: Ctx) -> None:
    ollamas = {r.id: r.name for r in ctx.records if r.type is ProviderType.ollama}
    if not ollamas:
        st.caption("Add an Ollama provider to pull models into it.")
    else:
        with st.form("pull_form"):
            c1, c2 = st.columns(2)
            pull_id = c1.selectbox("Ollama server", list(ollamas), format_func=ollamas.get,
                                   key="pull_pick")
            pull_name = c2.text_input("Model", placeholder="e.g. llama3.2:3b or gemma3:4b",
                                      key="pull_model",
                                      help="A name from the Ollama library (ollama.com/library).")
            pulling = st.form_submit_button("Pull model", type="primary")
        if pulling:
            bar = st.progress(0.0, text=f"Pulling {pull_name}…")

            def _pulled(step: PullProgress) -> None:
                bar.progress(step.fraction, text=f"{pull_name}: {step.status}")

            try:
                _, run = pull_and_discover(ctx.store, resources.catalog_store(), ctx.org_id, pull_id,
                                           pull_name, actor=ctx.user.username, on_progress=_pulled)
            except (ProviderError, PullError, DiscoveryError, ConfigStoreError) as exc:
                bar.empty()
                st.error(str(exc))  # a ProviderError's text is its scrubbed ctx.user message
            else:
                session.flash(f"✅ Pulled {pull_name} into {ollamas[pull_id]}. {run.summary()}")
                st.rerun()
