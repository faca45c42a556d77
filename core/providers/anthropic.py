"""Anthropic Messages API: ``x-api-key`` and ``anthropic-version`` headers, base64 image
blocks, and the SSE event stream (message_start … message_stop) for a real time to first
token. Cached input (cache reads and writes) is reported apart from ``input_tokens`` by
Anthropic and folded back in here, so ``input_tokens`` means the same for every provider."""

from __future__ import annotations

from typing import Any

from core.providers.base import (
    Adapter,
    CallOptions,
    Capabilities,
    Completion,
    ImagePart,
    ModelInfo,
    Part,
    TokenUsage,
)
from core.providers.errors import ProviderError, RateLimited, Unavailable
from core.providers.http import Clock, as_int, load_json, sse_events

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 1024  # Anthropic requires max_tokens on every request


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
    capabilities = Capabilities(protocol="anthropic", default_base_url="https://api.anthropic.com")

    def auth_headers(self) -> dict[str, str]:
        return {"anthropic-version": API_VERSION, "x-api-key": self._api_key or ""}

    def request_body(self, model: str, parts: list[Part], options: CallOptions) -> dict:
        content: list[dict[str, Any]] = []
        for p in parts:
            if isinstance(p, ImagePart):
                content.append({"type": "image", "source": {
                    "type": "base64", "media_type": p.mime_type, "data": p.b64()}})
            else:
                content.append({"type": "text", "text": p.text})
        body: dict[str, Any] = {"model": model, "max_tokens": options.max_tokens or
                                DEFAULT_MAX_TOKENS,
                                "messages": [{"role": "user", "content": content}],
                                "stream": options.stream}
        if options.system:
            body["system"] = options.system
        if options.temperature is not None:
            body["temperature"] = min(options.temperature, 1.0)
        body.update(options.extra)
        return body

    def stream_error(self, doc: dict) -> ProviderError:
        """An ``error`` event inside a 200 stream (overloaded, rate limit, api error)."""
        err = doc.get("error") or {}
        kind = err.get("type", "")
        message = err.get("message") or kind or "stream error"
        kw = {"provider": self.label, "secret": self._api_key}
        if kind == "rate_limit_error":
            return RateLimited(message, status=429, **kw)
        if kind == "overloaded_error":
            return Unavailable(message, status=529, **kw)
        return Unavailable(message, status=500, **kw)

    async def complete(self, model: str, parts: list[Part], options: CallOptions | None = None
                       ) -> Completion:
        options = options or CallOptions()
        body = self.request_body(model, parts, options)
        url = f"{self.base_url}/v1/messages"
        clock = Clock()

        async def plain() -> Completion:
            doc = await self.post_json(url, body, options.timeout_s)
            if not isinstance(doc, dict) or not isinstance(doc.get("content"), list):
                raise self.malformed("the answer has no content list", 200)
            text = "".join(b.get("text", "") for b in doc["content"]
                           if isinstance(b, dict) and b.get("type") == "text")
            return Completion(text=text, usage=TokenUsage(**usage_from(doc.get("usage"))),
                              response_model=doc.get("model"),
                              finish_reason=doc.get("stop_reason"),
                              duration_ms=clock.elapsed_ms(), ttft_ms=None,
                              request_id=doc.get("id"))

        async def streamed() -> Completion:
            pieces: list[str] = []
            usage: dict[str, int] = {}
            finish = model_name = rid = None
            stopped = False
            async with self.stream(url, body, options.timeout_s) as response:
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
                        stopped = True
                        break
            if not stopped:
                raise self.malformed("the stream ended before message_stop", 200)
            return Completion(text="".join(pieces), usage=TokenUsage(**usage),
                              response_model=model_name, finish_reason=finish,
                              duration_ms=clock.elapsed_ms(), ttft_ms=clock.ttft_ms,
                              request_id=rid)

        return await self.guard(streamed if options.stream else plain, options.timeout_s)

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
