"""Classification rules as data: seed 003's defaults, first match wins, validation, kinds."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.model_classes import (
    DEFAULT_RULES,
    MODEL_CLASSES,
    ClassRule,
    RulesError,
    classify,
    input_types_of,
    is_snapshot,
    kind_of,
    parse_rules,
    recommended_for,
    released_at,
    specialties_of,
)
from core.providers.base import ModelInfo


@pytest.mark.parametrize(("ptype", "model_id", "expected"), [
    # OpenAI (seed 003 plus the GPT-4o family and dated snapshots)
    ("openai", "gpt-5", "flagship"),
    ("openai", "gpt-5-2025-08-07", "flagship"),
    ("openai", "gpt-5.1", "flagship"),
    ("openai", "gpt-5-mini", "fast"),
    ("openai", "gpt-5-mini-2025-08-07", "fast"),
    ("openai", "gpt-5-nano", "fast"),
    ("openai", "gpt-4.1", "legacy"),
    ("openai", "gpt-4.1-mini-2025-04-14", "legacy"),
    ("openai", "gpt-4o", "legacy"),
    ("openai", "gpt-4o-mini", "legacy"),
    ("openai", "o3-mini", "legacy"),
    ("openai", "text-embedding-3-small", None),
    # Anthropic: dashes or dots, aliases or snapshots
    ("anthropic", "claude-opus-4-1-20250805", "flagship"),
    ("anthropic", "claude-opus-4.1", "flagship"),
    ("anthropic", "claude-sonnet-4-5", "flagship"),
    ("anthropic", "claude-sonnet-4-5-20250929", "flagship"),
    ("anthropic", "claude-haiku-4-5-20251001", "fast"),
    ("anthropic", "claude-sonnet-4", "legacy"),
    ("anthropic", "claude-sonnet-4-20250514", "legacy"),
    ("anthropic", "claude-opus-4-0", "legacy"),
    ("anthropic", "claude-3-7-sonnet-20250219", "legacy"),
    # Google
    ("gemini", "gemini-2.5-pro", "flagship"),
    ("gemini", "gemini-2.5-flash", "fast"),
    ("gemini", "gemini-2.5-flash-lite", "fast"),
    ("gemini", "gemini-2.0-flash-001", "legacy"),
    ("gemini", "gemini-1.5-pro-002", "legacy"),
    ("gemini", "models/gemini-2.5-pro", "flagship"),
    # Mistral
    ("mistral", "mistral-large-latest", "flagship"),
    ("mistral", "mistral-large-2411", "flagship"),
    ("mistral", "mistral-medium-latest", "fast"),
    ("mistral", "mistral-small-latest", "fast"),
    # gateways serve the same models under the same names; case does not matter
    ("openai_compatible", "openai/gpt-5", "flagship"),
    ("openai_compatible", "GPT-5-MINI", "fast"),
    ("ollama", "llama3.2-vision:11b", None),
    ("gcp_vision", "builtin/stable", None),
])
def test_default_rules_follow_seed_003(ptype: str, model_id: str, expected: str | None) -> None:
    assert classify(ptype, model_id, DEFAULT_RULES) == expected


def test_first_matching_rule_wins_and_provider_type_limits_a_rule() -> None:
    rules = parse_rules([
        {"provider_type": "mistral", "pattern": "gpt-*", "model_class": "legacy"},
        {"pattern": "gpt-5*", "model_class": "fast", "note": "cheap tier first"},
        {"pattern": "gpt-5", "model_class": "flagship"},
    ])
    assert classify("openai", "gpt-5", rules) == "fast"  # the second rule shadows the third
    assert classify("mistral", "gpt-5", rules) == "legacy"  # only mistral sees the first
    assert classify("openai", "gpt-4o", rules) is None
    assert classify("openai", "gpt-5", list(reversed(rules))) == "flagship"


def test_regex_rules_match_the_whole_id_case_insensitively() -> None:
    (rule,) = parse_rules([{"pattern": r"gpt-\d", "match": "regex", "class": "legacy"}])
    assert rule.model_class == "legacy"  # "class" is accepted as the field's short name
    assert classify("openai", "GPT-4", [rule]) == "legacy"
    assert classify("openai", "gpt-4o", [rule]) is None  # fullmatch, not search


@pytest.mark.parametrize(("rules", "expected"), [
    ([{"pattern": "x", "model_class": "best"}], "Rule 1, model class: must be 'flagship', "
                                                "'fast' or 'legacy'"),
    ([{"pattern": "ok", "model_class": "fast"}, {"pattern": "(", "match": "regex",
                                                 "model_class": "fast"}],
     "Rule 2: pattern is not a valid regular expression"),
    ([{"model_class": "fast"}], "Rule 1, pattern: is required"),
    ([{"pattern": "", "model_class": "fast"}], "Rule 1, pattern: String should have at least 1"),
    ([{"pattern": "gpt-[5", "model_class": "fast"}], "unbalanced"),
    ([{"provider_type": "azure", "pattern": "x", "model_class": "fast"}],
     "Rule 1, provider type: unknown provider type 'azure'; use 'any' or one of openai"),
    ([{"pattern": "x", "model_class": "fast", "colour": "red"}],
     "Rule 1, colour: is not a rule field"),
    ([{"pattern": "a\nb", "model_class": "fast"}], "line breaks"),
    ({"pattern": "x"}, "Rules must be a list"),
    ([{"pattern": f"m{i}", "model_class": "fast"} for i in range(201)], "At most 200 rules"),
])
def test_bad_rules_get_messages_naming_the_rule_and_field(rules, expected: str) -> None:
    with pytest.raises(RulesError) as info:
        parse_rules(rules)
    assert any(expected in m for m in info.value.messages), info.value.messages


def test_any_provider_spellings_and_round_trip() -> None:
    rules = parse_rules([{"provider_type": "ANY", "pattern": " gpt-5* ", "model_class": "fast"},
                         {"provider_type": "", "pattern": "x", "model_class": "legacy"}])
    assert [r.provider_type for r in rules] == [None, None]
    assert rules[0].pattern == "gpt-5*"  # whitespace stripped
    assert parse_rules(rules) == rules
    assert parse_rules([r.model_dump() for r in DEFAULT_RULES]) == list(DEFAULT_RULES)


# ---- properties --------------------------------------------------------------------------

ids = st.from_regex(r"[a-z][a-z0-9.\-]{0,12}", fullmatch=True)
ptypes = st.sampled_from(["openai", "anthropic", "gemini", "mistral", "ollama"])
rule_st = st.builds(
    ClassRule,
    provider_type=st.one_of(st.none(), ptypes),
    pattern=st.one_of(ids, ids.map(lambda s: s[:3] + "*")),
    model_class=st.sampled_from(MODEL_CLASSES),
)


@settings(max_examples=120, deadline=None)
@given(rules=st.lists(rule_st, max_size=8), ptype=ptypes, model_id=ids)
def test_classify_is_the_first_matching_rule(rules, ptype, model_id) -> None:
    got = classify(ptype, model_id, rules)
    first = next((r for r in rules if r.matches(ptype, model_id)), None)
    assert got == (first.model_class if first else None)
    assert got is None or got in MODEL_CLASSES


@settings(max_examples=120, deadline=None)
@given(rules=st.lists(rule_st, max_size=8), ptype=ptypes, model_id=ids,
       cls=st.sampled_from(MODEL_CLASSES))
def test_a_catch_all_rule_decides_only_what_nothing_before_it_did(rules, ptype, model_id,
                                                                  cls) -> None:
    catch_all = ClassRule(pattern="*", model_class=cls)
    assert classify(ptype, model_id, [catch_all, *rules]) == cls
    before = classify(ptype, model_id, rules)
    assert classify(ptype, model_id, [*rules, catch_all]) == (before or cls)


@settings(max_examples=100, deadline=None)
@given(model_id=ids)
def test_defaults_never_crash_and_are_case_insensitive(model_id) -> None:
    assert classify("openai", model_id, DEFAULT_RULES) == \
        classify("openai", model_id.upper(), DEFAULT_RULES)


# ---- kinds, specialties, dates -----------------------------------------------------------

def test_kind_of() -> None:
    assert kind_of("gcp_vision", ModelInfo("builtin/stable", input_types=("image",),
                                           output_types=("tags",))) == "tagging"
    assert kind_of("anthropic", ModelInfo("claude-x", input_types=("text", "image"))) == \
        "multimodal"
    assert kind_of("ollama", ModelInfo("clip-only", input_types=("image",))) == "vision"
    # OpenAI-style listings say nothing about images: known vision families fill the gap
    assert kind_of("openai", ModelInfo("gpt-4o-mini")) == "multimodal"
    assert input_types_of("openai", ModelInfo("gpt-5")) == ("text", "image")
    assert kind_of("mistral", ModelInfo("mistral-large-latest")) == "text"
    assert kind_of("openai", ModelInfo("text-embedding-3-small")) == "text"


def test_specialties_and_recommendations() -> None:
    info = ModelInfo("gemini-2.5-pro", input_types=("text", "image"), context_window=1_048_576)
    assert specialties_of("gemini", info, "multimodal") == ("vision", "reasoning",
                                                            "long context")
    assert "local" in specialties_of("ollama", ModelInfo("llama3.2-vision:11b"), "multimodal")
    assert "coding" in specialties_of("mistral", ModelInfo("codestral-latest"), "text")
    assert "accuracy" in recommended_for("openai", "text", "flagship")
    assert "photos" in recommended_for("openai", "multimodal", "fast")
    assert "move" in recommended_for("openai", "text", "legacy")
    assert "tagging" in recommended_for("gcp_vision", "tagging", None).lower()


def test_release_dates_and_snapshots() -> None:
    assert released_at(ModelInfo("gpt-5", created=1_754_425_777)) == \
        datetime.fromtimestamp(1_754_425_777, UTC)
    assert released_at(ModelInfo("claude-sonnet-4-5-20250929")) == datetime(2025, 9, 29,
                                                                              tzinfo=UTC)
    assert released_at(ModelInfo("gpt-4o-2024-08-06")) == datetime(2024, 8, 6, tzinfo=UTC)
    assert released_at(ModelInfo("gemini-2.5-pro")) is None
    assert released_at(ModelInfo("x-20251399")) is None  # not a date
    assert is_snapshot("gpt-5-2025-08-07") and is_snapshot("gemini-2.0-flash-001")
    assert is_snapshot("mistral-large-2411")
    assert not is_snapshot("gpt-5") and not is_snapshot("mistral-large-latest")
