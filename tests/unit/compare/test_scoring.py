"""Scoring of single answers: tags with synonyms, assertions, the LLM judge, buckets, consistency."""

from __future__ import annotations

import asyncio
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.compare.scoring import (
    DEFAULT_RUBRIC,
    Assertion,
    Bucket,
    BucketThresholds,
    TagVocabulary,
    bucket,
    build_judge_prompt,
    check_assertion,
    consistency,
    extract_tags,
    jaccard,
    judge_answer,
    normalise_tag,
    parse_judge_output,
    run_assertions,
    score_tagging,
    singularise,
    tag_consistency,
    tag_scores,
    text_consistency,
)

PROPS = settings(max_examples=120, deadline=None, derandomize=True)

VOCAB = TagVocabulary.from_labels(
    [
        {"tag": "cat", "synonyms": ["kitten", "kitty", "feline"]},
        {"name": "coffee cup", "synonyms": ["mug", "coffee mug"]},
        "brick wall",
        "person",
        "rocket",
    ],
    {"astronaut": ["spaceman", "space suit"]},
)

words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=10)
tagsets = st.lists(st.sampled_from(["cat", "dog", "sky", "tree", "car", "wall", "cup"]), max_size=7)


# --- normalisation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("plural", "singular"),
    [
        ("cats", "cat"),
        ("boxes", "box"),
        ("berries", "berry"),
        ("watches", "watch"),
        ("dresses", "dress"),
        ("people", "person"),
        ("leaves", "leaf"),
        ("shoes", "shoe"),
        ("photos", "photo"),
        ("grass", "grass"),
        ("bus", "bus"),
        ("glasses", "glasses"),
        ("gas", "gas"),
    ],
)
def test_singularise_simple_plurals(plural: str, singular: str) -> None:
    assert singularise(plural) == singular


def test_normalise_tag_case_space_punctuation_articles() -> None:
    assert normalise_tag("  The Brick-Walls! ") == "brick wall"
    assert normalise_tag("dog's") == "dog"
    assert normalise_tag("COFFEE_CUPS") == "coffee cup"
    assert normalise_tag("") == ""


@PROPS
@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz ABCXYZ-_'.,!s", max_size=40))
def test_normalise_tag_is_idempotent(text: str) -> None:
    once = normalise_tag(text)
    assert normalise_tag(once) == once


@PROPS
@given(words)
def test_singularise_is_idempotent(word: str) -> None:
    assert singularise(singularise(word)) == singularise(word)


# --- synonyms and extraction -----------------------------------------------------------------


def test_predicted_synonym_counts_as_its_canonical_tag() -> None:
    assert VOCAB.canonicalise("Kittens") == "cat"
    assert VOCAB.canonicalise("coffee mugs") == "coffee cup"
    assert VOCAB.canonicalise("Spacemen") != "astronaut"  # irregular plural, not a rule
    assert VOCAB.canonicalise("spaceman") == "astronaut"
    assert VOCAB.canonicalise("zebra") == "zebra"
    s = tag_scores(["kitty", "mug"], ["cat", "coffee cup"], VOCAB)
    assert (s.precision, s.recall, s.f1) == (1.0, 1.0, 1.0)


def test_vocabulary_from_tag_objects_and_per_photo_merge() -> None:
    class Tag:
        def __init__(self, name: str, synonyms: tuple[str, ...]) -> None:
            self.name, self.synonyms = name, synonyms

    photo = TagVocabulary.from_labels([Tag("woman", ("person", "lady"))])
    scoped = photo.merged(VOCAB)  # this photo's meaning of "person" wins
    assert scoped.canonicalise("person") == "woman" and VOCAB.canonicalise("person") == "person"
    assert scoped.canonicalise("kitten") == "cat"


def test_synonym_claimed_twice_goes_to_first_label() -> None:
    v = TagVocabulary.from_labels([{"tag": "stone", "synonyms": ["rock"]}], {"music": ["rock"]})
    assert v.canonicalise("rock") == "stone"
    merged = TagVocabulary.from_labels(["dog"]).merged(v)
    assert merged.canonicalise("rocks") == "stone" and merged.canonicalise("dogs") == "dog"


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("Cats, kittens and a brick wall", ["cat", "brick wall"]),
        ("cat; mug | rocket", ["cat", "coffee cup", "rocket"]),
        ("Tags: cat (0.98), people, red car", ["cat", "person", "red car"]),
        ("1. Cat\n2. Coffee cups\n- sky", ["cat", "coffee cup", "sky"]),
        (
            "A kitten sitting on a brick wall next to a coffee mug, photographed at dusk.",
            ["cat", "brick wall", "coffee cup"],
        ),
        ("The photo shows a spaceman in a space suit.", ["astronaut"]),
        ('["Cat", "Mug", "tree"]', ["cat", "coffee cup", "tree"]),
        ('```json\n{"tags": ["rockets", "sky"]}\n```', ["rocket", "sky"]),
        ("", []),
    ],
)
def test_extract_tags_from_free_text_and_json(answer: str, expected: list[str]) -> None:
    assert extract_tags(answer, VOCAB) == expected


def test_extract_tags_from_tagging_api_lists() -> None:
    clarifai = [{"name": "Feline", "value": 0.97}, {"name": "dog", "value": 0.2}]
    assert extract_tags(clarifai, VOCAB, min_confidence=0.5) == ["cat"]
    google = {"labelAnnotations": [{"description": "Rocket", "score": 0.9}]}
    assert extract_tags(google, VOCAB) == ["rocket"]
    assert extract_tags(["Cats", "cat", "kitten"], VOCAB) == ["cat"]
    assert extract_tags(None, VOCAB) == []


def test_extract_without_vocabulary_keeps_short_items() -> None:
    assert extract_tags("Dogs, trees and a red car") == ["dog", "tree", "red car"]
    assert extract_tags("A long sentence about something that is not a list") == []


def test_score_tagging_end_to_end() -> None:
    s = score_tagging("kitten, mug, dog", ["cat", "coffee cup", "brick wall"], VOCAB)
    assert s.matched == ("cat", "coffee cup")
    assert s.missed == ("brick wall",) and s.extra == ("dog",)
    assert s.precision == pytest.approx(2 / 3) and s.recall == pytest.approx(2 / 3)
    assert s.score == s.f1 == pytest.approx(2 / 3)


# --- F1 properties ---------------------------------------------------------------------------


@PROPS
@given(tagsets, tagsets)
def test_f1_is_symmetric_and_precision_recall_swap(pred: list[str], gold: list[str]) -> None:
    ab, ba = tag_scores(pred, gold), tag_scores(gold, pred)
    assert ab.f1 == pytest.approx(ba.f1)
    assert ab.precision == pytest.approx(ba.recall)
    assert ab.recall == pytest.approx(ba.precision)
    for x in (ab.precision, ab.recall, ab.f1):
        assert 0.0 <= x <= 1.0
    if ab.precision + ab.recall > 0:
        harmonic = 2 * ab.precision * ab.recall / (ab.precision + ab.recall)
        assert ab.f1 == pytest.approx(harmonic)


@PROPS
@given(tagsets)
def test_f1_identity_and_disjoint(tags: list[str]) -> None:
    assert tag_scores(tags, tags).f1 == 1.0
    if tags:
        assert tag_scores(tags, ["zzz-unrelated"]).f1 == 0.0
        assert tag_scores([], tags).f1 == 0.0
        assert tag_scores(tags, []).f1 == 0.0


@PROPS
@given(tagsets, tagsets, st.sampled_from(["cat", "dog", "sky"]))
def test_adding_a_correct_tag_never_lowers_recall(pred: list[str], gold: list[str], t: str) -> None:
    gold = [*gold, t]
    assert tag_scores([*pred, t], gold).recall >= tag_scores(pred, gold).recall


# --- assertions ------------------------------------------------------------------------------

OUT = '{"answer": "Paris", "confidence": 0.9}'


@pytest.mark.parametrize(
    ("assertion", "output", "passed"),
    [
        ({"type": "equals", "value": "Paris"}, " Paris\n", True),
        ({"type": "equals", "value": "Paris"}, "paris", False),
        ({"type": "contains", "value": "Paris"}, OUT, True),
        ({"type": "contains", "value": "paris"}, OUT, False),
        ({"type": "icontains", "value": "PARIS"}, OUT, True),
        ({"type": "icontains", "value": "London"}, OUT, False),
        ({"type": "contains-any", "value": ["London", "Paris"]}, OUT, True),
        ({"type": "contains-all", "value": ["London", "Paris"]}, OUT, False),
        ({"type": "regex", "value": r"\d\.\d"}, OUT, True),
        ({"type": "regex", "value": r"^\d+$"}, OUT, False),
        ({"type": "not-contains", "value": "London"}, OUT, True),
        ({"type": "not-contains", "value": "Paris"}, OUT, False),
        ({"type": "not-icontains", "value": "PARIS"}, OUT, False),
        ({"type": "not-regex", "value": "Lond"}, OUT, True),
        ({"type": "is-json"}, OUT, True),
        ({"type": "is-json"}, "Paris.", False),
        ({"type": "is-json"}, f"```json\n{OUT}\n```", True),
        ({"type": "not-is-json"}, "plain words", True),
        (
            {"type": "json-schema", "value": {"type": "object", "required": ["answer"]}},
            OUT,
            True,
        ),
        (
            {
                "type": "json-schema",
                "value": {"properties": {"confidence": {"type": "number", "maximum": 0.5}}},
            },
            OUT,
            False,
        ),
        ({"type": "json-schema", "value": '{"type": "array"}'}, OUT, False),
        ({"type": "json-schema", "value": {"type": "object"}}, "not json", False),
    ],
)
def test_text_assertions(assertion: dict, output: str, passed: bool) -> None:
    r = check_assertion(assertion, output)
    assert r.passed is passed, r.reason
    assert r.reason


def test_latency_and_cost_assertions() -> None:
    assert check_assertion({"type": "max-latency", "value": 500}, "x", latency_ms=420).passed
    slow = check_assertion({"type": "max-latency", "threshold": 500}, "x", latency_ms=900)
    assert not slow.passed and "900" in slow.reason
    assert check_assertion({"type": "max-cost", "value": 0.01}, None, cost_usd=0.002).passed
    assert not check_assertion({"type": "max-cost", "value": 0.001}, "x", cost_usd=0.002).passed
    missing = check_assertion({"type": "max-latency", "value": 500}, "x")
    assert not missing.passed and "not recorded" in missing.reason
    bad = check_assertion({"type": "max-cost", "value": "cheap"}, "x", cost_usd=0.1)
    assert not bad.passed and bad.reason


@pytest.mark.parametrize(
    ("assertion", "needle"),
    [
        ({"type": "regex", "value": "([a-z"}, "invalid regex"),
        ({"type": "not-regex", "value": "(unclosed"}, "invalid regex"),
        ({"type": "json-schema", "value": {"type": "no-such-type"}}, "invalid JSON schema"),
        ({"type": "json-schema", "value": {"minimum": "ten"}}, "invalid JSON schema"),
        ({"type": "json-schema", "value": "{not json"}, "schema is not valid JSON"),
        ({"type": "json-schema"}, "needs a schema"),
        ({"type": "contains"}, "needs a value"),
        ({"type": "contains-all", "value": []}, "needs a value"),
        ({"type": "telepathy", "value": 1}, "unknown assertion type"),
        ({"type": "not-telepathy", "value": 1}, "unknown assertion type"),
    ],
)
def test_broken_assertions_fail_with_a_reason(assertion: dict, needle: str) -> None:
    r = check_assertion(assertion, OUT)
    assert r.passed is False
    assert needle in r.reason


def test_malformed_assertions_fail_instead_of_raising() -> None:
    bad_weight = check_assertion({"type": "contains", "value": "x", "weight": "heavy"}, "x")
    assert not bad_weight.passed and "malformed assertion" in bad_weight.reason
    assert check_assertion("is-json", "[1]").passed  # a bare type string
    assert not check_assertion(42, "x").passed  # type: ignore[arg-type]
    outcome = run_assertions([{"type": "contains", "value": "x", "weight": "?"}, "is-json"], "[1]")
    assert outcome.score == 0.5  # the malformed one still counts, as a failure


def test_failed_call_fails_text_assertions_even_negated() -> None:
    for kind in ("contains", "not-contains", "is-json", "not-is-json"):
        r = check_assertion({"type": kind, "value": "x"}, None)
        assert not r.passed and "no output" in r.reason


def test_scoring_checks_a_prompt_sets_own_assertions() -> None:
    """One Assertion type: the validated one of prompt sets, checked as it is (no dict
    round trip), thresholds included."""
    from core.compare import samples

    assert Assertion is samples.Assertion
    fast = Assertion(type="max-latency", threshold=500)
    assert check_assertion(fast, "x", latency_ms=420).passed
    assert not check_assertion(fast, "x", latency_ms=900).passed
    cheap = samples.Assertion.model_validate({"type": "cost", "value": 0.01, "weight": 2})
    result = check_assertion(cheap, "x", cost_usd=0.02)
    assert not result.passed and result.weight == 2 and "0.02" in result.reason
    schema = Assertion(type="json-schema", value={"type": "object", "required": ["answer"]})
    assert check_assertion(schema, OUT).passed
    assert check_assertion(Assertion(type="not-contains", value="London"), OUT).passed


def test_run_assertions_weighted_score() -> None:
    outcome = run_assertions(
        [
            Assertion(type="contains", value="Paris", weight=3),
            {"type": "is-json"},
            {"type": "contains", "value": "London", "weight": 1},
        ],
        OUT,
    )
    assert outcome.score == pytest.approx(4 / 5)
    assert not outcome.passed and len(outcome.results) == 3
    assert run_assertions([], OUT).score is None
    unweighted = run_assertions([Assertion(type="is-json", weight=0),
                                 Assertion(type="equals", value="x", weight=0)], OUT)
    assert unweighted.score == 0.5


@PROPS
@given(
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(
                [
                    "equals",
                    "contains",
                    "icontains",
                    "regex",
                    "not-contains",
                    "is-json",
                    "json-schema",
                    "max-latency",
                    "max-cost",
                    "nonsense",
                    "not-regex",
                ]
            ),  # fmt: skip
            "value": st.one_of(
                st.none(),
                st.text(max_size=12),
                st.integers(-5, 5),
                st.lists(st.text(max_size=4), max_size=3),
                st.dictionaries(
                    st.sampled_from(["type", "minimum", "required"]), st.text(max_size=5)
                ),
            ),
        }
    ),
    st.one_of(st.none(), st.text(max_size=30)),
    st.one_of(st.none(), st.floats(0, 1e4)),
)
def test_assertions_never_raise(assertion: dict, output: str | None, latency: float | None) -> None:
    r = check_assertion(assertion, output, latency_ms=latency, cost_usd=latency)
    assert isinstance(r.passed, bool) and r.reason


# --- judge -----------------------------------------------------------------------------------


def test_judge_prompt_has_rubric_reference_and_fenced_answer() -> None:
    p = build_judge_prompt("Be strict.", "It is Paris.", reference="Paris", question="Capital?")
    assert "Be strict." in p and "REFERENCE ANSWER:\nParis" in p and "Capital?" in p
    assert "<<<\nIt is Paris.\n>>>" in p and '"score"' in p
    assert "REFERENCE" not in build_judge_prompt(None, "x")


def test_one_default_rubric_the_one_runs_use() -> None:
    from core.compare import spec

    assert spec.JudgeSpec(provider="openai", model="gpt-4.1").rubric == DEFAULT_RUBRIC
    assert spec.DEFAULT_RUBRIC is DEFAULT_RUBRIC
    assert DEFAULT_RUBRIC in build_judge_prompt(None, "x")  # a judge without a rubric too


@pytest.mark.parametrize(
    ("reply", "score", "reason_part"),
    [
        ('{"score": 8, "reason": "mostly right"}', 0.8, "mostly right"),
        (
            'Sure! ```json\n{"rating": 10, "explanation": "perfect"}\n``` Hope this helps',
            1.0,
            "perfect",
        ),  # fmt: skip
        ('{"score": 0.75, "reasoning": "ok"}', 0.75, "ok"),
        ('{"score": "7/10", "justification": "fine"}', 0.7, "fine"),
        ('{"pass": true, "reason": "meets rubric"}', 1.0, "meets rubric"),
        ("Score: 7/10\nReason: misses one detail", 0.7, "misses one detail"),
        ("The answer is accurate but terse.\n\n**Score:** 9", 0.9, "accurate but terse"),
        ("Rating = 85%", 0.85, ""),
        ("Initial score: 3. After checking the reference, final score: 6.", 0.6, ""),
        ("I'd give it 4 out of 5 because it skips the caveat.", 0.8, "skips the caveat"),
        ("Grade: 0.4 - partially correct", 0.4, "partially correct"),
        ("7", 0.7, ""),
        ("score: 0", 0.0, ""),
    ],
)
def test_parse_messy_judge_replies(reply: str, score: float, reason_part: str) -> None:
    v = parse_judge_output(reply)
    assert v.ok and v.score == pytest.approx(score), v
    assert reason_part in v.reason and v.reason


@pytest.mark.parametrize(
    "reply", ["", None, "I cannot evaluate this.", "score: 42", "Score: -3", '{"score": "high"}']
)
def test_unreadable_judge_replies_have_no_score(reply: str | None) -> None:
    v = parse_judge_output(reply)
    assert v.score is None and not v.ok and v.reason


@PROPS
@given(st.text(max_size=80))
def test_judge_parsing_never_raises_and_stays_in_range(reply: str) -> None:
    v = parse_judge_output(reply)
    assert v.score is None or 0.0 <= v.score <= 1.0


def test_judge_answer_uses_the_injected_call() -> None:
    prompts: list[str] = []

    async def fake(prompt: str) -> str:
        prompts.append(prompt)
        return '{"score": 6, "reason": "ok"}'

    async def broken(prompt: str) -> str:
        raise TimeoutError("judge timed out")

    v = asyncio.run(judge_answer(fake, "Paris", rubric="Name the capital.", reference="Paris"))
    assert v.score == pytest.approx(0.6) and prompts and "Name the capital." in prompts[0]
    failed = asyncio.run(judge_answer(broken, "Paris"))
    assert failed.score is None and "judge timed out" in failed.reason


# --- buckets ---------------------------------------------------------------------------------


def test_buckets_default_and_custom_thresholds() -> None:
    assert bucket(0.8) is Bucket.accurate
    assert bucket(0.79) is Bucket.partial
    assert bucket(0.4) is Bucket.partial
    assert bucket(0.39) is Bucket.failed
    assert bucket(1.0, error=True) is Bucket.failed
    assert bucket(None) is Bucket.failed and bucket(math.nan) is Bucket.failed
    strict = BucketThresholds.from_mapping({"accurate": 0.95, "partial": 0.6})
    assert bucket(0.9, thresholds=strict) is Bucket.partial
    assert BucketThresholds.from_mapping(None) == BucketThresholds()
    with pytest.raises(ValueError):
        BucketThresholds(accurate=0.3, partial=0.5)


@PROPS
@given(st.floats(0, 1), st.floats(0, 1))
def test_buckets_are_monotonic(x: float, y: float) -> None:
    order = {Bucket.failed: 0, Bucket.partial: 1, Bucket.accurate: 2}
    lo, hi = sorted((x, y))
    assert order[bucket(lo)] <= order[bucket(hi)]


# --- consistency -----------------------------------------------------------------------------


def test_consistency_examples() -> None:
    assert tag_consistency([["cat", "wall"]]) == 1.0
    assert tag_consistency([]) == 1.0
    assert tag_consistency([["cat"], ["kitten"], ["Cats"]], VOCAB) == 1.0
    assert tag_consistency([["cat"], ["dog"]]) == 0.0
    # pairs: {a,b}-{a} = 1/2, {a,b}-{b} = 1/2, {a}-{b} = 0
    assert tag_consistency([["a", "b"], ["a"], ["b"]]) == pytest.approx(1 / 3)
    assert text_consistency(["The cat sat.", "the CAT sat"]) == 1.0
    assert text_consistency(["A cat", None]) == 0.0
    assert consistency(["x y", "x z"]) == pytest.approx(1 / 3)
    assert consistency([["cat"], ["kitten"]], VOCAB) == 1.0
    assert jaccard([], []) == 1.0


@PROPS
@given(st.lists(tagsets, max_size=5))
def test_consistency_is_a_fraction_and_order_free(sets: list[list[str]]) -> None:
    c = tag_consistency(sets)
    assert 0.0 <= c <= 1.0
    assert tag_consistency(list(reversed(sets))) == pytest.approx(c)
