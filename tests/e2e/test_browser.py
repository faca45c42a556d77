"""As a person would: sign in, explore usage, filter, export; an admin adds a user."""

from __future__ import annotations

import csv
import io
import json
import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.helpers import PASSWORD, go_to, prepare_home, serve, settle, sign_in

pytestmark = pytest.mark.e2e


def choose(page: Page, label: str, option: str) -> None:
    """Pick ``option`` in the select box ``label``; reopen it if a rerun closed the list."""
    for attempt in range(3):
        page.get_by_label(label).click()
        try:
            page.get_by_role("option", name=option).click(timeout=10_000)
            break
        except Exception:  # noqa: BLE001 - playwright's TimeoutError; retried
            if attempt == 2:
                raise
            page.keyboard.press("Escape")
            settle(page)
    settle(page)


def metric(page: Page, label: str) -> str:
    box = page.locator('[data-testid="stMetric"]').filter(has_text=label)
    return box.locator('[data-testid="stMetricValue"]').inner_text()


def test_first_run_on_a_fresh_server_even_from_a_page_url(page: Page, tmp_path: Path) -> None:
    """A fresh server with no users, first opened at a page's URL: the first-admin form, no
    list of page files (Streamlit serves pages/ by URL until app.py has run once), then
    sign-in and the pages of the new admin's role."""
    home = tmp_path / "home"
    home.mkdir()
    with serve(home, "fresh.log") as url:
        page.goto(f"{url}/users")
        expect(page.get_by_role("heading", name="Welcome to Switchyard")).to_be_visible()
        settle(page)
        expect(page.get_by_role("link", name="users")).to_have_count(0)
        expect(page.get_by_text("Please sign in.")).to_have_count(0)
        page.get_by_label("Username").fill("alex")
        page.get_by_label("Display name").fill("Alex Kim")
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_label("Repeat password").fill(PASSWORD)
        page.get_by_role("button", name="Create admin account").click()
        expect(page.get_by_text("Admin account created. Sign in to continue.")).to_be_visible()
        sign_in(page, url, "alex")
        for link in ("Usage & Cost", "Model catalog", "Compare models", "Providers", "Users"):
            expect(page.get_by_role("link", name=link)).to_be_visible()


def test_what_the_first_visitor_types_survives_the_first_reruns(page: Page, tmp_path: Path) -> None:
    """The first session on a fresh server: typing at once, while the cookie component still
    reruns the script, keeps what was typed (the first run once drew the form under another
    script hash, so the rerun remounted it empty)."""
    home = prepare_home(tmp_path / "home", events=0)
    with serve(home, "first-visitor.log") as url:
        page.goto(url)
        first_drawn = page.get_by_label("Username").element_handle()
        page.get_by_label("Username").fill("owner")
        page.get_by_label("Password", exact=True).fill("not-the-password")
        settle(page)
        assert first_drawn.evaluate("el => el.isConnected"), "the sign-in form was redrawn"
        expect(page.get_by_label("Username")).to_have_value("owner")
        expect(page.get_by_label("Password", exact=True)).to_have_value("not-the-password")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_text("Username or password is incorrect")).to_be_visible()


def test_explore_usage_filter_and_export(page: Page, app_url: str, tmp_path: Path) -> None:
    page.goto(app_url)
    page.get_by_label("Username").fill("owner")
    page.get_by_label("Password", exact=True).fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Username or password is incorrect")).to_be_visible()

    sign_in(page, app_url)
    expect(page.locator('[data-testid="stMetric"]')).to_have_count(5)
    before = metric(page, "Requests")
    assert int(before.replace(",", "")) > 0
    expect(page.locator(".js-plotly-plot").first).to_be_visible()

    # filter to one provider: the numbers and the charts change
    provider = page.locator('[data-testid="stSidebar"] [data-testid="stMultiSelect"]').first
    provider.click()
    page.get_by_role("option", name="Anthropic").click()
    page.keyboard.press("Escape")
    expect(page.locator('[data-testid="stMetric"]').filter(has_text="Requests")
           .locator('[data-testid="stMetricValue"]')).not_to_have_text(before)
    after = int(metric(page, "Requests").replace(",", ""))
    assert 0 < after < int(before.replace(",", ""))
    legend = page.locator(".js-plotly-plot .legend").first
    expect(legend).to_contain_text(re.compile("claude"))
    expect(legend).not_to_contain_text("gpt-4o")

    # the drill-down table and its CSV export
    page.get_by_role("tab", name="Events").click()
    with page.expect_download() as dl:
        page.get_by_role("button", name="Export CSV").click()
    target = tmp_path / "export.csv"
    dl.value.save_as(target)
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert rows and len(rows) == after
    assert {r["provider_name"] for r in rows} == {"anthropic"}

    # a reload keeps the sign-in (signed cookie); signing out ends it
    page.reload()
    expect(page.get_by_role("heading", name="Usage & Cost")).to_be_visible()
    settle(page)
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    page.reload()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()


def test_admin_adds_a_user_who_can_sign_in(page: Page, app_url: str) -> None:
    sign_in(page, app_url)
    go_to(page, "Users")
    form = page.locator('[data-testid="stForm"]').filter(has_text="Initial password")
    form.get_by_label("Username").fill("bea")
    form.get_by_label("Display name").fill("Bea Viewer")
    form.get_by_label("Initial password", exact=True).fill(PASSWORD)
    form.get_by_role("button", name="Add user").click()
    expect(page.get_by_text("Added bea as viewer")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()

    sign_in(page, app_url, "bea")
    expect(page.get_by_role("link", name="Users")).to_have_count(0)
    page.get_by_role("tab", name="Import").click()  # only the open tab is drawn
    expect(page.get_by_text("Viewers cannot import")).to_have_count(1)


def test_providers_demo_test_all_and_add_a_provider(page: Page, app_url: str, e2e_home: Path,
                                                  tmp_path: Path) -> None:
    from core.simulator.server import start_background

    sign_in(page, app_url)
    go_to(page, "Providers")
    expect(page.get_by_text("Demo mode.")).to_be_visible()
    settle(page)

    page.get_by_role("button", name="Test all").click()
    expect(page.get_by_text(re.compile(r"Google Gemini \(simulated\): Connected"))).to_be_visible()
    expect(page.get_by_text(re.compile(r": Connected ·"))).to_have_count(6)
    settle(page)

    # a real-shaped provider with a key, at an OpenAI-compatible endpoint on loopback
    with start_background(0, seed=1, latency_scale=0.0) as sim:
        page.get_by_role("tab", name="Add a provider").click()
        choose(page, "Type", "OpenAI-compatible (custom)")
        # the form is rebuilt for the chosen type; wait for that one (the old one goes stale)
        name = page.get_by_placeholder("e.g. OpenAI-compatible (custom) production")
        expect(name).to_have_count(1)
        form = page.locator('[data-testid="stForm"]').filter(has=name)
        form.get_by_role("textbox", name="Name", exact=True).fill("Team gateway")
        form.get_by_role("textbox", name="Base URL").fill(sim.url + "/custom/v1")
        form.get_by_role("textbox", name="API key (optional)").fill("sk-e2e-canary-0042")
        form.get_by_role("button", name="Add provider").click()
        expect(page.get_by_text("Added Team gateway")).to_be_visible()
        settle(page)
        choose(page, "Provider to test", "Team gateway")
        page.get_by_role("button", name="Test connection").click()
        expect(page.get_by_text(re.compile(r"Team gateway: Connected"))).to_be_visible()
    expect(page.get_by_text("sk-e2e-canary-0042")).to_have_count(0)
    settle(page)
    # the table (a canvas) as a person gets it out: the CSV shows the key's last four only
    with page.expect_download() as dl:
        page.get_by_role("button", name="Download (CSV)").click()
    target = tmp_path / "providers.csv"
    dl.value.save_as(target)
    text = target.read_text()
    assert "sk-e2e-canary-0042" not in text
    rows = {r["Name"]: r for r in csv.DictReader(io.StringIO(text))}
    assert rows["Team gateway"]["Key"] == "…0042"
    assert rows["Team gateway"]["Last test"] == "✅ connected"
    # and nowhere on disk in plaintext: not in the home's files, not in the server's log
    for f in [*e2e_home.rglob("*"), e2e_home.parent / "streamlit.log"]:
        if f.is_file():
            assert b"sk-e2e-canary-0042" not in f.read_bytes(), f


def test_catalog_filter_test_a_model_and_discover(page: Page, app_url: str,
                                                  tmp_path: Path) -> None:
    # Runs after the providers test added a real provider, so the catalog is not filled
    # automatically (only an all-simulated demo is): discover first, as a person would.
    sign_in(page, app_url)
    go_to(page, "Model catalog")
    page.get_by_role("tab", name="Discovery").click()
    page.get_by_role("button", name="Discover models").click()
    expect(page.get_by_text(re.compile(r"Discovery (succeeded|partly failed): \d+ of \d+ "
                                       r"providers"))).to_be_visible()
    expect(page.get_by_text("History", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Download history (CSV)")).to_be_visible()
    settle(page)
    page.get_by_role("tab", name="Models").click()
    expect(page.get_by_text(re.compile(r"active models from \d+ providers"))).to_be_visible()
    expect(page.get_by_text(re.compile(r"^\d+ models$"))).to_be_visible()

    # search narrows the grid; a quick test shows output, latency and cost
    page.get_by_role("textbox", name="Search").fill("gpt-4o-mini")
    page.get_by_role("textbox", name="Search").press("Enter")
    settle(page)
    expect(page.get_by_text("gpt-4o-mini", exact=True).first).to_be_visible()
    page.get_by_role("button", name="Test", exact=True).first.click()
    settle(page)
    page.get_by_role("button", name="Run test").click()
    expect(page.get_by_text("Time to first token")).to_be_visible()
    metric_cost = page.locator('[data-testid="stMetric"]').filter(has_text="Cost")
    expect(metric_cost.locator('[data-testid="stMetricValue"]')).to_contain_text("$")
    page.get_by_role("button", name="Close").click()
    settle(page)

    # the table view exports what is shown
    page.get_by_role("textbox", name="Search").fill("")
    page.get_by_role("textbox", name="Search").press("Enter")
    settle(page)
    page.get_by_test_id("stButtonGroup").get_by_text("Table", exact=True).click()
    settle(page)
    with page.expect_download() as dl:
        page.get_by_role("button", name="Download (CSV)").click()
    target = tmp_path / "catalog.csv"
    dl.value.save_as(target)
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert len(rows) >= 20 and {"Model", "Input $/Mtok", "p95 latency ms"} <= set(rows[0])


def shot(page: Page, name: str) -> None:
    """A full-page screenshot when SWITCHYARD_E2E_SHOTS names a folder (for a person to
    look at the pages; tests never read them)."""
    folder = os.environ.get("SWITCHYARD_E2E_SHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        size = page.viewport_size
        page.set_viewport_size({"width": 1400, "height": 5000})  # the app scrolls inside
        page.wait_for_timeout(1500)
        page.screenshot(path=str(Path(folder) / f"{name}.png"))
        if size:
            page.set_viewport_size(size)


def view(page: Page, name: str) -> None:
    """Switch the Compare page's view (Comparison, Past runs, Your samples)."""
    page.get_by_test_id("stButtonGroup").get_by_text(name, exact=True).click()
    settle(page)


def pick_models(page: Page, *options: str, label: str = "Models (2 to 4)") -> None:
    box = page.get_by_label(label)
    for option in options:
        box.click()
        page.keyboard.type(option.split(" · ")[0])  # the list is long: filter it, as people do
        page.get_by_role("option", name=option, exact=True).click()
        page.keyboard.press("Escape")
        settle(page)


def test_compare_two_models_and_see_the_winner_and_charts(page: Page, app_url: str,
                                                          tmp_path: Path) -> None:
    sign_in(page, app_url)
    go_to(page, "Compare models")
    pick_models(page, "gpt-4o-mini · OpenAI (simulated)",
                "gemini-2.0-flash · Google Gemini (simulated)")
    expect(page.get_by_text(re.compile(r"2 models × \d+ items × 2 iterations"))).to_be_visible()
    shot(page, "compare-setup")
    page.get_by_role("button", name="Run comparison").click()
    # progress while it runs (calls done, time left, a way to stop), then the results
    expect(page.get_by_text(re.compile(r"^\d+ of \d+ calls"))).to_be_visible()
    expect(page.get_by_role("button", name="Cancel run")).to_be_visible()
    best = page.locator('[data-testid="stMetric"]').filter(has_text="Best overall")
    expect(best).to_be_visible(timeout=120_000)
    expect(page.get_by_text(re.compile(r"Winner:|no significant difference"))).to_be_visible()
    expect(page.locator(".js-plotly-plot")).to_have_count(3)  # latency, Pareto, heat map
    expect(page.get_by_text("Side by side")).to_be_visible()
    expect(page.get_by_role("button", name="Summary (CSV)")).to_be_visible()
    # recommendations say which model, why, how sure, and what it costs in trade-offs
    expect(page.get_by_role("heading", name="Recommendations")).to_be_visible()
    expect(page.get_by_text(re.compile(r"^Best overall: .+"))).to_be_visible()
    confidence = page.locator('[data-testid="stMetric"]').filter(has_text="Confidence").first
    expect(confidence.locator('[data-testid="stMetricValue"]')).to_have_text(
        re.compile(r"^\d{1,3}%$"))
    expect(page.get_by_text(re.compile(r"^Trade-offs: ")).first).to_be_visible()
    with page.expect_download() as dl:
        page.get_by_role("button", name="Summary (JSON)").click()
    target = tmp_path / "summary.json"
    dl.value.save_as(target)
    summary = json.loads(target.read_text())
    assert summary["recommendations"] and 0 <= summary["recommendations"][0]["confidence"] <= 1
    shot(page, "compare-results")

    # run it again from Past runs, then compare the two runs
    view(page, "Past runs")
    settle(page)
    page.get_by_role("button", name="Run again").click()
    expect(page.get_by_text(re.compile(r"Started a new run of"))).to_be_visible()
    expect(best).to_be_visible(timeout=120_000)
    view(page, "Past runs")
    settle(page)
    runs = page.get_by_label("Runs to compare (the earliest is the baseline)")
    for _ in range(2):
        runs.click()
        page.get_by_role("option").first.click()
        page.keyboard.press("Escape")
        settle(page)
    expect(page.get_by_text("Change from the baseline")).to_be_visible()
    expect(page.get_by_text(re.compile(r"Accuracy per model and run"))).to_be_visible()
    shot(page, "compare-runs")


def test_upload_own_samples_and_judge_a_comparison(page: Page, app_url: str,
                                                   tmp_path: Path) -> None:
    sign_in(page, app_url)
    go_to(page, "Compare models")
    view(page, "Your samples")
    settle(page)
    page.get_by_label("Name of the sample set").fill("Product shots")
    photos = Path(__file__).resolve().parents[2] / "data" / "samples" / "photos"
    mug, cat = tmp_path / "mug.jpg", tmp_path / "kitten.jpg"
    mug.write_bytes((photos / "coffee.jpg").read_bytes() + b"\0")  # other bytes: a new photo
    cat.write_bytes((photos / "chelsea.jpg").read_bytes() + b"\0")
    labels = tmp_path / "labels.yaml"
    labels.write_text("photos:\n  mug.jpg: {tags: [coffee, cup, saucer]}\n"
                      "  kitten.jpg: {tags: [cat, tabby]}\n")
    prompts = tmp_path / "prompts.csv"
    prompts.write_text("id,feature,prompt,reference,icontains\n"
                       "mug-1,description_generation,Describe a mug of coffee.,"
                       "A cup of coffee on a saucer.,coffee\n"
                       "bad-row,description_generation,,,\n")
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').nth(0).set_input_files(
        [str(mug), str(cat)])
    settle(page)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').nth(1).set_input_files(
        str(labels))
    settle(page)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').nth(2).set_input_files(
        str(prompts))
    settle(page)
    page.get_by_role("button", name="Save sample set").click()
    expect(page.get_by_text(re.compile(r"Saved “Product shots”: 2 photos \(2 labelled\) and "
                                       r"1 prompts"))).to_be_visible()
    expect(page.get_by_text(re.compile(r"1 item\(s\) skipped"))).to_be_visible()
    shot(page, "samples-saved")

    view(page, "Comparison")
    settle(page)
    pick_models(page, "gpt-4o-mini · OpenAI (simulated)",
                "gemini-2.0-flash · Google Gemini (simulated)")
    pick_models(page, "Product shots (2 photos, 1 prompts)", label="Your sample sets")
    page.get_by_text("Bundled samples", exact=True).click()  # only our own samples
    settle(page)
    page.get_by_text("Grade prompt answers with an LLM judge").click()
    settle(page)
    expect(page.get_by_text(re.compile(r"2 models × 3 items × 2 iterations = 12 calls, plus up "
                                       r"to 4 judge calls"))).to_be_visible()
    page.get_by_role("button", name="Run comparison").click()
    best = page.locator('[data-testid="stMetric"]').filter(has_text="Best overall")
    expect(best).to_be_visible(timeout=120_000)
    expect(page.get_by_text(re.compile(r"^Judge .+: graded \d+ of \d+ answers"))).to_be_visible()
    choose(page, "Item", "prompt:mug-1")
    expect(page.get_by_text("Describe a mug of coffee.", exact=False)).to_be_visible()
    expect(page.get_by_text(re.compile(r"✓ llm-rubric|✗ llm-rubric")).first).to_be_visible()
    shot(page, "samples-judged")
