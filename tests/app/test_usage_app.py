"""AppTest: the Usage & Cost page with demo history, its filters, and its empty states."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from tests.helpers import DEMO_END, open_tab, signed_in


def _metric(at, label: str) -> str:
    return next(m for m in at.metric if m.label == label).value


def _requests(at) -> int:
    return int(_metric(at, "Requests").replace(",", ""))


def test_usage_page_shows_kpis_charts_and_events(seeded_home: Path) -> None:
    at = signed_in("analyst")
    assert not at.exception
    assert [t.value for t in at.title] == ["Usage & Cost"]
    labels = [m.label for m in at.metric]
    assert labels == ["Spend", "Requests", "Tokens", "p95 latency", "Error rate"]
    assert _requests(at) > 0
    assert _metric(at, "Spend").startswith("$")
    # default range: the last 30 days of data
    assert at.date_input(key="flt_dates").value == (date(2026, 10, 22), DEMO_END)
    # only the open tab is drawn: Cost's three figures; each other tab when opened
    assert len(at.get("plotly_chart")) == 3 and not at.dataframe
    assert len(open_tab(at, "usage_tab", "Latency").get("plotly_chart")) == 1
    assert len(open_tab(at, "usage_tab", "Errors").get("plotly_chart")) == 2
    # the drill-down table holds the newest events
    events = open_tab(at, "usage_tab", "Events").dataframe[-1].value
    assert len(events) == 200
    assert events["ts"].is_monotonic_decreasing
    assert {"Export CSV", "Export Parquet"} <= {d.label for d in at.get("download_button")}


def test_filters_narrow_the_numbers(seeded_home: Path) -> None:
    at = signed_in("analyst")
    everything = _requests(at)

    at.multiselect(key="flt_providers").select("anthropic").run()
    assert not at.exception
    anthropic = _requests(at)
    assert 0 < anthropic < everything
    # the model list only offers models of the chosen provider
    assert all(m.startswith("claude") for m in at.multiselect(key="flt_models").options)

    at.multiselect(key="flt_providers").unselect("anthropic").run()
    at.multiselect(key="flt_features").select("photo_analysis").run()
    photos = _requests(at)
    assert 0 < photos < everything

    at.date_input(key="flt_dates").set_value((date(2026, 11, 20), date(2026, 11, 20))).run()
    assert not at.exception
    assert 0 < _requests(at) < photos


def test_filter_with_no_matching_rows_says_what_to_do(seeded_home: Path) -> None:
    at = signed_in("analyst")
    at.multiselect(key="flt_providers").select("ollama").run()
    at.multiselect(key="flt_features").select("safety_chat").run()
    at.multiselect(key="flt_sources").select("health").run()
    assert not at.exception
    if _requests(at) == 0:
        assert any("No events match these filters" in i.value for i in at.info)


def test_viewer_cannot_import(seeded_home: Path) -> None:
    at = open_tab(signed_in("viewer"), "usage_tab", "Import")
    assert not at.exception
    assert any("Viewers cannot import" in i.value for i in at.info)


def test_owner_can_switch_organizations(seeded_home: Path) -> None:
    at = signed_in("owner")
    box = at.selectbox(key="flt_org")
    assert box.options == ["acme", "demo"] and not box.disabled
    assert _requests(at) > 0
    at.selectbox(key="flt_org").select("acme").run()
    assert not at.exception
    assert any("No usage in this organization yet" in i.value for i in at.info)


def test_import_lands_good_rows_reports_bad_ones_and_updates_the_figures(
    seeded_home: Path,
) -> None:
    at = signed_in("analyst")
    before = _requests(at)
    open_tab(at, "usage_tab", "Import")
    day = DEMO_END.isoformat()
    data = (
        "request_id,ts,provider_name,request_model,input_tokens,output_tokens,feature\n"
        f"imp-1,{day}T09:00:00Z,openai,gpt-4o,1000,100,photo_analysis\n"
        f"imp-2,{day}T09:01:00Z,anthropic,claude-haiku-4-5,500,50,safety_chat\n"
        f"imp-3,yesterday,openai,gpt-4o,10,1,photo_analysis\n"
        f"imp-4,{day}T09:02:00Z,openai,gpt-4o,-3,1,photo_analysis\n"
    ).encode()
    at.file_uploader(key="import_files_0").upload("mine.csv", data, "text/csv").run()
    at.button(key="import_go").click().run()
    assert not at.exception
    assert any("mine.csv: 4 rows read — 2 loaded" in w.value and "2 quarantined" in w.value
               for w in at.warning)
    rejected = at.dataframe[-1].value
    assert list(rejected["row"]) == [4, 5]
    assert "timestamp" in rejected["reason"][0] and "input_tokens" in rejected["reason"][1]
    assert "Download the 2 rejected rows (CSV)" in {d.label for d in at.get("download_button")}
    # the page reran after the import: the figures include the two new events
    assert _requests(at) == before + 2

    # the uploader was cleared: the same file, uploaded again, adds nothing and says so
    assert at.button(key="import_go").disabled
    at.file_uploader(key="import_files_1").upload("mine.csv", data, "text/csv").run()
    at.button(key="import_go").click().run()
    assert any("2 already present" in w.value for w in at.warning)
    assert _requests(at) == before + 2


def test_an_unreadable_upload_is_explained(seeded_home: Path) -> None:
    at = open_tab(signed_in("editor"), "usage_tab", "Import")
    at.file_uploader(key="import_files_0").upload("notes.csv", b"name,colour\nbob,blue\n",
                                                  "text/csv").run()
    at.button(key="import_go").click().run()
    assert not at.exception
    assert any("no usage columns found" in e.value and "nothing was loaded" in e.value
               for e in at.error)


def test_the_cached_page_shows_events_another_process_loaded(seeded_home: Path) -> None:
    """The page caches its queries and figures on the warehouse's data version: an ingest by
    someone else (here: the CLI's code, straight into the warehouse) shows on the next rerun."""
    import json

    from core.settings import get_settings
    from core.warehouse.db import Warehouse
    from core.warehouse.ingest import ingest_bytes

    at = signed_in("analyst")
    before = _requests(at)
    assert _requests(at.run()) == before  # a rerun answers from the cache, unchanged
    row = {"request_id": "cache-probe-1", "ts": f"{DEMO_END}T12:00:00Z",
           "provider_name": "openai", "request_model": "gpt-4o", "input_tokens": 10,
           "output_tokens": 5, "cost_usd": 0.001, "duration_ms": 300, "feature": "probe"}
    other = Warehouse(get_settings().warehouse_path)
    try:
        ingest_bytes(other, "demo", json.dumps(row).encode() + b"\n", "probe.jsonl")
    finally:
        other.close()
    assert _requests(at.run()) == before + 1


def test_hostile_files_are_each_reported_and_never_stop_the_others(seeded_home: Path) -> None:
    """A 1 MB feature, a line nested 5,000 deep, an unreadable file and a year-3000 row: each
    file's outcome on its own, the good rows land, the default date range stays put."""
    at = signed_in("editor")
    before = _requests(at)
    dates = at.date_input(key="flt_dates").value
    open_tab(at, "usage_tab", "Import")
    day = DEMO_END.isoformat()
    header = "request_id,ts,provider_name,request_model,input_tokens,output_tokens,feature\n"
    hostile = (header + f"h-1,{day}T09:00:00Z,openai,gpt-4o,10,1,photo_analysis\n"
               + f"h-2,{day}T09:00:00Z,openai,gpt-4o,10,1,{'x' * 1_000_000}\n").encode()
    deep = ('{"request_id": "d-1", "ts": "' + day + 'T10:00:00Z", "provider_name": "openai", '
            '"request_model": "gpt-4o"}\n' + "[" * 5000 + "]" * 5000 + "\n").encode()
    future = (header + f"f-1,{day}T11:00:00Z,openai,gpt-4o,10,1,photo_analysis\n"
              "f-2,3000-01-01T00:00:00Z,openai,gpt-4o,10,1,photo_analysis\n").encode()
    uploader = at.file_uploader(key="import_files_0")
    uploader.upload("hostile.csv", hostile, "text/csv")
    uploader.upload("notes.csv", b"name,colour\nbob,blue\n", "text/csv")
    uploader.upload("deep.jsonl", deep, "application/json")
    uploader.upload("future.csv", future, "text/csv")
    at.run()
    at.button(key="import_go").click().run()
    assert not at.exception
    warnings = [w.value for w in at.warning]
    assert any(w.startswith("hostile.csv: 2 rows read — 1 loaded, 1 quarantined") for w in warnings)
    assert any(w.startswith("deep.jsonl: 2 rows read — 1 loaded, 1 quarantined") for w in warnings)
    assert any(w.startswith("future.csv: 2 rows read — 1 loaded, 1 quarantined") for w in warnings)
    assert [e.value for e in at.error] == [
        "notes.csv: no usage columns found. Expected Switchyard usage events (request_id, ts, "
        "provider_name, request_model, input_tokens, …), a LiteLLM SpendLogs export or "
        "OpenTelemetry GenAI spans. — nothing was loaded"]
    tables = [d.value for d in at.dataframe[-3:]]
    assert [list(t["row"]) for t in tables] == [[3], [2], [3]]
    assert "feature is 1000000 characters long" in tables[0]["reason"][0]
    assert "nested deeper than" in tables[1]["reason"][0]
    assert "timestamp is in the future" in tables[2]["reason"][0]
    assert _requests(at) == before + 3
    assert at.date_input(key="flt_dates").value == dates
    # the uploader is a fresh one, so the next click cannot send these files again
    assert at.file_uploader(key="import_files_1").value == []
    assert not [u for u in at.file_uploader if u.key == "import_files_0"]
    assert at.button(key="import_go").disabled


def test_kpi_deltas_are_the_ones_core_computes(seeded_home: Path) -> None:
    from core.domain import UsageFilter
    from core.settings import get_settings
    from core.warehouse import queries
    from core.warehouse.db import Warehouse

    at = signed_in("analyst")
    wh = Warehouse(get_settings().warehouse_path)
    try:
        dash = queries.dashboard(wh, UsageFilter(org_id="demo", start=date(2026, 10, 22),
                                                 end=DEMO_END))
    finally:
        wh.close()
    shown = {m.label: m.delta for m in at.metric}
    expected = {label: dash.delta(key) for label, key in (
        ("Spend", "spend"), ("Requests", "requests"), ("Tokens", "tokens"),
        ("p95 latency", "p95_ms"), ("Error rate", "error_rate"))}
    assert shown == expected
    assert shown["Error rate"].endswith(" pp") and shown["Spend"].endswith("%")
