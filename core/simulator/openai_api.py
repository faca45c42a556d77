"""OpenAI Chat Completions, as OpenAI, Mistral, Clarifai, Ollama's /v1 and custom servers
speak it: same request and response shapes, same SSE stream, same error body."""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from core.simulator.common import (
    Frames,
    Reject,
    before_body,
    chunk_text,
    decode_data_url,
    json_response,
    malformed_response,
    pause,
    read_json,
    since_arrival,
    sse,
    stream_response,
)
from core.simulator.engine import Ask, Call, Simulator
from core.simulator.profiles import ModelProfile

ROLES = ("system", "assistant", "user", "function", "tool", "developer")
PART_TYPES = ("text", "image_url", "input_audio", "refusal", "audio", "file")
IMAGE_MIME = ("image/png", "image/jpeg", "image/gif", "image/webp")
OWNER = {"openai": "system", "mistral": "mistralai", "clarifai": "clarifai",
         "ollama": "library", "openai_compatible": "vllm"}
_TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 403: "permission_error",
          404: "invalid_request_error", 409: "invalid_request_error", 413: "invalid_request_error",
          422: "invalid_request_error", 429: "requests"}
_MESSAGES = {
    500: "The server had an error while processing your request. Sorry about that!",
    502: "Bad gateway.",
    503: "The server is overloaded or not ready yet.",
    504: "Gateway timeout.",
    529: "The engine is currently overloaded, please try again later.",
}
_NO_KEY = ("You didn't provide an API key. You need to provide your API key in an "
           "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).")


def error(status: int, message: str, *, kind: str | None = None, code: str | None = None,
          param: str | None = None, headers: dict[str, str] | None = None) -> Response:
    """OpenAI's error body: ``{"error": {"message", "type", "param", "code"}}``."""
    body = {"error": {"message": message, "type": kind or _TYPES.get(status, "server_error"),
                      "param": param, "code": code}}
    return json_response(body, status, headers)


def _reject_response(r: Reject) -> Response:
    return error(r.status, r.message, kind=r.kind, code=r.code, param=r.param,
                 headers=r.headers)


def _failure(call: Call, model: str) -> Response:
    if call.kind == "rate_limit":
        wait = call.retry_after_s or 0
        return error(429, f"Rate limit reached for {model} in organization org-simulator on "
                     f"requests per min (RPM): Limit 500, Used 500, Requested 1. Please try "
                     f"again in {wait:g}s.", code="rate_limit_exceeded",
                     headers={"retry-after": f"{wait:g}",
                              "x-ratelimit-remaining-requests": "0",
                              "x-ratelimit-reset-requests": f"{wait:g}s"})
    return error(call.status, _MESSAGES.get(call.status, "The server had an error."),
                 kind="server_error")


def _check_auth(request: Request, required: bool) -> None:
    if not required:
        return
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise Reject(401, _NO_KEY)
    if key == "bad-key":
        raise Reject(401, "Incorrect API key provided: bad-key. You can find your API key at "
                     "https://platform.openai.com/account/api-keys.", code="invalid_api_key")


def _missing(param: str) -> Reject:
    return Reject(400, f"Missing required parameter: '{param}'.", param=param,
                  code="missing_required_parameter")


def _invalid(param: str, message: str, code: str = "invalid_value") -> Reject:
    return Reject(400, message, param=param, code=code)


def parse(body: Any) -> tuple[Ask, bool, bool]:
    """(ask, stream, include_usage) from a chat completions body, or :class:`Reject`."""
    if not isinstance(body, dict):
        raise Reject(400, "Invalid request body: expected a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise Reject(400, "you must provide a model parameter")
    messages = body.get("messages")
    if messages is None:
        raise _missing("messages")
    if not isinstance(messages, list):
        raise _invalid("messages", "Invalid type for 'messages': expected an array.",
                       "invalid_type")
    if not messages:
        raise _invalid("messages", "Invalid 'messages': empty array. Expected an array with "
                       "minimum length 1, but got an empty array instead.", "empty_array")
    system: list[str] = []
    texts: list[tuple[str, str]] = []
    images: list[bytes | str] = []
    for i, msg in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(msg, dict):
            raise _invalid(where, f"Invalid type for '{where}': expected an object.",
                           "invalid_type")
        role = msg.get("role")
        if role is None:
            raise _missing(f"{where}.role")
        if role not in ROLES:
            raise _invalid(f"{where}.role", f"Invalid value: '{role}'. Supported values are: "
                           "'system', 'assistant', 'user', 'function', 'tool', and "
                           "'developer'.")
        content = msg.get("content")
        parts_text: list[str] = []
        if isinstance(content, str):
            parts_text.append(content)
        elif isinstance(content, list):
            for j, part in enumerate(content):
                parts_text += _part(part, f"{where}.content[{j}]", role, images)
        elif content is None and role in ("assistant", "function", "tool"):
            pass
        else:
            raise _invalid(f"{where}.content", f"Invalid type for '{where}.content': expected "
                           "one of a string or array of objects.", "invalid_type")
        text = "\n".join(parts_text)
        if role in ("system", "developer"):
            system.append(text)
        else:
            texts.append((role, text))
    stream = body.get("stream") is True
    options = body.get("stream_options")
    if options is not None and not stream:
        raise _invalid("stream_options", "The 'stream_options' parameter is only allowed "
                       "when 'stream' is enabled.")
    include_usage = bool(isinstance(options, dict) and options.get("include_usage"))
    temperature = body.get("temperature")
    if temperature is not None and (not isinstance(temperature, int | float)
                                    or not 0 <= temperature <= 2):
        raise _invalid("temperature", f"Invalid 'temperature': expected a number between 0 "
                       f"and 2, but got {temperature!r} instead.")
    cap = None
    for name in ("max_completion_tokens", "max_tokens"):
        value = body.get(name)
        if value is not None:
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise _invalid(name, f"Invalid '{name}': integer below minimum value. "
                               f"Expected a value >= 1, but got {value!r} instead.",
                               "integer_below_min_value")
            cap = value if cap is None else cap
    n = body.get("n", 1)
    if n not in (None, 1):
        raise _invalid("n", "The simulator answers one choice per request (n must be 1).")
    fmt = body.get("response_format")
    json_mode = isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema")
    last_user = max((k for k, (role, _) in enumerate(texts) if role == "user"), default=None)
    prompt = texts[last_user][1] if last_user is not None else ""
    history = tuple(t for k, (_, t) in enumerate(texts) if k != last_user)
    ask = Ask(model=model, prompt=prompt, history=history, system="\n".join(system),
              images=tuple(images), max_tokens=cap,
              temperature=float(temperature) if temperature is not None else None,
              json_mode=json_mode, messages=len(messages))
    return ask, stream, include_usage


def _part(part: Any, where: str, role: str, images: list[bytes | str]) -> list[str]:
    if not isinstance(part, dict):
        raise _invalid(where, f"Invalid type for '{where}': expected an object.",
                       "invalid_type")
    kind = part.get("type")
    if kind is None:
        raise _missing(f"{where}.type")
    if kind not in PART_TYPES:
        raise _invalid(f"{where}.type", f"Invalid value: '{kind}'. Supported values are: "
                       "'text', 'image_url', 'input_audio', 'refusal', 'audio', and 'file'.")
    if kind == "text":
        text = part.get("text")
        if not isinstance(text, str):
            raise _missing(f"{where}.text")
        return [text]
    if kind == "image_url":
        if role != "user":
            raise _invalid(f"{where}.type", "Image URLs are only allowed for messages with "
                           f"role 'user', but this message with role '{role}' contains an "
                           "image URL.")
        spec = part.get("image_url")
        if not isinstance(spec, dict):
            raise _invalid(f"{where}.image_url", f"Invalid type for '{where}.image_url': "
                           "expected an object, but got a string instead.", "invalid_type")
        url = spec.get("url")
        if not isinstance(url, str) or not url:
            raise _missing(f"{where}.image_url.url")
        if url.startswith(("http://", "https://")):
            images.append(url)
            return []
        decoded = decode_data_url(url)
        if decoded is None:
            raise _invalid(f"{where}.image_url.url", f"Invalid '{where}.image_url.url'. "
                           "Expected a base64-encoded data URL with an image MIME type (e.g. "
                           "'data:image/png;base64,aW1nIGJ5dGVzIGhlcmU='), but got an invalid "
                           "value.")
        mime, data = decoded
        if mime not in IMAGE_MIME or not data:
            raise Reject(400, "You uploaded an unsupported image. Please make sure your image "
                         "has of one the following formats: ['png', 'jpeg', 'gif', 'webp'].",
                         code="invalid_image_format")
        images.append(data)
    return []


def _check_model(profile: ModelProfile, body: dict, ask: Ask) -> None:
    """Per-model rules real endpoints enforce (reasoning models, text-only models)."""
    if profile.openai_rejects_max_tokens and body.get("max_tokens") is not None:
        raise Reject(400, "Unsupported parameter: 'max_tokens' is not supported with this "
                     "model. Use 'max_completion_tokens' instead.", param="max_tokens",
                     code="unsupported_parameter")
    if profile.openai_fixed_temperature and ask.temperature not in (None, 1.0):
        raise Reject(400, f"Unsupported value: 'temperature' does not support "
                     f"{ask.temperature:g} with this model. Only the default (1) value is "
                     "supported.", param="temperature", code="unsupported_value")
    if ask.images and not profile.vision:
        raise Reject(400, f"Model {profile.id} does not support image input.",
                     param="messages", code="invalid_value")


def usage_doc(call: Call) -> dict[str, Any]:
    u = call.usage
    return {
        "prompt_tokens": u.input_tokens,
        "completion_tokens": u.output_tokens,
        "total_tokens": u.total_tokens,
        "prompt_tokens_details": {"cached_tokens": u.cached_tokens, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": u.reasoning_tokens, "audio_tokens": 0,
                                      "accepted_prediction_tokens": 0,
                                      "rejected_prediction_tokens": 0},
    }


def completion_doc(call: Call, cid: str, created: int, fingerprint: str) -> dict[str, Any]:
    assert call.profile is not None
    return {
        "id": cid, "object": "chat.completion", "created": created,
        "model": call.profile.response_model,
        "choices": [{"index": 0,
                     "message": {"role": "assistant", "content": call.text, "refusal": None,
                                 "annotations": []},
                     "logprobs": None, "finish_reason": call.finish}],
        "usage": usage_doc(call), "service_tier": "default", "system_fingerprint": fingerprint,
    }


def _frames(call: Call, cid: str, created: int, fingerprint: str, include_usage: bool
            ) -> Frames:
    assert call.profile is not None
    model = call.profile.response_model

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        doc: dict[str, Any] = {
            "id": cid, "object": "chat.completion.chunk", "created": created,
            "model": model, "service_tier": "default", "system_fingerprint": fingerprint,
            "choices": [{"index": 0, "delta": delta, "logprobs": None,
                         "finish_reason": finish}],
        }
        if include_usage:
            doc["usage"] = None
        return sse(doc)

    frames = Frames(head=[chunk({"role": "assistant", "content": "", "refusal": None})])
    frames.content = [chunk({"content": piece}) for piece in chunk_text(call.text)]
    frames.tail = [chunk({}, call.finish)]
    if include_usage:
        frames.tail.append(sse({
            "id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
            "service_tier": "default", "system_fingerprint": fingerprint, "choices": [],
            "usage": usage_doc(call)}))
    frames.tail.append(sse("[DONE]"))
    return frames


def routes(sim: Simulator, prefix: str, provider: str, require_auth: bool = True
           ) -> list[Route]:
    """The OpenAI-compatible routes for one provider under ``/{prefix}/v1``."""

    async def chat(request: Request) -> Response:
        try:
            _check_auth(request, require_auth)
            body = await read_json(request, lambda e: Reject(
                400, "We could not parse the JSON body of your request. (HINT: This likely "
                "means you aren't using your HTTP library correctly. The OpenAI API expects a "
                "JSON payload, but what was sent was not valid JSON.)"))
            ask, stream, include_usage = parse(body)
            request.state.model = ask.model
            profile = sim.resolve(provider, ask.model)
            if profile is None:
                raise Reject(404, f"The model `{ask.model}` does not exist or you do not have "
                             "access to it.", code="model_not_found")
            _check_model(profile, body, ask)
        except Reject as r:
            return _reject_response(r)
        call = sim.start_call(provider, profile, ask)
        rid = call.ident("req_", 32, "0123456789abcdef")
        headers = {"x-request-id": rid, "openai-version": "2020-10-01",
                   "openai-processing-ms": str(int(call.modelled_ttft_ms + call.modelled_gen_ms))}
        if call.kind in ("error", "rate_limit"):
            await pause(call.ttft_s - since_arrival())
            response = _failure(call, profile.id)
            response.headers.update({"x-request-id": rid})
            return response
        cid = call.ident("chatcmpl-", 29)
        fingerprint = call.ident("fp_", 10, "0123456789abcdef")
        created = int(time.time())
        if stream:
            return stream_response(_frames(call, cid, created, fingerprint, include_usage),
                                   call, sim.hang_s, "text/event-stream; charset=utf-8",
                                   headers)
        early = await before_body(request, call, sim.hang_s,
                                  lambda s, m: error(s, m, kind="server_error"))
        if early is not None:
            return early
        doc = completion_doc(call, cid, created, fingerprint)
        if call.kind == "malformed":
            return malformed_response(doc, headers)
        return json_response(doc, headers=headers)

    def model_doc(m: ModelProfile, mid: str) -> dict[str, Any]:
        return {"id": mid, "object": "model", "created": m.created,
                "owned_by": OWNER.get(provider, "system")}

    async def meta(request: Request, route: str) -> Call | Response:
        """Auth, faults and latency of a model-listing call; a response means stop here."""
        try:
            _check_auth(request, require_auth)
        except Reject as r:
            return _reject_response(r)
        call = sim.start_meta(provider, route)
        if call.kind in ("error", "rate_limit"):
            await pause(call.ttft_s - since_arrival())
            return _failure(call, "models")
        early = await before_body(request, call, sim.hang_s,
                                  lambda s, m: error(s, m, kind="server_error"))
        return call if early is None else early

    async def list_models(request: Request) -> Response:
        call = await meta(request, "models")
        if isinstance(call, Response):
            return call
        data = [model_doc(m, mid) for m in sim.listed(provider)
                for mid in dict.fromkeys((m.id, m.response_model))]
        doc = {"object": "list", "data": data}
        return malformed_response(doc) if call.kind == "malformed" else json_response(doc)

    async def get_model(request: Request) -> Response:
        call = await meta(request, "model")
        if isinstance(call, Response):
            return call
        mid = request.path_params["model"]
        profile = sim.resolve(provider, mid)
        if profile is None:
            return error(404, f"The model '{mid}' does not exist", param="model",
                         code="model_not_found")
        doc = model_doc(profile, mid)
        return malformed_response(doc) if call.kind == "malformed" else json_response(doc)

    base = f"/{prefix}/v1"
    return [
        Route(f"{base}/chat/completions", chat, methods=["POST"]),
        Route(f"{base}/models", list_models, methods=["GET"]),
        Route(f"{base}/models/{{model:path}}", get_model, methods=["GET"]),
    ]
