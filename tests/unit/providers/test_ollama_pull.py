"""Pulling a model into Ollama (``POST /api/pull``, NDJSON progress): through a recording
mock transport for the wire details, and through the simulator for the whole round trip."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from core.providers.errors import BadRequest, MalformedResponse, Unavailable
from core.providers.ollama import OllamaAdapter, PullProgress
from core.simulator.server import SimulatorHandle, start_background
from tests.helpers import forbid_non_loopback

BASE = "http://ollama.test:11434"


def _lines(*docs: dict) -> bytes:
    return b"".join(json.dumps(d).encode() + b"\n" for d in docs)


def _pull(respond: Callable[[httpx.Request], httpx.Response], model: str = "llama3.2:3b",
          base: str = BASE) -> tuple[PullProgress, list[PullProgress], list[httpx.Request]]:
    seen: list[PullProgress] = []
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return respond(request)

    async def go() -> PullProgress:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            return await OllamaAdapter(client, base_url=base).pull(model, seen.append)

    return asyncio.run(go()), seen, sent


PROGRESS = (
    {"status": "pulling manifest"},
    {"status": "pulling aaa", "digest": "sha256:aaa", "total": 300, "completed": 0},
    {"status": "pulling aaa", "digest": "sha256:aaa", "total": 300, "completed": 150},
    {"status": "pulling bbb", "digest": "sha256:bbb", "total": 100, "completed": 100},
    {"status": "pulling aaa", "digest": "sha256:aaa", "total": 300, "completed": 300},
    {"status": "verifying sha256 digest"},
    {"status": "success"},
)


def test_pull_streams_progress_and_ends_with_success() -> None:
    done, seen, sent = _pull(lambda r: httpx.Response(200, content=_lines(*PROGRESS)))
    assert sent[0].method == "POST" and str(sent[0].url) == f"{BASE}/api/pull"
    assert json.loads(sent[0].content) == {"model": "llama3.2:3b", "stream": True}
    assert [s.status for s in seen] == [d["status"] for d in PROGRESS]
    # overall share: bytes done over bytes announced, across the layers seen so far
    assert [round(s.fraction, 3) for s in seen] == [0.0, 0.0, 0.5, 0.625, 1.0, 1.0, 1.0]
    assert (seen[2].digest, seen[2].total, seen[2].completed) == ("sha256:aaa", 300, 150)
    assert done.done and done == seen[-1]


def test_an_unknown_model_is_a_bad_request_naming_it() -> None:
    missing = _lines({"status": "pulling manifest"},
                     {"error": "pull model manifest: file does not exist"})
    with pytest.raises(BadRequest) as info:
        _pull(lambda r: httpx.Response(200, content=missing), model="nope:1b")
    assert "'nope:1b' is not in the Ollama library" in str(info.value)


def test_other_failures_follow_the_taxonomy() -> None:
    with pytest.raises(Unavailable):  # an error line that is not "not found"
        _pull(lambda r: httpx.Response(200, content=_lines(
            {"status": "pulling manifest"}, {"error": "max retries exceeded: dial tcp"})))
    with pytest.raises(Unavailable):
        _pull(lambda r: httpx.Response(503, json={"error": "server busy"}))
    with pytest.raises(MalformedResponse, match="ended before it succeeded"):
        _pull(lambda r: httpx.Response(200, content=_lines(*PROGRESS[:3])))
    with pytest.raises(MalformedResponse):
        _pull(lambda r: httpx.Response(200, content=_lines(*PROGRESS[:2]) + b'{"status": "pul'))

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(Unavailable, match="could not reach"):
        _pull(refused)


# ---- against the simulator ---------------------------------------------------------------


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorHandle]:
    with start_background(0, seed=11, latency_scale=0, samples_dir=None) as handle:
        yield handle


def _on_sim(sim: SimulatorHandle, action: Callable[[OllamaAdapter], Any]) -> Any:
    async def go() -> Any:
        async with httpx.AsyncClient() as client:
            return await action(OllamaAdapter(client, base_url=sim.base_urls["ollama"]))

    return asyncio.run(go())


def test_a_pulled_model_is_listed_and_answers(sim: SimulatorHandle,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    forbid_non_loopback(monkeypatch)
    before = {m.id for m in _on_sim(sim, lambda a: a.list_models())}
    assert "gemma3:4b" not in before
    seen: list[PullProgress] = []
    done = _on_sim(sim, lambda a: a.pull("gemma3:4b", seen.append))
    assert done.done and seen[0].status == "pulling manifest"
    layers = [s for s in seen if s.digest]
    assert len(layers) >= 4 and all(s.total and s.completed is not None for s in layers)
    fractions = [s.fraction for s in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0  # only moves forward
    listed = {m.id: m for m in _on_sim(sim, lambda a: a.list_models())}
    assert set(listed) == before | {"gemma3:4b"}
    assert listed["gemma3:4b"].input_types == ("text", "image")  # gemma3 reads images
    from core.providers.base import TextPart

    answer = _on_sim(sim, lambda a: a.complete("gemma3:4b", [TextPart("Say hi.")]))
    assert answer.text and answer.response_model == "gemma3:4b"


def test_the_simulator_refuses_unknown_models_and_lists_nothing(sim: SimulatorHandle) -> None:
    with pytest.raises(BadRequest):
        _on_sim(sim, lambda a: a.pull("no-such-model:1b"))
    plain = httpx.post(sim.base_urls["ollama"] + "/api/pull",
                       json={"model": "no-such-model:1b", "stream": False})
    assert plain.status_code == 500 and "file does not exist" in plain.json()["error"]
    assert "no-such-model:1b" not in {m.id for m in _on_sim(sim, lambda a: a.list_models())}


def test_a_name_without_a_tag_means_latest_and_stream_false_works(sim: SimulatorHandle) -> None:
    r = httpx.post(sim.base_urls["ollama"] + "/api/pull",
                   json={"name": "llama3.2", "stream": False})
    assert r.status_code == 200 and r.json() == {"status": "success"}
    assert "llama3.2:latest" in {m.id for m in _on_sim(sim, lambda a: a.list_models())}


def test_a_pull_cut_off_midway_lists_nothing(sim: SimulatorHandle) -> None:
    sim.simulator.add_fault({"provider": "ollama", "malformed_rate": 1})
    try:
        with pytest.raises(MalformedResponse):
            _on_sim(sim, lambda a: a.pull("mistral:7b"))
    finally:
        sim.simulator.clear_faults()
    assert "mistral:7b" not in {m.id for m in _on_sim(sim, lambda a: a.list_models())}
