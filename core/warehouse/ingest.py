"""Ingest usage files (CLI paths or page uploads) into an organization's warehouse data."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from core.warehouse.db import Warehouse
from core.warehouse.formats import UnreadableFile, read_any
from core.warehouse.load import IngestReport, load_stage

__all__ = ["UnreadableFile", "ingest_bytes", "ingest_path", "quarantine_csv"]


def ingest_path(wh: Warehouse, org_id: str, path: Path) -> IngestReport:
    """Ingest one file; Parquet is streamed from disk, other formats are read whole."""
    path = Path(path)
    if not path.is_file():
        raise UnreadableFile(f"{path}: no such file")
    with path.open("rb") as f:
        head = f.read(65536)
    if path.suffix.lower() == ".parquet" or head[:4] == b"PAR1":
        from core.warehouse.formats import read_usage_parquet

        return load_stage(wh, org_id, read_usage_parquet(path, path.name))
    return load_stage(wh, org_id, read_any(path.read_bytes(), path.name, path))


def ingest_bytes(wh: Warehouse, org_id: str, data: bytes, name: str) -> IngestReport:
    """Ingest an uploaded file's bytes (a temporary copy is used for Parquet, then removed)."""
    if name.lower().endswith(".parquet") or data[:4] == b"PAR1":
        fd, tmp = tempfile.mkstemp(suffix=".parquet")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            from core.warehouse.formats import read_usage_parquet

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
