"""ComparisonSpec: validation with readable messages, YAML loading and round trips,
selection of photos and prompts from the samples, and the weights of each comparison type."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.compare.samples import PROMPT_FEATURES, bundled_samples
from core.compare.spec import (
    COMPARISON_TYPES,
    DEFAULT_RUBRIC,
    MAX_MODELS,
    TYPE_DESCRIPTIONS,
    TYPE_WEIGHTS,
    ComparisonSpec,
    JudgeSpec,
    ModelRef,
    PromptSelection,
    SpecError,
    Thresholds,
    dump_spec,
    load_spec,
    parse_spec,
)

MINIMAL = "models: [openai/gpt-4o-mini, gemini/gemini-2.5-flash]\nphotos: all\n"
NOT_FOR_USERS = ("Traceback", "pydantic", "errors.pydantic.dev", "input_value", "Value error,",
                 "validation error for")


def errors_of(text: str) -> list[str]:
    with pytest.raises(SpecError) as err:
        load_spec(text)
    message = str(err.value)
    for leak in NOT_FOR_USERS:
        assert leak not in message, message
    return err.value.errors


# ---- valid specs ----------------------------------------------------------------------------

def test_minimal_spec_and_defaults():
    spec = load_spec(MINIMAL)
    assert [m.key for m in spec.models] == ["openai/gpt-4o-mini", "gemini/gemini-2.5-flash"]
    assert spec.comparison_type == "comprehensive" and spec.photos == "all"
    assert spec.prompts.empty and spec.iterations == 3 and spec.concurrency == 8
    assert spec.timeout_s == 60 and spec.temperature is None and spec.judge is None
    assert not spec.thresholds.active
    assert spec.weights == TYPE_WEIGHTS["comprehensive"]


def test_weights_are_data_for_every_type():
    assert set(TYPE_WEIGHTS) == set(COMPARISON_TYPES) == set(TYPE_DESCRIPTIONS)
    for kind, weights in TYPE_WEIGHTS.items():
        values = weights.as_dict()
        assert set(values) == {"accuracy", "speed", "cost", "reliability", "consistency"}
        assert math.isclose(sum(values.values()), 1.0), kind
        assert all(v >= 0 for v in values.values())
    leader = {k: max(w.as_dict(), key=w.as_dict().get) for k, w in TYPE_WEIGHTS.items()}
    assert leader == {"performance": "speed", "cost": "cost", "accuracy": "accuracy",
                      "comprehensive": "accuracy"}


def test_full_spec_from_yaml():
    spec = load_spec("""
name: Tagging shoot-out
type: Accuracy
models:
  - openai/gpt-4o
  - {provider: anthropic, model: claude-sonnet-4-5, label: Sonnet, timeout_s: 30}
  - ollama/llama3.2-vision:11b
photos: [chelsea, coffee]
prompts: [safety_chat, search-spelling]
iterations: 5
concurrency: 16
timeout: 45
temperature: 0.2
rate_limits_rpm: {openai: 500}
judge: openai/gpt-4.1
thresholds: {min_accuracy: 0.8, max_p95_latency_ms: 4000, models: [Sonnet]}
""")
    assert spec.comparison_type == "accuracy" and spec.timeout_s == 45
    assert spec.models[2].model == "llama3.2-vision:11b"
    assert spec.prompts.features == ("safety_chat",) and spec.prompts.ids == ("search-spelling",)
    assert spec.judge == JudgeSpec(provider="openai", model="gpt-4.1")
    assert spec.judge.rubric == DEFAULT_RUBRIC
    assert spec.timeout_for(spec.models[1]) == 30 and spec.timeout_for(spec.models[0]) == 45
    assert [m.key for m in spec.threshold_models()] == ["anthropic/claude-sonnet-4-5"]
    assert spec.model_for("Sonnet") is spec.models[1]
    assert spec.models[1].display == "Sonnet" and spec.models[0].display == "openai/gpt-4o"


def test_selection_against_the_bundled_samples():
    samples = bundled_samples()
    spec = load_spec("models: [openai/gpt-4o]\nphotos: [chelsea, coffee]\n"
                     "prompts: [safety_chat, search-spelling]\niterations: 2\n")
    assert spec.check_against(samples) == []
    assert [p.id for p in spec.select_photos(samples)] == ["chelsea", "coffee"]
    prompts = spec.select_prompts(samples)
    assert {q.feature for q in prompts} == {"safety_chat", "search_processing"}
    assert len(prompts) == len(samples.prompts_for("safety_chat")) + 1
    assert spec.total_calls(samples) == (2 + len(prompts)) * 1 * 2
    everything = load_spec("models: [openai/gpt-4o]\nphotos: all\nprompts: all\n")
    assert len(everything.select_photos(samples)) == len(samples.photos)
    assert len(everything.select_prompts(samples)) == len(samples.prompts)
    one_feature = load_spec("models: [openai/gpt-4o]\nprompts: description_generation\n")
    assert one_feature.photos == () and one_feature.prompts.features == ("description_generation",)


def test_unknown_photos_and_prompts_are_named_against_the_samples():
    spec = load_spec("models: [openai/gpt-4o]\nphotos: [chelsea, unicorn]\n"
                     "prompts: {features: [poetry], ids: [nope-1]}\n")
    problems = spec.check_against(bundled_samples())
    assert problems == ["photos: unknown photo id(s): unicorn",
                        "prompts › features: unknown feature(s): poetry",
                        "prompts › ids: unknown prompt id(s): nope-1"]


def test_shorthands_for_photos_and_prompts():
    assert load_spec("models: [a/b]\nphotos: none\nprompts: all\n").photos == ()
    assert load_spec("models: [a/b]\nphotos: [all]\n").photos == "all"
    assert load_spec("models: [a/b]\nphotos: chelsea\n").photos == ("chelsea",)
    assert PromptSelection.model_validate(None).empty
    assert PromptSelection.model_validate("none").empty
    mixed = PromptSelection.model_validate([*PROMPT_FEATURES[:1], "x-1", "x-1"])
    assert mixed.features == (PROMPT_FEATURES[0],) and mixed.ids == ("x-1",)


# ---- invalid specs: readable messages ---------------------------------------------------------

def test_five_models_are_refused():
    models = ", ".join(f"p{i}/m{i}" for i in range(MAX_MODELS + 1))
    errors = errors_of(f"models: [{models}]\nphotos: all\n")
    assert errors == ["models: at most 4 models can be compared at once (got 5)"]


def test_duplicate_models_are_refused():
    errors = errors_of("models: [openai/gpt-4o, {provider: openai, model: gpt-4o}]\n"
                       "photos: all\n")
    assert errors == ["Model openai/gpt-4o is listed twice (models 1 and 2); each model can "
                      "be compared once"]
    labels = errors_of("models: [{provider: a, model: b, label: X}, "
                       "{provider: a, model: c, label: X}]\nphotos: all\n")
    assert "labels must tell them apart" in labels[0]


@pytest.mark.parametrize(("line", "expected"), [
    ("iterations: 0", "iterations: must be at least 1"),
    ("iterations: 21", "iterations: must be at most 20"),
    ("iterations: many", "iterations: must be a whole number"),
    ("concurrency: 0", "concurrency: must be at least 1"),
    ("concurrency: 65", "concurrency: must be at most 64"),
    ("timeout_s: 0", "timeout_s: must be more than 0"),
    ("temperature: 2.5", "temperature: must be at most 2"),
    ("comparison_type: speed", "comparison_type: 'speed' is not a comparison type; use one "
                               "of: performance, cost, accuracy, comprehensive"),
    ("iteration: 3", "iteration: is not a known field (did you mean 'iterations'?)"),
    ("rate_limits_rpm: {openai: 0}", "rate_limits_rpm: openai: requests per minute must be "
                                     "at least 1"),
    ("thresholds: {min_accuracy: 1.5}", "thresholds › min_accuracy: must be at most 1"),
    ("thresholds: {models: [x/y]}", "thresholds › models: x/y is not one of the compared "
                                    "models"),
    ("judge: {provider: openai}", "judge › model: is required"),
])
def test_bad_values_get_readable_messages(line, expected):
    assert errors_of(MINIMAL + line + "\n") == [expected]


def test_several_problems_are_all_listed():
    errors = errors_of("models: [{provider: openai}, Bad Model]\nphotos: all\n"
                       "iterations: 0\ncomparison_type: fastest\n")
    assert "models: 'Bad Model' should be written provider/model, e.g. openai/gpt-4o, or as " \
           "{provider: ..., model: ...}" in errors
    assert "iterations: must be at least 1" in errors
    assert any(e.startswith("comparison_type: 'fastest'") for e in errors)
    with pytest.raises(SpecError) as err:
        load_spec("models: [{provider: openai}]\nphotos: all\niterations: 0\n")
    assert str(err.value).startswith("the comparison spec has problems:\n- ")


@pytest.mark.parametrize(("text", "expected"), [
    ("photos: all\n", "models: is required"),
    ("models: []\nphotos: all\n", "Choose at least one model to compare"),
    ("models: [openai/gpt-4o]\n", "Choose at least one photo or prompt"),
    ("models: [openai/gpt-4o]\nphotos: []\nprompts: none\n", "Choose at least one photo or prompt"),
    ("models: [{provider: Open AI, model: gpt-4o}]\nphotos: all\n",
     "models (item 1) › provider: must be a provider id"),
    ("models: [{provider: openai, model: gpt 4o}]\nphotos: all\n",
     "models (item 1) › model: must be a model id"),
    ("models: [openai/gpt-4o]\nphotos: [[a]]\n", "photos: must be 'all' or a list of photo ids"),
])
def test_missing_or_malformed_parts(text, expected):
    errors = errors_of(text)
    assert len(errors) == 1 and errors[0].startswith(expected), errors


@pytest.mark.parametrize(("text", "expected"), [
    ("", "the spec is empty"),
    ("- a\n- b\n", "a comparison spec must be a mapping"),
    ("models: [openai/gpt-4o\nphotos: all\n", "line 2, column"),
    ("models:\n  - a/b\n bad indent: x\n", "line 3"),
])
def test_yaml_problems_are_located(text, expected):
    errors = errors_of(text)
    assert expected in errors[0], errors


def test_files(tmp_path: Path):
    path = tmp_path / "spec.yaml"
    path.write_text(MINIMAL, encoding="utf-8")
    assert load_spec(path) == load_spec(str(path)) == load_spec(MINIMAL)
    path.write_text("models: [a/b]\nphotos: all\niterations: 0\n", encoding="utf-8")
    with pytest.raises(SpecError, match="spec.yaml: iterations: must be at least 1"):
        load_spec(path)
    with pytest.raises(SpecError, match="no such file"):
        load_spec(tmp_path / "missing.yaml")
    with pytest.raises(SpecError, match="no such file"):
        load_spec(str(tmp_path / "missing.yml"))
    (tmp_path / "binary.yaml").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(SpecError, match="cannot be read"):
        load_spec(tmp_path / "binary.yaml")
    with pytest.raises(SpecError, match="must be a mapping"):
        parse_spec(["not", "a", "mapping"])


# ---- round trips ------------------------------------------------------------------------------

def test_yaml_round_trip_keeps_everything():
    spec = ComparisonSpec(
        name="Everything: set",
        description="All the knobs.",
        models=(ModelRef(provider="openai", model="gpt-4o"),
                ModelRef(provider="anthropic", model="claude-haiku-4-5", label="Haiku",
                         timeout_s=20)),
        comparison_type="cost",
        photos=("chelsea", "rocket"),
        prompts=PromptSelection(features=("safety_chat",), ids=("search-spelling",)),
        iterations=7, concurrency=32, timeout_s=90, temperature=0.0, max_tokens=300,
        retries=4, rate_limits_rpm={"openai": 120},
        judge=JudgeSpec(provider="openai", model="gpt-4.1", rubric="Be strict about facts.",
                        pass_score=0.8),
        thresholds=Thresholds(min_accuracy=0.75, max_p95_latency_ms=2500,
                              max_cost_per_request_usd=0.004, models=("Haiku",)),
    )
    text = dump_spec(spec)
    assert load_spec(text) == spec
    assert dump_spec(load_spec(text)) == text
    assert "Be strict about facts." in text and "Haiku" in text
    minimal = load_spec(MINIMAL)
    assert load_spec(dump_spec(minimal)) == minimal
    everything = load_spec("models: [a/b]\nphotos: all\nprompts: all\n")
    assert load_spec(dump_spec(everything)) == everything


_slug = st.from_regex(r"[a-z][a-z0-9_-]{0,10}", fullmatch=True)
_model_id = st.from_regex(r"[a-z][a-z0-9.:-]{0,12}", fullmatch=True)


@settings(max_examples=60, deadline=None)
@given(
    models=st.lists(st.tuples(_slug, _model_id), min_size=1, max_size=MAX_MODELS,
                    unique=True),
    kind=st.sampled_from(COMPARISON_TYPES),
    photos=st.one_of(st.just("all"), st.lists(_slug, max_size=4, unique=True)),
    features=st.lists(st.sampled_from(PROMPT_FEATURES), max_size=3, unique=True),
    iterations=st.integers(1, 20),
    concurrency=st.integers(1, 64),
    temperature=st.one_of(st.none(), st.floats(0, 2, allow_nan=False)),
    min_accuracy=st.one_of(st.none(), st.floats(0, 1, allow_nan=False)),
)
def test_any_valid_spec_round_trips(models, kind, photos, features, iterations, concurrency,
                                    temperature, min_accuracy):
    if photos != "all" and not photos and not features:
        features = [PROMPT_FEATURES[0]]
    spec = ComparisonSpec(
        models=tuple(ModelRef(provider=p, model=m) for p, m in models),
        comparison_type=kind, photos=photos if photos == "all" else tuple(photos),
        prompts=PromptSelection(features=tuple(features)), iterations=iterations,
        concurrency=concurrency, temperature=temperature,
        thresholds=Thresholds(min_accuracy=min_accuracy))
    assert load_spec(dump_spec(spec)) == spec
