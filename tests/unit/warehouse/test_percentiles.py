"""Percentiles read from the log-bucketed histogram rollups agree with exact quantiles."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.domain import UsageFilter
from core.warehouse import queries
from core.warehouse.db import Warehouse
from core.warehouse.demo import build_demo
from core.warehouse.load import HIST_GAMMA, HIST_LN
from core.warehouse.queries import group_quantiles, percentiles_from_hist

END = date(2026, 2, 28)
TOLERANCE = 0.02  # one bucket of the histogram (HIST_GAMMA = 1.02)
MIN_SAMPLES = 200


def _buckets(durations: np.ndarray) -> np.ndarray:
    """The bucket of each duration, as load.BUCKET_SQL computes it."""
    return np.floor(np.log(np.maximum(durations, 0.01)) / HIST_LN).astype(np.int64)


def _near_rank(est: float, sample: np.ndarray, p: float) -> bool:
    """``est`` is within one bucket of the samples ranked p·n (±1 for rank rounding)."""
    xs = np.sort(sample)
    k = int(np.ceil(p * len(xs)))  # 1-based rank of the inverted-CDF quantile
    lo, hi = xs[max(k - 2, 0)], xs[min(k, len(xs) - 1)]
    return bool(lo / HIST_GAMMA <= est <= hi * HIST_GAMMA)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    n=st.integers(2000, 20_000),
    mu=st.floats(4.0, 9.0),
    sigma=st.floats(0.15, 1.2),
    seed=st.integers(0, 2**32 - 1),
)
def test_histogram_quantiles_match_numpy(n: int, mu: float, sigma: float, seed: int) -> None:
    """Bucketed like load.BUCKET_SQL, whole and split in two groups (per-model percentiles).

    The estimate falls in the bucket of the sample at rank p·n, so it is within 2% of
    numpy's inverted-CDF quantile (and of the interpolated median, where samples are dense);
    in a group, float rounding of p·n may move the rank by one.
    """
    x = np.random.default_rng(seed).lognormal(mu, sigma, n)
    groups = (np.arange(n) >= n // 2).astype(np.int64)
    b, counts = np.unique(_buckets(x), return_counts=True)
    whole = percentiles_from_hist(pd.DataFrame({"bucket": b, "n": counts}), [])
    keyed = pd.DataFrame({"g": groups, "bucket": _buckets(x)}).value_counts().rename("n")
    split = percentiles_from_hist(keyed.reset_index(), ["g"])
    assert whole["samples"].iloc[0] == n and split["samples"].sum() == n
    for p, name in ((0.5, "p50"), (0.95, "p95"), (0.99, "p99")):
        est = whole[name].iloc[0]
        assert est == pytest.approx(np.quantile(x, p, method="inverted_cdf"), rel=TOLERANCE)
        assert _near_rank(est, x, p)
        for g in (0, 1):
            assert _near_rank(split.loc[split["g"] == g, name].iloc[0], x[groups == g], p)
    assert whole["p50"].iloc[0] == pytest.approx(np.median(x), rel=TOLERANCE)


def test_dense_and_sparse_group_paths_agree() -> None:
    rng = np.random.default_rng(1)
    gid = rng.integers(0, 50, 5000)
    bucket = rng.integers(250, 600, 5000)
    n = rng.integers(1, 30, 5000)
    dense = group_quantiles(gid, bucket, n)
    sparse = group_quantiles(gid * 1_000_003, bucket, n)  # key space too big for bincount
    assert (dense[0] * 1_000_003 == sparse[0]).all() and (dense[2] == sparse[2]).all()
    for name in ("p50", "p95", "p99"):
        assert np.array_equal(dense[1][name], sparse[1][name])
    empty = group_quantiles(np.array([], dtype=np.int64), np.array([]), np.array([]))
    assert len(empty[0]) == 0 and len(empty[1]["p50"]) == 0


def test_empty_histogram_has_the_columns() -> None:
    out = percentiles_from_hist(pd.DataFrame(columns=["day", "bucket", "n"]), ["day"])
    assert list(out.columns) == ["day", "p50", "p95", "p99", "samples"] and out.empty
    assert HIST_GAMMA == pytest.approx(np.exp(HIST_LN))


@pytest.fixture(scope="module")
def wh(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    w = Warehouse(Path(tmp_path_factory.mktemp("pct")) / "w.duckdb", idle_close_s=30)
    build_demo(w, 200_000, 60, seed=11, end=END)
    yield w
    w.close()


def _exact(wh: Warehouse, f: UsageFilter, keys: list[str], ps: tuple[float, ...]) -> pd.DataFrame:
    """Exact quantiles over the raw successful events matching ``f``.

    ``pXX_disc`` is the sample at rank p·n (what a histogram estimates: the bucket holding
    that sample), ``pXX_cont`` interpolates between neighbouring samples.
    """
    where = ["org_id = ?", "status = 'ok'", "ts >= ?", "ts < ?"]
    params: list[Any] = [f.org_id, datetime.combine(f.start, datetime.min.time()),
                         datetime.combine(f.end + timedelta(days=1), datetime.min.time())]
    for col, values in (("provider_name", f.providers), ("request_model", f.models),
                        ("feature", f.features), ("source", f.sources)):
        if values:
            where.append(f"{col} IN ({', '.join('?' for _ in values)})")
            params.extend(values)
    select = ["CAST(ts AS DATE) AS day" if k == "day" else k for k in keys]
    for p in ps:
        name = f"p{round(p * 100)}"
        select += [f"quantile_disc(duration_ms, {p}) AS {name}_disc",
                   f"quantile_cont(duration_ms, {p}) AS {name}_cont"]
    sql = (f"SELECT {', '.join(select)}, count(*) AS exact_n FROM usage_events "
           f"WHERE {' AND '.join(where)}" + (" GROUP BY ALL" if keys else ""))
    with wh.cursor() as cur:
        out = cur.execute(sql, params).df()
    if "day" in out:
        out["day"] = pd.to_datetime(out["day"]).dt.date
    return out


def _assert_close(got: pd.DataFrame, exact: pd.DataFrame, keys: list[str], names: list[str]) -> int:
    """Every group with enough samples is within one bucket of the exact quantile.

    Against ``quantile_cont`` only where samples are dense (the median; p95 from 2,000
    samples): in a thin tail (p99 of 200 samples) neighbouring samples can be 10-25% apart,
    and interpolating between them measures the sample, not the rollup.
    """
    both = got.merge(exact, on=keys)
    both = both[both["exact_n"] >= MIN_SAMPLES]
    for name in names:
        checks = [("disc", both)]
        if name == "p50":
            checks.append(("cont", both))
        elif name == "p95":
            checks.append(("cont", both[both["exact_n"] >= 2000]))
        for kind, rows in checks:
            if rows.empty:
                continue
            rel = (rows[name] / rows[f"{name}_{kind}"] - 1).abs()
            assert rel.max() <= TOLERANCE, rows.loc[rel.idxmax(), [*keys, name, f"{name}_{kind}"]]
    return len(both)


FILTERS = {
    "everything": {},
    "one model": {"models": ["gpt-4o-mini"]},
    "one feature": {"features": ["safety_chat"]},
    "one provider, some days": {"providers": ["anthropic"], "start_back": 40, "end_back": 12},
}


@pytest.mark.parametrize("name", list(FILTERS))
def test_dashboard_percentiles_match_exact_quantiles(wh: Warehouse, name: str) -> None:
    spec = dict(FILTERS[name])
    start = END - timedelta(days=spec.pop("start_back", 29))
    end = END - timedelta(days=spec.pop("end_back", 0))
    f = UsageFilter(org_id="demo", start=start, end=end, **spec)
    dash = queries.dashboard(wh, f)

    ps = (0.5, 0.95, 0.99)
    compared = _assert_close(dash.latency_daily, _exact(wh, f, ["day", "request_model"], ps),
                             ["day", "request_model"], ["p50", "p95", "p99"])
    assert compared >= 10
    compared = _assert_close(dash.models, _exact(wh, f, ["provider_name", "request_model"], ps),
                             ["provider_name", "request_model"], ["p50", "p95"])
    assert compared >= 1
    for period, flt in (("current", f), ("previous", f.previous_period())):
        exact = _exact(wh, flt, [], (0.95,)).iloc[0]
        assert exact["exact_n"] >= 2000
        for kind in ("disc", "cont"):
            assert dash.kpis[period]["p95_ms"] == pytest.approx(exact[f"p95_{kind}"], rel=TOLERANCE)


def test_the_pandas_baseline_answers_the_same_questions(wh: Warehouse) -> None:
    """The benchmark's pandas side (raw events) and the page's queries (rollups) agree."""
    from core.warehouse.bench import pandas_page

    with wh.cursor() as cur:
        raw = cur.execute("SELECT * EXCLUDE (ingest_id) FROM usage_events").df()
    f = UsageFilter(org_id="demo", start=END - timedelta(days=29), end=END)
    dash, ours = queries.dashboard(wh, f), pandas_page(raw, f)
    for period in ("current", "previous"):
        a, b = dash.kpis[period], ours["kpis"][period]
        assert a["requests"] == b["requests"] and a["tokens"] == b["tokens"]
        assert a["spend"] == pytest.approx(b["spend"]) and a["error_rate"] == pytest.approx(
            b["error_rate"])
        assert a["p95_ms"] == pytest.approx(b["p95_ms"], rel=TOLERANCE)
    models = dash.models.set_index(["provider_name", "request_model"]).sort_index()
    theirs = ours["models"].sort_index()
    assert (models["requests"] == theirs["requests"]).all()
    assert (models["errors"] == theirs["errors"]).all()
    assert np.allclose(models["avg_ms"], theirs["avg_ms"])
    assert np.allclose(models["p50"], theirs[0.5], rtol=TOLERANCE)
    assert dash.error_types["n"].sum() == ours["error_types"].sum()
    assert np.allclose(dash.features.set_index("feature")["cost_usd"].sort_index(),
                       ours["features"]["cost_usd"].sort_index())
    assert len(dash.timeline) == len(ours["timeline"])
    page = queries.events_page(wh, f, limit=200)
    assert page["request_id"].tolist() == ours["events"]["request_id"].tolist()
    opts = queries.filter_options(wh, "demo")
    assert opts["models"] == ours["options"]["request_model"]
    assert opts["model_provider"] == ours["options"]["model_provider"]


def test_bench_reports_its_numbers_and_cleans_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    from core.warehouse.bench import run_warehouse_bench

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    result = run_warehouse_bench(20_000, days=40, repeat=1)
    assert list(result) == ["events", "switchyard_ms", "pandas_ms", "ratio",
                            "ingest_events_per_s"]
    assert result["events"] == 20_000 and result["switchyard_ms"] > 0
    assert result["ratio"] == pytest.approx(result["pandas_ms"] / result["switchyard_ms"],
                                            rel=0.01)
    assert list(tmp_path.iterdir()) == []


# -- group_quantiles and percentiles_from_hist on hand-made histograms --------------------------


def _gq(gid: list, bucket: list, n: list, ps: tuple[float, ...] = (0.5, 0.95)) -> tuple:
    g, values, samples = group_quantiles(np.array(gid), np.array(bucket), np.array(n), ps)
    return g, values, samples


def test_quantiles_of_two_groups_exact() -> None:
    """Group 0 holds one sample in bucket 10 (and nothing else); group 1 one in 20, one in 30.

    One sample: its median is halfway through its bucket. Two samples: the median's rank
    (1 of 2) fills the first bucket, p95 is 90% into the second. Group 1's ranks are counted
    from its own first row, however few rows group 0 has.
    """
    g, values, samples = _gq([1, 0, 1], [30, 10, 20], [1, 1, 1])
    assert g.tolist() == [0, 1] and g.dtype == np.int64
    assert samples.tolist() == [1, 2] and samples.dtype == np.int64
    assert values["p50"].tolist() == pytest.approx([HIST_GAMMA ** 10.5, HIST_GAMMA ** 21],
                                                   rel=1e-12)
    assert values["p95"].tolist() == pytest.approx([HIST_GAMMA ** 10.95, HIST_GAMMA ** 30.9],
                                                   rel=1e-12)


def test_sub_millisecond_buckets_are_negative() -> None:
    """Durations under 1 ms fall in negative buckets (cache hits); they group like the rest."""
    g, values, samples = _gq([0, 0, 1, 1], [-5, 3, -2, -2], [1, 1, 3, 1])
    assert g.tolist() == [0, 1] and samples.tolist() == [2, 4]
    assert values["p50"].tolist() == pytest.approx([HIST_GAMMA ** -4, HIST_GAMMA ** -1.5],
                                                   rel=1e-12)
    assert values["p95"].tolist() == pytest.approx([HIST_GAMMA ** 3.9, HIST_GAMMA ** -1.05],
                                                   rel=1e-12)


def test_rows_without_samples_belong_to_no_group() -> None:
    g, values, samples = _gq([0, 1, 1, 2], [10, 20, 21, 30], [0, 0, 0, 2])
    assert g.tolist() == [2] and samples.tolist() == [2]
    assert values["p50"].tolist() == pytest.approx([HIST_GAMMA ** 30.5], rel=1e-12)
    # a key space too big for the dense path: the same
    g, values, samples = _gq([0, 10**7, 10**7], [10, 20, 21], [1, 0, 0])
    assert g.tolist() == [0] and samples.tolist() == [1]
    # nothing but empty rows: nothing, with the types of a result
    for n in ([0, 0], []):
        g, values, samples = _gq([0, 1][:len(n)], [10, 20][:len(n)], n)
        assert len(g) == len(samples) == len(values["p50"]) == len(values["p95"]) == 0
        assert g.dtype == np.int64 and samples.dtype == np.int64
        assert values["p50"].dtype == np.float64


def test_group_ids_and_buckets_given_as_floats_are_integers() -> None:
    """Codes that went through pandas (a merge, a NaN) arrive as floats."""
    as_int = _gq([1, 0, 1], [30, 10, 20], [1, 1, 1])
    as_float = _gq([1.0, 0.0, 1.0], [30.0, 10.0, 20.0], [1.0, 1.0, 1.0])
    assert as_float[0].tolist() == [0, 1] and as_float[0].dtype == np.int64
    assert as_float[2].dtype == np.int64
    for name in ("p50", "p95"):
        assert np.array_equal(as_int[1][name], as_float[1][name])


def test_the_maximum_stays_in_the_top_bucket_despite_rounding() -> None:
    """Fractional (sampling-weighted) counts: p·total may round past a group's last count.

    The quantile stays within the bucket that holds the group's top rank; it never reaches
    into the next group nor past the bucket's upper edge.
    """
    g, values, samples = group_quantiles(np.array([0, 1, 1, 1]), np.array([5, 10, 11, 12]),
                                         np.array([123456.789, 1.1, 3.3, 1e-05]), (1.0,))
    assert g.tolist() == [0, 1]
    assert values["p100"].tolist() == [HIST_GAMMA ** 6, HIST_GAMMA ** 13]
    g, values, _ = group_quantiles(np.array([0, 0, 1, 1]), np.array([1, 2, 3, 4]),
                                   np.array([0.3, 1.1, 1.1, 1.1]), (1.0,))
    assert values["p100"].tolist() == [HIST_GAMMA ** 3, HIST_GAMMA ** 5]


def test_percentiles_from_hist_sorted_by_key_with_the_asked_quantiles() -> None:
    hist = pd.DataFrame({"model": ["b", "a", "b", "c"], "bucket": [30, 10, 20, 40],
                         "n": [1, 1, 1, 0]})
    got = percentiles_from_hist(hist, ["model"], ps=(0.5, 0.9))
    assert list(got.columns) == ["model", "p50", "p90", "samples"]
    assert got["model"].tolist() == ["a", "b"] and list(got.index) == [0, 1]
    assert got["p50"].tolist() == pytest.approx([HIST_GAMMA ** 10.5, HIST_GAMMA ** 21],
                                                rel=1e-12)
    assert got["p90"].tolist() == pytest.approx([HIST_GAMMA ** 10.9, HIST_GAMMA ** 30.8],
                                                rel=1e-12)
    assert got["samples"].tolist() == [1, 2]
    whole = percentiles_from_hist(hist, [], ps=(0.9,))
    assert list(whole.columns) == ["p90", "samples"] and list(whole.index) == [0]
    assert whole["samples"].tolist() == [3]


def test_percentiles_from_hist_with_categorical_keys_lists_only_groups_present() -> None:
    """Categorical key columns (DuckDB ENUMs) with unused categories: no phantom groups."""
    model = pd.Categorical(["b", "a", "b"], categories=["z", "b", "a", "unused"])
    day = pd.Categorical(["d2", "d1", "d2"], categories=["d1", "d2", "d3"])
    hist = pd.DataFrame({"model": model, "day": day, "bucket": [30, 10, 20], "n": [1, 1, 1]})
    got = percentiles_from_hist(hist, ["model", "day"])
    assert got[["model", "day"]].astype(str).values.tolist() == [["b", "d2"], ["a", "d1"]]
    assert got["samples"].tolist() == [2, 1]
    assert got["p50"].tolist() == pytest.approx([HIST_GAMMA ** 21, HIST_GAMMA ** 10.5],
                                                rel=1e-12)


def test_percentiles_from_a_histogram_held_in_object_columns() -> None:
    """Buckets and counts as Python ints in object columns (a frame built with dtype=object)."""
    rows = [("b", 30, 1), ("a", 10, 1), ("b", 20, 1)]
    typed = pd.DataFrame(rows, columns=["model", "bucket", "n"])
    objects = pd.DataFrame(rows, columns=["model", "bucket", "n"], dtype=object)
    assert objects["bucket"].dtype == object and objects["n"].dtype == object
    expected = percentiles_from_hist(typed, ["model"])
    pd.testing.assert_frame_equal(percentiles_from_hist(objects, ["model"]), expected)
    assert expected["samples"].tolist() == [1, 2]
