"""A spec made concrete: providers resolved, every call planned, answers scored."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.compare.plan import build_plan, make_scorer
from core.compare.samples import bundled_samples
from core.compare.spec import SpecError, parse_spec
from core.config_store import ProviderStore
from core.connections import ensure_demo_providers
from core.providers.base import Completion, Tag, TokenUsage
from core.providers.errors import RateLimited


@pytest.fixture()
def records(home: Path):
    return ensure_demo_providers(ProviderStore())


def _spec(**kw):
    base = {"name": "t", "models": ["sim-openai/gpt-4o-mini", "gemini/gemini-2.0-flash"],
            "photos": ["chelsea", "coffee"], "prompts": {"features": ["safety_chat"]},
            "iterations": 2}
    return parse_spec({**base, **kw})


def _done(text: str = "", tags: tuple[Tag, ...] = ()) -> Completion:
    return Completion(text, TokenUsage(100, 20), "m", "stop", 120.0, 40.0, tags)


def test_every_model_item_and_iteration_is_planned_once(records) -> None:
    samples = bundled_samples()
    plan = build_plan(_spec(), samples, records)
    prompts = len(samples.prompts_for("safety_chat"))
    assert plan.total == 2 * 2 * (2 + prompts)
    assert len({c.key for c in plan.calls}) == plan.total
    # a provider by id, by type
    assert plan.providers["m1"].id == "sim-openai" and plan.providers["m2"].id == "sim-gemini"
    photo_call = next(c for c in plan.calls if c.item_kind == "photo")
    assert photo_call.images == 1 and photo_call.provider_name == "openai"


def test_an_unknown_provider_is_a_clear_spec_error(records) -> None:
    with pytest.raises(SpecError) as err:
        build_plan(_spec(models=["nowhere/gpt-4o"]), bundled_samples(), records)
    assert "no enabled provider 'nowhere'" in str(err.value)


def test_photos_score_by_tag_f1_with_synonyms_and_errors_fail(records) -> None:
    samples = bundled_samples()
    plan = build_plan(_spec(prompts=[]), samples, records)
    score = make_scorer(plan, samples)
    call = next(c for c in plan.calls if c.item_id == "photo:chelsea")
    gold = [t.name for t in samples.photo("chelsea").tags]
    s, b, details = score(call, _done(", ".join(gold)))
    assert s == pytest.approx(1.0) and b == "accurate" and not details["missed"]
    # tags from a tagging API count the same way; a wrong answer scores low
    s2, _, _ = score(call, _done(tags=tuple(Tag(t, 0.9) for t in gold)))
    assert s2 == pytest.approx(1.0)
    s3, b3, _ = score(call, _done("a truck and a mountain"))
    assert s3 < 0.4 and b3 == "failed"
    s4, b4, d4 = score(call, RateLimited("slow down", retry_after=1))
    assert (s4, b4, d4["error"]) == (0.0, "failed", "rate_limited")


def test_prompts_score_by_their_assertions(records) -> None:
    samples = bundled_samples()
    plan = build_plan(_spec(photos=[]), samples, records)
    score = make_scorer(plan, samples)
    call = plan.calls[0]
    prompt = samples.prompt(call.item_id.split(":", 1)[1])
    s, b, details = score(call, _done(prompt.reference))
    assert s == pytest.approx(1.0) and b == "accurate", details
    s2, _, details2 = score(call, _done(""))
    assert s2 < 1.0 and any(not a["passed"] for a in details2["assertions"])
