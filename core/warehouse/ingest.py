"""Ingest usage files (CLI paths or page uploads) into an organization's warehouse data.

Whatever a file holds, ingest ends in an :class:`IngestReport` (good rows loaded, bad rows
quarantined with their reasons) or one :class:`UnreadableFile` whose message is written for
people; the limits it applies are in :mod:`core.warehouse.stage`.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import duckdb

from core.exports import rows_csv_bytes
from core.warehouse.db import Warehouse, WarehouseBusy
from core.warehouse.formats import read_any, read_usage_parquet
from core.warehouse.load import IngestReport, load_stage
from core.warehouse.stage import Stage, UnreadableFile, check_file_size, is_parquet

__all__ = ["FileOutcome", "UnreadableFile", "ingest_bytes", "ingest_path", "ingest_uploads",
           "quarantine_csv"]


def _load(wh: Warehouse, org_id: str, stage: Stage) -> IngestReport:
    """load_stage, with a database error about the file's contents turned into a plain message.

    (A Parquet file can hold columns DuckDB cannot cast, e.g. a struct where a number belongs.)
    """
    try:
        return load_stage(wh, org_id, stage)
    except (duckdb.ConversionException, duckdb.BinderException, duckdb.InvalidInputException,
            duckdb.OutOfRangeException) as exc:
        first = str(exc).splitlines()[0][:200]
        raise UnreadableFile(f"{stage.source_name}: its values cannot be read ({first})") from None


def ingest_path(wh: Warehouse, org_id: str, path: Path) -> IngestReport:
    """Ingest one file; Parquet is streamed from disk, other formats are read whole."""
    path = Path(path)
    if not path.is_file():
        raise UnreadableFile(f"{path}: no such file")
    with path.open("rb") as f:
        head = f.read(65536)
    if is_parquet(head, path.name):
        return _load(wh, org_id, read_usage_parquet(path, path.name))
    check_file_size(path.stat().st_size, path.name)  # before the file is read whole
    return _load(wh, org_id, read_any(path.read_bytes(), path.name))


def ingest_bytes(wh: Warehouse, org_id: str, data: bytes, name: str) -> IngestReport:
    """Ingest an uploaded file's bytes (a temporary copy is used for Parquet, then removed)."""
    if is_parquet(data, name):
        fd, tmp = tempfile.mkstemp(suffix=".parquet")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            return _load(wh, org_id, read_usage_parquet(Path(tmp), name))
        finally:
            os.unlink(tmp)
    check_file_size(len(data), name)
    return _load(wh, org_id, read_any(data, name))


def quarantine_csv(report: IngestReport) -> bytes:
    """The rejected rows of one ingest as CSV (row number, reason, values), for download.

    Written by core.exports: a rejected value like ``=HYPERLINK(…)`` must not run when opened.
    """
    return rows_csv_bytes(
        ["file", "row_number", "reason", "values"],
        ([report.source_name, b.row_number, b.reason, b.raw or ""] for b in report.bad_rows),
    )


class Upload(Protocol):
    """What ingest needs of an uploaded file (Streamlit's UploadedFile has it)."""

    name: str
    size: int

    def getvalue(self) -> bytes: ...


BAD_ROWS_SHOWN = 500


@dataclass(frozen=True)
class FileOutcome:
    """What became of one uploaded file: a report, or the one message saying why not."""

    name: str
    report: IngestReport | None = None
    error: str | None = None
    busy: bool = False  # the warehouse was held by another process: try again, not the file

    @property
    def quarantined(self) -> int:
        return self.report.rows_quarantined if self.report else 0

    @property
    def summary(self) -> str:
        return self.report.summary() if self.report else f"{self.error} — nothing was loaded"

    def bad_rows(self, limit: int = BAD_ROWS_SHOWN) -> list[dict[str, object]]:
        """The first rejected rows (row number and reason), for a table."""
        rows = self.report.bad_rows[:limit] if self.report else []
        return [{"row": b.row_number, "reason": b.reason} for b in rows]

    def quarantine_csv(self) -> bytes:
        return quarantine_csv(self.report) if self.report and self.report.bad_rows else b""


def ingest_uploads(
    wh: Warehouse, org_id: str, files: Sequence[Upload],
    progress: Callable[[int, int, str], None] | None = None,
) -> list[FileOutcome]:
    """Ingest every file on its own: one that cannot be read never stops the others.

    A text file over the size limit is refused from its size, before its bytes are read.
    ``progress(done, total, name)`` is called before each file.
    """
    outcomes: list[FileOutcome] = []
    for i, f in enumerate(files):
        if progress is not None:
            progress(i, len(files), f.name)
        try:
            if not is_parquet(b"", f.name):
                check_file_size(int(f.size), f.name)
            report = ingest_bytes(wh, org_id, f.getvalue(), f.name)
        except UnreadableFile as exc:
            outcomes.append(FileOutcome(f.name, error=str(exc)))
        except WarehouseBusy as exc:
            outcomes.append(FileOutcome(f.name, error=str(exc), busy=True))
        else:
            outcomes.append(FileOutcome(f.name, report=report))
    return outcomes
