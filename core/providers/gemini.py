"""Gemini API ``generateContent`` / ``streamGenerateContent?alt=sse``.

The key and Google's error bodies are handled as for every Google API
(:mod:`core.providers.google`). ``candidatesTokenCount`` leaves
out thinking tokens, so output tokens are candidates + thoughts (as OpenAI counts them)."""

from __future__ import annotations

from typing import Any

import httpx

from core.providers.base import (
    Answer,
    CallOptions,
    ImagePart,
    ModelInfo,
    Part,
    Request,
    TokenUsage,
)
from core.providers.google import GoogleAdapter
from core.providers.http import Clock, as_int, load_json, sse_events

API_VERSION = "v1beta"


def usage_from(doc: Any) -> TokenUsage:
    if not isinstance(doc, dict):
        return TokenUsage()
    thoughts = as_int(doc.get("thoughtsTokenCount"))
    return TokenUsage(input_tokens=as_int(doc.get("promptTokenCount")),
                      output_tokens=as_int(doc.get("candidatesTokenCount")) + thoughts,
                      cached_input_tokens=as_int(doc.get("cachedContentTokenCount")),
                      reasoning_tokens=thoughts)


class GeminiAdapter(GoogleAdapter):
    protocol = "gemini"
    default_base_url = "https://generativelanguage.googleapis.com"

    @staticmethod
    def _model_path(model: str) -> str:
        return model if model.startswith(("models/", "tunedModels/")) else f"models/{model}"

    def build_request(self, model: str, parts: list[Part], options: CallOptions) -> Request:
        content: list[dict[str, Any]] = []
        for p in parts:
            if isinstance(p, ImagePart):
                content.append({"inlineData": {"mimeType": p.mime_type, "data": p.b64()}})
            else:
                content.append({"text": p.text})
        body: dict[str, Any] = {"contents": [{"role": "user", "parts": content}]}
        if options.system:
            body["systemInstruction"] = {"parts": [{"text": options.system}]}
        config: dict[str, Any] = {}
        if options.temperature is not None:
            config["temperature"] = options.temperature
        if options.max_tokens:
            config["maxOutputTokens"] = options.max_tokens
        if config:
            body["generationConfig"] = config
        body.update(options.extra)
        base = f"{self.base_url}/{API_VERSION}/{self._model_path(model)}"
        return Request(f"{base}:generateContent", body,
                       stream_url=f"{base}:streamGenerateContent", stream_params={"alt": "sse"})

    def _read(self, doc: Any) -> tuple[str, str | None]:
        """(visible text, finish reason) of one response or streamed chunk."""
        if not isinstance(doc, dict):
            raise self.malformed("the answer is not an object", 200)
        candidates = doc.get("candidates")
        if not candidates:
            blocked = (doc.get("promptFeedback") or {}).get("blockReason")
            return "", (f"blocked:{blocked}" if blocked else None)
        first = candidates[0] if isinstance(candidates, list) else None
        if not isinstance(first, dict):
            raise self.malformed("candidates[0] is not an object", 200)
        parts = (first.get("content") or {}).get("parts") or []
        text = "".join(p.get("text", "") for p in parts
                       if isinstance(p, dict) and not p.get("thought"))
        return text, first.get("finishReason")

    def read_answer(self, doc: Any, request: Request) -> Answer:
        text, finish = self._read(doc)
        return Answer(text, usage_from(doc.get("usageMetadata")), doc.get("modelVersion"),
                      finish, doc.get("responseId"))

    async def read_stream(self, response: httpx.Response, clock: Clock) -> Answer:
        pieces: list[str] = []
        usage, finish, model_version, rid = TokenUsage(), None, None, None
        async for _, data in sse_events(response):
            doc = load_json(data, provider=self.label, secret=self._api_key)
            if isinstance(doc, dict) and doc.get("error"):
                raise self.map_error(as_int(doc["error"].get("code")) or 500, doc, data,
                                     response.headers)
            text, reason = self._read(doc)
            if text:
                clock.mark_first()
                pieces.append(text)
            finish = reason or finish
            if doc.get("usageMetadata"):
                usage = usage_from(doc["usageMetadata"])
            model_version = doc.get("modelVersion") or model_version
            rid = doc.get("responseId") or rid
        if finish is None:
            raise self.malformed("the stream ended before a finishReason", 200)
        return Answer("".join(pieces), usage, model_version, finish, rid)

    async def list_models(self) -> list[ModelInfo]:
        """Models that can ``generateContent`` (embedding models are left out), all pages."""

        async def fetch() -> list[ModelInfo]:
            models: list[ModelInfo] = []
            params: dict[str, Any] = {"pageSize": 1000}
            for _ in range(50):
                doc = await self.get_json(f"{self.base_url}/{API_VERSION}/models", params=params)
                data = doc.get("models") if isinstance(doc, dict) else None
                if not isinstance(data, list):
                    raise self.malformed("the model list has no models array", 200)
                for m in data:
                    if not isinstance(m, dict) or not m.get("name"):
                        continue
                    methods = m.get("supportedGenerationMethods") or ["generateContent"]
                    if "generateContent" not in methods:
                        continue
                    models.append(ModelInfo(
                        id=str(m["name"]).removeprefix("models/"),
                        display_name=m.get("displayName"), input_types=("text", "image"),
                        context_window=m.get("inputTokenLimit"),
                        max_output_tokens=m.get("outputTokenLimit")))
                token = doc.get("nextPageToken")
                if not token:
                    break
                params = {"pageSize": 1000, "pageToken": token}
            return models

        return await self.guard(fetch, 30.0)
