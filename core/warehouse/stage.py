"""What every format reader hands to the loader, and the helpers all readers share.

A reader (``core.warehouse.formats``, ``litellm``, ``otel``) turns a file into a
:class:`Stage`: canonical columns plus ``_row`` (the 1-based row number in the source file),
and the rows it could not read as :class:`BadRow`\\ s. This module sits below every reader, so
``formats`` may import ``litellm``/``otel`` without a cycle.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pyarrow as pa

# -- limits ------------------------------------------------------------------------------------
# Every reader applies these before it spends memory on what it limits: the file size before
# the file is read, a line's length and nesting depth before it is parsed. A row over a limit is
# quarantined with the reason; the rest of the file still lands. (README: "Limits on imports".)

MAX_FILE_BYTES = 256 * 1024 * 1024
"""Text formats (JSONL, CSV, JSON) are read whole; Parquet is streamed, so it has no limit."""
MAX_LINE_CHARS = 4 * 1024 * 1024
"""One JSONL line, CSV record or LiteLLM row (LiteLLM rows may carry whole responses)."""
MAX_FIELD_CHARS = 4096
"""One stored text value: request id, provider, model, feature, error type, finish reason."""
MAX_TOKENS = 10**15
"""A token count above this is a broken row (and would overflow the warehouse's BIGINT)."""
MAX_NESTING_DEPTH = 32
"""Arrays/objects inside each other in one JSON value (OTLP documents need about 10)."""
TS_EARLIEST = datetime(2000, 1, 1)
"""Events before this are quarantined: almost always a unit error (seconds for ms, 1970)."""
TS_FUTURE_TOLERANCE = timedelta(days=1)
"""Events later than now plus this are quarantined (clock skew and time zones fit inside)."""


class UnreadableFile(ValueError):
    """The file as a whole cannot be read (wrong format, too big, no usable columns).

    Its message is written for people: the CLI and the Import tab show it as it is.
    """


@dataclass
class BadRow:
    row_number: int
    reason: str
    raw: str | None = None


@dataclass
class Stage:
    """What a format reader hands to :func:`core.warehouse.load.load_stage`."""

    format: str
    source_name: str
    relation_sql: str | None = None  # a SELECT over e.g. read_parquet(...)
    arrow: pa.Table | None = None
    pre_bad: list[BadRow] = field(default_factory=list)  # rows rejected while parsing
    rows_read: int | None = None  # when the reader knows better than the stage


def arrow_from_records(records: list[dict], rows: list[int]) -> pa.Table:
    """Records of canonical values (any type) as an all-text Arrow table; SQL types them."""
    cols: dict[str, list] = {"_row": rows}
    names = sorted({k for r in records for k in r})
    for n in names:
        cols[n] = [None if r.get(n) is None else str(r.get(n)) for r in records]
    return pa.table(cols)


PARQUET_MAGIC = b"PAR1"


def is_parquet(head: bytes, name: str) -> bool:
    """The one test for Parquet: the name says so, or the file starts with its magic."""
    return name.lower().endswith(".parquet") or head[:4] == PARQUET_MAGIC


def check_file_size(size: int, name: str) -> None:
    """Refuse a text file before it is read when it is over :data:`MAX_FILE_BYTES`."""
    if size > MAX_FILE_BYTES:
        raise UnreadableFile(
            f"{name}: {size / 2**20:,.0f} MiB, over the {MAX_FILE_BYTES // 2**20} MiB limit for "
            "JSONL, CSV and JSON files; split it, or convert it to Parquet (no size limit)"
        )


# -- undecodable bytes -------------------------------------------------------------------------
# Text is decoded with "surrogateescape": a byte that is not UTF-8 becomes a lone surrogate
# (U+DC80–U+DCFF), which valid UTF-8 never yields, so the rows holding one can be found and
# quarantined while the others load.

_UNDECODABLE = re.compile("[\udc80-\udcff]")
NOT_UTF8 = "not UTF-8 text (undecodable bytes)"


def decode_text(data: bytes) -> tuple[str, bool]:
    """(text, whether some bytes were not UTF-8); a UTF-8 byte-order mark is dropped."""
    try:
        return data.decode("utf-8-sig"), False
    except UnicodeDecodeError:
        return data.decode("utf-8-sig", errors="surrogateescape"), True


def undecodable(text: str) -> bool:
    return _UNDECODABLE.search(text) is not None


def printable(text: str, limit: int = 300) -> str:
    """``text`` cut to ``limit`` characters, undecodable bytes shown as U+FFFD (for quarantine)."""
    return _UNDECODABLE.sub("\ufffd", text[:limit])


# -- JSON nesting, checked before parsing ------------------------------------------------------

_BRACKETS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{},]')


def too_deep(text: str, limit: int = MAX_NESTING_DEPTH) -> bool:
    """Whether a JSON value nests deeper than ``limit``, without parsing it.

    Counting brackets settles almost every line at C speed; only a text with more brackets than
    the limit is scanned token by token (strings skipped, so brackets inside them don't count).
    """
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    for m in _BRACKETS.finditer(text):
        c = m.group()
        if c in "[{":
            depth += 1
            if depth > limit:
                return True
        elif c in "]}":
            depth -= 1
    return False


@dataclass(frozen=True)
class JsonItem:
    """One top-level JSON value's place in a text, found without parsing it."""

    start: int
    end: int
    depth: int  # how deep it nests (0 for a scalar)
    line: int  # 1-based line of its start

    def too_deep(self) -> bool:
        return self.depth > MAX_NESTING_DEPTH


def json_items(text: str, *, in_array: bool = False) -> list[JsonItem]:
    """The top-level values of ``text`` (one document, JSON lines, or documents one after
    another); with ``in_array``, the elements of the array that ``text`` holds.

    A bracket-and-string scan (regex at C speed, strings skipped), so a value nested thousands
    deep is found and measured without the parser's recursion. Scalars and stray text between
    values come back as items too, so the parser can say what is wrong with them.
    """
    items: list[JsonItem] = []
    lines = _LineCounter(text)

    def add(lo: int, hi: int, depth: int) -> None:
        seg = text[lo:hi]
        body = seg.strip(" \t\r\n,") if not in_array else seg.strip(" \t\r\n")
        if body:
            first = lo + seg.index(body[0])
            items.append(JsonItem(first, first + len(body), depth, lines.at(first)))

    tokens = _BRACKETS.finditer(text)
    if in_array:
        opening = text.find("[")
        if opening < 0:
            return items
        tokens = _BRACKETS.finditer(text, opening + 1)
        depth, deepest, seg_start = 1, 1, opening + 1
        for m in tokens:
            c = m.group()
            if c in "[{":
                depth += 1
                deepest = max(deepest, depth)
            elif c in "]}":
                depth -= 1
                if depth == 0:
                    add(seg_start, m.start(), deepest - 1)
                    add(m.end(), len(text), 0)  # trailing text after the array, if any
                    return items
            elif c == "," and depth == 1:
                add(seg_start, m.start(), deepest - 1)
                seg_start, deepest = m.end(), 1
        add(seg_start, len(text), deepest - 1)  # unterminated: the parser will say so
        return items
    depth, deepest, seg_start, opened = 0, 0, 0, 0
    for m in tokens:
        c = m.group()
        if c in "[{":
            if depth == 0:
                add(seg_start, m.start(), 0)
                opened, deepest = m.start(), 0
            depth += 1
            deepest = max(deepest, depth)
        elif c in "]}" and depth > 0:
            depth -= 1
            if depth == 0:
                add(opened, m.end(), deepest)
                seg_start = m.end()
    if depth:
        add(opened, len(text), deepest)
    else:
        add(seg_start, len(text), 0)
    return items


class _LineCounter:
    """Line numbers of increasing offsets, counting each newline once."""

    def __init__(self, text: str) -> None:
        self.text, self.line, self.pos = text, 1, 0

    def at(self, offset: int) -> int:
        self.line += self.text.count("\n", self.pos, offset)
        self.pos = offset
        return self.line


# -- reasons and CSV records shared by the readers -------------------------------------------


def line_too_long(line: str) -> str:
    """Why a line or row over MAX_LINE_CHARS was quarantined."""
    return f"the line is {len(line):,} characters long, over the limit of {MAX_LINE_CHARS:,}"


def nested_too_deep() -> str:
    return f"nested deeper than {MAX_NESTING_DEPTH} levels"


def not_a_value(column: str, value: object) -> str:
    kind = "an object" if isinstance(value, dict) else "a list"
    return f"{column} must be a single value, not {kind}"


def csv_records(text: str) -> Iterator[tuple[int, list[str] | None, str | None]]:
    """(record number, fields, None) per CSV record, or (number, None, reason) for one that
    cannot be read; the header is record 1. A record over :data:`MAX_LINE_CHARS` is refused.

    The csv module's own field limit (process-wide) is raised to the record limit, never
    lowered, so one oversized field costs one row, not the file.
    """
    if csv.field_size_limit() < MAX_LINE_CHARS:
        csv.field_size_limit(MAX_LINE_CHARS)
    reader = csv.reader(io.StringIO(text))
    number = 0
    while True:
        number += 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            reason = str(exc)
            if "field limit" in reason:
                reason = f"a field is longer than the limit of {MAX_LINE_CHARS:,} characters"
            yield number, None, f"not readable as CSV ({reason})"
            continue
        if sum(len(f) for f in fields) > MAX_LINE_CHARS:
            yield number, None, f"the record is longer than the limit of {MAX_LINE_CHARS:,} characters"
            continue
        yield number, fields, None
