"""The Compare page's rules, kept in the compare service: the judge it preselects, the call
count it shows, the spec its form builds, the sample selections it merges and the details it
reads from stored answers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.catalog.view import Catalog, CatalogEntry
from core.compare import service
from core.compare.samples import Problem, SampleSet, bundled_samples
from core.compare.spec import SpecError
from core.config_store import ProviderRecord, ProviderStore
from core.config_store.catalog_store import CatalogModel
from core.connections import ensure_demo_providers
from core.pricing import ModelPrice

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _entry(provider: str, model: str, *, model_class: str | None = None, kind: str = "text",
           specialties: tuple[str, ...] = (), price: tuple[float, float] | None = None,
           active: bool = True) -> CatalogEntry:
    record = ProviderRecord.model_construct(id=provider, name=provider.title(), org_id="o")
    row = CatalogModel(model_id=model, kind=kind, model_class=model_class,
                       specialties=specialties, org_id="o", provider_id=provider,
                       active=active, first_seen=NOW, last_seen=NOW, updated_at=NOW)
    cost = ModelPrice(provider, model, *(price or (None, None)),
                      source="genai-prices" if price else "unknown")
    return CatalogEntry(row, record, cost, None)


def test_the_default_judge_is_chosen_by_catalog_class_not_by_name() -> None:
    entries = [_entry("openai", "gpt-4.1", model_class="legacy", price=(2, 8)),
               _entry("openai", "gpt-5-mini", model_class="fast", price=(0.25, 2)),
               _entry("mistral", "mistral-large-2", model_class="flagship", price=(2, 6))]
    # the old substring rule ("gpt-4.1", "sonnet", "pro") would pick the legacy gpt-4.1
    assert service.default_judge(entries) == "mistral/mistral-large-2"


def test_the_default_judge_prefers_reasoning_then_price_then_catalog_order() -> None:
    cheap = _entry("a", "small", model_class="flagship", price=(0.1, 0.4))
    dear = _entry("b", "big", model_class="flagship", price=(3, 15))
    thinker = _entry("c", "thinker", model_class="flagship", specialties=("reasoning",),
                     price=(0.1, 0.4))
    assert service.default_judge([cheap, dear]) == "b/big"
    assert service.default_judge([cheap, dear, thinker]) == "c/thinker"
    assert service.default_judge([_entry("x", "one"), _entry("y", "two")]) == "x/one"
    assert service.default_judge([_entry("t", "tags", kind="tagging")]) is None
    assert service.default_judge([]) is None


def test_model_options_leave_out_inactive_and_tagging_models() -> None:
    catalog = Catalog((_entry("openai", "gpt-4o"), _entry("openai", "old", active=False),
                       _entry("vision", "labels", kind="tagging")), None)
    assert service.model_options(catalog) == {"openai/gpt-4o": "gpt-4o · Openai"}


def _set(*photo_ids: str, prompts: tuple[tuple[str, str], ...] = ()) -> SampleSet:
    bundled = bundled_samples()
    photos = [p.model_copy(update={"id": pid}) for pid, p in zip(photo_ids, bundled.photos,
                                                                 strict=False)]
    qs = [bundled.prompts[0].model_copy(update={"id": qid, "feature": f}) for qid, f in prompts]
    return SampleSet(photos=photos, prompts=qs)


def test_first_selection_is_every_photo_and_the_safety_prompts() -> None:
    samples = _set("a", "b", prompts=(("q1", "search_processing"), ("q2", "safety_chat")))
    choice = service.sample_choice(samples, None)
    assert choice.photos == ["a", "b"] and choice.selected_features == ["safety_chat"]
    assert choice.features == ["search_processing", "safety_chat"]
    only = service.sample_choice(_set("a", prompts=(("q1", "search_processing"),)), None)
    assert only.selected_features == ["search_processing"]


def test_a_newly_chosen_set_adds_its_items_and_keeps_what_is_still_there() -> None:
    merged = _set("a", "b", "c", prompts=(("q1", "search_processing"),))
    added = _set("c", prompts=(("q1", "search_processing"),))
    choice = service.sample_choice(merged, (["b", "gone"], ["safety_chat"]), [added])
    assert choice.photos == ["b", "c"]  # "gone" left the samples; "a" was not chosen
    assert choice.selected_features == ["search_processing"]


@pytest.fixture()
def records(home: Path):
    return ensure_demo_providers(ProviderStore())


def _form(**kw) -> service.CompareForm:
    base = dict(models=("sim-openai/gpt-4o-mini", "sim-gemini/gemini-2.0-flash"),
                comparison_type="accuracy", iterations=2, concurrency=4,
                photos=("chelsea", "coffee"), features=("safety_chat",))
    return service.CompareForm(**{**base, **kw})


def test_the_form_becomes_a_spec_named_after_its_models() -> None:
    judge = service.JudgeChoice("sim-openai/gpt-4.1", "Grade it against the reference.", 0.6)
    advanced = service.advanced_fields(timeout_s=20, retries=1, temperature=None,
                                       max_tokens=0, rate_limits_rpm={"sim-openai": 0,
                                                                      "sim-gemini": 60})
    spec = service.spec_from_form(_form(judge=judge, advanced=advanced, sample_sets=(),
                                        bundled=True))
    assert spec.name == "gpt-4o-mini vs gemini-2.0-flash"
    assert [m.key for m in spec.models] == list(_form().models)
    assert spec.photos == ("chelsea", "coffee") and spec.prompts.features == ("safety_chat",)
    assert spec.iterations == 2 and spec.concurrency == 4 and spec.comparison_type == "accuracy"
    assert spec.timeout_s == 20 and spec.retries == 1
    assert spec.temperature is None and spec.max_tokens is None  # "not set" stays unset
    assert spec.rate_limits_rpm == {"sim-gemini": 60}  # 0: no limit
    assert spec.judge is not None and spec.judge.model == "gpt-4.1"
    assert spec.judge.pass_score == 0.6
    with pytest.raises(SpecError):
        service.spec_from_form(_form(models=()))


def test_the_call_count_is_the_plans_own_total(records) -> None:
    samples = bundled_samples()
    judge = service.JudgeChoice("sim-openai/gpt-4.1", "Grade it against the reference.", 0.7)
    estimate = service.estimate_calls(_form(judge=judge), samples, records)
    prompts = samples.prompts_for("safety_chat")
    referenced = sum(1 for q in prompts if q.reference)
    assert referenced  # the bundled safety prompts have references
    assert estimate.calls == 2 * 2 * (2 + len(prompts))
    assert estimate.items == 2 + len(prompts) and not estimate.errors
    assert estimate.judge_calls == 2 * 2 * referenced
    assert estimate.describe() == (f"2 models × {2 + len(prompts)} items × 2 iterations = "
                                   f"{estimate.calls} calls, plus up to "
                                   f"{estimate.judge_calls} judge calls")
    # an unknown photo id is not an item of the plan, so it is not counted either
    assert service.estimate_calls(_form(photos=("chelsea", "nope"), features=()), samples,
                                  records).calls == 2 * 2 * 1
    none = service.estimate_calls(_form(models=()), samples, records)
    assert none.calls == 0 and none.errors


def test_answer_details_are_read_once_for_the_page() -> None:
    details = json.dumps({"assertions": [{"type": "icontains", "passed": True},
                                         {"type": "llm-rubric", "passed": False}],
                          "judge": {"score": 0.25, "reason": "misses the point"},
                          "missed": ["cat"]})
    read = service.answer_details(details)
    assert read.lines() == ["✓ icontains · ✗ llm-rubric", "Judge 0.25: misses the point",
                            "Missed: cat"]
    assert service.answer_details(None).lines() == []
    assert service.answer_details("not json").lines() == []
    assert service.answer_details(json.dumps({"judge": {"reason": "r"}})).lines() == ["Judge: r"]


def test_problems_get_a_headline_and_a_table() -> None:
    found = [Problem("a.png", "not an image", unit="item"),
             Problem("labels.yaml", "no photo", 3, "line", "warning")]
    assert service.problems_label(found) == "1 item(s) skipped, 1 note(s)"
    assert service.problems_label(found[1:]) == "1 note(s)"
    table = service.problems_table(found)
    assert list(table["Where"]) == ["", "line 3"]


def test_pages_reach_comparison_runs_only_through_the_service() -> None:
    root = Path(__file__).resolve().parents[3]
    for path in (root / "pages").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "comparison_runs" not in text and "warehouse.comparisons" not in text, path
    assert not (root / "core" / "warehouse" / "comparisons.py").exists()


def test_the_compare_pages_write_csv_only_through_core_exports() -> None:
    root = Path(__file__).resolve().parents[3] / "pages"
    for path in [root / "compare.py", *(root / "compare_views").rglob("*.py")]:
        assert ".to_csv(" not in path.read_text(encoding="utf-8"), path
