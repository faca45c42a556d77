"""Gemini API ``generateContent`` / ``streamGenerateContent?alt=sse``.

The key travels only in the ``x-goog-api-key`` header, never in the URL, where proxies and
server logs would keep it. Google reports a bad key as 400 with reason API_KEY_INVALID and
rate limits with a RetryInfo detail; both are mapped here. ``candidatesTokenCount`` leaves
out thinking tokens, so output tokens are candidates + thoughts (as OpenAI counts them)."""

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
    TokenUsage,
)
from core.providers.errors import AuthenticationError, ProviderError, RateLimited, from_status
from core.providers.http import Clock, as_int, error_message, load_json, sse_events

API_VERSION = "v1beta"
_SECONDS = re.compile(r"^\s*([0-9.]+)s\s*$")


def usage_from(doc: Any) -> TokenUsage:
    if not isinstance(doc, dict):
        return TokenUsage()
    thoughts = as_int(doc.get("thoughtsTokenCount"))
    return TokenUsage(input_tokens=as_int(doc.get("promptTokenCount")),
                      output_tokens=as_int(doc.get("candidatesTokenCount")) + thoughts,
                      cached_input_tokens=as_int(doc.get("cachedContentTokenCount")),
                      reasoning_tokens=thoughts)


def _details(body: Any) -> list[dict]:
    err = body.get("error") if isinstance(body, dict) else None
    details = err.get("details") if isinstance(err, dict) else None
    return [d for d in details if isinstance(d, dict)] if isinstance(details, list) else []


def map_google_error(status: int, body: object, text: str, headers: httpx.Headers, *,
                     provider: str, secret: str | None) -> ProviderError:
    """Google's error bodies: a bad key is 400 API_KEY_INVALID; 429 carries RetryInfo."""
    message = error_message(body, text) or f"HTTP {status}"
    kw = {"status": status, "provider": provider, "secret": secret}
    details = _details(body)
    if any(d.get("reason") in ("API_KEY_INVALID", "API_KEY_SERVICE_BLOCKED") for d in details):
        return AuthenticationError(message, **kw)
    if status == 429 and not headers.get("retry-after"):
        wait = next((d.get("retryDelay") for d in details if "retryDelay" in d), None)
        match = _SECONDS.match(str(wait or ""))
        if match:
            return RateLimited(message, retry_after=float(match.group(1)), **kw)
    return from_status(status, message, provider=provider, secret=secret,
                       retry_after=headers.get("retry-after"))


class GeminiAdapter(Adapter):
    capabilities = Capabilities(protocol="gemini",
                                default_base_url="https://generativelanguage.googleapis.com")

    def auth_headers(self) -> dict[str, str]:
        return {"x-goog-api-key": self._api_key or ""}  # never ?key= in the URL

    def map_error(self, status: int, body: object, text: str,
                  headers: httpx.Headers) -> ProviderError:
        return map_google_error(status, body, text, headers, provider=self.label,
                                secret=self._api_key)

    @staticmethod
    def _model_path(model: str) -> str:
        return model if model.startswith(("models/", "tunedModels/")) else f"models/{model}"

    def request_body(self, parts: list[Part], options: CallOptions) -> dict:
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
        return body

    def _read(self, doc: Any) -> tuple[str, str | None, bool]:
        """(visible text, finish reason, whether the doc had a candidate) of one response."""
        if not isinstance(doc, dict):
            raise self.malformed("the answer is not an object", 200)
        candidates = doc.get("candidates")
        if not candidates:
            blocked = (doc.get("promptFeedback") or {}).get("blockReason")
            return "", (f"blocked:{blocked}" if blocked else None), False
        first = candidates[0] if isinstance(candidates, list) else None
        if not isinstance(first, dict):
            raise self.malformed("candidates[0] is not an object", 200)
        parts = (first.get("content") or {}).get("parts") or []
        text = "".join(p.get("text", "") for p in parts
                       if isinstance(p, dict) and not p.get("thought"))
        return text, first.get("finishReason"), True

    async def complete(self, model: str, parts: list[Part], options: CallOptions | None = None
                       ) -> Completion:
        options = options or CallOptions()
        body = self.request_body(parts, options)
        base = f"{self.base_url}/{API_VERSION}/{self._model_path(model)}"
        clock = Clock()

        async def plain() -> Completion:
            doc = await self.post_json(f"{base}:generateContent", body, options.timeout_s)
            text, finish, _ = self._read(doc)
            return Completion(text=text, usage=usage_from(doc.get("usageMetadata")),
                              response_model=doc.get("modelVersion"), finish_reason=finish,
                              duration_ms=clock.elapsed_ms(), ttft_ms=None,
                              request_id=doc.get("responseId"))

        async def streamed() -> Completion:
            pieces: list[str] = []
            usage, finish, model_version, rid = TokenUsage(), None, None, None
            async with self.stream(f"{base}:streamGenerateContent", body, options.timeout_s,
                                   params={"alt": "sse"}) as response:
                async for _, data in sse_events(response):
                    doc = load_json(data, provider=self.label, secret=self._api_key)
                    if isinstance(doc, dict) and doc.get("error"):
                        raise self.map_error(as_int(doc["error"].get("code")) or 500, doc,
                                             data, response.headers)
                    text, reason, _ = self._read(doc)
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
            return Completion(text="".join(pieces), usage=usage, response_model=model_version,
                              finish_reason=finish, duration_ms=clock.elapsed_ms(),
                              ttft_ms=clock.ttft_ms, request_id=rid)

        return await self.guard(streamed if options.stream else plain, options.timeout_s)

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
