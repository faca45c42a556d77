"""Where each provider type lives on a running simulator, in the form its SDK or adapter
expects as a base URL (the same part of the path the real provider's base URL covers)."""

from __future__ import annotations

# provider type -> path under the simulator root
PATHS: dict[str, str] = {
    "openai": "/openai/v1",  # client appends /chat/completions, /models
    "anthropic": "/anthropic",  # SDK appends /v1/messages
    "gemini": "/gemini",  # SDK appends /v1beta/models/{model}:generateContent (or /v1)
    "mistral": "/mistral/v1",
    "clarifai": "/clarifai/v1",  # Clarifai's https://api.clarifai.com/v2/ext/openai/v1
    "ollama": "/ollama",  # native /api/chat, /api/tags; OpenAI-compatible under /ollama/v1
    "openai_compatible": "/custom/v1",
    "gcp_vision": "/vision",  # client appends /v1/images:annotate
}


def base_urls(root: str) -> dict[str, str]:
    """Base URL per provider type for a simulator served at ``root`` (e.g. its handle.url)."""
    root = root.rstrip("/")
    return {provider: root + path for provider, path in PATHS.items()}
