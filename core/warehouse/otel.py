"""Read OpenTelemetry GenAI spans exported as JSON into a usage stage.

Two shapes are accepted:

* OTLP/JSON (``{"resourceSpans": [...]}``; one document, or one per line as the
  collector's file exporter writes them), attributes as ``[{"key", "value": {...}}]``;
* the Python SDK's ``ConsoleSpanExporter`` output: span objects with ``context``,
  ``start_time``, ``attributes`` as a plain object, concatenated or in a JSON array.

Attribute names follow the GenAI semantic conventions, old and new:
``gen_ai.provider.name`` or ``gen_ai.system``; ``gen_ai.usage.input_tokens`` or
``gen_ai.usage.prompt_tokens``; ``gen_ai.usage.output_tokens`` or
``gen_ai.usage.completion_tokens``. Spans without GenAI attributes (HTTP, database, …)
are skipped, not quarantined. ``request_id`` is ``gen_ai.response.id`` when present, else
``traceId:spanId``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from core.warehouse.litellm import parse_time
from core.warehouse.stage import (
    NOT_UTF8,
    BadRow,
    Stage,
    UnreadableFile,
    arrow_from_records,
    check_file_size,
    decode_text,
    json_items,
    nested_too_deep,
    not_a_value,
    printable,
    undecodable,
)

# canonical column -> attribute names, preferred first
ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "provider_name": ("gen_ai.provider.name", "gen_ai.system"),
    "request_model": ("gen_ai.request.model",),
    "response_model": ("gen_ai.response.model",),
    "input_tokens": ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"),
    "output_tokens": ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"),
    "cache_read_input_tokens": (
        "gen_ai.usage.cache_read.input_tokens",
        "gen_ai.usage.cache_read_input_tokens",
        "gen_ai.usage.cached_tokens",
    ),
    "reasoning_output_tokens": (
        "gen_ai.usage.reasoning.output_tokens",
        "gen_ai.usage.reasoning_output_tokens",
        "gen_ai.usage.reasoning_tokens",
    ),
    "error_type": ("error.type",),
    "feature": ("switchyard.feature", "app.feature", "feature"),
    "org_id": ("switchyard.org_id",),
    "source": ("switchyard.source",),
    "cost_usd": ("switchyard.cost_usd", "gen_ai.usage.cost"),
    "ttft_ms": ("switchyard.ttft_ms",),
}
GENAI_MARKERS = ("gen_ai.provider.name", "gen_ai.system", "gen_ai.request.model",
                 "gen_ai.operation.name")


def _any_value(v: Any) -> Any:
    """Unwrap an OTLP/JSON ``AnyValue`` (ints arrive as strings in OTLP/JSON)."""
    if not isinstance(v, dict):
        return v
    for k in ("stringValue", "boolValue", "doubleValue"):
        if k in v:
            return v[k]
    if "intValue" in v:
        try:
            return int(v["intValue"])
        except (TypeError, ValueError):
            return v["intValue"]
    if "arrayValue" in v:
        return [_any_value(x) for x in (v["arrayValue"] or {}).get("values", [])]
    return None


def _attrs(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):  # console exporter
        return raw
    out: dict[str, Any] = {}
    for kv in raw or []:
        if isinstance(kv, dict) and "key" in kv:
            out[kv["key"]] = _any_value(kv.get("value"))
    return out


def _nanos(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value) / 1e9, UTC).replace(tzinfo=None)
    except (TypeError, ValueError, OverflowError):
        return None


def _plain_id(value: Any) -> str:
    text = str(value or "")
    return text[2:] if text.lower().startswith("0x") else text


def _is_error(status: Any) -> bool:
    if not isinstance(status, dict):
        return False
    code = status.get("code", status.get("status_code"))
    return code in (2, "2") or str(code).upper() in ("STATUS_CODE_ERROR", "ERROR")


def span_to_event(span: dict[str, Any], resource: dict[str, Any]) -> tuple[dict | None, str | None]:
    """One span -> (event, None), (None, reason) when unusable, or (None, None) if not GenAI."""
    attrs = {**resource, **_attrs(span.get("attributes"))}
    if not any(k in attrs for k in GENAI_MARKERS):
        return None, None
    if "context" in span:  # console exporter
        ctx = span.get("context") or {}
        trace_id, span_id = _plain_id(ctx.get("trace_id")), _plain_id(ctx.get("span_id"))
        start, end = parse_time(span.get("start_time")), parse_time(span.get("end_time"))
        start_raw = span.get("start_time")
    else:
        trace_id, span_id = _plain_id(span.get("traceId")), _plain_id(span.get("spanId"))
        start, end = _nanos(span.get("startTimeUnixNano")), _nanos(span.get("endTimeUnixNano"))
        start_raw = span.get("startTimeUnixNano")
    response_id = attrs.get("gen_ai.response.id")
    request_id = str(response_id) if response_id else (
        f"{trace_id}:{span_id}" if trace_id and span_id else None)
    event: dict[str, Any] = {"request_id": request_id,
                             "ts": start.isoformat(sep=" ") if start else start_raw}
    for column, names in ATTRIBUTES.items():
        event[column] = next((attrs[n] for n in names if attrs.get(n) is not None), None)
    if start and end:
        if end < start:
            return None, "span ends before it starts"
        event["duration_ms"] = (end - start).total_seconds() * 1000
    if event["ttft_ms"] is None:
        for ev in span.get("events") or []:
            if isinstance(ev, dict) and ev.get("name") in ("gen_ai.first_token", "first_token"):
                first = _nanos(ev.get("timeUnixNano")) or parse_time(ev.get("timestamp"))
                if first and start:
                    event["ttft_ms"] = max((first - start).total_seconds() * 1000, 0.0)
    reasons = attrs.get("gen_ai.response.finish_reasons")
    if isinstance(reasons, list) and reasons:
        event["finish_reason"] = str(reasons[0])
    elif isinstance(reasons, str):
        event["finish_reason"] = reasons
    error = _is_error(span.get("status"))
    event["status"] = "error" if error or event["error_type"] else "ok"
    return event, None


# A span (or document) that trips over a value of the wrong shape is quarantined, not fatal.
ROW_ERRORS = (TypeError, ValueError, AttributeError, KeyError, OverflowError, OSError)


def _documents(text: str, lossy: bool) -> list[tuple[Any, BadRow | None]]:
    """Every top-level JSON value in ``text`` (one document, JSON lines, or concatenated), or
    why it cannot be read; each is measured (nesting, undecodable bytes) before it is parsed."""
    out: list[tuple[Any, BadRow | None]] = []
    for item in json_items(text):
        chunk = text[item.start:item.end]
        if lossy and undecodable(chunk):
            out.append((None, BadRow(item.line, f"line {item.line}: {NOT_UTF8}", printable(chunk))))
        elif item.too_deep():
            out.append((None, BadRow(item.line, f"line {item.line}: {nested_too_deep()}",
                                     printable(chunk))))
        else:
            try:
                out.append((json.loads(chunk), None))
            except json.JSONDecodeError as exc:
                out.append((None, BadRow(item.line, f"line {item.line + exc.lineno - 1}: not "
                                         f"valid JSON ({exc.msg})", printable(chunk))))
    return out


def _spans(doc: Any) -> list[tuple[dict, dict]]:
    """(span, resource attributes) for every span in one document."""
    out: list[tuple[dict, dict]] = []
    items = doc if isinstance(doc, list) else [doc]
    for item in items:
        if not isinstance(item, dict):
            out.append(({"_not_a_span": item}, {}))
            continue
        if "resourceSpans" in item:
            for rs in item.get("resourceSpans") or []:
                res = _attrs((rs.get("resource") or {}).get("attributes"))
                for ss in rs.get("scopeSpans") or rs.get("instrumentationLibrarySpans") or []:
                    for span in ss.get("spans") or []:
                        out.append((span, res))
        else:
            res = (item.get("resource") or {}).get("attributes") or {}
            out.append((item, res if isinstance(res, dict) else {}))
    return out


def read(data: bytes, name: str) -> Stage:
    """Spans are numbered 1, 2, … through the file; a document that cannot be read takes one
    number (its spans cannot be counted) and is quarantined with its line."""
    check_file_size(len(data), name)
    text, lossy = decode_text(data)
    records: list[dict] = []
    rows: list[int] = []
    bad: list[BadRow] = []
    docs = _documents(text, lossy)
    if docs and all(b is not None for _, b in docs) and not lossy:
        first = docs[0][1]
        raise UnreadableFile(f"{name}: {first.reason if first else 'not JSON'}")
    number = 0
    spans_seen = 0
    for doc, problem in docs:
        if problem is not None:
            number += 1
            bad.append(BadRow(number, problem.reason, problem.raw))
            continue
        try:
            spans = _spans(doc)
        except ROW_ERRORS as exc:
            number += 1
            bad.append(BadRow(number, f"not an OpenTelemetry document ({type(exc).__name__})",
                              printable(json.dumps(doc, default=str))))
            continue
        spans_seen += len(spans)
        for span, resource in spans:
            number += 1
            if "_not_a_span" in span:
                bad.append(BadRow(number, "not a span (expected an object)",
                                  str(span["_not_a_span"])[:300]))
                continue
            if not isinstance(span, dict):
                bad.append(BadRow(number, "not a span (expected an object)", str(span)[:300]))
                continue
            try:
                event, reason = span_to_event(span, resource if isinstance(resource, dict) else {})
            except ROW_ERRORS as exc:
                event, reason = None, f"a field has the wrong type ({type(exc).__name__}: {exc})"
            wrong = next((c for c, v in (event or {}).items() if isinstance(v, dict | list)), None)
            if event is not None and wrong is not None:
                event, reason = None, not_a_value(wrong, event[wrong])
            if reason:
                bad.append(BadRow(number, reason[:300], json.dumps(span, default=str)[:300]))
            elif event is not None:
                records.append(event)
                rows.append(number)
    if spans_seen and not records and not bad:
        raise UnreadableFile(f"{name}: {spans_seen} spans, none with gen_ai.* attributes")
    return Stage("otel-json", name, arrow=arrow_from_records(records, rows), pre_bad=bad,
                 rows_read=len(records) + len(bad))
