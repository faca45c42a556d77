"""The Models tab: filters, grid / table / side by side, and the price-vs-speed scatter."""

from __future__ import annotations

import streamlit as st

from core import page_data
from core.catalog import view as cat
from core.exports import csv_bytes
from pages.catalog_views.shared import Ctx, card, test_panel


def models_tab(ctx: Ctx) -> None:
    entries = list(ctx.catalog.entries)
    if not entries:
        st.info("The catalog is empty. "
                + ("Run **Discover models** on the Discovery tab to list every provider's "
                   "models." if ctx.may_manage else "Ask an admin or editor to run discovery."),
                icon=":material/travel_explore:")
    else:
        with st.sidebar:
            st.subheader("Filters")
            f_prov = st.multiselect("Provider", ctx.catalog.providers, key="f_provider")
            f_kind = st.multiselect("Capability", cat.KINDS, key="f_kind",
                                    help="text, vision (images in), multimodal (text and "
                                    "images), tagging (labels with scores)")
            f_class = st.multiselect("Class", [*cat.CLASSES, "unclassified"], key="f_class")
            f_image = st.checkbox("Takes images", key="f_image")
            limits = cat.FilterLimits.of(entries)
            f_price = st.slider("Max price ($ per Mtok, 3:1 blend)", 0.0, limits.max_price,
                                limits.max_price, step=0.25, key="f_price")
            f_speed = st.slider("Max p95 latency (s)", 0.5, limits.max_p95_s, limits.max_p95_s,
                                step=0.5, key="f_speed")
            f_ok = st.slider("Min success rate (%)", 0, 100, 0, key="f_ok",
                             help="Reliability measured from your usage")
            f_acc = st.slider("Min accuracy (%)", 0, 100, 0, key="f_acc",
                              help="Mean score in your comparisons; models never compared "
                              "are kept")
            f_inactive = st.checkbox("Show inactive (retired) models", key="f_inactive")
        c1, c2, c3, c4 = st.columns([3, 2, 1, 2], vertical_alignment="bottom")
        search = c1.text_input("Search", key="f_search", placeholder="name, provider, specialty…")
        sort = c2.selectbox("Sort by", cat.SORTS, key="f_sort",
                            format_func=lambda s: {"performance": "speed (p95)",
                                                   "popularity": "popularity (requests)"}
                            .get(s, s))
        desc = c3.toggle("Desc.", key="f_desc")
        view = c4.segmented_control("View", ["Grid", "Table", "Side by side"], default="Grid",
                                    key="f_view") or "Grid"
        filters = cat.filters_from_form(
            limits, providers=f_prov, kinds=f_kind, classes=f_class, image_input=f_image,
            max_price=f_price, max_p95_s=f_speed, min_success_pct=f_ok, min_accuracy_pct=f_acc,
            search=search, include_inactive=f_inactive)
        shown = cat.select(entries, filters, sort, desc)

        testing = next((e for e in entries if e.key == st.session_state.get("catalog_test")),
                       None)
        if testing is not None:
            test_panel(ctx, testing)

        if not shown:
            st.warning("No model matches these filters. Widen the price or speed limits, or "
                       "clear the search.")
        elif view == "Grid":
            st.caption(f"{len(shown)} models")
            per_page = 24
            pages = (len(shown) - 1) // per_page + 1
            page_no = st.number_input("Page", 1, pages, 1, key="f_page") if pages > 1 else 1
            chunk = shown[(page_no - 1) * per_page: page_no * per_page]
            cols = st.columns(3)
            for i, e in enumerate(chunk):
                with cols[i % 3]:
                    card(ctx, e, (page_no - 1) * per_page + i)
        elif view == "Table":
            table = cat.frame(shown)
            st.dataframe(table, hide_index=True, column_config={
                "Input $/Mtok": st.column_config.NumberColumn(format="$%.3f"),
                "Output $/Mtok": st.column_config.NumberColumn(format="$%.3f"),
                "Cached input $/Mtok": st.column_config.NumberColumn(format="$%.4f"),
                "Success rate": st.column_config.NumberColumn(format="percent"),
                "p95 latency ms": st.column_config.NumberColumn(format="%.0f"),
                "Avg latency ms": st.column_config.NumberColumn(format="%.0f"),
                "Cost today $": st.column_config.NumberColumn(format="$%.2f"),
            })
            st.download_button("Download (CSV)", csv_bytes(table),
                               file_name="model-catalog.csv", mime="text/csv",
                               key="catalog_csv")
        else:
            labels = {e.key: f"{e.model.model_id} · {e.provider.name}" for e in shown}
            picked = st.multiselect("Models to put side by side (up to 4)", list(labels),
                                    default=list(labels)[:2], max_selections=4,
                                    format_func=labels.get, key="f_side")
            chosen = [e for e in shown if e.key in picked]
            if chosen:
                side = cat.frame(chosen).set_index("Model").T.astype(str)
                st.dataframe(side)
                cols = st.columns(len(chosen))
                for i, e in enumerate(chosen):
                    with cols[i]:
                        card(ctx, e, 10_000 + i)

        scatter = page_data.price_vs_speed(ctx.org_id, ctx.wh, ctx.catalog_store, shown)
        if scatter is not None:
            st.plotly_chart(scatter, key="catalog_scatter")
