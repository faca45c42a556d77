"""CSV that is safe to open in a spreadsheet: the one writer of every CSV the product offers.

A cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is run as a formula
by Excel, LibreOffice and Google Sheets (OWASP "CSV injection"); such cells get a leading ``'``,
which spreadsheets show as text. Parquet and JSON exports keep the raw values.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

__all__ = ["FORMULA_PREFIXES", "neutralise", "csv_bytes", "rows_csv_bytes"]


def neutralise(value: Any) -> Any:
    """The value with a leading ``'`` when a spreadsheet would run it; numbers stay numbers."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """A data frame as UTF-8 CSV with every text cell neutralised (numeric columns untouched)."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(neutralise)
    out.columns = [neutralise(str(c)) for c in out.columns]
    # CRLF rows (RFC 4180), so a cell holding a bare carriage return is quoted, not split.
    return out.to_csv(index=False, lineterminator="\r\n").encode()


def rows_csv_bytes(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """Rows (for writers that stream rather than build a frame) as neutralised CSV."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow([neutralise(h) for h in header])
    for row in rows:
        w.writerow([neutralise(v) for v in row])
    return buf.getvalue().encode()
