"""Add a provider: its type, an optional template, its settings and key."""

from __future__ import annotations

import streamlit as st

from core import session
from core.config_store.schemas import parse_provider_settings
from core.config_store.templates import templates_for
from core.provider_names import PROVIDER_TYPES, KeyPolicy, ProviderType
from pages.provider_views.context import Ctx
from pages.provider_views.forms import settings_form, store_change


def add_tab(ctx: Ctx) -> None:
    c1, c2 = st.columns(2)
    ptype = c1.selectbox("Type", list(ProviderType), format_func=lambda t: PROVIDER_TYPES[t].label,
                         key="add_type")
    templates = templates_for(ptype)
    tpl_ids = [""] + [t.id for t in templates]
    labels = {t.id: f"{t.label} — {t.description}" for t in templates}
    tpl_id = c2.selectbox("Start from a template (optional)", tpl_ids,
                          format_func=lambda i: labels.get(i, "none"), key="add_template")
    template = next((t for t in templates if t.id == tpl_id), None)
    defaults = template.settings() if template else {}
    info = PROVIDER_TYPES[ptype]
    with st.form(f"add_provider_{ptype.value}_{tpl_id}", clear_on_submit=False):
        data = settings_form(f"add_{ptype.value}_{tpl_id}", ptype, defaults, editing=False)
        key = None
        if info.key_policy is not KeyPolicy.none:
            optional = info.key_policy is KeyPolicy.optional and "optional" not in info.key_label
            key = st.text_input(info.key_label + (" (optional)" if optional else ""),
                                type="password", help=info.key_help, key="add_key")
        submitted = st.form_submit_button("Add provider", type="primary")
    record = submitted and store_change(lambda: ctx.store.add(
        ctx.org_id, parse_provider_settings(data), key or None, ctx.user.username))
    if record:
        # Forget what was typed (the key above all): the next form starts empty.
        for name in [k for k in st.session_state if str(k).startswith("add_")
                     and k not in ("add_type", "add_template")]:
            del st.session_state[name]
        session.flash(f"Added {record.name}. Use “Test connection” to check it.")
        st.rerun()
