"""Model catalog: every model of the organization's providers, with real prices and measured
performance; test one, make one the default, discover what providers ship or retire.
"""

from __future__ import annotations

from datetime import date, timedelta

import streamlit as st
from pydantic import ValidationError

from core import page_data, resources, session
from core.auth import CATALOG_MANAGE_ROLES, CATALOG_TEST_ROLES
from core.catalog import view as cat
from core.catalog.discovery import DiscoveryError, run_discovery
from core.config_store import ConfigStoreError, InvalidRules
from core.domain import Role
from core.exports import csv_bytes
from core.pricing import OverlappingOverride, PriceOverride, override_messages
from core.warehouse import WarehouseBusy
from core.warehouse.prices import add_override, list_overrides, reprice

user = session.require_page("catalog")
org_id = user.org_id
may_test = user.role in CATALOG_TEST_ROLES
may_manage = user.role in CATALOG_MANAGE_ROLES
is_admin = user.role is Role.admin
providers = resources.provider_store()
catalog_store = resources.catalog_store()
wh = resources.warehouse()

st.title("Model catalog")
session.show_flash()

try:
    catalog = page_data.catalog(org_id, providers, catalog_store, wh)
except WarehouseBusy as exc:
    session.busy_message(exc)
    st.stop()

records = providers.list(org_id)
if not records:
    st.info("No providers yet. Add one on the **Providers** page, then discover its models "
            "here.", icon=":material/hub:")
    st.page_link(session.page_path("providers"), label="Go to Providers", icon=":material/hub:")
    st.stop()

window = (f"last {catalog.days} days to {catalog.as_of:%d %b %Y}" if catalog.as_of
          else "no usage recorded yet")
st.caption(f"{sum(e.model.active for e in catalog.entries)} active models from "
           f"{len(catalog.providers)} providers · prices from genai-prices' bundled data and "
           f"your negotiated prices · performance: {window}")

# keyed, so a rerun (after a discovery, a saved price) stays on the tab the user was on
models_tab, discovery_tab, prices_tab, rules_tab = st.tabs(
    ["Models", "Discovery", "Prices", "Classification rules"], key="catalog_tab")


def _badges(e: cat.CatalogEntry) -> str:
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


def _use(e: cat.CatalogEntry) -> None:
    try:
        catalog_store.set_default(org_id, e.provider.id, e.model.model_id, user.username)
    except ConfigStoreError as exc:
        st.error(str(exc))
        return
    session.flash(f"{e.model.model_id} is now the default model of {e.provider.name}.")
    st.rerun()


def _compare(e: cat.CatalogEntry) -> None:
    """Preselect this model against the current one for the comparison page."""
    base = cat.current_default(catalog.entries, e)
    st.session_state["compare_preselect"] = [x.key for x in (base, e) if x is not None]
    st.session_state["compare_view_next"] = "Comparison"  # a new comparison, not a past run
    st.session_state.pop("compare_run", None)
    if "compare" in session.PAGE_FILES and user.may_open("compare"):
        st.switch_page(session.page_path("compare"))


def _test_panel(e: cat.CatalogEntry) -> None:
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
                result = cat.run_test(providers, e, prompt,
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


def _card(e: cat.CatalogEntry, i: int) -> None:
    with st.container(border=True):
        st.markdown(f"**{e.title}**  \n`{e.model.model_id}` · {e.provider.name}")
        st.markdown(_badges(e))
        st.caption(e.price_line())
        st.caption(e.perf_line())
        ctx = f"{e.model.context_window:,} tokens context · " if e.model.context_window else ""
        st.caption(f"{ctx}Best for: {e.recommendation()}")
        b1, b2, b3 = st.columns(3)
        if b1.button("Use", key=f"use_{i}", disabled=not may_manage or e.model.is_default
                     or not e.model.active, width="stretch",
                     help="Make this the default model of its provider"):
            _use(e)
        if b2.button("Test", key=f"test_{i}", disabled=not may_test or not e.model.active,
                     width="stretch", help="One quick prompt or photo: output, latency, cost"):
            st.session_state["catalog_test"] = e.key
            st.session_state.pop("catalog_test_result", None)
            st.rerun()
        has_compare = "compare" in session.PAGE_FILES
        if b3.button("Compare", key=f"compare_{i}", disabled=not has_compare, width="stretch",
                     help="A/B test against the current model" if has_compare else
                     "A/B test against the current model — the comparison page is not "
                     "installed yet"):
            _compare(e)


with models_tab:
    entries = list(catalog.entries)
    if not entries:
        st.info("The catalog is empty. "
                + ("Run **Discover models** on the Discovery tab to list every provider's "
                   "models." if may_manage else "Ask an admin or editor to run discovery."),
                icon=":material/travel_explore:")
    else:
        with st.sidebar:
            st.subheader("Filters")
            f_prov = st.multiselect("Provider", catalog.providers, key="f_provider")
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
            _test_panel(testing)

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
                    _card(e, (page_no - 1) * per_page + i)
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
                        _card(e, 10_000 + i)

        scatter = page_data.price_vs_speed(org_id, wh, catalog_store, shown)
        if scatter is not None:
            st.plotly_chart(scatter, key="catalog_scatter")

with discovery_tab:
    st.markdown("Discovery asks every provider which models it lists, adds new ones, marks "
                "ones no longer listed as inactive (never deleted), classifies them "
                "(flagship / fast / legacy) and picks each provider's default flagship.")
    if may_manage:
        names = {r.id: r.name for r in records if r.settings.enabled}
        c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
        which = c1.selectbox("Providers", ["all", *names], key="disc_which",
                             format_func=lambda k: "All providers" if k == "all" else names[k])
        if c2.button("Discover models", type="primary", key="disc_go", width="stretch"):
            bar = st.progress(0.0, text="Asking providers for their models…")

            def progress(done: int, total: int, name: str, ok: bool) -> None:
                bar.progress(done / total, text=f"{done} of {total} · {name}: "
                             + ("listed" if ok else "failed"))

            try:
                run = run_discovery(providers, catalog_store, org_id,
                                    provider_ids=None if which == "all" else [which],
                                    actor=user.username, on_progress=progress)
            except DiscoveryError as exc:
                st.error(str(exc))
            else:
                for m in run.added[:5]:
                    st.toast(f"New model: {m.model_id}", icon=":material/new_releases:")
                session.flash("  \n".join(cat.discovery_messages(run, names)))
                st.rerun()
    else:
        st.caption("Admins and editors can run discovery.")
    runs = catalog_store.runs(org_id, limit=50)
    if not runs:
        st.info("No discovery run yet.")
    else:
        st.subheader("History", anchor=False)
        history = cat.history_frame(runs)
        st.dataframe(history, hide_index=True, key="disc_history")
        st.download_button("Download history (CSV)", csv_bytes(history),
                           file_name="discovery-runs.csv", mime="text/csv", key="disc_csv")
        changed = [r for r in runs if r.added or r.deprecated]
        if changed:
            pick = st.selectbox("What changed in run", [r.id for r in changed], key="disc_run")
            run = next(r for r in changed if r.id == pick)
            c1, c2 = st.columns(2)
            c1.markdown("**New**  \n" + ("\n".join(f"- `{m.model_id}` ({m.provider_id})"
                                                 for m in run.added) or "none"))
            c2.markdown("**Deprecated**  \n" + ("\n".join(
                f"- `{m.model_id}` ({m.provider_id})" for m in run.deprecated) or "none"))

with prices_tab:
    st.markdown("Prices come from genai-prices' bundled data. A **negotiated price** overrides "
                "it for your organization from a start date; past costs keep the price that "
                "was in force when they happened.")
    overrides = list_overrides(wh, org_id)
    if overrides:
        st.dataframe(cat.overrides_frame(overrides), hide_index=True)
    else:
        st.caption("No negotiated prices yet.")
    if is_admin:
        pnames = sorted({cat.provider_name_for(r) for r in records})
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
                o = PriceOverride(org_id=org_id, provider_name=p_provider, model=p_model,
                                  input_per_mtok=p_in, output_per_mtok=p_out,
                                  cached_input_per_mtok=p_cached, per_image=p_image,
                                  effective_from=p_from, effective_to=p_to, note=p_note or None,
                                  created_by=user.username)
                add_override(wh, o, supersede=p_super)
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
                    result = reprice(wh, org_id, since=since, until=until, actor=user.username)
            except WarehouseBusy as exc:
                session.busy_message(exc)
            else:
                st.success(result.summary())
    else:
        st.caption("Only admins set negotiated prices.")

with rules_tab:
    rules = catalog_store.rules(org_id)
    st.markdown("The first matching rule classifies a model. "
                + ("Using the default rules." if rules.is_default else
                   f"Your organization's rules (version {rules.version})."))
    table = cat.rule_rows(rules)
    if is_admin:
        edited = st.data_editor(table, num_rows="dynamic", key="rules_editor", column_config={
            "class": st.column_config.SelectboxColumn(options=list(cat.CLASSES), required=True),
            "match": st.column_config.SelectboxColumn(options=["glob", "regex"], required=True),
        })
        c1, c2 = st.columns(2)
        if c1.button("Save rules", type="primary", key="rules_save"):
            try:
                catalog_store.set_rules(org_id, cat.filled_rules(edited),
                                        user.username, expected_version=rules.version)
            except InvalidRules as exc:
                for msg in exc.messages:
                    st.error(msg)
            except ConfigStoreError as exc:
                st.error(str(exc))
            else:
                session.flash("Saved the rules. The next discovery run applies them.")
                st.rerun()
        if not rules.is_default and c2.button("Reset to defaults", key="rules_reset"):
            catalog_store.reset_rules(org_id, user.username)
            session.flash("Back to the default rules.")
            st.rerun()
    else:
        st.dataframe(table, hide_index=True)
