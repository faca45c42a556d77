"""The Past runs view: every run of the organization, open or run again, and runs compared."""

from __future__ import annotations

import streamlit as st

from core import charts, session
from core.compare import service
from core.compare.across_runs import RunInput, compare_runs
from core.compare.spec import SpecError, parse_spec
from core.exports import csv_bytes
from pages.compare_views.shared import Ctx, frame


def _rerun(ctx: Ctx, run: service.RunInfo) -> None:
    """The same spec again, as a new run (models, items and settings unchanged)."""
    try:
        run_id = service.start_comparison(parse_spec(run.spec), org_id=ctx.org_id,
                                          actor=ctx.user.username, warehouse=ctx.wh,
                                          providers=ctx.providers)
    except SpecError as exc:
        for line in exc.errors:
            st.error(f"Cannot run it again: {line}")
        return
    st.session_state["compare_run"] = run_id
    st.session_state["compare_view_next"] = "Comparison"
    session.flash(f"Started a new run of “{run.name}”.")
    st.rerun()


def _compare_past(ctx: Ctx, runs: list[service.RunInfo]) -> None:
    st.subheader("Compare runs", anchor=False)
    finished = [r for r in runs if r.done_calls]
    if len(finished) < 2:
        st.caption("Two runs with results are needed to compare runs.")
        return
    names = {r.run_id: service.run_label(r) for r in finished}
    picked = st.multiselect("Runs to compare (the earliest is the baseline)", list(names),
                            format_func=names.get, max_selections=4, key="runs_compare")
    if len(picked) < 2:
        st.caption("Pick two to four runs; models are matched by provider/model.")
        return
    chosen = sorted((r for r in finished if r.run_id in picked), key=lambda r: r.created_at)
    inputs = [RunInput(names[r.run_id], parse_spec(r.spec),
                       frame(ctx.wh, ctx.org_id, r.run_id, r.done_calls, r.status))
              for r in chosen]
    result = compare_runs(inputs)
    table = result.table
    st.plotly_chart(charts.compare_runs_accuracy(table), key="runs_cmp_chart")
    changes = result.changes_frame()
    if changes.empty:
        st.info("These runs have no model in common, so nothing can be compared directly.")
    else:
        st.markdown("**Change from the baseline** (paired over the items both runs share)")
        st.dataframe(changes, hide_index=True, column_config={
            "Change": st.column_config.NumberColumn(format="%+.3f"),
            "Accuracy before": st.column_config.NumberColumn(format="%.3f"),
            "Accuracy after": st.column_config.NumberColumn(format="%.3f"),
            "p95 before (ms)": st.column_config.NumberColumn(format="%.0f"),
            "p95 after (ms)": st.column_config.NumberColumn(format="%.0f"),
            "Success before": st.column_config.NumberColumn(format="percent"),
            "Success after": st.column_config.NumberColumn(format="percent"),
        })
    st.dataframe(table.drop(columns=["Accuracy low", "Accuracy high"]), hide_index=True)
    c1, c2 = st.columns(2)
    c1.download_button("Runs compared (CSV)", csv_bytes(table),
                       "runs-compared.csv", "text/csv", key="dl_runs_cmp")
    c2.download_button("Changes (CSV)", csv_bytes(changes), "runs-changes.csv",
                       "text/csv", key="dl_runs_changes")


def past_runs(ctx: Ctx) -> None:
    """The runs table, Open / Run again for one of them, and runs compared."""
    runs = service.list_runs(ctx.wh, ctx.org_id, limit=50)
    if not runs:
        st.info("No comparisons yet. Set one up in **Comparison**.")
        return
    table = service.runs_table(runs)
    st.dataframe(table, hide_index=True)
    st.download_button("Runs (CSV)", csv_bytes(table), "comparison-runs.csv",
                       "text/csv", key="dl_runs")
    names = {r.run_id: f"{service.run_label(r)} · {r.status}" for r in runs}
    pick = st.selectbox("Run", list(names), format_func=names.get, key="runs_pick")
    b1, b2, _ = st.columns([1, 1, 4])
    if b1.button("Open", key="runs_open"):
        st.session_state["compare_run"] = pick
        st.session_state["compare_view_next"] = "Comparison"
        st.rerun()
    if ctx.may_run and b2.button("Run again", key="runs_rerun",
                                 help="A new run of the same spec: same models, items and "
                                      "settings"):
        _rerun(ctx, next(r for r in runs if r.run_id == pick))
    _compare_past(ctx, runs)
