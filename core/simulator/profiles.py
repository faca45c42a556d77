"""What each simulated model is like, as data: speed, reliability, answer quality, limits.

The numbers follow the demo history (``core.warehouse.demo.MODELS``: time to first token,
tokens/s, spread) so a comparison run against the simulator tells the same story as the
usage pages. The engine reads these fields and nothing else, so a new model is one row.

Latency model (one log-normal "slowness" draw ``s`` per call, median 1):

* time to first token = ``s · ttft_fraction · latency_median_ms`` (+ reasoning time)
* generation time      = ``s · 1000 · output_tokens / tokens_per_s``

so ``latency_median_ms`` is the median duration of a call whose answer has
``tokens_per_s · (1 - ttft_fraction) · latency_median_ms / 1000`` tokens.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from core.provider_names import ProviderType, provider_type

# Provider types as the rest of Switchyard names them (``base_urls`` keys); other spellings
# (demo history, seeds, OpenTelemetry names) map to them through ``provider_type``.
PROVIDERS = tuple(t.value for t in ProviderType)

# Image input cost in tokens per image (typical ~1 MP photo): Gemini tiles cheaply,
# OpenAI counts 85 + 170 per 512-px tile, Claude roughly width·height/750.
IMAGE_TOKENS = {"openai": 765, "anthropic": 1100, "gemini": 258, "mistral": 1000,
                "clarifai": 765, "ollama": 640, "openai_compatible": 765, "gcp_vision": 0}

# (status, weight) of the 5xx errors each provider tends to return.
DEFAULT_ERRORS: tuple[tuple[int, float], ...] = ((500, 0.5), (503, 0.5))
ANTHROPIC_ERRORS: tuple[tuple[int, float], ...] = ((529, 0.5), (500, 0.3), (503, 0.2))


@dataclass(frozen=True)
class ModelProfile:
    """One model's behaviour. Rates are per call; quality numbers are long-run averages."""

    provider: str
    id: str
    response_model: str  # the snapshot the provider answers with (e.g. dated id)
    display_name: str
    latency_median_ms: float
    latency_sigma: float  # log-normal spread of the per-call slowness factor
    ttft_fraction: float
    tokens_per_s: float
    error_rate: float = 0.005
    error_statuses: tuple[tuple[int, float], ...] = DEFAULT_ERRORS
    rate_limit_rate: float = 0.01
    retry_after_s: float = 2.0
    timeout_rate: float = 0.001
    malformed_rate: float = 0.0005
    tag_precision: float = 0.8  # share of returned tags that are right
    tag_recall: float = 0.75  # share of true tags returned
    reference_agreement: float = 0.7  # chance an answer to a known prompt matches its reference
    typical_output_tokens: int = 120  # median length of free-text answers
    reasoning_tokens_median: float = 0.0  # hidden thinking tokens (count as output)
    vision: bool = True
    context_window: int = 128_000
    max_output_tokens: int = 8_192
    created: int = 1_700_000_000  # unix seconds the provider lists
    image_tokens: int | None = None  # None: the provider's IMAGE_TOKENS
    cache_min_tokens: int | None = None  # prompt-prefix caching threshold; None: no caching
    openai_rejects_max_tokens: bool = False  # reasoning models want max_completion_tokens
    openai_fixed_temperature: bool = False  # reasoning models only accept temperature 1
    aliases: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """Every id a request may use for this model."""
        return tuple(dict.fromkeys((self.id, self.response_model, *self.aliases)))

    @property
    def images_cost(self) -> int:
        return IMAGE_TOKENS.get(self.provider, 765) if self.image_tokens is None \
            else self.image_tokens


def _m(provider: str, mid: str, snapshot: str, name: str, ttft_ms: float, tps: float,
       sigma: float, ttft_fraction: float = 0.45, **kw) -> ModelProfile:
    """A row from the demo's numbers: median TTFT and tokens/s become the latency model."""
    return ModelProfile(provider, mid, snapshot, name, latency_median_ms=ttft_ms / ttft_fraction,
                        latency_sigma=sigma, ttft_fraction=ttft_fraction, tokens_per_s=tps, **kw)


_G = {"context_window": 1_048_576}
_G25 = {"context_window": 1_048_576, "max_output_tokens": 65_536}
_OA: dict[str, Any] = {"cache_min_tokens": 1024}
_AN: dict[str, Any] = {"cache_min_tokens": 1024, "error_statuses": ANTHROPIC_ERRORS, "context_window": 200_000}

PROFILES: tuple[ModelProfile, ...] = (
    # Gemini (Google AI Studio protocol)
    _m("gemini", "gemini-1.5-flash", "gemini-1.5-flash-002", "Gemini 1.5 Flash", 300, 260, 0.35,
       tag_precision=0.78, tag_recall=0.70, reference_agreement=0.62, created=1_727_000_000,
       **_G),
    _m("gemini", "gemini-1.5-pro", "gemini-1.5-pro-002", "Gemini 1.5 Pro", 800, 110, 0.40,
       tag_precision=0.84, tag_recall=0.76, reference_agreement=0.72, created=1_727_000_000,
       **{**_G, "context_window": 2_097_152}),
    _m("gemini", "gemini-2.0-flash", "gemini-2.0-flash-001", "Gemini 2.0 Flash", 250, 300, 0.35,
       tag_precision=0.83, tag_recall=0.78, reference_agreement=0.70, created=1_738_000_000,
       **_G),
    _m("gemini", "gemini-2.5-flash", "gemini-2.5-flash", "Gemini 2.5 Flash", 380, 280, 0.40,
       tag_precision=0.87, tag_recall=0.82, reference_agreement=0.78, created=1_750_000_000,
       reasoning_tokens_median=120, cache_min_tokens=1024, **_G25),
    _m("gemini", "gemini-2.5-pro", "gemini-2.5-pro", "Gemini 2.5 Pro", 1100, 150, 0.45,
       tag_precision=0.90, tag_recall=0.86, reference_agreement=0.85, created=1_750_000_000,
       reasoning_tokens_median=260, cache_min_tokens=2048, **_G25),
    # OpenAI
    _m("openai", "gpt-4o", "gpt-4o-2024-08-06", "GPT-4o", 450, 150, 0.40,
       tag_precision=0.86, tag_recall=0.80, reference_agreement=0.78, created=1_715_367_049,
       **_OA),
    _m("openai", "gpt-4o-mini", "gpt-4o-mini-2024-07-18", "GPT-4o mini", 300, 220, 0.35,
       tag_precision=0.78, tag_recall=0.70, reference_agreement=0.66, created=1_721_172_741,
       **_OA),
    _m("openai", "gpt-4.1", "gpt-4.1-2025-04-14", "GPT-4.1", 480, 150, 0.40,
       tag_precision=0.87, tag_recall=0.81, reference_agreement=0.80, created=1_744_316_542,
       context_window=1_047_576, max_output_tokens=32_768, **_OA),
    _m("openai", "gpt-4.1-mini", "gpt-4.1-mini-2025-04-14", "GPT-4.1 mini", 320, 220, 0.35,
       tag_precision=0.82, tag_recall=0.75, reference_agreement=0.72, created=1_744_318_173,
       context_window=1_047_576, max_output_tokens=32_768, **_OA),
    _m("openai", "gpt-5", "gpt-5-2025-08-07", "GPT-5", 600, 180, 0.50,
       tag_precision=0.91, tag_recall=0.85, reference_agreement=0.86, created=1_754_425_777,
       reasoning_tokens_median=220, context_window=400_000, max_output_tokens=128_000,
       openai_rejects_max_tokens=True, openai_fixed_temperature=True, **_OA),
    _m("openai", "gpt-5-mini", "gpt-5-mini-2025-08-07", "GPT-5 mini", 380, 260, 0.45,
       tag_precision=0.86, tag_recall=0.79, reference_agreement=0.79, created=1_754_425_928,
       reasoning_tokens_median=140, context_window=400_000, max_output_tokens=128_000,
       openai_rejects_max_tokens=True, openai_fixed_temperature=True, **_OA),
    # Anthropic (aliases answer with the dated snapshot; the list shows snapshots)
    _m("anthropic", "claude-haiku-4-5", "claude-haiku-4-5-20251001", "Claude Haiku 4.5", 330, 220,
       0.35, tag_precision=0.80, tag_recall=0.74, reference_agreement=0.70,
       created=1_760_486_400, max_output_tokens=64_000, **{**_AN, "cache_min_tokens": 2048}),
    _m("anthropic", "claude-sonnet-4-5", "claude-sonnet-4-5-20250929", "Claude Sonnet 4.5", 700,
       120, 0.40, tag_precision=0.89, tag_recall=0.84, reference_agreement=0.84,
       created=1_759_104_000, max_output_tokens=64_000, **_AN),
    _m("anthropic", "claude-opus-4-1", "claude-opus-4-1-20250805", "Claude Opus 4.1", 1100, 75,
       0.45, tag_precision=0.90, tag_recall=0.85, reference_agreement=0.86,
       created=1_754_352_000, max_output_tokens=32_000, **_AN),
    # Mistral (OpenAI-compatible chat completions); Large 2411 reads text only
    _m("mistral", "mistral-large-latest", "mistral-large-2411", "Mistral Large", 500, 110, 0.40,
       tag_precision=0.80, tag_recall=0.72, reference_agreement=0.74, created=1_731_974_400,
       vision=False, error_rate=0.008),
    _m("mistral", "mistral-small-latest", "mistral-small-2503", "Mistral Small 3.1", 260, 240,
       0.35, tag_precision=0.77, tag_recall=0.68, reference_agreement=0.64,
       created=1_742_169_600, error_rate=0.008),
    # Clarifai's OpenAI-compatible endpoint (model ids are Clarifai model URLs)
    _m("clarifai", "https://clarifai.com/meta/Llama-3/models/Llama-3_2-11B-Vision-Instruct",
       "Llama-3_2-11B-Vision-Instruct", "Llama 3.2 11B Vision (Clarifai)", 550, 90, 0.50,
       tag_precision=0.72, tag_recall=0.64, reference_agreement=0.58, created=1_727_740_800,
       error_rate=0.01, context_window=128_000, max_output_tokens=4_096),
    # Ollama (local): slow, variable, no rate limits, occasionally stuck loading
    _m("ollama", "llama3.2-vision:11b", "llama3.2-vision:11b", "Llama 3.2 Vision 11B", 600, 60,
       0.80, tag_precision=0.70, tag_recall=0.62, reference_agreement=0.55,
       created=1_731_024_000, error_rate=0.01, error_statuses=((500, 1.0),),
       rate_limit_rate=0.0, timeout_rate=0.004, context_window=131_072,
       max_output_tokens=4_096),
    # A custom OpenAI-compatible server (vLLM style)
    _m("openai_compatible", "qwen2.5-vl-7b-instruct", "qwen2.5-vl-7b-instruct",
       "Qwen2.5-VL 7B Instruct", 350, 120, 0.45, tag_precision=0.74, tag_recall=0.66,
       reference_agreement=0.60, created=1_738_000_000, context_window=32_768,
       max_output_tokens=8_192),
    # Google Cloud Vision label detection: no text, tags with scores
    ModelProfile("gcp_vision", "builtin/stable", "builtin/stable", "Cloud Vision (stable)",
                 latency_median_ms=260, latency_sigma=0.30, ttft_fraction=1.0,
                 tokens_per_s=1e9, tag_precision=0.80, tag_recall=0.86,
                 reference_agreement=0.0, created=1_500_000_000),
    ModelProfile("gcp_vision", "builtin/latest", "builtin/latest", "Cloud Vision (latest)",
                 latency_median_ms=280, latency_sigma=0.30, ttft_fraction=1.0,
                 tokens_per_s=1e9, tag_precision=0.82, tag_recall=0.87,
                 reference_agreement=0.0, created=1_600_000_000),
)


def profiles_for(provider: str) -> list[ModelProfile]:
    """The built-in models a provider serves, in listing order."""
    p = provider_type(provider)
    return [m for m in PROFILES if m.provider == p]


def template_profile(provider: str, model_id: str) -> ModelProfile:
    """A profile for a model added at run time (``list_models_add``): the provider's first
    model's behaviour under the new id, so a newly listed model can also be called."""
    p = provider_type(provider)
    base = next((m for m in PROFILES if m.provider == p), PROFILES[0])
    return replace(base, provider=p, id=model_id, response_model=model_id,
                   display_name=model_id, aliases=(), created=1_767_225_600)
