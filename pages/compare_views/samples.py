"""The Your samples view: upload a sample set (photos, labels, prompt sets), list and delete."""

from __future__ import annotations

import streamlit as st

from core import session
from core.compare import service
from core.compare.sample_store import SampleStoreError, UnknownSampleSet
from core.compare.samples import LABELS_TEMPLATE, PROMPT_FEATURES, PROMPTS_TEMPLATE_CSV
from core.exports import csv_bytes
from pages.compare_views.shared import Ctx, problems, run_samples, samples


def upload_form(ctx: Ctx) -> None:
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
            saved = ctx.sample_store.save(
                ctx.org_id, name, photos=[(f.name, f.getvalue()) for f in photos or []],
                labels=labels.getvalue() if labels else None,
                prompt_files=[(f.name, f.getvalue()) for f in prompt_files or []],
                actor=ctx.user.username, default_feature=feature)
        except SampleStoreError as exc:
            st.session_state["up_report"] = ("error", str(exc), exc.problems, None)
        else:
            info = saved.info
            st.session_state["up_report"] = (
                "ok", f"Saved “{info.name}”: {info.photos} photos ({info.labelled_photos} "
                      f"labelled) and {info.prompts} prompts. Choose it in Comparison.",
                saved.problems, saved.labels_note)
            samples.clear()
        st.rerun()
    report = st.session_state.get("up_report")
    if report:
        level, message, found, note = report
        (st.success if level == "ok" else st.error)(message)
        if note:
            st.warning(note)
        problems(list(found), "upload")


def sets_table(ctx: Ctx) -> None:
    st.subheader("Sample sets", anchor=False)
    sets = ctx.sample_store.list(ctx.org_id)
    if not sets:
        st.info("No sample sets yet." + (" Add one above: photos with labels, prompt sets, "
                                          "or both." if ctx.may_run else ""))
        return
    table = service.sets_table(sets)
    st.dataframe(table, hide_index=True)
    st.download_button("Sample sets (CSV)", csv_bytes(table), "sample-sets.csv",
                       "text/csv", key="dl_sets")
    if not ctx.may_run:
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
            info = ctx.sample_store.delete(ctx.org_id, gone)
        except UnknownSampleSet:
            st.error("That sample set is already gone.")
        else:
            samples.clear()
            run_samples.clear()
            st.session_state["_sets_deleted"] = True
            session.flash(f"Deleted “{info.name}”.")
            st.rerun()
