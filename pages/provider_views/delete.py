"""Delete a provider and its stored key, after a confirmation."""

from __future__ import annotations

import streamlit as st

from core import session
from core.config_store import ConfigStoreError
from pages.provider_views.context import Ctx


def delete_tab(ctx: Ctx) -> None:
    if not ctx.records:
        st.caption("Nothing to delete.")
    else:
        names = {r.id: r.name for r in ctx.records}
        pid = st.selectbox("Provider", list(names), format_func=names.get, key="delete_pick")
        sure = st.checkbox(f"Yes, delete {names[pid]} and its stored key", key="delete_sure")
        if st.button("Delete provider", disabled=not sure, key="delete_go"):
            try:
                ctx.store.remove(ctx.org_id, pid, ctx.user.username)
            except ConfigStoreError as exc:
                st.error(str(exc))
            else:
                session.flash(f"Deleted {names[pid]}.")
                st.rerun()
