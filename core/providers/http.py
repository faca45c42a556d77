"""Shared HTTP plumbing for the adapters: one way to send, time, stream and fail.

Every adapter sends through :func:`guarded`, so an overall deadline, connection failures,
cut-off bodies and error statuses become the same :mod:`core.providers.errors` classes for
every provider, and exceptions never chain back to an httpx object that might hold a key.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import httpx

from core.providers.errors import MalformedResponse, ProviderError, Timeout, Unavailable
from core.redact import scrub

T = TypeVar("T")

_TOKEN_TAIL = re.compile(r"[A-Za-z0-9_\-+/=.]+$")


class Clock:
    """Measures one call: started just before sending, first content chunk, last byte."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.first: float | None = None

    def mark_first(self) -> None:
        if self.first is None:
            self.first = time.perf_counter()

    @property
    def ttft_ms(self) -> float | None:
        return None if self.first is None else (self.first - self.started) * 1000

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000


async def guarded(work: Callable[[], Awaitable[T]], *, timeout_s: float, provider: str,
                  secret: str | None) -> T:
    """Run ``work`` under an overall deadline and map transport failures onto the taxonomy.

    The deadline covers the whole answer (a stream that stalls halfway times out too), which
    httpx's per-read timeouts alone do not. The error raised has no ``__context__``: ``raise
    … from None`` only hides the chain from tracebacks, and the exception it hides holds the
    request (whose headers carry the key) or the raw body it failed to parse."""
    error: ProviderError
    try:
        return await asyncio.wait_for(work(), timeout_s)
    except ProviderError as exc:
        exc.__cause__ = exc.__context__ = None
        error = exc
    except (TimeoutError, httpx.TimeoutException):
        error = Timeout(f"no complete answer within {timeout_s:g} s", provider=provider,
                        secret=secret)
    except httpx.DecodingError as exc:  # e.g. a compressed body cut off by a proxy
        error = MalformedResponse(f"the answer could not be decoded ({exc})",
                                  provider=provider, secret=secret)
    except httpx.TransportError as exc:
        error = Unavailable(f"could not reach the provider ({type(exc).__name__}: {exc})",
                            provider=provider, secret=secret)
    raise error  # outside the handler, so nothing is chained


def clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, never inside a word: half a key no longer
    matches the key, so scrubbing would miss it in a quoted prefix of a body."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    if _TOKEN_TAIL.match(text[limit]):
        head = _TOKEN_TAIL.sub("", head)
    return head


def error_message(body: Any, text: str = "") -> str:
    """The provider's own words from an error body, whatever its shape."""
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict):
            for key in ("message", "msg", "detail", "error"):
                if isinstance(err.get(key), str) and err[key]:
                    return err[key]
        if isinstance(err, str) and err:
            return err
        if isinstance(body.get("message"), str):
            return body["message"]
        if isinstance(body.get("detail"), str):
            return body["detail"]
    return clip(text.strip(), 300)


async def read_error(response: httpx.Response) -> tuple[Any, str]:
    """(parsed JSON or None, raw text) of an error response, streamed or not."""
    try:
        await response.aread()
    except httpx.HTTPError:
        return None, ""
    text = response.text
    try:
        return json.loads(text), text
    except ValueError:
        return None, text


def parse_json(response: httpx.Response, *, provider: str, secret: str | None) -> Any:
    try:
        return json.loads(response.content)
    except ValueError:
        raise MalformedResponse(
            f"the answer is not valid JSON ({len(response.content)} bytes, "
            f"starts {scrub(clip(response.text, 60), secret)!r})", status=response.status_code,
            provider=provider, secret=secret) from None


def load_json(data: str, *, provider: str, secret: str | None) -> Any:
    """One JSON chunk of a stream; a cut-off chunk is a malformed response."""
    try:
        return json.loads(data)
    except ValueError:
        raise MalformedResponse(
            f"a streamed chunk is not valid JSON: {scrub(clip(data, 60), secret)!r}",
            provider=provider, secret=secret) from None


async def sse_events(response: httpx.Response) -> AsyncIterator[tuple[str | None, str]]:
    """Server-Sent Events as (event name, data) pairs; comments and retries are skipped."""
    event: str | None = None
    data: list[str] = []
    async for line in response.aiter_lines():
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = None, []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
    if data:  # a stream cut off without the closing blank line
        yield event, "\n".join(data)


async def ndjson_lines(response: httpx.Response) -> AsyncIterator[str]:
    async for line in response.aiter_lines():
        if line.strip():
            yield line


def stream_error_status(doc: dict) -> int:
    """The HTTP status an error chunk inside a 200 stream stands for (its code, else 500)."""
    err = doc.get("error")
    code = as_int(err.get("code") or err.get("status_code")) if isinstance(err, dict) else 0
    return code if 400 <= code <= 599 else 500


def as_int(value: Any) -> int:
    """Token counts arrive as ints, strings, nulls or not at all."""
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0
