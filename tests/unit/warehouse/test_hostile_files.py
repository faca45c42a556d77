"""Hostile and careless files cannot knock ingest over: the bad row is quarantined with its
row number and reason, the good rows of the same file land, and a file that cannot be read at
all gets one plain message (never a traceback) in the CLI and through ``ingest_uploads``."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from core.cli import main
from core.warehouse import queries, stage
from core.warehouse.db import Warehouse
from core.warehouse.ingest import (
    UnreadableFile,
    ingest_bytes,
    ingest_path,
    ingest_uploads,
)
from core.warehouse.stage import MAX_FIELD_CHARS, MAX_LINE_CHARS, MAX_NESTING_DEPTH, MAX_TOKENS

ORG = "demo"
MEGABYTE_FEATURE = "x" * 1_000_000
DEEP = "[" * 5000 + "]" * 5000


@pytest.fixture()
def wh(tmp_path: Path) -> Iterator[Warehouse]:
    w = Warehouse(tmp_path / "wh.duckdb")
    yield w
    w.close()


def ids(wh: Warehouse) -> set[str]:
    with wh.cursor() as cur:
        return {r[0] for r in cur.execute("SELECT request_id FROM usage_events").fetchall()}


def event(rid: str, ts: str = "2026-11-01T10:00:00Z", **extra: object) -> dict:
    return {"request_id": rid, "ts": ts, "provider_name": "openai", "request_model": "gpt-4o",
            "input_tokens": 100, "output_tokens": 10, "cost_usd": 0.001, **extra}


def jsonl(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def csv_bytes(rows: list[dict]) -> bytes:
    cols = sorted({k for r in rows for k in r})
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols)
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue().encode()


def reasons(report) -> dict[int, str]:
    return {b.row_number: b.reason for b in report.bad_rows}


# -- usage events: CSV ------------------------------------------------------------------------


def test_csv_with_a_megabyte_feature_keeps_the_good_rows(wh: Warehouse, tmp_path: Path) -> None:
    p = tmp_path / "usage.csv"
    p.write_bytes(csv_bytes([event("good-1"), event("huge", feature=MEGABYTE_FEATURE),
                             event("good-2")]))
    report = ingest_path(wh, ORG, p)
    assert ids(wh) == {"good-1", "good-2"}
    assert report.rows_read == 3 and report.rows_loaded == 2
    assert reasons(report) == {
        3: f"feature is 1000000 characters long, over the limit of {MAX_FIELD_CHARS:,}"}


def test_csv_field_over_the_record_limit_costs_one_row(wh: Warehouse) -> None:
    data = csv_bytes([event("good-1"), event("huge", feature="y" * (MAX_LINE_CHARS + 1)),
                      event("good-2")])
    report = ingest_bytes(wh, ORG, data, "usage.csv")
    assert ids(wh) == {"good-1", "good-2"}
    assert reasons(report) == {3: "not readable as CSV (a field is longer than the limit of "
                                  f"{MAX_LINE_CHARS:,} characters)"}


def test_csv_row_with_undecodable_bytes_is_quarantined(wh: Warehouse) -> None:
    data = csv_bytes([event("good-1"), event("latin1", feature="café"), event("good-2")])
    data = data.replace("café".encode(), "café".encode("latin-1"))
    report = ingest_bytes(wh, ORG, data, "usage.csv")
    assert ids(wh) == {"good-1", "good-2"}
    assert reasons(report) == {3: "not UTF-8 text (undecodable bytes)"}
    assert "\ufffd" in report.bad_rows[0].raw


def test_csv_whose_header_is_not_utf8_is_unreadable(wh: Warehouse) -> None:
    with pytest.raises(UnreadableFile, match="header row is not UTF-8"):
        ingest_bytes(wh, ORG, "request_id,ts,modèle\n".encode("latin-1"), "x.csv")


# -- usage events: JSONL ----------------------------------------------------------------------


def test_jsonl_line_nested_5000_deep_is_quarantined(wh: Warehouse) -> None:
    deep = json.dumps(event("deep")).replace('"gpt-4o"', DEEP)
    report = ingest_bytes(wh, ORG, jsonl(json.dumps(event("good-1")), deep,
                                         json.dumps(event("good-2"))), "usage.jsonl")
    assert ids(wh) == {"good-1", "good-2"}
    assert reasons(report) == {2: f"nested deeper than {MAX_NESTING_DEPTH} levels"}


def test_nesting_is_measured_before_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    """json.loads never sees a line over the depth limit (nor one over the length limit)."""
    seen: list[str] = []
    real = json.loads
    monkeypatch.setattr(json, "loads", lambda s, *a, **k: seen.append(s) or real(s, *a, **k))
    from core.warehouse.formats import read_usage_jsonl

    just_deep_enough = "[" * (MAX_NESTING_DEPTH + 1) + "]" * (MAX_NESTING_DEPTH + 1)
    long_line = json.dumps(event("long", feature="z" * MAX_LINE_CHARS))
    got = read_usage_jsonl(jsonl(json.dumps(event("ok")), DEEP, just_deep_enough, long_line),
                           "u.jsonl")
    assert len(seen) == 1
    assert [(b.row_number, b.reason.split(" ")[0]) for b in got.pre_bad] == [
        (2, "nested"), (3, "nested"), (4, "the")]
    assert "over the limit of" in got.pre_bad[2].reason


def test_jsonl_wrong_types_and_bad_bytes_are_quarantined(wh: Warehouse) -> None:
    lines = [
        json.dumps(event("good-1")),
        json.dumps(event("obj", feature={"name": "photo"})),
        json.dumps(event("list", request_model=["gpt-4o"])),
        json.dumps(event("text-tokens", input_tokens="many")),
        json.dumps(event("good-2")),
    ]
    data = jsonl(*lines).replace(b"good-2", b"good-2") + b'{"request_id": "\xff\xfe"}\n'
    report = ingest_bytes(wh, ORG, data, "usage.jsonl")
    assert ids(wh) == {"good-1", "good-2"}
    got = reasons(report)
    assert got[2] == "feature must be a single value, not an object"
    assert got[3] == "request_model must be a single value, not a list"
    assert "input_tokens must be a whole number" in got[4]
    assert got[6] == "not UTF-8 text (undecodable bytes)"


# -- usage events: Parquet --------------------------------------------------------------------


def test_parquet_with_a_megabyte_feature_keeps_the_good_rows(wh: Warehouse, tmp_path: Path) -> None:
    rows = [event("good-1", feature="photo"), event("huge", feature=MEGABYTE_FEATURE),
            event("good-2", feature="chat")]
    p = tmp_path / "usage.parquet"
    pq.write_table(pa.Table.from_pylist(rows), p)
    report = ingest_path(wh, ORG, p)
    assert ids(wh) == {"good-1", "good-2"}
    assert reasons(report) == {
        2: f"feature is 1000000 characters long, over the limit of {MAX_FIELD_CHARS:,}"}
    assert len(report.bad_rows[0].raw) <= 2000


def test_parquet_wrong_types_are_quarantined_per_row(wh: Warehouse, tmp_path: Path) -> None:
    table = pa.table({"request_id": ["a", "b", "c"], "ts": [datetime(2026, 11, 1)] * 3,
                      "provider_name": ["openai"] * 3, "request_model": ["gpt-4o"] * 3,
                      "input_tokens": pa.array([{"n": 1}, {"n": 2}, None]),
                      "output_tokens": pa.array([1, 2, 2**63 - 1], pa.uint64())})
    p = tmp_path / "odd.parquet"
    pq.write_table(table, p)
    report = ingest_path(wh, ORG, p)
    assert ids(wh) == set() and report.rows_read == 3
    got = reasons(report)
    assert set(got) == {1, 2, 3}
    assert "input_tokens must be a whole number" in got[1]
    assert "output_tokens must be a whole number" in got[3]


def test_a_token_count_too_big_for_the_warehouse_costs_one_row(wh: Warehouse) -> None:
    """1e30 tokens once failed the whole file with DuckDB's BIGINT conversion error."""
    report = ingest_bytes(wh, ORG, jsonl(json.dumps(event("huge", input_tokens=1e30)),
                                         json.dumps(event("good"))), "u.jsonl")
    assert ids(wh) == {"good"}
    assert reasons(report) == {1: "input_tokens must be a whole number from 0 to "
                                  f"{MAX_TOKENS:,} (got 1e+30)"}


def test_a_database_error_about_the_contents_is_one_plain_message(
    wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last line of defence: nothing a file holds reaches the user as a traceback."""
    import duckdb

    from core.warehouse import ingest

    def boom(*_a: object, **_k: object) -> None:
        raise duckdb.ConversionException("Conversion Error: odd value\nLINE 1: SELECT …")

    monkeypatch.setattr(ingest, "load_stage", boom)
    with pytest.raises(UnreadableFile, match=r"^u.jsonl: its values cannot be read "
                                             r"\(Conversion Error: odd value\)$"):
        ingest_bytes(wh, ORG, jsonl(json.dumps(event("a"))), "u.jsonl")


# -- timestamps -------------------------------------------------------------------------------


def test_far_future_and_ancient_timestamps_are_quarantined(wh: Warehouse) -> None:
    lines = [json.dumps(event("good-1", ts="2026-11-01T10:00:00Z")),
             json.dumps(event("y3000", ts="3000-01-01T00:00:00Z")),
             json.dumps(event("y1999", ts="1999-12-31T23:59:59Z")),
             json.dumps(event("good-2", ts="2026-11-02T10:00:00Z"))]
    report = ingest_bytes(wh, ORG, jsonl(*lines), "usage.jsonl")
    assert ids(wh) == {"good-1", "good-2"}
    got = reasons(report)
    assert got[2] == ("timestamp is in the future, more than 1 day after the time of import "
                      "(3000-01-01 00:00:00)")
    assert got[3] == "timestamp is before 2000-01-01 (1999-12-31 23:59:59)"


def test_a_year_3000_row_does_not_move_the_default_date_range(wh: Warehouse) -> None:
    ingest_bytes(wh, ORG, jsonl(json.dumps(event("a", ts="2026-10-01T10:00:00Z")),
                                json.dumps(event("b", ts="2026-11-01T10:00:00Z"))), "one.jsonl")
    before = queries.filter_options(wh, ORG)
    ingest_bytes(wh, ORG, jsonl(json.dumps(event("c", ts="2026-10-15T10:00:00Z")),
                                json.dumps(event("y3000", ts="3000-01-01T00:00:00Z"))),
                 "two.jsonl")
    after = queries.filter_options(wh, ORG)
    assert (after["first_day"], after["last_day"]) == (before["first_day"], before["last_day"])
    assert queries.default_date_range(after["first_day"], after["last_day"]) == \
        queries.default_date_range(before["first_day"], before["last_day"])


def test_the_future_is_judged_from_the_time_of_import(wh: Warehouse) -> None:
    from core.warehouse.formats import read_usage_jsonl
    from core.warehouse.load import load_stage

    data = jsonl(json.dumps(event("next-day", ts="2026-11-02T09:00:00Z")),
                 json.dumps(event("two-days", ts="2026-11-03T11:00:00Z")))
    report = load_stage(wh, ORG, read_usage_jsonl(data, "u.jsonl"), now=datetime(2026, 11, 1, 10))
    assert ids(wh) == {"next-day"} and list(reasons(report)) == [2]


# -- LiteLLM SpendLogs ------------------------------------------------------------------------

SPEND = {"request_id": "ll-1", "startTime": "2026-11-03T08:00:00", "endTime":
         "2026-11-03T08:00:01", "model": "gpt-4o", "custom_llm_provider": "openai",
         "prompt_tokens": 10, "completion_tokens": 2, "spend": 0.001, "status": "success"}


def test_litellm_csv_with_a_huge_ignored_column_loads(wh: Warehouse) -> None:
    """A long ``messages`` column is not ours to store, and must not cost the row."""
    rows = [{**SPEND, "messages": "m" * 200_000},
            {**SPEND, "request_id": "ll-2", "model": "g" * 10_000}]
    report = ingest_bytes(wh, ORG, csv_bytes(rows), "spend.csv")
    assert ids(wh) == {"ll-1"}
    assert reasons(report) == {
        3: f"request_model is 10000 characters long, over the limit of {MAX_FIELD_CHARS:,}"}


def test_litellm_json_hostile_rows(wh: Warehouse) -> None:
    deep = dict(SPEND, request_id="deep")
    doc = [SPEND, deep, dict(SPEND, request_id="num-model", model=12),
           dict(SPEND, request_id="epoch", startTime=1e30), dict(SPEND, request_id="ll-5")]
    text = json.dumps(doc).replace('"request_id": "deep"', '"request_id": "deep", "x": ' + DEEP)
    report = ingest_bytes(wh, ORG, text.encode(), "spend.json")
    assert ids(wh) == {"ll-1", "ll-5"}
    got = reasons(report)
    assert got[2] == f"nested deeper than {MAX_NESTING_DEPTH} levels"
    assert got[3].startswith("a field has the wrong type (AttributeError")
    assert got[4].startswith("a field has the wrong type (")
    assert set(got) == {2, 3, 4}


def test_litellm_json_lines_deep_line_is_quarantined(wh: Warehouse) -> None:
    lines = [json.dumps(SPEND), '{"request_id": "d", "metadata": ' + DEEP + "}",
             json.dumps(dict(SPEND, request_id="ll-3"))]
    report = ingest_bytes(wh, ORG, jsonl(*lines), "spend.jsonl")
    assert ids(wh) == {"ll-1", "ll-3"}
    assert reasons(report) == {2: f"nested deeper than {MAX_NESTING_DEPTH} levels"}


# -- OpenTelemetry ----------------------------------------------------------------------------


def otlp(span_id: str, **attrs: object) -> str:
    base = {"gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 1, **attrs}
    span = {"traceId": "t1", "spanId": span_id, "startTimeUnixNano": "1793606400000000000",
            "endTimeUnixNano": "1793606401000000000",
            "attributes": [{"key": k, "value": {"stringValue": str(v)}} for k, v in base.items()]}
    return json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]})


def test_otel_hostile_documents_and_spans(wh: Warehouse) -> None:
    deep = otlp("s2").replace('"spanId"', '"x": ' + DEEP + ', "spanId"')
    broken = otlp("s3").replace('"scopeSpans": [', '"scopeSpans": [5, ')
    wrong = otlp("s4").replace('"attributes": [', '"attributes": 7, "_a": [')
    report = ingest_bytes(wh, ORG, jsonl(otlp("s1"), deep, broken, wrong, otlp("s5")),
                          "traces.jsonl")
    assert ids(wh) == {"t1:s1", "t1:s5"}
    got = reasons(report)
    assert got[2] == f"line 2: nested deeper than {MAX_NESTING_DEPTH} levels"
    assert got[3].startswith("not an OpenTelemetry document (AttributeError")
    assert got[4].startswith("a field has the wrong type (TypeError")


def test_otel_file_that_is_not_json_at_all_is_one_message(wh: Warehouse) -> None:
    with pytest.raises(UnreadableFile, match=r"traces.json: line 1: not valid JSON"):
        ingest_bytes(wh, ORG, b'{"resourceSpans": [oops', "traces.json")


# -- whole files: size, and many files at once ------------------------------------------------


def test_a_text_file_over_the_size_limit_is_refused_before_it_is_read(
    wh: Warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = tmp_path / "big.jsonl"
    p.write_bytes(jsonl(*(json.dumps(event(f"r{i}")) for i in range(50))))
    monkeypatch.setattr(stage, "MAX_FILE_BYTES", 1024)

    def no_read(self: Path) -> bytes:
        raise AssertionError("the file was read")

    monkeypatch.setattr(Path, "read_bytes", no_read)
    with pytest.raises(UnreadableFile, match=r"big.jsonl: .* over the 0 MiB limit"):
        ingest_path(wh, ORG, p)


@dataclass
class FakeUpload:
    name: str
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)

    def getvalue(self) -> bytes:
        return self.data


def test_ingest_uploads_reports_each_file_and_never_stops(
    wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = [
        FakeUpload("one.jsonl", jsonl(json.dumps(event("a")))),
        FakeUpload("notes.csv", b"name,colour\nbob,blue\n"),
        FakeUpload("hostile.csv", csv_bytes([event("b"), event("c", feature=MEGABYTE_FEATURE)])),
        FakeUpload("odd.parquet", b"PAR1 not really"),
        FakeUpload("three.jsonl", jsonl(json.dumps(event("d")))),
    ]
    calls: list[tuple[int, int, str]] = []
    outcomes = ingest_uploads(wh, ORG, files, progress=lambda *a: calls.append(a))
    assert [o.name for o in outcomes] == [f.name for f in files]
    assert calls == [(i, 5, f.name) for i, f in enumerate(files)]
    assert [o.error is None for o in outcomes] == [True, False, True, False, True]
    assert "no usage columns found" in outcomes[1].summary
    assert outcomes[1].summary.endswith("nothing was loaded")
    assert "Parquet" in (outcomes[3].error or "")
    assert outcomes[2].quarantined == 1 and outcomes[2].bad_rows() == [
        {"row": 3, "reason": f"feature is 1000000 characters long, over the limit of "
                             f"{MAX_FIELD_CHARS:,}"}]
    assert outcomes[2].quarantine_csv().startswith(b"file,row_number,reason,values")
    assert ids(wh) == {"a", "b", "d"}

    # an upload over the size limit is refused from its size: its bytes are never fetched
    monkeypatch.setattr(stage, "MAX_FILE_BYTES", 10)

    class Unread(FakeUpload):
        def getvalue(self) -> bytes:
            raise AssertionError("read")

    (big,) = ingest_uploads(wh, ORG, [Unread("big.csv", b"x" * 100)])
    assert "over the 0 MiB limit" in (big.error or "")


# -- the CLI ----------------------------------------------------------------------------------


def test_cli_ingest_of_hostile_files_prints_reasons_not_tracebacks(
    home: Path, tmp_path: Path
) -> None:
    hostile = tmp_path / "hostile.csv"
    hostile.write_bytes(csv_bytes([event("good-1"), event("huge", feature=MEGABYTE_FEATURE)]))
    deep = tmp_path / "deep.jsonl"
    deep.write_bytes(jsonl(json.dumps(event("good-2")), DEEP))
    unreadable = tmp_path / "notes.csv"
    unreadable.write_bytes(b"name,colour\nbob,blue\n")
    out = tmp_path / "rejected.csv"
    result = CliRunner().invoke(main, ["ingest", str(hostile), str(unreadable), str(deep),
                                       "--quarantine-out", str(out)])
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert result.exit_code == 1  # one file could not be read at all
    assert "hostile.csv: 2 rows read — 1 loaded, 1 quarantined" in result.output
    assert "row 3: feature is 1000000 characters long" in result.output
    assert "error: notes.csv: no usage columns found" in result.output
    assert "deep.jsonl: 2 rows read — 1 loaded, 1 quarantined" in result.output
    assert f"row 2: nested deeper than {MAX_NESTING_DEPTH} levels" in result.output
    rejected = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [(r["file"], r["row_number"]) for r in rejected] == [("hostile.csv", "3"),
                                                                ("deep.jsonl", "2")]


def test_the_field_limit_counts_characters_not_bytes(wh: Warehouse) -> None:
    lines = [json.dumps(event("at-limit", feature="é" * MAX_FIELD_CHARS)),
             json.dumps(event("over", feature="é" * (MAX_FIELD_CHARS + 1)))]
    report = ingest_bytes(wh, ORG, jsonl(*lines), "u.jsonl")
    assert ids(wh) == {"at-limit"}
    assert reasons(report) == {
        2: f"feature is {MAX_FIELD_CHARS + 1} characters long, over the limit of "
           f"{MAX_FIELD_CHARS:,}"}
