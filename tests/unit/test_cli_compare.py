"""`switchyard compare SPEC.yaml`: the same comparison headless, failing CI on a threshold."""

from __future__ import annotations

import json
from pathlib import Path

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
