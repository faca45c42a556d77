"""Pieces every protocol shares: rejections, JSON bodies, pacing of streams, hangs."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextvars
import json
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from core.simulator.engine import Call

LOOPBACK = {"127.0.0.1", "::1", "localhost"}
_DATA_URL = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(;[^;,]*)*?);base64,"
                       r"(?P<data>.*)$", re.DOTALL)


class Reject(Exception):
    """A request the provider refuses; each protocol renders it in its own error shape."""

    def __init__(self, status: int, message: str, *, kind: str | None = None,
                 code: str | None = None, param: str | None = None,
                 headers: dict[str, str] | None = None, details: list | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind
        self.code = code
        self.param = param
        self.headers = headers or {}
        self.details = details


def json_response(doc: Any, status: int = 200, headers: dict[str, str] | None = None
                  ) -> Response:
    """Compact JSON like the providers send (no spaces after separators)."""
    body = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
    return Response(body, status_code=status, headers=headers, media_type="application/json")


def malformed_response(doc: Any, headers: dict[str, str] | None = None) -> Response:
    """A 200 whose JSON body is cut off halfway, as a dropped proxy connection leaves it."""
    body = json.dumps(doc, separators=(",", ":"))
    return Response(body[: max(len(body) // 2, 1)], status_code=200, headers=headers,
                    media_type="application/json")


async def read_json(request: Request, on_error: Callable[[str], Exception]) -> Any:
    """The body as JSON; a body that is not raises ``on_error(reason)`` (a Reject, usually)."""
    raw = await request.body()
    try:
        return json.loads(raw or b"")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise on_error(str(exc)) from None


def decode_b64(data: str) -> bytes | None:
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError, TypeError):
        return None


_URLSAFE = str.maketrans("-_", "+/")


def decode_proto_bytes(data: str) -> bytes | None:
    """A protobuf JSON ``bytes`` field, as Google's APIs read it: the standard or the URL-safe
    alphabet, padded or not (the google-genai SDK sends ``urlsafe_b64encode``)."""
    if not isinstance(data, str):
        return None
    text = data.strip().translate(_URLSAFE)
    return decode_b64(text + "=" * (-len(text.rstrip("=")) % 4 if "=" not in text else 0))


def decode_data_url(url: str) -> tuple[str, bytes] | None:
    """(mime type, bytes) of a ``data:…;base64,…`` URL, or None when it is not one."""
    m = _DATA_URL.match(url or "")
    if not m:
        return None
    data = decode_b64(m.group("data").strip())
    if data is None:
        return None
    return (m.group("mime") or "application/octet-stream"), data


def is_loopback(request: Request) -> bool:
    return bool(request.client) and request.client.host in LOOPBACK  # type: ignore[union-attr]


def chunk_text(text: str, words_per_chunk: int = 2) -> list[str]:
    """Split text into stream deltas of a couple of words, keeping every character."""
    pieces = re.findall(r"\s*\S+", text)
    if not pieces:
        return [text] if text else []
    chunks = ["".join(pieces[i:i + words_per_chunk])
              for i in range(0, len(pieces), words_per_chunk)]
    trailing = text[len("".join(pieces)):]
    if trailing:
        chunks[-1] += trailing
    return chunks


# When the current request reached the app (set by the app's middleware). A call's planned
# latency counts from then, so the simulator's own work (reading a large image body,
# building the answer) is part of it, as a provider's is: a "fixed 100 ms" call takes 100 ms
# at the server, not 100 ms plus however long parsing took.
ARRIVED: contextvars.ContextVar[float | None] = contextvars.ContextVar("arrived", default=None)


def since_arrival() -> float:
    """Seconds since the current request arrived (0 outside a request)."""
    arrived = ARRIVED.get()
    return 0.0 if arrived is None else max(time.monotonic() - arrived, 0.0)


async def pause(seconds: float) -> None:
    if seconds > 0:
        await asyncio.sleep(seconds)


async def hang(request: Request, seconds: float) -> bool:
    """Wait ``seconds`` or until the client gives up; True when the client went away."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await request.is_disconnected():
            return True
        await asyncio.sleep(min(0.05, max(deadline - time.monotonic(), 0)))
    return False


async def before_body(request: Request, call: Call, hang_s: float,
                      render_error: Callable[[int, str], Response]) -> Response | None:
    """Wait and fail as planned for a non-streamed answer; None means answer normally.
    (Streams fail inside :func:`paced`, after their headers, as real streams do.)"""
    if call.kind == "timeout":
        if await hang(request, hang_s):
            return Response(status_code=499)  # nobody is listening any more
        return render_error(504, "The request timed out before the model answered.")
    await pause(call.ttft_s + call.gen_s - since_arrival())
    return None


@dataclass
class Frames:
    """A stream as frames: sent at once (head), paced over the answer (content), last (tail)."""

    head: list[bytes] = field(default_factory=list)
    content: list[bytes] = field(default_factory=list)
    tail: list[bytes] = field(default_factory=list)
    terminator: bytes = b"\n\n"  # what ends one frame (SSE blank line, NDJSON newline)


async def paced(frames: Frames, call: Call, hang_s: float) -> AsyncIterator[bytes]:
    """Yield the frames in real time: first content after the TTFT, the rest spread over the
    generation time. A planned timeout stalls after the first content frame; a planned
    malformed answer cuts one frame in half and ends the stream there."""
    for frame in frames.head:
        yield frame
    await pause(call.ttft_s - since_arrival())
    n = len(frames.content)
    gap = call.gen_s / n if n else call.gen_s
    broken = n // 2 if n else -1
    for i, frame in enumerate(frames.content):
        if i:
            await pause(gap)
        if call.kind == "malformed" and i == broken:
            yield frame[: max(len(frame) // 2, 1)] + frames.terminator
            return
        yield frame
        if call.kind == "timeout":
            await asyncio.sleep(hang_s)
            return
    await pause(gap)
    for i, frame in enumerate(frames.tail):
        if call.kind == "malformed" and n == 0 and i == 0:
            yield frame[: max(len(frame) // 2, 1)] + frames.terminator
            return
        yield frame


def stream_response(frames: Frames, call: Call, hang_s: float, media_type: str,
                    headers: dict[str, str] | None = None) -> StreamingResponse:
    return StreamingResponse(paced(frames, call, hang_s), media_type=media_type,
                             headers={"cache-control": "no-cache", **(headers or {})})


def sse(data: Any, event: str | None = None) -> bytes:
    """One Server-Sent Event: optional ``event:`` line, one ``data:`` line, blank line."""
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode()

