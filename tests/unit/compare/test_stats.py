"""Statistics of a comparison: intervals, paired bootstrap (with coverage on simulated data),
winners, the Pareto frontier and the composite ranking."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.compare import stats
from core.compare.stats import (
    COMPARISON_WEIGHTS,
    bootstrap_mean_ci,
    composite_scores,
    cost_per_accurate_result,
    declare_winner,
    latency_summary,
    paired_bootstrap,
    pareto_frontier,
    percentile,
    proportion,
    summarise_best,
    t_two_sided,
    wilson_interval,
    z_value,
)

PROPS = settings(max_examples=120, deadline=None, derandomize=True)
EXPERIMENTS = 200


# --- Wilson ----------------------------------------------------------------------------------


@PROPS
@given(st.integers(0, 5000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
       st.sampled_from([0.8, 0.9, 0.95, 0.99]))  # fmt: skip
def test_wilson_within_unit_interval_and_contains_estimate(
    kn: tuple[int, int], conf: float
) -> None:
    k, n = kn
    low, high = wilson_interval(k, n, conf)
    assert 0.0 <= low <= high <= 1.0
    if n:
        assert low <= k / n <= high


def test_wilson_known_values_and_edges() -> None:
    low, high = wilson_interval(8, 10)
    assert (low, high) == (pytest.approx(0.4902, abs=1e-4), pytest.approx(0.9433, abs=1e-4))
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(0, 10)[1] < 0.3
    assert wilson_interval(10, 10)[1] == 1.0
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert z_value(0.95) == pytest.approx(1.959964, abs=1e-6)
    narrow, wide = wilson_interval(80, 100), wilson_interval(8, 10)
    assert narrow[1] - narrow[0] < wide[1] - wide[0]
    with pytest.raises(ValueError):
        wilson_interval(3, 2)
    p = proportion(3, 4)
    assert p.rate == 0.75 and p.low < 0.75 < p.high
    assert proportion(0, 0).rate is None


@pytest.mark.parametrize(
    ("df", "expected"), [(1, 12.7062), (2, 4.3027), (5, 2.5706), (11, 2.2010), (30, 2.0423)]
)
def test_t_quantile_matches_tables(df: int, expected: float) -> None:
    assert t_two_sided(0.95, df) == pytest.approx(expected, abs=1e-4)
    assert t_two_sided(0.99, 10) == pytest.approx(3.1693, abs=1e-4)
    assert t_two_sided(0.95, 10_000) == pytest.approx(z_value(0.95))


def test_wilson_coverage_on_simulated_proportions() -> None:
    rng = np.random.default_rng(7)
    true_p, n = 0.85, 60
    ks = rng.binomial(n, true_p, size=2000)
    covered = np.mean([lo <= true_p <= hi for lo, hi in (wilson_interval(int(k), n) for k in ks)])
    assert 0.92 <= covered <= 0.98


# --- percentiles -----------------------------------------------------------------------------


def test_percentiles_skip_missing_values() -> None:
    vals = [100.0, None, 200.0, math.nan, 300.0, 400.0]
    assert percentile(vals, 50) == 250.0
    assert percentile([], 95) is None and percentile([None], 50) is None
    s = latency_summary(vals)
    assert s["mean"] == 250.0 and s["p50"] == 250.0 and s["n"] == 4
    assert s["p95"] == pytest.approx(np.percentile([100, 200, 300, 400], 95))
    assert latency_summary([None])["p95"] is None


# --- bootstrap of a mean ---------------------------------------------------------------------


def test_bootstrap_mean_ci_is_reproducible_with_a_seed() -> None:
    x = np.random.default_rng(1).uniform(size=80)
    a, b = bootstrap_mean_ci(x, seed=42), bootstrap_mean_ci(x, seed=42)
    assert a == b
    assert bootstrap_mean_ci(x, seed=43) != a
    assert a.low < a.mean < a.high
    assert bootstrap_mean_ci([0.5]).low is None and bootstrap_mean_ci([]).mean is None


def test_bootstrap_blocks_do_not_change_the_result(monkeypatch: pytest.MonkeyPatch) -> None:
    x = np.random.default_rng(2).normal(size=300)
    whole = bootstrap_mean_ci(x, seed=5)
    monkeypatch.setattr(stats, "_BLOCK_ELEMENTS", 1000)  # many small blocks
    assert bootstrap_mean_ci(x, seed=5) == whole


def test_bootstrap_mean_ci_coverage() -> None:
    hits = 0
    for i in range(EXPERIMENTS):
        x = np.random.default_rng(100 + i).binomial(1, 0.7, size=60).astype(float)
        ci = bootstrap_mean_ci(x, seed=i, n_resamples=1000)
        hits += ci.low <= 0.7 <= ci.high
    assert 0.90 <= hits / EXPERIMENTS <= 0.99


# --- paired bootstrap ------------------------------------------------------------------------


def _paired_sample(rng: np.random.Generator, n: int, delta: float) -> tuple[np.ndarray, np.ndarray]:
    """Item difficulty shared by both models (what pairing removes) plus independent noise."""
    difficulty = rng.normal(0.6, 0.25, size=n)
    a = difficulty + delta + rng.normal(0, 0.15, size=n)
    b = difficulty + rng.normal(0, 0.15, size=n)
    return a, b


@pytest.mark.parametrize("n", [12, 50])  # 12 = the sample photo set
def test_paired_interval_covers_a_known_difference_about_95_percent(n: int) -> None:
    delta, covered, significant = 0.05, 0, 0
    for i in range(EXPERIMENTS):
        a, b = _paired_sample(np.random.default_rng(10_000 + n + i), n, delta)
        d = paired_bootstrap(a, b, seed=i)
        covered += d.low <= delta <= d.high
        significant += d.significant
    assert 0.90 <= covered / EXPERIMENTS <= 0.99
    assert significant > 0  # the effect is detectable at this size, sometimes


def test_paired_interval_coverage_on_pass_fail_outcomes() -> None:
    """0/1 item scores: model A right on 80% of items, B on 70%, correlated through items."""
    covered = 0
    for i in range(EXPERIMENTS):
        rng = np.random.default_rng(20_000 + i)
        u = rng.uniform(size=80)  # shared item difficulty
        a = (u < 0.8).astype(float)
        b = ((u < 0.7) ^ (rng.uniform(size=80) < 0.1)).astype(float)
        # truth: P(a) - P(b) = 0.8 - (0.7·0.9 + 0.3·0.1) = 0.14
        d = paired_bootstrap(a, b, seed=i)
        covered += d.low <= 0.14 <= d.high
    assert 0.90 <= covered / EXPERIMENTS <= 0.99


@pytest.mark.parametrize(("n", "models"), [(12, "ab"), (40, "ab"), (40, "abcd")])
def test_no_true_difference_rarely_declares_a_winner(n: int, models: str) -> None:
    false_winners = 0
    for i in range(EXPERIMENTS):
        rng = np.random.default_rng(30_000 + i)
        difficulty = rng.normal(0.6, 0.25, size=n)
        items = [f"item{j}" for j in range(n)]
        scores = {
            m: dict(zip(items, difficulty + rng.normal(0, 0.15, size=n), strict=True))
            for m in models
        }
        decision = declare_winner(scores, items, "score", True, seed=i)
        false_winners += decision.winner is not None
    assert false_winners / EXPERIMENTS <= 0.10


def test_paired_bootstrap_is_reproducible_and_pairs_items() -> None:
    a, b = _paired_sample(np.random.default_rng(3), 30, 0.1)
    assert paired_bootstrap(a, b, seed=9) == paired_bootstrap(a, b, seed=9)
    d = paired_bootstrap(a, b, seed=9)
    assert d.mean_diff == pytest.approx(float(np.mean(a - b)))
    assert d.low <= d.mean_diff <= d.high and d.n == 30
    # Pairing matters: the same values shuffled independently give a far wider interval.
    unpaired = paired_bootstrap(a, np.random.default_rng(0).permutation(b), seed=9)
    assert (unpaired.high - unpaired.low) > 2 * (d.high - d.low)


def test_paired_bootstrap_drops_missing_pairs_and_checks_lengths() -> None:
    d = paired_bootstrap([1.0, None, 3.0, math.nan, 5.0], [0.0, 1.0, 2.0, 3.0, None])
    assert d.n == 2 and d.mean_diff == 1.0
    with pytest.raises(ValueError):
        paired_bootstrap([1.0, 2.0], [1.0])
    empty = paired_bootstrap([], [])
    assert empty.mean_diff is None and not empty.significant


def test_samples_needed_when_not_significant() -> None:
    rng = np.random.default_rng(4)
    a, b = _paired_sample(rng, 20, 0.02)
    d = paired_bootstrap(a, b, seed=1)
    assert not d.significant
    assert d.n_needed is not None and d.n_needed > d.n
    assert d.additional_needed == d.n_needed - d.n
    half = (d.high - d.low) / 2
    assert d.n_needed == max(math.ceil(d.n * (half / abs(d.mean_diff)) ** 2), d.n + 1)
    # Repeating the same items 16 times shrinks the interval ~4x, as the estimate assumes.
    big = paired_bootstrap(np.tile(a, 16), np.tile(b, 16), seed=1)
    assert (big.high - big.low) == pytest.approx((d.high - d.low) / 4, rel=0.25)


def test_zero_effect_needs_no_estimate_and_clear_effect_needs_none() -> None:
    same = paired_bootstrap([0.1, 0.5, 0.9, 0.3, 0.7, 0.2], [0.1, 0.5, 0.9, 0.3, 0.7, 0.2])
    assert same.mean_diff == 0 and not same.significant and same.n_needed is None
    clear = paired_bootstrap(np.ones(30), np.zeros(30))
    assert clear.significant and clear.excludes_zero and clear.n_needed is None


def test_a_clean_sweep_on_too_few_items_is_not_significant() -> None:
    few = paired_bootstrap([1, 1, 1, 1, 1], [0, 0, 0, 0, 0])
    assert few.low == few.high == 1.0 and not few.significant
    assert few.n_needed == 6 and few.additional_needed == 1
    assert paired_bootstrap([1] * 6, [0] * 6).significant


# --- winner ----------------------------------------------------------------------------------


def _items(n: int) -> list[str]:
    return [f"photo{i:02d}" for i in range(n)]


def test_declare_winner_when_best_beats_every_other_model() -> None:
    rng = np.random.default_rng(5)
    items = _items(40)
    difficulty = rng.uniform(0.3, 0.9, size=40)
    scores = {
        "small": dict(zip(items, difficulty - 0.2 + rng.normal(0, 0.05, 40), strict=True)),
        "large": dict(zip(items, difficulty + 0.1 + rng.normal(0, 0.05, 40), strict=True)),
        "medium": dict(zip(items, difficulty + rng.normal(0, 0.05, 40), strict=True)),
    }
    d = declare_winner(scores, items, "f1", True, seed=0)
    assert d.winner == "large" and d.best_observed == "large" and d.significant
    assert set(d.comparisons) == {"small", "medium"}
    assert all(c.low > 0 for c in d.comparisons.values())
    assert "large" in d.message and d.n_items == 40
    assert declare_winner(scores, items, "f1", True, seed=0) == d


def test_declare_winner_lower_is_better_with_metric_mappings() -> None:
    rng = np.random.default_rng(6)
    items = _items(30)
    base = rng.uniform(300, 900, size=30)
    scores = {
        "fast": {it: {"latency_ms": v - 150, "score": 0.5} for it, v in zip(items, base, strict=True)},
        "slow": {it: {"latency_ms": v + rng.normal(0, 20)} for it, v in zip(items, base, strict=True)},
    }  # fmt: skip
    d = declare_winner(scores, items, "latency_ms", higher_is_better=False, seed=1)
    assert d.winner == "fast"
    assert d.comparisons["slow"].high < 0  # fast − slow is negative: faster
    assert d.means["fast"] < d.means["slow"]


def test_no_significant_difference_reports_samples_needed() -> None:
    rng = np.random.default_rng(8)
    items = _items(12)
    difficulty = rng.uniform(0.2, 0.9, size=12)
    scores = {
        "a": dict(zip(items, difficulty + 0.03 + rng.normal(0, 0.1, 12), strict=True)),
        "b": dict(zip(items, difficulty + rng.normal(0, 0.1, 12), strict=True)),
    }
    d = declare_winner(scores, items, seed=2)
    assert d.winner is None and d.best_observed in {"a", "b"}
    assert "no significant difference" in d.message
    assert d.n_needed is not None and d.additional_needed == d.n_needed - 12
    assert str(d.additional_needed) in d.message


def test_declare_winner_uses_only_items_every_model_has() -> None:
    items = _items(10)
    scores = {
        "a": {it: 1.0 for it in items},
        "b": {**{it: 0.0 for it in items[:8]}, items[8]: None},
    }
    d = declare_winner(scores, items)
    assert d.n_items == 8 and d.winner == "a"
    tie = declare_winner({"a": {"x": 1.0}, "b": {"x": 1.0}}, ["x"])
    assert tie.winner is None and tie.n_needed is None and "zero" in tie.message


def test_declare_winner_degenerate_inputs() -> None:
    assert declare_winner({}, ["x"]).winner is None
    solo = declare_winner({"only": {"x": 0.5}}, ["x"])
    assert solo.winner == "only" and "one model" in solo.message
    assert declare_winner({"a": {}, "b": {}}, ["x"]).message == "no items scored by every model"


# --- Pareto ----------------------------------------------------------------------------------


def _brute_force_frontier(points: dict[str, tuple[float, float]]) -> set[str]:
    def dominates(q: tuple[float, float], p: tuple[float, float]) -> bool:
        return q[0] >= p[0] and q[1] <= p[1] and (q[0] > p[0] or q[1] < p[1])

    return {n for n, p in points.items() if not any(dominates(q, p) for q in points.values())}


@PROPS
@given(
    st.dictionaries(
        st.text(alphabet="abcdefgh", min_size=1, max_size=3),
        st.tuples(st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0]), st.integers(0, 5).map(float)),
        max_size=12,
    )
)
def test_pareto_frontier_matches_brute_force(points: dict[str, tuple[float, float]]) -> None:
    frontier = pareto_frontier(points)
    assert set(frontier) == _brute_force_frontier(points)
    assert len(frontier) == len(set(frontier))
    costs = [points[n][1] for n in frontier]
    accs = [points[n][0] for n in frontier]
    assert costs == sorted(costs) and accs == sorted(accs)  # cheaper is less accurate


def test_pareto_frontier_examples() -> None:
    pts = {"cheap": (0.6, 0.001), "pricey": (0.9, 0.02), "bad": (0.5, 0.01), "twin": (0.6, 0.001)}
    assert pareto_frontier(pts) == ["cheap", "twin", "pricey"]
    assert pareto_frontier([("a", 0.5, 1.0), ("b", None, 0.1), ("c", math.nan, 0.0)]) == ["a"]
    assert pareto_frontier({}) == []


# --- composite, best overall, cost per accurate result ---------------------------------------

METRICS = {
    "flash": {"accuracy": 0.70, "latency": 400.0, "cost": 0.0002, "reliability": 0.99},
    "pro": {"accuracy": 0.90, "latency": 1500.0, "cost": 0.0050, "reliability": 0.97},
    "mini": {"accuracy": 0.80, "latency": 700.0, "cost": 0.0010, "reliability": 0.95},
}


def test_composite_scores_each_metric_relative_to_the_best() -> None:
    only_acc = composite_scores(METRICS, {"accuracy": 1.0})
    assert only_acc == {"flash": pytest.approx(0.7 / 0.9), "pro": 1.0,
                        "mini": pytest.approx(0.8 / 0.9)}
    only_cost = composite_scores(METRICS, {"cost": 2.0})  # lower is better: best / value
    assert only_cost == {"flash": 1.0, "pro": pytest.approx(0.04), "mini": pytest.approx(0.2)}
    mixed = composite_scores(METRICS, {"accuracy": 1.0, "latency": 1.0})
    assert mixed["flash"] == pytest.approx((0.7 / 0.9 + 1) / 2)
    assert mixed["pro"] == pytest.approx((1 + 400 / 1500) / 2)
    # differences count in proportion: a 1-point accuracy edge does not beat a 10x cost
    close = {"a": {"accuracy": 0.91, "cost": 0.01}, "b": {"accuracy": 0.90, "cost": 0.001}}
    comp = composite_scores(close, {"accuracy": 0.6, "cost": 0.4})
    assert comp["b"] > comp["a"]
    free = composite_scores({"local": {"cost": 0.0}, "paid": {"cost": 0.002}}, {"cost": 1})
    assert free == {"local": 1.0, "paid": 0.0}
    tie = composite_scores({"a": {"accuracy": 0.5}, "b": {"accuracy": 0.5}}, {"accuracy": 1})
    assert tie == {"a": 1.0, "b": 1.0}
    missing = composite_scores({"a": {"accuracy": 0.5}, "b": {}}, {"accuracy": 1})
    assert missing == {"a": 1.0, "b": 0.0}
    assert composite_scores(METRICS, {"unknown": 1.0}) == dict.fromkeys(METRICS, 0.0)


@PROPS
@given(
    st.dictionaries(
        st.sampled_from(["m1", "m2", "m3", "m4"]),
        st.fixed_dictionaries(
            {k: st.floats(0, 1e4) for k in ("accuracy", "latency", "cost", "reliability")}
        ),
        min_size=1,
    ),
    st.sampled_from(sorted(COMPARISON_WEIGHTS)),
)
def test_composite_scores_are_fractions(metrics: dict, kind: str) -> None:
    comp = composite_scores(metrics, COMPARISON_WEIGHTS[kind])
    assert set(comp) == set(metrics)
    assert all(-1e-12 <= v <= 1 + 1e-12 for v in comp.values())


def test_summarise_best_by_comparison_type() -> None:
    s = summarise_best(METRICS, "comprehensive")
    assert s.cheapest == "flash" and s.fastest == "flash" and s.most_accurate == "pro"
    assert s.best_overall == max(s.composite, key=s.composite.get)
    assert summarise_best(METRICS, "accuracy").best_overall == "pro"
    assert summarise_best(METRICS, "cost").best_overall == "flash"
    assert summarise_best(METRICS, {"reliability": 1.0}).best_overall == "flash"
    empty = summarise_best({}, "performance")
    assert empty.best_overall is None and empty.cheapest is None


def test_cost_per_accurate_result() -> None:
    assert cost_per_accurate_result(1.5, 3) == 0.5
    assert cost_per_accurate_result(1.5, 0) is None
    assert cost_per_accurate_result(None, 3) is None
