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
from typing import Any

from core.catalog.catalog import provider_name_for
from core.catalog.pricing import ModelPrice, price_for
from core.compare.runner import Outcome, PlannedCall, ScoreResult
from core.compare.samples import Prompt, SamplePhoto, SampleSet
from core.compare.scoring import (
    DEFAULT_THRESHOLDS,
    BucketThresholds,
    TagVocabulary,
    bucket,
    extract_tags,
    run_assertions,
    tag_scores,
)
from core.compare.spec import ComparisonSpec, ModelRef, SpecError
from core.config_store import ProviderRecord
from core.providers.base import CallOptions, Completion, ImagePart, Part, TextPart


@dataclass(frozen=True)
class Item:
    """One photo or prompt every model answers."""

    id: str
    kind: str  # "photo" | "prompt"
    photo: SamplePhoto | None = None
    prompt: Prompt | None = None


@dataclass(frozen=True)
class Plan:
    spec: ComparisonSpec
    models: dict[str, ModelRef]  # model_key -> the spec's model
    providers: dict[str, ProviderRecord]  # model_key -> the provider that serves it
    items: dict[str, Item]
    calls: list[PlannedCall]

    @property
    def total(self) -> int:
        return len(self.calls)


def resolve_provider(ref: ModelRef, records: Iterable[ProviderRecord]) -> ProviderRecord:
    """The enabled provider a spec means: its id, else its name, else the first of its type."""
    usable = [r for r in records if r.settings.enabled]
    want = ref.provider.strip().lower()
    for match in (lambda r: r.id.lower() == want, lambda r: r.name.lower() == want,
                  lambda r: r.type.value == want):
        found = [r for r in usable if match(r)]
        if found:
            return found[0]
    names = ", ".join(sorted(r.id for r in usable)) or "none configured"
    raise SpecError([f"models › {ref.key}: no enabled provider '{ref.provider}' "
                     f"(providers: {names})"])


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
    items: dict[str, Item] = {}
    for photo in spec.select_photos(samples):
        items[f"photo:{photo.id}"] = Item(f"photo:{photo.id}", "photo", photo=photo)
    for prompt in spec.select_prompts(samples):
        items[f"prompt:{prompt.id}"] = Item(f"prompt:{prompt.id}", "prompt", prompt=prompt)
    if not items:
        raise SpecError(["choose at least one photo or prompt"])
    parts = {iid: (_photo_parts(it.photo, samples.tagging_prompt) if it.photo else
                   _prompt_parts(it.prompt, samples)) for iid, it in items.items()}
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
    return Plan(spec, models, providers, items, calls)


def make_scorer(plan: Plan, samples: SampleSet,
                thresholds: BucketThresholds = DEFAULT_THRESHOLDS,
                prices: Mapping[str, ModelPrice] | None = None):
    """Score one answer: photos by tag F1 against the labels (synonyms count), prompts by
    the fraction of their assertions that pass. Errors score 0 and are failed."""
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
        u = outcome.usage
        cost = price(call).cost(u.input_tokens, u.output_tokens, u.cached_input_tokens,
                                images=call.images)
        result = run_assertions([a.as_dict() for a in item.prompt.assertions], outcome.text,
                                latency_ms=outcome.duration_ms, cost_usd=cost)
        details = {"assertions": [{"type": r.type, "passed": r.passed, "reason": r.reason}
                                  for r in result.results]}
        return result.score, bucket(result.score, thresholds=thresholds).value, details

    return score
