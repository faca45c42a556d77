"""Edit a provider's settings or key (the stored key is kept unless replaced)."""

from __future__ import annotations

import streamlit as st

from core import session
from core.config_store import KEEP
from core.config_store.schemas import parse_provider_settings
from core.provider_names import KeyPolicy
from pages.provider_views.context import Ctx
from pages.provider_views.forms import settings_form, store_change


def edit_tab(ctx: Ctx) -> None:
    if not ctx.records:
        st.caption("Nothing to edit yet.")
    else:
        names = {r.id: r.name for r in ctx.records}
        pid = st.selectbox("Provider", list(names), format_func=names.get, key="edit_pick")
        rec = next(r for r in ctx.records if r.id == pid)
        rinfo = rec.info
        with st.form(f"edit_provider_{pid}_{rec.version}"):
            data = settings_form(f"edit_{pid}_{rec.version}", rec.type,
                                  rec.settings.model_dump(), editing=True)
            new_key, drop_key = None, False
            if rinfo.key_policy is not KeyPolicy.none:
                shown = f" (stored: {rec.key_last4})" if rec.has_key and rec.key_last4 else ""
                new_key = st.text_input(f"New {rinfo.key_label.lower()}{shown}", type="password",
                                        help="Leave empty to keep the stored key.",
                                        key=f"edit_key_{pid}")
                if rec.has_key and rinfo.key_policy is KeyPolicy.optional:
                    drop_key = st.checkbox("Remove the stored key", key=f"edit_drop_{pid}")
            saved = st.form_submit_button("Save changes", type="primary")
        change = new_key if new_key else (None if drop_key else KEEP)
        if saved and store_change(lambda: ctx.store.update(
                ctx.org_id, pid, parse_provider_settings(data), change, ctx.user.username,
                expected_version=rec.version)):
            session.flash(f"Saved {data['name'] or rec.name}.")
            st.rerun()
