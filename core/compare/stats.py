"""Statistics behind a comparison's verdicts: intervals, paired bootstrap, winners, Pareto.

The rule the page follows: a model is called better only when a paired bootstrap over the
same items puts the 95% interval of the difference away from zero. Everything is pure and
deterministic given a seed; resampling is vectorised with numpy (no scipy).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np

from core.compare.spec import TYPE_WEIGHTS

DEFAULT_RESAMPLES = 2000
# Cap on the elements of one (resamples × items) index block, to bound memory for big runs.
_BLOCK_ELEMENTS = 2_000_000


def z_value(confidence: float = 0.95) -> float:
    """Two-sided normal quantile, e.g. 1.96 for 95%."""
    if not 0.0 < confidence < 1.0:
        raise ValueError("confidence must be in (0, 1)")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


# ---------------------------------------------------------------------------------------------
# Proportions and percentiles
# ---------------------------------------------------------------------------------------------


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion.

    Chosen over the normal (Wald) interval because it stays inside [0, 1] and is not
    degenerate at 0/n or n/n, which is exactly where a success rate over few calls sits.
    With n = 0 nothing is known: (0, 1).
    """
    if n < 0 or successes < 0 or successes > n:
        raise ValueError("need 0 ≤ successes ≤ n")
    if n == 0:
        return 0.0, 1.0
    z = z_value(confidence)
    p = successes / n
    z2n = z * z / n
    centre = (p + z2n / 2) / (1 + z2n)
    half = z / (1 + z2n) * math.sqrt(p * (1 - p) / n + z2n / (4 * n))
    low, high = max(0.0, centre - half), min(1.0, centre + half)
    # Guard rounding so the interval always contains p̂ (it does mathematically).
    return min(low, p), max(high, p)


@dataclass(frozen=True)
class Proportion:
    successes: int
    n: int
    rate: float | None
    low: float
    high: float


def proportion(successes: int, n: int, confidence: float = 0.95) -> Proportion:
    """A rate (None when n = 0) with its Wilson interval."""
    low, high = wilson_interval(successes, n, confidence)
    return Proportion(successes, n, successes / n if n else None, low, high)


def _finite(values: Iterable[float | None]) -> np.ndarray:
    arr = np.asarray([np.nan if v is None else v for v in values], dtype=np.float64)
    return arr[np.isfinite(arr)]


def percentile(values: Iterable[float | None], q: float) -> float | None:
    """The q-th percentile (0–100, linear interpolation as DuckDB's quantile_cont) of the
    finite values; None when there are none."""
    arr = _finite(values)
    if arr.size == 0:
        return None
    return float(np.percentile(arr, q))


def latency_summary(values: Iterable[float | None]) -> dict[str, float | None]:
    """Mean, p50 and p95 of the finite values (failed calls pass None and are skipped)."""
    arr = _finite(values)
    if arr.size == 0:
        return {"mean": None, "p50": None, "p95": None, "n": 0}
    p50, p95 = np.percentile(arr, [50, 95])
    return {"mean": float(arr.mean()), "p50": float(p50), "p95": float(p95), "n": int(arr.size)}


# ---------------------------------------------------------------------------------------------
# Bootstrap
# ---------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def t_two_sided(confidence: float, df: int) -> float:
    """Student-t quantile t such that P(|T| ≤ t) = confidence, for integer df ≥ 1.

    Exact: bisection on the closed-form CDF for integer degrees of freedom
    (Abramowitz & Stegun 26.7.3–4); the normal quantile beyond 1000 df.
    """
    if df < 1:
        raise ValueError("df must be at least 1")
    if df > 1000:
        return z_value(confidence)

    def coverage(t: float) -> float:  # P(|T| ≤ t)
        theta = math.atan(t / math.sqrt(df))
        c2, sin = math.cos(theta) ** 2, math.sin(theta)
        if df % 2:
            term, total = 1.0, 0.0
            if df > 1:
                term = total = math.cos(theta)
                for k in range(3, df - 1, 2):
                    term *= c2 * (k - 1) / k
                    total += term
            return 2 / math.pi * (theta + sin * total)
        term = total = 1.0
        for k in range(2, df - 1, 2):
            term *= c2 * (k - 1) / k
            total += term
        return sin * total

    lo, hi = 0.0, 1.0
    while coverage(hi) < confidence:
        hi *= 2
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if coverage(mid) < confidence else (lo, mid)
    return (lo + hi) / 2


def _expanded_quantiles(means: np.ndarray, n: int, confidence: float) -> tuple[float, float]:
    """Expanded percentile interval (Hesterberg 2015): take the bootstrap quantiles at
    α'/2 = Φ(−√(n/(n−1)) · t_{n−1}) instead of α/2.

    The plain percentile bootstrap is too narrow for small n (it uses the n-denominator
    variance and normal tails): on 12 items it covers a true difference about 90% of the
    time for a nominal 95%; the expansion brings that back to ~95% and vanishes as n grows.
    """
    t = t_two_sided(confidence, n - 1)
    tail = NormalDist().cdf(-math.sqrt(n / (n - 1)) * t)
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high)


def _bootstrap_means(values: np.ndarray, n_resamples: int, seed: int | None) -> np.ndarray:
    """Means of ``n_resamples`` resamples (with replacement) of ``values``, in blocks."""
    n = values.size
    rng = np.random.default_rng(seed)
    rows = max(1, _BLOCK_ELEMENTS // max(n, 1))
    out = np.empty(n_resamples, dtype=np.float64)
    for start in range(0, n_resamples, rows):
        stop = min(n_resamples, start + rows)
        idx = rng.integers(0, n, size=(stop - start, n))
        out[start:stop] = values[idx].mean(axis=1)
    return out


@dataclass(frozen=True)
class MeanCI:
    mean: float | None
    low: float | None
    high: float | None
    n: int
    confidence: float = 0.95


def bootstrap_mean_ci(
    values: Iterable[float | None],
    *,
    confidence: float = 0.95,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int | None = 0,
) -> MeanCI:
    """Bootstrap interval of a mean (e.g. accuracy over items), expanded percentile method.

    Percentile bootstrap because item scores are bounded and skewed (many 0s and 1s), where
    a t interval can leave [0, 1]; expanded so it keeps its coverage on a dozen items.
    Non-finite values are dropped; n < 2 gives no interval.
    """
    arr = _finite(values)
    n = int(arr.size)
    if n == 0:
        return MeanCI(None, None, None, 0, confidence)
    mean = float(arr.mean())
    if n < 2:
        return MeanCI(mean, None, None, n, confidence)
    low, high = _expanded_quantiles(_bootstrap_means(arr, n_resamples, seed), n, confidence)
    return MeanCI(mean, low, high, n, confidence)


@dataclass(frozen=True)
class PairedDiff:
    """Mean of a − b over shared items, its bootstrap interval and what it would take.

    ``n_needed`` is the estimated total number of items for the observed difference to
    become significant (None when already significant or when the difference is 0);
    ``additional_needed`` is n_needed − n.
    """

    mean_diff: float | None
    low: float | None
    high: float | None
    significant: bool
    n: int
    sd_diff: float | None
    n_needed: int | None
    additional_needed: int | None
    confidence: float = 0.95

    @property
    def excludes_zero(self) -> bool:
        return self.significant


MIN_PAIRED_ITEMS = 6


def _aligned(a: Iterable[float | None], b: Iterable[float | None]) -> np.ndarray:
    xa = np.asarray([np.nan if v is None else v for v in a], dtype=np.float64)
    xb = np.asarray([np.nan if v is None else v for v in b], dtype=np.float64)
    if xa.shape != xb.shape:
        raise ValueError("paired samples must have the same length (one value per item)")
    keep = np.isfinite(xa) & np.isfinite(xb)
    return xa[keep] - xb[keep]


def paired_bootstrap(
    a: Iterable[float | None],
    b: Iterable[float | None],
    *,
    confidence: float = 0.95,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int | None = 0,
    min_items: int = MIN_PAIRED_ITEMS,
) -> PairedDiff:
    """Paired bootstrap of mean(a − b) over the same items (scores, latencies, costs), with
    the expanded percentile interval (see ``_expanded_quantiles``).

    Pairing: items are resampled together, so item difficulty cancels and the interval is
    far tighter than comparing two independent means. Items where either value is missing
    or non-finite are dropped.

    Significance: the interval excludes zero and there are at least ``min_items`` pairs.
    Below 6 items even a clean sweep is not significant by a two-sided sign test
    (5 of 5 gives p = 0.0625) although the bootstrap interval collapses to a point.

    Samples needed: the bootstrap half-width h shrinks like 1/√n, so if the observed mean
    difference d held, the interval would just exclude zero at
    n_needed = ⌈n · (h / |d|)²⌉ (≈ (z·sd/|d|)² under normality); at least
    ``min_items`` and n + 1. Slightly conservative for small n, whose t-based expansion
    shrinks as n grows. None when d = 0 (no sample size can show a difference of zero).
    """
    d = _aligned(a, b)
    n = int(d.size)
    if n == 0:
        return PairedDiff(None, None, None, False, 0, None, None, None, confidence)
    mean = float(d.mean())
    sd = float(d.std(ddof=1)) if n > 1 else None
    if n < 2:
        needed: int | None = None if mean == 0 else max(min_items, 2)
        return PairedDiff(mean, None, None, False, n, sd, needed,
                          None if needed is None else needed - n, confidence)  # fmt: skip
    low, high = _expanded_quantiles(_bootstrap_means(d, n_resamples, seed), n, confidence)
    excludes = low > 0 or high < 0
    significant = excludes and n >= min_items
    needed = None
    if not significant and mean != 0:
        half = (high - low) / 2
        est = math.ceil(n * (half / abs(mean)) ** 2) if half > 0 else n
        needed = max(est, min_items, n + 1)
    return PairedDiff(
        mean, low, high, significant, n, sd, needed,
        None if needed is None else needed - n, confidence,
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Winner
# ---------------------------------------------------------------------------------------------

ItemValues = Mapping[str, float | None | Mapping[str, float | None]]


@dataclass(frozen=True)
class WinnerDecision:
    """``winner`` is set only when the best observed model beats every other one
    significantly; ``comparisons`` holds best − other for each other model."""

    winner: str | None
    best_observed: str | None
    metric: str
    higher_is_better: bool
    n_items: int
    means: dict[str, float]
    comparisons: dict[str, PairedDiff] = field(default_factory=dict)
    n_needed: int | None = None
    additional_needed: int | None = None
    message: str = ""

    @property
    def significant(self) -> bool:
        return self.winner is not None


def _value(entry: object, metric: str) -> float:
    if isinstance(entry, Mapping):
        entry = entry.get(metric)
    if entry is None:
        return math.nan
    try:
        return float(entry)  # type: ignore[arg-type]  # anything stored; bad values -> nan
    except (TypeError, ValueError):
        return math.nan


def declare_winner(
    scores_by_model: Mapping[str, ItemValues],
    items: Sequence[str],
    metric: str = "score",
    higher_is_better: bool = True,
    seed: int | None = 0,
    *,
    confidence: float = 0.95,
    n_resamples: int = DEFAULT_RESAMPLES,
    min_items: int = MIN_PAIRED_ITEMS,
) -> WinnerDecision:
    """Name the best model on ``metric`` only if it is significantly better than each other.

    ``scores_by_model[model][item]`` is a number or a mapping holding ``metric``
    (average iterations per item first). Only items every model has a finite value for are
    used, so all comparisons share the same items. The best observed model is compared with
    each other model by :func:`paired_bootstrap`; requiring all of those intervals to exclude
    zero is an intersection–union test, which keeps the false-winner rate at or below
    1 − confidence without a multiple-comparison correction. Otherwise the message says there
    is no significant difference and ``n_needed`` is the largest per-pair estimate (None
    when some observed difference is exactly zero).
    """
    models = list(scores_by_model)
    base: dict[str, Any] = dict(metric=metric, higher_is_better=higher_is_better)
    if not models:
        return WinnerDecision(None, None, n_items=0, means={}, message="no models", **base)
    matrix = np.array(
        [[_value(scores_by_model[m].get(it), metric) for it in items] for m in models],
        dtype=np.float64,
    ).reshape(len(models), len(items))
    keep = np.isfinite(matrix).all(axis=0)
    matrix = matrix[:, keep]
    n = int(matrix.shape[1])
    if n == 0:
        return WinnerDecision(
            None, None, n_items=0, means={}, message="no items scored by every model", **base
        )
    means = {m: float(matrix[i].mean()) for i, m in enumerate(models)}
    sign = 1.0 if higher_is_better else -1.0
    best_i = max(range(len(models)), key=lambda i: (sign * matrix[i].mean(), -i))
    best = models[best_i]
    if len(models) == 1:
        return WinnerDecision(
            best, best, n_items=n, means=means, message="only one model compared", **base
        )
    comparisons: dict[str, PairedDiff] = {}
    for i, m in enumerate(models):
        if i != best_i:
            comparisons[m] = paired_bootstrap(
                matrix[best_i], matrix[i], confidence=confidence, n_resamples=n_resamples,
                seed=seed, min_items=min_items,
            )  # fmt: skip
    pct = f"{confidence:.0%}"
    if all(c.significant for c in comparisons.values()):
        return WinnerDecision(
            best, best, n_items=n, means=means, comparisons=comparisons,
            message=f"{best} is best on {metric}: the {pct} interval of its difference "
            f"with every other model excludes zero ({n} items)",
            **base,
        )  # fmt: skip
    losers = [m for m, c in comparisons.items() if not c.significant]
    needs = [comparisons[m].n_needed for m in losers]
    n_needed = None if any(x is None for x in needs) else max(needs)  # type: ignore[type-var]
    close = ", ".join(losers)
    msg = f"no significant difference on {metric} between {best} and {close} ({n} items)"
    if n_needed is not None:
        msg += f"; about {n_needed - n} more items would be needed if the observed gap holds"
    else:
        msg += "; the observed difference is zero, so more items would not settle it"
    return WinnerDecision(
        None, best, n_items=n, means=means, comparisons=comparisons, n_needed=n_needed,
        additional_needed=None if n_needed is None else n_needed - n, message=msg, **base,
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Pareto frontier, composite ranking, cost per accurate result
# ---------------------------------------------------------------------------------------------

Point = tuple[float, float]


def _points(
    points: Mapping[str, Point] | Iterable[tuple[str, float, float]],
) -> list[tuple[str, float, float]]:
    rows: list[tuple[Any, ...]] = (
        [(k, v[0], v[1]) for k, v in points.items()]
        if isinstance(points, Mapping)
        else [tuple(p) for p in points]
    )
    out: list[tuple[str, float, float]] = []
    for name, raw_acc, raw_cost in rows:
        if raw_acc is None or raw_cost is None:
            continue
        acc, cost = float(raw_acc), float(raw_cost)
        if math.isfinite(acc) and math.isfinite(cost):
            out.append((str(name), acc, cost))
    return out


def pareto_frontier(
    points: Mapping[str, Point] | Iterable[tuple[str, float, float]],
) -> list[str]:
    """Models not dominated on (accuracy ↑, cost ↓), ordered by increasing cost.

    q dominates p when q is at least as accurate and at most as costly, and strictly better
    on one; identical points do not dominate each other, so both stay. Missing or
    non-finite points are left out. O(n log n) sweep over cost.
    """
    rows = sorted(_points(points), key=lambda r: (r[2], -r[1]))
    frontier: list[str] = []
    best_acc = -math.inf
    last: tuple[float, float] | None = None
    for name, acc, cost in rows:
        if acc > best_acc:
            frontier.append(name)
            best_acc, last = acc, (acc, cost)
        elif last is not None and (acc, cost) == last:
            frontier.append(name)
    return frontier


# metric → True when higher is better.
METRIC_DIRECTIONS: dict[str, bool] = {
    "accuracy": True,
    "reliability": True,
    "consistency": True,
    "latency": False,
    "cost": False,
}

# Weights of the "best overall" composite per comparison type: the spec's table (one place),
# in metric names (the spec's "speed" is latency here).
COMPARISON_WEIGHTS: dict[str, dict[str, float]] = {
    kind: w.as_metrics() for kind, w in TYPE_WEIGHTS.items()
}


def composite_scores(
    metrics: Mapping[str, Mapping[str, float | None]],
    weights: Mapping[str, float],
    directions: Mapping[str, bool] | None = None,
) -> dict[str, float]:
    """Weighted mean of each model's metrics relative to the best model, in [0, 1].

    On each metric the best model gets 1 and the others their fraction of it: value / best
    when higher is better, best / value when lower is better (twice as slow scores 0.5).
    Differences count in proportion to their size, so a 0.01 accuracy edge cannot outweigh
    a tenfold cost, as it would if every metric were stretched to the full 0-1 range.
    Values below 0 count as 0; a metric on which all models tie gives everyone 1; a model
    missing a metric gets 0 on it. Metrics with no direction, no weight or no value for any
    model are ignored.
    """
    directions = {**METRIC_DIRECTIONS, **(directions or {})}
    models = list(metrics)
    total = {m: 0.0 for m in models}
    weight_sum = 0.0
    for name, w in weights.items():
        if not w or w <= 0 or name not in directions:
            continue
        vals = {m: max(_value(metrics[m].get(name), name), 0.0) for m in models}
        finite = [v for v in vals.values() if math.isfinite(v)]
        if not finite:
            continue
        best = max(finite) if directions[name] else min(finite)
        for m, v in vals.items():
            total[m] += w * relative_to_best(v, best, directions[name])
        weight_sum += w
    if weight_sum == 0:
        return {m: 0.0 for m in models}
    return {m: total[m] / weight_sum for m in models}


def relative_to_best(value: float, best: float, higher_is_better: bool) -> float:
    """A value as a fraction of the best (1 for the best itself; 0 when missing)."""
    if not math.isfinite(value):
        return 0.0
    if value == best:
        return 1.0
    if higher_is_better:
        return value / best if best > 0 else 0.0
    return best / value if value > 0 else 0.0


def _extreme(
    metrics: Mapping[str, Mapping[str, float | None]], name: str, higher: bool
) -> str | None:
    vals = [(m, _value(v.get(name), name)) for m, v in metrics.items()]
    vals = [(m, x) for m, x in vals if math.isfinite(x)]
    if not vals:
        return None
    sign = 1.0 if higher else -1.0
    return max(enumerate(vals), key=lambda t: (sign * t[1][1], -t[0]))[1][0]


@dataclass(frozen=True)
class BestSummary:
    best_overall: str | None
    cheapest: str | None
    fastest: str | None
    most_accurate: str | None
    composite: dict[str, float]


def summarise_best(
    metrics: Mapping[str, Mapping[str, float | None]],
    weights: Mapping[str, float] | str = "comprehensive",
    directions: Mapping[str, bool] | None = None,
) -> BestSummary:
    """Best overall by the composite, plus cheapest (``cost``), fastest (``latency``) and
    most accurate (``accuracy``). Ties go to the model listed first. These are point
    rankings; whether a lead is real is :func:`declare_winner`'s job."""
    w = COMPARISON_WEIGHTS[weights] if isinstance(weights, str) else weights
    comp = composite_scores(metrics, w, directions)
    best = _extreme({m: {"c": s} for m, s in comp.items()}, "c", True) if comp else None
    return BestSummary(
        best_overall=best,
        cheapest=_extreme(metrics, "cost", False),
        fastest=_extreme(metrics, "latency", False),
        most_accurate=_extreme(metrics, "accuracy", True),
        composite=comp,
    )


def cost_per_accurate_result(total_cost: float | None, accurate: int) -> float | None:
    """Total spend divided by accurate answers; None when nothing was accurate (or no cost),
    since "infinite" would be a number the page might sort or chart."""
    if total_cost is None or accurate <= 0:
        return None
    return total_cost / accurate
