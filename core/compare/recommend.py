"""Recommendations from a finished comparison: which model to use, why, how sure, at what cost.

Seed 000 asks for ``recommendations: {modelId, reason, confidence, tradeoffs[]}``. Each one
here names a model and a role:

* ``best overall`` — the best model by the comparison type's weights;
* ``cheaper`` — a model that costs clearly less per accurate result than the best overall
  without a significant loss of accuracy;
* ``faster`` — the same for p95 latency;
* ``most accurate`` — when the accuracy leader is significant and is not the best overall;
* ``best for <feature>`` — when the run covered several features, the best model for each.

**Confidence** is not a feeling: the items are resampled with replacement (a bootstrap over
the same photos and prompts for every model, so item difficulty cancels) and the confidence
is the share of resamples in which the recommendation still holds — e.g. the recommended
model still comes out best on the weighted composite. 0.5 with two models means a coin toss.

**Trade-offs** list what the recommended model gives up against the others, in numbers, and
say whether an accuracy gap is significant (paired bootstrap, 95%).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core.compare.scoring import consistency
from core.compare.spec import TYPE_DESCRIPTIONS, ComparisonSpec
from core.compare.stats import METRIC_DIRECTIONS, paired_bootstrap

N_RESAMPLES = 1000
CHEAPER_RATIO = 0.8  # an alternative must cost at most 80% of the best per accurate result
FASTER_RATIO = 0.75  # ... or have at most 75% of its p95 latency
ACCURACY_MARGIN = 0.05  # "no worse" in a resample: within 0.05 of the best's accuracy
PHOTO_FEATURE = "photo_analysis"


@dataclass(frozen=True)
class Recommendation:
    model: str  # the compared model's label (provider/model or its label)
    kind: str  # best overall | cheaper | faster | most accurate | best for <feature>
    reason: str
    confidence: float  # 0-1, share of bootstrap resamples in which this still holds
    tradeoffs: list[str] = field(default_factory=list)
    feature: str | None = None


@dataclass(frozen=True)
class _Items:
    """Per-model, per-item figures (models × items), the unit the bootstrap resamples."""

    labels: list[str]
    items: list[str]
    score: np.ndarray  # mean score over iterations (nan: unscored)
    latency: np.ndarray  # mean latency of successful calls (nan: none)
    cost: np.ndarray  # summed cost
    calls: np.ndarray
    ok: np.ndarray
    accurate: np.ndarray
    consistency: np.ndarray  # agreement across iterations (nan: < 2 answers)

    def subset(self, cols: Sequence[int]) -> _Items:
        c = list(cols)
        return _Items(self.labels, [self.items[i] for i in c], self.score[:, c],
                      self.latency[:, c], self.cost[:, c], self.calls[:, c], self.ok[:, c],
                      self.accurate[:, c], self.consistency[:, c])


def answer_outputs(group: pd.DataFrame) -> list:
    """A model's answers to one item across iterations, as consistency compares them: the
    tag names when the provider returned tags (Cloud Vision), else the text."""
    out = []
    for tags, text in zip(group["tags_json"], group["output_text"], strict=True):
        parsed = json.loads(tags) if isinstance(tags, str) and tags else None
        out.append([t.get("name") if isinstance(t, dict) else t for t in parsed]
                   if parsed else text)
    return out


def _item_table(results: pd.DataFrame, labels: Mapping[str, str]) -> _Items:
    items = sorted(results["item_id"].unique()) if not results.empty else []
    pos = {it: j for j, it in enumerate(items)}
    shape = (len(labels), len(items))
    score, latency, cons = (np.full(shape, np.nan) for _ in range(3))
    cost, calls, ok, accurate = (np.zeros(shape) for _ in range(4))
    for i, key in enumerate(labels):
        rows = results[results["model_key"] == key]
        for item, g in rows.groupby("item_id"):
            j = pos[item]
            good = g[g["status"] == "ok"]
            scores = g["score"].dropna()
            score[i, j] = scores.mean() if len(scores) else np.nan
            latency[i, j] = good["duration_ms"].mean() if len(good) else np.nan
            cost[i, j] = g["cost_usd"].fillna(0).sum()
            calls[i, j], ok[i, j] = len(g), len(good)
            accurate[i, j] = (g["bucket"] == "accurate").sum()
            if len(good) > 1:
                cons[i, j] = consistency(answer_outputs(good))
    return _Items(list(labels.values()), items, score, latency, cost, calls, ok, accurate,
                  cons)


def _nan_quantile(x: np.ndarray, q: float) -> np.ndarray:
    """``np.nanquantile(x, q, axis=-1)`` (linear), vectorised: numpy's loops over every
    slice, which is most of the bootstrap's time."""
    s = np.sort(x, axis=-1)  # NaN sorts last
    k = np.isfinite(s).sum(axis=-1)
    pos = q * np.maximum(k - 1, 0)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, np.maximum(k - 1, 0))
    a = np.take_along_axis(s, lo[..., None], axis=-1)[..., 0]
    b = np.take_along_axis(s, hi[..., None], axis=-1)[..., 0]
    return np.where(k > 0, a + (b - a) * (pos - lo), np.nan)


def _metrics(t: _Items, idx: np.ndarray) -> dict[str, np.ndarray]:
    """Each metric for every model (rows) and resample (columns); ``idx`` is resamples ×
    items. The definitions follow the analysis: accuracy is the mean item score, latency the
    p95, cost the cost per accurate result, reliability the success rate."""
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        accurate = t.accurate[:, idx].sum(axis=2)
        calls = t.calls[:, idx].sum(axis=2)
        return {
            "accuracy": np.nanmean(t.score[:, idx], axis=2),
            "latency": _nan_quantile(t.latency[:, idx], 0.95),
            "cost": np.where(accurate > 0, t.cost[:, idx].sum(axis=2) / accurate, np.nan),
            "reliability": np.where(calls > 0, t.ok[:, idx].sum(axis=2) / calls, np.nan),
            "consistency": np.nanmean(t.consistency[:, idx], axis=2),
        }


def _composite(metrics: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> np.ndarray:
    """:func:`core.compare.stats.composite_scores`, vectorised over resamples (columns)."""
    some = next(iter(metrics.values()))
    total = np.zeros_like(some)
    weight_sum = np.zeros(some.shape[1])
    for name, w in weights.items():
        if not w or w <= 0 or name not in metrics:
            continue
        x = np.maximum(metrics[name], 0.0)
        finite = np.isfinite(x)
        any_finite = finite.any(axis=0)
        higher = METRIC_DIRECTIONS[name]
        best = (np.where(finite, x, -np.inf).max(axis=0) if higher
                else np.where(finite, x, np.inf).min(axis=0))
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = x / best if higher else best / x
        norm = np.where(x == best, 1.0, np.where(np.isfinite(ratio), ratio, 0.0))
        norm = np.where(finite, norm, 0.0)
        total += w * norm * any_finite
        weight_sum += w * any_finite
    return np.divide(total, weight_sum, out=np.zeros_like(total), where=weight_sum > 0)


def _resamples(n_items: int, n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n_items, size=(n, n_items))


def _pct(x: float) -> str:
    return f"{x:.0%}"


def _money(x: float | None) -> str:
    return "—" if x is None or not np.isfinite(x) else f"${x:,.5f}"


def _accuracy_gap(t: _Items, a: int, b: int, seed: int) -> tuple[float | None, bool, str]:
    """mean(a − b) of item scores over shared items, whether it is significant (paired
    bootstrap, 95%), and the difference with its interval as text."""
    d = paired_bootstrap(t.score[a], t.score[b], seed=seed)
    if d.mean_diff is None:
        return None, False, "no shared scored items"
    if d.low is None or d.high is None:
        return d.mean_diff, False, f"{d.mean_diff:+.2f}"
    return d.mean_diff, d.significant, (f"{d.mean_diff:+.2f}, 95% CI {d.low:+.2f} to "
                                        f"{d.high:+.2f}")


def _tradeoffs(t: _Items, full: dict[str, np.ndarray], r: int, seed: int) -> list[str]:
    """What model ``r`` gives up against the best other model on each measure."""
    out: list[str] = []
    labels = t.labels
    others = [i for i in range(len(labels)) if i != r]
    if not others:
        return out
    acc = full["accuracy"][:, 0]
    best_acc = max(others, key=lambda i: (np.nan_to_num(acc[i], nan=-1.0), -i))
    if np.isfinite(acc[best_acc]) and (not np.isfinite(acc[r]) or acc[best_acc] > acc[r]):
        gap, sig, text = _accuracy_gap(t, r, best_acc, seed)
        if gap is not None and gap < 0:
            out.append(f"{-gap:.2f} less accurate than {labels[best_acc]} ({text}; "
                       + ("significant)" if sig else "not significant)"))
    for name, what, fmt in (("cost", "cost per accurate result", _money),
                            ("latency", "p95 latency", lambda v: f"{v:,.0f} ms")):
        x = full[name][:, 0]
        cands = [i for i in others if np.isfinite(x[i])]
        if not cands:
            continue
        o = min(cands, key=lambda i: x[i])
        if not np.isfinite(x[r]):
            out.append(f"no {what} measured, {labels[o]}: {fmt(x[o])}")
        elif x[r] > 1.1 * x[o] and x[o] > 0:
            out.append(f"{x[r] / x[o]:.1f}× the {what} of {labels[o]} ({fmt(x[r])} vs "
                       f"{fmt(x[o])})")
    rel = full["reliability"][:, 0]
    o = max(others, key=lambda i: np.nan_to_num(rel[i], nan=-1.0))
    if np.isfinite(rel[o]) and np.isfinite(rel[r]) and rel[o] - rel[r] > 0.01:
        out.append(f"success rate {_pct(rel[r])} vs {_pct(rel[o])} for {labels[o]}")
    con = full["consistency"][:, 0]
    o = max(others, key=lambda i: np.nan_to_num(con[i], nan=-1.0))
    if np.isfinite(con[o]) and np.isfinite(con[r]) and con[o] - con[r] > 0.1:
        out.append(f"less consistent across iterations ({con[r]:.2f} vs {con[o]:.2f} for "
                   f"{labels[o]})")
    if not out:
        out.append("none measured: at least as good as every other model on accuracy, cost, "
                   "speed and reliability")
    return out


def _strengths(full: dict[str, np.ndarray], r: int) -> str:
    acc, lat = full["accuracy"][r, 0], full["latency"][r, 0]
    cost, rel = full["cost"][r, 0], full["reliability"][r, 0]
    parts = []
    if np.isfinite(acc):
        parts.append(f"accuracy {acc:.2f}")
    if np.isfinite(lat):
        parts.append(f"p95 {lat:,.0f} ms")
    if np.isfinite(cost):
        parts.append(f"{_money(cost)} per accurate result")
    if np.isfinite(rel):
        parts.append(f"{_pct(rel)} success")
    return ", ".join(parts)


def _resampled(t: _Items, n: int, seed: int) -> dict[str, np.ndarray]:
    """Every metric for every model in each of ``n`` bootstrap resamples of the items: the
    one set of resamples all of a run's confidences are read from."""
    return _metrics(t, _resamples(len(t.items), n, seed))


def _best_share(resampled: Mapping[str, np.ndarray], weights: Mapping[str, float]
                ) -> np.ndarray:
    """Per model, the share of resamples in which it is best on the weighted composite."""
    best = _composite(resampled, weights).argmax(axis=0)  # ties: the first listed
    models, n = next(iter(resampled.values())).shape
    return np.bincount(best, minlength=models) / n


def _alternative(t: _Items, full: dict[str, np.ndarray], m: Mapping[str, np.ndarray],
                 best: int, metric: str, ratio: float, seed: int) -> tuple[int, float] | None:
    """The model clearly better than ``best`` on ``metric`` (cost or latency) without a
    significant loss of accuracy, and the share of resamples in which that holds."""
    x, acc = full[metric][:, 0], full["accuracy"][:, 0]
    cands = []
    for i in range(len(t.labels)):
        if i == best or not np.isfinite(x[i]):
            continue
        if np.isfinite(x[best]) and x[i] > ratio * x[best]:
            continue
        gap, sig, _ = _accuracy_gap(t, i, best, seed)
        if gap is not None and gap < 0 and sig:
            continue  # significantly less accurate: not an alternative
        if not np.isfinite(acc[i]):
            continue
        cands.append(i)
    if not cands:
        return None
    alt = min(cands, key=lambda i: x[i])
    with np.errstate(invalid="ignore"):
        holds = (m[metric][alt] < m[metric][best]) | ~np.isfinite(m[metric][best])
        holds &= m["accuracy"][alt] >= m["accuracy"][best] - ACCURACY_MARGIN
    return alt, float(holds.mean())


Observed = Mapping[str, Mapping[str, float | None]]  # label -> metric -> value


def _observed(labels: Sequence[str], observed: Observed) -> dict[str, np.ndarray]:
    """The analysis's figures as (models × 1) arrays, so texts quote the results table."""
    return {name: np.array([[np.nan if (v := observed.get(lab, {}).get(name)) is None
                             else float(v)] for lab in labels])
            for name in METRIC_DIRECTIONS}


def recommend(results: pd.DataFrame, spec: ComparisonSpec, *, best_overall: str | None,
              observed: Observed, accuracy_winner: str | None = None,
              features: Mapping[str, str] | None = None, seed: int = 0,
              n_resamples: int = N_RESAMPLES) -> list[Recommendation]:
    """The run's recommendations (see the module docstring). ``best_overall``,
    ``accuracy_winner`` and ``observed`` (label -> accuracy, latency = p95 ms, cost = $ per
    accurate result, reliability, consistency) are the analysis's, so page, CLI and export
    agree; ``features`` maps item ids to the feature they test (photos: photo_analysis)."""
    labels = {f"m{i + 1}": ref.display for i, ref in enumerate(spec.models)}
    if len(labels) < 2 or results.empty or best_overall is None \
            or best_overall not in labels.values():
        return []
    t = _item_table(results, labels)
    if not t.items:
        return []
    weights = spec.weights.as_metrics()
    full = _observed(t.labels, observed)
    b = t.labels.index(best_overall)
    resampled = _resampled(t, n_resamples, seed)
    share = _best_share(resampled, weights)
    ctype = spec.comparison_type
    about = TYPE_DESCRIPTIONS[ctype].rstrip(".")
    article = "an" if ctype[0] in "aeiou" else "a"
    reason = (f"Best overall for {article} {ctype} comparison ({about[0].lower()}{about[1:]}): "
              f"{_strengths(full, b)}.")
    if accuracy_winner == best_overall:
        reason += " Its accuracy lead is significant."
    out = [Recommendation(best_overall, "best overall", reason, float(share[b]),
                          _tradeoffs(t, full, b, seed))]
    for metric, kind, ratio, what in (("cost", "cheaper", CHEAPER_RATIO,
                                       "per accurate result"),
                                      ("latency", "faster", FASTER_RATIO, "at p95")):
        alt = _alternative(t, full, resampled, b, metric, ratio, seed)
        if alt is None:
            continue
        i, conf = alt
        x = full[metric][:, 0]
        saving = (f"{1 - x[i] / x[b]:.0%} {'cheaper' if metric == 'cost' else 'faster'} "
                  f"{what} than {best_overall}" if np.isfinite(x[b]) and x[b] > 0 else
                  f"the only one with a measured {metric}")
        gap, _sig, text = _accuracy_gap(t, i, b, seed)
        if gap is None:
            accuracy = "accuracy not comparable (no shared scored items)"
        elif gap >= 0:
            accuracy = f"and at least as accurate (accuracy {text})"
        else:
            accuracy = f"with no significant accuracy loss (accuracy {text})"
        out.append(Recommendation(t.labels[i], kind, f"{t.labels[i]} is {saving}, {accuracy}.",
                                  conf, _tradeoffs(t, full, i, seed)))
    if accuracy_winner and accuracy_winner != best_overall and accuracy_winner in t.labels:
        w = t.labels.index(accuracy_winner)
        acc = np.nan_to_num(resampled["accuracy"], nan=-1.0)
        out.append(Recommendation(
            accuracy_winner, "most accurate",
            f"Significantly more accurate than every other model ({_strengths(full, w)}); "
            "choose it where mistakes cost more than the model does.",
            float((acc.argmax(axis=0) == w).mean()), _tradeoffs(t, full, w, seed)))
    out += _per_feature(t, results, labels, spec, features, weights, n_resamples, seed)
    return out


def _calls_observed(results: pd.DataFrame, labels: Mapping[str, str], t: _Items
                    ) -> dict[str, np.ndarray]:
    """Call-level figures of a subset of items, defined as the analysis defines them (p95 of
    call latencies, not of item means), so a feature's texts read like the results table."""
    rows = results[results["item_id"].isin(t.items)]
    out = _metrics(t, np.arange(len(t.items))[None, :])
    for i, key in enumerate(labels):
        ok = rows[(rows["model_key"] == key) & (rows["status"] == "ok")]["duration_ms"].dropna()
        out["latency"][i, 0] = float(np.percentile(ok, 95)) if len(ok) else np.nan
    return out


def _per_feature(t: _Items, results: pd.DataFrame, labels: Mapping[str, str],
                 spec: ComparisonSpec, features: Mapping[str, str] | None,
                 weights: Mapping[str, float], n: int, seed: int) -> list[Recommendation]:
    by_feature: dict[str, list[int]] = {}
    for j, item in enumerate(t.items):
        feature = (features or {}).get(item) or (PHOTO_FEATURE if item.startswith("photo:")
                                                 else "prompts")
        by_feature.setdefault(feature, []).append(j)
    if len(by_feature) < 2:
        return []
    out = []
    for k, (feature, cols) in enumerate(sorted(by_feature.items())):
        sub = t.subset(cols)
        full = _calls_observed(results, labels, sub)
        observed = int(_composite(full, weights)[:, 0].argmax())
        share = _best_share(_resampled(sub, n, seed + 10 + k), weights)
        out.append(Recommendation(
            sub.labels[observed], f"best for {feature}",
            f"Best by the {spec.comparison_type} weights on the {len(cols)} {feature} "
            f"item(s): {_strengths(full, observed)}.",
            float(share[observed]), _tradeoffs(sub, full, observed, seed), feature=feature))
    return out
