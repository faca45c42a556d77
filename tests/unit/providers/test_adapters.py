"""Provider adapters against ``httpx.MockTransport`` (no network): the request each protocol
sends, how answers and token usage are read, how every failure maps onto the error
taxonomy, time to first token of streams, and that the API key never leaks into an error."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import string
import traceback
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from core.providers.base import (
    CallOptions,
    CheckResult,
    Completion,
    ImagePart,
    Part,
    TextPart,
    TokenUsage,
)
from core.providers.errors import (
    AuthenticationError,
    BadRequest,
    MalformedResponse,
    ProviderError,
    RateLimited,
    Timeout,
    Unavailable,
)
from core.providers.registry import make_adapter
from tests.helpers import png

KEY = "sk-canary-" + "".join(secrets.choice(string.ascii_letters + string.digits)
                             for _ in range(24))




PNG = png(200, 120, 40)
PNG_B64 = base64.b64encode(PNG).decode()
IMAGE = ImagePart(PNG, "image/png")
TEXT = TextPart("Describe the photo.")

BASE = {"openai": "https://api.test/v1", "mistral": "https://mistral.test/v1",
        "clarifai": "https://clarifai.test/v2/ext/openai/v1",
        "openai_compatible": "https://llm.test/v1", "anthropic": "https://anthropic.test",
        "gemini": "https://gemini.test", "ollama": "http://ollama.test:11434",
        "gcp_vision": "https://vision.test"}
MODEL = {"openai": "gpt-4o-mini", "mistral": "mistral-small-latest",
         "clarifai": "https://clarifai.com/meta/Llama-3/models/Llama-3_2-11B-Vision-Instruct",
         "openai_compatible": "qwen2.5-vl-7b-instruct", "anthropic": "claude-haiku-4-5",
         "gemini": "gemini-2.0-flash", "ollama": "llama3.2-vision:11b",
         "gcp_vision": "builtin/stable"}
ALL_TYPES = list(BASE)
PROTOCOL_TYPES = ["openai", "anthropic", "gemini", "ollama", "gcp_vision"]
STREAMING_TYPES = ["openai", "anthropic", "gemini", "ollama"]


# ---- a recording mock transport ---------------------------------------------------------


class Server:
    """A MockTransport handler that records requests and answers with ``respond``."""

    def __init__(self, respond: Callable[[httpx.Request], httpx.Response]) -> None:
        self.respond = respond
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.respond(request)

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]

    def body(self, i: int = -1) -> Any:
        return json.loads(self.requests[i].content)


async def _with_adapter(ptype: str, server: Server, action: Callable, *, key: str | None = KEY,
                        headers: dict[str, str] | None = None) -> Any:
    async with httpx.AsyncClient(transport=httpx.MockTransport(server)) as client:
        adapter = make_adapter(ptype, client, base_url=BASE[ptype], api_key=key,
                               headers=headers)
        return await action(adapter)


def complete(ptype: str, server: Server, parts: list[Part] | None = None,
             model: str | None = None, key: str | None = KEY, **options: Any) -> Completion:
    async def go(adapter: Any) -> Completion:
        return await adapter.complete(model or MODEL[ptype], parts or [TEXT, IMAGE],
                                      CallOptions(**options))

    return asyncio.run(_with_adapter(ptype, server, go, key=key))


def fail(ptype: str, server: Server, **kw: Any) -> ProviderError:
    with pytest.raises(ProviderError) as info:
        complete(ptype, server, **kw)
    return info.value


def list_models(ptype: str, server: Server) -> list:
    return asyncio.run(_with_adapter(ptype, server, lambda a: a.list_models()))


def check(ptype: str, server: Server, key: str | None = KEY) -> CheckResult:
    return asyncio.run(_with_adapter(ptype, server, lambda a: a.check(), key=key))


def protocol(ptype: str) -> str:
    return {"mistral": "openai", "clarifai": "openai", "openai_compatible": "openai"}.get(
        ptype, ptype)


# ---- well-formed answers per protocol ---------------------------------------------------


def sse(doc: Any, event: str | None = None) -> bytes:
    payload = doc if isinstance(doc, str) else json.dumps(doc)
    return (f"event: {event}\n" if event else "").encode() + f"data: {payload}\n\n".encode()


OPENAI_USAGE = {"prompt_tokens": 100, "completion_tokens": 30, "total_tokens": 130,
                "prompt_tokens_details": {"cached_tokens": 40},
                "completion_tokens_details": {"reasoning_tokens": 10}}
OPENAI_PLAIN = {"id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-4o-mini-2024",
                "choices": [{"index": 0, "message": {"role": "assistant",
                                                     "content": "Hello world"},
                             "finish_reason": "stop"}],
                "usage": OPENAI_USAGE}


def openai_chunk(delta: dict, finish: str | None = None) -> dict:
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "gpt-4o-mini-2024",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


OPENAI_FRAMES = [sse(openai_chunk({"role": "assistant", "content": ""})),
                 sse(openai_chunk({"content": "Hello"})), sse(openai_chunk({"content": " world"})),
                 sse(openai_chunk({}, "stop")),
                 sse({"id": "chatcmpl-1", "choices": [], "usage": OPENAI_USAGE}), sse("[DONE]")]
OPENAI_CUT = OPENAI_FRAMES[:3]

ANTHROPIC_USAGE = {"input_tokens": 10, "cache_read_input_tokens": 100,
                   "cache_creation_input_tokens": 50, "output_tokens": 20}
ANTHROPIC_PLAIN = {"id": "msg_1", "type": "message", "role": "assistant",
                   "model": "claude-haiku-4-5-20251001",
                   "content": [{"type": "text", "text": "Hello"},
                               {"type": "tool_use", "id": "t", "name": "x", "input": {}},
                               {"type": "text", "text": " world"}],
                   "stop_reason": "end_turn", "usage": ANTHROPIC_USAGE}
ANTHROPIC_FRAMES = [
    sse({"type": "message_start", "message": {
        "id": "msg_1", "type": "message", "role": "assistant",
        "model": "claude-haiku-4-5-20251001", "content": [], "stop_reason": None,
        "usage": {**ANTHROPIC_USAGE, "output_tokens": 1}}}, "message_start"),
    sse({"type": "content_block_start", "index": 0,
         "content_block": {"type": "text", "text": ""}}, "content_block_start"),
    sse({"type": "ping"}, "ping"),
    sse({"type": "content_block_delta", "index": 0,
         "delta": {"type": "text_delta", "text": "Hello"}}, "content_block_delta"),
    sse({"type": "content_block_delta", "index": 0,
         "delta": {"type": "text_delta", "text": " world"}}, "content_block_delta"),
    sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
    sse({"type": "message_delta", "delta": {"stop_reason": "end_turn"},
         "usage": {"output_tokens": 20}}, "message_delta"),
    sse({"type": "message_stop"}, "message_stop"),
]
ANTHROPIC_CUT = ANTHROPIC_FRAMES[:5]

GEMINI_USAGE = {"promptTokenCount": 50, "candidatesTokenCount": 20, "thoughtsTokenCount": 30,
                "cachedContentTokenCount": 10, "totalTokenCount": 100}
GEMINI_PLAIN = {"candidates": [{"content": {"role": "model", "parts": [
    {"text": "Let me think about it.", "thought": True}, {"text": "Hello world"}]},
    "finishReason": "STOP", "index": 0}], "usageMetadata": GEMINI_USAGE,
    "modelVersion": "gemini-2.0-flash-001", "responseId": "resp-1"}


def gemini_chunk(text: str, finish: str | None = None, thought: bool = False) -> dict:
    part: dict[str, Any] = {"text": text}
    if thought:
        part["thought"] = True
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": [part]}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    usage = GEMINI_USAGE if finish else {"promptTokenCount": 50}
    return {"candidates": [candidate], "usageMetadata": usage,
            "modelVersion": "gemini-2.0-flash-001", "responseId": "resp-1"}


def gsse(doc: dict) -> bytes:  # Google separates events with CRLF
    return b"data: " + json.dumps(doc).encode() + b"\r\n\r\n"


GEMINI_FRAMES = [gsse(gemini_chunk("pondering", thought=True)), gsse(gemini_chunk("Hello")),
                 gsse(gemini_chunk(" world")), gsse(gemini_chunk("", "STOP"))]
GEMINI_CUT = GEMINI_FRAMES[:3]


def ndjson(doc: dict) -> bytes:
    return json.dumps(doc).encode() + b"\n"


OLLAMA_FINAL = {"model": "llama3.2-vision:11b", "created_at": "2025-01-01T00:00:00Z",
                "message": {"role": "assistant", "content": ""}, "done": True,
                "done_reason": "stop", "prompt_eval_count": 12, "eval_count": 5}
OLLAMA_PLAIN = {**OLLAMA_FINAL, "message": {"role": "assistant", "content": "Hello world"}}
OLLAMA_FRAMES = [
    ndjson({"model": "llama3.2-vision:11b", "message": {"role": "assistant", "content": "Hello"},
            "done": False}),
    ndjson({"model": "llama3.2-vision:11b", "message": {"role": "assistant",
                                                        "content": " world"}, "done": False}),
    ndjson(OLLAMA_FINAL),
]
OLLAMA_CUT = OLLAMA_FRAMES[:2]

VISION_PLAIN = {"responses": [{"labelAnnotations": [
    {"mid": "/m/0bt9lr", "description": "Dog", "score": 0.97, "topicality": 0.97},
    {"mid": "/m/08t9c_", "description": "Grass", "score": 0.81, "topicality": 0.81}]}]}

PLAIN = {"openai": OPENAI_PLAIN, "anthropic": ANTHROPIC_PLAIN, "gemini": GEMINI_PLAIN,
         "ollama": OLLAMA_PLAIN, "gcp_vision": VISION_PLAIN}
FRAMES = {"openai": OPENAI_FRAMES, "anthropic": ANTHROPIC_FRAMES, "gemini": GEMINI_FRAMES,
          "ollama": OLLAMA_FRAMES}
CUT = {"openai": OPENAI_CUT, "anthropic": ANTHROPIC_CUT, "gemini": GEMINI_CUT,
       "ollama": OLLAMA_CUT}
STREAM_TYPE = {"openai": "text/event-stream", "anthropic": "text/event-stream",
               "gemini": "text/event-stream", "ollama": "application/x-ndjson"}


def answer(ptype: str) -> Callable[[httpx.Request], httpx.Response]:
    """A responder giving the protocol's well-formed answer (streamed when asked)."""
    proto = protocol(ptype)

    def respond(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else {}
        streamed = body.get("stream") is True or "streamGenerateContent" in request.url.path
        if streamed:
            return httpx.Response(200, content=b"".join(FRAMES[proto]),
                                  headers={"content-type": STREAM_TYPE[proto]})
        return httpx.Response(200, json=PLAIN[proto])

    return respond


def stream_of(frames: list[bytes], ptype: str, gap: float = 0.0) -> Callable:
    """A responder streaming ``frames``, ``gap`` seconds before each."""
    async def paced() -> AsyncIterator[bytes]:
        for frame in frames:
            if gap:
                await asyncio.sleep(gap)
            yield frame

    def respond(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=paced(),
                              headers={"content-type": STREAM_TYPE[protocol(ptype)]})

    return respond


def error_body(ptype: str, status: int, message: str) -> dict:
    proto = protocol(ptype)
    if proto == "ollama":
        return {"error": message}
    if proto == "anthropic":
        return {"type": "error", "error": {"type": "api_error", "message": message}}
    if proto in ("gemini", "gcp_vision"):
        return {"error": {"code": status, "message": message, "status": "UNAVAILABLE"}}
    return {"error": {"message": message, "type": "server_error", "param": None, "code": None}}


def status(ptype: str, code: int, message: str = "nope", headers: dict | None = None,
           body: dict | None = None) -> Server:
    return Server(lambda r: httpx.Response(code, json=body or error_body(ptype, code, message),
                                           headers=headers))


# ---- request shapes ---------------------------------------------------------------------


def test_openai_request_shape_plain_and_streamed() -> None:
    server = Server(answer("openai"))
    complete("openai", server, stream=False, system="Be brief.", max_tokens=50,
             temperature=0.2)
    req, body = server.last, server.body()
    assert str(req.url) == "https://api.test/v1/chat/completions"
    assert req.method == "POST"
    assert req.headers["authorization"] == f"Bearer {KEY}"
    assert body["model"] == "gpt-4o-mini"
    assert body["stream"] is False and "stream_options" not in body
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    user = body["messages"][1]
    assert user["role"] == "user"
    assert user["content"] == [
        {"type": "text", "text": "Describe the photo."},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}"}}]
    assert body["max_completion_tokens"] == 50 and "max_tokens" not in body
    assert body["temperature"] == 0.2

    complete("openai", server, parts=[TEXT], stream=True)
    body = server.body()
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["messages"] == [{"role": "user", "content": "Describe the photo."}]
    assert "temperature" not in body and "max_completion_tokens" not in body


@pytest.mark.parametrize("ptype", ["mistral", "clarifai", "openai_compatible"])
def test_openai_compatible_types_send_max_tokens(ptype: str) -> None:
    server = Server(answer(ptype))
    complete(ptype, server, stream=False, max_tokens=64, temperature=0.3)
    body = server.body()
    assert str(server.last.url) == f"{BASE[ptype]}/chat/completions"
    assert server.last.headers["authorization"] == f"Bearer {KEY}"
    assert body["max_tokens"] == 64 and "max_completion_tokens" not in body
    assert body["temperature"] == 0.3


def test_openai_compatible_without_key_sends_no_authorization() -> None:
    server = Server(answer("openai_compatible"))
    complete("openai_compatible", server, key=None, stream=False)
    assert "authorization" not in server.last.headers


@pytest.mark.parametrize(("model", "temperature", "sent"), [
    ("gpt-5", 0.2, None), ("gpt-5", 1.0, 1.0), ("gpt-5-mini", 0.0, None),
    ("gpt-5.1", 0.7, None), ("o3-mini", 0.0, None), ("o1", 0.5, None), ("o4-mini", 1, 1),
    ("gpt-4o", 0.2, 0.2), ("gpt-4.1-mini", 0.0, 0.0),
])
def test_openai_reasoning_models_drop_non_default_temperature(
        model: str, temperature: float, sent: float | None) -> None:
    server = Server(answer("openai"))
    complete("openai", server, model=model, stream=False, temperature=temperature,
             max_tokens=10)
    body = server.body()
    assert body.get("temperature") == sent
    assert ("temperature" in body) is (sent is not None)
    assert body["max_completion_tokens"] == 10


def test_reasoning_rule_is_openai_only() -> None:
    server = Server(answer("mistral"))
    complete("mistral", server, model="o1-like", stream=False, temperature=0.2)
    assert server.body()["temperature"] == 0.2


def test_anthropic_request_shape() -> None:
    server = Server(answer("anthropic"))
    complete("anthropic", server, stream=False, system="Be brief.", temperature=1.7)
    req, body = server.last, server.body()
    assert str(req.url) == "https://anthropic.test/v1/messages"
    assert req.headers["x-api-key"] == KEY
    assert req.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in req.headers
    assert body["model"] == "claude-haiku-4-5"
    assert body["max_tokens"] == 1024  # required by Anthropic: a default is always sent
    assert body["system"] == "Be brief."
    assert body["temperature"] == 1.0  # Anthropic takes at most 1
    assert body["stream"] is False
    assert body["messages"] == [{"role": "user", "content": [
        {"type": "text", "text": "Describe the photo."},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                     "data": PNG_B64}}]}]

    complete("anthropic", server, parts=[TEXT], stream=True, max_tokens=77)
    body = server.body()
    assert body["max_tokens"] == 77 and body["stream"] is True
    assert "system" not in body and "temperature" not in body


def test_anthropic_extra_headers_cannot_replace_the_key() -> None:
    server = Server(answer("anthropic"))

    async def go(adapter: Any) -> Completion:
        return await adapter.complete(MODEL["anthropic"], [TEXT], CallOptions(stream=False))

    asyncio.run(_with_adapter("anthropic", server, go,
                              headers={"anthropic-beta": "x", "x-api-key": "other"}))
    assert server.last.headers["x-api-key"] == KEY
    assert server.last.headers["anthropic-beta"] == "x"


def test_gemini_request_shape_key_only_in_header() -> None:
    server = Server(answer("gemini"))
    complete("gemini", server, stream=False, system="Be brief.", temperature=0.4,
             max_tokens=99)
    req, body = server.last, server.body()
    assert str(req.url) == "https://gemini.test/v1beta/models/gemini-2.0-flash:generateContent"
    assert req.headers["x-goog-api-key"] == KEY
    assert "authorization" not in req.headers
    assert body["contents"] == [{"role": "user", "parts": [
        {"text": "Describe the photo."},
        {"inlineData": {"mimeType": "image/png", "data": PNG_B64}}]}]
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert body["generationConfig"] == {"temperature": 0.4, "maxOutputTokens": 99}

    complete("gemini", server, parts=[TEXT], stream=True, model="models/gemini-2.5-pro")
    req, body = server.last, server.body()
    assert req.url.path == "/v1beta/models/gemini-2.5-pro:streamGenerateContent"
    assert dict(req.url.params) == {"alt": "sse"}
    assert "generationConfig" not in body and "systemInstruction" not in body
    for request in server.requests:
        assert KEY not in str(request.url)
        assert "key" not in request.url.params


def test_gemini_list_models_key_not_in_url() -> None:
    server = Server(lambda r: httpx.Response(200, json={"models": [
        {"name": "models/gemini-2.0-flash", "supportedGenerationMethods": ["generateContent"]}]}))
    list_models("gemini", server)
    assert KEY not in str(server.last.url) and "key" not in server.last.url.params
    assert server.last.headers["x-goog-api-key"] == KEY


def test_ollama_request_shape() -> None:
    server = Server(answer("ollama"))
    complete("ollama", server, key=None, stream=False, system="Be brief.", max_tokens=40,
             temperature=0.1)
    req, body = server.last, server.body()
    assert str(req.url) == "http://ollama.test:11434/api/chat"
    assert "authorization" not in req.headers
    assert body["model"] == "llama3.2-vision:11b"
    assert body["stream"] is False
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Describe the photo.", "images": [PNG_B64]}]
    assert body["options"] == {"temperature": 0.1, "num_predict": 40}

    complete("ollama", server, key=None, parts=[TEXT], stream=True)
    body = server.body()
    assert body["stream"] is True and "options" not in body
    assert "images" not in body["messages"][0]


def test_vision_request_shape_and_text_only_is_refused() -> None:
    server = Server(answer("gcp_vision"))
    done = complete("gcp_vision", server, parts=[TEXT, IMAGE])
    req, body = server.last, server.body()
    assert str(req.url) == "https://vision.test/v1/images:annotate"
    assert req.headers["x-goog-api-key"] == KEY and KEY not in str(req.url)
    assert body == {"requests": [{"image": {"content": PNG_B64}, "features": [
        {"type": "LABEL_DETECTION", "maxResults": 10, "model": "builtin/stable"}]}]}
    assert [(t.name, t.score) for t in done.tags] == [("dog", 0.97), ("grass", 0.81)]
    assert done.text == "dog, grass"
    assert done.usage == TokenUsage()
    assert done.ttft_ms is None and done.duration_ms > 0

    sent = len(server.requests)
    err = fail("gcp_vision", server, parts=[TEXT])
    assert isinstance(err, BadRequest)
    assert len(server.requests) == sent  # refused before anything was sent


def test_vision_per_image_error_is_bad_request() -> None:
    server = Server(lambda r: httpx.Response(200, json={"responses": [
        {"error": {"code": 3, "message": "Bad image data."}}]}))
    err = fail("gcp_vision", server)
    assert isinstance(err, BadRequest) and "Bad image data" in str(err)


# ---- answers and usage ------------------------------------------------------------------

EXPECTED_USAGE = {
    "openai": TokenUsage(input_tokens=100, output_tokens=30, cached_input_tokens=40,
                         reasoning_tokens=10),
    # Anthropic reports cache reads/writes apart from input_tokens: 10 + 100 + 50
    "anthropic": TokenUsage(input_tokens=160, output_tokens=20, cached_input_tokens=100),
    # Gemini leaves thoughts out of candidatesTokenCount: 20 + 30
    "gemini": TokenUsage(input_tokens=50, output_tokens=50, cached_input_tokens=10,
                         reasoning_tokens=30),
    "ollama": TokenUsage(input_tokens=12, output_tokens=5),
}
RESPONSE_MODEL = {"openai": "gpt-4o-mini-2024", "anthropic": "claude-haiku-4-5-20251001",
                  "gemini": "gemini-2.0-flash-001", "ollama": "llama3.2-vision:11b"}
FINISH = {"openai": "stop", "anthropic": "end_turn", "gemini": "STOP", "ollama": "stop"}
REQUEST_ID = {"openai": "chatcmpl-1", "anthropic": "msg_1", "gemini": "resp-1", "ollama": None}


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("ptype", STREAMING_TYPES)
def test_answer_text_usage_and_metadata(ptype: str, stream: bool) -> None:
    done = complete(ptype, Server(answer(ptype)), stream=stream)
    assert done.text == "Hello world"  # Gemini thought parts and Anthropic tool blocks left out
    assert done.usage == EXPECTED_USAGE[ptype]
    assert done.response_model == RESPONSE_MODEL[ptype]
    assert done.finish_reason == FINISH[ptype]
    assert done.request_id == REQUEST_ID[ptype]
    assert done.duration_ms > 0
    if stream:
        assert done.ttft_ms is not None and 0 < done.ttft_ms <= done.duration_ms
    else:
        assert done.ttft_ms is None


@pytest.mark.parametrize("ptype", STREAMING_TYPES)
def test_ttft_is_the_first_content_chunk(ptype: str) -> None:
    gap = 0.03
    frames = FRAMES[ptype]
    done = complete(ptype, Server(stream_of(frames, ptype, gap)), stream=True)
    first_content = {"openai": 2, "anthropic": 4, "gemini": 2, "ollama": 1}[ptype]
    assert done.text == "Hello world"
    assert done.ttft_ms is not None
    # the first content arrives after `first_content` gaps, the answer ends after all of them
    assert done.ttft_ms >= first_content * gap * 1000 * 0.9
    assert done.duration_ms - done.ttft_ms >= (len(frames) - first_content) * gap * 1000 * 0.9
    assert done.ttft_ms <= done.duration_ms


def test_openai_content_as_chunk_list_and_string_token_counts() -> None:
    doc = {**OPENAI_PLAIN, "choices": [{"index": 0, "finish_reason": "length", "message": {
        "role": "assistant", "content": [{"type": "text", "text": "Bon"},
                                         {"type": "text", "text": "jour"}]}}],
           "usage": {"prompt_tokens": "7", "completion_tokens": None}}
    done = complete("mistral", Server(lambda r: httpx.Response(200, json=doc)), stream=False)
    assert done.text == "Bonjour" and done.finish_reason == "length"
    assert done.usage == TokenUsage(input_tokens=7, output_tokens=0)


def test_gemini_blocked_prompt_has_block_reason() -> None:
    doc = {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 9}}
    done = complete("gemini", Server(lambda r: httpx.Response(200, json=doc)), stream=False)
    assert done.text == "" and done.finish_reason == "blocked:SAFETY"
    assert done.usage.input_tokens == 9


# ---- model lists and connection checks --------------------------------------------------


def test_openai_list_models() -> None:
    server = Server(lambda r: httpx.Response(200, json={"object": "list", "data": [
        {"id": "gpt-4o", "created": 1715367049}, {"id": "gpt-4o-mini"}, {"nope": 1}]}))
    models = list_models("openai", server)
    assert [(m.id, m.created) for m in models] == [("gpt-4o", 1715367049), ("gpt-4o-mini", None)]
    assert str(server.last.url) == "https://api.test/v1/models"
    assert server.last.headers["authorization"] == f"Bearer {KEY}"


def test_anthropic_list_models_follows_pages() -> None:
    pages = {None: {"data": [{"id": "claude-a", "display_name": "A"}], "has_more": True,
                    "last_id": "claude-a"},
             "claude-a": {"data": [{"id": "claude-b", "display_name": "B"}], "has_more": False,
                          "last_id": "claude-b"}}
    server = Server(lambda r: httpx.Response(200, json=pages[r.url.params.get("after_id")]))
    models = list_models("anthropic", server)
    assert [(m.id, m.display_name) for m in models] == [("claude-a", "A"), ("claude-b", "B")]
    assert len(server.requests) == 2
    assert all(r.headers["x-api-key"] == KEY for r in server.requests)


def test_gemini_list_models_follows_pages_and_skips_embedding_models() -> None:
    pages = {None: {"models": [
        {"name": "models/gemini-2.0-flash", "displayName": "Flash", "inputTokenLimit": 1000,
         "outputTokenLimit": 100, "supportedGenerationMethods": ["generateContent"]},
        {"name": "models/text-embedding-004", "supportedGenerationMethods": ["embedContent"]}],
        "nextPageToken": "p2"},
        "p2": {"models": [{"name": "models/gemini-2.5-pro"}]}}
    server = Server(lambda r: httpx.Response(200, json=pages[r.url.params.get("pageToken")]))
    models = list_models("gemini", server)
    assert [m.id for m in models] == ["gemini-2.0-flash", "gemini-2.5-pro"]
    assert models[0].context_window == 1000 and models[0].max_output_tokens == 100


def test_ollama_list_models_marks_vision_models() -> None:
    server = Server(lambda r: httpx.Response(200, json={"models": [
        {"name": "llama3.2-vision:11b", "model": "llama3.2-vision:11b",
         "details": {"families": ["mllama", "clip"]}},
        {"name": "llama3.2:3b", "model": "llama3.2:3b", "details": {"families": ["llama"]}}]}))
    models = list_models("ollama", server)
    assert [(m.id, m.input_types) for m in models] == [
        ("llama3.2-vision:11b", ("text", "image")), ("llama3.2:3b", ("text",))]
    assert str(server.last.url) == "http://ollama.test:11434/api/tags"


def test_check_ok_and_failed() -> None:
    ok = check("openai", Server(lambda r: httpx.Response(200, json={"data": [{"id": "a"}]})))
    assert ok.ok and ok.models == 1 and ok.latency_ms is not None and ok.error is None
    bad = check("openai", status("openai", 401, f"Incorrect API key provided: {KEY}"))
    assert not bad.ok and isinstance(bad.error, AuthenticationError)
    assert KEY not in bad.message and KEY not in repr(bad)


def test_vision_check_empty_request_distinguishes_good_and_bad_keys() -> None:
    good = Server(lambda r: httpx.Response(400, json=error_body("gcp_vision", 400,
                                                                "No requests specified.")))
    result = check("gcp_vision", good)
    assert result.ok, result.message
    assert json.loads(good.last.content) == {"requests": []}
    bad = Server(lambda r: httpx.Response(400, json={"error": {
        "code": 400, "message": "API key not valid. Please pass a valid API key.",
        "status": "INVALID_ARGUMENT",
        "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                     "reason": "API_KEY_INVALID"}]}}))
    result = check("gcp_vision", bad)
    assert not result.ok and isinstance(result.error, AuthenticationError)
    down = check("gcp_vision", status("gcp_vision", 503))
    assert not down.ok and isinstance(down.error, Unavailable)


# ---- error mapping ----------------------------------------------------------------------

STATUS_CASES = [(400, BadRequest), (401, AuthenticationError), (403, AuthenticationError),
                (404, BadRequest), (408, Timeout), (422, BadRequest), (500, Unavailable),
                (502, Unavailable), (503, Unavailable), (504, Timeout), (529, Unavailable)]


def modes(ptypes: list[str]) -> list:
    return [pytest.param(p, s, id=f"{p}-{'stream' if s else 'plain'}") for p in ptypes
            for s in ((False, True) if p != "gcp_vision" else (False,))]


@pytest.mark.parametrize(("code", "kind"), STATUS_CASES)
@pytest.mark.parametrize(("ptype", "stream"), modes(PROTOCOL_TYPES))
def test_status_maps_onto_taxonomy(ptype: str, stream: bool, code: int, kind: type) -> None:
    err = fail(ptype, status(ptype, code, "the provider's own words"), stream=stream)
    assert type(err) is kind
    assert err.status == code
    assert "the provider's own words" in str(err)


@pytest.mark.parametrize(("ptype", "stream"), modes(PROTOCOL_TYPES))
def test_429_retry_after_header(ptype: str, stream: bool) -> None:
    err = fail(ptype, status(ptype, 429, headers={"retry-after": "3"}), stream=stream)
    assert isinstance(err, RateLimited) and err.status == 429
    assert err.retry_after == 3.0
    assert err.retryable


def test_429_retry_after_http_date_and_missing() -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    err = fail("openai", status("openai", 429, headers={"retry-after": when}), stream=False)
    assert isinstance(err, RateLimited) and 20 <= (err.retry_after or 0) <= 31
    err = fail("anthropic", status("anthropic", 429), stream=False)
    assert isinstance(err, RateLimited) and err.retry_after is None


@pytest.mark.parametrize("ptype", ["gemini", "gcp_vision"])
def test_google_429_retry_info(ptype: str) -> None:
    body = {"error": {"code": 429, "message": "You exceeded your current quota",
                      "status": "RESOURCE_EXHAUSTED", "details": [
                          {"@type": "type.googleapis.com/google.rpc.QuotaFailure"},
                          {"@type": "type.googleapis.com/google.rpc.RetryInfo",
                           "retryDelay": "7s"}]}}
    err = fail(ptype, status(ptype, 429, body=body), stream=False)
    assert isinstance(err, RateLimited) and err.retry_after == 7.0


@pytest.mark.parametrize(("ptype", "stream"), modes(["gemini", "gcp_vision"]))
def test_google_api_key_invalid_is_authentication(ptype: str, stream: bool) -> None:
    body = {"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.",
                      "status": "INVALID_ARGUMENT", "details": [
                          {"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                           "reason": "API_KEY_INVALID", "domain": "googleapis.com"}]}}
    err = fail(ptype, status(ptype, 400, body=body), stream=stream)
    assert isinstance(err, AuthenticationError) and err.status == 400


@pytest.mark.parametrize("ptype", PROTOCOL_TYPES)
def test_truncated_json_is_malformed(ptype: str) -> None:
    text = json.dumps(PLAIN[ptype])
    server = Server(lambda r: httpx.Response(200, content=text[: len(text) // 2].encode(),
                                             headers={"content-type": "application/json"}))
    err = fail(ptype, server, stream=False)
    assert isinstance(err, MalformedResponse) and err.status == 200


@pytest.mark.parametrize("ptype", PROTOCOL_TYPES)
def test_wrong_json_shape_is_malformed(ptype: str) -> None:
    err = fail(ptype, Server(lambda r: httpx.Response(200, json=["not", "an", "answer"])),
               stream=False)
    assert isinstance(err, MalformedResponse)


@pytest.mark.parametrize("ptype", STREAMING_TYPES)
def test_stream_cut_before_finish_is_malformed(ptype: str) -> None:
    err = fail(ptype, Server(stream_of(CUT[ptype], ptype)), stream=True)
    assert isinstance(err, MalformedResponse)


@pytest.mark.parametrize("ptype", STREAMING_TYPES)
def test_stream_chunk_cut_in_half_is_malformed(ptype: str) -> None:
    frames = list(FRAMES[ptype])
    mid = len(frames) // 2
    frames[mid] = frames[mid][: len(frames[mid]) // 2] + b"\n\n"
    err = fail(ptype, Server(stream_of(frames[: mid + 1], ptype)), stream=True)
    assert isinstance(err, MalformedResponse)


@pytest.mark.parametrize(("kind", "expected", "code"), [
    ("overloaded_error", Unavailable, 529), ("api_error", Unavailable, 500),
    ("rate_limit_error", RateLimited, 429)])
def test_anthropic_stream_error_event(kind: str, expected: type, code: int) -> None:
    frames = [*ANTHROPIC_FRAMES[:4], sse({"type": "error", "error": {
        "type": kind, "message": "Overloaded"}}, "error")]
    err = fail("anthropic", Server(stream_of(frames, "anthropic")), stream=True)
    assert type(err) is expected and err.status == code
    assert "Overloaded" in str(err)


@pytest.mark.parametrize("ptype", ["openai", "ollama"])
def test_error_inside_a_200_stream(ptype: str) -> None:
    if ptype == "openai":
        frames = [OPENAI_FRAMES[1], sse({"error": {"message": "upstream died", "code": 500}})]
    else:
        frames = [OLLAMA_FRAMES[0], ndjson({"error": "upstream died"})]
    err = fail(ptype, Server(stream_of(frames, ptype)), stream=True)
    assert isinstance(err, Unavailable) and "upstream died" in str(err)


def test_error_code_inside_a_200_stream_keeps_its_meaning() -> None:
    frames = [OPENAI_FRAMES[1], sse({"error": {"message": "slow down", "code": 429}})]
    err = fail("openai", Server(stream_of(frames, "openai")), stream=True)
    assert isinstance(err, RateLimited) and err.status == 429 and "slow down" in str(err)


def test_gemini_error_inside_a_200_stream() -> None:
    frames = [GEMINI_FRAMES[1], gsse({"error": {"code": 503, "message": "overloaded",
                                                "status": "UNAVAILABLE"}})]
    err = fail("gemini", Server(stream_of(frames, "gemini")), stream=True)
    assert isinstance(err, Unavailable) and err.status == 503


def raising(exc_type: type[httpx.TransportError], message: str = "boom") -> Server:
    def respond(request: httpx.Request) -> httpx.Response:
        raise exc_type(message, request=request)

    return Server(respond)


@pytest.mark.parametrize(("ptype", "stream"), modes(PROTOCOL_TYPES))
def test_connection_error_is_unavailable(ptype: str, stream: bool) -> None:
    err = fail(ptype, raising(httpx.ConnectError, "[Errno 111] Connection refused"),
               stream=stream)
    assert isinstance(err, Unavailable) and err.retryable
    assert err.__cause__ is None and err.__context__ is None  # no httpx request chained


@pytest.mark.parametrize(("ptype", "stream"), modes(PROTOCOL_TYPES))
def test_read_timeout_is_timeout(ptype: str, stream: bool) -> None:
    err = fail(ptype, raising(httpx.ReadTimeout, "timed out"), stream=stream)
    assert isinstance(err, Timeout) and err.retryable


@pytest.mark.parametrize("ptype", ["openai", "mistral", "ollama"])
def test_list_models_connection_error_and_timeout(ptype: str) -> None:
    with pytest.raises(Unavailable):
        list_models(ptype, raising(httpx.ConnectError))
    with pytest.raises(Timeout):
        list_models(ptype, raising(httpx.ReadTimeout))


@pytest.mark.parametrize("ptype", STREAMING_TYPES)
def test_stalled_stream_hits_the_overall_deadline(ptype: str) -> None:
    """The deadline covers the whole answer, not each read: a slow trickle times out."""
    frames = FRAMES[ptype]
    err = fail(ptype, Server(stream_of(frames, ptype, gap=0.1)), stream=True, timeout_s=0.25)
    assert isinstance(err, Timeout)
    assert "0.25" in str(err)


# ---- the key never leaks ----------------------------------------------------------------


def echoing_failures(ptype: str) -> list[tuple[str, Server, dict]]:
    """Ways a provider can fail while echoing the key back."""
    echo = f"Incorrect API key provided: {KEY}. Key {KEY[:12]}... is not valid"
    cases = [
        (f"{code}", status(ptype, code, echo, headers={"retry-after": "1"}), {"stream": False})
        for code in (400, 401, 403, 404, 429, 500, 503)
    ]
    cases.append(("truncated", Server(lambda r: httpx.Response(
        200, content=f'{KEY} {{"choices": [{{"trunc'.encode())), {"stream": False}))
    cases.append(("text-error", Server(lambda r: httpx.Response(
        502, text=f"<html>bad gateway for {KEY}</html>")), {"stream": False}))
    cases.append(("connect", raising(httpx.ConnectError, f"cannot connect with {KEY}"),
                  {"stream": False}))
    cases.append(("timeout", raising(httpx.ReadTimeout, f"timed out {KEY}"), {"stream": False}))
    proto = protocol(ptype)
    if proto != "gcp_vision":
        cases.append(("stream-401", status(ptype, 401, echo), {"stream": True}))
        broken = {"openai": sse(f'{{"choices": "{KEY}'),
                  "anthropic": sse(f'{{"type": "content_block_delta", "x": "{KEY}',
                                   "content_block_delta"),
                  "gemini": gsse({"candidates": [{"content": {"parts": [{"text": "a"}]}}]})
                  [:20] + f'"{KEY}'.encode() + b"\r\n\r\n",
                  "ollama": f'{{"message": "{KEY}'.encode() + b"\n"}[proto]
        cases.append(("stream-broken", Server(stream_of([broken], ptype)), {"stream": True}))
        in_stream = {"openai": sse({"error": {"message": echo}}),
                     "anthropic": sse({"type": "error", "error": {
                         "type": "overloaded_error", "message": echo}}, "error"),
                     "gemini": gsse({"error": {"code": 500, "message": echo}}),
                     "ollama": ndjson({"error": echo})}[proto]
        cases.append(("stream-error", Server(stream_of([in_stream], ptype)), {"stream": True}))
    return cases


def key_fragments(text: str) -> list[str]:
    """Pieces of the key's random part (8+ characters) that ``text`` contains."""
    secret = KEY[len("sk-canary-"):]
    return [secret[i:i + 8] for i in range(len(secret) - 7) if secret[i:i + 8] in text]


def assert_no_key(exc: BaseException) -> None:
    assert not key_fragments(str(exc)), "part of the key leaked"
    assert KEY not in str(exc)
    assert KEY not in repr(exc)
    assert all(KEY not in str(a) for a in exc.args)
    assert KEY[:12] not in str(exc)
    assert KEY not in "".join(traceback.format_exception(exc))
    if isinstance(exc, ProviderError):
        assert KEY not in exc.message and KEY not in exc.user_message()
    # nothing chains back to an httpx request (its headers hold the key) or a raw body
    assert exc.__cause__ is None and exc.__context__ is None, repr(exc.__context__)


@pytest.mark.parametrize("ptype", ALL_TYPES)
def test_key_never_in_errors_or_repr(ptype: str) -> None:
    cases = echoing_failures(ptype)
    assert len(cases) >= 11
    for name, server, options in cases:
        with pytest.raises(ProviderError) as info:
            complete(ptype, server, **options)
        try:
            assert_no_key(info.value)
        except AssertionError:
            raise AssertionError(f"{ptype}: the key leaked in case {name!r}") from None
    result = check(ptype, status(ptype, 401, f"Incorrect API key provided: {KEY}"))
    assert not result.ok and result.error is not None
    assert KEY not in result.message and KEY not in repr(result)
    assert_no_key(result.error)

    async def describe(adapter: Any) -> str:
        return repr(adapter) + str(adapter)

    text = asyncio.run(_with_adapter(ptype, Server(answer(ptype)), describe))
    assert KEY not in text and "base_url" in text


@pytest.mark.parametrize("offset", [1, 20, 40, 52, 58])
@pytest.mark.parametrize(("ptype", "where"), [
    (p, w) for p in PROTOCOL_TYPES for w in ("malformed", "text-error", "stream")
    if not (p == "gcp_vision" and w == "stream")])
def test_key_cut_off_by_truncation_does_not_leak(ptype: str, where: str, offset: int) -> None:
    """Error messages quote only the start of a bad body; a key straddling the cut must not
    survive as a fragment that no longer matches the whole key."""
    if where == "malformed":  # parse_json quotes the first 60 characters
        server = Server(lambda r: httpx.Response(200, content=("x" * offset + KEY).encode()))
    elif where == "text-error":  # error_message keeps the first 300 characters
        server = Server(lambda r: httpx.Response(
            502, text="<html>" + "y" * (240 + offset) + f" {KEY} </html>"))
    else:  # load_json quotes the first 60 characters of a broken chunk
        line = "z" * offset + KEY
        chunk = line.encode() + b"\n" if protocol(ptype) == "ollama" else sse(line)
        server = Server(stream_of([chunk], ptype))
    err = fail(ptype, server, stream=where == "stream")
    assert isinstance(err, MalformedResponse | Unavailable)
    assert_no_key(err)


def test_undecodable_body_is_malformed() -> None:
    """A gzip body cut off by a proxy is a malformed answer, not a stray httpx error."""
    server = Server(lambda r: httpx.Response(200, content=b"\x1f\x8b\x08 not really gzip",
                                             headers={"content-encoding": "gzip"}))
    for ptype in PROTOCOL_TYPES:
        err = fail(ptype, server, stream=False)
        assert isinstance(err, MalformedResponse), ptype
    err = fail("openai", server, stream=True)
    assert isinstance(err, MalformedResponse)


def test_echoed_key_is_redacted_not_dropped() -> None:
    err = fail("openai", status("openai", 401, f"Incorrect API key provided: {KEY}."),
               stream=False)
    assert "Incorrect API key provided: [redacted]" in str(err)


def test_short_non_keylike_key_is_scrubbed_too() -> None:
    key = "hunter2"
    err = fail("anthropic", status("anthropic", 401, f"invalid x-api-key {key}"), key=key,
               stream=False)
    assert key not in str(err) and key not in repr(err)
