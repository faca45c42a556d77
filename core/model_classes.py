"""Which class a model is in (flagship / fast / legacy) and what kind it is, by rules as data.

Providers ship and retire models monthly; a hard-coded ``if`` chain would be stale by the next
release. So classification is an ordered list of :class:`ClassRule` (first match wins) that an
admin can edit per organization, with seed 003's monthly-discovery rules as
:data:`DEFAULT_RULES`. Everything here is pure (no I/O, no config store), so the config store
can validate rules with it and tests can hammer it with hypothesis.

Patterns are matched case-insensitively against the whole model id and against its last
``/`` segment (gateways and Clarifai prefix ids: ``openai/gpt-5``, ``models/gemini-2.5-pro``).
A ``glob`` pattern uses shell wildcards (``*``, ``?``, ``[1-9]``); a ``regex`` pattern must
match the whole id (``re.fullmatch``).

This module must not import :mod:`core.config_store` at import time: the config store imports
it (to validate rules), and a cycle would break whichever is imported first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from functools import lru_cache
from typing import Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from core.providers.base import ModelInfo
from core.providers.model_profiles import profile_for
from core.providers.registry import capabilities
from core.validation import error_phrase, messages

ModelClass = Literal["flagship", "fast", "legacy"]
ModelKind = Literal["text", "vision", "multimodal", "tagging"]
MODEL_CLASSES: tuple[str, ...] = ("flagship", "fast", "legacy")
MODEL_KINDS: tuple[str, ...] = ("text", "vision", "multimodal", "tagging")
MAX_RULES = 200
MAX_PATTERN_CHARS = 200
_ANY = {"", "*", "any", "all"}
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


class RulesError(ValueError):
    """Rules that cannot be used; ``messages`` are one line per problem, for the person editing."""

    def __init__(self, messages: Sequence[str]) -> None:
        self.messages = list(messages) or ["The rules are not valid."]
        super().__init__("; ".join(self.messages))


def _provider_types() -> tuple[str, ...]:
    from core.provider_names import ProviderType  # lazy: see the module docstring

    return tuple(t.value for t in ProviderType)


class ClassRule(BaseModel):
    """One rule: models of ``provider_type`` (None: any provider) whose id matches ``pattern``
    are ``model_class``. ``note`` says why (shown next to the rule)."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True,
                              protected_namespaces=(), populate_by_name=True)

    provider_type: str | None = None
    pattern: str = Field(min_length=1, max_length=MAX_PATTERN_CHARS)
    match: Literal["glob", "regex"] = "glob"
    model_class: ModelClass = Field(validation_alias=AliasChoices("model_class", "class"))
    note: str = Field(default="", max_length=200)

    @field_validator("provider_type", mode="before")
    @classmethod
    def _provider_type(cls, v: Any) -> Any:
        if v is None or (isinstance(v, str) and v.strip().lower() in _ANY):
            return None
        if not isinstance(v, str):
            raise ValueError("must be a provider type or 'any'")
        value = v.strip().lower()
        known = _provider_types()
        if value not in known:
            raise ValueError(f"unknown provider type {value!r}; use 'any' or one of "
                             f"{', '.join(known)}")
        return value

    @field_validator("pattern", "note")
    @classmethod
    def _no_control(cls, v: str) -> str:
        if _CONTROL_RE.search(v):
            raise ValueError("must not contain line breaks or control characters")
        return v

    @model_validator(mode="after")
    def _pattern_compiles(self) -> ClassRule:
        if self.match == "regex":
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"pattern is not a valid regular expression ({exc})") from None
        elif self.pattern.count("[") != self.pattern.count("]"):
            raise ValueError("pattern has an unbalanced '[' or ']'")
        return self

    def matches(self, provider_type: str | None, model_id: str) -> bool:
        if self.provider_type is not None and self.provider_type != (provider_type or "").lower():
            return False
        return any(_match(self.match, self.pattern, name) for name in _names(model_id))


def _names(model_id: str) -> tuple[str, ...]:
    mid = (model_id or "").strip().lower()
    last = mid.rstrip("/").rsplit("/", 1)[-1]
    return (mid,) if last == mid else (mid, last)


@lru_cache(maxsize=1024)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


def _match(kind: str, pattern: str, name: str) -> bool:
    if kind == "regex":
        return _regex(pattern).fullmatch(name) is not None
    return fnmatchcase(name, pattern.lower())


_RULES_ADAPTER = TypeAdapter(list[ClassRule])


def _where(loc: tuple[Any, ...]) -> str:
    if loc and isinstance(loc[0], int):
        field = ", ".join(str(p).replace("_", " ") for p in loc[1:] if not isinstance(p, int))
        return f"Rule {loc[0] + 1}" + (f", {field}" if field else "")
    return ", ".join(str(p) for p in loc) or "Rules"


def _rule_phrase(err: Mapping[str, Any]) -> str:
    """The rules editor's phrases (pydantic's own words where they already read well)."""
    kind = err.get("type")
    if kind in ("missing", "value_error", "assertion_error"):
        return error_phrase(err)
    msg = str(err.get("msg", "is not valid"))
    if kind == "literal_error":  # pydantic lists the choices as a person would
        return msg.replace("Input should be", "must be")
    if kind == "extra_forbidden":
        return "is not a rule field (use provider_type, pattern, match, model_class, note)"
    return msg


def parse_rules(data: Iterable[ClassRule | Mapping[str, Any]] | Any) -> list[ClassRule]:
    """Validate rules from a page, a JSON file or the store; raises :class:`RulesError` whose
    messages name the rule (1-based) and field, e.g. ``Rule 3, pattern: …``."""
    if isinstance(data, Mapping) or isinstance(data, str | bytes):
        raise RulesError(["Rules must be a list of rules."])
    items = [r.model_dump() if isinstance(r, ClassRule) else r for r in data]
    if len(items) > MAX_RULES:
        raise RulesError([f"At most {MAX_RULES} rules."])
    try:
        return _RULES_ADAPTER.validate_python(items)
    except ValidationError as exc:
        raise RulesError(messages(exc, label=lambda e: _where(tuple(e.get("loc") or ())),
                                  phrase=_rule_phrase)) from None


def classify(provider_type: str | None, model_id: str, rules: Sequence[ClassRule]
             ) -> ModelClass | None:
    """The class of the first rule that matches, or None (unclassified)."""
    for rule in rules:
        if rule.matches(provider_type, model_id):
            return rule.model_class
    return None


def _r(pattern: str, model_class: ModelClass, note: str, provider_type: str | None = None,
       match: Literal["glob", "regex"] = "glob") -> ClassRule:
    return ClassRule(provider_type=provider_type, pattern=pattern, model_class=model_class,
                     note=note, match=match)


# Seed 003's rules, ordered so the specific wins (gpt-5-mini before gpt-5*). They name any
# provider: these ids are unique to their vendors, and gateways (OpenAI-compatible servers,
# Clarifai) serve the same models under the same names. Dated snapshots (gpt-5-2025-08-07,
# claude-sonnet-4-5-20250929) follow their alias. (A rule naming a provider type would also
# import the config store here, at import time: see the module docstring.)
DEFAULT_RULES: tuple[ClassRule, ...] = (
    # OpenAI
    _r("gpt-5-mini*", "fast", "OpenAI: GPT-5 mini is the fast tier"),
    _r("gpt-5-nano*", "fast", "OpenAI: GPT-5 nano is the fast tier"),
    _r("gpt-5*", "flagship", "OpenAI: GPT-5 and its point releases are the flagship"),
    _r("gpt-4.1*", "legacy", "OpenAI: the GPT-4.1 series is superseded by GPT-5"),
    _r("gpt-4o*", "legacy", "OpenAI: GPT-4o (older than GPT-4.1) is superseded by GPT-5"),
    _r("gpt-4*", "legacy", "OpenAI: GPT-4 and GPT-4 Turbo"),
    _r("gpt-3.5*", "legacy", "OpenAI: GPT-3.5"),
    _r(r"o[134](-.*)?", "legacy", "OpenAI: o-series reasoning models, superseded by GPT-5",
       match="regex"),
    # Anthropic: Opus/Sonnet 4.0 are legacy, later 4.x flagship; ids use '-' (4-5) or '.'
    _r(r"claude-(opus|sonnet)-4(-0|-20\d{6})?", "legacy",
       "Anthropic: Claude Opus 4 / Sonnet 4 are superseded by 4.1 / 4.5", match="regex"),
    _r("claude-opus-4*", "flagship", "Anthropic: Claude Opus 4.1 and later"),
    _r("claude-sonnet-4*", "flagship", "Anthropic: Claude Sonnet 4.5 and later"),
    _r("claude-haiku-4*", "fast", "Anthropic: Claude Haiku 4.5 is the fast tier"),
    _r("claude-3*", "legacy", "Anthropic: Claude 3.x"),
    # Google
    _r("gemini-2.5-pro*", "flagship", "Google: Gemini 2.5 Pro"),
    _r("gemini-2.5-flash*", "fast", "Google: Gemini 2.5 Flash and Flash-Lite"),
    _r("gemini-3*-pro*", "flagship", "Google: Gemini 3 Pro"),
    _r("gemini-3*-flash*", "fast", "Google: Gemini 3 Flash"),
    _r("gemini-2.0-*", "legacy", "Google: Gemini 2.0 is superseded by 2.5"),
    _r("gemini-1.*", "legacy", "Google: Gemini 1.x"),
    # Mistral
    _r("mistral-large*", "flagship", "Mistral: Mistral Large"),
    _r("mistral-medium*", "fast", "Mistral: Mistral Medium"),
    _r("mistral-small*", "fast", "Mistral: Mistral Small"),
    _r("ministral*", "fast", "Mistral: Ministral edge models"),
    _r("open-mi[sx]tral*", "legacy", "Mistral: the first open-weights models"),
    _r("mistral-tiny*", "legacy", "Mistral: Mistral Tiny"),
)


# ---- kind, specialties, recommendation ---------------------------------------------------

LONG_CONTEXT = 500_000


def input_types_of(provider_type: str | None, info: ModelInfo) -> tuple[str, ...]:
    """What the model reads: the listing's word, widened by the model profiles' vision
    families (OpenAI-style /models listings carry no modalities)."""
    inputs = tuple(dict.fromkeys(info.input_types or ("text",)))
    if "image" not in inputs and profile_for(provider_type, info.id).vision:
        inputs = (*inputs, "image")
    return inputs


def kind_of(provider_type: str | None, info: ModelInfo) -> ModelKind:
    """``tagging`` (labels out: a tagging-only provider such as Cloud Vision), ``multimodal``
    (text and images in), ``vision`` (images only in), else ``text``."""
    if capabilities(provider_type).tagging_only or "tags" in (info.output_types or ()):
        return "tagging"
    inputs = set(input_types_of(provider_type, info))
    if "image" in inputs:
        return "multimodal" if "text" in inputs else "vision"
    return "text"


def specialties_of(provider_type: str | None, info: ModelInfo, kind: str) -> tuple[str, ...]:
    """Short tags the catalog filters on (vision, reasoning, long context, coding, local)."""
    out: list[str] = []
    profile = profile_for(provider_type, info.id)
    if kind == "tagging":
        out.append("tagging")
    elif kind in ("vision", "multimodal"):
        out.append("vision")
    if profile.reasoning:
        out.append("reasoning")
    if profile.coding:
        out.append("coding")
    if (info.context_window or 0) >= LONG_CONTEXT:
        out.append("long context")
    if capabilities(provider_type).local:
        out.append("local")
    return tuple(out)


def recommended_for(provider_type: str | None, kind: str, model_class: str | None) -> str:
    """One sentence for the catalog card: what to use this model for."""
    if kind == "tagging":
        return "Photo tagging at scale: labels with confidence scores, billed per image."
    photos = " including photos" if kind in ("vision", "multimodal") else ""
    if model_class == "flagship":
        return f"The hardest tasks, where accuracy matters most{photos}."
    if model_class == "fast":
        return f"High-volume, latency-sensitive work at a low price{photos}."
    if model_class == "legacy":
        return "Existing workloads only; plan a move to a current model."
    if capabilities(provider_type).local:
        return f"Private or offline work with no per-call cost{photos}."
    return "Not classified yet: A/B test it against your current model."


_SNAPSHOT = re.compile(r"-(\d{4})-?(\d{2})-?(\d{2})$")


def released_at(info: ModelInfo) -> datetime | None:
    """When the provider released it: its ``created`` time, else a date in a dated snapshot id
    (``claude-sonnet-4-5-20250929``); None when neither says."""
    if info.created:
        try:
            return datetime.fromtimestamp(int(info.created), UTC)
        except (OverflowError, OSError, ValueError):
            pass
    m = _SNAPSHOT.search(info.id)
    if m:
        try:
            return datetime(int(m[1]), int(m[2]), int(m[3]), tzinfo=UTC)
        except ValueError:
            return None
    return None


def is_snapshot(model_id: str) -> bool:
    """A pinned, dated version (``gpt-5-2025-08-07``, ``gemini-2.0-flash-001``) rather than the
    moving alias a default should point at."""
    return bool(_SNAPSHOT.search(model_id) or re.search(r"-\d{3,4}$", model_id))
