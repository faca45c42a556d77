"""A finished comparison's results as the numbers people decide on.

Per model: latency (average, p50, p95), success rate with its Wilson interval, accuracy with a
bootstrap interval over items, consistency across iterations, cost (total, per request, per
accurate result) and accurate / partial / failed counts. A model's cost is its own calls'
only: what the LLM judge cost to grade its answers is reported next to it (``judge_cost``)
and for the whole run in :class:`JudgeSummary`. Then the summary: best overall by the
comparison type's weights, cheapest, fastest, most accurate, and a winner on accuracy only
when the paired bootstrap over the same items says the lead is real. Thresholds from the spec
are checked here too, so the CLI can fail a CI pipeline.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from core.compare.recommend import Recommendation, answer_outputs, recommend
from core.compare.scoring import consistency
from core.compare.spec import ComparisonSpec
from core.compare.stats import (
    bootstrap_mean_ci,
    cost_per_accurate_result,
    declare_winner,
    latency_summary,
    proportion,
    summarise_best,
)


@dataclass(frozen=True)
class ModelSummary:
    model_key: str
    label: str
    calls: int
    ok: int
    success_rate: float | None
    success_low: float
    success_high: float
    avg_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    accuracy: float | None
    accuracy_low: float | None
    accuracy_high: float | None
    consistency: float | None
    total_cost: float
    cost_per_request: float | None
    cost_per_accurate: float | None
    accurate: int
    partial: int
    failed: int
    judge_cost: float = 0.0  # the judge grading this model's answers (not in total_cost)


@dataclass(frozen=True)
class JudgeSummary:
    """The LLM judge's calls over the run, from the results' ``details["judge"]``."""

    provider: str
    model: str
    calls: int  # answers the judge was asked to grade
    scored: int  # of those, how many got a usable score
    failed: int  # calls that failed (the answer kept its deterministic score)
    input_tokens: int
    output_tokens: int
    total_cost: float  # USD; unpriced judge calls count 0


@dataclass(frozen=True)
class Analysis:
    models: list[ModelSummary]
    best_overall: str | None
    cheapest: str | None
    fastest: str | None
    most_accurate: str | None
    winner: str | None
    winner_message: str
    additional_items_needed: int | None
    threshold_failures: list[str] = field(default_factory=list)
    recommendations: list[Recommendation] = field(default_factory=list)
    judge: JudgeSummary | None = None  # None: the run had no judge

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, default=str)


def _judge_details(results: pd.DataFrame) -> list[tuple[str, dict[str, Any]]]:
    """(model_key, details["judge"]) of every judged result row."""
    if "details_json" not in results.columns:
        return []
    out = []
    for key, text in zip(results["model_key"], results["details_json"], strict=True):
        if not isinstance(text, str) or '"judge"' not in text:
            continue
        try:
            judge = json.loads(text).get("judge")
        except (ValueError, AttributeError):
            continue
        if isinstance(judge, dict):
            out.append((key, judge))
    return out


def _cost(judge: dict[str, Any]) -> float:
    value = judge.get("cost_usd")
    return float(value) if isinstance(value, int | float) else 0.0


def judge_summary(results: pd.DataFrame, spec: ComparisonSpec) -> JudgeSummary | None:
    """The judge's calls and cost over a run (None when the spec has no judge)."""
    if spec.judge is None:
        return None
    judged = [j for _, j in _judge_details(results)]
    provider = next((str(j["provider"]) for j in judged if j.get("provider")),
                    spec.judge.provider)
    return JudgeSummary(
        provider, spec.judge.model, len(judged),
        sum(j.get("score") is not None for j in judged),
        sum(j.get("status") == "error" for j in judged),
        sum(int(j.get("input_tokens") or 0) for j in judged),
        sum(int(j.get("output_tokens") or 0) for j in judged),
        sum(_cost(j) for j in judged))


def analyse(results: pd.DataFrame, spec: ComparisonSpec, seed: int = 0,
            features: Mapping[str, str] | None = None, *,
            with_recommendations: bool = True) -> Analysis:
    """Summaries, winners, recommendations and threshold checks for one run's result rows;
    ``features`` maps item ids to the feature they test (for per-feature recommendations).
    Recommendations resample the items a thousand times: skip them where only the
    summaries are wanted (comparing past runs)."""
    labels = {f"m{i + 1}": ref.display for i, ref in enumerate(spec.models)}
    judge_cost: dict[str, float] = {}
    for key, judge in _judge_details(results):
        judge_cost[key] = judge_cost.get(key, 0.0) + _cost(judge)
    summaries: list[ModelSummary] = []
    per_item: dict[str, dict[str, float]] = {}
    for key, label in labels.items():
        rows = results[results["model_key"] == key]
        ok = rows[rows["status"] == "ok"]
        lat = latency_summary(ok["duration_ms"].tolist())
        rate = proportion(len(ok), len(rows))
        item_scores = rows.groupby("item_id")["score"].mean().dropna()
        per_item[label] = item_scores.to_dict()
        acc = bootstrap_mean_ci(item_scores.tolist(), seed=seed) if len(item_scores) else None
        consist = [consistency(answer_outputs(g)) for _, g in ok.groupby("item_id") if len(g) > 1]
        buckets = rows["bucket"].value_counts().to_dict()
        total_cost = float(rows["cost_usd"].fillna(0).sum())
        summaries.append(ModelSummary(
            key, label, len(rows), len(ok), rate.rate, rate.low, rate.high,
            lat["mean"], lat["p50"], lat["p95"],
            acc.mean if acc else None, acc.low if acc else None, acc.high if acc else None,
            sum(consist) / len(consist) if consist else None, total_cost,
            total_cost / len(rows) if len(rows) else None,
            cost_per_accurate_result(total_cost, int(buckets.get("accurate", 0))),
            int(buckets.get("accurate", 0)), int(buckets.get("partial", 0)),
            int(buckets.get("failed", 0)), judge_cost.get(key, 0.0)))
    # cost is what a correct answer costs, as the spec's weights define it
    metrics = {s.label: {"accuracy": s.accuracy, "latency": s.p95_ms,
                         "cost": s.cost_per_accurate, "reliability": s.success_rate,
                         "consistency": s.consistency} for s in summaries}
    best = summarise_best(metrics, spec.weights.as_metrics())
    items = sorted(set.intersection(*(set(v) for v in per_item.values()))) if per_item else []
    decision = (declare_winner(per_item, items, metric="accuracy", seed=seed)
                if len(per_item) > 1 else None)
    winner = decision.winner if decision else None
    return Analysis(
        summaries, best.best_overall, best.cheapest, best.fastest, best.most_accurate,
        winner,
        decision.message if decision else "Only one model: nothing to compare against.",
        decision.additional_needed if decision else None,
        threshold_failures(summaries, spec),
        recommend(results, spec, best_overall=best.best_overall, observed=metrics,
                  accuracy_winner=winner, features=features, seed=seed)
        if with_recommendations else [],
        judge_summary(results, spec))


def threshold_failures(summaries: list[ModelSummary], spec: ComparisonSpec) -> list[str]:
    """Each threshold a model misses, as a sentence (empty: the spec passes)."""
    t = spec.thresholds
    checked = [s for s in summaries if not t.models or s.label in t.models
               or s.model_key in t.models]
    out: list[str] = []
    for s in checked:
        if t.min_accuracy is not None and (s.accuracy or 0.0) < t.min_accuracy:
            out.append(f"{s.label}: accuracy {s.accuracy or 0:.2f} < {t.min_accuracy:.2f}")
        if t.min_success_rate is not None and (s.success_rate or 0.0) < t.min_success_rate:
            out.append(f"{s.label}: success rate {s.success_rate or 0:.1%} < "
                       f"{t.min_success_rate:.1%}")
        if t.max_p95_latency_ms is not None and (s.p95_ms is None
                                                 or s.p95_ms > t.max_p95_latency_ms):
            out.append(f"{s.label}: p95 latency {s.p95_ms or 0:,.0f} ms > "
                       f"{t.max_p95_latency_ms:,.0f} ms")
        if t.max_avg_latency_ms is not None and (s.avg_ms is None
                                                 or s.avg_ms > t.max_avg_latency_ms):
            out.append(f"{s.label}: average latency {s.avg_ms or 0:,.0f} ms > "
                       f"{t.max_avg_latency_ms:,.0f} ms")
        if t.max_cost_per_request_usd is not None and (s.cost_per_request or 0) > \
                t.max_cost_per_request_usd:
            out.append(f"{s.label}: cost per request ${s.cost_per_request:.5f} > "
                       f"${t.max_cost_per_request_usd:.5f}")
        if t.max_total_cost_usd is not None and s.total_cost > t.max_total_cost_usd:
            out.append(f"{s.label}: total cost ${s.total_cost:.4f} > "
                       f"${t.max_total_cost_usd:.4f}")
    return out
