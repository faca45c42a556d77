"""Every provider adapter against one provider simulator on 127.0.0.1: connection checks,
model lists, plain and streamed answers with text and images, bad keys, and injected faults
(429, 5xx, hangs, cut-off answers), each ending as the right error without the key in it."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from core.provider_names import PROVIDER_TYPES, KeyPolicy, ProviderType
from core.providers.base import CallOptions, Completion, ImagePart, Part, TextPart
from core.providers.errors import (
    AuthenticationError,
    BadRequest,
    MalformedResponse,
    ProviderError,
    RateLimited,
    Timeout,
    Unavailable,
)
from core.providers.registry import capabilities, make_adapter
from core.simulator.server import SimulatorHandle, start_background
from core.simulator.urls import base_urls
from tests.helpers import forbid_non_loopback, png

pytestmark = pytest.mark.timeout(60)

KEY = "sk-canary-SIMULATOR-7f3c9a1b2d4e6f80a1b2"
HANG_S = 5.0
# One TLS context for every client: building one per client costs ~65 ms (the simulator is
# plain HTTP anyway), and no proxy settings from the environment (loopback only).
_TLS = ssl.create_default_context()




IMAGE = ImagePart(png(40, 160, 90), "image/png")
TEXT = TextPart("Explain what latency percentiles are in two sentences.")
PHOTO_PROMPT = TextPart("List the objects in this photo.")

# provider type -> a model the simulator serves that reads images
MODELS = {
    "openai": "gpt-4o-mini",
    "anthropic": "claude-haiku-4-5",
    "gemini": "gemini-2.0-flash",
    "mistral": "mistral-small-latest",
    "clarifai": "https://clarifai.com/meta/Llama-3/models/Llama-3_2-11B-Vision-Instruct",
    "ollama": "llama3.2-vision:11b",
    "openai_compatible": "qwen2.5-vl-7b-instruct",
    "gcp_vision": "builtin/stable",
}
TYPES = list(MODELS)
KEYED = [t for t in TYPES if PROVIDER_TYPES[ProviderType(t)].key_policy is KeyPolicy.required
         or t == "openai_compatible"]
STREAMING = [t for t in TYPES if capabilities(t).streaming]
TEXT_TYPES = [t for t in TYPES if not capabilities(t).tagging_only]
LISTED = [t for t in TYPES if t != "gcp_vision"]  # Vision's label models are a fixed list


def modes(ptypes: list[str]) -> list:
    """(provider type, stream) pairs: streamed too where the provider streams."""
    return [pytest.param(t, s, id=f"{t}-{'stream' if s else 'plain'}") for t in ptypes
            for s in ((False, True) if t in STREAMING else (False,))]


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    forbid_non_loopback(monkeypatch)


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorHandle]:
    with start_background(0, seed=1, latency_scale=0.05, hang_s=HANG_S,
                          samples_dir=None) as handle:
        yield handle


@pytest.fixture(autouse=True)
def no_faults(sim: SimulatorHandle) -> Iterator[None]:
    sim.simulator.clear_faults()
    yield
    sim.simulator.clear_faults()


def key_for(ptype: str) -> str | None:
    return None if ptype == "ollama" else KEY


async def _run(sim: SimulatorHandle, ptype: str, action: Any, key: str | None = "default"
               ) -> Any:
    async with httpx.AsyncClient(verify=_TLS, trust_env=False) as client:
        adapter = make_adapter(ptype, client, base_url=base_urls(sim.url)[ptype],
                               api_key=key_for(ptype) if key == "default" else key)
        return await action(adapter)


def complete(sim: SimulatorHandle, ptype: str, parts: list[Part], *, model: str | None = None,
             key: str | None = "default", **options: Any) -> Completion:
    async def go(adapter: Any) -> Completion:
        return await adapter.complete(model or MODELS[ptype], parts, CallOptions(**options))

    return asyncio.run(_run(sim, ptype, go, key))


def failure(sim: SimulatorHandle, ptype: str, parts: list[Part] | None = None, **kw: Any
            ) -> ProviderError:
    with pytest.raises(ProviderError) as info:
        complete(sim, ptype, parts or default_parts(ptype), **kw)
    err = info.value
    assert KEY not in str(err) and KEY not in repr(err)
    assert all(KEY not in str(a) for a in err.args)
    return err


def default_parts(ptype: str) -> list[Part]:
    return [PHOTO_PROMPT, IMAGE] if ptype == "gcp_vision" else [TEXT]


# ---- connection checks and model lists --------------------------------------------------


@pytest.mark.parametrize("ptype", TYPES)
def test_check_and_list_models(sim: SimulatorHandle, ptype: str) -> None:
    result = asyncio.run(_run(sim, ptype, lambda a: a.check()))
    assert result.ok, result.message
    assert result.error is None and result.latency_ms is not None and result.latency_ms > 0
    models = asyncio.run(_run(sim, ptype, lambda a: a.list_models()))
    ids = [m.id for m in models]
    assert ids and result.models == len(ids)
    if ptype != "anthropic":  # Anthropic lists dated snapshots, not the alias
        assert MODELS[ptype] in ids
    else:
        assert any(i.startswith(MODELS[ptype]) for i in ids)
    if ptype != "gcp_vision":
        listed = {n for m in sim.simulator.listed(ptype) for n in m.names}
        assert set(ids) <= listed


# ---- answers ----------------------------------------------------------------------------


def assert_answer(done: Completion, ptype: str, stream: bool) -> None:
    assert done.duration_ms > 0
    if ptype == "gcp_vision":
        assert done.tags, "Cloud Vision returned no tags"
        assert all(t.name and 0 < t.score <= 1 for t in done.tags)
        assert done.text == ", ".join(t.name for t in done.tags)
        assert done.usage.input_tokens == 0 and done.usage.output_tokens == 0
        assert done.ttft_ms is None
        return
    assert done.text.strip()
    assert done.usage.input_tokens > 0 and done.usage.output_tokens > 0
    assert done.finish_reason
    assert done.response_model
    if stream:
        assert done.ttft_ms is not None and 0 < done.ttft_ms <= done.duration_ms
    else:
        assert done.ttft_ms is None


@pytest.mark.parametrize(("ptype", "stream"), modes(TEXT_TYPES))
def test_text_answer(sim: SimulatorHandle, ptype: str, stream: bool) -> None:
    done = complete(sim, ptype, [TEXT], stream=stream, system="Answer briefly.")
    assert_answer(done, ptype, stream)


@pytest.mark.parametrize(("ptype", "stream"), modes(TYPES))
def test_image_answer(sim: SimulatorHandle, ptype: str, stream: bool) -> None:
    done = complete(sim, ptype, [PHOTO_PROMPT, IMAGE], stream=stream)
    assert_answer(done, ptype, stream)
    if ptype != "gcp_vision":  # the image is billed as input tokens
        text_only = complete(sim, ptype, [PHOTO_PROMPT], stream=stream)
        assert done.usage.input_tokens > text_only.usage.input_tokens


@pytest.mark.parametrize(("ptype", "stream"), modes(TEXT_TYPES))
def test_max_tokens_caps_the_answer(sim: SimulatorHandle, ptype: str, stream: bool) -> None:
    done = complete(sim, ptype, [TEXT], stream=stream, max_tokens=5, temperature=0)
    assert 0 < done.usage.output_tokens <= 5
    assert done.finish_reason in ("length", "max_tokens", "MAX_TOKENS")


def test_text_only_model_refuses_images(sim: SimulatorHandle) -> None:
    err = failure(sim, "mistral", [PHOTO_PROMPT, IMAGE], model="mistral-large-latest",
                  stream=False)
    assert isinstance(err, BadRequest) and err.status == 400
    ok = complete(sim, "mistral", [TEXT], model="mistral-large-latest", stream=True)
    assert ok.text


def test_gpt5_temperature_is_dropped_and_max_completion_tokens_used(sim: SimulatorHandle
                                                                    ) -> None:
    # The simulator refuses temperature != 1 and max_tokens for gpt-5, as OpenAI does.
    done = complete(sim, "openai", [TEXT], model="gpt-5", stream=True, temperature=0.2,
                    max_tokens=2000)
    assert done.text and done.usage.reasoning_tokens > 0
    assert done.usage.output_tokens >= done.usage.reasoning_tokens


# ---- authentication ---------------------------------------------------------------------


@pytest.mark.parametrize(("ptype", "stream"), modes(KEYED))
def test_bad_key_is_authentication_error(sim: SimulatorHandle, ptype: str, stream: bool
                                         ) -> None:
    with pytest.raises(AuthenticationError) as info:
        complete(sim, ptype, default_parts(ptype), key="bad-key", stream=stream)
    err = info.value
    assert err.status in (400, 401, 403)
    assert "bad-key" not in str(err) and "bad-key" not in repr(err)


@pytest.mark.parametrize("ptype", KEYED)
def test_bad_key_fails_the_check(sim: SimulatorHandle, ptype: str) -> None:
    result = asyncio.run(_run(sim, ptype, lambda a: a.check(), key="bad-key"))
    assert not result.ok and isinstance(result.error, AuthenticationError)
    assert "bad-key" not in result.message


# ---- faults -----------------------------------------------------------------------------


@pytest.mark.parametrize(("ptype", "stream"), modes(TYPES))
def test_rate_limit_fault(sim: SimulatorHandle, ptype: str, stream: bool) -> None:
    sim.simulator.add_fault({"provider": ptype, "rate_limit_rate": 1, "retry_after_s": 3})
    err = failure(sim, ptype, stream=stream)
    assert isinstance(err, RateLimited) and err.status == 429
    assert err.retry_after == 3.0


@pytest.mark.parametrize("code", [500, 503])
@pytest.mark.parametrize(("ptype", "stream"), modes(TYPES))
def test_server_error_fault(sim: SimulatorHandle, ptype: str, stream: bool, code: int) -> None:
    sim.simulator.add_fault({"provider": ptype, "status": code})
    err = failure(sim, ptype, stream=stream)
    assert isinstance(err, Unavailable) and err.status == code and err.retryable


def test_anthropic_overloaded_529(sim: SimulatorHandle) -> None:
    sim.simulator.add_fault({"provider": "anthropic", "status": 529})
    for stream in (False, True):
        err = failure(sim, "anthropic", stream=stream)
        assert isinstance(err, Unavailable) and err.status == 529


def test_fault_on_one_model_leaves_others_alone(sim: SimulatorHandle) -> None:
    sim.simulator.add_fault({"provider": "openai", "model": "gpt-4o-mini", "status": 503})
    assert isinstance(failure(sim, "openai", stream=False), Unavailable)
    assert complete(sim, "openai", [TEXT], model="gpt-4o", stream=False).text
    # listing is untouched by a rule naming a model
    assert asyncio.run(_run(sim, "openai", lambda a: a.check())).ok


@pytest.mark.parametrize("ptype", TYPES)
def test_timeout_fault(sim: SimulatorHandle, ptype: str) -> None:
    """A hanging provider ends as Timeout at the call's deadline, streamed or not (both
    modes run concurrently to keep the file fast)."""
    sim.simulator.add_fault({"provider": ptype, "timeout_rate": 1})
    streams = (False, True) if ptype in STREAMING else (False,)

    async def one(stream: bool) -> tuple[BaseException | Completion, float]:
        started = time.perf_counter()
        try:
            done = await _run(sim, ptype, lambda a: a.complete(
                MODELS[ptype], default_parts(ptype), CallOptions(stream=stream, timeout_s=1)))
        except ProviderError as exc:
            return exc, time.perf_counter() - started
        return done, time.perf_counter() - started

    async def both() -> list:
        return await asyncio.gather(*(one(s) for s in streams))

    for stream, (outcome, elapsed) in zip(streams, asyncio.run(both()), strict=True):
        assert isinstance(outcome, Timeout), (stream, outcome)
        assert KEY not in str(outcome)
        assert 0.9 <= elapsed < HANG_S - 1, (stream, elapsed)


@pytest.mark.parametrize(("ptype", "stream"), modes(TYPES))
def test_malformed_fault(sim: SimulatorHandle, ptype: str, stream: bool) -> None:
    sim.simulator.add_fault({"provider": ptype, "malformed_rate": 1})
    err = failure(sim, ptype, stream=stream)
    assert isinstance(err, MalformedResponse)


@pytest.mark.parametrize("ptype", LISTED)
def test_list_models_faults(sim: SimulatorHandle, ptype: str) -> None:
    sim.simulator.add_fault({"provider": ptype, "status": 503})
    result = asyncio.run(_run(sim, ptype, lambda a: a.check()))
    assert not result.ok and isinstance(result.error, Unavailable)
    sim.simulator.add_fault({"provider": ptype, "malformed_rate": 1})
    with pytest.raises(MalformedResponse):
        asyncio.run(_run(sim, ptype, lambda a: a.list_models()))


def test_faults_clear_between_tests(sim: SimulatorHandle) -> None:
    assert sim.simulator.faults.snapshot()["faults"] == []
    assert complete(sim, "openai", [TEXT], stream=False).text


# ---- unknown models ---------------------------------------------------------------------


@pytest.mark.parametrize(("ptype", "stream"), modes(TYPES))
def test_unknown_model_is_bad_request(sim: SimulatorHandle, ptype: str, stream: bool) -> None:
    model = "builtin/nonexistent" if ptype == "gcp_vision" else "no-such-model-1"
    err = failure(sim, ptype, model=model, stream=stream)
    assert isinstance(err, BadRequest) and err.status in (400, 404)
    assert not err.retryable


def test_a_local_ollama_is_detected_and_a_closed_port_is_not(sim) -> None:
    from core.providers.ollama import detect_local

    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"

    async def probe() -> tuple[bool, bool, bool]:
        async with httpx.AsyncClient() as client:
            return (await detect_local(client, sim.url + "/ollama"),
                    await detect_local(client, closed, timeout=0.5),
                    await detect_local(client, sim.url + "/openai/v1"))

    assert asyncio.run(probe()) == (True, False, False)
