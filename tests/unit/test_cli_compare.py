"""`switchyard compare SPEC.yaml`: the same comparison headless, failing CI on a threshold."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from core.cli import main

SPEC = """
name: mini vs flash
models: [sim-openai/gpt-4o-mini, sim-gemini/gemini-2.0-flash]
photos: [chelsea, coffee, astronaut, rocket, horse, coins]
prompts: {{features: [safety_chat]}}
iterations: 2
thresholds: {thresholds}
"""



def _run(tmp_path: Path, thresholds: str) -> tuple[int, str, dict | None]:
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.format(thresholds=thresholds))
    out = tmp_path / "out.json"
    result = CliRunner().invoke(main, ["compare", str(spec), "--out", str(out)])
    summary = json.loads(out.read_text()) if out.exists() else None
    return result.exit_code, result.output, summary


def test_a_passing_spec_exits_zero_with_a_summary(home: Path, sim, tmp_path: Path) -> None:
    code, output, summary = _run(tmp_path, "{min_success_rate: 0.5}")
    assert code == 0, output
    assert "Best overall:" in output
    assert summary is not None and len(summary["models"]) == 2
    calls = 2 * 2 * (6 + 11)
    assert sum(m["calls"] for m in summary["models"]) == calls
    assert all(0 <= (m["accuracy"] or 0) <= 1 for m in summary["models"])
    # recommendations: the model, why and how sure, in the output and the JSON
    recs = summary["recommendations"]
    assert recs and recs[0]["kind"] == "best overall"
    assert recs[0]["model"] == summary["best_overall"]
    assert all(0 <= r["confidence"] <= 1 and r["reason"] and r["tradeoffs"] for r in recs)
    assert f"Recommended: {recs[0]['model']} (best overall, confidence " in output


def test_a_failed_threshold_exits_one(home: Path, sim, tmp_path: Path) -> None:
    code, output, summary = _run(tmp_path, "{max_total_cost_usd: 0.0000001}")
    assert code == 1 and "THRESHOLD FAILED" in output
    assert summary and summary["threshold_failures"]


def test_a_bad_spec_exits_two_with_readable_errors(home: Path, tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text("name: x\nmodels: []\niterations: 0\n")
    result = CliRunner().invoke(main, ["compare", str(spec)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output and "iterations" in result.output


JUDGED = """
name: judged
models: [sim-mistral/mistral-small-latest, sim-anthropic/claude-sonnet-4-5]
prompts: [safety_chat]
iterations: 1
judge: {judge}
"""


def test_a_judged_spec_runs_headless_and_reports_the_judges_cost(home: Path, sim,
                                                                 tmp_path: Path) -> None:
    spec = tmp_path / "judged.yaml"
    spec.write_text(JUDGED.format(judge="{provider: sim-openai, model: gpt-4.1, "
                                        "pass_score: 0.8}"))
    out = tmp_path / "out.json"
    result = CliRunner().invoke(main, ["compare", str(spec), "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads(out.read_text())
    judge = summary["judge"]
    assert judge["model"] == "gpt-4.1" and judge["calls"] == judge["scored"] == 2 * 11
    assert judge["total_cost"] > 0
    assert "Judge sim-openai/gpt-4.1: 22/22 answers scored" in result.output
    assert f"cost ${judge['total_cost']:.4f}" in result.output
    # the judge is reported on its own, never inside a model's cost
    assert sum(m["judge_cost"] for m in summary["models"]) == pytest.approx(judge["total_cost"])
    from core.warehouse.db import get_warehouse

    with get_warehouse().cursor() as cur:
        spent = dict(cur.execute("SELECT feature, sum(cost_usd) FROM usage_events "
                                 "WHERE source = 'benchmark' GROUP BY feature").fetchall())
    assert spent["comparison_judge"] == pytest.approx(judge["total_cost"])
    assert sum(m["total_cost"] for m in summary["models"]) == pytest.approx(spent["comparison"])


def test_a_judge_on_an_unconfigured_provider_exits_two(home: Path, tmp_path: Path) -> None:
    spec = tmp_path / "judged.yaml"
    spec.write_text(JUDGED.format(judge="nowhere/gpt-4.1"))
    result = CliRunner().invoke(main, ["compare", str(spec)])
    assert result.exit_code == 2
    assert "judge › nowhere/gpt-4.1: no enabled provider 'nowhere'" in result.output
    assert "Traceback" not in result.output
