"""Scoring of one model answer: photo tags, prompt assertions, an LLM judge, buckets, consistency.

Every function here is pure (the judge's network call is injected), so a comparison can be
re-scored from recorded outputs without calling any model again.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import combinations
from typing import Any

import jsonschema

from core.compare.samples import Assertion

# ---------------------------------------------------------------------------------------------
# Tag normalisation
# ---------------------------------------------------------------------------------------------

# Irregular plurals a photo tagger commonly produces; everything else goes through the rules.
_IRREGULAR = {
    "people": "person",
    "persons": "person",
    "children": "child",
    "men": "man",
    "women": "woman",
    "mice": "mouse",
    "geese": "goose",
    "teeth": "tooth",
    "feet": "foot",
    "leaves": "leaf",
    "knives": "knife",
    "wolves": "wolf",
    "shelves": "shelf",
    "loaves": "loaf",
    "halves": "half",
    "calves": "calf",
    "scarves": "scarf",
    "shoes": "shoe",
    "toes": "toe",
    "tomatoes": "tomato",
    "potatoes": "potato",
    "heroes": "hero",
    "cookies": "cookie",
    "movies": "movie",
    "selfies": "selfie",
    "brownies": "brownie",
    "calories": "calorie",
    "oxen": "ox",
    "cacti": "cactus",
}
# Words that end in "s" but are not plurals we should strip (or whose singular means
# something else, as glasses/glass).
_INVARIANT = frozenset(
    {
        "series", "species", "news", "physics", "mathematics", "scissors", "trousers",
        "pants", "jeans", "shorts", "clothes", "glasses", "sunglasses", "headphones",
        "binoculars", "goggles", "tennis", "chess", "texas", "paris", "canvas", "always",
    }
)  # fmt: skip
_KEEP_ENDINGS = ("ss", "us", "is")
_ARTICLES = frozenset({"a", "an", "the", "some", "several", "many", "few"})


def singularise(word: str) -> str:
    """Strip simple English plurals so that "Cats" and "cat" are the same tag.

    Rules, not a lexicon: both the labels and the predictions go through the same function,
    so consistency matters more than linguistic perfection. Idempotent.
    """
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if len(word) <= 3 or word in _INVARIANT or not word.endswith("s"):
        return word
    if word.endswith(_KEEP_ENDINGS):
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "ches", "shes", "xes", "zzes")):
        return word[:-2]
    return word[:-1]


def normalise_tag(tag: str) -> str:
    """Canonical key of a tag: NFKC, lower case, punctuation and articles dropped, singular.

    Every word is singularised (not just the last) so that a vocabulary phrase found inside
    free text, where each token is singularised, compares equal to the label.
    """
    t = unicodedata.normalize("NFKC", str(tag)).lower()
    t = re.sub(r"['’]s\b", "", t)  # possessive: "dog's" -> "dog"
    t = re.sub(r"[_\-/]+", " ", t)
    t = re.sub(r"[^\w\s]+", " ", t)
    words = t.split()
    while words and words[0] in _ARTICLES:
        words = words[1:]
    return " ".join(singularise(w) for w in words)


def _tokens(text: str) -> list[str]:
    return normalise_tag(text).split() if text else []


@dataclass(frozen=True)
class TagVocabulary:
    """Known tags and their synonyms: every key maps to the canonical tag it stands for.

    Built from the labels so a predicted synonym ("kitten") counts as its canonical tag
    ("cat"). When two labels claim the same synonym, the first one wins.
    """

    canonical: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_labels(
        cls,
        tags: Iterable[Any] = (),  # str, a mapping, or an object with name/synonyms
        synonyms: Mapping[str, Iterable[str]] | None = None,
    ) -> TagVocabulary:
        """Tags as plain strings, ``{"tag"|"name": str, "synonyms": [...]}`` mappings or
        objects with ``name``/``synonyms``, plus an optional ``{canonical: [synonym, ...]}``
        mapping.

        Synonyms are per photo in labels.yaml (a word may mean different tags on two
        photos), so score each photo with its own vocabulary, merged over the global one:
        ``from_labels(photo_tags, photo_synonyms).merged(all_photos_vocab)``.
        """
        mapping: dict[str, str] = {}

        def add(canon: str, syns: Iterable[str]) -> None:
            key = normalise_tag(canon)
            if not key:
                return
            mapping.setdefault(key, key)
            for s in syns or ():
                sk = normalise_tag(s)
                if sk:
                    mapping.setdefault(sk, key)

        for entry in tags:
            if isinstance(entry, Mapping):
                name = entry.get("tag") or entry.get("name") or entry.get("label")
                if name:
                    add(str(name), entry.get("synonyms") or ())
            elif isinstance(tag_name := getattr(entry, "name", None), str):  # a samples.Tag
                add(tag_name, getattr(entry, "synonyms", None) or ())
            elif entry is not None:
                add(str(entry), ())
        for canon, syns in (synonyms or {}).items():
            add(canon, [syns] if isinstance(syns, str) else syns)
        return cls(mapping)

    def merged(self, other: TagVocabulary) -> TagVocabulary:
        """Union of two vocabularies (this one wins on conflicts)."""
        return TagVocabulary({**other.canonical, **self.canonical})

    def canonicalise(self, tag: str) -> str:
        """The canonical tag of ``tag``; an unknown tag stays as its normalised self."""
        key = normalise_tag(tag)
        return self.canonical.get(key, key)

    @property
    def max_words(self) -> int:
        return max((len(k.split()) for k in self.canonical), default=0)

    def find_in_text(self, text: str) -> list[str]:
        """Canonical tags whose key (or a synonym) occurs in ``text`` as whole words.

        Greedy longest match, so "coffee cup" is one tag rather than "coffee" and "cup".
        Negation ("no people") is not understood.
        """
        toks = _tokens(text)
        longest = self.max_words
        found: list[str] = []
        i = 0
        while i < len(toks):
            for n in range(min(longest, len(toks) - i), 0, -1):
                key = " ".join(toks[i : i + n])
                if key in self.canonical:
                    found.append(self.canonical[key])
                    i += n
                    break
            else:
                i += 1
        return _dedupe(found)


def _dedupe(items: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for x in items:
        if x and x not in seen:
            seen.add(x)
            out.append(x)
    return out


# ---------------------------------------------------------------------------------------------
# Tag extraction
# ---------------------------------------------------------------------------------------------

_NAME_KEYS = ("name", "tag", "label", "description", "concept", "text")
_CONF_KEYS = ("score", "confidence", "value", "probability")
_LIST_KEYS = ("tags", "labels", "keywords", "concepts", "objects", "labelAnnotations")
_SPLIT_RE = re.compile(r"\s*(?:[,;\n|•·]|\band\b|&|\s-\s)\s*", re.IGNORECASE)
_PREFIX_RE = re.compile(r"^\s*(?:tags?|labels?|keywords?|objects?)\s*:\s*", re.IGNORECASE)
_BULLET_RE = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
_NOISE_RE = re.compile(r"\([^)]*\)|\b\d+(?:\.\d+)?\b%?|[:=]\s*$")
_FENCE_RE = re.compile(r"^\s*```[a-zA-Z0-9_-]*\s*\n?(.*?)\n?\s*```\s*$", re.DOTALL)


def strip_code_fence(text: str) -> str:
    """The body of a single surrounding Markdown code fence, or ``text`` unchanged."""
    m = _FENCE_RE.match(text)
    return m.group(1) if m else text


def _tags_from_structured(obj: Any, min_confidence: float) -> list[str] | None:
    """Tags from a tagging API's list (strings or {name, score} objects), or None."""
    if isinstance(obj, Mapping):
        for key in _LIST_KEYS:
            if key in obj:
                return _tags_from_structured(obj[key], min_confidence)
        return None
    if not isinstance(obj, Sequence) or isinstance(obj, str | bytes):
        return None
    out: list[str] = []
    for item in obj:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, Mapping):
            name = next((item[k] for k in _NAME_KEYS if isinstance(item.get(k), str)), None)
            conf = next((item[k] for k in _CONF_KEYS if isinstance(item.get(k), int | float)), None)
            if name is not None and (conf is None or conf >= min_confidence):
                out.append(name)
    return out


def extract_tags(
    answer: str | Sequence[Any] | Mapping[str, Any] | None,
    vocab: TagVocabulary | None = None,
    *,
    max_tag_words: int = 3,
    min_confidence: float = 0.0,
) -> list[str]:
    """Canonical tags from a model's answer: a tag list, JSON, a comma list, or prose.

    Line by line: a line whose items (split on commas, semicolons, "and", "&", "|") are all
    short (≤ ``max_tag_words`` words after dropping articles and confidence numbers) is a
    list, and its items are tags as written; any other line is prose, from which only known
    vocabulary is picked. So "cat, dog and brick wall" gives three tags, and "A cat sitting
    on a brick wall, at dusk" gives the vocabulary words it mentions.
    """
    vocab = vocab or TagVocabulary()
    if answer is None:
        return []
    structured: list[str] | None = None
    if isinstance(answer, str):
        body = strip_code_fence(answer).strip()
        if body[:1] in "[{":
            try:
                structured = _tags_from_structured(json.loads(body), min_confidence)
            except ValueError:
                structured = None
    else:
        structured = _tags_from_structured(answer, min_confidence)
    if structured is not None:
        return _dedupe(vocab.canonicalise(t) for t in structured)

    text = str(answer)
    found: list[str] = []
    for line in text.splitlines() or [text]:
        line = _BULLET_RE.sub("", _PREFIX_RE.sub("", line))
        parts = [_NOISE_RE.sub(" ", p).strip(" .!?\"'`*") for p in _SPLIT_RE.split(line)]
        keys = [k for k in (normalise_tag(p) for p in parts) if k]
        if any(len(k.split()) > max_tag_words for k in keys):
            # A sentence: its short clauses ("photographed at dusk") are not tags.
            found.extend(vocab.find_in_text(line))
            continue
        for key in keys:
            canon = vocab.canonical.get(key)
            if canon is None and vocab.canonical:
                # "a red cat": keep the vocabulary word rather than an unknown phrase.
                found.extend(vocab.find_in_text(key) or [key])
            else:
                found.append(canon or key)
    return _dedupe(found)


@dataclass(frozen=True)
class TagScore:
    """Set-based precision, recall and F1 of predicted against expected canonical tags."""

    precision: float
    recall: float
    f1: float
    matched: tuple[str, ...]
    missed: tuple[str, ...]
    extra: tuple[str, ...]

    @property
    def score(self) -> float:
        return self.f1


def tag_scores(
    predicted: Iterable[str], expected: Iterable[str], vocab: TagVocabulary | None = None
) -> TagScore:
    """Precision, recall and F1 for one item, after synonym canonicalisation.

    Conventions: both sets empty → 1.0 (nothing to find, nothing invented); otherwise an
    undefined ratio (no predictions, or no labels) is 0.0. With these, swapping predicted and
    expected swaps precision and recall and leaves F1 unchanged.
    """
    vocab = vocab or TagVocabulary()
    pred = set(_dedupe(vocab.canonicalise(t) for t in predicted))
    gold = set(_dedupe(vocab.canonicalise(t) for t in expected))
    tp = pred & gold
    if not pred and not gold:
        p = r = f = 1.0
    else:
        p = len(tp) / len(pred) if pred else 0.0
        r = len(tp) / len(gold) if gold else 0.0
        f = 2 * len(tp) / (len(pred) + len(gold))
    return TagScore(
        p, r, f, tuple(sorted(tp)), tuple(sorted(gold - pred)), tuple(sorted(pred - gold))
    )


def score_tagging(
    answer: str | Sequence[Any] | Mapping[str, Any] | None,
    expected: Iterable[str],
    vocab: TagVocabulary | None = None,
    *,
    min_confidence: float = 0.0,
) -> TagScore:
    """Extract tags from a raw answer and score them against the labels in one step."""
    return tag_scores(extract_tags(answer, vocab, min_confidence=min_confidence), expected, vocab)


# ---------------------------------------------------------------------------------------------
# Assertions (in the spirit of promptfoo's deterministic asserts)
# ---------------------------------------------------------------------------------------------


def _assertion_fields(assertion: Assertion | Mapping[str, Any] | str) -> tuple[str, Any, float]:
    """(type, value or threshold, weight) of an assertion: the validated
    :class:`core.compare.samples.Assertion` of a prompt set, or, for promptfoo-style checks
    written by hand, a bare type or a mapping (which may use types uploads do not offer,
    such as ``contains-any`` or any ``not-`` prefix)."""
    if isinstance(assertion, Assertion):
        value = assertion.threshold if assertion.threshold is not None else assertion.value
        return assertion.type, value, assertion.weight
    if isinstance(assertion, str):
        return assertion.strip().lower(), None, 1.0
    value = assertion.get("value", assertion.get("threshold"))
    if value is None and "schema" in assertion:
        value = assertion["schema"]
    weight = assertion.get("weight")
    return (str(assertion.get("type", "")).strip().lower(), value,
            1.0 if weight is None else float(weight))


@dataclass(frozen=True)
class AssertionResult:
    type: str
    passed: bool
    reason: str
    weight: float = 1.0
    score: float | None = None  # graded (llm-rubric): 0-1; None: 1 when passed, else 0

    @property
    def value(self) -> float:
        """What this assertion adds to the answer's score (before weighting)."""
        return self.score if self.score is not None else float(self.passed)


@dataclass(frozen=True)
class AssertionsOutcome:
    """Weighted mean of the assertions' values (a pass/fail assertion is 1 or 0, a graded
    one its score), as promptfoo scores a test; ``score`` is None when there were none."""

    score: float | None
    passed: bool
    results: tuple[AssertionResult, ...]

    @classmethod
    def of(cls, results: Iterable[AssertionResult]) -> AssertionsOutcome:
        """The outcome of these results (weights ≥ 0; all zero: an unweighted mean)."""
        results = tuple(results)
        if not results:
            return cls(None, True, results)
        total = sum(max(r.weight, 0.0) for r in results)
        if total <= 0:
            score = sum(r.value for r in results) / len(results)
        else:
            score = sum(max(r.weight, 0.0) * r.value for r in results) / total
        return cls(score, all(r.passed for r in results), results)

    def plus(self, result: AssertionResult) -> AssertionsOutcome:
        """This outcome with one more assertion (e.g. the judge's llm-rubric)."""
        return AssertionsOutcome.of((*self.results, result))


def _short(value: Any, limit: int = 60) -> str:
    s = value if isinstance(value, str) else json.dumps(value, default=str)
    return s if len(s) <= limit else s[: limit - 1] + "…"


def _parse_json(output: str) -> tuple[Any, str | None]:
    try:
        return json.loads(strip_code_fence(output)), None
    except ValueError as exc:
        return None, f"output is not valid JSON: {exc}"


def _as_values(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]


def _check(kind: str, value: Any, output: str | None, latency_ms: float | None,
           cost_usd: float | None) -> tuple[bool | None, str]:  # fmt: skip
    """(passed, reason) for a positive assertion type; passed is None when the assertion
    cannot be evaluated (bad configuration, missing output or measurement)."""
    if kind in ("max-latency", "latency"):
        if value is None:
            return None, "max-latency needs a threshold in ms"
        if latency_ms is None:
            return None, "latency was not recorded"
        ok = latency_ms <= float(value)
        return ok, f"latency {latency_ms:.0f} ms {'≤' if ok else '>'} {float(value):g} ms"
    if kind in ("max-cost", "cost"):
        if value is None:
            return None, "max-cost needs a threshold in USD"
        if cost_usd is None:
            return None, "cost was not recorded"
        ok = cost_usd <= float(value)
        return ok, f"cost ${cost_usd:.6f} {'≤' if ok else '>'} ${float(value):g}"
    if output is None:
        return None, "no output (the call failed)"
    if kind == "equals":
        if value is None:
            return None, "equals needs a value"
        expected = value if isinstance(value, str) else json.dumps(value)
        ok = output.strip() == expected.strip()
        return ok, f"output {'equals' if ok else 'does not equal'} {_short(expected)!r}"
    if kind in ("contains", "icontains", "contains-any", "icontains-any", "contains-all",
                "icontains-all"):  # fmt: skip
        if value is None or (isinstance(value, list | tuple) and not value):
            return None, f"{kind} needs a value"
        fold = kind.startswith("i")
        hay = output.casefold() if fold else output
        needles = _as_values(value)
        hits = [n for n in needles if (n.casefold() if fold else n) in hay]
        if kind.endswith("-any"):
            ok = bool(hits)
        else:
            ok = len(hits) == len(needles)
        missing = [n for n in needles if n not in hits]
        if ok:
            return True, f"output contains {_short(hits if len(hits) > 1 else hits[0])!r}"
        return False, f"output lacks {_short(missing if len(missing) > 1 else missing[0])!r}"
    if kind == "regex":
        if not isinstance(value, str):
            return None, "regex needs a pattern string"
        try:
            pattern = re.compile(value)
        except re.error as exc:
            return None, f"invalid regex {value!r}: {exc}"
        m = pattern.search(output)
        return (True, f"regex matched {_short(m.group(0))!r}") if m else (
            False, f"regex {_short(value)!r} did not match")  # fmt: skip
    if kind in ("is-json", "json-schema"):
        schema = value
        if kind == "json-schema" and schema is None:
            return None, "json-schema needs a schema"
        if isinstance(schema, str):
            try:
                schema = json.loads(schema)
            except ValueError as exc:
                return None, f"schema is not valid JSON: {exc}"
        validator = None
        if schema is not None:
            try:  # check the schema before the output: a broken schema is not the model's fault
                validator_cls = jsonschema.validators.validator_for(schema)
                validator_cls.check_schema(schema)
                validator = validator_cls(schema)
            except jsonschema.SchemaError as exc:
                return None, f"invalid JSON schema: {exc.message}"
            except Exception as exc:  # a malformed schema can fail in many ways; never raise
                return None, f"invalid JSON schema: {exc}"
        doc, err = _parse_json(output)
        if err:
            return False, err
        if validator is None:
            return True, "output is valid JSON"
        try:
            errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
        except Exception as exc:  # e.g. an unresolvable $ref
            return None, f"invalid JSON schema: {exc}"
        if errors:
            first = errors[0]
            where = "/".join(str(p) for p in first.path) or "(root)"
            return False, f"schema violation at {where}: {first.message}"
        return True, "output matches the JSON schema"
    return None, f"unknown assertion type {kind!r}"


_KNOWN = ("equals", "contains", "icontains", "contains-any", "icontains-any", "contains-all",
          "icontains-all", "regex", "is-json", "json-schema", "max-latency", "latency",
          "max-cost", "cost")  # fmt: skip


def check_assertion(
    assertion: Assertion | Mapping[str, Any] | str,
    output: str | None,
    *,
    latency_ms: float | None = None,
    cost_usd: float | None = None,
) -> AssertionResult:
    """Run one assertion. Never raises: a broken assertion is a failed result with a reason.

    ``equals`` ignores surrounding whitespace; ``is-json``/``json-schema`` accept output
    wrapped in one Markdown code fence; any text type takes promptfoo's ``not-`` prefix, but
    an assertion that cannot be evaluated (bad regex or schema, no output) fails either way.
    """
    try:
        kind, value, weight = _assertion_fields(assertion)
    except Exception as exc:
        return AssertionResult(str(assertion)[:40], False, f"malformed assertion: {exc}")
    negate = kind.startswith("not-") and kind[4:] in _KNOWN
    base = kind[4:] if negate else kind
    try:
        ok, reason = _check(base, value, output, latency_ms, cost_usd)
    except Exception as exc:  # e.g. a threshold that is not a number
        return AssertionResult(kind, False, f"assertion error: {exc}", weight)
    if ok is None:  # cannot be evaluated: failed, whether negated or not
        return AssertionResult(kind, False, reason, weight)
    if negate:
        return AssertionResult(
            kind, not ok, ("NOT wanted: " if ok else "as required, ") + reason, weight
        )
    return AssertionResult(kind, ok, reason, weight)


def run_assertions(
    assertions: Iterable[Assertion | Mapping[str, Any] | str],
    output: str | None,
    *,
    latency_ms: float | None = None,
    cost_usd: float | None = None,
) -> AssertionsOutcome:
    """All assertions for one answer; score = weighted fraction passed (weights ≥ 0)."""
    return AssertionsOutcome.of(
        check_assertion(a, output, latency_ms=latency_ms, cost_usd=cost_usd) for a in assertions
    )


# ---------------------------------------------------------------------------------------------
# LLM judge
# ---------------------------------------------------------------------------------------------

JudgeCall = Callable[[str], Awaitable[str]]

# The rubric a judge grades with unless the spec gives its own (JudgeSpec's default and the
# Compare page's starting text): one definition, used by every run.
DEFAULT_RUBRIC = (
    "Score the answer from 0 to 1 against the reference answer: 1 when it says the same "
    "thing correctly and completely, 0.5 when it is partly right or misses details, 0 when "
    "it is wrong, unsafe or off-topic. Judge meaning, not wording."
)

_JUDGE_TEMPLATE = """You are an impartial evaluator. Grade the ANSWER against the RUBRIC.

RUBRIC:
{rubric}
{question}{reference}
ANSWER:
<<<
{answer}
>>>

Reply with only a JSON object: {{"score": <integer 0-10>, "reason": "<one sentence>"}}
where 10 means the answer fully satisfies the rubric and 0 means it does not at all."""


def build_judge_prompt(
    rubric: str | None, answer: str, *, reference: str | None = None, question: str | None = None
) -> str:
    """The judge's prompt; the answer is fenced so instructions inside it read as data."""
    return _JUDGE_TEMPLATE.format(
        rubric=(rubric or DEFAULT_RUBRIC).strip(),
        question=f"\nQUESTION:\n{question.strip()}\n" if question else "",
        reference=f"\nREFERENCE ANSWER:\n{reference.strip()}\n" if reference else "",
        answer=(answer or "").strip(),
    )


@dataclass(frozen=True)
class JudgeVerdict:
    """The judge's score scaled to 0–1 (None when unreadable) and its reason."""

    score: float | None
    reason: str
    raw: str = ""

    @property
    def ok(self) -> bool:
        return self.score is not None


_NUM = r"(-?\d+(?:\.\d+)?)"
_FRACTION_RE = re.compile(_NUM + r"\s*(?:/|out\s+of)\s*(\d+(?:\.\d+)?)", re.IGNORECASE)
_LABELLED_RE = re.compile(
    r"\b(?:score|rating|grade)s?\b\**\s*(?:[:=]|is|of)?\s*\**\s*" + _NUM
    + r"(?:\s*(?:/|out\s+of)\s*(\d+(?:\.\d+)?))?\s*(%)?",
    re.IGNORECASE,
)  # fmt: skip
_REASON_RE = re.compile(
    r"(?:reason|reasoning|explanation|justification|rationale)\**\s*[:=]\s*\**\s*(.+)",
    re.IGNORECASE | re.DOTALL,
)
_REASON_KEYS = ("reason", "reasoning", "explanation", "justification", "rationale", "comment")
_SCORE_KEYS = ("score", "rating", "grade", "mark")


def _scale(value: float, denom: float | None, percent: bool, literal: str) -> float | None:
    """Map a raw score onto 0–1: n/d as written, 'x%' as a percentage, a decimal ≤ 1 as
    already 0–1, anything else on the 0–10 scale the prompt asks for; out of range → None."""
    if not math.isfinite(value) or value < 0:
        return None
    if denom is not None:
        return value / denom if 0 < denom and value <= denom else None
    if percent:
        return value / 100 if value <= 100 else None
    if "." in literal and value <= 1:
        return value
    return value / 10 if value <= 10 else None


def _first_json_object(text: str) -> Any:
    """The first balanced ``{...}`` in ``text`` that parses as JSON, else None."""
    start = text.find("{")
    while start != -1:
        depth, in_str, esc = 0, False, False
        for i in range(start, len(text)):
            c = text[i]
            if in_str:
                esc = (c == "\\") and not esc
                if c == '"' and not esc:
                    in_str = False
                elif c != "\\":
                    esc = False
                continue
            if c == '"':
                in_str = True
            elif c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0:
                    try:
                        return json.loads(text[start : i + 1])
                    except ValueError:
                        break
        start = text.find("{", start + 1)
    return None


def parse_judge_output(text: str | None) -> JudgeVerdict:
    """Score (0–1) and reason from whatever the judge wrote, most explicit form first:
    a JSON object, then the last "score: x[/y]" label, then a lone fraction "x/y", then a
    reply that is just a number. Never raises."""
    raw = text or ""
    body = raw.strip()
    if not body:
        return JudgeVerdict(None, "empty judge reply", raw)
    obj = _first_json_object(body)
    if isinstance(obj, Mapping):
        reason = next((str(obj[k]) for k in _REASON_KEYS if obj.get(k) not in (None, "")), "")
        for k in _SCORE_KEYS:
            v = obj.get(k)
            if isinstance(v, bool):
                return JudgeVerdict(1.0 if v else 0.0, reason or "judge gave pass/fail", raw)
            if isinstance(v, int | float):
                s = _scale(
                    float(v), None, False, repr(float(v)) if isinstance(v, float) else str(v)
                )
                if s is not None:
                    return JudgeVerdict(s, reason or "no reason given", raw)
            if isinstance(v, str):
                inner = parse_judge_output(f"score: {v}")
                if inner.ok:
                    return JudgeVerdict(inner.score, reason or "no reason given", raw)
        if isinstance(obj.get("pass"), bool):
            return JudgeVerdict(1.0 if obj["pass"] else 0.0, reason or "judge gave pass/fail", raw)

    score: float | None = None
    labelled = list(_LABELLED_RE.finditer(body))
    for m in reversed(labelled):  # judges often reason first and state the final score last
        denom = float(m.group(2)) if m.group(2) else None
        score = _scale(float(m.group(1)), denom, bool(m.group(3)), m.group(1))
        if score is not None:
            break
    if score is None:
        for m in reversed(list(_FRACTION_RE.finditer(body))):
            score = _scale(float(m.group(1)), float(m.group(2)), False, m.group(1))
            if score is not None:
                break
    if score is None:
        whole = re.fullmatch(r"\**\s*" + _NUM + r"\s*(%)?\s*\**\.?", body)
        if whole:
            score = _scale(float(whole.group(1)), None, bool(whole.group(2)), whole.group(1))
    if score is None:
        return JudgeVerdict(None, f"no score found in judge reply: {_short(body, 120)}", raw)

    rm = _REASON_RE.search(body)
    if rm:
        reason = rm.group(1).strip()
    else:  # the text around the score: lines without one, else the text minus the score
        lines = [ln for ln in body.splitlines() if ln.strip() and not _LABELLED_RE.search(ln)]
        reason = " ".join(ln.strip() for ln in lines) or _LABELLED_RE.sub(" ", body)
        if re.fullmatch(r"[\W\d_]*", reason):
            reason = ""
    reason = " ".join(reason.split()).strip(" *\"'`{}.,;:-") or "no reason given"
    return JudgeVerdict(score, reason[:500], raw)


async def judge_answer(
    call: JudgeCall,
    answer: str,
    *,
    rubric: str | None = None,
    reference: str | None = None,
    question: str | None = None,
) -> JudgeVerdict:
    """Ask the injected judge model and parse its verdict; a failed call is an unscored
    verdict, never an exception, so one judge error does not sink a comparison."""
    prompt = build_judge_prompt(rubric, answer, reference=reference, question=question)
    try:
        reply = await call(prompt)
    except Exception as exc:
        return JudgeVerdict(None, f"judge call failed: {type(exc).__name__}: {exc}")
    return parse_judge_output(reply)


LLM_RUBRIC = "llm-rubric"


def rubric_assertion(verdict: JudgeVerdict, pass_score: float,
                     weight: float = 1.0) -> AssertionResult | None:
    """The judge's verdict as promptfoo's ``llm-rubric`` assertion: its value is the judge's
    0–1 score and it passes at ``pass_score`` or above. None when the judge gave no score
    (the answer is then scored on its other assertions only)."""
    if verdict.score is None:
        return None
    score = min(max(float(verdict.score), 0.0), 1.0)
    return AssertionResult(LLM_RUBRIC, score >= pass_score, verdict.reason, weight, score)


# ---------------------------------------------------------------------------------------------
# Buckets
# ---------------------------------------------------------------------------------------------


class Bucket(StrEnum):
    accurate = "accurate"
    partial = "partial"
    failed = "failed"


@dataclass(frozen=True)
class BucketThresholds:
    """Score cut-offs (inclusive): ≥ accurate → accurate, ≥ partial → partial, else failed."""

    accurate: float = 0.8
    partial: float = 0.4

    def __post_init__(self) -> None:
        if not 0.0 <= self.partial <= self.accurate <= 1.0:
            raise ValueError("thresholds need 0 ≤ partial ≤ accurate ≤ 1")

    @classmethod
    def from_mapping(cls, data: Mapping[str, float] | None) -> BucketThresholds:
        data = data or {}
        return cls(
            float(data.get("accurate", cls.accurate)), float(data.get("partial", cls.partial))
        )


DEFAULT_THRESHOLDS = BucketThresholds()


def bucket(
    score: float | None, *, error: bool = False, thresholds: BucketThresholds = DEFAULT_THRESHOLDS
) -> Bucket:
    """Bucket of one scored answer; an error or a missing/NaN score is failed."""
    if error or score is None or not math.isfinite(score):
        return Bucket.failed
    if score >= thresholds.accurate:
        return Bucket.accurate
    if score >= thresholds.partial:
        return Bucket.partial
    return Bucket.failed


# ---------------------------------------------------------------------------------------------
# Consistency across iterations
# ---------------------------------------------------------------------------------------------


def jaccard(a: Iterable[str], b: Iterable[str]) -> float:
    """|A∩B| / |A∪B|, with two empty sets agreeing perfectly (1.0)."""
    sa, sb = set(a), set(b)
    if not sa and not sb:
        return 1.0
    return len(sa & sb) / len(sa | sb)


def _mean_pairwise(sets: Sequence[set[str]]) -> float:
    if len(sets) < 2:
        return 1.0
    pairs = list(combinations(sets, 2))
    return sum(jaccard(a, b) for a, b in pairs) / len(pairs)


def tag_consistency(tag_sets: Sequence[Iterable[str]], vocab: TagVocabulary | None = None) -> float:
    """Mean pairwise Jaccard of the canonical tag sets a model gave one item over iterations.
    One (or no) iteration is trivially consistent: 1.0."""
    vocab = vocab or TagVocabulary()
    return _mean_pairwise([{vocab.canonicalise(t) for t in tags} for tags in tag_sets])


def text_tokens(text: str | None) -> set[str]:
    """Normalised word set of a text: NFKC, case-folded, punctuation dropped."""
    t = unicodedata.normalize("NFKC", text or "").casefold()
    return set(re.findall(r"\w+", t))


def text_consistency(texts: Sequence[str | None]) -> float:
    """Mean pairwise token Jaccard of one item's answers over iterations (None = empty)."""
    return _mean_pairwise([text_tokens(t) for t in texts])


def consistency(outputs: Sequence[Any], vocab: TagVocabulary | None = None) -> float:
    """Dispatch: strings are compared as text, anything else as tag collections."""
    if all(o is None or isinstance(o, str) for o in outputs):
        return text_consistency(outputs)
    return tag_consistency([o or () for o in outputs], vocab)
