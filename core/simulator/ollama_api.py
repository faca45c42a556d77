"""Ollama's native API: ``/api/tags``, ``/api/chat`` (NDJSON stream by default, images as
base64 strings), ``/api/pull`` (a model from :data:`LIBRARY`, its progress streamed as NDJSON,
listed in ``/api/tags`` once it succeeded), ``/api/version``; no auth, errors as
``{"error": "..."}``. Its OpenAI-compatible ``/v1`` lives in :mod:`core.simulator.openai_api`."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from core.simulator.common import (
    Frames,
    Reject,
    before_body,
    chunk_text,
    decode_b64,
    json_response,
    malformed_response,
    paced,
    pause,
    read_json,
    since_arrival,
    stream_response,
)
from core.simulator.engine import Ask, Call, Simulator
from core.simulator.profiles import ModelProfile

VERSION = "0.12.6"
_MESSAGES = {500: "llama runner process has terminated: exit status 2",
             503: "server busy, please try again.  maximum pending requests exceeded",
             429: "too many requests"}


def error(status: int, message: str) -> Response:
    return json_response({"error": message}, status)


def _failure(call: Call) -> Response:
    headers = {"retry-after": f"{call.retry_after_s or 0:g}"} if call.kind == "rate_limit" else {}
    return json_response({"error": _MESSAGES.get(call.status, "unexpected server error")},
                         call.status, headers)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse(body: Any) -> tuple[Ask, bool]:
    if not isinstance(body, dict):
        raise Reject(400, "invalid request body")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise Reject(400, "model is required")
    messages = body.get("messages") or []
    if not isinstance(messages, list):
        raise Reject(400, "json: cannot unmarshal messages")
    system, texts, images = [], [], []
    for msg in messages:
        if not isinstance(msg, dict) or msg.get("role") not in ("system", "user", "assistant",
                                                                 "tool"):
            raise Reject(400, "invalid message: role must be one of system, user, assistant, "
                         "tool")
        content = msg.get("content", "")
        if not isinstance(content, str):
            raise Reject(400, "json: cannot unmarshal array into Go struct field "
                         "Message.messages.content of type string")
        for item in msg.get("images") or []:
            data = decode_b64(item) if isinstance(item, str) else None
            if not data:
                raise Reject(400, "illegal base64 data in images")
            images.append(data)
        if msg["role"] == "system":
            system.append(content)
        else:
            texts.append((msg["role"], content))
    options = body.get("options") or {}
    cap = options.get("num_predict") if isinstance(options, dict) else None
    temperature = options.get("temperature") if isinstance(options, dict) else None
    last_user = max((k for k, (r, _) in enumerate(texts) if r == "user"), default=None)
    ask = Ask(model=model, prompt=texts[last_user][1] if last_user is not None else "",
              history=tuple(t for k, (_, t) in enumerate(texts) if k != last_user),
              system="\n".join(system), images=tuple(images),
              max_tokens=cap if isinstance(cap, int) and cap > 0 else None,
              temperature=float(temperature) if isinstance(temperature, int | float) else None,
              json_mode=body.get("format") == "json" or isinstance(body.get("format"), dict),
              messages=len(messages))
    return ask, body.get("stream", True) is not False


def _final(call: Call, model: str, text: str) -> dict[str, Any]:
    ttft_ns = int(call.modelled_ttft_ms * 1e6)
    gen_ns = int(call.modelled_gen_ms * 1e6)
    load_ns = int(ttft_ns * 0.1)
    return {"model": model, "created_at": _now(),
            "message": {"role": "assistant", "content": text},
            "done_reason": "stop" if call.finish == "stop" else "length", "done": True,
            "total_duration": ttft_ns + gen_ns, "load_duration": load_ns,
            "prompt_eval_count": call.usage.input_tokens,
            "prompt_eval_duration": ttft_ns - load_ns,
            "eval_count": call.usage.output_tokens, "eval_duration": gen_ns}


def _frames(call: Call, model: str) -> Frames:
    def line(doc: dict) -> bytes:
        return json.dumps(doc, separators=(",", ":")).encode() + b"\n"

    content = [line({"model": model, "created_at": _now(),
                     "message": {"role": "assistant", "content": piece}, "done": False})
               for piece in chunk_text(call.text, 1)]
    return Frames([], content, [line(_final(call, model, ""))], b"\n")


@dataclass(frozen=True)
class LibraryModel:
    """A model the simulated registry can pull: its size, families and parameter count."""

    size: int
    families: tuple[str, ...]
    parameter_size: str

    @property
    def vision(self) -> bool:
        return bool({"clip", "mllama", "qwen25vl", "gemma3"} & set(self.families))


# What ``/api/pull`` can fetch (the real registry has thousands; these cover text, vision and
# reasoning). A name without a tag means ``:latest``, as in Ollama.
LIBRARY: dict[str, LibraryModel] = {
    "llama3.2:latest": LibraryModel(2_019_393_189, ("llama",), "3.2B"),
    "llama3.2:3b": LibraryModel(2_019_393_189, ("llama",), "3.2B"),
    "llama3.2:1b": LibraryModel(1_321_098_329, ("llama",), "1.2B"),
    "llama3.2-vision:11b": LibraryModel(7_901_829_417, ("mllama", "clip"), "10.7B"),
    "gemma3:4b": LibraryModel(3_338_801_804, ("gemma3",), "4.3B"),
    "qwen2.5vl:7b": LibraryModel(5_969_245_856, ("qwen25vl",), "8.3B"),
    "llava:7b": LibraryModel(4_733_363_377, ("llama", "clip"), "7B"),
    "mistral:7b": LibraryModel(4_113_301_824, ("llama",), "7.2B"),
    "deepseek-r1:8b": LibraryModel(5_225_376_047, ("qwen3",), "8.2B"),
}
PULL_LAYERS = 2  # a model and its small parameters/template layer, as real pulls show
PULL_STEPS = 3  # progress lines per layer


def library_model(name: str) -> tuple[str, LibraryModel] | None:
    """(the id it is listed under, its entry) of a pullable name, else None."""
    mid = name.strip()
    if mid and ":" not in mid:
        mid += ":latest"
    entry = LIBRARY.get(mid)
    return (mid, entry) if entry is not None else None


def _tag(m: ModelProfile) -> dict[str, Any]:
    digest = hashlib.sha256(m.id.encode()).hexdigest()
    known = LIBRARY.get(m.id)
    if known is None:
        vision = "vision" in m.id
        known = LibraryModel(7_901_829_417 if "11b" in m.id else 2_019_393_189,
                             ("mllama", "clip") if vision else ("llama",),
                             "10.7B" if "11b" in m.id else "3.2B")
    return {"name": m.id, "model": m.id,
            "modified_at": datetime.fromtimestamp(m.created, UTC).strftime(
                "%Y-%m-%dT%H:%M:%S.%f000Z"),
            "size": known.size, "digest": digest,
            "details": {"parent_model": "", "format": "gguf", "family": known.families[0],
                        "families": list(known.families),
                        "parameter_size": known.parameter_size,
                        "quantization_level": "Q4_K_M"}}


def _line(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode() + b"\n"


def _pull_frames(mid: str, entry: LibraryModel) -> tuple[Frames, bytes]:
    """The progress of one pull (and its closing ``success`` line, to spot in the stream)."""
    content: list[bytes] = []
    sizes = (entry.size - 1_024 * (PULL_LAYERS - 1),) + (1_024,) * (PULL_LAYERS - 1)
    for layer, total in enumerate(sizes):
        digest = "sha256:" + hashlib.sha256(f"{mid}/{layer}".encode()).hexdigest()
        status = f"pulling {digest[7:19]}"
        content += [_line({"status": status, "digest": digest, "total": total,
                           "completed": total * step // PULL_STEPS})
                    for step in range(PULL_STEPS + 1)]
    success = _line({"status": "success"})
    tail = [_line({"status": "verifying sha256 digest"}), _line({"status": "writing manifest"}),
            success]
    return Frames([_line({"status": "pulling manifest"})], content, tail, b"\n"), success


def routes(sim: Simulator, provider: str = "ollama") -> list[Route]:
    async def chat(request: Request) -> Response:
        try:
            body = await read_json(request, lambda e: Reject(400, f"invalid character: {e}"))
            ask, stream = parse(body)
            request.state.model = ask.model
            profile = sim.resolve(provider, ask.model)
            if profile is None:
                raise Reject(404, f'model "{ask.model}" not found, try pulling it first')
            if ask.images and not profile.vision:
                raise Reject(500, f'model "{ask.model}" does not support images')
        except Reject as r:
            return error(r.status, r.message)
        call = sim.start_call(provider, profile, ask)
        if call.kind in ("error", "rate_limit"):
            await pause(call.ttft_s - since_arrival())
            return _failure(call)
        if stream:
            return stream_response(_frames(call, ask.model), call, sim.hang_s,
                                   "application/x-ndjson")
        early = await before_body(request, call, sim.hang_s, error)
        if early is not None:
            return early
        doc = _final(call, ask.model, call.text)
        return malformed_response(doc) if call.kind == "malformed" else json_response(doc)

    async def tags(request: Request) -> Response:
        call = sim.start_meta(provider, "tags")
        if call.kind in ("error", "rate_limit"):
            await pause(call.ttft_s - since_arrival())
            return _failure(call)
        early = await before_body(request, call, sim.hang_s, error)
        if early is not None:
            return early
        doc = {"models": [_tag(m) for m in sim.listed(provider)]}
        return malformed_response(doc) if call.kind == "malformed" else json_response(doc)

    async def pull(request: Request) -> Response:
        try:
            body = await read_json(request, lambda e: Reject(400, f"invalid character: {e}"))
            if not isinstance(body, dict):
                raise Reject(400, "invalid request body")
            name = body.get("model") or body.get("name")  # "name" in older clients
            if not isinstance(name, str) or not name.strip():
                raise Reject(400, "model is required")
        except Reject as r:
            return error(r.status, r.message)
        request.state.model = name
        call = sim.start_meta(provider, "pull")
        if call.kind in ("error", "rate_limit"):
            await pause(call.ttft_s - since_arrival())
            return _failure(call)
        found = library_model(name)
        stream = body.get("stream", True) is not False
        if found is None:  # as Ollama: the manifest lookup fails after the stream began
            missing = {"error": "pull model manifest: file does not exist"}
            if not stream:
                return error(500, missing["error"])
            return StreamingResponse(iter([_line({"status": "pulling manifest"}),
                                           _line(missing)]), media_type="application/x-ndjson")
        mid, entry = found
        frames, success = _pull_frames(mid, entry)
        if not stream:
            early = await before_body(request, call, sim.hang_s, error)
            if early is not None:
                return early
            sim.add_pulled(provider, mid, vision=entry.vision)
            return json_response({"status": "success"})

        async def progress() -> AsyncIterator[bytes]:
            async for frame in paced(frames, call, sim.hang_s):
                if frame == success:  # listed before the client can read that it succeeded
                    sim.add_pulled(provider, mid, vision=entry.vision)
                yield frame

        return StreamingResponse(progress(), media_type="application/x-ndjson",
                                 headers={"cache-control": "no-cache"})

    async def version(request: Request) -> Response:
        return json_response({"version": VERSION})

    async def root(request: Request) -> Response:
        return PlainTextResponse("Ollama is running")

    return [
        Route("/ollama/api/chat", chat, methods=["POST"]),
        Route("/ollama/api/tags", tags, methods=["GET"]),
        Route("/ollama/api/pull", pull, methods=["POST"]),
        Route("/ollama/api/version", version, methods=["GET"]),
        Route("/ollama", root, methods=["GET", "HEAD"]),
        Route("/ollama/", root, methods=["GET", "HEAD"]),
    ]
