"""OpenAI chat completions: OpenAI itself, Mistral, Clarifai's OpenAI-compatible endpoint,
Ollama's ``/v1`` and any custom OpenAI-compatible server.

Images travel as data URLs; answers stream with ``stream_options.include_usage`` so the
token counts arrive in the last chunk and time to first token is real.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from core.providers.base import (
    Adapter,
    CallOptions,
    Capabilities,
    Completion,
    ImagePart,
    ModelInfo,
    Part,
    TextPart,
    TokenUsage,
)
from core.providers.http import Clock, as_int, load_json, sse_events, stream_error_status

# OpenAI's reasoning models take max_completion_tokens and only the default temperature.
_REASONING = re.compile(r"^(gpt-5|o\d)(\b|[-.])")


def is_reasoning_model(model: str) -> bool:
    return bool(_REASONING.match(model.rsplit("/", 1)[-1]))


def user_content(parts: list[Part]) -> str | list[dict[str, Any]]:
    """Plain text stays a string (every compatible server takes that); images make a list."""
    if all(isinstance(p, TextPart) for p in parts):
        return "\n\n".join(p.text for p in parts if isinstance(p, TextPart))
    content: list[dict[str, Any]] = []
    for p in parts:
        if isinstance(p, ImagePart):
            content.append({"type": "image_url", "image_url": {"url": p.data_url()}})
        else:
            content.append({"type": "text", "text": p.text})
    return content


def _text_of(content: Any) -> str:
    """Message content as text: a string, or (Mistral, some proxies) a list of chunks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(c.get("text", "") for c in content
                       if isinstance(c, dict) and c.get("type", "text") == "text")
    return ""


def usage_from(doc: Any) -> TokenUsage:
    if not isinstance(doc, dict):
        return TokenUsage()
    prompt = doc.get("prompt_tokens_details") or {}
    completion = doc.get("completion_tokens_details") or {}
    return TokenUsage(
        input_tokens=as_int(doc.get("prompt_tokens")),
        output_tokens=as_int(doc.get("completion_tokens")),
        cached_input_tokens=as_int(prompt.get("cached_tokens") if isinstance(prompt, dict)
                                   else 0),
        reasoning_tokens=as_int(completion.get("reasoning_tokens")
                                if isinstance(completion, dict) else 0),
    )


class OpenAICompatAdapter(Adapter):
    capabilities = Capabilities(protocol="openai", default_base_url="https://api.openai.com/v1")

    def __init__(self, client: httpx.AsyncClient, *, provider_type: str = "openai",
                 **kw: Any) -> None:
        super().__init__(client, **kw)
        self.provider_type = provider_type

    def request_body(self, model: str, parts: list[Part], options: CallOptions) -> dict:
        messages: list[dict[str, Any]] = []
        if options.system:
            messages.append({"role": "system", "content": options.system})
        messages.append({"role": "user", "content": user_content(parts)})
        body: dict[str, Any] = {"model": model, "messages": messages, "stream": options.stream}
        if options.stream:
            body["stream_options"] = {"include_usage": True}
        reasoning = self.provider_type == "openai" and is_reasoning_model(model)
        if options.max_tokens:
            # OpenAI deprecated max_tokens; compatible servers mostly know only max_tokens.
            key = "max_completion_tokens" if self.provider_type == "openai" else "max_tokens"
            body[key] = options.max_tokens
        if options.temperature is not None and not (reasoning and options.temperature != 1):
            body["temperature"] = options.temperature
        body.update(options.extra)
        return body

    async def complete(self, model: str, parts: list[Part], options: CallOptions | None = None
                       ) -> Completion:
        options = options or CallOptions()
        body = self.request_body(model, parts, options)
        url = f"{self.base_url}/chat/completions"
        clock = Clock()

        async def plain() -> Completion:
            doc = await self.post_json(url, body, options.timeout_s)
            try:
                choice = doc["choices"][0]
                text = _text_of(choice["message"].get("content"))
            except (KeyError, IndexError, TypeError, AttributeError):
                raise self.malformed("the answer has no choices[0].message", 200) from None
            return Completion(text=text, usage=usage_from(doc.get("usage")),
                              response_model=doc.get("model"),
                              finish_reason=choice.get("finish_reason"),
                              duration_ms=clock.elapsed_ms(), ttft_ms=None,
                              request_id=doc.get("id"))

        async def streamed() -> Completion:
            pieces: list[str] = []
            usage, finish, response_model, rid, done = TokenUsage(), None, None, None, False
            async with self.stream(url, body, options.timeout_s) as response:
                async for _, data in sse_events(response):
                    if data.strip() == "[DONE]":
                        done = True
                        break
                    doc = load_json(data, provider=self.label, secret=self._api_key)
                    if not isinstance(doc, dict):
                        raise self.malformed("a streamed chunk is not an object")
                    if doc.get("error"):  # some compatible servers fail mid-stream
                        raise self.map_error(stream_error_status(doc), doc, data,
                                             response.headers)
                    response_model = doc.get("model") or response_model
                    rid = doc.get("id") or rid
                    if doc.get("usage"):
                        usage = usage_from(doc["usage"])
                    for choice in doc.get("choices") or []:
                        delta = choice.get("delta") or {}
                        piece = _text_of(delta.get("content"))
                        if piece:
                            clock.mark_first()
                            pieces.append(piece)
                        finish = choice.get("finish_reason") or finish
            if not done and finish is None:
                raise self.malformed("the stream ended before the answer was complete", 200)
            return Completion(text="".join(pieces), usage=usage,
                              response_model=response_model, finish_reason=finish,
                              duration_ms=clock.elapsed_ms(), ttft_ms=clock.ttft_ms,
                              request_id=rid)

        return await self.guard(streamed if options.stream else plain, options.timeout_s)

    async def list_models(self) -> list[ModelInfo]:
        async def fetch() -> list[ModelInfo]:
            doc = await self.get_json(f"{self.base_url}/models")
            data = doc.get("data") if isinstance(doc, dict) else None
            if not isinstance(data, list):
                raise self.malformed("the model list has no data array", 200)
            return [ModelInfo(id=str(m["id"]), created=m.get("created"))
                    for m in data if isinstance(m, dict) and m.get("id")]

        return await self.guard(fetch, 20.0)
