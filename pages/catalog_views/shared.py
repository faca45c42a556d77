"""Pieces the Model catalog's views share: the page's context, a model's card and its test."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from core import session
from core.auth import User
from core.catalog import view as cat
from core.config_store import CatalogStore, ConfigStoreError, ProviderRecord, ProviderStore
from core.warehouse import Warehouse


@dataclass(frozen=True)
class Ctx:
    """Who is looking and what at: built once by pages/catalog.py."""

    user: User
    org_id: str
    may_test: bool
    may_manage: bool
    is_admin: bool
    providers: ProviderStore
    catalog_store: CatalogStore
    wh: Warehouse
    catalog: cat.Catalog
    records: list[ProviderRecord]


def badges(e: cat.CatalogEntry) -> str:
    m = e.model
    out = [f":blue-badge[{m.kind}]"]
    if m.model_class:
        color = {"flagship": "violet", "fast": "green", "legacy": "gray"}[m.model_class]
        out.append(f":{color}-badge[{m.model_class}]")
    if m.is_default:
        out.append(":orange-badge[default]")
    if e.provider.simulated:
        out.append(":gray-badge[simulated]")
    if not m.active:
        out.append(":red-badge[inactive]")
    return " ".join(out)


def use(ctx: Ctx, e: cat.CatalogEntry) -> None:
    try:
        ctx.catalog_store.set_default(ctx.org_id, e.provider.id, e.model.model_id, ctx.user.username)
    except ConfigStoreError as exc:
        st.error(str(exc))
        return
    session.flash(f"{e.model.model_id} is now the default model of {e.provider.name}.")
    st.rerun()


def compare_with(ctx: Ctx, e: cat.CatalogEntry) -> None:
    """Preselect this model against the current one for the comparison page."""
    base = cat.current_default(ctx.catalog.entries, e)
    st.session_state["compare_preselect"] = [x.key for x in (base, e) if x is not None]
    st.session_state["compare_view_next"] = "Comparison"  # a new comparison, not a past run
    st.session_state.pop("compare_run", None)
    if "compare" in session.PAGE_FILES and ctx.user.may_open("compare"):
        st.switch_page(session.page_path("compare"))


def test_panel(ctx: Ctx, e: cat.CatalogEntry) -> None:
    """Run one quick prompt (and photo) through the model; show output, latency and cost."""
    with st.container(border=True):
        head, close = st.columns([5, 1], vertical_alignment="center")
        head.subheader(f"Test {e.model.model_id}", anchor=False)
        if close.button("Close", key="test_close", width="stretch"):
            st.session_state.pop("catalog_test", None)
            st.rerun()
        st.caption(f"{e.provider.name} · one real call through the provider's adapter"
                   + (" (simulated, free)" if e.provider.simulated else " (billed)"))
        image_only = e.model.kind == "tagging"
        prompt = "" if image_only else st.text_area("Prompt", cat.DEFAULT_PROMPT,
                                                    key="test_prompt", height=80)
        photo = None
        if "image" in e.model.input_types:
            photo = st.file_uploader("Photo (optional" + (", else a sample picture)" if
                                                          image_only else ")"),
                                     type=["jpg", "jpeg", "png", "webp"], key="test_photo")
        if st.button("Run test", type="primary", key="test_run"):
            with st.spinner(f"Calling {e.model.model_id}…"):
                result = cat.run_test(ctx.providers, e, prompt,
                                      photo.getvalue() if photo else None,
                                      photo.type if photo else "image/jpeg")
            st.session_state["catalog_test_result"] = (e.key, result)
        shown = st.session_state.get("catalog_test_result")
        if shown and shown[0] == e.key:
            r: cat.ModelTest = shown[1]
            if not r.ok:
                st.error(r.error or "The call failed.")
                return
            c1, c2, c3, c4 = st.columns(4)
            c1.metric("Latency", r.latency_text)
            c2.metric("Time to first token", r.ttft_text)
            c3.metric("Tokens in / out", f"{r.usage.input_tokens:,} / {r.usage.output_tokens:,}")
            c4.metric("Cost", "unknown" if r.cost_usd is None else f"${r.cost_usd:.6f}")
            if r.tags:
                st.dataframe({"Tag": [t for t, _ in r.tags], "Score": [s for _, s in r.tags]},
                             hide_index=True)
            else:
                st.markdown("**Output**")
                st.text(r.text or "(empty answer)")


def card(ctx: Ctx, e: cat.CatalogEntry, i: int) -> None:
    with st.container(border=True):
        st.markdown(f"**{e.title}**  \n`{e.model.model_id}` · {e.provider.name}")
        st.markdown(badges(e))
        st.caption(e.price_line())
        st.caption(e.perf_line())
        window = f"{e.model.context_window:,} tokens context · " if e.model.context_window else ""
        st.caption(f"{window}Best for: {e.recommendation()}")
        b1, b2, b3 = st.columns(3)
        if b1.button("Use", key=f"use_{i}", disabled=not ctx.may_manage or e.model.is_default
                     or not e.model.active, width="stretch",
                     help="Make this the default model of its provider"):
            use(ctx, e)
        if b2.button("Test", key=f"test_{i}", disabled=not ctx.may_test or not e.model.active,
                     width="stretch", help="One quick prompt or photo: output, latency, cost"):
            st.session_state["catalog_test"] = e.key
            st.session_state.pop("catalog_test_result", None)
            st.rerun()
        has_compare = "compare" in session.PAGE_FILES
        if b3.button("Compare", key=f"compare_{i}", disabled=not has_compare, width="stretch",
                     help="A/B test against the current model" if has_compare else
                     "A/B test against the current model — the comparison page is not "
                     "installed yet"):
            compare_with(ctx, e)
