"""Compare models: run up to four models on the sample photos and prompts, watch the run, and
see which is best — with intervals, so a winner is named only when the difference is real.
"""

from __future__ import annotations

import json

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from core import session
from core.auth import CATALOG_TEST_ROLES
from core.catalog import catalog as cat
from core.compare import jobs
from core.compare.across_runs import RunInput, compare_runs
from core.compare.analysis import Analysis, analyse
from core.compare.samples import FEATURES, bundled_samples
from core.compare.service import resume, start_comparison
from core.compare.spec import COMPARISON_TYPES, SpecError, parse_spec
from core.compare.stats import pareto_frontier
from core.warehouse import comparisons as wc

user = session.require_page("compare")
org_id = user.org_id
may_run = user.role in CATALOG_TEST_ROLES
providers = session.provider_store()
wh = session.warehouse()
samples = bundled_samples()

st.title("Compare models")
session.show_flash()
if "compare_tab_next" in st.session_state:  # Open / Run again move to the Comparison tab
    st.session_state["compare_tab"] = st.session_state.pop("compare_tab_next")
new_tab, runs_tab = st.tabs(["Comparison", "Past runs"], key="compare_tab", on_change="rerun")


def _progress_panel(run_id: str) -> None:
    """Polls the background job; the page stays usable and the run survives navigation."""

    @st.fragment(run_every=1.0)
    def poll() -> None:
        status = jobs.status(run_id, warehouse=wh, org_id=org_id)
        total = max(status.total, 1)
        eta = f" · about {status.eta_s:.0f} s left" if status.eta_s else ""
        st.progress(status.done / total, text=f"{status.done} of {status.total} calls{eta}")
        if status.state in ("queued", "running", "cancelling"):
            if st.button("Cancel run", key="run_cancel"):
                jobs.cancel(run_id, warehouse=wh, org_id=org_id)
        else:
            st.rerun(scope="app")

    poll()


@st.cache_data(max_entries=32, show_spinner="Analysing the results…")
def _analysis(org: str, run_id: str, done: int, status: str, spec_json: str
              ) -> tuple[pd.DataFrame, Analysis]:
    """One analysis per run state (done calls, status): reruns of the page reuse it."""
    spec = parse_spec(json.loads(spec_json))
    frame = wc.load_results(wh, org, run_id)
    return frame, analyse(frame, spec, features=samples.item_features())


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
            conf.metric("Confidence", f"{rec.confidence:.0%}", label_visibility="visible")
            st.markdown("Trade-offs: " + "; ".join(rec.tradeoffs))


def _results(run: wc.RunInfo) -> None:
    spec = parse_spec(run.spec)
    frame, result = _analysis(org_id, run.run_id, run.done_calls, run.status, run.spec_json)
    if frame.empty:
        st.info("No results recorded yet.")
        return
    if result.winner:
        st.success(f"**Winner: {result.winner}** — {result.winner_message}")
    else:
        st.info(result.winner_message)
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Best overall", result.best_overall or "—", help=f"by the {spec.comparison_type} "
              "weights")
    c2.metric("Most accurate", result.most_accurate or "—")
    c3.metric("Fastest (p95)", result.fastest or "—")
    c4.metric("Most cost-effective", result.cheapest or "—",
              help="lowest cost per accurate result")
    table = pd.DataFrame([{
        "Model": m.label, "Calls": m.calls, "Success": m.success_rate,
        "Success 95% CI": f"{m.success_low:.0%}–{m.success_high:.0%}",
        "Accuracy": m.accuracy,
        "Accuracy 95% CI": "—" if m.accuracy_low is None else
        f"{m.accuracy_low:.2f}–{m.accuracy_high:.2f}",
        "Consistency": m.consistency, "Avg ms": m.avg_ms, "p50 ms": m.p50_ms, "p95 ms": m.p95_ms,
        "Total $": m.total_cost, "$ / request": m.cost_per_request,
        "$ / accurate result": m.cost_per_accurate,
        "Accurate": m.accurate, "Partial": m.partial, "Failed": m.failed,
    } for m in result.models])
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
    for failure in result.threshold_failures:
        st.warning(f"Threshold missed: {failure}")
    _recommendations(result)
    d1, d2, d3 = st.columns(3)
    d1.download_button("Summary (CSV)", table.to_csv(index=False), "comparison-summary.csv",
                       "text/csv", key="dl_summary")
    d2.download_button("Summary (JSON)", result.to_json(), "comparison-summary.json",
                       "application/json", key="dl_json")
    d3.download_button("Every call (CSV)", frame.to_csv(index=False), "comparison-calls.csv",
                       "text/csv", key="dl_calls")

    labels = {f"m{i + 1}": ref.display for i, ref in enumerate(spec.models)}
    frame = frame.assign(Model=frame["model_key"].map(labels))
    ok = frame[frame["status"] == "ok"]
    g1, g2 = st.columns(2)
    if not ok.empty:
        fig = px.box(ok, x="Model", y="duration_ms", points="outliers",
                     title="Latency distribution", labels={"duration_ms": "Latency (ms)"})
        g1.plotly_chart(fig, key="cmp_latency")
    points = {m.label: (m.accuracy, m.cost_per_request) for m in result.models
              if m.accuracy is not None and m.cost_per_request is not None}
    if points:
        frontier = pareto_frontier(points)  # name -> (accuracy, cost)
        fig = px.scatter(x=[c for _, c in points.values()], y=[a for a, _ in points.values()],
                         text=list(points), title="Accuracy vs cost (line: Pareto frontier)",
                         labels={"x": "$ per request", "y": "Accuracy"})
        fig.add_trace(go.Scatter(x=[points[k][1] for k in frontier],
                                 y=[points[k][0] for k in frontier], mode="lines",
                                 name="Pareto frontier"))
        fig.update_traces(textposition="top center")
        g2.plotly_chart(fig, key="cmp_pareto")
    heat = frame.pivot_table(index="item_id", columns="Model", values="score", aggfunc="mean")
    if not heat.empty:
        fig = px.imshow(heat, color_continuous_scale="RdYlGn", zmin=0, zmax=1, aspect="auto",
                        title="Score per item (mean over iterations)")
        fig.update_layout(height=max(300, 22 * len(heat)))
        st.plotly_chart(fig, key="cmp_heat")

    st.subheader("Side by side", anchor=False)
    item = st.selectbox("Item", sorted(frame["item_id"].unique()), key="cmp_item")
    photo_id = item.split(":", 1)[1] if item.startswith("photo:") else None
    photo = samples.photo(photo_id) if photo_id else None
    if photo is not None:
        st.image(photo.read_bytes(), caption=f"{photo.title or photo.id} — expected: "
                 + ", ".join(t.name for t in photo.tags), width=320)
    elif item.startswith("prompt:") and (p := samples.prompt(item.split(":", 1)[1])):
        st.markdown(f"**Prompt:** {p.text}  \n**Reference:** {p.reference}")
    cols = st.columns(len(labels))
    first = frame[(frame["item_id"] == item)].sort_values("iteration")
    for col, (_key, label) in zip(cols, labels.items(), strict=False):
        rows = first[first["Model"] == label]
        with col.container(border=True):
            st.markdown(f"**{label}**")
            if rows.empty:
                st.caption("no answer")
                continue
            row = rows.iloc[0]
            if row["status"] != "ok":
                st.error(f"{row['error_type']}")
            else:
                score = "—" if pd.isna(row["score"]) else f"{row['score']:.2f}"
                st.caption(f"score {score} · {row['bucket']} · {row['duration_ms']:.0f} ms")
                st.text(str(row["output_text"] or ""))


with new_tab:
    current = st.session_state.get("compare_run")
    run = wc.get_run(wh, org_id, current) if current else None
    if run is not None:
        st.subheader(run.name, anchor=False)
        if not run.terminal:
            _progress_panel(run.run_id)
        else:
            if run.status != "done":
                st.warning(f"This run was {run.status}"
                           + (f": {run.error}" if run.error else "") + ".")
                if may_run and st.button("Resume (finished calls are kept)", key="run_resume"):
                    resume(run.run_id, parse_spec(run.spec), samples, org_id=org_id,
                           warehouse=wh, providers=providers)
                    st.rerun()
            _results(run)
        if st.button("Set up a new comparison", key="run_new"):
            st.session_state.pop("compare_run", None)
            st.rerun()
    elif not may_run:
        st.info("Viewers can open past runs; ask an analyst, editor or admin to run one.")
    else:
        catalog = cat.build_catalog(org_id, providers=providers,
                                    catalog=session.catalog_store(), warehouse=wh)
        active = [e for e in catalog.entries if e.model.active and e.model.kind != "tagging"]
        options = {e.key: f"{e.model.model_id} · {e.provider.name}" for e in active}
        if not options:
            st.info("No models yet. Discover models on the **Model catalog** page first.")
            st.stop()
        preselect = [k for k in st.session_state.pop("compare_preselect", []) if k in options]
        if preselect:
            st.session_state["cmp_models"] = preselect
        chosen = st.multiselect("Models (2 to 4)", list(options), format_func=options.get,
                                max_selections=4, key="cmp_models")
        c1, c2, c3 = st.columns(3)
        ctype = c1.selectbox("Comparison type", COMPARISON_TYPES, index=len(COMPARISON_TYPES) - 1,
                             key="cmp_type")
        iterations = c2.number_input("Iterations", 1, 10, 2, key="cmp_iter",
                                     help="Repeats per item: measures consistency")
        concurrency = c3.number_input("Concurrency", 1, 32, 8, key="cmp_conc")
        photo_ids = [p.id for p in samples.photos]
        photos = st.multiselect("Sample photos (tagging)", photo_ids, default=photo_ids,
                                key="cmp_photos")
        features = st.multiselect("Prompt sets", [f for f in FEATURES if samples.prompts_for(f)],
                                  default=["safety_chat"],
                                  key="cmp_features")
        n_items = len(photos) + sum(len(samples.prompts_for(f)) for f in features)
        st.caption(f"{len(chosen)} models × {n_items} items × {iterations} iterations = "
                   f"{len(chosen) * n_items * iterations} calls")
        if st.button("Run comparison", type="primary", key="cmp_start",
                     disabled=len(chosen) < 2 or n_items == 0):
            try:
                spec = parse_spec({
                    "name": " vs ".join(options[k].split(" · ")[0] for k in chosen),
                    "models": chosen, "comparison_type": ctype, "photos": photos or [],
                    "prompts": {"features": features}, "iterations": int(iterations),
                    "concurrency": int(concurrency)})
                run_id = start_comparison(spec, samples, org_id=org_id, actor=user.username,
                                          warehouse=wh, providers=providers)
            except SpecError as exc:
                for line in exc.errors:
                    st.error(line)
            else:
                st.session_state["compare_run"] = run_id
                st.rerun()

def _run_label(run: wc.RunInfo) -> str:
    """Name, start and a short id: two runs of one spec in the same minute stay apart."""
    return f"{run.name} · {run.created_at:%d %b %H:%M:%S} · {run.run_id[:6]}"


def _rerun(run: wc.RunInfo) -> None:
    """The same spec again, as a new run (models, items and settings unchanged)."""
    try:
        run_id = start_comparison(parse_spec(run.spec), samples, org_id=org_id,
                                  actor=user.username, warehouse=wh, providers=providers)
    except SpecError as exc:
        for line in exc.errors:
            st.error(f"Cannot run it again: {line}")
        return
    st.session_state["compare_run"] = run_id
    st.session_state["compare_tab_next"] = "Comparison"
    session.flash(f"Started a new run of “{run.name}”.")
    st.rerun()


def _compare_past(runs: list[wc.RunInfo]) -> None:
    st.subheader("Compare runs", anchor=False)
    finished = [r for r in runs if r.done_calls]
    if len(finished) < 2:
        st.caption("Two runs with results are needed to compare runs.")
        return
    names = {r.run_id: _run_label(r) for r in finished}
    picked = st.multiselect("Runs to compare (the first is the baseline)", list(names),
                            format_func=names.get, max_selections=4, key="runs_compare")
    if len(picked) < 2:
        st.caption("Pick two to four runs; models are matched by provider/model.")
        return
    chosen = [next(r for r in finished if r.run_id == rid) for rid in picked]
    inputs = [RunInput(names[r.run_id], parse_spec(r.spec),
                       _analysis(org_id, r.run_id, r.done_calls, r.status, r.spec_json)[0])
              for r in chosen]
    result = compare_runs(inputs)
    table = result.table
    fig = px.bar(table, x="Model", y="Accuracy", color="Run", barmode="group",
                 error_y=table["Accuracy high"] - table["Accuracy"],
                 error_y_minus=table["Accuracy"] - table["Accuracy low"],
                 title="Accuracy per model and run (bars: 95% interval)")
    st.plotly_chart(fig, key="runs_cmp_chart")
    changes = result.changes_frame()
    if changes.empty:
        st.info("These runs have no model in common, so nothing can be compared directly.")
    else:
        st.markdown("**Change from the baseline** (paired over the items both runs share)")
        st.dataframe(changes, hide_index=True, key="runs_cmp_changes", column_config={
            "Change": st.column_config.NumberColumn(format="%+.3f"),
            "Accuracy before": st.column_config.NumberColumn(format="%.3f"),
            "Accuracy after": st.column_config.NumberColumn(format="%.3f"),
            "p95 before (ms)": st.column_config.NumberColumn(format="%.0f"),
            "p95 after (ms)": st.column_config.NumberColumn(format="%.0f"),
            "Success before": st.column_config.NumberColumn(format="percent"),
            "Success after": st.column_config.NumberColumn(format="percent"),
        })
    st.dataframe(table.drop(columns=["Accuracy low", "Accuracy high"]), hide_index=True,
                 key="runs_cmp_table")
    c1, c2 = st.columns(2)
    c1.download_button("Runs compared (CSV)", table.to_csv(index=False),
                       "runs-compared.csv", "text/csv", key="dl_runs_cmp")
    c2.download_button("Changes (CSV)", changes.to_csv(index=False), "runs-changes.csv",
                       "text/csv", key="dl_runs_changes")


with runs_tab:
    runs = wc.list_runs(wh, org_id, limit=50)
    if not runs:
        st.info("No comparisons yet. Set one up on the **Comparison** tab.")
    else:
        table = pd.DataFrame([{"Name": r.name, "Status": r.status, "Calls": r.total_calls,
                               "Done": r.done_calls, "Started": r.created_at,
                               "By": r.created_by, "Run": r.run_id} for r in runs])
        st.dataframe(table, hide_index=True, key="runs_table")
        st.download_button("Runs (CSV)", table.to_csv(index=False), "comparison-runs.csv",
                           "text/csv", key="dl_runs")
        names = {r.run_id: f"{_run_label(r)} · {r.status}" for r in runs}
        pick = st.selectbox("Run", list(names), format_func=names.get, key="runs_pick")
        b1, b2, _ = st.columns([1, 1, 4])
        if b1.button("Open", key="runs_open"):
            st.session_state["compare_run"] = pick
            st.session_state["compare_tab_next"] = "Comparison"
            st.rerun()
        if may_run and b2.button("Run again", key="runs_rerun",
                                 help="A new run of the same spec: same models, items and "
                                      "settings"):
            _rerun(next(r for r in runs if r.run_id == pick))
        _compare_past(runs)
