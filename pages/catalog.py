"""Model catalog: every model of the organization's providers, with real prices and measured
performance; test one, make one the default, discover what providers ship or retire.
"""

from __future__ import annotations

import streamlit as st

from core import page_data, resources, session
from core.auth import CATALOG_MANAGE_ROLES, CATALOG_TEST_ROLES
from core.domain import Role
from core.warehouse import WarehouseBusy
from pages.catalog_views.discovery import discovery_tab
from pages.catalog_views.models import models_tab
from pages.catalog_views.prices import prices_tab
from pages.catalog_views.rules import rules_tab
from pages.catalog_views.shared import Ctx

user = session.require_page("catalog")
org_id = user.org_id
may_test = user.role in CATALOG_TEST_ROLES
may_manage = user.role in CATALOG_MANAGE_ROLES
is_admin = user.role is Role.admin
providers = resources.provider_store()
catalog_store = resources.catalog_store()
wh = resources.warehouse()

st.title("Model catalog")
session.show_flash()

try:
    catalog = page_data.catalog(org_id, providers, catalog_store, wh)
except WarehouseBusy as exc:
    session.busy_message(exc)
    st.stop()

records = providers.list(org_id)
if not records:
    st.info("No providers yet. Add one on the **Providers** page, then discover its models "
            "here.", icon=":material/hub:")
    st.page_link(session.page_path("providers"), label="Go to Providers", icon=":material/hub:")
    st.stop()

window = (f"last {catalog.days} days to {catalog.as_of:%d %b %Y}" if catalog.as_of
          else "no usage recorded yet")
st.caption(f"{sum(e.model.active for e in catalog.entries)} active models from "
           f"{len(catalog.providers)} providers · prices from genai-prices' bundled data and "
           f"your negotiated prices · performance: {window}")

ctx = Ctx(user=user, org_id=org_id, may_test=may_test, may_manage=may_manage, is_admin=is_admin,
          providers=providers, catalog_store=catalog_store, wh=wh, catalog=catalog,
          records=records)

# keyed, so a rerun (after a discovery, a saved price) stays on the tab the user was on; only
# the open tab's view runs and is sent (the others cost a page switch time for nothing)
tab_models, tab_discovery, tab_prices, tab_rules = st.tabs(
    ["Models", "Discovery", "Prices", "Classification rules"], key="catalog_tab",
    on_change="rerun")

for tab, view in ((tab_models, models_tab), (tab_discovery, discovery_tab),
                  (tab_prices, prices_tab), (tab_rules, rules_tab)):
    if tab.open:
        with tab:
            view(ctx)
