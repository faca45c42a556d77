"""The one contract every provider adapter keeps: parts in, a measured completion out.

Every adapter measures the same way (``duration_ms`` from just before the request is sent
to the last byte; ``ttft_ms`` to the first content chunk of a streamed answer), maps every
failure onto :mod:`core.providers.errors`, and takes its httpx client from the caller, so
tests and the demo route traffic to the simulator on 127.0.0.1 or an injected transport.
"""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import httpx

from core.providers.errors import MalformedResponse, ProviderError, from_status
from core.providers.http import Clock, error_message, guarded, parse_json, read_error
from core.providers.model_profiles import ModelProfile, profile_for

T = TypeVar("T")


@dataclass(frozen=True)
class TextPart:
    text: str


@dataclass(frozen=True)
class ImagePart:
    data: bytes
    mime_type: str = "image/jpeg"

    def b64(self) -> str:
        return base64.b64encode(self.data).decode("ascii")

    def data_url(self) -> str:
        return f"data:{self.mime_type};base64,{self.b64()}"


Part = TextPart | ImagePart


@dataclass(frozen=True)
class TokenUsage:
    input_tokens: int = 0  # includes cached input tokens
    output_tokens: int = 0  # includes reasoning tokens
    cached_input_tokens: int = 0
    reasoning_tokens: int = 0


@dataclass(frozen=True)
class Tag:
    """A label with a confidence, from tagging APIs (Cloud Vision) or parsed answers."""

    name: str
    score: float


@dataclass(frozen=True)
class Completion:
    text: str
    usage: TokenUsage
    response_model: str | None
    finish_reason: str | None
    duration_ms: float
    ttft_ms: float | None
    tags: tuple[Tag, ...] = ()
    request_id: str | None = None  # the provider's response id when it sends one


@dataclass(frozen=True)
class ModelInfo:
    id: str
    display_name: str | None = None
    input_types: tuple[str, ...] = ("text",)
    output_types: tuple[str, ...] = ("text",)
    context_window: int | None = None
    max_output_tokens: int | None = None
    created: int | None = None  # unix seconds when the provider says


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    message: str
    latency_ms: float | None = None
    models: int | None = None
    error: ProviderError | None = None


Protocol = Literal["openai", "anthropic", "gemini", "ollama", "gcp_vision"]


@dataclass(frozen=True)
class Capabilities:
    """What an adapter's protocol can do, declared as data. Each field has a reader: the
    compare plan refuses a tagging-only judge, the catalog files a tagging-only provider's
    models as ``tagging`` and a local one's as ``local``, and :meth:`Adapter.complete` streams
    only where ``streaming``. (Connection facts — key, base URL — are the provider type's,
    in :data:`core.provider_names.PROVIDER_TYPES`; per-model quirks are in
    :mod:`core.providers.model_profiles`.)"""

    tagging_only: bool = False  # answers with tags, not text (Cloud Vision)
    streaming: bool = True  # can stream an answer (a real time to first token)
    local: bool = False  # runs where the user runs it: no per-call cost, private


@dataclass(frozen=True)
class Request:
    """One exchange an adapter's ``build_request`` describes; :meth:`Adapter.complete` sends
    it. ``stream_url``/``stream_params`` where the streamed form differs (Gemini)."""

    url: str
    body: dict[str, Any]
    stream_url: str | None = None
    stream_params: dict[str, str] | None = None
    model: str = ""  # what was asked for, for answers that do not name it


@dataclass(frozen=True)
class Answer:
    """What a protocol's answer says; the base adds the measured durations."""

    text: str
    usage: TokenUsage = TokenUsage()
    response_model: str | None = None
    finish_reason: str | None = None
    request_id: str | None = None
    tags: tuple[Tag, ...] = ()


@dataclass
class CallOptions:
    temperature: float | None = None
    max_tokens: int | None = None
    system: str | None = None
    stream: bool = True
    timeout_s: float = 60.0
    extra: dict = field(default_factory=dict)


class Adapter:
    """Base for one wire protocol: the one ``complete`` skeleton (build the request, send it
    through :mod:`core.providers.http`, map errors, measure) with per-protocol hooks —
    :meth:`build_request`, :meth:`read_answer` and :meth:`read_stream` — plus
    :meth:`list_models`, and :meth:`auth_headers`/:meth:`map_error` for how the protocol
    sends the key and reports failures.

    ``api_key`` is plaintext held only in memory for the life of the adapter; it is never
    logged, never part of an exception message and never in ``repr``.
    """

    protocol: Protocol
    default_base_url: str | None = None
    capabilities: Capabilities = Capabilities()

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        headers: dict[str, str] | None = None,
        provider_name: str = "",
        provider_type: str | None = None,
    ) -> None:
        self.client = client
        # None: the protocol's public endpoint; "" stays empty (a custom server has none)
        url = self.default_base_url if base_url is None else base_url
        self.base_url = (url or "").rstrip("/")
        self._api_key = api_key
        self.extra_headers = dict(headers or {})
        self.provider_name = provider_name
        self.provider_type = provider_type or self.protocol  # whose model quirks apply

    def __repr__(self) -> str:  # never show the key
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    @property
    def label(self) -> str:
        """Who to name in error messages."""
        return self.provider_name or self.protocol

    def map_error(self, status: int, body: object, text: str,
                  headers: httpx.Headers) -> ProviderError:
        """An error response as the taxonomy; protocols with special cases override."""
        return from_status(status, error_message(body, text) or f"HTTP {status}",
                           provider=self.label, secret=self._api_key,
                           retry_after=headers.get("retry-after"))

    def auth_headers(self) -> dict[str, str]:
        """How this protocol sends the key; the key is read here and nowhere else."""
        return {"authorization": f"Bearer {self._api_key}"} if self._api_key else {}

    def headers(self) -> dict[str, str]:
        return {"content-type": "application/json", **self.extra_headers, **self.auth_headers()}

    async def post_json(self, url: str, body: Any, timeout: float) -> Any:
        response = await self.client.post(url, json=body, headers=self.headers(),
                                          timeout=timeout)
        await self.raise_for_status(response)
        return parse_json(response, provider=self.label, secret=self._api_key)

    async def get_json(self, url: str, *, params: dict | None = None,
                       timeout: float = 15.0) -> Any:
        response = await self.client.get(url, params=params, headers=self.headers(),
                                         timeout=timeout)
        await self.raise_for_status(response)
        return parse_json(response, provider=self.label, secret=self._api_key)

    @asynccontextmanager
    async def stream(self, url: str, body: Any, timeout: float, *,
                     params: dict | None = None) -> AsyncIterator[httpx.Response]:
        """A streamed POST whose error statuses are already raised as the taxonomy."""
        async with self.client.stream("POST", url, params=params, json=body,
                                      headers=self.headers(), timeout=timeout) as response:
            await self.raise_for_status(response)
            yield response

    async def raise_for_status(self, response: httpx.Response) -> None:
        if response.status_code < 400:
            return
        body, text = await read_error(response)
        raise self.map_error(response.status_code, body, text, response.headers)

    async def guard(self, work: Callable[[], Awaitable[T]], timeout_s: float) -> T:
        """Run one exchange under the call's deadline, failures mapped onto the taxonomy."""
        return await guarded(work, timeout_s=timeout_s, provider=self.label,
                             secret=self._api_key)

    def malformed(self, message: str, status: int | None = None) -> MalformedResponse:
        return MalformedResponse(message, status=status, provider=self.label,
                                 secret=self._api_key)

    def profile(self, model: str) -> ModelProfile:
        """The quirks of ``model`` on this provider type (see the profile table)."""
        return profile_for(self.provider_type, model)

    def build_request(self, model: str, parts: list[Part], options: CallOptions) -> Request:
        """Hook: the URL and body of one call in this protocol's wire format."""
        raise NotImplementedError

    def read_answer(self, doc: Any, request: Request) -> Answer:
        """Hook: a whole (not streamed) answer's parsed JSON."""
        raise NotImplementedError

    async def read_stream(self, response: httpx.Response, clock: Clock) -> Answer:
        """Hook: a streamed answer, marking ``clock`` at the first content chunk."""
        raise NotImplementedError

    async def complete(self, model: str, parts: list[Part], options: CallOptions | None = None
                       ) -> Completion:
        """One call, measured from just before sending to the last byte, every failure mapped
        onto the taxonomy (the same for every protocol: only the hooks differ)."""
        options = options or CallOptions()
        request = self.build_request(model, parts, options)
        streaming = options.stream and self.capabilities.streaming
        clock = Clock()

        async def plain() -> Completion:
            doc = await self.post_json(request.url, request.body, options.timeout_s)
            return self._measured(self.read_answer(doc, request), clock, ttft_ms=None)

        async def streamed() -> Completion:
            async with self.stream(request.stream_url or request.url, request.body,
                                   options.timeout_s, params=request.stream_params) as response:
                answer = await self.read_stream(response, clock)
            return self._measured(answer, clock, ttft_ms=clock.ttft_ms)

        return await self.guard(streamed if streaming else plain, options.timeout_s)

    @staticmethod
    def _measured(answer: Answer, clock: Clock, *, ttft_ms: float | None) -> Completion:
        return Completion(text=answer.text, usage=answer.usage,
                          response_model=answer.response_model,
                          finish_reason=answer.finish_reason, duration_ms=clock.elapsed_ms(),
                          ttft_ms=ttft_ms, tags=answer.tags, request_id=answer.request_id)

    async def list_models(self) -> list[ModelInfo]:
        raise NotImplementedError

    async def check(self) -> CheckResult:
        """A connection test: list the models (cheap, no tokens spent)."""
        started = time.perf_counter()
        try:
            models = await self.list_models()
        except ProviderError as exc:
            return CheckResult(False, exc.user_message(), error=exc)
        ms = (time.perf_counter() - started) * 1000
        noun = "model" if len(models) == 1 else "models"
        return CheckResult(True, f"Connected · {len(models)} {noun}", latency_ms=ms,
                           models=len(models))
