"""The Prices tab: negotiated prices and re-pricing the warehouse (admins)."""

from __future__ import annotations

from datetime import date, timedelta

import streamlit as st
from pydantic import ValidationError

from core import page_data, session
from core.catalog import view as cat
from core.pricing import OverlappingOverride, PriceOverride, override_messages
from core.warehouse import WarehouseBusy
from core.warehouse.prices import add_override, reprice
from pages.catalog_views.shared import Ctx


def prices_tab(ctx: Ctx) -> None:
    st.markdown("Prices come from genai-prices' bundled data. A **negotiated price** overrides "
                "it for your organization from a start date; past costs keep the price that "
                "was in force when they happened.")
    overrides = page_data.price_overrides(ctx.wh, ctx.org_id)
    if overrides:
        st.dataframe(cat.overrides_frame(overrides), hide_index=True)
    else:
        st.caption("No negotiated prices yet.")
    if ctx.is_admin:
        pnames = sorted({cat.provider_name_for(r) for r in ctx.records})
        with st.form("price_form"):
            st.markdown("**Set a negotiated price**")
            c1, c2 = st.columns(2)
            p_provider = c1.selectbox("Provider", pnames, key="price_provider")
            p_model = c2.text_input("Model id", key="price_model", placeholder="e.g. gpt-4o")
            c1, c2, c3, c4 = st.columns(4)
            p_in = c1.number_input("Input $/Mtok", 0.0, value=None, key="price_in")
            p_out = c2.number_input("Output $/Mtok", 0.0, value=None, key="price_out")
            p_cached = c3.number_input("Cached input $/Mtok", 0.0, value=None, key="price_cached")
            p_image = c4.number_input("Per image $", 0.0, value=None, format="%.5f",
                                      key="price_image")
            c1, c2, c3 = st.columns(3)
            p_from = c1.date_input("From", date.today(), key="price_from")
            p_to = c2.date_input("To (optional)", value=None, key="price_to")
            p_super = c3.checkbox("End the current open-ended price the day before",
                                  key="price_supersede")
            p_note = st.text_input("Note", key="price_note", placeholder="contract reference")
            saved = st.form_submit_button("Save price", type="primary")
        if saved:
            try:
                o = PriceOverride(org_id=ctx.org_id, provider_name=p_provider, model=p_model,
                                  input_per_mtok=p_in, output_per_mtok=p_out,
                                  cached_input_per_mtok=p_cached, per_image=p_image,
                                  effective_from=p_from, effective_to=p_to, note=p_note or None,
                                  created_by=ctx.user.username)
                add_override(ctx.wh, o, supersede=p_super)
            except ValidationError as exc:
                for msg in override_messages(exc):
                    st.error(msg)
            except (OverlappingOverride, ValueError) as exc:
                st.error(str(exc))
            except WarehouseBusy as exc:
                session.busy_message(exc)
            else:
                session.flash(f"Saved the negotiated price of {p_model}. Re-price the "
                              "warehouse below to apply it to past events.")
                st.rerun()
        st.markdown("**Re-price the warehouse**")
        c1, c2, c3 = st.columns([2, 2, 1], vertical_alignment="bottom")
        since = c1.date_input("From", date.today() - timedelta(days=90), key="reprice_since")
        until = c2.date_input("To", date.today(), key="reprice_until")
        if c3.button("Re-price", key="reprice_go", width="stretch"):
            try:
                with st.spinner("Re-pricing events and rebuilding rollups…"):
                    result = reprice(ctx.wh, ctx.org_id, since=since, until=until, actor=ctx.user.username)
            except WarehouseBusy as exc:
                session.busy_message(exc)
            else:
                st.success(result.summary())
    else:
        st.caption("Only admins set negotiated prices.")
