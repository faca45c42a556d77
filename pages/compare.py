"""Compare models: run up to four models on sample photos and prompts (bundled or your own),
watch the run, and see which is best — with intervals, so a winner is named only when the
difference is real, and recommendations that say how sure they are.

The views are in ``pages/compare_views``; this file lays out the page and picks the view.
"""

from __future__ import annotations

import streamlit as st

from core import resources, session
from core.auth import CATALOG_TEST_ROLES
from core.compare import service
from core.compare.sample_store import SampleStore
from pages.compare_views.new_run import new_comparison
from pages.compare_views.past_runs import past_runs
from pages.compare_views.results import open_run_panel
from pages.compare_views.samples import sets_table, upload_form
from pages.compare_views.shared import Ctx

user = session.require_page("compare")
ctx = Ctx(user=user, may_run=user.role in CATALOG_TEST_ROLES,
          providers=resources.provider_store(), wh=resources.warehouse(),
          sample_store=SampleStore())

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

if view == "Comparison":
    current = st.session_state.get("compare_run")
    run = service.get_run(ctx.wh, ctx.org_id, current) if current else None
    if run is not None:
        open_run_panel(ctx, run)
    elif not ctx.may_run:
        st.info("Viewers can open past runs; ask an analyst, editor or admin to run one.")
    else:
        new_comparison(ctx)
elif view == "Past runs":
    past_runs(ctx)
elif view == "Your samples":
    if ctx.may_run:
        upload_form(ctx)
    sets_table(ctx)
