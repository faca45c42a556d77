"""Model templates: pre-filled provider settings for popular models, as data.

A template fills the Add-provider form (type, default model, temperature, max tokens);
the user still names the provider and enters the key. Low temperatures by default: the
app's workloads (photo tagging, classification, comparisons) reward consistent answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.provider_names import PROVIDER_TYPES, ProviderType


@dataclass(frozen=True)
class ModelTemplate:
    id: str
    label: str
    provider_type: ProviderType
    default_model: str
    temperature: float | None
    max_tokens: int | None
    description: str

    def settings(self, name: str | None = None, **overrides: Any) -> dict[str, Any]:
        """A dict ready for ``parse_provider_settings`` (the suggested base URL included
        where one is required, e.g. Ollama's localhost)."""
        info = PROVIDER_TYPES[self.provider_type]
        data: dict[str, Any] = {
            "type": self.provider_type.value,
            "name": name or self.label,
            "default_model": self.default_model,
            "models": [self.default_model],
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }
        if info.base_url_required and info.suggested_base_url:
            data["base_url"] = info.suggested_base_url
        data.update(overrides)
        return data


T = ProviderType
TEMPLATES: tuple[ModelTemplate, ...] = (
    ModelTemplate("gpt-4o", "GPT-4o", T.openai, "gpt-4o", 0.2, 1024,
                  "OpenAI's multimodal flagship: strong on photos and text, mid-priced."),
    ModelTemplate("gpt-4o-mini", "GPT-4o mini", T.openai, "gpt-4o-mini", 0.2, 1024,
                  "Cheap and fast OpenAI model with vision; a good default for tagging."),
    ModelTemplate("gpt-4.1-mini", "GPT-4.1 mini", T.openai, "gpt-4.1-mini", 0.2, 1024,
                  "Newer small OpenAI model with a 1M-token context window."),
    ModelTemplate("claude-sonnet-4-5", "Claude Sonnet 4.5", T.anthropic, "claude-sonnet-4-5",
                  0.2, 1024, "Anthropic's balanced model: high accuracy, careful answers."),
    ModelTemplate("claude-haiku-4-5", "Claude Haiku 4.5", T.anthropic, "claude-haiku-4-5",
                  0.2, 1024, "Anthropic's fast, economical model with vision."),
    ModelTemplate("gemini-2.5-flash", "Gemini 2.5 Flash", T.gemini, "gemini-2.5-flash", 0.2,
                  2048, "Google's fast multimodal model; low price per image."),
    ModelTemplate("gemini-2.5-pro", "Gemini 2.5 Pro", T.gemini, "gemini-2.5-pro", 0.2, 4096,
                  "Google's most capable model; thinks before answering (slower, pricier)."),
    ModelTemplate("mistral-large-latest", "Mistral Large", T.mistral, "mistral-large-latest",
                  0.2, 1024, "Mistral's top text model (EU-hosted); no image input."),
    ModelTemplate("mistral-small-latest", "Mistral Small", T.mistral, "mistral-small-latest",
                  0.2, 1024, "Small, inexpensive Mistral model with image input."),
    ModelTemplate("clarifai-llama-3.2-vision",
                  "Llama 3.2 11B Vision (Clarifai)", T.clarifai,
                  "https://clarifai.com/meta/Llama-3/models/Llama-3_2-11B-Vision-Instruct", 0.2,
                  1024, "Open-weights vision model hosted by Clarifai (OpenAI-compatible API)."),
    ModelTemplate("llama3.2-vision:11b", "Llama 3.2 Vision 11B (Ollama)", T.ollama,
                  "llama3.2-vision:11b", 0.2, 1024,
                  "Runs on your own machine with Ollama: no per-call cost, data stays local."),
    ModelTemplate("cloud-vision", "Google Cloud Vision", T.gcp_vision, "builtin/stable", None,
                  None, "Label detection: tags with confidence scores, not free text."),
)
_BY_ID = {t.id: t for t in TEMPLATES}


def get_template(template_id: str) -> ModelTemplate | None:
    return _BY_ID.get(template_id)


def templates_for(provider_type: ProviderType | str) -> list[ModelTemplate]:
    """The templates of one provider type, in display order."""
    return [t for t in TEMPLATES if t.provider_type == ProviderType(provider_type)]
