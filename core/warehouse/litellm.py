"""Read LiteLLM SpendLogs exports (CSV, JSON array or JSON lines) into a usage stage.

LiteLLM's proxy logs one row per request in ``LiteLLM_SpendLogs``: request_id, startTime,
endTime, completionStartTime, model, custom_llm_provider, prompt_tokens,
completion_tokens, spend, status, metadata (JSON), request_tags, … We keep only what a
usage event needs. ``api_key`` (a hash of the caller's key), ``user``, ``messages`` and
``response`` are never read into the warehouse, nor into quarantine rows.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

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
    json_items,
    line_too_long,
    nested_too_deep,
    not_a_value,
    printable,
    undecodable,
)

# Fields whose values must never be copied anywhere, even into a quarantine row.
SECRET_FIELDS = ("api_key", "token", "hashed_token", "user_api_key", "authorization")
_SECRET_RE = re.compile(
    r'("?(?:' + "|".join(SECRET_FIELDS) + r')"?\s*[:=]\s*)("[^"]*"|[^,}\s]*)', re.IGNORECASE
)
KNOWN_FEATURES = ("photo_analysis", "description_generation", "safety_chat", "search_processing")


def redact(text: str) -> str:
    """``text`` with the values of key-like fields replaced, for quarantine and messages."""
    return _SECRET_RE.sub(r'\1"[redacted]"', text)


def parse_time(value: Any) -> datetime | None:
    """LiteLLM writes ISO timestamps with or without a zone; naive ones are UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), UTC).replace(tzinfo=None)
    text = str(value).strip().replace(" ", "T", 1)
    try:
        ts = datetime.fromisoformat(text)
    except ValueError:
        return None
    if ts.tzinfo is not None:
        ts = ts.astimezone(UTC).replace(tzinfo=None)
    return ts


def _json_field(value: Any) -> Any:
    """Metadata and tags arrive as JSON text in CSV exports and as objects in JSON ones."""
    if isinstance(value, str):
        text = value.strip()
        if text[:1] in "{[":
            try:
                return json.loads(text)
            except json.JSONDecodeError:
                return None
        return None
    return value


def _feature(meta: dict, tags: Any) -> str | None:
    for holder in (meta.get("spend_logs_metadata"), meta.get("requester_metadata"), meta):
        if isinstance(holder, dict) and holder.get("feature"):
            return str(holder["feature"])
    tags = tags if isinstance(tags, list) else meta.get("tags")
    if isinstance(tags, list):
        for tag in tags:
            tag = str(tag)
            if tag.startswith("feature:"):
                return tag.split(":", 1)[1]
            if tag in KNOWN_FEATURES:
                return tag
    return None


def _nested_int(meta: dict, *path: str) -> Any:
    node: Any = meta
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def to_event(rec: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """One SpendLogs row -> (canonical event, None) or (None, reason it cannot be read)."""
    meta = _json_field(rec.get("metadata")) or {}
    if not isinstance(meta, dict):
        meta = {}
    model = (rec.get("model") or rec.get("model_group") or "").strip() or None
    provider = (rec.get("custom_llm_provider") or "").strip() or None
    if model and "/" in model and (provider is None or model.split("/", 1)[0] == provider):
        provider, model = model.split("/", 1)
    start_raw = rec.get("startTime")
    start = parse_time(start_raw)
    end = parse_time(rec.get("endTime"))
    first = parse_time(rec.get("completionStartTime"))
    if rec.get("endTime") not in (None, "") and end is None:
        return None, f"endTime is not a date-time ({rec.get('endTime')})"
    duration = (end - start).total_seconds() * 1000 if start and end else None
    if duration is not None and duration < 0:
        return None, "endTime is before startTime"
    ttft = None
    if start and first and first != end:
        ttft = max((first - start).total_seconds() * 1000, 0.0)
    status = str(rec.get("status") or meta.get("status") or "").strip().lower() or None
    err = meta.get("error_information") if isinstance(meta.get("error_information"), dict) else {}
    error_type = None
    if status in ("failure", "error", "failed"):
        error_type = str(err.get("error_code") or err.get("error_class") or "") or None
    usage = meta.get("additional_usage_values") if isinstance(meta, dict) else None
    usage = usage if isinstance(usage, dict) else {}
    cached = _nested_int(usage, "prompt_tokens_details", "cached_tokens")
    if cached is None:
        cached = usage.get("cache_read_input_tokens")
    reasoning = _nested_int(usage, "completion_tokens_details", "reasoning_tokens")
    spend = rec.get("spend")
    event = {
        "request_id": rec.get("request_id"),
        "ts": start.isoformat(sep=" ") if start else start_raw,
        "provider_name": provider,
        "request_model": model,
        "response_model": None,
        "feature": _feature(meta, _json_field(rec.get("request_tags"))),
        "input_tokens": rec.get("prompt_tokens"),
        "output_tokens": rec.get("completion_tokens"),
        "cache_read_input_tokens": cached,
        "reasoning_output_tokens": reasoning,
        "cost_usd": None if spend in (None, "") else spend,
        "duration_ms": duration,
        "ttft_ms": ttft,
        "status": status,
        "error_type": error_type,
    }
    return event, None


def _safe_raw(rec: dict[str, Any]) -> str:
    keep = {k: v for k, v in rec.items()
            if k.lower() not in SECRET_FIELDS and k not in ("messages", "response", "user")}
    return redact(json.dumps(keep, default=str))[:300]


# A row whose conversion trips over a value of the wrong shape is quarantined, not fatal.
ROW_ERRORS = (TypeError, ValueError, AttributeError, KeyError, OverflowError, OSError)


def _records_json(text: str, lossy: bool) -> tuple[list[tuple[int, Any]], list[BadRow]]:
    """(row number, object) pairs from a JSON array, ``{"data": [...]}`` or JSON lines.

    Every value is measured (length, nesting, undecodable bytes) before it is parsed; a JSON
    array's rows are numbered from 1, JSON lines by their line.
    """
    in_array = text.lstrip().startswith("[")
    items = json_items(text, in_array=in_array)
    wrapper = not in_array and len(items) == 1
    pairs: list[tuple[int, Any]] = []
    bad: list[BadRow] = []
    for n, item in enumerate(items, start=1):
        number = n if in_array else item.line
        chunk = text[item.start:item.end]
        if not wrapper and len(chunk) > MAX_LINE_CHARS:
            bad.append(BadRow(number, line_too_long(chunk), redact(printable(chunk))))
        elif lossy and undecodable(chunk):
            bad.append(BadRow(number, NOT_UTF8, redact(printable(chunk))))
        elif item.too_deep():
            bad.append(BadRow(number, nested_too_deep(), redact(printable(chunk))))
        else:
            try:
                pairs.append((number, json.loads(chunk)))
            except json.JSONDecodeError as exc:
                bad.append(BadRow(number, f"not valid JSON ({exc.msg} at column {exc.colno})",
                                  redact(printable(chunk))))
    if wrapper and pairs and isinstance(pairs[0][1], dict):
        doc = pairs[0][1]
        rows = doc.get("data", doc.get("logs", [doc]))
        if not isinstance(rows, list):
            raise UnreadableFile("expected a list of SpendLogs rows")
        return list(enumerate(rows, start=1)), bad
    return pairs, bad


def _records_csv(text: str, lossy: bool) -> tuple[list[tuple[int, Any]], list[BadRow]]:
    records = csv_records(text)
    first = next(records, None)
    if first is None or first[1] is None:
        return [], []
    header = first[1]
    pairs: list[tuple[int, Any]] = []
    bad: list[BadRow] = []
    for number, fields, why in records:
        if fields is None:
            bad.append(BadRow(number, why or "unreadable"))
        elif not any(f.strip() for f in fields):
            continue
        elif len(fields) > len(header):
            bad.append(BadRow(number, "has more fields than the header",
                              _safe_raw(dict(zip(header, fields, strict=False)))))
        elif lossy and any(undecodable(f) for f in fields):
            bad.append(BadRow(number, NOT_UTF8,
                              printable(_safe_raw(dict(zip(header, fields, strict=False))))))
        else:
            pairs.append((number, {h: (fields[i] if i < len(fields) else None)
                                   for i, h in enumerate(header)}))
    return pairs, bad


def read(data: bytes, name: str, kind: str) -> Stage:
    """``kind`` is ``csv`` or ``json`` (array, ``{"data": [...]}`` or JSON lines)."""
    check_file_size(len(data), name)
    text, lossy = decode_text(data)
    if kind == "csv":
        pairs, bad = _records_csv(text, lossy)
    else:
        try:
            pairs, bad = _records_json(text, lossy)
        except UnreadableFile as exc:
            raise UnreadableFile(f"{name}: {exc}") from None
    records: list[dict] = []
    rows: list[int] = []
    for row_no, rec in pairs:
        if not isinstance(rec, dict):
            bad.append(BadRow(row_no, "not a SpendLogs row (expected an object)",
                              redact(str(rec))[:300]))
            continue
        try:
            event, reason = to_event(rec)
        except ROW_ERRORS as exc:
            event, reason = None, f"a field has the wrong type ({type(exc).__name__}: {exc})"
        wrong = next((c for c, v in (event or {}).items() if isinstance(v, dict | list)), None)
        if event is not None and wrong is not None:
            event, reason = None, not_a_value(wrong, event[wrong])
        if event is None:
            bad.append(BadRow(row_no, redact(reason or "unreadable")[:300], _safe_raw(rec)))
            continue
        records.append(event)
        rows.append(row_no)
    return Stage(f"litellm-{kind}", name, arrow=arrow_from_records(records, rows), pre_bad=bad,
                 rows_read=len(records) + len(bad))
