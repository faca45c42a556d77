"""Accessibility as a person with low vision meets it: axe-core's WCAG 2 A/AA rules on every
page after sign-in (axe-core from npm, installed by `make test` into .cache/axe)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.helpers import ROOT, go_to, settle, sign_in

pytestmark = pytest.mark.e2e

AXE = ROOT / ".cache" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
PAGES = [("Model catalog", None), ("Compare models", "Compare models"), ("Providers", None),
         ("Users", None), ("Usage & Cost", None)]
RUN_AXE = """async () => {
  const r = await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa']}});
  return r.violations.map(v => ({id: v.id, help: v.help,
    nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ') + ' :: ' + n.failureSummary)}));
}"""


def test_every_page_passes_axe_wcag2_aa(browser, app_url: str) -> None:
    if not AXE.exists():
        pytest.fail(f"axe-core is not installed at {AXE}; `make test` installs it (npm).")
    # the app's Content-Security-Policy (rightly) refuses injected scripts; the checker is
    # the test's own, so this one context lets it in
    context = browser.new_context(bypass_csp=True, viewport={"width": 1400, "height": 1000})
    page: Page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        _check_every_page(page, app_url)
    finally:
        context.close()


def _check_every_page(page: Page, app_url: str) -> None:
    sign_in(page, app_url)
    found: dict[str, list] = {}
    for link, heading in PAGES:
        go_to(page, link, heading)
        settle(page)
        page.add_script_tag(path=str(AXE))
        violations = page.evaluate(RUN_AXE)
        if violations:
            found[link] = violations
    assert found == {}, "\n".join(
        f"{p}: {v['id']} ({v['help']}): " + " | ".join(v["nodes"])
        for p, vs in found.items() for v in vs)
