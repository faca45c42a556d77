"""The Usage page's KPI deltas and default date range: rules in core, the page only shows them."""

from __future__ import annotations

from datetime import date

import pytest

from core.warehouse.queries import default_date_range, kpi_delta

CUR = {"spend": 12.0, "requests": 150.0, "tokens": 0.0, "p95_ms": 900.0, "error_rate": 0.031}
PREV = {"spend": 10.0, "requests": 100.0, "tokens": 0.0, "p95_ms": None, "error_rate": 0.027}


@pytest.mark.parametrize(("key", "expected"), [
    ("spend", "+20.0%"),
    ("requests", "+50.0%"),
    ("error_rate", "+0.40 pp"),  # a share changes in percentage points, not percent
    ("p95_ms", None),  # no previous p95
    ("tokens", None),  # a percentage of nothing
])
def test_kpi_delta_against_the_previous_period(key: str, expected: str | None) -> None:
    assert kpi_delta(CUR, PREV, key) == expected


def test_no_delta_when_the_previous_period_had_no_requests() -> None:
    empty = {**PREV, "requests": 0.0}
    assert [kpi_delta(CUR, empty, k) for k in CUR] == [None] * len(CUR)


def test_a_fall_is_signed() -> None:
    assert kpi_delta({"spend": 7.5}, {"spend": 10.0, "requests": 1.0}, "spend") == "-25.0%"
    assert kpi_delta({"error_rate": 0.0}, {"error_rate": 0.01, "requests": 1.0},
                     "error_rate") == "-1.00 pp"


def test_default_date_range_is_the_last_30_days_of_data() -> None:
    assert default_date_range(date(2026, 1, 1), date(2026, 11, 20)) == (date(2026, 10, 22),
                                                                         date(2026, 11, 20))
    assert default_date_range(date(2026, 11, 10), date(2026, 11, 20)) == (date(2026, 11, 10),
                                                                          date(2026, 11, 20))


def test_no_delta_when_the_current_value_is_missing() -> None:
    """No p95 this period (no successful call) while the previous period had one."""
    assert kpi_delta({"p95_ms": None, "requests": 3.0}, PREV | {"p95_ms": 900.0},
                     "p95_ms") is None
    assert kpi_delta({"error_rate": None}, PREV, "error_rate") is None
