"""Model prices from genai-prices' bundled data (no network update unless a user asks).

Bulk work (demo history, ingest of millions of rows) needs per-token *rates* it can apply
column-wise, so :func:`rates` asks genai-prices for the price of small probe usages and
divides. ``input_tokens`` includes cached input tokens, as in genai-prices and OpenTelemetry.
Local models (Ollama) cost nothing; a model genai-prices does not know has no rate (None).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from genai_prices import Usage, calc_price

# OpenTelemetry gen_ai.provider.name (and older gen_ai.system) values -> our canonical names.
PROVIDER_ALIASES: dict[str, str] = {
    "openai": "openai",
    "azure": "azure.ai.openai",
    "azure.ai.openai": "azure.ai.openai",
    "az.ai.openai": "azure.ai.openai",
    "anthropic": "anthropic",
    "gemini": "gcp.gemini",
    "google": "gcp.gemini",
    "google_genai": "gcp.gemini",
    "google-genai": "gcp.gemini",
    "gcp.gemini": "gcp.gemini",
    "vertex_ai": "gcp.vertex_ai",
    "gcp.vertex_ai": "gcp.vertex_ai",
    "mistral": "mistral_ai",
    "mistral_ai": "mistral_ai",
    "mistralai": "mistral_ai",
    "ollama": "ollama",
    "clarifai": "clarifai",
    "gcp.vision": "gcp.vision",
    "bedrock": "aws.bedrock",
    "aws.bedrock": "aws.bedrock",
    "groq": "groq",
    "deepseek": "deepseek",
    "cohere": "cohere",
    "x_ai": "x_ai",
    "xai": "x_ai",
}

# Our canonical provider name -> genai-prices provider id.
GENAI_PRICES_PROVIDER: dict[str, str] = {
    "openai": "openai",
    "azure.ai.openai": "azure",
    "anthropic": "anthropic",
    "gcp.gemini": "google",
    "gcp.vertex_ai": "google",
    "mistral_ai": "mistral",
    "aws.bedrock": "aws",
    "groq": "groq",
    "deepseek": "deepseek",
    "cohere": "cohere",
    "x_ai": "x-ai",
}

FREE_PROVIDERS = {"ollama"}

PROVIDER_DISPLAY: dict[str, str] = {
    "openai": "OpenAI",
    "anthropic": "Anthropic",
    "gcp.gemini": "Google Gemini",
    "gcp.vertex_ai": "Google Vertex AI",
    "gcp.vision": "Google Cloud Vision",
    "mistral_ai": "Mistral",
    "ollama": "Ollama (local)",
    "clarifai": "Clarifai",
    "azure.ai.openai": "Azure OpenAI",
}


def canonical_provider(name: str | None) -> str | None:
    if name is None:
        return None
    key = str(name).strip().lower()
    return PROVIDER_ALIASES.get(key, key) if key else None


@dataclass(frozen=True)
class Rates:
    """USD per token."""

    input: float
    output: float
    cache_read: float

    def cost(self, input_tokens: int, output_tokens: int, cache_read_tokens: int = 0) -> float:
        uncached = max(input_tokens - cache_read_tokens, 0)
        return uncached * self.input + cache_read_tokens * self.cache_read + output_tokens * self.output


PROBE = 1000


@lru_cache(maxsize=4096)
def _rates(provider: str, model: str, month: str) -> Rates | None:
    if provider in FREE_PROVIDERS:
        return Rates(0.0, 0.0, 0.0)
    pid = GENAI_PRICES_PROVIDER.get(provider)
    when = datetime.fromisoformat(month + "-15")
    try:
        kwargs = {"provider_id": pid} if pid else {}
        rin = calc_price(Usage(input_tokens=PROBE), model, genai_request_timestamp=when, **kwargs)
        rout = calc_price(Usage(output_tokens=PROBE), model, genai_request_timestamp=when, **kwargs)
        try:
            rcache = calc_price(
                Usage(input_tokens=PROBE, cache_read_tokens=PROBE),
                model,
                genai_request_timestamp=when,
                **kwargs,
            )
            cache_rate = float(rcache.total_price) / PROBE
        except Exception:  # noqa: BLE001 - no cache price: cached tokens cost as input
            cache_rate = float(rin.total_price) / PROBE
    except LookupError:
        return None
    return Rates(float(rin.total_price) / PROBE, float(rout.total_price) / PROBE, cache_rate)


def rates(provider: str, model: str, when: datetime | None = None) -> Rates | None:
    """Per-token rates for ``model`` at ``provider`` in the month of ``when`` (None: unknown)."""
    when = when or datetime.now()
    canonical = canonical_provider(provider) or provider
    return _rates(canonical, model, when.strftime("%Y-%m"))


def price_per_million(provider: str, model: str, when: datetime | None = None) -> dict | None:
    r = rates(provider, model, when)
    if r is None:
        return None
    return {
        "input_per_mtok": r.input * 1e6,
        "output_per_mtok": r.output * 1e6,
        "cache_read_per_mtok": r.cache_read * 1e6,
    }
