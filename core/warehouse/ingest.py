"""Ingest usage files (CLI paths or page uploads) into an organization's warehouse data."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from core.warehouse.db import Warehouse
from core.warehouse.formats import read_any, read_usage_parquet
from core.warehouse.load import IngestReport, load_stage
from core.warehouse.stage import UnreadableFile, is_parquet

__all__ = ["UnreadableFile", "ingest_bytes", "ingest_path", "quarantine_csv"]


def ingest_path(wh: Warehouse, org_id: str, path: Path) -> IngestReport:
    """Ingest one file; Parquet is streamed from disk, other formats are read whole."""
    path = Path(path)
    if not path.is_file():
        raise UnreadableFile(f"{path}: no such file")
    with path.open("rb") as f:
        head = f.read(65536)
    if is_parquet(head, path.name):
        return load_stage(wh, org_id, read_usage_parquet(path, path.name))
    return load_stage(wh, org_id, read_any(path.read_bytes(), path.name))


def ingest_bytes(wh: Warehouse, org_id: str, data: bytes, name: str) -> IngestReport:
    """Ingest an uploaded file's bytes (a temporary copy is used for Parquet, then removed)."""
    if is_parquet(data, name):
        fd, tmp = tempfile.mkstemp(suffix=".parquet")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            return load_stage(wh, org_id, read_usage_parquet(Path(tmp), name))
        finally:
            os.unlink(tmp)
    return load_stage(wh, org_id, read_any(data, name))


def quarantine_csv(report: IngestReport) -> bytes:
    """The rejected rows of one ingest as CSV (row number, reason, values), for download."""
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["file", "row_number", "reason", "values"])
    for b in report.bad_rows:
        w.writerow([report.source_name, b.row_number, b.reason, b.raw or ""])
    return buf.getvalue().encode()
