"""Anthropic Messages API: ``x-api-key`` and ``anthropic-version`` headers, base64 image
blocks, and the SSE event stream (message_start … message_stop) for a real time to first
token. Cached input (cache reads and writes) is reported apart from ``input_tokens`` by
Anthropic and folded back in here, so ``input_tokens`` means the same for every provider."""

from __future__ import annotations

from typing import Any

import httpx

from core.providers.base import (
    Adapter,
    Answer,
    CallOptions,
    ImagePart,
    ModelInfo,
    Part,
    Request,
    TokenUsage,
)
from core.providers.errors import ProviderError, RateLimited, Unavailable
from core.providers.http import Clock, as_int, load_json, sse_events

API_VERSION = "2023-06-01"


def usage_from(doc: Any, output_only: bool = False) -> dict[str, int]:
    if not isinstance(doc, dict):
        return {}
    out = {"output_tokens": as_int(doc.get("output_tokens"))}
    if not output_only:
        read = as_int(doc.get("cache_read_input_tokens"))
        write = as_int(doc.get("cache_creation_input_tokens"))
        out |= {"input_tokens": as_int(doc.get("input_tokens")) + read + write,
                "cached_input_tokens": read}
    return out


class AnthropicAdapter(Adapter):
    protocol = "anthropic"
    default_base_url = "https://api.anthropic.com"

    def auth_headers(self) -> dict[str, str]:
        return {"anthropic-version": API_VERSION, "x-api-key": self._api_key or ""}

    def build_request(self, model: str, parts: list[Part], options: CallOptions) -> Request:
        profile = self.profile(model)
        content: list[dict[str, Any]] = []
        for p in parts:
            if isinstance(p, ImagePart):
                content.append({"type": "image", "source": {
                    "type": "base64", "media_type": p.mime_type, "data": p.b64()}})
            else:
                content.append({"type": "text", "text": p.text})
        body: dict[str, Any] = {"model": model,
                                "max_tokens": options.max_tokens or profile.default_max_tokens,
                                "messages": [{"role": "user", "content": content}],
                                "stream": options.stream}
        if options.system:
            body["system"] = options.system
        if options.temperature is not None:
            top = profile.max_temperature
            body["temperature"] = options.temperature if top is None else \
                min(options.temperature, top)
        body.update(options.extra)
        return Request(f"{self.base_url}/v1/messages", body)

    def stream_error(self, doc: dict) -> ProviderError:
        """An ``error`` event inside a 200 stream (overloaded, rate limit, api error)."""
        err = doc.get("error") or {}
        kind = err.get("type", "")
        message = err.get("message") or kind or "stream error"
        who, key = self.label, self._api_key
        if kind == "rate_limit_error":
            return RateLimited(message, status=429, provider=who, secret=key)
        return Unavailable(message, status=529 if kind == "overloaded_error" else 500,
                           provider=who, secret=key)

    def read_answer(self, doc: Any, request: Request) -> Answer:
        if not isinstance(doc, dict) or not isinstance(doc.get("content"), list):
            raise self.malformed("the answer has no content list", 200)
        text = "".join(b.get("text", "") for b in doc["content"]
                       if isinstance(b, dict) and b.get("type") == "text")
        return Answer(text, TokenUsage(**usage_from(doc.get("usage"))), doc.get("model"),
                      doc.get("stop_reason"), doc.get("id"))

    async def read_stream(self, response: httpx.Response, clock: Clock) -> Answer:
        pieces: list[str] = []
        usage: dict[str, int] = {}
        finish = model_name = rid = None
        async for event, data in sse_events(response):
            doc = load_json(data, provider=self.label, secret=self._api_key)
            kind = event or (doc.get("type") if isinstance(doc, dict) else None)
            if not isinstance(doc, dict):
                raise self.malformed("a streamed event is not an object")
            if kind == "error":
                raise self.stream_error(doc)
            if kind == "message_start":
                message = doc.get("message") or {}
                model_name, rid = message.get("model"), message.get("id")
                usage |= usage_from(message.get("usage"))
            elif kind == "content_block_delta":
                delta = doc.get("delta") or {}
                if delta.get("type") == "text_delta" and delta.get("text"):
                    clock.mark_first()
                    pieces.append(delta["text"])
            elif kind == "message_delta":
                finish = (doc.get("delta") or {}).get("stop_reason") or finish
                usage |= usage_from(doc.get("usage"), output_only=True)
            elif kind == "message_stop":
                return Answer("".join(pieces), TokenUsage(**usage), model_name, finish, rid)
        raise self.malformed("the stream ended before message_stop", 200)

    async def list_models(self) -> list[ModelInfo]:
        async def fetch() -> list[ModelInfo]:
            models: list[ModelInfo] = []
            params: dict[str, Any] = {"limit": 1000}
            for _ in range(50):  # pages; a bound so a looping server cannot hang us
                doc = await self.get_json(f"{self.base_url}/v1/models", params=params)
                data = doc.get("data") if isinstance(doc, dict) else None
                if not isinstance(data, list):
                    raise self.malformed("the model list has no data array", 200)
                models += [ModelInfo(id=str(m["id"]), display_name=m.get("display_name"),
                                     input_types=("text", "image"))
                           for m in data if isinstance(m, dict) and m.get("id")]
                if not doc.get("has_more") or not doc.get("last_id"):
                    break
                params = {"limit": 1000, "after_id": doc["last_id"]}
            return models

        return await self.guard(fetch, 30.0)
