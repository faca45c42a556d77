"""Ollama's native API: ``/api/tags`` lists the local models, ``/api/chat`` answers as
newline-delimited JSON (images as base64 strings on the message), ``/api/pull`` downloads a
model into the server, streaming its progress as NDJSON. No key."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

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
    TokenUsage,
)
from core.providers.errors import BadRequest, ProviderError
from core.providers.http import Clock, as_int, load_json, ndjson_lines, stream_error_status
from core.providers.model_profiles import profile_for

DEFAULT_URL = "http://localhost:11434"


async def detect_local(client: httpx.AsyncClient, url: str = DEFAULT_URL,
                       timeout: float = 0.5) -> bool:
    """Whether an Ollama answers at ``url`` (its root says "Ollama is running")."""
    try:
        response = await client.get(url.rstrip("/") + "/", timeout=timeout)
    except httpx.HTTPError:
        return False
    return response.status_code == 200 and "ollama" in response.text.lower()


PULL_TIMEOUT_S = 6 * 3600.0  # a large model over a slow line; the stream shows it moving
_NOT_FOUND = ("file does not exist", "not found", "manifest unknown")


@dataclass(frozen=True)
class PullProgress:
    """One progress line of a pull, with the overall share done so far: bytes completed over
    bytes announced, across every layer seen (Ollama reports each layer on its own), never
    less than an earlier line's share, so a progress bar only moves forward."""

    status: str
    digest: str | None = None
    total: int | None = None
    completed: int | None = None
    fraction: float = 0.0

    @property
    def done(self) -> bool:
        return self.status == "success"


def usage_from(doc: dict) -> TokenUsage:
    return TokenUsage(input_tokens=as_int(doc.get("prompt_eval_count")),
                      output_tokens=as_int(doc.get("eval_count")))


class OllamaAdapter(Adapter):
    protocol = "ollama"
    default_base_url = DEFAULT_URL
    capabilities = Capabilities(local=True)

    def build_request(self, model: str, parts: list[Part], options: CallOptions) -> Request:
        message: dict[str, Any] = {
            "role": "user",
            "content": "\n\n".join(p.text for p in parts if isinstance(p, TextPart)),
        }
        images = [p.b64() for p in parts if isinstance(p, ImagePart)]
        if images:
            message["images"] = images
        messages = [{"role": "system", "content": options.system}] if options.system else []
        body: dict[str, Any] = {"model": model, "messages": [*messages, message],
                                "stream": options.stream}
        settings: dict[str, Any] = {}
        if options.temperature is not None:
            settings["temperature"] = options.temperature
        if options.max_tokens:
            settings["num_predict"] = options.max_tokens
        if settings:
            body["options"] = settings
        body.update(options.extra)
        return Request(f"{self.base_url}/api/chat", body)

    @staticmethod
    def _answer(doc: dict, text: str) -> Answer:
        return Answer(text, usage_from(doc), doc.get("model"), doc.get("done_reason"))

    def read_answer(self, doc: Any, request: Request) -> Answer:
        if not isinstance(doc, dict) or not isinstance(doc.get("message"), dict):
            raise self.malformed("the answer has no message", 200)
        return self._answer(doc, str(doc["message"].get("content") or ""))

    async def read_stream(self, response: httpx.Response, clock: Clock) -> Answer:
        pieces: list[str] = []
        async for line in ndjson_lines(response):
            doc = load_json(line, provider=self.label, secret=self._api_key)
            if not isinstance(doc, dict):
                raise self.malformed("a streamed line is not an object")
            if doc.get("error"):
                raise self.map_error(stream_error_status(doc), doc, line, response.headers)
            piece = (doc.get("message") or {}).get("content") or ""
            if piece:
                clock.mark_first()
                pieces.append(piece)
            if doc.get("done"):
                return self._answer(doc, "".join(pieces))
        raise self.malformed("the stream ended before done", 200)

    async def list_models(self) -> list[ModelInfo]:
        async def fetch() -> list[ModelInfo]:
            doc = await self.get_json(f"{self.base_url}/api/tags")
            data = doc.get("models") if isinstance(doc, dict) else None
            if not isinstance(data, list):
                raise self.malformed("the tag list has no models array", 200)
            models = []
            for m in data:
                if not isinstance(m, dict) or not (m.get("model") or m.get("name")):
                    continue
                mid = str(m.get("model") or m.get("name"))
                families = (m.get("details") or {}).get("families") or []
                vision = profile_for(self.provider_type, mid, families).vision
                models.append(ModelInfo(id=mid,
                                        input_types=("text", "image") if vision else ("text",)))
            return models

        return await self.guard(fetch, 20.0)

    async def pull(self, model: str, on_progress: Callable[[PullProgress], None] | None = None,
                   *, timeout_s: float = PULL_TIMEOUT_S) -> PullProgress:
        """Download ``model`` into this Ollama (``POST /api/pull``), calling ``on_progress``
        for every progress line; returns the final ``success``. A model the registry does not
        know is a :class:`BadRequest`; an error line or a stream that ends before ``success``
        fails like any other call (the taxonomy, the key never in a message)."""
        layers: dict[str, tuple[int, int]] = {}  # digest -> (completed, total)
        best = [0.0]  # a layer announced late would pull the share back: never show that

        def progress(doc: dict) -> PullProgress:
            digest, total = doc.get("digest"), as_int(doc.get("total")) or None
            completed = as_int(doc.get("completed")) if total else None
            if digest and total:
                layers[str(digest)] = (min(completed or 0, total), total)
            whole = sum(t for _, t in layers.values())
            status = str(doc.get("status") or "")
            fraction = 1.0 if status == "success" else (
                sum(c for c, _ in layers.values()) / whole if whole else 0.0)
            fraction = best[0] = max(best[0], fraction)
            return PullProgress(status, str(digest) if digest else None, total, completed,
                                fraction)

        def failure(doc: dict, line: str, headers: httpx.Headers) -> ProviderError:
            message = str(doc.get("error"))
            if any(s in message.lower() for s in _NOT_FOUND):
                return BadRequest(f"{model!r} is not in the Ollama library ({message})",
                                  provider=self.label, secret=self._api_key)
            return self.map_error(stream_error_status(doc), doc, line, headers)

        async def run() -> PullProgress:
            body = {"model": model, "stream": True}
            async with self.stream(f"{self.base_url}/api/pull", body, timeout_s) as response:
                async for line in ndjson_lines(response):
                    doc = load_json(line, provider=self.label, secret=self._api_key)
                    if not isinstance(doc, dict):
                        raise self.malformed("a progress line is not an object")
                    if doc.get("error"):
                        raise failure(doc, line, response.headers)
                    step = progress(doc)
                    if on_progress is not None:
                        on_progress(step)
                    if step.done:
                        return step
            raise self.malformed(f"the pull of {model!r} ended before it succeeded", 200)

        return await self.guard(run, timeout_s)
