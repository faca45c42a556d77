"""A comparison spec made concrete: which provider serves each model, every call to make, and
how each answer is scored.

The spec names models by provider (a configured provider's id, name or type) and model id;
the samples give photos with ground-truth tags and prompts with assertions. This module turns
them into the runner's :class:`~core.compare.runner.PlannedCall` list and a score function, so
the page, the CLI and the benchmark all plan a comparison the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from core.catalog.view import provider_name_for
from core.compare.runner import Outcome, PlannedCall, ScoreResult
from core.compare.samples import Prompt, SamplePhoto, SampleSet
from core.compare.scoring import (
    DEFAULT_THRESHOLDS,
    AssertionResult,
    AssertionsOutcome,
    BucketThresholds,
    TagVocabulary,
    bucket,
    extract_tags,
    rubric_assertion,
    run_assertions,
    tag_scores,
)
from core.compare.spec import ComparisonSpec, JudgeSpec, ModelRef, SpecError
from core.config_store import ProviderRecord
from core.pricing import ModelPrice, price_for
from core.providers.base import CallOptions, Completion, ImagePart, Part, TextPart
from core.providers.registry import capabilities

if TYPE_CHECKING:
    from core.compare.judge import Judge


@dataclass(frozen=True)
class Item:
    """One photo or prompt every model answers."""

    id: str
    kind: Literal["photo", "prompt"]
    photo: SamplePhoto | None = None
    prompt: Prompt | None = None


@dataclass(frozen=True)
class Plan:
    spec: ComparisonSpec
    models: dict[str, ModelRef]  # model_key -> the spec's model
    providers: dict[str, ProviderRecord]  # model_key -> the provider that serves it
    items: dict[str, Item]
    calls: list[PlannedCall]
    judge: JudgeSpec | None = None
    judge_provider: ProviderRecord | None = None  # set whenever ``judge`` is

    @property
    def total(self) -> int:
        return len(self.calls)

    @property
    def judge_calls(self) -> int:
        """Judge calls the run may make: one per call of a prompt with a reference, as the
        judged scorer grades them (none without a judge)."""
        if self.judge is None:
            return 0
        return sum(1 for c in self.calls
                   if (q := self.items[c.item_id].prompt) is not None and q.reference)


def resolve_provider(ref: ModelRef, records: Iterable[ProviderRecord], *,
                     where: str = "models") -> ProviderRecord:
    """The enabled provider a spec means: its id, else its name, else the first of its type.
    ``where`` names the part of the spec in the error (``models`` or ``judge``)."""
    usable = [r for r in records if r.settings.enabled]
    want = ref.provider.strip().lower()
    for match in (lambda r: r.id.lower() == want, lambda r: r.name.lower() == want,
                  lambda r: r.type.value == want):
        found = [r for r in usable if match(r)]
        if found:
            return found[0]
    names = ", ".join(sorted(r.id for r in usable)) or "none configured"
    raise SpecError([f"{where} › {ref.key}: no enabled provider '{ref.provider}' "
                     f"(providers: {names})"])


def resolve_judge(judge: JudgeSpec, records: Iterable[ProviderRecord]) -> ProviderRecord:
    """The provider that serves the judge; a SpecError when none is configured or it cannot
    write text (a judge has to answer with a score and a reason)."""
    record = resolve_provider(judge.ref, records, where="judge")
    if capabilities(record.type.value).tagging_only:
        raise SpecError([f"judge › {judge.ref.key}: {record.name} only tags photos and "
                         "cannot grade answers; choose a text model as the judge"])
    return record


def _photo_parts(photo: SamplePhoto, prompt: str) -> list[Part]:
    return [ImagePart(photo.read_bytes(), photo.mime), TextPart(prompt)]


def _prompt_parts(prompt: Prompt, samples: SampleSet) -> list[Part]:
    parts: list[Part] = []
    if prompt.photo and (photo := samples.photo(prompt.photo)) is not None:
        parts.append(ImagePart(photo.read_bytes(), photo.mime))
    parts.append(TextPart(prompt.text))
    return parts


def build_plan(spec: ComparisonSpec, samples: SampleSet,
               records: Iterable[ProviderRecord]) -> Plan:
    """Every call of the comparison: model × item × iteration, photos first."""
    records = list(records)
    models = {f"m{i + 1}": ref for i, ref in enumerate(spec.models)}
    providers = {key: resolve_provider(ref, records) for key, ref in models.items()}
    judge_provider = resolve_judge(spec.judge, records) if spec.judge is not None else None
    items: dict[str, Item] = {}
    for photo in spec.select_photos(samples):
        items[f"photo:{photo.id}"] = Item(f"photo:{photo.id}", "photo", photo=photo)
    for prompt in spec.select_prompts(samples):
        items[f"prompt:{prompt.id}"] = Item(f"prompt:{prompt.id}", "prompt", prompt=prompt)
    if not items:
        raise SpecError(["choose at least one photo or prompt"])
    parts = {iid: (_photo_parts(it.photo, samples.tagging_prompt) if it.photo is not None else
                   _prompt_parts(it.prompt, samples) if it.prompt is not None else [])
             for iid, it in items.items()}
    calls = []
    for key, ref in models.items():
        record = providers[key]
        options = CallOptions(temperature=spec.temperature, max_tokens=spec.max_tokens,
                              timeout_s=ref.timeout_s or spec.timeout_s)
        for iteration in range(1, spec.iterations + 1):
            for iid, item in items.items():
                calls.append(PlannedCall(
                    model_key=key, provider_id=record.id,
                    provider_name=provider_name_for(record), model=ref.model,
                    item_kind=item.kind, item_id=iid, iteration=iteration,
                    parts=parts[iid], options=options))
    return Plan(spec, models, providers, items, calls, spec.judge, judge_provider)


def _assertion_details(result: AssertionsOutcome) -> list[dict[str, Any]]:
    def one(r: AssertionResult) -> dict[str, Any]:
        out: dict[str, Any] = {"type": r.type, "passed": r.passed, "reason": r.reason}
        if r.score is not None:
            out["score"] = r.score
        return out

    return [one(r) for r in result.results]


def make_scorer(plan: Plan, samples: SampleSet,
                thresholds: BucketThresholds = DEFAULT_THRESHOLDS,
                prices: Mapping[str, ModelPrice] | None = None, judge: Judge | None = None):
    """Score one answer: photos by tag F1 against the labels (synonyms count), prompts by
    the fraction of their assertions that pass. Errors score 0 and are failed.

    With a ``judge``, the scorer is async and prompt answers that have a reference are also
    graded by the judge: its verdict is one more assertion (``llm-rubric``, worth the
    judge's 0–1 score, passing at the spec's ``pass_score``), so the prompt's score is the
    mean over its assertions and the judge's score alone when there are no others. A judge
    that fails or gives no readable score leaves the answer scored on its deterministic
    assertions, and ``details["judge"]`` says why. The judge's call is returned as a
    fourth element, a side call the runner stores as a usage event with the row."""
    every_tag = TagVocabulary.from_labels([t for p in samples.photos for t in p.tags])
    vocab = {iid: TagVocabulary.from_labels(it.photo.tags).merged(every_tag)
             for iid, it in plan.items.items() if it.photo is not None}
    prices = dict(prices or {})

    def price(call: PlannedCall) -> ModelPrice:
        if call.model_key not in prices:
            prices[call.model_key] = price_for(call.provider_name, call.model)
        return prices[call.model_key]

    def score(call: PlannedCall, outcome: Outcome) -> ScoreResult:
        if not isinstance(outcome, Completion):
            kind = getattr(outcome, "kind", type(outcome).__name__)
            return 0.0, bucket(None, error=True).value, {"error": kind}
        item = plan.items[call.item_id]
        if item.photo is not None:
            v = vocab[call.item_id]
            predicted = [t.name for t in outcome.tags] or extract_tags(outcome.text, v)
            s = tag_scores(predicted, [t.name for t in item.photo.tags], v)
            details: dict[str, Any] = {"precision": s.precision, "recall": s.recall,
                                       "matched": list(s.matched), "missed": list(s.missed),
                                       "extra": list(s.extra)}
            return s.f1, bucket(s.f1, thresholds=thresholds).value, details
        assert item.prompt is not None
        result = assertions(call, outcome, item.prompt)
        details = {"assertions": _assertion_details(result)}
        return result.score, bucket(result.score, thresholds=thresholds).value, details

    def assertions(call: PlannedCall, outcome: Completion, prompt: Prompt) -> AssertionsOutcome:
        u = outcome.usage
        cost = price(call).cost(u.input_tokens, u.output_tokens, u.cached_input_tokens,
                                images=call.images)
        return run_assertions(prompt.assertions, outcome.text,
                              latency_ms=outcome.duration_ms, cost_usd=cost)

    if judge is None:
        return score

    async def judged(call: PlannedCall, outcome: Outcome) -> ScoreResult:
        item = plan.items[call.item_id]
        prompt = item.prompt
        if not isinstance(outcome, Completion) or prompt is None or not prompt.reference:
            return score(call, outcome)
        result = assertions(call, outcome, prompt)
        graded = await judge.grade(outcome.text, reference=prompt.reference,
                                   question=prompt.text)
        rubric = rubric_assertion(graded.verdict, judge.pass_score)
        if rubric is not None:
            result = result.plus(rubric)
        details = {"assertions": _assertion_details(result), "judge": graded.details()}
        return (result.score, bucket(result.score, thresholds=thresholds).value, details,
                (graded.side_call,))

    return judged
