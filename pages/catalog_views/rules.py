"""The Classification rules tab: the rules in force, editable by admins."""

from __future__ import annotations

import streamlit as st

from core import session
from core.catalog import view as cat
from core.config_store import ConfigStoreError, InvalidRules
from pages.catalog_views.shared import Ctx


def rules_tab(ctx: Ctx) -> None:
    rules = ctx.catalog_store.rules(ctx.org_id)
    st.markdown("The first matching rule classifies a model. "
                + ("Using the default rules." if rules.is_default else
                   f"Your organization's rules (version {rules.version})."))
    table = cat.rule_rows(rules)
    if ctx.is_admin:
        edited = st.data_editor(table, num_rows="dynamic", key="rules_editor", column_config={
            "class": st.column_config.SelectboxColumn(options=list(cat.CLASSES), required=True),
            "match": st.column_config.SelectboxColumn(options=["glob", "regex"], required=True),
        })
        c1, c2 = st.columns(2)
        if c1.button("Save rules", type="primary", key="rules_save"):
            try:
                ctx.catalog_store.set_rules(ctx.org_id, cat.filled_rules(edited),
                                        ctx.user.username, expected_version=rules.version)
            except InvalidRules as exc:
                for msg in exc.messages:
                    st.error(msg)
            except ConfigStoreError as exc:
                st.error(str(exc))
            else:
                session.flash("Saved the rules. The next discovery run applies them.")
                st.rerun()
        if not rules.is_default and c2.button("Reset to defaults", key="rules_reset"):
            ctx.catalog_store.reset_rules(ctx.org_id, ctx.user.username)
            session.flash("Back to the default rules.")
            st.rerun()
    else:
        st.dataframe(table, hide_index=True)
