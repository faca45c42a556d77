"""Provider type -> adapter class and capabilities, declared as data.

The type facts (wire protocol, default base URL, whether a key or a base URL is needed)
live once, in :data:`core.provider_names.PROVIDER_TYPES`; this module adds what the
adapters can do and builds the right adapter for a configured provider.
"""

from __future__ import annotations

from dataclasses import replace

import httpx

from core.provider_names import PROVIDER_TYPES, KeyPolicy, ProviderType
from core.providers.anthropic import AnthropicAdapter
from core.providers.base import Adapter, Capabilities
from core.providers.gcp_vision import VisionAdapter
from core.providers.gemini import GeminiAdapter
from core.providers.ollama import OllamaAdapter
from core.providers.openai_compat import OpenAICompatAdapter

ADAPTERS: dict[str, type[Adapter]] = {
    "openai": OpenAICompatAdapter,
    "anthropic": AnthropicAdapter,
    "gemini": GeminiAdapter,
    "ollama": OllamaAdapter,
    "gcp_vision": VisionAdapter,
}

# What differs from the protocol's defaults, per provider type.
_NOTES: dict[ProviderType, dict] = {
    ProviderType.openai: {"notes": "gpt-5 and o-series take only the default temperature"},
    ProviderType.anthropic: {"notes": "temperature at most 1"},
    ProviderType.mistral: {"notes": "images on Pixtral and Mistral Medium/Small 3.x models"},
    ProviderType.clarifai: {"notes": "model ids are Clarifai model URLs"},
    ProviderType.gcp_vision: {"text": False, "streaming": False, "list_models": False,
                              "tagging_only": True, "notes": "tags photos; billed per image"},
    ProviderType.ollama: {"notes": "local models; images on vision models (llava, llama3.2-vision)"},
    ProviderType.openai_compatible: {"notes": "any server speaking OpenAI chat completions"},
}


def _capabilities(ptype: ProviderType) -> Capabilities:
    info = PROVIDER_TYPES[ptype]
    base = ADAPTERS[info.protocol].capabilities
    return replace(base, needs_key=info.key_policy is KeyPolicy.required,
                   needs_base_url=info.base_url_required,
                   default_base_url=info.default_base_url, **_NOTES.get(ptype, {}))


CAPABILITIES: dict[ProviderType, Capabilities] = {t: _capabilities(t) for t in ProviderType}


def capabilities(provider_type: str | ProviderType) -> Capabilities:
    return CAPABILITIES[ProviderType(provider_type)]


def make_adapter(provider_type: str | ProviderType, client: httpx.AsyncClient, *,
                 base_url: str | None = None, api_key: str | None = None,
                 headers: dict[str, str] | None = None, provider_name: str = "") -> Adapter:
    """The adapter for one configured provider, talking through ``client``."""
    ptype = ProviderType(provider_type)
    caps = CAPABILITIES[ptype]
    cls = ADAPTERS[caps.protocol]
    kw: dict = {"base_url": base_url, "api_key": api_key, "headers": headers,
                "provider_name": provider_name or PROVIDER_TYPES[ptype].label,
                "capabilities": caps}
    if cls is OpenAICompatAdapter:
        kw["provider_type"] = ptype.value
    return cls(client, **kw)
