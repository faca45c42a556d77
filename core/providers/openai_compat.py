"""OpenAI chat completions: OpenAI itself, Mistral, Clarifai's OpenAI-compatible endpoint,
Ollama's ``/v1`` and any custom OpenAI-compatible server.

Images travel as data URLs; answers stream with ``stream_options.include_usage`` so the
token counts arrive in the last chunk and time to first token is real.
"""

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
    TextPart,
    TokenUsage,
)
from core.providers.http import Clock, as_int, load_json, sse_events, stream_error_status


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
    protocol = "openai"
    default_base_url = "https://api.openai.com/v1"

    def build_request(self, model: str, parts: list[Part], options: CallOptions) -> Request:
        profile = self.profile(model)
        messages: list[dict[str, Any]] = []
        if options.system:
            messages.append({"role": "system", "content": options.system})
        messages.append({"role": "user", "content": user_content(parts)})
        body: dict[str, Any] = {"model": model, "messages": messages, "stream": options.stream}
        if options.stream:
            body["stream_options"] = {"include_usage": True}
        if options.max_tokens:
            body[profile.max_tokens_field] = options.max_tokens
        if options.temperature is not None and not (
                profile.default_temperature_only and options.temperature != 1):
            body["temperature"] = options.temperature
        body.update(options.extra)
        return Request(f"{self.base_url}/chat/completions", body)

    def read_answer(self, doc: Any, request: Request) -> Answer:
        try:
            choice = doc["choices"][0]
            text = _text_of(choice["message"].get("content"))
        except (KeyError, IndexError, TypeError, AttributeError):
            raise self.malformed("the answer has no choices[0].message", 200) from None
        return Answer(text, usage_from(doc.get("usage")), doc.get("model"),
                      choice.get("finish_reason"), doc.get("id"))

    async def read_stream(self, response: httpx.Response, clock: Clock) -> Answer:
        pieces: list[str] = []
        usage, finish, response_model, rid, done = TokenUsage(), None, None, None, False
        async for _, data in sse_events(response):
            if data.strip() == "[DONE]":
                done = True
                break
            doc = load_json(data, provider=self.label, secret=self._api_key)
            if not isinstance(doc, dict):
                raise self.malformed("a streamed chunk is not an object")
            if doc.get("error"):  # some compatible servers fail mid-stream
                raise self.map_error(stream_error_status(doc), doc, data, response.headers)
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
        return Answer("".join(pieces), usage, response_model, finish, rid)

    async def list_models(self) -> list[ModelInfo]:
        async def fetch() -> list[ModelInfo]:
            doc = await self.get_json(f"{self.base_url}/models")
            data = doc.get("data") if isinstance(doc, dict) else None
            if not isinstance(data, list):
                raise self.malformed("the model list has no data array", 200)
            return [ModelInfo(id=str(m["id"]), created=m.get("created"))
                    for m in data if isinstance(m, dict) and m.get("id")]

        return await self.guard(fetch, 20.0)
