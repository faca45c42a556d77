"""Per-model quirks as data: one table beside the adapters, read by the adapters (how to send)
and the catalog (what a model reads and is good at).

Providers differ model by model — OpenAI's reasoning models take only the default temperature,
Anthropic caps temperature at 1 and requires ``max_tokens``, only some families read images —
and those facts change with every release. Written as ``if model.startswith(...)`` inside an
adapter they are scattered and stale; here each is one :class:`Quirk` row (provider types,
model-id pattern or Ollama families, and the fields it sets), and :func:`profile_for` merges
every row that matches into one frozen :class:`ModelProfile`, later rows winning.

Patterns match the start of the model id's last ``/`` segment, case-insensitively (gateways
and Clarifai prefix ids: ``openai/gpt-5``, ``models/gemini-2.5-pro``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, fields, replace
from functools import lru_cache
from typing import Any

from core.provider_names import PROVIDER_TYPES, ProviderType

__all__ = ["QUIRKS", "ModelProfile", "Quirk", "profile_for"]


@dataclass(frozen=True)
class ModelProfile:
    """What is special about one model of one provider type (the defaults: nothing)."""

    vision: bool = False  # reads images (the listing may not say so)
    reasoning: bool = False  # thinks before it answers (a catalog specialty)
    coding: bool = False  # built for code (a catalog specialty)
    default_temperature_only: bool = False  # any other temperature is refused: leave it out
    max_temperature: float | None = None  # a higher one is sent as this
    max_tokens_field: str = "max_tokens"  # the request field of the output-token limit
    default_max_tokens: int | None = None  # sent when the caller sets none (required)


@dataclass(frozen=True)
class Quirk:
    """One row: models of ``provider_types`` (empty: any) whose id matches ``pattern`` (or,
    for Ollama, whose listing names one of ``families``) get the fields in ``sets``."""

    sets: dict[str, Any]
    pattern: str | None = None
    provider_types: frozenset[ProviderType] = frozenset()
    families: frozenset[str] = frozenset()
    why: str = ""
    _regex: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        unknown = set(self.sets) - {f.name for f in fields(ModelProfile)}
        if unknown:
            raise ValueError(f"not a ModelProfile field: {sorted(unknown)}")
        if self.pattern is not None:
            object.__setattr__(self, "_regex", re.compile(self.pattern, re.IGNORECASE))

    def matches(self, provider_type: str | None, name: str, families: frozenset[str]) -> bool:
        if self.provider_types and provider_type not in self.provider_types:
            return False
        if self.families and self.families & families:
            return True
        return self._regex is not None and self._regex.match(name) is not None


def _types(*types: ProviderType) -> frozenset[ProviderType]:
    return frozenset(types)


_OPENAI_WIRE = _types(ProviderType.openai)
_ANTHROPIC = _types(ProviderType.anthropic)

QUIRKS: tuple[Quirk, ...] = (
    # Reading images. OpenAI-style /models listings carry no modalities, so the id decides.
    Quirk({"vision": True},
          r"(gpt-4o|gpt-4\.1|gpt-4-turbo|gpt-5|o1|o3|o4-mini|pixtral|mistral-(small|medium)|"
          r"claude-|gemini-|llava|.*vision|.*-vl\b|.*-vl-|qwen2\.5-vl|gemma3)",
          why="vision families of OpenAI, Mistral (Pixtral, Medium/Small 3.x), Anthropic, "
              "Google and open models"),
    Quirk({"vision": True}, provider_types=_types(ProviderType.ollama),
          families=frozenset({"clip", "mllama", "gemma3", "qwen2vl", "qwen25vl", "llava"}),
          why="Ollama lists a model's families; these carry a vision encoder"),
    Quirk({"reasoning": True},
          r"(gpt-5|o[134]\b|o[134]-|gemini-2\.5|gemini-3|claude-(opus|sonnet)-4|magistral"
          r"|deepseek-r1|qwq)",
          why="models that think before answering"),
    Quirk({"coding": True}, r".*(codestral|devstral|codex|coder)", why="code models"),
    # OpenAI's own API (not the compatible servers, which mostly know only max_tokens).
    Quirk({"max_tokens_field": "max_completion_tokens"}, r"", provider_types=_OPENAI_WIRE,
          why="OpenAI deprecated max_tokens for max_completion_tokens"),
    Quirk({"default_temperature_only": True}, r"(gpt-5|o\d)(\b|[-.])",
          provider_types=_OPENAI_WIRE,
          why="OpenAI's reasoning models take only the default temperature"),
    Quirk({"max_temperature": PROVIDER_TYPES[ProviderType.anthropic].max_temperature,
           "default_max_tokens": 1024}, r"", provider_types=_ANTHROPIC,
          why="Anthropic takes a temperature of at most 1 and requires max_tokens"),
)


def _last(model_id: str) -> str:
    return (model_id or "").rstrip("/").rsplit("/", 1)[-1]


@lru_cache(maxsize=4096)
def _profile(provider_type: str | None, name: str, families: frozenset[str]) -> ModelProfile:
    profile = ModelProfile()
    for quirk in QUIRKS:
        if quirk.matches(provider_type, name, families):
            profile = replace(profile, **quirk.sets)
    return profile


def profile_for(provider_type: str | None, model_id: str,
                families: Iterable[str] = ()) -> ModelProfile:
    """The merged quirks of ``model_id`` served by ``provider_type`` (None: any provider);
    ``families`` are what an Ollama listing says of the model."""
    ptype = provider_type.value if isinstance(provider_type, ProviderType) else provider_type
    return _profile(ptype, _last(model_id), frozenset(f.lower() for f in families))
