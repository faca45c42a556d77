"""Recommendations from a comparison: the right model for the stated reason, a confidence that
means what it says (share of bootstrap resamples), and trade-offs in numbers."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.compare.analysis import analyse
from core.compare.recommend import recommend
from core.compare.spec import parse_spec
from tests.helpers import fake_results


def _spec(kind: str = "comprehensive", n: int = 2):
    models = ["sim-a/alpha", "sim-b/beta", "sim-c/gamma", "sim-d/delta"][:n]
    return parse_spec({"models": models, "comparison_type": kind, "photos": "all"})


def test_a_cheaper_model_that_is_as_accurate_is_recommended_with_its_saving() -> None:
    spec = _spec("comprehensive")
    frame = fake_results({"m1": {"score": .9, "ms": 900, "cost": .01},
                    "m2": {"score": .89, "ms": 950, "cost": .001}})
    result = analyse(frame, spec)
    recs = {r.kind: r for r in result.recommendations}
    best = recs["best overall"]
    assert best.model == "sim-b/beta" == result.best_overall
    assert best.confidence > 0.8
    assert "per accurate result" in best.reason
    # the expensive one, if recommended at all, is never "cheaper"; beta gives up nothing big
    assert "cheaper" not in recs or recs["cheaper"].model != "sim-a/alpha"
    assert not any("cost per accurate result" in t for t in best.tradeoffs)


def test_the_cost_alternative_to_an_accurate_but_pricey_best() -> None:
    spec = _spec("accuracy")  # accuracy counts most: alpha is best overall
    # noisy answers on few items: alpha's lead is real-looking but not significant
    frame = fake_results({"m1": {"score": .9, "ms": 900, "cost": .004, "sd": .3},
                    "m2": {"score": .8, "ms": 900, "cost": .001, "sd": .3}}, items=16, seed=1)
    result = analyse(frame, spec)
    recs = {r.kind: r for r in result.recommendations}
    assert recs["best overall"].model == "sim-a/alpha"
    cheaper = recs["cheaper"]
    assert cheaper.model == "sim-b/beta"
    assert "cheaper per accurate result than sim-a/alpha" in cheaper.reason
    assert "no significant accuracy loss" in cheaper.reason and "95% CI" in cheaper.reason
    assert 0.3 < cheaper.confidence <= 1.0
    assert any("× the cost per accurate result of sim-b/beta" in t
               for t in recs["best overall"].tradeoffs)


def test_a_significantly_less_accurate_model_is_not_offered_as_cheaper() -> None:
    spec = _spec("accuracy")
    frame = fake_results({"m1": {"score": .95, "ms": 900, "cost": .02, "sd": .03},
                    "m2": {"score": .55, "ms": 900, "cost": .002, "sd": .03}})
    result = analyse(frame, spec)
    kinds = {r.kind: r.model for r in result.recommendations}
    assert kinds["best overall"] == "sim-a/alpha"
    assert "cheaper" not in kinds
    trade = next(r for r in result.recommendations if r.model == "sim-b/beta") \
        if "sim-b/beta" in kinds.values() else None
    assert trade is None or any("less accurate" in t for t in trade.tradeoffs)


def test_two_indistinguishable_models_get_a_coin_toss_confidence() -> None:
    spec = _spec("comprehensive")
    same = {"score": .8, "ms": 1000, "cost": .005, "sd": .15}
    frame = fake_results({"m1": same, "m2": same}, items=40, seed=3)
    best = analyse(frame, spec).recommendations[0]
    assert best.kind == "best overall"
    assert 0.15 < best.confidence < 0.85


def test_a_model_better_on_everything_has_no_tradeoffs_and_high_confidence() -> None:
    spec = _spec("comprehensive", n=3)
    frame = fake_results({"m1": {"score": .95, "ms": 300, "cost": .001, "sd": .02},
                    "m2": {"score": .6, "ms": 900, "cost": .01, "sd": .02},
                    "m3": {"score": .5, "ms": 1500, "cost": .02, "sd": .02, "errors": .2}})
    result = analyse(frame, spec)
    best = result.recommendations[0]
    assert best.model == "sim-a/alpha" and best.confidence > 0.95
    assert best.tradeoffs == ["none measured: at least as good as every other model on "
                              "accuracy, cost, speed and reliability"]
    assert result.winner == "sim-a/alpha"


def test_a_significant_accuracy_leader_that_is_not_best_overall_is_named() -> None:
    spec = _spec("cost")
    frame = fake_results({"m1": {"score": .95, "ms": 900, "cost": .05, "sd": .03},
                    "m2": {"score": .85, "ms": 900, "cost": .001, "sd": .03}})
    result = analyse(frame, spec)
    recs = {r.kind: r for r in result.recommendations}
    assert recs["best overall"].model == "sim-b/beta"
    assert recs["most accurate"].model == "sim-a/alpha"
    assert recs["most accurate"].confidence > 0.95
    assert any("less accurate than sim-a/alpha" in t and "significant" in t
               for t in recs["best overall"].tradeoffs)


def test_each_feature_gets_its_own_best_model() -> None:
    spec = _spec("accuracy")
    frame = pd.concat([
        fake_results({"m1": {"score": .95, "ms": 900, "cost": .01, "sd": .03},
                "m2": {"score": .5, "ms": 900, "cost": .01, "sd": .03}},
               features=("photo",), seed=1),
        fake_results({"m1": {"score": .5, "ms": 900, "cost": .01, "sd": .03},
                "m2": {"score": .95, "ms": 900, "cost": .01, "sd": .03}},
               features=("safety_chat",), seed=2),
    ])
    features = {i: ("photo_analysis" if i.startswith("photo:") else "safety_chat")
                for i in frame["item_id"].unique()}
    recs = {r.kind: r for r in analyse(frame, spec, features=features).recommendations}
    assert recs["best for photo_analysis"].model == "sim-a/alpha"
    assert recs["best for safety_chat"].model == "sim-b/beta"
    assert recs["best for safety_chat"].feature == "safety_chat"
    assert recs["best for photo_analysis"].confidence > 0.95


def test_no_recommendation_without_two_models_or_results() -> None:
    one = parse_spec({"models": ["sim-a/alpha"], "photos": "all"})
    frame = fake_results({"m1": {"score": .9, "ms": 900, "cost": .01}})
    assert analyse(frame, one).recommendations == []
    assert recommend(frame.iloc[0:0], _spec(), best_overall=None, observed={}) == []


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.floats(.1, .95), st.floats(100, 3000), st.floats(1e-4, .05)),
                min_size=2, max_size=4), st.integers(0, 10))
def test_confidences_are_shares_and_deterministic(models, seed) -> None:
    spec = _spec("comprehensive", n=len(models))
    frame = fake_results({f"m{i + 1}": {"score": s, "ms": ms, "cost": c}
                    for i, (s, ms, c) in enumerate(models)}, items=12, seed=seed)
    first = analyse(frame, spec, seed=seed).recommendations
    assert first == analyse(frame, spec, seed=seed).recommendations
    assert first and first[0].kind == "best overall"
    for r in first:
        assert 0.0 <= r.confidence <= 1.0
        assert r.reason and r.tradeoffs


@pytest.mark.parametrize("kind", ["performance", "cost", "accuracy", "comprehensive"])
def test_best_overall_recommendation_is_the_analysis_best(kind: str) -> None:
    frame = fake_results({"m1": {"score": .9, "ms": 2000, "cost": .02},
                    "m2": {"score": .8, "ms": 400, "cost": .002},
                    "m3": {"score": .7, "ms": 800, "cost": .0005}}, seed=4)
    result = analyse(frame, _spec(kind, n=3))
    assert result.recommendations[0].model == result.best_overall
