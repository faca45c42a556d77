"""Usage & Cost: what the organization spends on AI models, and how fast and reliable they are."""

from __future__ import annotations

import streamlit as st

from core import charts, page_data, resources, session
from core.auth import INGEST_ROLES, UserStore
from core.domain import UsageFilter
from core.exports import csv_bytes
from core.warehouse import WarehouseBusy, queries
from core.warehouse.ingest import FileOutcome, ingest_uploads

user = session.require_page("usage")
wh = resources.warehouse()
st.title("Usage & Cost")


def import_panel(org_id: str) -> None:
    """Upload usage files; good rows land, bad rows are listed with their reasons.

    Each file's outcome is kept in the session and shown on its own; the page reruns after an
    import with a fresh uploader (a new key), so the figures include the new events and a file
    that failed is not sent again by the next click.
    """
    if user.role not in INGEST_ROLES:
        st.info("Viewers cannot import usage files. Ask an editor or admin.")
        return
    st.write(
        "Load usage events as **JSONL, CSV or Parquet**, a **LiteLLM SpendLogs** export, or "
        "**OpenTelemetry GenAI spans** (JSON). Re-importing a file adds nothing twice."
    )
    generation = st.session_state.setdefault("import_generation", 0)
    files = st.file_uploader(
        "Usage files", type=["jsonl", "ndjson", "json", "csv", "parquet"],
        accept_multiple_files=True, key=f"import_files_{generation}",
    )
    if st.button("Import", type="primary", disabled=not files, key="import_go"):
        bar = st.progress(0.0, text="Importing…")
        outcomes = ingest_uploads(
            wh, org_id, files or [],
            progress=lambda done, total, name: bar.progress(done / total,
                                                            text=f"Importing {name}…"),
        )
        bar.progress(1.0, text="Import finished.")
        st.session_state["import_results"] = outcomes
        st.session_state["import_generation"] = generation + 1
        st.rerun()
    outcome: FileOutcome
    for i, outcome in enumerate(st.session_state.get("import_results", [])):
        if outcome.error:
            (st.warning if outcome.busy else st.error)(outcome.summary)
            continue
        (st.warning if outcome.quarantined else st.success)(outcome.summary)
        bad = outcome.bad_rows()
        if bad:
            st.dataframe(bad, hide_index=True, width="stretch")
            st.download_button(
                f"Download the {outcome.quarantined:,} rejected rows (CSV)",
                outcome.quarantine_csv(), file_name=f"{outcome.name}.rejected.csv",
                mime="text/csv", key=f"rejected_{i}", on_click="ignore",
            )


try:
    orgs = sorted(set(page_data.org_ids(wh)) | set(UserStore().organizations()))
    choices = user.visible_orgs(orgs) if user.role.value == "admin" else [user.org_id]
    with st.sidebar:
        st.subheader("Filters")
        org_choice = user.org_id
        if len(choices) > 1:  # the instance owner; a lone disabled box only says less, faded
            org_choice = st.selectbox("Organization", choices, index=choices.index(user.org_id),
                                      key="flt_org")
    org_id = user.scope(org_choice)
    opts = page_data.filter_options(wh, org_id)
except WarehouseBusy as exc:
    session.busy_message(exc)
    st.stop()

if opts["last_day"] is None:
    st.info(
        "No usage in this organization yet. Import usage files below, run "
        "`switchyard ingest FILE…` from a terminal, or build demo history with `switchyard demo`."
    )
    import_panel(org_id)
    st.stop()

first, last = opts["first_day"], opts["last_day"]
with st.sidebar:
    default_start, _ = queries.default_date_range(first, last)
    picked = st.date_input("Date range", value=(default_start, last), min_value=first,
                           max_value=last, key="flt_dates")
    if isinstance(picked, tuple | list):
        start, end = (picked[0], picked[-1]) if picked else (default_start, last)
    else:
        start = end = picked
    providers = st.multiselect("Provider", opts["providers"], format_func=charts.provider_label,
                               key="flt_providers", placeholder="All providers")
    model_options = [m for m in opts["models"]
                     if not providers or opts["model_provider"].get(m) in providers]
    models = st.multiselect("Model", model_options, key="flt_models", placeholder="All models")
    features = st.multiselect("Feature", opts["features"], key="flt_features",
                              placeholder="All features")
    sources = st.multiselect("Source", opts["sources"], key="flt_sources",
                             placeholder="All sources")

flt = UsageFilter(org_id=org_id, start=start, end=end, providers=providers, models=models,
                  features=features, sources=sources)
try:
    dash = page_data.dashboard(wh, flt)
except WarehouseBusy as exc:
    session.busy_message(exc)
    st.stop()

st.caption(f"{flt.start:%d %b %Y} – {flt.end:%d %b %Y} · organization `{org_id}` · compared with "
           f"the previous {flt.days} days")

cur = dash.kpis["current"]
delta = dash.delta

k1, k2, k3, k4, k5 = st.columns(5)
k1.metric("Spend", f"${cur['spend']:,.2f}", delta("spend"), delta_color="inverse")
k2.metric("Requests", f"{cur['requests']:,.0f}", delta("requests"))
k3.metric("Tokens", f"{cur['tokens'] / 1e6:,.2f} M", delta("tokens"))
k4.metric("p95 latency", f"{cur['p95_ms']:,.0f} ms" if cur["p95_ms"] else "–",
          delta("p95_ms"), delta_color="inverse")
k5.metric("Error rate", f"{cur['error_rate'] * 100:.2f}%" if cur["error_rate"] is not None else "–",
          delta("error_rate"), delta_color="inverse")

if dash.empty:
    st.info("No events match these filters. Widen the date range or clear a filter in the sidebar.")

# only the open tab's content runs and is sent: six figures and two tables drawn at every page
# switch cost more time than the queries behind them
tab_cost, tab_latency, tab_errors, tab_events, tab_import = st.tabs(
    ["Cost", "Latency", "Errors", "Events", "Import"], key="usage_tab", on_change="rerun"
)

if tab_cost.open:
    with tab_cost:
        by = st.segmented_control(
            "Stack daily cost by", ["request_model", "provider_name", "feature"],
            format_func=lambda v: charts.DIM_LABEL[v], default="request_model", key="cost_by",
        ) or "request_model"
        st.plotly_chart(page_data.usage_figure(wh, flt, "daily_cost", by), width="stretch")
        c1, c2 = st.columns(2)
        c1.plotly_chart(page_data.usage_figure(wh, flt, "top_features"), width="stretch")
        c2.plotly_chart(page_data.usage_figure(wh, flt, "cost_vs_latency"), width="stretch")

if tab_latency.open:
    with tab_latency:
        pct = st.segmented_control("Percentile", ["p50", "p95", "p99"], default="p95",
                                   key="latency_pct") or "p95"
        st.plotly_chart(page_data.usage_figure(wh, flt, "latency", pct), width="stretch")
        st.subheader("Models")
        table = dash.models.rename(columns={
            "provider_name": "Provider", "request_model": "Model", "requests": "Requests",
            "errors": "Errors", "cost_usd": "Cost (USD)", "tokens": "Tokens", "avg_ms": "Avg ms",
            "p50": "p50 ms", "p95": "p95 ms", "error_rate": "Error rate",
            "cost_per_1k": "USD / 1k requests",
        })
        st.dataframe(
            table, hide_index=True, width="stretch",
            column_config={
                "Cost (USD)": st.column_config.NumberColumn(format="$%.2f"),
                "USD / 1k requests": st.column_config.NumberColumn(format="$%.3f"),
                "Error rate": st.column_config.NumberColumn(format="percent"),
                "Avg ms": st.column_config.NumberColumn(format="%.0f"),
                "p50 ms": st.column_config.NumberColumn(format="%.0f"),
                "p95 ms": st.column_config.NumberColumn(format="%.0f"),
            },
        )
        st.download_button("Download model table (CSV)", csv_bytes(dash.models),
                           file_name="models.csv", mime="text/csv", key="dl_models")

if tab_errors.open:
    with tab_errors:
        c1, c2 = st.columns(2)
        c1.plotly_chart(page_data.usage_figure(wh, flt, "errors_by_provider"), width="stretch")
        c2.plotly_chart(page_data.usage_figure(wh, flt, "error_timeline"), width="stretch")

if tab_events.open:
    with tab_events:
        top = st.columns([1, 1, 2])
        errors_only = top[0].toggle("Errors only", key="ev_errors")
        page_no = top[1].number_input("Page", min_value=1, value=1, step=1, key="ev_page")
        size = 200
        try:
            events = page_data.events_page(wh, flt, limit=size, offset=(int(page_no) - 1) * size,
                                           errors_only=errors_only)
        except WarehouseBusy as exc:
            session.busy_message(exc)
            st.stop()
        st.caption(f"Newest first · {size} per page · page {int(page_no)}")
        if events.empty:
            st.info("No events on this page for these filters.")
        else:
            st.dataframe(events, hide_index=True, width="stretch",
                         column_config={"cost_usd": st.column_config.NumberColumn(format="$%.6f")})
        d1, d2, _ = st.columns([1, 1, 2])
        d1.download_button("Export CSV", lambda: queries.export_events(wh, flt, "csv",
                                                                        errors_only=errors_only),
                           file_name=f"usage_{org_id}_{flt.start}_{flt.end}.csv", mime="text/csv",
                           key="export_csv")
        d2.download_button("Export Parquet", lambda: queries.export_events(wh, flt, "parquet",
                                                                            errors_only=errors_only),
                           file_name=f"usage_{org_id}_{flt.start}_{flt.end}.parquet",
                           mime="application/octet-stream", key="export_parquet")
        st.caption(f"Exports hold every matching event, newest first (up to {queries.EXPORT_LIMIT:,}).")

if tab_import.open:
    with tab_import:
        import_panel(org_id)
