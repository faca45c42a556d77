"""Past runs side by side: models matched by provider/model, and a change in accuracy called
only when the paired interval over the shared items excludes zero."""

from __future__ import annotations

import pytest

from core.compare.across_runs import RunInput, compare_runs
from core.compare.spec import parse_spec
from tests.helpers import fake_results


def _run(label: str, models: list[str], figures: dict[str, dict], seed: int) -> RunInput:
    spec = parse_spec({"models": models, "photos": "all"})
    return RunInput(label, spec, fake_results(figures, items=30, seed=seed))


def test_a_model_that_got_worse_is_called_and_one_that_did_not_is_not() -> None:
    before = _run("March", ["sim-a/alpha", "sim-b/beta"],
                  {"m1": {"score": .9, "ms": 800, "cost": .01, "sd": .05},
                   "m2": {"score": .7, "ms": 400, "cost": .001, "sd": .05}}, seed=1)
    # beta moved to the first position and alpha regressed; gamma is new
    after = _run("April", ["sim-b/beta", "sim-a/alpha", "sim-c/gamma"],
                 {"m1": {"score": .7, "ms": 400, "cost": .001, "sd": .05},
                  "m2": {"score": .75, "ms": 820, "cost": .01, "sd": .05},
                  "m3": {"score": .8, "ms": 600, "cost": .002}}, seed=2)
    result = compare_runs([before, after])
    assert result.runs == ["March", "April"]
    assert len(result.table) == 5 and set(result.table["Run"]) == {"March", "April"}
    changes = {c.model: c for c in result.changes}
    assert set(changes) == {"sim-a/alpha", "sim-b/beta"}  # gamma has no baseline
    alpha, beta = changes["sim-a/alpha"], changes["sim-b/beta"]
    assert alpha.shared_items == 30
    assert alpha.accuracy_diff == pytest.approx(-0.15, abs=0.05)
    assert alpha.significant and alpha.verdict == "less accurate"
    assert alpha.diff_low < alpha.diff_high < 0
    assert not beta.significant and beta.verdict == "no significant change in accuracy"
    assert beta.p95_before_ms is not None and beta.cost_after == pytest.approx(0.001)
    frame = result.changes_frame()
    assert list(frame["Verdict"]) == [c.verdict for c in result.changes]


def test_runs_with_no_items_in_common_say_so() -> None:
    a = _run("one", ["sim-a/alpha", "sim-b/beta"],
             {"m1": {"score": .9, "ms": 800, "cost": .01}, "m2": {"score": .8, "ms": 800,
                                                                  "cost": .01}}, seed=1)
    b_results = a.results.assign(item_id=a.results["item_id"] + "-other")
    b = RunInput("two", a.spec, b_results)
    change = compare_runs([a, b]).changes[0]
    assert change.shared_items == 0 and change.verdict == "no shared scored items"


def test_one_run_is_not_a_comparison() -> None:
    a = _run("one", ["sim-a/alpha"], {"m1": {"score": .9, "ms": 800, "cost": .01}}, seed=1)
    with pytest.raises(ValueError, match="at least two runs"):
        compare_runs([a])
