"""Read usage files into a :class:`~core.warehouse.load.Stage`, and tell formats apart.

Formats: Switchyard's own usage events (JSONL, CSV, Parquet; OpenTelemetry GenAI column
names or common aliases), LiteLLM SpendLogs exports (``core.warehouse.litellm``) and
OpenTelemetry GenAI spans exported as JSON (``core.warehouse.otel``).
"""

from __future__ import annotations

import json
from pathlib import Path

from core.warehouse import litellm, otel
from core.warehouse.load import CANONICAL_COLUMNS
from core.warehouse.stage import (
    MAX_LINE_CHARS,
    NOT_UTF8,
    BadRow,
    Stage,
    UnreadableFile,
    arrow_from_records,
    check_file_size,
    csv_records,
    decode_text,
    is_parquet,
    line_too_long,
    nested_too_deep,
    not_a_value,
    printable,
    too_deep,
    undecodable,
)

__all__ = ["ALIASES", "UnreadableFile", "canonical_name", "read_any", "read_usage_csv",
           "read_usage_jsonl", "read_usage_parquet", "sniff"]

# Accepted spellings for the canonical columns in the usage-events format.
ALIASES: dict[str, str] = {
    "timestamp": "ts",
    "time": "ts",
    "start_time": "ts",
    "started_at": "ts",
    "gen_ai.provider.name": "provider_name",
    "gen_ai.system": "provider_name",
    "provider": "provider_name",
    "gen_ai.request.model": "request_model",
    "model": "request_model",
    "gen_ai.response.model": "response_model",
    "gen_ai.usage.input_tokens": "input_tokens",
    "gen_ai.usage.prompt_tokens": "input_tokens",
    "prompt_tokens": "input_tokens",
    "gen_ai.usage.output_tokens": "output_tokens",
    "gen_ai.usage.completion_tokens": "output_tokens",
    "completion_tokens": "output_tokens",
    "cached_tokens": "cache_read_input_tokens",
    "reasoning_tokens": "reasoning_output_tokens",
    "cost": "cost_usd",
    "latency_ms": "duration_ms",
    "error.type": "error_type",
    "organization": "org_id",
}


def canonical_name(name: str) -> str | None:
    key = name.strip()
    if key in CANONICAL_COLUMNS:
        return key
    low = key.lower()
    if low in CANONICAL_COLUMNS:
        return low
    return ALIASES.get(low)


def _mapping(columns: list[str]) -> dict[str, list[str]]:
    """canonical column -> the source columns that spell it, in file order.

    Files written by more than one tool mix spellings (``provider_name`` in some rows,
    ``gen_ai.system`` in others); a row's value is its first non-empty spelling.
    """
    out: dict[str, list[str]] = {}
    for c in columns:
        canon = canonical_name(c)
        if canon:
            out.setdefault(canon, []).append(c)
    return out


def _require_columns(mapping: dict[str, list[str]], name: str) -> None:
    if not {"request_model", "provider_name"} & set(mapping):
        raise UnreadableFile(
            f"{name}: no usage columns found. Expected Switchyard usage events "
            "(request_id, ts, provider_name, request_model, input_tokens, …), a LiteLLM "
            "SpendLogs export or OpenTelemetry GenAI spans."
        )


def read_usage_jsonl(data: bytes, name: str) -> Stage:
    """One JSON object per line; a line is measured (length, nesting) before it is parsed."""
    records: list[dict] = []
    rows: list[int] = []
    bad: list[BadRow] = []
    text, lossy = decode_text(data)
    seen: set[str] = set()
    for i, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if len(line) > MAX_LINE_CHARS:
            bad.append(BadRow(i, line_too_long(line), printable(line)))
            continue
        if lossy and undecodable(line):
            bad.append(BadRow(i, NOT_UTF8, printable(line)))
            continue
        if too_deep(line):
            bad.append(BadRow(i, nested_too_deep(), printable(line)))
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            bad.append(BadRow(i, f"not valid JSON ({exc.msg} at column {exc.colno})", line[:300]))
            continue
        if not isinstance(obj, dict):
            bad.append(BadRow(i, "not a JSON object", line[:300]))
            continue
        rec: dict = {}
        for k, v in obj.items():
            canon = canonical_name(k)
            if canon and v is not None and v != "" and canon not in rec:
                rec[canon] = v
        wrong = next((c for c, v in rec.items() if isinstance(v, dict | list)), None)
        if wrong is not None:
            bad.append(BadRow(i, not_a_value(wrong, rec[wrong]), line[:300]))
            continue
        seen.update(rec)
        records.append(rec)
        rows.append(i)
    if records:
        _require_columns({c: [c] for c in seen}, name)
    return Stage("jsonl", name, arrow=arrow_from_records(records, rows), pre_bad=bad,
                 rows_read=len(records) + len(bad))


def _raw_fields(fields: list[str]) -> str:
    return printable(",".join(f[:300] for f in fields))


def read_usage_csv(data: bytes, name: str) -> Stage:
    text, lossy = decode_text(data)
    records_iter = csv_records(text)
    first = next(records_iter, None)
    if first is None:
        raise UnreadableFile(f"{name}: the file is empty")
    _, header, why = first
    if header is None:
        raise UnreadableFile(f"{name}: the header row is not readable ({why})")
    if lossy and undecodable("".join(header)):
        raise UnreadableFile(f"{name}: the header row is {NOT_UTF8}")
    mapping = _mapping(header)
    _require_columns(mapping, name)
    position = {h: i for i, h in reversed(list(enumerate(header)))}
    idx = [(canon, [position[h] for h in spellings]) for canon, spellings in mapping.items()]
    records: list[dict] = []
    rows: list[int] = []
    bad: list[BadRow] = []
    for line_no, fields, why in records_iter:
        if fields is None:
            bad.append(BadRow(line_no, why or "unreadable"))
            continue
        if not fields or all(not f.strip() for f in fields):
            continue
        if len(fields) != len(header):
            bad.append(
                BadRow(line_no, f"has {len(fields)} fields, the header has {len(header)}",
                       _raw_fields(fields))
            )
            continue
        if lossy and any(undecodable(f) for f in fields):
            bad.append(BadRow(line_no, NOT_UTF8, _raw_fields(fields)))
            continue
        records.append({
            canon: next((fields[i] for i in places if fields[i] != ""), None)
            for canon, places in idx
        })
        rows.append(line_no)
    return Stage("csv", name, arrow=arrow_from_records(records, rows), pre_bad=bad,
                 rows_read=len(records) + len(bad))


def read_usage_parquet(path: Path, name: str) -> Stage:
    """Parquet is read by DuckDB directly (column-wise, in parallel): the fast path."""
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for bad files
        raise UnreadableFile(f"{name}: not a readable Parquet file ({exc})") from None
    mapping = _mapping(list(schema.names))
    _require_columns(mapping, name)
    def quoted(col: str) -> str:
        return '"' + col.replace('"', '""') + '"'

    cols = ", ".join(
        f"{quoted(spellings[0])} AS {canon}" if len(spellings) == 1 else
        "coalesce(" + ", ".join(f"CAST({quoted(c)} AS VARCHAR)" for c in spellings)
        + f") AS {canon}"
        for canon, spellings in mapping.items()
    )
    p = str(path).replace("'", "''")
    sql = f"SELECT file_row_number + 1 AS _row, {cols} FROM read_parquet('{p}', file_row_number=true)"
    return Stage("parquet", name, relation_sql=sql)


def sniff(data: bytes, name: str) -> str:
    """Guess the format: usage-parquet, usage-csv, usage-jsonl, litellm-csv, litellm-json, otel-json."""
    lower = name.lower()
    if is_parquet(data, name):
        return "usage-parquet"
    head = data[:65536].decode("utf-8-sig", errors="replace").lstrip()
    if lower.endswith(".csv") or (head and head[0] not in "{["):
        first = head.splitlines()[0] if head else ""
        cols = {c.strip().strip('"') for c in first.split(",")}
        if {"startTime", "spend"} <= cols or {"request_id", "spend", "model"} <= cols and "startTime" in cols:
            return "litellm-csv"
        return "usage-csv"
    if "resourceSpans" in head[:2000] or '"gen_ai.' in head and ('"spanId"' in head or '"span_id"' in head):
        return "otel-json"
    if '"startTime"' in head and '"spend"' in head:
        return "litellm-json"
    return "usage-jsonl"


def read_any(data: bytes, name: str) -> Stage:
    """Read a text file's bytes in whatever format it is in.

    Parquet is not read from bytes: DuckDB streams it from a path
    (:func:`read_usage_parquet`; ``core.warehouse.ingest`` writes uploads to a file first).
    """
    fmt = sniff(data, name)
    check_file_size(len(data), name)
    if fmt == "usage-parquet":
        raise ValueError("Parquet is read from a path: use read_usage_parquet")
    if fmt == "usage-csv":
        return read_usage_csv(data, name)
    if fmt == "usage-jsonl":
        return read_usage_jsonl(data, name)
    if fmt.startswith("litellm"):
        return litellm.read(data, name, fmt.split("-")[1])
    return otel.read(data, name)
