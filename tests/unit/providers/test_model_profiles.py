"""One adapter shape: per-model quirks in one profile table, one ``complete`` skeleton with
per-protocol hooks, Google's key and errors written once, and capabilities that are read."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from typing import Any

import httpx
import pytest

from core.model_classes import input_types_of, kind_of, recommended_for, specialties_of
from core.provider_names import PROVIDER_TYPES, ProviderType
from core.providers import registry
from core.providers.base import (
    Adapter,
    Answer,
    CallOptions,
    Capabilities,
    ImagePart,
    ModelInfo,
    Part,
    Request,
    TextPart,
)
from core.providers.errors import AuthenticationError, RateLimited, Timeout
from core.providers.gcp_vision import VisionAdapter
from core.providers.gemini import GeminiAdapter
from core.providers.google import GoogleAdapter
from core.providers.http import Clock
from core.providers.model_profiles import QUIRKS, ModelProfile, Quirk, profile_for
from tests.helpers import png

_PHOTO = ImagePart(png(1, 2, 3), "image/png")

# ---- the profile table -------------------------------------------------------------------


@pytest.mark.parametrize(("ptype", "model", "fixed"), [
    ("openai", "gpt-5", True), ("openai", "gpt-5-mini", True), ("openai", "o3-mini", True),
    ("openai", "openai/o1", True), ("openai", "gpt-4o-mini", False),
    ("openai", "gpt-50x", False), ("mistral", "o1-like", False),
    ("openai_compatible", "gpt-5", False),
])
def test_openai_reasoning_models_take_only_the_default_temperature(
        ptype: str, model: str, fixed: bool) -> None:
    assert profile_for(ptype, model).default_temperature_only is fixed


def test_provider_wide_quirks() -> None:
    assert profile_for("openai", "gpt-4o").max_tokens_field == "max_completion_tokens"
    assert profile_for("mistral", "mistral-small").max_tokens_field == "max_tokens"
    claude = profile_for("anthropic", "claude-haiku-4-5")
    assert claude.max_temperature == PROVIDER_TYPES[ProviderType.anthropic].max_temperature
    assert claude.default_max_tokens == 1024
    assert profile_for(ProviderType.gemini, "gemini-2.5-pro").max_temperature is None


def test_vision_by_name_and_by_ollama_family() -> None:
    assert profile_for(None, "models/gemini-2.5-flash").vision
    assert profile_for("mistral", "pixtral-large-latest").vision
    assert not profile_for("mistral", "mistral-large-latest").vision
    assert profile_for("ollama", "my-model:7b", ["llama", "CLIP"]).vision
    assert not profile_for("ollama", "llama3.2:3b", ["llama"]).vision
    assert not profile_for("openai", "my-model:7b", ["clip"]).vision  # families are Ollama's


def test_rows_merge_and_are_checked() -> None:
    both = profile_for("openai", "gpt-5-codex")
    assert both.vision and both.reasoning and both.coding and both.default_temperature_only
    assert profile_for("openai", "text-embedding-3-small") == replace(
        ModelProfile(), max_tokens_field="max_completion_tokens")
    with pytest.raises(ValueError, match="not a ModelProfile field"):
        Quirk({"temprature": 1.0}, r"x")
    assert all(q.why for q in QUIRKS)  # every row says why it exists


def test_the_catalog_reads_the_profiles_and_the_capabilities() -> None:
    assert input_types_of("openai", ModelInfo("gpt-4o")) == ("text", "image")
    assert specialties_of("anthropic", ModelInfo("claude-sonnet-4-5"), "multimodal") == (
        "vision", "reasoning")
    assert specialties_of("mistral", ModelInfo("codestral-latest"), "text") == ("coding",)
    assert kind_of("gcp_vision", ModelInfo("builtin/stable")) == "tagging"
    assert specialties_of("ollama", ModelInfo("llama3.2:3b"), "text") == ("local",)
    assert recommended_for("ollama", "text", None).startswith("Private or offline")


def test_capabilities_are_what_the_catalog_acts_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """Change a declaration and the catalog follows: it reads the declaration, not a name."""
    caps = dict(registry.CAPABILITIES)
    caps[ProviderType.ollama] = Capabilities(local=False)
    caps[ProviderType.mistral] = Capabilities(tagging_only=True)
    monkeypatch.setattr(registry, "CAPABILITIES", caps)
    assert "local" not in specialties_of("ollama", ModelInfo("llama3.2:3b"), "text")
    assert kind_of("mistral", ModelInfo("mistral-small-latest")) == "tagging"


def test_capabilities_declare_only_what_is_read() -> None:
    assert {f for f in Capabilities.__dataclass_fields__} == {"tagging_only", "streaming",
                                                             "local"}
    assert registry.capabilities("gcp_vision") == Capabilities(tagging_only=True,
                                                              streaming=False)
    assert registry.capabilities("ollama").local
    assert registry.capabilities("no-such-type") == Capabilities()


# ---- one skeleton, per-protocol hooks ----------------------------------------------------


def test_no_adapter_writes_its_own_complete_or_google_plumbing() -> None:
    for cls in registry.ADAPTERS.values():
        assert "complete" not in vars(cls), cls.__name__
        assert {"build_request", "read_answer"} <= set(vars(cls)), cls.__name__
    for cls in (GeminiAdapter, VisionAdapter):
        assert issubclass(cls, GoogleAdapter)
        assert not {"auth_headers", "map_error"} & set(vars(cls)), cls.__name__


class Echo(Adapter):
    """A protocol written with the hooks only: the base sends, streams, maps and measures."""

    protocol = "openai"
    default_base_url = "https://echo.test"

    def build_request(self, model: str, parts: list[Part], options: CallOptions) -> Request:
        text = " ".join(p.text for p in parts if isinstance(p, TextPart))
        return Request(f"{self.base_url}/say", {"model": model, "text": text},
                       stream_url=f"{self.base_url}/say-stream", model=model)

    def read_answer(self, doc: Any, request: Request) -> Answer:
        return Answer(doc["text"], response_model=request.model, finish_reason="stop")

    async def read_stream(self, response: httpx.Response, clock: Clock) -> Answer:
        pieces = []
        async for line in response.aiter_lines():
            if line:
                clock.mark_first()
                pieces.append(line)
        return Answer("".join(pieces), finish_reason="stop")


def _echo(respond: Any, **options: Any) -> Any:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return respond(request)

    async def go() -> Any:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            adapter = Echo(client, api_key="sk-echo-secret-123456", provider_name="Echo")
            return await adapter.complete("m1", [TextPart("hi")], CallOptions(**options))

    return asyncio.run(go()), seen


def test_a_hooks_only_adapter_gets_plain_and_streamed_calls() -> None:
    plain, seen = _echo(lambda r: httpx.Response(200, json={"text": json.loads(r.content)
                                                            ["text"].upper()}), stream=False)
    assert (plain.text, plain.response_model, plain.ttft_ms) == ("HI", "m1", None)
    assert seen[0].url.path == "/say"
    assert seen[0].headers["authorization"] == "Bearer sk-echo-secret-123456"
    streamed, seen = _echo(lambda r: httpx.Response(200, text="a\nb\n"), stream=True)
    assert streamed.text == "ab" and streamed.ttft_ms is not None
    assert seen[0].url.path == "/say-stream"
    assert streamed.duration_ms >= streamed.ttft_ms


def test_a_hooks_only_adapter_gets_the_error_taxonomy() -> None:
    with pytest.raises(RateLimited) as info:
        _echo(lambda r: httpx.Response(429, headers={"retry-after": "3"},
                                       json={"error": {"message": "slow down"}}), stream=False)
    assert info.value.retry_after == 3 and info.value.provider == "Echo"

    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("no answer", request=request)

    with pytest.raises(Timeout):
        _echo(hang, stream=True)


def test_streaming_is_used_only_where_declared(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Echo, "capabilities", Capabilities(streaming=False))
    done, seen = _echo(lambda r: httpx.Response(200, json={"text": "whole"}), stream=True)
    assert done.text == "whole" and seen[0].url.path == "/say"


def test_google_errors_are_mapped_once_for_both_google_apis() -> None:
    body = {"error": {"code": 400, "message": "API key not valid.", "status": "INVALID_ARGUMENT",
                      "details": [{"reason": "API_KEY_INVALID"}]}}

    async def go(cls: type[Adapter]) -> Exception:
        async with httpx.AsyncClient(transport=httpx.MockTransport(
                lambda r: httpx.Response(400, json=body))) as client:
            adapter = cls(client, api_key="AIza-bad-key-000000000000", base_url="https://g.test")
            with pytest.raises(AuthenticationError) as info:
                await adapter.complete("builtin/stable" if cls is VisionAdapter else
                                       "gemini-2.0-flash", [_PHOTO, TextPart("tags?")],
                                       CallOptions(stream=False))
            return info.value

    for cls in (GeminiAdapter, VisionAdapter):
        err = asyncio.run(go(cls))
        assert err.status == 400 and "AIza-bad-key" not in str(err)
