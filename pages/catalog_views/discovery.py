"""The Discovery tab: run discovery with progress, and its history."""

from __future__ import annotations

import streamlit as st

from core import session
from core.catalog import view as cat
from core.catalog.discovery import DiscoveryError, run_discovery
from core.exports import csv_bytes
from pages.catalog_views.shared import Ctx


def discovery_tab(ctx: Ctx) -> None:
    st.markdown("Discovery asks every provider which models it lists, adds new ones, marks "
                "ones no longer listed as inactive (never deleted), classifies them "
                "(flagship / fast / legacy) and picks each provider's default flagship.")
    if ctx.may_manage:
        names = {r.id: r.name for r in ctx.records if r.settings.enabled}
        c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
        which = c1.selectbox("Providers", ["all", *names], key="disc_which",
                             format_func=lambda k: "All providers" if k == "all" else names[k])
        if c2.button("Discover models", type="primary", key="disc_go", width="stretch"):
            bar = st.progress(0.0, text="Asking providers for their models…")

            def progress(done: int, total: int, name: str, ok: bool) -> None:
                bar.progress(done / total, text=f"{done} of {total} · {name}: "
                             + ("listed" if ok else "failed"))

            try:
                run = run_discovery(ctx.providers, ctx.catalog_store, ctx.org_id,
                                    provider_ids=None if which == "all" else [which],
                                    actor=ctx.user.username, on_progress=progress)
            except DiscoveryError as exc:
                st.error(str(exc))
            else:
                for m in run.added[:5]:
                    st.toast(f"New model: {m.model_id}", icon=":material/new_releases:")
                session.flash("  \n".join(cat.discovery_messages(run, names)))
                st.rerun()
    else:
        st.caption("Admins and editors can run discovery.")
    runs = ctx.catalog_store.runs(ctx.org_id, limit=50)
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
