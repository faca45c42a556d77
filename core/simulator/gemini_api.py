"""Gemini API (Google AI Studio): ``models/{model}:generateContent`` and
``:streamGenerateContent`` under /v1 and /v1beta, camelCase or snake_case JSON, Google's
``{"error": {"code", "message", "status"}}`` bodies. The key is accepted only in the
``x-goog-api-key`` header: a ``?key=`` query parameter is refused, because keys in URLs end
up in proxy and server logs."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from core.simulator.common import (
    Frames,
    Reject,
    before_body,
    chunk_text,
    decode_proto_bytes,
    json_response,
    malformed_response,
    paced,
    pause,
    read_json,
    since_arrival,
    stream_response,
)
from core.simulator.engine import Ask, Call, Simulator, estimate_tokens
from core.simulator.profiles import ModelProfile

VERSIONS = ("v1", "v1beta", "v1alpha")
STATUS_NAMES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
                404: "NOT_FOUND", 409: "ABORTED", 429: "RESOURCE_EXHAUSTED", 499: "CANCELLED",
                500: "INTERNAL", 501: "UNIMPLEMENTED", 503: "UNAVAILABLE",
                504: "DEADLINE_EXCEEDED"}
_MESSAGES = {
    500: "An internal error has occurred. Please retry or report in "
         "https://developers.generativeai.google/guide/troubleshooting",
    503: "The model is overloaded. Please try again later.",
    504: "Deadline expired before operation could complete.",
}
_PART_KEYS = {"text", "inlineData", "inline_data", "fileData", "file_data", "thought",
              "thoughtSignature", "thought_signature", "functionCall", "function_call",
              "functionResponse", "function_response", "executableCode", "executable_code",
              "codeExecutionResult", "code_execution_result", "videoMetadata",
              "video_metadata", "mediaResolution", "media_resolution"}


def google_error(status: int, message: str, *, details: list | None = None,
                 headers: dict[str, str] | None = None) -> Response:
    """Google's JSON error: code, message, status name, optional typed details."""
    err: dict[str, Any] = {"code": status, "message": message,
                           "status": STATUS_NAMES.get(status, "UNAVAILABLE")}
    if details:
        err["details"] = details
    return json_response({"error": err}, status, headers)


def key_error(service: str) -> list[dict[str, Any]]:
    return [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
             "domain": "googleapis.com", "metadata": {"service": service}},
            {"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US",
             "message": "API key not valid. Please pass a valid API key."}]


def check_google_key(request: Request, service: str) -> None:
    """Header-only keys. A bad key is a 400 with reason API_KEY_INVALID, as Google sends."""
    if "key" in request.query_params:
        raise Reject(400, "API keys in the URL (?key=) are not accepted: send the key in the "
                     "x-goog-api-key header instead, so it stays out of URLs and logs.")
    key = request.headers.get("x-goog-api-key", "").strip()
    if not key:
        raise Reject(403, "Method doesn't allow unregistered callers (callers without "
                     "established identity). Please use API Key or other form of API consumer "
                     "identity to call this API.")
    if key == "bad-key":
        raise Reject(400, "API key not valid. Please pass a valid API key.",
                     details=key_error(service))


def failure(call: Call) -> Response:
    if call.kind == "rate_limit":
        wait = call.retry_after_s or 0
        return google_error(
            429, "You exceeded your current quota, please check your plan and billing details. "
            "For more information on this error, head to: "
            "https://ai.google.dev/gemini-api/docs/rate-limits.",
            details=[{"@type": "type.googleapis.com/google.rpc.RetryInfo",
                      "retryDelay": f"{wait:g}s"}],
            headers={"retry-after": f"{wait:g}"})
    return google_error(call.status, _MESSAGES.get(call.status, _MESSAGES[503]))


def _reject(r: Reject) -> Response:
    return google_error(r.status, r.message, details=r.details, headers=r.headers)


def _get(doc: dict, camel: str, snake: str) -> Any:
    return doc.get(camel, doc.get(snake))


def _bad(message: str) -> Reject:
    return Reject(400, message)


def _content_parts(content: Any, where: str, images: list[bytes | str]) -> str:
    if not isinstance(content, dict):
        raise _bad(f"Invalid JSON payload received. Expected an object at '{where}'.")
    parts = content.get("parts")
    if not isinstance(parts, list) or not parts:
        raise _bad(f"* GenerateContentRequest.{where}.parts: contents.parts must not be empty.")
    texts = []
    for j, part in enumerate(parts):
        at = f"{where}.parts[{j}]"
        if not isinstance(part, dict):
            raise _bad(f"Invalid JSON payload received. Expected an object at '{at}'.")
        unknown = set(part) - _PART_KEYS
        if unknown:
            raise _bad(f'Invalid JSON payload received. Unknown name "{sorted(unknown)[0]}" '
                       f"at '{at}': Cannot find field.")
        if isinstance(part.get("text"), str):
            texts.append(part["text"])
        inline = _get(part, "inlineData", "inline_data")
        if inline is not None:
            if not isinstance(inline, dict):
                raise _bad(f"Invalid value at '{at}.inline_data': expected an object.")
            mime = _get(inline, "mimeType", "mime_type") or ""
            data = decode_proto_bytes(inline.get("data") or "")
            if data is None or not data:
                raise _bad(f"Invalid value at '{at}.inline_data.data' (TYPE_BYTES), Base64 "
                           "decoding failed.")
            if not mime:
                raise _bad(f"* GenerateContentRequest.{at}.inline_data.mime_type: "
                           "mime_type must be set.")
            if mime.startswith("image/"):
                images.append(data)
        file_data = _get(part, "fileData", "file_data")
        if isinstance(file_data, dict) and _get(file_data, "fileUri", "file_uri"):
            images.append(str(_get(file_data, "fileUri", "file_uri")))
    return "\n".join(texts)


def parse(body: Any, model: str) -> Ask:
    """An :class:`Ask` from a GenerateContentRequest body, or :class:`Reject`."""
    if not isinstance(body, dict):
        raise _bad("Invalid JSON payload received. Expected an object.")
    contents = body.get("contents")
    if not contents:
        raise _bad("* GenerateContentRequest.contents: contents is not specified")
    if isinstance(contents, dict):
        contents = [contents]
    if not isinstance(contents, list):
        raise _bad("Invalid value at 'contents': expected a list.")
    images: list[bytes | str] = []
    texts: list[tuple[str, str]] = []
    for i, content in enumerate(contents):
        role = content.get("role", "user") if isinstance(content, dict) else None
        if role not in ("user", "model", "function", None):
            raise _bad("Please use a valid role: user, model.")
        texts.append((role or "user", _content_parts(content, f"contents[{i}]", images)))
    system_doc = _get(body, "systemInstruction", "system_instruction")
    system = _content_parts(system_doc, "system_instruction", []) if system_doc else ""
    config = _get(body, "generationConfig", "generation_config") or {}
    if not isinstance(config, dict):
        raise _bad("Invalid value at 'generation_config': expected an object.")
    temperature = config.get("temperature")
    if temperature is not None and (not isinstance(temperature, int | float)
                                    or not 0 <= temperature <= 2):
        raise _bad("* GenerateContentRequest.generation_config.temperature: temperature must be "
                   "between 0 and 2.")
    cap = _get(config, "maxOutputTokens", "max_output_tokens")
    if cap is not None and (not isinstance(cap, int) or cap < 1):
        raise _bad("* GenerateContentRequest.generation_config.max_output_tokens: "
                   "max_output_tokens must be positive.")
    mime = _get(config, "responseMimeType", "response_mime_type")
    last_user = max((k for k, (r, _) in enumerate(texts) if r == "user"), default=None)
    return Ask(model=model, prompt=texts[last_user][1] if last_user is not None else "",
               history=tuple(t for k, (_, t) in enumerate(texts) if k != last_user),
               system=system, images=tuple(images), max_tokens=cap,
               temperature=float(temperature) if temperature is not None else None,
               json_mode=mime == "application/json", messages=len(contents))


def usage_doc(call: Call, ask: Ask, *, final: bool = True) -> dict[str, Any]:
    u = call.usage
    visible = u.output_tokens - u.reasoning_tokens
    doc: dict[str, Any] = {"promptTokenCount": u.input_tokens}
    if final:
        doc["candidatesTokenCount"] = visible
    doc["totalTokenCount"] = u.input_tokens + (u.output_tokens if final else 0)
    if u.cached_tokens:
        doc["cachedContentTokenCount"] = u.cached_tokens
    details = [{"modality": "TEXT", "tokenCount": u.input_tokens - u.image_tokens}]
    if u.image_tokens:
        details.append({"modality": "IMAGE", "tokenCount": u.image_tokens})
    doc["promptTokensDetails"] = details
    if final and u.reasoning_tokens:
        doc["thoughtsTokenCount"] = u.reasoning_tokens
    return doc


def response_doc(call: Call, ask: Ask, rid: str, text: str | None = None,
                 final: bool = True) -> dict[str, Any]:
    assert call.profile is not None
    shown = call.text if text is None else text
    content: dict[str, Any] = {"role": "model"}
    if shown or not final:
        content["parts"] = [{"text": shown}]
    candidate: dict[str, Any] = {"content": content, "index": 0}
    if final:
        candidate["finishReason"] = "STOP" if call.finish == "stop" else "MAX_TOKENS"
    return {"candidates": [candidate], "usageMetadata": usage_doc(call, ask, final=final),
            "modelVersion": call.profile.response_model, "responseId": rid}


def _sse(doc: dict) -> bytes:
    return b"data: " + json.dumps(doc, separators=(",", ":")).encode() + b"\r\n\r\n"


def _frames(call: Call, ask: Ask, rid: str, sse: bool) -> Frames:
    content = [response_doc(call, ask, rid, piece, final=False)
               for piece in chunk_text(call.text, 6)]
    tail = [response_doc(call, ask, rid, "", final=True)]
    if sse:
        return Frames([], [_sse(d) for d in content], [_sse(d) for d in tail], b"\r\n\r\n")
    # Without alt=sse the stream is one JSON array, written element by element.
    docs = [json.dumps(d, separators=(",", ":")).encode() for d in content + tail]
    framed = [(b"[" if i == 0 else b",\r\n") + d for i, d in enumerate(docs)]
    return Frames([], framed[:-1], [framed[-1] + b"]"], b"")


def _model_doc(m: ModelProfile, mid: str) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": f"models/{mid}", "version": mid.removeprefix("gemini-").split("-")[0],
        "displayName": m.display_name, "description": f"{m.display_name} (simulated)",
        "inputTokenLimit": m.context_window, "outputTokenLimit": m.max_output_tokens,
        "supportedGenerationMethods": ["generateContent", "countTokens",
                                       "createCachedContent", "batchGenerateContent"],
        "temperature": 1, "topP": 0.95, "topK": 64, "maxTemperature": 2,
    }
    if m.reasoning_tokens_median:
        doc["thinking"] = True
    return doc


def routes(sim: Simulator, provider: str = "gemini") -> list[Route]:
    service = "generativelanguage.googleapis.com"

    def check(request: Request) -> None:
        if request.path_params["version"] not in VERSIONS:
            raise Reject(404, f"API version {request.path_params['version']} is not found.")
        check_google_key(request, service)

    async def list_models(request: Request) -> Response:
        try:
            check(request)
        except Reject as r:
            return _reject(r)
        call = sim.start_meta(provider, "models")
        if call.kind in ("error", "rate_limit"):
            await pause(call.ttft_s - since_arrival())
            return failure(call)
        early = await before_body(request, call, sim.hang_s, google_error)
        if early is not None:
            return early
        docs = [_model_doc(m, mid) for m in sim.listed(provider)
                for mid in dict.fromkeys((m.id, m.response_model))]
        size = max(1, min(_int(request.query_params.get("pageSize"), 50), 1000))
        start = _int(request.query_params.get("pageToken"), 0)
        doc: dict[str, Any] = {"models": docs[start:start + size]}
        if start + size < len(docs):
            doc["nextPageToken"] = str(start + size)
        return malformed_response(doc) if call.kind == "malformed" else json_response(doc)

    async def model_route(request: Request) -> Response:
        version = request.path_params["version"]
        rest = request.path_params["rest"]
        name, _, method = rest.rpartition(":") if ":" in rest else (rest, "", "")
        request.state.model = name
        try:
            check(request)
            profile = sim.resolve(provider, name)
            if request.method == "GET" and not method:
                if profile is None:
                    raise Reject(404, f"models/{name} is not found for API version {version}.")
                return json_response(_model_doc(profile, name))
            if method not in ("generateContent", "streamGenerateContent", "countTokens"):
                raise Reject(404, f"Method not found: {method or rest}.")
            if profile is None:
                raise Reject(404, f"models/{name} is not found for API version {version}, or "
                             f"is not supported for {method}. Call ListModels to see the list "
                             "of available models and their supported methods.")
            body = await read_json(request, lambda e: _bad(
                f"Invalid JSON payload received. {e}"))
            if method == "countTokens" and isinstance(body, dict) \
                    and "generateContentRequest" in body:
                body = body["generateContentRequest"]
            ask = parse(body, name)
            if ask.images and not profile.vision:
                raise _bad(f"{name} does not support image input.")
        except Reject as r:
            return _reject(r)
        if method == "countTokens":
            return json_response({"totalTokens": estimate_tokens(
                "\n".join((ask.system, *ask.history, ask.prompt)))
                + len(ask.images) * profile.images_cost})
        call = sim.start_call(provider, profile, ask)
        if call.kind in ("error", "rate_limit"):
            await pause(call.ttft_s - since_arrival())
            return failure(call)
        rid = call.ident("", 23, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        if method == "streamGenerateContent":
            sse = request.query_params.get("alt") == "sse"
            frames = _frames(call, ask, rid, sse)
            if sse:
                return stream_response(frames, call, sim.hang_s, "text/event-stream")
            return StreamingResponse(paced(frames, call, sim.hang_s),
                                     media_type="application/json")
        early = await before_body(request, call, sim.hang_s, google_error)
        if early is not None:
            return early
        doc = response_doc(call, ask, rid)
        return malformed_response(doc) if call.kind == "malformed" else json_response(doc)

    return [
        Route("/gemini/{version}/models", list_models, methods=["GET"]),
        Route("/gemini/{version}/models/{rest:path}", model_route, methods=["GET", "POST"]),
    ]


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value else default
    except ValueError:
        return default
