"""Every ingest format: mapping, bad rows with row numbers, idempotency, atomicity, secrets."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.warehouse import load
from core.warehouse.db import Warehouse
from core.warehouse.formats import UnreadableFile, sniff
from core.warehouse.ingest import ingest_bytes, ingest_path, quarantine_csv

ORG = "demo"
CANARY = "sk-canary-4f1d9a7c0b2e"


@pytest.fixture()
def wh(tmp_path: Path) -> Iterator[Warehouse]:
    w = Warehouse(tmp_path / "wh.duckdb")
    yield w
    w.close()


def rows(wh: Warehouse, sql: str, params: list | None = None) -> list[tuple]:
    with wh.cursor() as cur:
        return cur.execute(sql, params or []).fetchall()


def events(wh: Warehouse) -> dict[str, dict]:
    with wh.cursor() as cur:
        df = cur.execute("SELECT * FROM usage_events").df()
    return {r["request_id"]: r for r in df.to_dict("records")}


def everything_stored(wh: Warehouse) -> str:
    """All text in every warehouse table, to look for things that must not be there."""
    out = []
    with wh.cursor() as cur:
        for (table,) in cur.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
        ).fetchall():
            out.append(cur.execute(f"SELECT * FROM {table}").df().to_csv())
    return "\n".join(out)


USAGE = [
    {"request_id": "r1", "ts": "2026-11-01T10:00:00Z", "provider_name": "openai",
     "request_model": "gpt-4o", "input_tokens": 1000, "output_tokens": 200, "cost_usd": 0.01,
     "duration_ms": 850, "feature": "photo_analysis"},
    {"request_id": "r2", "ts": "2026-11-01T11:00:00Z", "gen_ai.system": "anthropic",
     "model": "claude-sonnet-4-5", "prompt_tokens": 500, "completion_tokens": 50,
     "latency_ms": 1200},
    {"request_id": "r3", "ts": "not a date", "provider_name": "openai", "request_model": "gpt-4o"},
    {"request_id": "r4", "ts": "2026-11-01T12:00:00Z", "provider_name": "openai",
     "request_model": "gpt-4o", "input_tokens": -5},
    {"request_id": "r5", "ts": "2026-11-01T12:00:00Z", "provider_name": "openai",
     "request_model": "gpt-4o", "org_id": "acme"},
]


def _usage_csv() -> bytes:
    buf = io.StringIO()
    cols = sorted({k for r in USAGE for k in r})
    w = csv.DictWriter(buf, fieldnames=cols)
    w.writeheader()
    for r in USAGE:
        w.writerow(r)
    return buf.getvalue().encode()


def _check_usage_result(wh: Warehouse, report, first_data_row: int) -> None:
    assert report.rows_read == 5
    assert report.rows_loaded == 2
    assert report.rows_quarantined == 3
    got = events(wh)
    assert set(got) == {"r1", "r2"}
    assert got["r1"]["cost_usd"] == pytest.approx(0.01)
    assert got["r1"]["feature"] == "photo_analysis"
    assert got["r2"]["provider_name"] == "anthropic"
    assert got["r2"]["input_tokens"] == 500 and got["r2"]["duration_ms"] == 1200
    # no cost given: computed from genai-prices
    assert got["r2"]["cost_usd"] > 0 and report.costs_computed == 1
    assert got["r2"]["feature"] == "unassigned" and got["r2"]["source"] == "production"
    reasons = {b.row_number: b.reason for b in report.bad_rows}
    assert set(reasons) == {first_data_row + 2, first_data_row + 3, first_data_row + 4}
    assert "timestamp" in reasons[first_data_row + 2] and "not a date" in reasons[first_data_row + 2]
    assert "input_tokens" in reasons[first_data_row + 3]
    assert "organization acme" in reasons[first_data_row + 4]
    stored = rows(wh, "SELECT row_number, reason FROM quarantine ORDER BY row_number")
    assert [r[0] for r in stored] == sorted(reasons)
    exported = list(csv.DictReader(io.StringIO(quarantine_csv(report).decode())))
    assert [int(r["row_number"]) for r in exported] == sorted(reasons)
    # rollups follow the events
    assert rows(wh, "SELECT sum(requests) FROM usage_hourly")[0][0] == 2


def test_usage_jsonl(wh: Warehouse, tmp_path: Path) -> None:
    p = tmp_path / "usage.jsonl"
    lines = [json.dumps(r) for r in USAGE]
    lines.insert(2, "{not json")  # line 3
    p.write_text("\n".join(lines) + "\n")
    report = ingest_path(wh, ORG, p)
    assert report.format == "jsonl"
    assert any(b.row_number == 3 and "not valid JSON" in b.reason for b in report.bad_rows)
    bad_lines = {b.row_number for b in report.bad_rows}
    assert bad_lines == {3, 4, 5, 6}  # the JSON error, then r3..r5 on lines 4..6
    assert report.rows_loaded == 2 and set(events(wh)) == {"r1", "r2"}


def test_usage_csv(wh: Warehouse, tmp_path: Path) -> None:
    p = tmp_path / "usage.csv"
    p.write_bytes(_usage_csv())
    report = ingest_path(wh, ORG, p)
    assert report.format == "csv"
    _check_usage_result(wh, report, first_data_row=2)  # row 1 is the header


def test_usage_parquet(wh: Warehouse, tmp_path: Path) -> None:
    p = tmp_path / "usage.parquet"
    table = pa.table({
        "request_id": ["p1", "p2", "p3"],
        "ts": pa.array(["2026-11-02 09:00:00", "2026-11-02 09:05:00", None]),
        "provider_name": ["gcp.gemini", "openai", "openai"],
        "request_model": ["gemini-2.0-flash", "gpt-4o-mini", "gpt-4o-mini"],
        "input_tokens": [100, 200, 300],
        "output_tokens": [10, 20, 30],
    })
    pq.write_table(table, p)
    report = ingest_path(wh, ORG, p)
    assert report.format == "parquet"
    assert report.rows_loaded == 2 and report.rows_quarantined == 1
    assert report.bad_rows[0].row_number == 3
    assert report.costs_computed == 2
    # the same file again adds nothing
    again = ingest_path(wh, ORG, p)
    assert again.rows_loaded == 0 and again.rows_duplicate == 2
    assert rows(wh, "SELECT count(*) FROM usage_events")[0][0] == 2
    assert rows(wh, "SELECT sum(requests) FROM usage_hourly")[0][0] == 2


def _typed_parquet(
    path: Path, prefix: str, provider: list[str], feature: list[str | None]
) -> None:
    """A Parquet file typed as the warehouse is (the bulk path stores such columns raw)."""
    n = len(provider)
    table = pa.table({
        "request_id": [f"{prefix}{i}" for i in range(n)],
        "ts": pa.array([datetime(2026, 11, 2, 9, i) for i in range(n)], pa.timestamp("us")),
        "provider_name": pa.array(provider).dictionary_encode(),
        "request_model": pa.array(["gpt-4o"] * n).dictionary_encode(),
        "feature": pa.array(feature, pa.string()).dictionary_encode(),
        "status": pa.array(["ok"] * n).dictionary_encode(),
        "input_tokens": pa.array([100] * n, pa.int64()),
        "output_tokens": pa.array([10] * n, pa.int64()),
        "cost_usd": pa.array([0.5] * n, pa.float64()),
        "duration_ms": pa.array([900.0] * n, pa.float64()),
    })
    pq.write_table(table, path)


def test_typed_parquet_stored_as_is_or_normalised_row_by_row(
    wh: Warehouse, tmp_path: Path
) -> None:
    clean = tmp_path / "clean.parquet"
    _typed_parquet(clean, "t", ["openai"] * 3, ["photo_analysis"] * 3)
    assert ingest_path(wh, ORG, clean).rows_loaded == 3
    messy = tmp_path / "messy.parquet"
    _typed_parquet(messy, "m", ["openai", " OpenAI ", "google"], ["photo_analysis", None, " "])
    assert ingest_path(wh, ORG, messy).rows_loaded == 3
    got = events(wh)
    assert {got[f"t{i}"]["provider_name"] for i in range(3)} == {"openai"}
    assert [got[f"m{i}"]["provider_name"] for i in range(3)] == ["openai", "openai", "gcp.gemini"]
    assert [got[f"m{i}"]["feature"] for i in range(3)] == [
        "photo_analysis", "unassigned", "unassigned"
    ]
    assert all(e["org_id"] == ORG and e["source"] == "production" for e in got.values())
    assert rows(wh, "SELECT sum(cost_usd), sum(requests) FROM usage_hourly")[0] == (3.0, 6)


@pytest.mark.parametrize("name", ["usage.csv", "usage.jsonl"])
def test_reingest_adds_nothing_and_duplicates_in_a_file_count_once(
    wh: Warehouse, name: str
) -> None:
    recs = [USAGE[0], USAGE[1], USAGE[0]]
    if name.endswith(".csv"):
        buf = io.StringIO()
        cols = sorted({k for r in recs for k in r})
        w = csv.DictWriter(buf, fieldnames=cols)
        w.writeheader()
        w.writerows(recs)
        data = buf.getvalue().encode()
    else:
        data = "\n".join(json.dumps(r) for r in recs).encode()
    first = ingest_bytes(wh, ORG, data, name)
    assert first.rows_loaded == 2 and first.rows_duplicate == 1
    second = ingest_bytes(wh, ORG, data, name)
    assert second.rows_loaded == 0 and second.rows_duplicate == 3
    assert rows(wh, "SELECT count(*) FROM usage_events")[0][0] == 2
    assert rows(wh, "SELECT sum(requests), sum(input_tokens) FROM usage_hourly")[0] == (2, 1500)


def test_a_failure_mid_ingest_leaves_nothing_behind(
    wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = "\n".join(json.dumps(r) for r in USAGE[:2]).encode()
    # fail after the events are inserted, while the rollups are written
    monkeypatch.setattr(load, "ROLLUP_SQL", [*load.ROLLUP_SQL, "SELECT error('disk on fire')"])
    with pytest.raises(Exception, match="disk on fire"):
        ingest_bytes(wh, ORG, data, "usage.jsonl")
    for table in ("usage_events", "usage_hourly", "ingest_log", "quarantine"):
        assert rows(wh, f"SELECT count(*) FROM {table}")[0][0] == 0, table
    monkeypatch.undo()
    assert ingest_bytes(wh, ORG, data, "usage.jsonl").rows_loaded == 2


def test_unreadable_files_say_why(wh: Warehouse) -> None:
    with pytest.raises(UnreadableFile, match="no usage columns"):
        ingest_bytes(wh, ORG, b"name,colour\nbob,blue\n", "people.csv")
    with pytest.raises(UnreadableFile, match="UTF-8"):
        ingest_bytes(wh, ORG, b"\xff\xfe\x00garbage,\x81\n", "x.csv")
    with pytest.raises(UnreadableFile, match="Parquet"):
        ingest_bytes(wh, ORG, b"PAR1 not really", "x.parquet")
    assert rows(wh, "SELECT count(*) FROM ingest_log")[0][0] == 0


# --- LiteLLM SpendLogs -------------------------------------------------------------------

SPEND_LOGS = [
    {
        "request_id": "chatcmpl-1", "call_type": "acompletion", "api_key": CANARY,
        "spend": 0.0123, "total_tokens": 1300, "prompt_tokens": 1000, "completion_tokens": 300,
        "startTime": "2026-11-03T08:00:00.000Z", "endTime": "2026-11-03T08:00:01.500Z",
        "completionStartTime": "2026-11-03T08:00:00.400Z", "model": "gpt-4o",
        "custom_llm_provider": "openai", "user": "someone@example.com", "status": "success",
        "metadata": {"additional_usage_values": {"prompt_tokens_details": {"cached_tokens": 200},
                                                 "completion_tokens_details":
                                                     {"reasoning_tokens": 0}},
                     "user_api_key": CANARY,
                     "spend_logs_metadata": {"feature": "description_generation"}},
        "request_tags": ["feature:description_generation"],
        "messages": [{"role": "user", "content": "secret prompt"}],
    },
    {
        "request_id": "gem-2", "api_key": CANARY, "spend": None, "prompt_tokens": 2000,
        "completion_tokens": 100, "startTime": "2026-11-03 09:00:00",
        "endTime": "2026-11-03 09:00:00.800", "completionStartTime": "2026-11-03 09:00:00.800",
        "model": "gemini/gemini-2.0-flash", "custom_llm_provider": "", "status": "success",
        "metadata": {}, "request_tags": ["safety_chat"],
    },
    {
        "request_id": "fail-3", "api_key": CANARY, "spend": 0, "prompt_tokens": 0,
        "completion_tokens": 0, "startTime": "2026-11-03T10:00:00Z",
        "endTime": "2026-11-03T10:00:30Z", "completionStartTime": "2026-11-03T10:00:30Z",
        "model": "claude-sonnet-4-5", "custom_llm_provider": "anthropic", "status": "failure",
        "metadata": {"error_information": {"error_code": "429", "error_class": "RateLimitError"}},
    },
    {  # bad: end before start
        "request_id": "bad-4", "api_key": CANARY, "spend": 0.1, "startTime": "2026-11-03T10:00:05Z",
        "endTime": "2026-11-03T10:00:00Z", "model": "gpt-4o", "custom_llm_provider": "openai",
    },
    {  # bad: no start time
        "request_id": "bad-5", "api_key": CANARY, "spend": 0.1, "startTime": "",
        "endTime": "2026-11-03T10:00:00Z", "model": "gpt-4o", "custom_llm_provider": "openai",
    },
]


def _spend_logs_csv() -> bytes:
    cols = ["request_id", "call_type", "api_key", "spend", "total_tokens", "prompt_tokens",
            "completion_tokens", "startTime", "endTime", "completionStartTime", "model",
            "custom_llm_provider", "user", "metadata", "request_tags", "status", "messages"]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore")
    w.writeheader()
    for r in SPEND_LOGS:
        w.writerow({k: (json.dumps(v) if isinstance(v, dict | list) else v)
                    for k, v in r.items()})
    return buf.getvalue().encode()


def _check_spend_logs(wh: Warehouse, report, first_row: int) -> None:
    assert report.rows_read == 5 and report.rows_loaded == 3 and report.rows_quarantined == 2
    got = events(wh)
    a, g, f = got["chatcmpl-1"], got["gem-2"], got["fail-3"]
    assert a["provider_name"] == "openai" and a["request_model"] == "gpt-4o"
    assert a["duration_ms"] == pytest.approx(1500) and a["ttft_ms"] == pytest.approx(400)
    assert a["cost_usd"] == pytest.approx(0.0123) and a["cache_read_input_tokens"] == 200
    assert a["feature"] == "description_generation" and a["status"] == "ok"
    assert str(a["ts"]) == "2026-11-03 08:00:00"
    # provider from the model prefix; no spend -> priced; completionStartTime == endTime -> no ttft
    assert g["provider_name"] == "gcp.gemini" and g["request_model"] == "gemini-2.0-flash"
    assert g["cost_usd"] > 0 and report.costs_computed == 1
    assert g["feature"] == "safety_chat" and g["ttft_ms"] != g["ttft_ms"]  # NaN
    assert f["status"] == "error" and f["error_type"] == "429" and f["duration_ms"] == 30000
    reasons = {b.row_number: b.reason for b in report.bad_rows}
    assert set(reasons) == {first_row + 3, first_row + 4}
    assert "before startTime" in reasons[first_row + 3]
    assert "timestamp" in reasons[first_row + 4]
    # the api_key (and the prompt) never reach the warehouse, quarantine or the export
    stored = everything_stored(wh)
    assert CANARY not in stored and "secret prompt" not in stored
    assert CANARY not in quarantine_csv(report).decode()


def test_litellm_spend_logs_csv(wh: Warehouse) -> None:
    data = _spend_logs_csv()
    assert sniff(data, "spend.csv") == "litellm-csv"
    report = ingest_bytes(wh, ORG, data, "spend.csv")
    assert report.format == "litellm-csv"
    _check_spend_logs(wh, report, first_row=2)
    assert ingest_bytes(wh, ORG, data, "spend.csv").rows_loaded == 0


@pytest.mark.parametrize("shape", ["array", "data", "lines"])
def test_litellm_spend_logs_json(wh: Warehouse, shape: str) -> None:
    if shape == "array":
        data = json.dumps(SPEND_LOGS, indent=2).encode()
    elif shape == "data":
        data = json.dumps({"data": SPEND_LOGS, "total": 5}).encode()
    else:
        data = "\n".join(json.dumps(r) for r in SPEND_LOGS).encode()
    assert sniff(data, "spend.json") == "litellm-json"
    report = ingest_bytes(wh, ORG, data, "spend.json")
    assert report.format == "litellm-json"
    _check_spend_logs(wh, report, first_row=1)


def test_litellm_broken_json_line_is_quarantined_without_its_key(wh: Warehouse) -> None:
    lines = [json.dumps(r) for r in SPEND_LOGS[:2]]
    lines.append('{"request_id": "x", "api_key": "' + CANARY + '", "startTime": oops}')
    report = ingest_bytes(wh, ORG, "\n".join(lines).encode(), "spend.jsonl")
    assert report.rows_loaded == 2
    assert [b.row_number for b in report.bad_rows] == [3]
    assert CANARY not in everything_stored(wh) and CANARY not in quarantine_csv(report).decode()


# --- OpenTelemetry GenAI spans -----------------------------------------------------------


def _kv(key: str, value) -> dict:
    if isinstance(value, bool):
        v = {"boolValue": value}
    elif isinstance(value, int):
        v = {"intValue": str(value)}
    elif isinstance(value, float):
        v = {"doubleValue": value}
    elif isinstance(value, list):
        v = {"arrayValue": {"values": [{"stringValue": x} for x in value]}}
    else:
        v = {"stringValue": value}
    return {"key": key, "value": v}


NS = 1_793_000_000 * 10**9  # 2026-10-27


def _otlp() -> dict:
    spans = [
        {  # new attribute names, response id
            "traceId": "a" * 32, "spanId": "1" * 16, "name": "chat gpt-4o", "kind": 3,
            "startTimeUnixNano": str(NS), "endTimeUnixNano": str(NS + 900_000_000),
            "attributes": [_kv("gen_ai.operation.name", "chat"),
                           _kv("gen_ai.provider.name", "openai"),
                           _kv("gen_ai.request.model", "gpt-4o"),
                           _kv("gen_ai.response.model", "gpt-4o-2024-08-06"),
                           _kv("gen_ai.response.id", "chatcmpl-otel-1"),
                           _kv("gen_ai.usage.input_tokens", 1200),
                           _kv("gen_ai.usage.output_tokens", 80),
                           _kv("gen_ai.response.finish_reasons", ["stop"]),
                           _kv("switchyard.feature", "photo_analysis")],
            "events": [{"name": "gen_ai.first_token", "timeUnixNano": str(NS + 250_000_000)}],
            "status": {},
        },
        {  # old attribute names, no response id, an error
            "traceId": "b" * 32, "spanId": "2" * 16, "name": "chat",
            "startTimeUnixNano": str(NS + 10**9), "endTimeUnixNano": str(NS + 3 * 10**9),
            "attributes": [_kv("gen_ai.system", "anthropic"),
                           _kv("gen_ai.request.model", "claude-haiku-4-5"),
                           _kv("gen_ai.usage.prompt_tokens", 300),
                           _kv("gen_ai.usage.completion_tokens", 0),
                           _kv("error.type", "timeout")],
            "status": {"code": 2, "message": "deadline exceeded"},
        },
        {  # not a GenAI span: skipped
            "traceId": "c" * 32, "spanId": "3" * 16, "name": "GET /",
            "startTimeUnixNano": str(NS), "endTimeUnixNano": str(NS + 5),
            "attributes": [_kv("http.request.method", "GET")],
        },
        {  # GenAI span without a model: quarantined
            "traceId": "d" * 32, "spanId": "4" * 16, "name": "chat",
            "startTimeUnixNano": str(NS), "endTimeUnixNano": str(NS + 5),
            "attributes": [_kv("gen_ai.provider.name", "openai")],
        },
    ]
    return {"resourceSpans": [{
        "resource": {"attributes": [_kv("service.name", "photo-api")]},
        "scopeSpans": [{"scope": {"name": "opentelemetry.instrumentation.openai"},
                        "spans": spans}],
    }]}


def test_otel_otlp_json(wh: Warehouse) -> None:
    data = json.dumps(_otlp()).encode()
    assert sniff(data, "traces.json") == "otel-json"
    report = ingest_bytes(wh, ORG, data, "traces.json")
    assert report.format == "otel-json"
    assert report.rows_loaded == 2 and report.rows_quarantined == 1
    assert report.bad_rows[0].row_number == 4 and "request_model" in report.bad_rows[0].reason
    got = events(wh)
    new = got["chatcmpl-otel-1"]
    assert new["provider_name"] == "openai" and new["response_model"] == "gpt-4o-2024-08-06"
    assert new["input_tokens"] == 1200 and new["output_tokens"] == 80
    assert new["duration_ms"] == pytest.approx(900) and new["ttft_ms"] == pytest.approx(250)
    assert new["finish_reason"] == "stop" and new["feature"] == "photo_analysis"
    assert new["cost_usd"] > 0
    old = got["b" * 32 + ":" + "2" * 16]
    assert old["provider_name"] == "anthropic" and old["input_tokens"] == 300
    assert old["status"] == "error" and old["error_type"] == "timeout"
    assert old["duration_ms"] == pytest.approx(2000)
    # collector file exporter: one document per line; same spans -> nothing new
    lines = (json.dumps(_otlp()) + "\n" + json.dumps(_otlp())).encode()
    again = ingest_bytes(wh, ORG, lines, "traces.jsonl")
    assert again.rows_loaded == 0 and again.rows_duplicate == 4


def test_otel_console_exporter(wh: Warehouse) -> None:
    span = {
        "name": "chat gemini-2.5-flash",
        "context": {"trace_id": "0x" + "e" * 32, "span_id": "0x" + "5" * 16, "trace_state": "[]"},
        "kind": "SpanKind.CLIENT", "parent_id": None,
        "start_time": "2026-11-04T12:00:00.000000Z", "end_time": "2026-11-04T12:00:02.000000Z",
        "status": {"status_code": "UNSET"},
        "attributes": {"gen_ai.system": "gemini", "gen_ai.request.model": "gemini-2.5-flash",
                       "gen_ai.usage.input_tokens": 4000, "gen_ai.usage.output_tokens": 500},
        "events": [], "links": [],
        "resource": {"attributes": {"service.name": "search"}, "schema_url": ""},
    }
    other = {**span, "context": {"trace_id": "0x" + "e" * 32, "span_id": "0x" + "6" * 16},
             "status": {"status_code": "ERROR", "description": "boom"}}
    # ConsoleSpanExporter prints indented objects one after another
    data = (json.dumps(span, indent=4) + "\n" + json.dumps(other, indent=4) + "\n").encode()
    assert sniff(data, "console.txt") == "otel-json"
    report = ingest_bytes(wh, ORG, data, "console.txt")
    assert report.rows_loaded == 2
    got = events(wh)
    e = got["e" * 32 + ":" + "5" * 16]
    assert e["provider_name"] == "gcp.gemini" and e["duration_ms"] == pytest.approx(2000)
    assert str(e["ts"]) == "2026-11-04 12:00:00" and e["status"] == "ok"
    assert got["e" * 32 + ":" + "6" * 16]["status"] == "error"


def test_otel_file_without_genai_spans_is_refused(wh: Warehouse) -> None:
    doc = _otlp()
    doc["resourceSpans"][0]["scopeSpans"][0]["spans"] = [
        doc["resourceSpans"][0]["scopeSpans"][0]["spans"][2]
    ]
    with pytest.raises(UnreadableFile, match="none with gen_ai"):
        ingest_bytes(wh, ORG, json.dumps(doc).encode(), "http.json")
