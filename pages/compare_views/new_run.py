"""The Comparison view's form: models, samples, judge and settings, then "Run comparison"."""

from __future__ import annotations

from typing import Any

import streamlit as st

from core import resources
from core.catalog import view as cat
from core.compare import service
from core.compare.samples import SampleSet
from core.compare.spec import COMPARISON_TYPES, DEFAULT_RUBRIC, TYPE_DESCRIPTIONS, SpecError
from pages.compare_views.shared import Ctx, problems, samples


def _sample_pickers(ctx: Ctx, found: SampleSet, chosen_sets: tuple[str, ...]
                    ) -> tuple[list[str], list[str]]:
    """Photos and prompt sets to run; a newly chosen sample set's photos are selected."""
    state = st.session_state
    added = sorted(set(chosen_sets) - set(state.get("_cmp_sets_seen") or ()))
    previous = None if "cmp_photos" not in state else (state["cmp_photos"],
                                                       state.get("cmp_features", []))
    choice = service.sample_choice(
        found, previous, [samples(ctx.org_id, (s,), False)[0] for s in added]
        if previous is not None else ())
    state["cmp_photos"], state["cmp_features"] = choice.photos, choice.selected_features
    state["_cmp_sets_seen"] = list(chosen_sets)
    photos = st.multiselect("Photos (tagging)", choice.photo_ids, key="cmp_photos",
                            help="Scored by precision, recall and F1 against their labels")
    prompts = st.multiselect("Prompt sets", choice.features, key="cmp_features",
                             format_func=lambda f: f"{f} ({len(found.prompts_for(f))})")
    return photos, prompts


def _judge_settings(options: dict[str, str], strongest: str | None
                    ) -> service.JudgeChoice | None:
    on = st.toggle("Grade prompt answers with an LLM judge", key="cmp_judge",
                   help="A judge model scores each prompt answer against its reference with "
                        "your rubric, as one more assertion. Its calls cost money too: they "
                        "are recorded and shown apart from the compared models' costs.")
    if not on:
        return None
    keys = list(options)
    j1, j2 = st.columns([2, 1])
    judge = j1.selectbox("Judge model", keys, format_func=options.get,
                         index=keys.index(strongest) if strongest in keys else 0,
                         key="cmp_judge_model")
    pass_score = j2.slider("Pass score", 0.0, 1.0, 0.7, 0.05, key="cmp_judge_pass",
                           help="A judged score at or above this passes the judge assertion")
    rubric = st.text_area("Rubric", DEFAULT_RUBRIC, key="cmp_judge_rubric", height=90)
    return service.JudgeChoice(judge, rubric, pass_score)


def _advanced_settings(provider_ids: list[str]) -> dict[str, Any]:
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
                rpm[pid] = int(col.number_input(pid, 0, 100_000, 0, key=f"cmp_rpm_{pid}"))
    return service.advanced_fields(timeout_s=timeout, retries=retries,
                                   temperature=temperature if fixed else None,
                                   max_tokens=cap, rate_limits_rpm=rpm)


def new_comparison(ctx: Ctx) -> None:
    """The form; on "Run comparison" the run starts in the background and the view shows it."""
    catalog = cat.build_catalog(ctx.org_id, providers=ctx.providers,
                                catalog=resources.catalog_store(), warehouse=ctx.wh)
    options = service.model_options(catalog)
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
            for s in ctx.sample_store.list(ctx.org_id)}
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
        found, found_problems = samples(ctx.org_id, chosen_sets, bundled)
    except SpecError as exc:
        st.error("; ".join(exc.errors))
        return
    problems(found_problems, "merge")
    photos, features = _sample_pickers(ctx, found, chosen_sets)
    judge = _judge_settings(options, service.default_judge(service.comparable(catalog)))
    form = service.CompareForm(
        models=tuple(chosen), comparison_type=ctype, iterations=int(iterations),
        concurrency=int(concurrency), photos=tuple(photos), features=tuple(features),
        sample_sets=chosen_sets, bundled=bundled, judge=judge, advanced=advanced)
    estimate = service.estimate_calls(form, found, ctx.providers.list(ctx.org_id))
    st.caption(estimate.describe())
    if judge and not estimate.errors and not estimate.judge_calls:
        st.caption("The judge grades prompts that have a reference; none of these do.")
    if not st.button("Run comparison", type="primary", key="cmp_start",
                     disabled=len(chosen) < 2 or estimate.items == 0):
        return
    try:
        run_id = service.start_comparison(service.spec_from_form(form), org_id=ctx.org_id,
                                          actor=ctx.user.username, warehouse=ctx.wh,
                                          providers=ctx.providers)
    except SpecError as exc:
        for line in exc.errors:
            st.error(line)
        return
    st.session_state["compare_run"] = run_id
    st.rerun()
