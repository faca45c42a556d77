"""Provider configuration schemas: one pydantic model per provider type, plus type facts.

Every form on the Providers page becomes one of these models before anything is stored, so
bad input gets a clear message (``validation_messages``) and loses nothing. API keys are not
part of any schema: a key is passed to the store separately and encrypted by the vault;
a settings dict carrying one is refused with a message pointing at the key field.
``hide_input_in_errors`` keeps submitted values (which might be a pasted key) out of the
text of validation errors, and so out of logs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    TypeAdapter,
    ValidationError,
    field_validator,
)

from core.provider_names import PROVIDER_TYPES, ProviderType, ProviderTypeInfo
from core.validation import error_phrase, messages

FIELD_LABELS: dict[str, str] = {
    "type": "Provider type",
    "api_key": "API key",
    "name": "Name",
    "base_url": "Base URL",
    "default_model": "Default model",
    "temperature": "Temperature",
    "max_tokens": "Max tokens",
    "timeout_s": "Timeout (seconds)",
    "requests_per_minute": "Requests per minute",
    "headers": "Extra headers",
    "enabled": "Enabled",
    "models": "Models",
    "organization": "Organization ID",
    "features": "Vision features",
    "max_results": "Max results",
}
# Setting names that would carry a credential: refused with a pointer to the key field.
SECRET_FIELDS = frozenset({"api_key", "apikey", "key", "token", "secret", "password",
                           "access_token", "auth", "authorization", "pat"})

MODEL_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+\-]{0,199}$")
HEADER_NAME_RE = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$")  # RFC 9110 token
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
MAX_HEADERS = 20
MAX_MODELS = 2000
# Headers the HTTP client sets itself, and headers that carry credentials.
_RESERVED_HEADERS = frozenset({"host", "content-length", "content-type", "transfer-encoding",
                               "connection", "accept-encoding", "user-agent"})
_CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "x-api-key", "api-key",
                                 "x-goog-api-key", "cookie"})
_CREDENTIAL_WORDS = ("auth", "api-key", "apikey", "api_key", "token", "secret", "password")

VISION_FEATURES = Literal["LABEL_DETECTION", "OBJECT_LOCALIZATION", "TEXT_DETECTION",
                          "LOGO_DETECTION", "LANDMARK_DETECTION", "SAFE_SEARCH_DETECTION",
                          "IMAGE_PROPERTIES", "WEB_DETECTION"]

_HTTP_URL = TypeAdapter(HttpUrl)


def check_base_url(value: str) -> str:
    """An http(s) address with a host and no credentials, query or fragment; no trailing /."""
    text = value.strip()
    bad = "must be a web address starting with http:// or https://, e.g. https://api.example.com/v1"
    if not text or any(c.isspace() for c in text) or _CONTROL_RE.search(text):
        raise ValueError(bad)
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise ValueError(bad) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(bad)
    if parts.username or parts.password:
        raise ValueError("must not contain a user name or password; put the key in the "
                         "API key field, where it is encrypted")
    if parts.query or parts.fragment:
        raise ValueError("must not contain '?' or '#' parts")
    try:
        _HTTP_URL.validate_python(text)
    except ValidationError:
        raise ValueError(bad) from None
    return text.rstrip("/")


def check_model_id(value: str) -> str:
    if not MODEL_ID_RE.fullmatch(value):
        raise ValueError("must be a model id such as gpt-4o-mini or llama3.2-vision:11b "
                         "(letters, digits and . _ : / @ + -, no spaces)")
    return value


def parse_headers_text(text: str) -> dict[str, str]:
    """Headers as typed in a form, one ``Name: value`` per line (blank lines skipped). A line
    without a colon or a name typed twice is an error, never silently dropped or merged."""
    out: dict[str, str] = {}
    seen: set[str] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        name = name.strip()
        if not colon or not name:
            raise ValueError(f"line {number} is not “Name: value”")
        if name.lower() in seen:
            raise ValueError(f"“{name[:64]}” is given twice")
        seen.add(name.lower())
        out[name] = value.strip()
    return out


def headers_text(headers: Mapping[str, str]) -> str:
    """The form's text for stored headers (what :func:`parse_headers_text` reads back)."""
    return "\n".join(f"{name}: {value}" for name, value in headers.items())


def _blank_to_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


class ProviderSettingsBase(BaseModel):
    """Settings common to every provider type. Subclasses fix ``type`` and add their own."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True,
                              hide_input_in_errors=True)

    kind: ClassVar[ProviderType]

    type: str
    name: str = Field(min_length=1, max_length=60)
    base_url: str | None = Field(default=None, validate_default=True)
    default_model: str | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1, le=200_000)
    timeout_s: float = Field(default=60.0, ge=1, le=600)
    requests_per_minute: int | None = Field(default=None, ge=1)
    headers: dict[str, str] = Field(default_factory=dict)
    enabled: bool = True
    models: list[str] = Field(default_factory=list)

    @property
    def info(self) -> ProviderTypeInfo:
        return PROVIDER_TYPES[self.kind]

    @field_validator("base_url", "default_model", "temperature", "max_tokens",
                     "requests_per_minute", mode="before")
    @classmethod
    def _empty_is_unset(cls, v: Any) -> Any:
        return _blank_to_none(v)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if _CONTROL_RE.search(v):
            raise ValueError("must not contain line breaks or control characters")
        return v

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, v: str | None) -> str | None:
        info = PROVIDER_TYPES[cls.kind]
        if v is None:
            if info.base_url_required:
                example = f", e.g. {info.suggested_base_url}" if info.suggested_base_url else ""
                raise ValueError(f"is required for {info.label}{example}")
            return info.default_base_url
        return check_base_url(v)

    @field_validator("default_model")
    @classmethod
    def _default_model(cls, v: str | None) -> str | None:
        return None if v is None else check_model_id(v)

    @field_validator("temperature")
    @classmethod
    def _temperature(cls, v: float | None) -> float | None:
        info = PROVIDER_TYPES[cls.kind]
        if v is not None and v > info.max_temperature:
            raise ValueError(f"{info.label} accepts a temperature between 0 and "
                             f"{info.max_temperature:g}")
        return v

    @field_validator("models")
    @classmethod
    def _models(cls, v: list[str]) -> list[str]:
        if len(v) > MAX_MODELS:
            raise ValueError(f"at most {MAX_MODELS} models")
        out: list[str] = []
        for i, m in enumerate(v, start=1):
            try:
                check_model_id(m)
            except ValueError as exc:
                raise ValueError(f"item {i} {exc}") from None
            if m not in out:
                out.append(m)
        return out

    @field_validator("headers", mode="before")
    @classmethod
    def _headers_from_text(cls, v: Any) -> Any:
        return parse_headers_text(v) if isinstance(v, str) else v

    @field_validator("headers")
    @classmethod
    def _headers(cls, v: dict[str, str]) -> dict[str, str]:
        if not v:
            return {}
        pinfo = PROVIDER_TYPES[cls.kind]
        if not pinfo.headers_allowed:
            raise ValueError("are only available for custom OpenAI-compatible providers")
        if len(v) > MAX_HEADERS:
            raise ValueError(f"at most {MAX_HEADERS} headers")
        seen: set[str] = set()
        for name, value in v.items():
            lower = name.lower()
            if not HEADER_NAME_RE.fullmatch(name):
                raise ValueError(f"“{name[:64]}” is not a valid header name (letters, digits "
                                 "and - only, no spaces or colons)")
            if lower in seen:
                raise ValueError(f"“{name}” is given twice")
            seen.add(lower)
            if lower in _CREDENTIAL_HEADERS or any(w in lower for w in _CREDENTIAL_WORDS):
                raise ValueError(f"“{name}” carries a credential: put the key in the API key "
                                 "field, where it is encrypted (headers are stored as plain "
                                 "settings)")
            if lower in _RESERVED_HEADERS:
                raise ValueError(f"“{name}” is set automatically and cannot be overridden")
            if _CONTROL_RE.search(value) or len(value) > 1024:
                raise ValueError(f"the value of “{name}” must be one line of at most 1024 "
                                 "characters")
        return dict(v)

    def adapter_headers(self) -> dict[str, str]:
        """Extra HTTP headers an adapter should send for these settings (never the key)."""
        return dict(self.headers)


class OpenAISettings(ProviderSettingsBase):
    kind: ClassVar[ProviderType] = ProviderType.openai
    type: Literal["openai"] = "openai"
    organization: str | None = Field(default=None, max_length=100, pattern=r"^[A-Za-z0-9_\-]+$")

    @field_validator("organization", mode="before")
    @classmethod
    def _org(cls, v: Any) -> Any:
        return _blank_to_none(v)

    def adapter_headers(self) -> dict[str, str]:
        return {"OpenAI-Organization": self.organization} if self.organization else {}


class AnthropicSettings(ProviderSettingsBase):
    kind: ClassVar[ProviderType] = ProviderType.anthropic
    type: Literal["anthropic"] = "anthropic"


class GeminiSettings(ProviderSettingsBase):
    kind: ClassVar[ProviderType] = ProviderType.gemini
    type: Literal["gemini"] = "gemini"


class MistralSettings(ProviderSettingsBase):
    kind: ClassVar[ProviderType] = ProviderType.mistral
    type: Literal["mistral"] = "mistral"


class ClarifaiSettings(ProviderSettingsBase):
    kind: ClassVar[ProviderType] = ProviderType.clarifai
    type: Literal["clarifai"] = "clarifai"


class GcpVisionSettings(ProviderSettingsBase):
    """Cloud Vision tags images; temperature and max tokens do not apply."""

    kind: ClassVar[ProviderType] = ProviderType.gcp_vision
    type: Literal["gcp_vision"] = "gcp_vision"
    features: list[VISION_FEATURES] = Field(default_factory=lambda: ["LABEL_DETECTION"],  # type: ignore[arg-type]  # pydantic's stub cannot see the literal
                                            min_length=1)
    max_results: int = Field(default=10, ge=1, le=50)


class OllamaSettings(ProviderSettingsBase):
    kind: ClassVar[ProviderType] = ProviderType.ollama
    type: Literal["ollama"] = "ollama"


class OpenAICompatibleSettings(ProviderSettingsBase):
    kind: ClassVar[ProviderType] = ProviderType.openai_compatible
    type: Literal["openai_compatible"] = "openai_compatible"


SETTINGS_CLASSES: dict[ProviderType, type[ProviderSettingsBase]] = {
    c.kind: c
    for c in (OpenAISettings, AnthropicSettings, GeminiSettings, MistralSettings,
              ClarifaiSettings, GcpVisionSettings, OllamaSettings, OpenAICompatibleSettings)
}

ProviderSettings = Annotated[
    OpenAISettings | AnthropicSettings | GeminiSettings | MistralSettings | ClarifaiSettings
    | GcpVisionSettings | OllamaSettings | OpenAICompatibleSettings,
    Field(discriminator="type"),
]
_SETTINGS = TypeAdapter(ProviderSettings, config=ConfigDict(hide_input_in_errors=True))


def parse_provider_settings(data: Mapping[str, Any] | ProviderSettingsBase
                            ) -> ProviderSettingsBase:
    """Validate a form's dict (or re-validate a model) into the right settings class.

    Raises ``pydantic.ValidationError``; :func:`validation_messages` turns it into text.
    """
    if isinstance(data, ProviderSettingsBase):
        data = data.model_dump()
    return _SETTINGS.validate_python(dict(data))


def _label(loc: tuple[Any, ...]) -> str:
    parts = list(loc)
    if len(parts) > 1 and parts[0] in PROVIDER_TYPES:  # the discriminated union's tag
        parts = parts[1:]
    elif len(parts) == 1 and parts[0] in PROVIDER_TYPES:
        parts = []
    if not parts:
        return ""
    head = str(parts[0])
    label = FIELD_LABELS.get(head, head.replace("_", " ").capitalize())
    for p in parts[1:]:
        label += f" (item {p + 1})" if isinstance(p, int) else f" › {p}"
    return label


def _text(err: Mapping[str, Any]) -> str:
    field = str(err["loc"][-1]) if err.get("loc") else ""
    if err.get("type") == "extra_forbidden":
        if field.lower().replace("-", "_") in SECRET_FIELDS:
            return ("enter it in the API key field, where it is stored encrypted, never in the "
                    "settings")
        return "is not a setting of this provider type"
    return error_phrase(err, {
        "bool_parsing": "must be yes or no", "bool_type": "must be yes or no",
        "dict_type": "must be a list of header names and values",
        "union_tag_not_found": "is required",
        "union_tag_invalid": "must be one of: " + ", ".join(t.value for t in PROVIDER_TYPES),
    })


def _where(err: Mapping[str, Any]) -> str:
    if err.get("type", "").startswith("union_tag"):
        return FIELD_LABELS["type"]
    return _label(tuple(err.get("loc") or ()))


def validation_messages(exc: ValidationError | ValueError) -> list[str]:
    """Pydantic errors as "Field: message" lines an end user can act on (no input values),
    by :func:`core.validation.messages` with this form's labels."""
    return messages(exc, label=_where, phrase=_text, capitalise=True)
