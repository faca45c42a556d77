"""Comparison runner benchmark: how close to ideal does a run get?

Four simulated models × 50 items × 3 iterations = 600 calls, against the provider simulator
on a loopback port where every call takes a FIXED 100 ms, at concurrency 16, recorded into
a temporary warehouse exactly as a real run is (results, ``source='benchmark'`` usage events,
rollups). With zero overhead the run would take ``calls × 0.1 / 16`` seconds (``ideal_s``);
``overhead_ratio = wall_s / ideal_s`` is what the runner, the adapters, HTTP and storage add.
Target (issue 5): at most 1.10.

The simulator serves from its own process, as a real provider would: in the same process
its request handling would compete with the runner for one interpreter lock and the
benchmark would measure the simulator, not the runner (``in_process=True`` serves it from a
thread instead, for comparison). Answers are not streamed by default: a streamed answer is
paced chunk by chunk by the simulator (a sleep and a write per chunk on both sides), which
measures the simulator's pacing more than the runner (``stream=True`` to see it).

Two baselines are measured in the same run, to say where the time goes:

* ``floor_ratio``: the very same HTTP requests (captured from the adapters) sent as raw
  bytes over keep-alive connections at the same concurrency, responses read and dropped:
  what the simulator, loopback and the machine cost with no client at all
  (``vs_floor = wall_s / floor_s`` is then Switchyard's own share);
* ``runner_only_ratio``: the same calls through the same runner and warehouse with
  adapters that just sleep the latency (no HTTP): the engine and the storage alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from core.compare.record import WarehouseRecorder
from core.compare.runner import ClientPool, PlannedCall, RunLimits, Runner
from core.providers.base import (
    Adapter,
    CallOptions,
    Completion,
    ImagePart,
    Part,
    TextPart,
    TokenUsage,
)
from core.providers.errors import ProviderError
from core.providers.registry import make_adapter
from core.simulator.launcher import base_urls
from core.warehouse import comparison_runs as wc
from core.warehouse.db import Warehouse, one_row

ROOT = Path(__file__).resolve().parents[2]
PHOTOS = ROOT / "data" / "samples" / "photos"
TARGET_RATIO = 1.10

# (model_key, provider type, model): four providers, four wire protocols.
MODELS: tuple[tuple[str, str, str], ...] = (
    ("openai/gpt-4o-mini", "openai", "gpt-4o-mini"),
    ("anthropic/claude-haiku-4-5", "anthropic", "claude-haiku-4-5"),
    ("gemini/gemini-2.5-flash", "gemini", "gemini-2.5-flash"),
    ("mistral/mistral-small-latest", "mistral", "mistral-small-latest"),
)

PROMPTS = (
    "Write a one-sentence product description for a ceramic coffee mug.",
    "Summarise in two sentences why latency percentiles matter more than averages.",
    "Is this message safe to show to children? 'Let us meet at the park at noon.'",
    "Rewrite this search query as keywords: cheap red running shoes for women size 8",
    "Give three short alt texts for a photo of a horse in a field.",
)


def _photos(limit: int) -> list[tuple[str, bytes, str]]:
    if not PHOTOS.is_dir():
        return []
    out: list[tuple[str, bytes, str]] = []
    for path in sorted(PHOTOS.iterdir()):
        if len(out) >= limit:
            break
        mime = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png"}.get(
            path.suffix.lower())
        if mime:
            out.append((path.stem, path.read_bytes(), mime))
    return out


def bench_items(n: int, photos: int = 10) -> list[tuple[str, str, list[Part]]]:
    """``n`` items: up to ``photos`` sample photos (with a tagging prompt), then prompts."""
    items: list[tuple[str, str, list[Part]]] = []
    for stem, data, mime in _photos(min(photos, n)):
        items.append(("photo", f"photo-{stem}", [
            TextPart("List the objects in this photo as comma-separated tags."),
            ImagePart(data, mime)]))
    i = 0
    while len(items) < n:
        text = f"{PROMPTS[i % len(PROMPTS)]} (variant {i})"
        items.append(("prompt", f"prompt-{i:03d}", [TextPart(text)]))
        i += 1
    return items


def plan_calls(items: list[tuple[str, str, list[Part]]], iterations: int,
               options: CallOptions) -> list[PlannedCall]:
    """Iteration-major, then item, then model: every model progresses evenly."""
    calls = []
    for it in range(iterations):
        for kind, item_id, parts in items:
            for key, ptype, model in MODELS:
                calls.append(PlannedCall(key, f"sim-{ptype}", ptype, model, kind, item_id,  # type: ignore[arg-type]
                                         it, tuple(parts), options))
    return calls


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def simulator(latency_ms: float, *, seed: int, in_process: bool) -> Iterator[str]:
    """A simulator with a fixed latency and no background faults; yields its root URL."""
    if in_process:
        from core.simulator.launcher import start_background

        with start_background(0, seed=seed, fixed_latency_ms=latency_ms) as handle:
            yield handle.url
        return
    port = _free_port()
    cmd = [sys.executable, "-c",
           "import sys; from core.simulator.launcher import serve; "
           "serve(int(sys.argv[1]), seed=int(sys.argv[2]), fixed_latency_ms=float(sys.argv[3]))",
           str(port), str(seed), str(latency_ms)]
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    log = tempfile.TemporaryFile()  # not a pipe: a chatty child could fill it and block
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                log.seek(0)
                err = log.read().decode(errors="replace")
                raise RuntimeError(f"the simulator did not start: {err[-500:]}")
            try:
                if httpx.get(url + "/", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the simulator did not start within 30 s")
            time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


class _SleepAdapter(Adapter):
    """The baseline: a "model" that answers after exactly the latency, with no HTTP at all."""

    def __init__(self, latency_s: float) -> None:
        self.latency_s = latency_s

    async def complete(self, model, parts, options=None) -> Completion:
        t0 = time.perf_counter()
        await asyncio.sleep(self.latency_s)
        return Completion("ok", TokenUsage(100, 20), model, "stop",
                          (time.perf_counter() - t0) * 1000, None)


async def _run_once(root: str | None, wh: Warehouse, calls: list[PlannedCall],
                    concurrency: int, latency_ms: float) -> tuple[float, float, Any, str]:
    """One run as a job runs it (a pooled client per provider, adapters made once, results
    into the warehouse); ``root`` None uses the no-HTTP baseline adapters.
    Returns (wall seconds, CPU seconds of this process, result, run id)."""
    run_id = wc.create_run(wh, "bench", "bench compare", {"calls": len(calls)},
                           created_by="bench", total_calls=len(calls))
    async with ClientPool(concurrency, timeout=httpx.Timeout(30.0, connect=5.0)) as clients:
        if root is None:
            adapters: dict[str, Adapter] = {key: _SleepAdapter(latency_ms / 1000)
                                            for key, _p, _m in MODELS}
        else:
            urls = base_urls(root)
            adapters = {key: make_adapter(ptype, clients(f"sim-{ptype}"), base_url=urls[ptype],
                                          api_key="bench-key")
                        for key, ptype, _model in MODELS}
        recorder = WarehouseRecorder(wh, "bench", run_id)
        runner = Runner(calls, adapters, recorder, run_id=run_id, org_id="bench",
                        limits=RunLimits(concurrency=concurrency), seed=1)
        t0, c0 = time.perf_counter(), time.process_time()
        result = await runner.run()
        return time.perf_counter() - t0, time.process_time() - c0, result, run_id


async def _captured_requests(root: str, calls: list[PlannedCall]) -> list[bytes]:
    """The exact HTTP/1.1 requests the adapters send for ``calls`` (built, not sent)."""
    captured: list[bytes] = []

    def keep(request: httpx.Request) -> httpx.Response:
        head = [f"{request.method} {request.url.raw_path.decode()} HTTP/1.1".encode()]
        head += [k + b": " + v for k, v in request.headers.raw]
        captured.append(b"\r\n".join(head) + b"\r\n\r\n" + request.content)
        return httpx.Response(400, json={"error": {"message": "captured"}})

    urls = base_urls(root)
    async with httpx.AsyncClient(transport=httpx.MockTransport(keep)) as client:
        adapters = {key: make_adapter(ptype, client, base_url=urls[ptype], api_key="bench-key")
                    for key, ptype, _model in MODELS}
        for call in calls:
            with contextlib.suppress(ProviderError):
                await adapters[call.model_key].complete(call.model, list(call.parts),
                                                        call.options)
    return captured


async def _read_response(reader: asyncio.StreamReader) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in
               (line.partition(b":") for line in head.split(b"\r\n")[1:] if line)}
    if b"content-length" in headers:
        await reader.readexactly(int(headers[b"content-length"]))
        return
    while True:  # chunked
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        await reader.readexactly(size + 2)
        if size == 0:
            return


async def _floor_run(root: str, requests: list[bytes], concurrency: int) -> float:
    """The same requests from the leanest possible client (pre-built bytes on raw keep-alive
    connections, responses read and discarded): what the simulator, loopback and this
    machine cost on their own. Returns the wall time."""
    host, port = root.rsplit("//", 1)[1].split(":")
    queue = iter(requests)

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            for raw in queue:
                writer.write(raw)
                await _read_response(reader)
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - t0


def run_compare_bench(
    *,
    items: int = 50,
    iterations: int = 3,
    concurrency: int = 16,
    latency_ms: float = 100.0,
    stream: bool = False,
    seed: int = 7,
    in_process: bool = False,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the benchmark; returns the JSON-ready result: ``calls``, ``wall_s``, ``ideal_s``,
    ``overhead_ratio`` first, then details (``runner_only_ratio``: the same run with adapters
    that just sleep the latency, i.e. what the engine and the warehouse writes cost alone)."""
    say = progress or (lambda _m: None)
    tmp = Path(tempfile.mkdtemp(prefix="switchyard-bench-compare-"))
    try:
        wh = Warehouse(tmp / "bench.duckdb", idle_close_s=2.0)  # as the app opens it
        options = CallOptions(max_tokens=256, temperature=0.7, stream=stream, timeout_s=30.0)
        calls = plan_calls(bench_items(items), iterations, options)
        n = len(calls)
        ideal_s = n * latency_ms / 1000 / concurrency
        with simulator(latency_ms, seed=seed, in_process=in_process) as root:
            say(f"Simulator on {root} ({'thread' if in_process else 'own process'}), fixed "
                f"{latency_ms:g} ms per call; {len(MODELS)} models × {items} items × "
                f"{iterations} iterations = {n} calls at concurrency {concurrency}"
                f"{', streamed' if stream else ''}…")
            # warm-up (imports, first connections, first DuckDB writes): not timed
            warm = plan_calls(bench_items(4, photos=1), 2, options)
            asyncio.run(_run_once(root, wh, warm, concurrency, latency_ms))
            wall_s, cpu_s, result, run_id = asyncio.run(
                _run_once(root, wh, calls, concurrency, latency_ms))
            say(f"{result.status} in {wall_s:.2f} s (ideal {ideal_s:.2f} s); this process used "
                f"{cpu_s:.2f} s of CPU")
            raw = asyncio.run(_captured_requests(root, calls))
            floor_s = asyncio.run(_floor_run(root, raw, concurrency))
            say(f"floor (the same {len(raw)} requests as raw bytes, no client, no storage): "
                f"{floor_s:.2f} s")
        base_s, _c, _r, _id = asyncio.run(_run_once(None, wh, calls, concurrency, latency_ms))
        say(f"baseline without HTTP (adapters that sleep {latency_ms:g} ms): {base_s:.2f} s")
        df = wc.load_results(wh, "bench", run_id)
        with wh.cursor() as cur:
            events = one_row(cur, "SELECT count(*) FROM usage_events WHERE source = 'benchmark' "
                             "AND request_id LIKE ?", [f"cmp:{run_id}:%"])[0]
        wh.close()
        ok = int((df["status"] == "ok").sum())
        say(f"{len(df)} results recorded ({ok} ok), {events} usage events, median call "
            f"{df['duration_ms'].median():.1f} ms")
        ratio = wall_s / ideal_s
        return {
            "calls": n, "wall_s": round(wall_s, 3), "ideal_s": round(ideal_s, 3),
            "overhead_ratio": round(ratio, 3),
            "target_ratio": TARGET_RATIO, "meets_target": ratio <= TARGET_RATIO,
            "floor_ratio": round(floor_s / ideal_s, 3),
            "vs_floor": round(wall_s / floor_s, 3),
            "runner_only_ratio": round(base_s / ideal_s, 3),
            "median_call_ms": round(float(df["duration_ms"].median()), 2),
            "p95_call_ms": round(float(df["duration_ms"].quantile(0.95)), 2),
            "cpu_s": round(cpu_s, 3), "recorded": len(df), "ok": ok, "usage_events": int(events),
            "stream": stream, "simulator": "thread" if in_process else "process",
            "load_avg_1m": round(os.getloadavg()[0], 2),
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
