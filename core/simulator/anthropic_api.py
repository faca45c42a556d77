"""Anthropic Messages API: ``x-api-key`` (or a Bearer key) + ``anthropic-version`` headers,
content blocks,
the named SSE event sequence, and ``{"type": "error", "error": {...}}`` bodies."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from core.simulator.common import (
    Frames,
    Reject,
    before_body,
    chunk_text,
    decode_b64,
    json_response,
    malformed_response,
    pause,
    read_json,
    since_arrival,
    sse,
    stream_response,
)
from core.simulator.engine import Ask, Call, Simulator, estimate_tokens
from core.simulator.profiles import ModelProfile

IMAGE_MIME = ("image/jpeg", "image/png", "image/gif", "image/webp")
BLOCK_TYPES = ("text", "image", "document", "tool_use", "tool_result", "thinking",
               "redacted_thinking")
_TYPES = {400: "invalid_request_error", 401: "authentication_error", 402: "billing_error",
          403: "permission_error", 404: "not_found_error", 413: "request_too_large",
          429: "rate_limit_error", 500: "api_error", 504: "timeout_error",
          529: "overloaded_error"}
_MESSAGES = {500: "Internal server error", 502: "Bad gateway", 503: "Service unavailable",
             504: "Request timed out", 529: "Overloaded"}


def error(status: int, message: str, *, kind: str | None = None, request_id: str | None = None,
          headers: dict[str, str] | None = None) -> Response:
    body: dict[str, Any] = {"type": "error", "error": {
        "type": kind or _TYPES.get(status, "api_error"), "message": message}}
    if request_id:
        body["request_id"] = request_id
    return json_response(body, status, {**(headers or {}),
                                        **({"request-id": request_id} if request_id else {})})


def _failure(call: Call, rid: str) -> Response:
    if call.kind == "rate_limit":
        wait = call.retry_after_s or 0
        return error(429, "This request would exceed the rate limit for your organization of "
                     "50 requests per minute. For details, refer to: "
                     "https://docs.claude.com/en/api/rate-limits. You can see the response "
                     "headers for current usage.", request_id=rid,
                     headers={"retry-after": f"{wait:g}",
                              "anthropic-ratelimit-requests-remaining": "0"})
    return error(call.status, _MESSAGES.get(call.status, "Internal server error"),
                 request_id=rid)


def _check_headers(request: Request) -> None:
    """The key comes in ``x-api-key``; recent SDKs send it as ``Authorization: Bearer``."""
    key = request.headers.get("x-api-key", "").strip()
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if not key and scheme.lower() == "bearer":
        key = token.strip()
    if not key:
        raise Reject(401, "x-api-key header is required")
    if key == "bad-key":
        raise Reject(401, "invalid x-api-key")
    if not request.headers.get("anthropic-version"):
        raise Reject(400, "anthropic-version: header is required")


def _bad(message: str) -> Reject:
    return Reject(400, message)


def _text_blocks(blocks: Any, where: str) -> tuple[str, bool]:
    """Text and whether any block asks for caching, from a string or text blocks."""
    if isinstance(blocks, str):
        return blocks, False
    if not isinstance(blocks, list):
        raise _bad(f"{where}: Input should be a valid string or list")
    texts, marked = [], False
    for i, block in enumerate(blocks):
        if not isinstance(block, dict) or block.get("type") != "text" \
                or not isinstance(block.get("text"), str):
            raise _bad(f"{where}.{i}: Input should be a text block")
        texts.append(block["text"])
        marked = marked or "cache_control" in block
    return "\n".join(texts), marked


def parse(body: Any) -> tuple[Ask, bool]:
    """(ask, stream) from a Messages request body, or :class:`Reject`."""
    if not isinstance(body, dict):
        raise _bad("Input should be a valid dictionary")
    for name in ("model", "max_tokens", "messages"):
        if name not in body:
            raise _bad(f"{name}: Field required")
    model = body["model"]
    if not isinstance(model, str) or not model:
        raise _bad("model: Input should be a valid string")
    cap = body["max_tokens"]
    if not isinstance(cap, int) or isinstance(cap, bool):
        raise _bad("max_tokens: Input should be a valid integer")
    if cap < 1:
        raise _bad("max_tokens: Input should be greater than or equal to 1")
    messages = body["messages"]
    if not isinstance(messages, list):
        raise _bad("messages: Input should be a valid list")
    if not messages:
        raise _bad("messages: at least one message is required")
    system, marked = _text_blocks(body.get("system", ""), "system")
    temperature = body.get("temperature")
    if temperature is not None and (not isinstance(temperature, int | float)
                                    or not 0 <= temperature <= 1):
        raise _bad("temperature: Input should be less than or equal to 1")
    texts: list[tuple[str, str]] = []
    images: list[bytes | str] = []
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            raise _bad(f"messages.{i}: Input should be a valid dictionary")
        role = msg.get("role")
        if role == "system":
            raise _bad('messages: Unexpected role "system". The Messages API accepts a '
                       "top-level `system` parameter, not \"system\" as an input message role.")
        if role not in ("user", "assistant"):
            raise _bad(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        if "content" not in msg:
            raise _bad(f"messages.{i}.content: Field required")
        content = msg["content"]
        if isinstance(content, str):
            if not content and i < len(messages) - 1:
                raise _bad(f"messages.{i}: all messages must have non-empty content except "
                           "for the optional final assistant message")
            texts.append((role, content))
            continue
        if not isinstance(content, list):
            raise _bad(f"messages.{i}.content: Input should be a valid list")
        parts: list[str] = []
        for j, block in enumerate(content):
            where = f"messages.{i}.content.{j}"
            if not isinstance(block, dict):
                raise _bad(f"{where}: Input should be a valid dictionary")
            kind = block.get("type")
            if kind not in BLOCK_TYPES:
                raise _bad(f"{where}: Input tag '{kind}' found using 'type' does not match any "
                           f"of the expected tags: {', '.join(repr(t) for t in BLOCK_TYPES)}")
            marked = marked or "cache_control" in block
            if kind == "text":
                if not isinstance(block.get("text"), str):
                    raise _bad(f"{where}.text: Field required")
                if not block["text"]:
                    raise _bad(f"{where}: text content blocks must be non-empty")
                parts.append(block["text"])
            elif kind == "image":
                images.append(_image(block, where, role))
        texts.append((role, "\n".join(parts)))
    last_user = max((k for k, (r, _) in enumerate(texts) if r == "user"), default=None)
    prompt = texts[last_user][1] if last_user is not None else ""
    ask = Ask(model=model, prompt=prompt,
              history=tuple(t for k, (_, t) in enumerate(texts) if k != last_user),
              system=system, images=tuple(images), max_tokens=cap,
              temperature=float(temperature) if temperature is not None else None,
              messages=len(messages), cache_marked=marked)
    return ask, body.get("stream") is True


def _image(block: dict, where: str, role: str) -> bytes | str:
    if role != "user":
        raise _bad(f"{where}: image content blocks are only allowed in user messages")
    source = block.get("source")
    if not isinstance(source, dict):
        raise _bad(f"{where}.image.source: Field required")
    if source.get("type") == "url":
        url = source.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise _bad(f"{where}.image.source.url.url: Input should be a valid URL")
        return url
    if source.get("type") != "base64":
        raise _bad(f"{where}.image.source: Input tag '{source.get('type')}' found using 'type' "
                   "does not match any of the expected tags: 'base64', 'url', 'file'")
    if source.get("media_type") not in IMAGE_MIME:
        raise _bad(f"{where}.image.source.base64.media_type: Input should be 'image/jpeg', "
                   "'image/png', 'image/gif' or 'image/webp'")
    data = decode_b64(source.get("data") or "")
    if not data:
        raise _bad(f"{where}.image.source.base64.data: The image data is not valid base64 "
                   "or is empty.")
    return data


def usage_doc(call: Call, *, final: bool = True) -> dict[str, Any]:
    u = call.usage
    return {
        "input_tokens": u.input_tokens - u.cached_tokens - u.cache_write_tokens,
        "cache_creation_input_tokens": u.cache_write_tokens,
        "cache_read_input_tokens": u.cached_tokens,
        "output_tokens": u.output_tokens if final else 1,
        "service_tier": "standard",
    }


def message_doc(call: Call, mid: str, *, final: bool = True) -> dict[str, Any]:
    assert call.profile is not None
    return {
        "id": mid, "type": "message", "role": "assistant", "model": call.profile.response_model,
        "content": [{"type": "text", "text": call.text}] if final else [],
        "stop_reason": ("end_turn" if call.finish == "stop" else "max_tokens") if final else None,
        "stop_sequence": None, "usage": usage_doc(call, final=final),
    }


def _frames(call: Call, mid: str) -> Frames:
    head = [
        sse({"type": "message_start", "message": message_doc(call, mid, final=False)},
            "message_start"),
        sse({"type": "content_block_start", "index": 0,
             "content_block": {"type": "text", "text": ""}}, "content_block_start"),
        sse({"type": "ping"}, "ping"),
    ]
    content = [sse({"type": "content_block_delta", "index": 0,
                    "delta": {"type": "text_delta", "text": piece}}, "content_block_delta")
               for piece in chunk_text(call.text)]
    tail = [
        sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
        sse({"type": "message_delta",
             "delta": {"stop_reason": "end_turn" if call.finish == "stop" else "max_tokens",
                       "stop_sequence": None},
             "usage": {"output_tokens": call.usage.output_tokens}}, "message_delta"),
        sse({"type": "message_stop"}, "message_stop"),
    ]
    return Frames(head, content, tail)


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def routes(sim: Simulator, provider: str = "anthropic") -> list[Route]:
    def reject(r: Reject, rid: str) -> Response:
        return error(r.status, r.message, kind=r.kind, request_id=rid)

    def request_id() -> str:
        # Refusals happen before a call is planned; their ids need only be unique.
        return "req_011C" + secrets.token_hex(10)

    async def prepare(request: Request) -> tuple[ModelProfile, Ask, bool] | Response:
        try:
            _check_headers(request)
            body = await read_json(request, lambda e: _bad(f"Invalid JSON body: {e}"))
            ask, stream = parse(body)
            request.state.model = ask.model
            profile = sim.resolve(provider, ask.model)
            if profile is None:
                raise Reject(404, f"model: {ask.model}")
            if ask.max_tokens and ask.max_tokens > profile.max_output_tokens:
                raise _bad(f"max_tokens: {ask.max_tokens} > {profile.max_output_tokens}, which "
                           "is the maximum allowed number of output tokens for "
                           f"{profile.response_model}")
            if ask.images and not profile.vision:
                raise _bad(f"{profile.id} does not support image input")
        except Reject as r:
            return reject(r, request_id())
        return profile, ask, stream

    async def messages(request: Request) -> Response:
        prepared = await prepare(request)
        if isinstance(prepared, Response):
            return prepared
        profile, ask, stream = prepared
        call = sim.start_call(provider, profile, ask)
        rid = call.ident("req_011C", 20)
        if call.kind in ("error", "rate_limit"):
            await pause(call.ttft_s - since_arrival())
            return _failure(call, rid)
        mid = call.ident("msg_01", 22)
        headers = {"request-id": rid, "anthropic-organization-id": "org-simulator"}
        if stream:
            return stream_response(_frames(call, mid), call, sim.hang_s,
                                   "text/event-stream; charset=utf-8", headers)
        early = await before_body(request, call, sim.hang_s,
                                  lambda s, m: error(s, m, request_id=rid))
        if early is not None:
            return early
        doc = message_doc(call, mid)
        if call.kind == "malformed":
            return malformed_response(doc, headers)
        return json_response(doc, headers=headers)

    async def count_tokens(request: Request) -> Response:
        """``/v1/messages/count_tokens``: the input tokens a request would be billed."""
        try:
            _check_headers(request)
            body = await read_json(request, lambda e: _bad(f"Invalid JSON body: {e}"))
            if isinstance(body, dict):
                body = {"max_tokens": 1, **body}
            ask, _ = parse(body)
            profile = sim.resolve(provider, ask.model)
            if profile is None:
                raise Reject(404, f"model: {ask.model}")
        except Reject as r:
            return reject(r, request_id())
        tokens = (estimate_tokens("\n".join((ask.system, *ask.history)))
                  + estimate_tokens(ask.prompt) + len(ask.images) * profile.images_cost)
        return json_response({"input_tokens": tokens})

    def model_doc(m: ModelProfile) -> dict[str, Any]:
        return {"type": "model", "id": m.response_model, "display_name": m.display_name,
                "created_at": _iso(m.created)}

    async def meta(request: Request, route: str) -> Call | Response:
        try:
            _check_headers(request)
        except Reject as r:
            return reject(r, request_id())
        call = sim.start_meta(provider, route)
        if call.kind in ("error", "rate_limit"):
            await pause(call.ttft_s - since_arrival())
            return _failure(call, request_id())
        early = await before_body(request, call, sim.hang_s, lambda s, m: error(s, m))
        return call if early is None else early

    async def list_models(request: Request) -> Response:
        call = await meta(request, "models")
        if isinstance(call, Response):
            return call
        data = sorted((model_doc(m) for m in sim.listed(provider)),
                      key=lambda d: d["created_at"], reverse=True)
        limit = _int(request.query_params.get("limit"), 20)
        after = request.query_params.get("after_id")
        if after:
            ids = [d["id"] for d in data]
            data = data[ids.index(after) + 1:] if after in ids else []
        page = data[: max(1, min(limit, 1000))]
        doc = {"data": page, "has_more": len(data) > len(page),
               "first_id": page[0]["id"] if page else None,
               "last_id": page[-1]["id"] if page else None}
        return malformed_response(doc) if call.kind == "malformed" else json_response(doc)

    async def get_model(request: Request) -> Response:
        call = await meta(request, "model")
        if isinstance(call, Response):
            return call
        mid = request.path_params["model"]
        profile = sim.resolve(provider, mid)
        if profile is None:
            return error(404, f"model: {mid}", request_id=request_id())
        return json_response(model_doc(profile))

    return [
        Route("/anthropic/v1/messages", messages, methods=["POST"]),
        Route("/anthropic/v1/messages/count_tokens", count_tokens, methods=["POST"]),
        Route("/anthropic/v1/models", list_models, methods=["GET"]),
        Route("/anthropic/v1/models/{model:path}", get_model, methods=["GET"]),
    ]


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default
