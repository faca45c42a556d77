"""Provider type -> adapter class and capabilities, declared as data.

The type facts (wire protocol, default base URL, whether a key or a base URL is needed)
live once, in :data:`core.provider_names.PROVIDER_TYPES`; what a protocol can do is its
adapter's :class:`~core.providers.base.Capabilities`; per-model quirks are in
:mod:`core.providers.model_profiles`. This module builds the right adapter for a configured
provider.
"""

from __future__ import annotations

import httpx

from core.provider_names import PROVIDER_TYPES, ProviderType
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

CAPABILITIES: dict[ProviderType, Capabilities] = {
    t: ADAPTERS[PROVIDER_TYPES[t].protocol].capabilities for t in ProviderType}


def capabilities(provider_type: str | ProviderType | None) -> Capabilities:
    """What a provider type's protocol can do; an unknown or missing type can do the
    defaults (a catalog row may name a type this version no longer has)."""
    try:
        return CAPABILITIES[ProviderType(provider_type or "")]
    except ValueError:
        return Capabilities()


def make_adapter(provider_type: str | ProviderType, client: httpx.AsyncClient, *,
                 base_url: str | None = None, api_key: str | None = None,
                 headers: dict[str, str] | None = None, provider_name: str = "") -> Adapter:
    """The adapter for one configured provider, talking through ``client``."""
    ptype = ProviderType(provider_type)
    info = PROVIDER_TYPES[ptype]
    # The type's own default, never the protocol's: a custom OpenAI-compatible server
    # without a URL must not fall through to api.openai.com with its key.
    return ADAPTERS[info.protocol](client, base_url=base_url or info.default_base_url or "",
                                   api_key=api_key, headers=headers,
                                   provider_name=provider_name or info.label,
                                   provider_type=ptype.value)
