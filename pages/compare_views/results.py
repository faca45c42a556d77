"""A run on the Comparison view: its progress while it runs, then the results."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core import charts
from core.compare import jobs, service
from core.compare.analysis import Analysis
from core.compare.samples import SampleSet
from core.compare.spec import TYPE_DESCRIPTIONS, SpecError, parse_spec
from core.exports import csv_bytes
from pages.compare_views.shared import Ctx, analysis, run_samples


def _progress_panel(ctx: Ctx, run_id: str) -> None:
    """Polls the background job; the page stays usable and the run survives navigation."""

    @st.fragment(run_every=1.0)
    def poll() -> None:
        status = jobs.status(run_id, warehouse=ctx.wh, org_id=ctx.org_id)
        total = max(status.total, 1)
        eta = f" · about {status.eta_s:.0f} s left" if status.eta_s else ""
        st.progress(status.done / total, text=f"{status.done} of {status.total} calls{eta}")
        if status.state in ("queued", "running", "cancelling"):
            if st.button("Cancel run", key="run_cancel"):
                jobs.cancel(run_id, warehouse=ctx.wh, org_id=ctx.org_id)
        else:
            st.rerun(scope="app")

    poll()


def _recommendations(result: Analysis) -> None:
    if not result.recommendations:
        return
    st.subheader("Recommendations", anchor=False)
    st.caption("Confidence: the share of 1,000 resamples of the items in which the "
               "recommendation still holds. Near 50% between two models is a coin toss.")
    for rec in result.recommendations:
        with st.container(border=True):
            head, conf = st.columns([5, 1])
            head.markdown(f"**{rec.kind.capitalize()}: {rec.model}**  \n{rec.reason}")
            conf.metric("Confidence", f"{rec.confidence:.0%}")
            st.markdown("Trade-offs: " + "; ".join(rec.tradeoffs))


def _charts(frame: pd.DataFrame, result: Analysis) -> None:
    g1, g2 = st.columns(2)
    if (fig := charts.compare_latency(frame)) is not None:
        g1.plotly_chart(fig, key="cmp_latency")
    points, frontier = service.accuracy_cost_points(result)
    if points:
        g2.plotly_chart(charts.compare_pareto(points, frontier), key="cmp_pareto")
    if (fig := charts.compare_item_scores(frame)) is not None:
        st.plotly_chart(fig, key="cmp_heat")


def _side_by_side(frame: pd.DataFrame, labels: dict[str, str], samples: SampleSet | None,
                  ) -> None:
    st.subheader("Side by side", anchor=False)
    item = st.selectbox("Item", sorted(frame["item_id"].unique()), key="cmp_item")
    kind, _, item_id = item.partition(":")
    photo = samples.photo(item_id) if samples is not None and kind == "photo" else None
    prompt = samples.prompt(item_id) if samples is not None and kind == "prompt" else None
    if photo is not None:
        expected = ", ".join(t.name for t in photo.tags) or "no labels"
        st.image(photo.read_bytes(), caption=f"{photo.title or photo.id} — expected: {expected}",
                 width=320)
    elif prompt is not None:
        st.markdown(f"**Prompt:** {prompt.text}  \n**Reference:** {prompt.reference or '—'}")
    iterations = sorted(frame.loc[frame["item_id"] == item, "iteration"].unique())
    iteration = iterations[0]
    if len(iterations) > 1:
        iteration = st.select_slider("Iteration", iterations, key="cmp_iteration")
    rows = frame[(frame["item_id"] == item) & (frame["iteration"] == iteration)]
    for col, label in zip(st.columns(len(labels)), labels.values(), strict=False):
        answer = rows[rows["Model"] == label]
        with col.container(border=True):
            st.markdown(f"**{label}**")
            if answer.empty:
                st.caption("no answer")
                continue
            row = answer.iloc[0]
            if row["status"] != "ok":
                st.error(f"{row['error_type']}")
                continue
            score = "—" if pd.isna(row["score"]) else f"{row['score']:.2f}"
            st.caption(f"score {score} · {row['bucket']} · {row['duration_ms']:.0f} ms")
            st.text(str(row["output_text"] or ""))
            for line in service.answer_details(row.get("details_json")).lines():
                st.caption(line)


def _short(label: str | None) -> str:
    """A model's name without its provider: a metric shows ~18 characters."""
    return "—" if not label else label.rsplit("/", 1)[-1]


def _results(ctx: Ctx, run: service.RunInfo) -> None:
    spec = parse_spec(run.spec)
    frame, result = analysis(ctx.wh, ctx.org_id, run.run_id, run.done_calls, run.status,
                             run.spec_json)
    if frame.empty:
        st.info("No results recorded yet.")
        return
    if result.winner:
        st.success(f"**Winner: {result.winner}** — {result.winner_message}")
    else:
        st.info(result.winner_message)
    c1, c2 = st.columns(2)  # two per row: model names need the width
    c3, c4 = st.columns(2)
    c1.metric("Best overall", _short(result.best_overall),
              help=f"{result.best_overall}, by the {spec.comparison_type} weights: "
                   f"{TYPE_DESCRIPTIONS[spec.comparison_type]}")
    c2.metric("Most accurate", _short(result.most_accurate), help=result.most_accurate)
    c3.metric("Fastest (p95)", _short(result.fastest), help=result.fastest)
    c4.metric("Most cost-effective", _short(result.cheapest),
              help=f"{result.cheapest}: the lowest cost per accurate result")
    table = service.summary_table(result)
    st.dataframe(table, hide_index=True, column_config={
        "Success": st.column_config.NumberColumn(format="percent"),
        "Accuracy": st.column_config.NumberColumn(format="%.2f"),
        "Consistency": st.column_config.NumberColumn(format="%.2f"),
        "Avg ms": st.column_config.NumberColumn(format="%.0f"),
        "p50 ms": st.column_config.NumberColumn(format="%.0f"),
        "p95 ms": st.column_config.NumberColumn(format="%.0f"),
        "Total $": st.column_config.NumberColumn(format="$%.4f"),
        "$ / request": st.column_config.NumberColumn(format="$%.5f"),
        "$ / accurate result": st.column_config.NumberColumn(format="$%.5f"),
    })
    if result.judge is not None:
        j = result.judge
        st.caption(f"Judge {j.provider}/{j.model}: graded {j.scored} of {j.calls} answers "
                   f"({j.failed} failed calls) for ${j.total_cost:.4f}, not included in the "
                   "models' costs.")
    for failure in result.threshold_failures:
        st.warning(f"Threshold missed: {failure}")
    _recommendations(result)
    d1, d2, d3 = st.columns(3)
    d1.download_button("Summary (CSV)", csv_bytes(table), "comparison-summary.csv",
                       "text/csv", key="dl_summary")
    d2.download_button("Summary (JSON)", result.to_json(), "comparison-summary.json",
                       "application/json", key="dl_json")
    d3.download_button("Every call (CSV)", csv_bytes(frame), "comparison-calls.csv",
                       "text/csv", key="dl_calls")
    frame = service.with_model_labels(frame, spec)
    _charts(frame, result)
    samples, missing = run_samples(ctx.wh, ctx.org_id, run.run_id)
    if missing:
        st.warning(f"The photos and prompts of this run cannot all be shown: {missing}")
    _side_by_side(frame, service.model_labels(spec), samples)


def open_run_panel(ctx: Ctx, run: service.RunInfo) -> None:
    """A run: progress while it runs; when it has stopped, a resume button and its results."""
    st.subheader(run.name, anchor=False)
    state = jobs.status(run.run_id, warehouse=ctx.wh, org_id=ctx.org_id).state
    if state in ("queued", "running", "cancelling"):
        _progress_panel(ctx, run.run_id)
    else:
        if state != "done":
            why = {"interrupted": "interrupted: the app stopped while it ran"}.get(state, state)
            st.warning(f"This run was {why}" + (f": {run.error}" if run.error else "") + ".")
            if ctx.may_run and st.button("Resume (finished calls are kept)", key="run_resume"):
                try:
                    service.resume(run.run_id, parse_spec(run.spec), org_id=ctx.org_id,
                                   warehouse=ctx.wh, providers=ctx.providers)
                except SpecError as exc:
                    for line in exc.errors:
                        st.error(f"Cannot resume: {line}")
                else:
                    st.rerun()
        _results(ctx, run)
    if st.button("Set up a new comparison", key="run_new"):
        st.session_state.pop("compare_run", None)
        st.rerun()
