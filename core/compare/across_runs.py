"""Past comparison runs side by side: the same model before and after, and whether it moved.

Teams re-run a comparison after a provider ships a new version, a prompt changes or a price
drops, and want to know whether anything really changed. Models are matched across runs by
what they are (provider/model), not by their position in a run. For a model in two runs,
the accuracy change is a paired bootstrap over the items both runs share (the same photos
and prompts), so "it got worse" is said only when the 95% interval excludes zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from core.compare.analysis import ModelSummary, analyse
from core.compare.spec import ComparisonSpec
from core.compare.stats import paired_bootstrap


@dataclass(frozen=True)
class RunInput:
    """One run to compare: a label people recognise, its spec and its result rows."""

    label: str
    spec: ComparisonSpec
    results: pd.DataFrame


@dataclass(frozen=True)
class ModelChange:
    """A model's figures in the baseline run and in a later one."""

    model: str  # provider/model
    baseline: str  # run label
    run: str
    shared_items: int
    accuracy_before: float | None
    accuracy_after: float | None
    accuracy_diff: float | None  # after − before, over the shared items
    diff_low: float | None
    diff_high: float | None
    significant: bool
    p95_before_ms: float | None
    p95_after_ms: float | None
    cost_before: float | None  # per request
    cost_after: float | None
    success_before: float | None
    success_after: float | None

    @property
    def verdict(self) -> str:
        if self.accuracy_diff is None:
            return "no shared scored items"
        if not self.significant:
            return "no significant change in accuracy"
        return "more accurate" if self.accuracy_diff > 0 else "less accurate"


@dataclass(frozen=True)
class RunsComparison:
    runs: list[str]
    table: pd.DataFrame  # one row per run and model
    changes: list[ModelChange]

    def changes_frame(self) -> pd.DataFrame:
        return pd.DataFrame([{
            "Model": c.model, "Baseline": c.baseline, "Run": c.run,
            "Shared items": c.shared_items, "Accuracy before": c.accuracy_before,
            "Accuracy after": c.accuracy_after, "Change": c.accuracy_diff,
            "Change 95% CI": "—" if c.diff_low is None else
            f"{c.diff_low:+.2f} to {c.diff_high:+.2f}",
            "Verdict": c.verdict, "p95 before (ms)": c.p95_before_ms,
            "p95 after (ms)": c.p95_after_ms, "$ / request before": c.cost_before,
            "$ / request after": c.cost_after, "Success before": c.success_before,
            "Success after": c.success_after,
        } for c in self.changes])


def _by_model(spec: ComparisonSpec) -> dict[str, str]:
    """model_key (m1…) -> provider/model."""
    return {f"m{i + 1}": ref.key for i, ref in enumerate(spec.models)}


def _item_scores(results: pd.DataFrame, model_key: str) -> dict[str, float]:
    rows = results[results["model_key"] == model_key]
    return rows.groupby("item_id")["score"].mean().dropna().to_dict()


def compare_runs(runs: Sequence[RunInput], *, seed: int = 0) -> RunsComparison:
    """The runs' per-model figures in one table, and each model's change from the first run
    (the baseline) to every later run it appears in."""
    if len(runs) < 2:
        raise ValueError("choose at least two runs to compare")
    rows: list[dict] = []
    summaries: list[dict[str, ModelSummary]] = []
    scores: list[dict[str, dict[str, float]]] = []
    for run in runs:
        keys = _by_model(run.spec)
        analysis = analyse(run.results, run.spec, seed=seed, with_recommendations=False)
        by_key = {}
        per_item = {}
        for m in analysis.models:
            model = keys[m.model_key]
            by_key[model] = m
            per_item[model] = _item_scores(run.results, m.model_key)
            rows.append({
                "Run": run.label, "Model": model, "Calls": m.calls,
                "Accuracy": m.accuracy, "Accuracy low": m.accuracy_low,
                "Accuracy high": m.accuracy_high, "Success": m.success_rate,
                "p95 ms": m.p95_ms, "$ / request": m.cost_per_request,
                "$ / accurate result": m.cost_per_accurate, "Total $": m.total_cost,
            })
        summaries.append(by_key)
        scores.append(per_item)
    changes: list[ModelChange] = []
    base = runs[0].label
    for j in range(1, len(runs)):
        for model, after in summaries[j].items():
            before = summaries[0].get(model)
            if before is None:
                continue
            a, b = scores[0][model], scores[j][model]
            shared = sorted(set(a) & set(b))
            diff = paired_bootstrap([b[i] for i in shared], [a[i] for i in shared], seed=seed)
            changes.append(ModelChange(
                model, base, runs[j].label, len(shared),
                sum(a[i] for i in shared) / len(shared) if shared else None,
                sum(b[i] for i in shared) / len(shared) if shared else None,
                diff.mean_diff, diff.low, diff.high, diff.significant,
                before.p95_ms, after.p95_ms, before.cost_per_request, after.cost_per_request,
                before.success_rate, after.success_rate))
    return RunsComparison([r.label for r in runs], pd.DataFrame(rows), changes)
