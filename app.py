"""Switchyard's entry point: page config, sign-in gate, role-based navigation."""

from __future__ import annotations

import streamlit as st

st.set_page_config(page_title="Switchyard", page_icon=":material/alt_route:", layout="wide")

from core import resources, session  # noqa: E402  (set_page_config must come first)
from core.settings import get_settings  # noqa: E402

session.leave_pages_folder_mode()
get_settings().ensure_home()
user = session.sign_in()
if not resources.demo_ready():  # once per process: the demo's providers and first discovery
    with st.spinner("Setting up the demo organization…"):
        demo_run = resources.prepare_demo()
    if demo_run is not None and demo_run.status == "failed":
        st.warning(f"{demo_run.summary()} Try **Discover models** on the Model catalog's "
                   "Discovery tab.")
page = st.navigation(session.navigation(user))
session.sidebar(user)
page.run()
