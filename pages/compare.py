"""Compare models: run up to four models on sample photos and prompts (bundled or your own),
watch the run, and see which is best — with intervals, so a winner is named only when the
difference is real, and recommendations that say how sure they are.
"""

from __future__ import annotations

import json

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from core import resources, session
from core.auth import CATALOG_TEST_ROLES
from core.catalog import view as cat
from core.compare import jobs
from core.compare.across_runs import RunInput, compare_runs
from core.compare.analysis import Analysis, analyse
from core.compare.sample_store import (
    SampleStore,
    SampleStoreError,
    UnknownSampleSet,
    resolve_sources,
)
from core.compare.samples import (
    LABELS_TEMPLATE,
    PROMPT_FEATURES,
    PROMPTS_TEMPLATE_CSV,
    Problem,
    SampleSet,
)
from core.compare.service import open_run, resume, start_comparison
from core.compare.spec import (
    COMPARISON_TYPES,
    DEFAULT_RUBRIC,
    TYPE_DESCRIPTIONS,
    SpecError,
    parse_spec,
)
from core.compare.stats import pareto_frontier
from core.warehouse import comparisons as wc

user = session.require_page("compare")
org_id = user.org_id
may_run = user.role in CATALOG_TEST_ROLES
providers = resources.provider_store()
wh = resources.warehouse()
sample_store = SampleStore()

st.title("Compare models")
session.show_flash()
# A view switcher rather than st.tabs: Open and Run again move people to the Comparison view,
# which a widget's state does reliably, and only the chosen view's code runs.
VIEWS = ("Comparison", "Past runs", "Your samples")
if "compare_view_next" in st.session_state:
    st.session_state["compare_view"] = st.session_state.pop("compare_view_next")
st.session_state.setdefault("compare_view", VIEWS[0])
view = st.segmented_control("View", VIEWS, required=True, key="compare_view",
                            label_visibility="collapsed")


# ---- shared pieces ---------------------------------------------------------------------------

@st.cache_data(ttl=300, show_spinner=False)
def _samples(org: str, set_ids: tuple[str, ...], bundled: bool) -> tuple[SampleSet, list]:
    """Bundled samples plus these uploaded sets (sets never change once saved)."""
    return resolve_sources(list(set_ids), org, bundled=bundled)


@st.cache_data(ttl=300, show_spinner=False)
def _run_samples(org: str, run_id: str) -> tuple[SampleSet | None, str | None]:
    """The photos and prompts a past run compared (None and why, when a set is gone)."""
    try:
        return open_run(wh, org, run_id).samples, None
    except (SpecError, wc.RunNotFound) as exc:
        return None, str(exc)


@st.cache_data(max_entries=64, show_spinner=False)
def _frame(org: str, run_id: str, done: int, status: str) -> pd.DataFrame:
    """A run's result rows, read once per run state (done calls, status)."""
    return wc.load_results(wh, org, run_id)


@st.cache_data(max_entries=32, show_spinner="Analysing the results…")
def _analysis(org: str, run_id: str, done: int, status: str, spec_json: str
              ) -> tuple[pd.DataFrame, Analysis]:
    """One analysis per run state: reruns of the page reuse it."""
    spec = parse_spec(json.loads(spec_json))
    frame = _frame(org, run_id, done, status)
    samples, _ = _run_samples(org, run_id)
    return frame, analyse(frame, spec, features=samples.item_features() if samples else None)


def _problems(problems: list[Problem], key: str) -> None:
    """Skipped items (errors) and notes (warnings), with where they are, downloadable."""
    if not problems:
        return
    errors = [p for p in problems if p.level == "error"]
    label = (f"{len(errors)} item(s) skipped" if errors else "") + (
        ", " if errors and len(errors) < len(problems) else "") + (
        f"{len(problems) - len(errors)} note(s)" if len(errors) < len(problems) else "")
    with st.expander(label, expanded=bool(errors)):
        frame = pd.DataFrame([{"File": p.source, "Where": "" if p.row is None else
                               f"{p.unit} {p.row}", "Level": p.level, "Problem": p.message}
                              for p in problems])
        st.dataframe(frame, hide_index=True)
        st.download_button("Problems (CSV)", frame.to_csv(index=False), "sample-problems.csv",
                           "text/csv", key=f"dl_{key}")


def _run_label(run: wc.RunInfo) -> str:
    """Name, start and a short id: two runs of one spec in the same minute stay apart."""
    return f"{run.name} · {run.created_at:%d %b %H:%M:%S} · {run.run_id[:6]}"


# ---- a run: progress, results ----------------------------------------------------------------

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


def _summary_table(result: Analysis) -> pd.DataFrame:
    return pd.DataFrame([{
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


def _charts(frame: pd.DataFrame, result: Analysis) -> None:
    ok = frame[frame["status"] == "ok"]
    g1, g2 = st.columns(2)
    if not ok.empty:
        fig = px.box(ok, x="Model", y="duration_ms", points="outliers",
                     title="Latency distribution", labels={"duration_ms": "Latency (ms)"})
        g1.plotly_chart(fig, key="cmp_latency")
    points = {m.label: (m.accuracy, m.cost_per_request) for m in result.models
              if m.accuracy is not None and m.cost_per_request is not None}
    if points:
        frontier = pareto_frontier(points)  # name -> (accuracy, cost), cheapest first
        fig = go.Figure()
        fig.add_trace(go.Scatter(
            x=[points[k][1] for k in frontier], y=[points[k][0] for k in frontier],
            mode="lines+markers", name="Pareto frontier", line={"dash": "dot"},
            marker={"size": 16, "symbol": "circle-open"}, hoverinfo="skip"))
        fig.add_trace(go.Scatter(
            x=[c for _, c in points.values()], y=[a for a, _ in points.values()],
            mode="markers+text", text=[k.rsplit("/", 1)[-1] for k in points],
            textposition="top center", name="models", marker={"size": 10},
            customdata=list(points),
            hovertemplate="%{customdata}<br>accuracy %{y:.2f}<br>$%{x:.6f} per request"
                          "<extra></extra>"))
        fig.update_layout(title="Accuracy vs cost (circled: the Pareto frontier)",
                          xaxis_title="$ per request", yaxis_title="Accuracy",
                          yaxis={"range": [0, 1.05]}, showlegend=False,
                          margin={"l": 60, "r": 40})
        fig.update_xaxes(rangemode="tozero")
        g2.plotly_chart(fig, key="cmp_pareto")
    heat = frame.pivot_table(index="item_id", columns="Model", values="score", aggfunc="mean")
    if not heat.empty:
        fig = px.imshow(heat, color_continuous_scale="RdYlGn", zmin=0, zmax=1, aspect="auto",
                        title="Score per item (mean over iterations)")
        fig.update_layout(height=max(300, 22 * len(heat)))
        st.plotly_chart(fig, key="cmp_heat")


def _answer_details(details_json: object) -> None:
    """Which assertions passed, and what the judge said, for one answer."""
    if not isinstance(details_json, str) or not details_json:
        return
    details = json.loads(details_json)
    checks = details.get("assertions") or []
    if checks:
        st.caption(" · ".join(("✓ " if a.get("passed") else "✗ ") + str(a.get("type"))
                              for a in checks))
    judge = details.get("judge")
    if isinstance(judge, dict) and judge.get("reason"):
        score = judge.get("score")
        st.caption(f"Judge{'' if score is None else f' {score:.2f}'}: {judge['reason']}")
    if details.get("missed"):
        st.caption("Missed: " + ", ".join(map(str, details["missed"])))


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
            _answer_details(row.get("details_json"))


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
    def short(label: str | None) -> str:  # a metric shows ~18 characters
        return "—" if not label else label.rsplit("/", 1)[-1]

    c1, c2 = st.columns(2)  # two per row: model names need the width
    c3, c4 = st.columns(2)
    c1.metric("Best overall", short(result.best_overall),
              help=f"{result.best_overall}, by the {spec.comparison_type} weights: "
                   f"{TYPE_DESCRIPTIONS[spec.comparison_type]}")
    c2.metric("Most accurate", short(result.most_accurate), help=result.most_accurate)
    c3.metric("Fastest (p95)", short(result.fastest), help=result.fastest)
    c4.metric("Most cost-effective", short(result.cheapest),
              help=f"{result.cheapest}: the lowest cost per accurate result")
    table = _summary_table(result)
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
    d1.download_button("Summary (CSV)", table.to_csv(index=False), "comparison-summary.csv",
                       "text/csv", key="dl_summary")
    d2.download_button("Summary (JSON)", result.to_json(), "comparison-summary.json",
                       "application/json", key="dl_json")
    d3.download_button("Every call (CSV)", frame.to_csv(index=False), "comparison-calls.csv",
                       "text/csv", key="dl_calls")
    labels = {f"m{i + 1}": ref.display for i, ref in enumerate(spec.models)}
    frame = frame.assign(Model=frame["model_key"].map(labels))
    _charts(frame, result)
    samples, missing = _run_samples(org_id, run.run_id)
    if missing:
        st.warning(f"The photos and prompts of this run cannot all be shown: {missing}")
    _side_by_side(frame, labels, samples)


def _open_run_panel(run: wc.RunInfo) -> None:
    st.subheader(run.name, anchor=False)
    state = jobs.status(run.run_id, warehouse=wh, org_id=org_id).state
    if state in ("queued", "running", "cancelling"):
        _progress_panel(run.run_id)
    else:
        if state != "done":
            why = {"interrupted": "interrupted: the app stopped while it ran"}.get(state, state)
            st.warning(f"This run was {why}" + (f": {run.error}" if run.error else "") + ".")
            if may_run and st.button("Resume (finished calls are kept)", key="run_resume"):
                try:
                    resume(run.run_id, parse_spec(run.spec), org_id=org_id, warehouse=wh,
                           providers=providers)
                except SpecError as exc:
                    for line in exc.errors:
                        st.error(f"Cannot resume: {line}")
                else:
                    st.rerun()
        _results(run)
    if st.button("Set up a new comparison", key="run_new"):
        st.session_state.pop("compare_run", None)
        st.rerun()


# ---- a new comparison ------------------------------------------------------------------------

def _sample_pickers(samples: SampleSet, chosen_sets: tuple[str, ...]) -> tuple[list, list]:
    """Photos and prompt sets to run; a newly chosen sample set's photos are selected."""
    photo_ids = [p.id for p in samples.photos]
    features = [f for f in samples.feature_names if samples.prompts_for(f)]
    state = st.session_state
    previous = state.get("_cmp_sets_seen")
    added = set(chosen_sets) - set(previous or ())
    if "cmp_photos" not in state:
        state["cmp_photos"] = photo_ids
        state["cmp_features"] = ["safety_chat"] if "safety_chat" in features else features[:1]
    else:  # keep what is still there, and select what a newly chosen set brings
        fresh = [_samples(org_id, (s,), False)[0] for s in sorted(added)]
        state["cmp_photos"] = list(dict.fromkeys(
            [p for p in state["cmp_photos"] if p in photo_ids]
            + [p.id for f in fresh for p in f.photos if p.id in photo_ids]))
        state["cmp_features"] = list(dict.fromkeys(
            [f for f in state.get("cmp_features", []) if f in features]
            + [q.feature for f in fresh for q in f.prompts if q.feature in features]))
    state["_cmp_sets_seen"] = list(chosen_sets)
    photos = st.multiselect("Photos (tagging)", photo_ids, key="cmp_photos",
                            help="Scored by precision, recall and F1 against their labels")
    prompts = st.multiselect("Prompt sets", features, key="cmp_features",
                             format_func=lambda f: f"{f} ({len(samples.prompts_for(f))})")
    return photos, prompts


def _judge_settings(options: dict[str, str]) -> dict | None:
    on = st.toggle("Grade prompt answers with an LLM judge", key="cmp_judge",
                   help="A judge model scores each prompt answer against its reference with "
                        "your rubric, as one more assertion. Its calls cost money too: they "
                        "are recorded and shown apart from the compared models' costs.")
    if not on:
        return None
    strong = [k for k in options if any(w in k for w in ("gpt-4.1", "sonnet", "pro"))]
    j1, j2 = st.columns([2, 1])
    judge = j1.selectbox("Judge model", list(options), format_func=options.get,
                         index=list(options).index(strong[0]) if strong else 0,
                         key="cmp_judge_model")
    pass_score = j2.slider("Pass score", 0.0, 1.0, 0.7, 0.05, key="cmp_judge_pass",
                           help="A judged score at or above this passes the judge assertion")
    rubric = st.text_area("Rubric", DEFAULT_RUBRIC, key="cmp_judge_rubric", height=90)
    provider, _, model = judge.partition("/")
    return {"provider": provider, "model": model, "rubric": rubric, "pass_score": pass_score}


def _advanced_settings(provider_ids: list[str]) -> dict:
    """Timeout, temperature, output cap, retries and per-provider pacing (spec defaults)."""
    with st.expander("Advanced settings"):
        a1, a2, a3, a4 = st.columns(4)
        timeout = a1.number_input("Timeout per call (s)", 1, 600, 60, key="cmp_timeout")
        fixed = a2.checkbox("Set temperature", key="cmp_temp_on",
                            help="Off: each model's own default")
        temperature = a2.slider("Temperature", 0.0, 2.0, 0.2, 0.1, key="cmp_temp",
                                disabled=not fixed)
        cap = a3.number_input("Max output tokens (0: none)", 0, 200_000, 0, key="cmp_max_tokens")
        retries = a4.number_input("Retries on 429/5xx", 0, 10, 2, key="cmp_retries",
                                  help="429s wait for the provider's Retry-After")
        rpm: dict[str, int] = {}
        if provider_ids:
            st.caption("Requests per minute per provider (0: no limit)")
            for col, pid in zip(st.columns(len(provider_ids)), provider_ids, strict=True):
                value = col.number_input(pid, 0, 100_000, 0, key=f"cmp_rpm_{pid}")
                if value:
                    rpm[pid] = int(value)
    out: dict = {"timeout_s": float(timeout), "retries": int(retries)}
    if fixed:
        out["temperature"] = float(temperature)
    if cap:
        out["max_tokens"] = int(cap)
    if rpm:
        out["rate_limits_rpm"] = rpm
    return out


def _new_comparison() -> None:
    catalog = cat.build_catalog(org_id, providers=providers, catalog=resources.catalog_store(),
                                warehouse=wh)
    active = [e for e in catalog.entries if e.model.active and e.model.kind != "tagging"]
    options = {e.key: f"{e.model.model_id} · {e.provider.name}" for e in active}
    if not options:
        st.info("No models yet. Discover models on the **Model catalog** page first.")
        return
    preselect = [k for k in st.session_state.pop("compare_preselect", []) if k in options]
    if preselect:
        st.session_state["cmp_models"] = preselect
    chosen = st.multiselect("Models (2 to 4)", list(options), format_func=options.get,
                            max_selections=4, key="cmp_models")
    c1, c2, c3 = st.columns(3)
    ctype = c1.selectbox("Comparison type", COMPARISON_TYPES, index=len(COMPARISON_TYPES) - 1,
                         key="cmp_type", help=" ".join(f"{k}: {v}" for k, v in
                                                       TYPE_DESCRIPTIONS.items()))
    iterations = c2.number_input("Iterations", 1, 10, 2, key="cmp_iter",
                                 help="Repeats per item: measures consistency")
    concurrency = c3.number_input("Concurrency", 1, 32, 8, key="cmp_conc")
    advanced = _advanced_settings(sorted({k.partition("/")[0] for k in chosen}))

    sets = {s.id: f"{s.name} ({s.photos} photos, {s.prompts} prompts)"
            for s in sample_store.list(org_id)}
    s1, s2 = st.columns([3, 1])
    chosen_sets = tuple(s1.multiselect(
        "Your sample sets", list(sets), format_func=sets.get, key="cmp_sets",
        placeholder="None yet: add some in Your samples" if not sets else
        "Choose sets to add their photos and prompts"))
    bundled = s2.checkbox("Bundled samples", True, key="cmp_bundled",
                          help="The sample photos and prompts that ship with Switchyard")
    if not bundled and not chosen_sets:
        st.warning("Choose a sample set, or include the bundled samples.")
        return
    try:
        samples, problems = _samples(org_id, chosen_sets, bundled)
    except SpecError as exc:
        st.error("; ".join(exc.errors))
        return
    _problems(problems, "merge")
    photos, features = _sample_pickers(samples, chosen_sets)
    judge = _judge_settings(options)
    prompts = [q for f in features for q in samples.prompts_for(f)]
    n_items = len(photos) + len(prompts)
    judged = sum(1 for q in prompts if q.reference) if judge else 0
    st.caption(f"{len(chosen)} models × {n_items} items × {iterations} iterations = "
               f"{len(chosen) * n_items * iterations} calls"
               + (f", plus up to {len(chosen) * judged * iterations} judge calls"
                  if judge else ""))
    if judge and not judged:
        st.caption("The judge grades prompts that have a reference; none of these do.")
    if not st.button("Run comparison", type="primary", key="cmp_start",
                     disabled=len(chosen) < 2 or n_items == 0):
        return
    try:
        spec = parse_spec({
            "name": " vs ".join(options[k].split(" · ")[0] for k in chosen),
            "models": chosen, "comparison_type": ctype, "photos": photos or [],
            "prompts": {"features": features}, "iterations": int(iterations),
            "concurrency": int(concurrency), **advanced, "samples": list(chosen_sets),
            "bundled": bundled, **({"judge": judge} if judge else {})})
        run_id = start_comparison(spec, org_id=org_id, actor=user.username, warehouse=wh,
                                  providers=providers)
    except SpecError as exc:
        for line in exc.errors:
            st.error(line)
        return
    st.session_state["compare_run"] = run_id
    st.rerun()


if view == "Comparison":
    current = st.session_state.get("compare_run")
    run = wc.get_run(wh, org_id, current) if current else None
    if run is not None:
        _open_run_panel(run)
    elif not may_run:
        st.info("Viewers can open past runs; ask an analyst, editor or admin to run one.")
    else:
        _new_comparison()


# ---- past runs ---------------------------------------------------------------------------------

def _rerun(run: wc.RunInfo) -> None:
    """The same spec again, as a new run (models, items and settings unchanged)."""
    try:
        run_id = start_comparison(parse_spec(run.spec), org_id=org_id, actor=user.username,
                                  warehouse=wh, providers=providers)
    except SpecError as exc:
        for line in exc.errors:
            st.error(f"Cannot run it again: {line}")
        return
    st.session_state["compare_run"] = run_id
    st.session_state["compare_view_next"] = "Comparison"
    session.flash(f"Started a new run of “{run.name}”.")
    st.rerun()


def _compare_past(runs: list[wc.RunInfo]) -> None:
    st.subheader("Compare runs", anchor=False)
    finished = [r for r in runs if r.done_calls]
    if len(finished) < 2:
        st.caption("Two runs with results are needed to compare runs.")
        return
    names = {r.run_id: _run_label(r) for r in finished}
    picked = st.multiselect("Runs to compare (the earliest is the baseline)", list(names),
                            format_func=names.get, max_selections=4, key="runs_compare")
    if len(picked) < 2:
        st.caption("Pick two to four runs; models are matched by provider/model.")
        return
    chosen = sorted((r for r in finished if r.run_id in picked), key=lambda r: r.created_at)
    inputs = [RunInput(names[r.run_id], parse_spec(r.spec),
                       _frame(org_id, r.run_id, r.done_calls, r.status)) for r in chosen]
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
    c1.download_button("Runs compared (CSV)", table.to_csv(index=False),
                       "runs-compared.csv", "text/csv", key="dl_runs_cmp")
    c2.download_button("Changes (CSV)", changes.to_csv(index=False), "runs-changes.csv",
                       "text/csv", key="dl_runs_changes")


if view == "Past runs":
    runs = wc.list_runs(wh, org_id, limit=50)
    if not runs:
        st.info("No comparisons yet. Set one up in **Comparison**.")
    else:
        table = pd.DataFrame([{"Name": r.name, "Status": r.status, "Calls": r.total_calls,
                               "Done": r.done_calls, "Started": r.created_at,
                               "By": r.created_by, "Run": r.run_id} for r in runs])
        st.dataframe(table, hide_index=True)
        st.download_button("Runs (CSV)", table.to_csv(index=False), "comparison-runs.csv",
                           "text/csv", key="dl_runs")
        names = {r.run_id: f"{_run_label(r)} · {r.status}" for r in runs}
        pick = st.selectbox("Run", list(names), format_func=names.get, key="runs_pick")
        b1, b2, _ = st.columns([1, 1, 4])
        if b1.button("Open", key="runs_open"):
            st.session_state["compare_run"] = pick
            st.session_state["compare_view_next"] = "Comparison"
            st.rerun()
        if may_run and b2.button("Run again", key="runs_rerun",
                                 help="A new run of the same spec: same models, items and "
                                      "settings"):
            _rerun(next(r for r in runs if r.run_id == pick))
        _compare_past(runs)


# ---- your samples ------------------------------------------------------------------------------

def _upload_form() -> None:
    st.subheader("Add a sample set", anchor=False)
    st.caption("Photos are compared on tags against their labels; prompts against their "
               "reference and assertions. Bad photos or rows are skipped and listed; the "
               "rest is saved.")
    name = st.text_input("Name of the sample set", key="up_name",
                         placeholder="e.g. Product shots, March")
    photos = st.file_uploader("Photos (JPEG or PNG)", type=["jpg", "jpeg", "png"],
                              accept_multiple_files=True, key="up_photos")
    labels = st.file_uploader("Labels for the photos (YAML, optional)", type=["yaml", "yml"],
                              key="up_labels", help="Photos without labels are compared on "
                                                    "speed, cost and agreement only")
    prompt_files = st.file_uploader("Prompt sets (CSV or YAML, optional)",
                                    type=["csv", "yaml", "yml"], accept_multiple_files=True,
                                    key="up_prompts")
    feature = st.selectbox("Feature of prompts that name none", PROMPT_FEATURES,
                           key="up_feature")
    t1, t2, _ = st.columns([1, 1, 2])
    t1.download_button("Labels template (YAML)", LABELS_TEMPLATE, "labels.yaml",
                       "application/yaml", key="dl_labels_tpl")
    t2.download_button("Prompts template (CSV)", PROMPTS_TEMPLATE_CSV, "prompts.csv",
                       "text/csv", key="dl_prompts_tpl")
    if st.button("Save sample set", type="primary", key="up_save",
                 disabled=not (photos or prompt_files)):
        try:
            saved = sample_store.save(
                org_id, name, photos=[(f.name, f.getvalue()) for f in photos or []],
                labels=labels.getvalue() if labels else None,
                prompt_files=[(f.name, f.getvalue()) for f in prompt_files or []],
                actor=user.username, default_feature=feature)
        except SampleStoreError as exc:
            st.session_state["up_report"] = ("error", str(exc), exc.problems)
        else:
            info = saved.info
            st.session_state["up_report"] = (
                "ok", f"Saved “{info.name}”: {info.photos} photos ({info.labelled_photos} "
                      f"labelled) and {info.prompts} prompts. Choose it in Comparison.",
                saved.problems)
            _samples.clear()
        st.rerun()
    report = st.session_state.get("up_report")
    if report:
        level, message, problems = report
        (st.success if level == "ok" else st.error)(message)
        _problems(list(problems), "upload")


def _sets_table() -> None:
    st.subheader("Sample sets", anchor=False)
    sets = sample_store.list(org_id)
    if not sets:
        st.info("No sample sets yet." + (" Add one above: photos with labels, prompt sets, "
                                          "or both." if may_run else ""))
        return
    table = pd.DataFrame([{"Name": s.name, "Photos": s.photos, "Labelled": s.labelled_photos,
                           "Prompts": s.prompts, "Features": ", ".join(s.features),
                           "Size (MB)": round(s.size_bytes / 2**20, 2), "Added": s.created_at,
                           "By": s.created_by, "Id": s.id} for s in sets])
    st.dataframe(table, hide_index=True)
    st.download_button("Sample sets (CSV)", table.to_csv(index=False), "sample-sets.csv",
                       "text/csv", key="dl_sets")
    if not may_run:
        return
    names = {s.id: s.name for s in sets}
    if st.session_state.pop("_sets_deleted", False):
        st.session_state["sets_delete_sure"] = False  # each delete is confirmed anew
    d1, d2 = st.columns([3, 1])
    gone = d1.selectbox("Delete a sample set", list(names), format_func=names.get,
                        key="sets_delete_pick")
    sure = d2.checkbox("I am sure", key="sets_delete_sure",
                       help="Past runs that used it can no longer be reopened or resumed")
    if st.button("Delete sample set", key="sets_delete", disabled=not sure):
        try:
            info = sample_store.delete(org_id, gone)
        except UnknownSampleSet:
            st.error("That sample set is already gone.")
        else:
            _samples.clear()
            _run_samples.clear()
            st.session_state["_sets_deleted"] = True
            session.flash(f"Deleted “{info.name}”.")
            st.rerun()


if view == "Your samples":
    if may_run:
        _upload_form()
    _sets_table()
