"""What every format reader hands to the loader, and the helpers all readers share.

A reader (``core.warehouse.formats``, ``litellm``, ``otel``) turns a file into a
:class:`Stage`: canonical columns plus ``_row`` (the 1-based row number in the source file),
and the rows it could not read as :class:`BadRow`\\ s. This module sits below every reader, so
``formats`` may import ``litellm``/``otel`` without a cycle.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa


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
