"""Provider names, in one place: provider *types* (how Switchyard talks to a provider), their
OpenTelemetry ``gen_ai.provider.name`` (what usage events and prices call it), and the label a
person reads.

``provider_name`` means the OpenTelemetry name everywhere in the product; :func:`canonical_provider`
maps any spelling seen in usage files, seeds and the demo to it. :func:`provider_type` maps a
spelling to a provider type (the simulator and the adapters speak types). The display label is
:func:`provider_label`. Facts about each type (:data:`PROVIDER_TYPES`) are plain data here so the
adapters, the store and the forms read the same table without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "FREE_PROVIDERS", "KeyPolicy", "PROVIDER_ALIASES", "PROVIDER_LABELS", "PROVIDER_TYPES",
    "PROVIDER_TYPE_ALIASES", "ProviderType", "ProviderTypeInfo", "canonical_provider",
    "otel_name", "provider_label", "provider_type",
]


class ProviderType(StrEnum):
    openai = "openai"
    anthropic = "anthropic"
    gemini = "gemini"
    mistral = "mistral"
    clarifai = "clarifai"
    gcp_vision = "gcp_vision"
    ollama = "ollama"
    openai_compatible = "openai_compatible"


class KeyPolicy(StrEnum):
    required = "required"
    optional = "optional"
    none = "none"  # the provider takes no key (the form hides the field)


@dataclass(frozen=True)
class ProviderTypeInfo:
    """Facts about a provider type that the form, the store and the adapters read as data."""

    type: ProviderType
    label: str
    protocol: str  # the wire protocol (core.providers.base.Protocol)
    otel_name: str | None  # gen_ai.provider.name used in usage events; None: user-defined
    default_base_url: str | None  # used when the base URL is left empty
    suggested_base_url: str | None  # pre-filled in the form when the URL is required
    base_url_required: bool
    key_policy: KeyPolicy
    key_label: str
    key_help: str
    max_temperature: float = 2.0
    headers_allowed: bool = False


PROVIDER_TYPES: dict[ProviderType, ProviderTypeInfo] = {
    t.type: t
    for t in (
        ProviderTypeInfo(ProviderType.openai, "OpenAI", "openai", "openai",
                         "https://api.openai.com/v1", None, False, KeyPolicy.required,
                         "API key", "Starts with sk-. Create one at platform.openai.com."),
        ProviderTypeInfo(ProviderType.anthropic, "Anthropic", "anthropic", "anthropic",
                         "https://api.anthropic.com", None, False, KeyPolicy.required,
                         "API key", "Starts with sk-ant-. Create one at console.anthropic.com.",
                         max_temperature=1.0),
        ProviderTypeInfo(ProviderType.gemini, "Google Gemini", "gemini", "gcp.gemini",
                         "https://generativelanguage.googleapis.com", None, False,
                         KeyPolicy.required, "API key",
                         "A Google AI Studio key (starts with AIza)."),
        ProviderTypeInfo(ProviderType.mistral, "Mistral", "openai", "mistral_ai",
                         "https://api.mistral.ai/v1", None, False, KeyPolicy.required,
                         "API key", "Create one at console.mistral.ai."),
        ProviderTypeInfo(ProviderType.clarifai, "Clarifai", "openai", "clarifai",
                         "https://api.clarifai.com/v2/ext/openai/v1", None, False,
                         KeyPolicy.required, "Personal access token",
                         "A Clarifai PAT (Settings → Secrets). Model ids are Clarifai model URLs."),
        ProviderTypeInfo(ProviderType.gcp_vision, "Google Cloud Vision", "gcp_vision",
                         "gcp.vision", "https://vision.googleapis.com", None, False,
                         KeyPolicy.required, "API key",
                         "A Google Cloud API key restricted to the Cloud Vision API."),
        ProviderTypeInfo(ProviderType.ollama, "Ollama (local)", "ollama", "ollama", None,
                         "http://localhost:11434", True, KeyPolicy.none, "API key",
                         "Ollama needs no key."),
        ProviderTypeInfo(ProviderType.openai_compatible, "OpenAI-compatible (custom)", "openai",
                         None, None, "https://llm.example.com/v1", True, KeyPolicy.optional,
                         "API key (optional)",
                         "Sent as 'Authorization: Bearer …'. Leave empty if the server needs "
                         "no key.", headers_allowed=True),
    )
}


# OpenTelemetry gen_ai.provider.name (and older gen_ai.system) values and other spellings
# -> the canonical OpenTelemetry name.
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
    "google_gemini": "gcp.gemini",
    "gcp.gemini": "gcp.gemini",
    "vertex_ai": "gcp.vertex_ai",
    "gcp.vertex_ai": "gcp.vertex_ai",
    "mistral": "mistral_ai",
    "mistral_ai": "mistral_ai",
    "mistralai": "mistral_ai",
    "ollama": "ollama",
    "clarifai": "clarifai",
    "gcp.vision": "gcp.vision",
    "gcp_vision": "gcp.vision",
    "vision": "gcp.vision",
    "google_vision": "gcp.vision",
    "cloud_vision": "gcp.vision",
    "bedrock": "aws.bedrock",
    "aws.bedrock": "aws.bedrock",
    "groq": "groq",
    "deepseek": "deepseek",
    "cohere": "cohere",
    "x_ai": "x_ai",
    "xai": "x_ai",
}

# Spellings (OpenTelemetry names, the demo's and the seeds') -> provider type.
PROVIDER_TYPE_ALIASES: dict[str, str] = {
    **{t.value: t.value for t in ProviderType},
    **{info.otel_name: t.value for t, info in PROVIDER_TYPES.items() if info.otel_name},
    "google": "gemini", "google_gemini": "gemini", "mistralai": "mistral",
    "custom": "openai_compatible",
    "vision": "gcp_vision", "google_vision": "gcp_vision", "cloud_vision": "gcp_vision",
}

PROVIDER_LABELS: dict[str, str] = {
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

# Providers whose models cost nothing per token (local inference).
FREE_PROVIDERS = frozenset({"ollama"})


def canonical_provider(name: str | None) -> str | None:
    """The OpenTelemetry provider name for any known spelling (unknown names pass through,
    lower-cased); None for an empty name."""
    if name is None:
        return None
    key = str(name).strip().lower()
    return PROVIDER_ALIASES.get(key, key) if key else None


def provider_type(name: str) -> str:
    """The provider type (a :class:`ProviderType` value) for any known spelling; unknown names
    pass through lower-cased."""
    key = (name or "").strip().lower()
    return PROVIDER_TYPE_ALIASES.get(key, key)


def otel_name(name: str) -> str:
    """The ``provider_name`` usage events record for a provider type or any spelling."""
    key = (name or "").strip().lower()
    return canonical_provider(key) or key


def provider_label(name: str) -> str:
    """What a person reads for an OpenTelemetry provider name (the name itself if unknown)."""
    return PROVIDER_LABELS.get(name, name)
