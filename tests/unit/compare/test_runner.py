"""The comparison runner and its background jobs against the provider simulator on 127.0.0.1:
every call recorded (latency, tokens, cost, status) with its usage event and rollups; faults
(429 with Retry-After, 500, timeouts, cut-off bodies) end as recorded failures; the
concurrency and requests-per-minute limits hold; cancel, crash and resume never repeat a
finished call."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.compare import jobs
from core.compare.record import MemoryRecorder, WarehouseRecorder
from core.compare.runner import (
    ClientPool,
    PlannedCall,
    Progress,
    RateLimiter,
    RetryPolicy,
    RunLimits,
    Runner,
)
from core.providers.base import Adapter, CallOptions, Completion, ImagePart, TextPart
from core.providers.registry import make_adapter
from core.simulator.server import SimulatorHandle, start_background
from core.warehouse import comparison_runs as wc
from core.warehouse.db import Warehouse

pytestmark = pytest.mark.timeout(120)

ORG = "acme"
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00"
       b"\x00\x90wS\xde\x00\x00\x00\x0cIDATx\x9cc\xf8\xcf\xc0\x00\x00\x03\x01\x01\x00\xc9\xfe"
       b"\x92\xef\x00\x00\x00\x00IEND\xaeB`\x82")

# model_key -> (provider type, model)
MODELS = {
    "oa": ("openai", "gpt-4o-mini"),
    "an": ("anthropic", "claude-haiku-4-5"),
    "ge": ("gemini", "gemini-2.5-flash"),
    "mi": ("mistral", "mistral-small-latest"),
}


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorHandle]:
    handle = start_background(0, seed=3, latency_scale=0.01, hang_s=5.0)
    yield handle
    handle.stop()


@pytest.fixture()
def fresh(sim: SimulatorHandle) -> SimulatorHandle:
    sim.simulator.clear_faults()
    sim.simulator.reset_stats()
    return sim


@pytest.fixture()
def wh(tmp_path: Path) -> Iterator[Warehouse]:
    w = Warehouse(tmp_path / "w.duckdb", idle_close_s=5.0)
    yield w
    w.close()


def plan(models: list[str], items: int, iterations: int = 1, *, photos: int = 0,
         options: CallOptions | None = None) -> list[PlannedCall]:
    options = options or CallOptions(max_tokens=64, stream=False, timeout_s=10.0)
    calls = []
    for it in range(iterations):
        for i in range(items):
            photo = i < photos
            parts = (TextPart("List the objects in this photo."), ImagePart(PNG, "image/png")) \
                if photo else (TextPart(f"Describe item number {i} in one sentence."),)
            for key in models:
                ptype, model = MODELS[key]
                calls.append(PlannedCall(key, f"sim-{ptype}", ptype, model,
                                         "photo" if photo else "prompt", f"item-{i}", it,
                                         parts, options))
    return calls


def adapters_for(sim: SimulatorHandle, clients: httpx.AsyncClient | ClientPool,
                 models: list[str]) -> dict[str, Adapter]:
    urls = sim.base_urls

    def client(ptype: str) -> httpx.AsyncClient:
        return clients(f"sim-{ptype}") if isinstance(clients, ClientPool) else clients

    return {key: make_adapter(MODELS[key][0], client(MODELS[key][0]),
                              base_url=urls[MODELS[key][0]], api_key="test-key")
            for key in models}


class Watch(Adapter):
    """Wraps an adapter: counts attempts per call key, concurrency, and start/end times."""

    def __init__(self, inner: Adapter, log: dict[str, Any]) -> None:
        self.inner = inner
        self.capabilities = inner.capabilities
        self.log = log

    async def complete(self, model, parts, options=None) -> Completion:
        log = self.log
        log["now"] += 1
        log["max"] = max(log["max"], log["now"])
        start = time.monotonic()
        key = (model, parts[0].text)
        try:
            result = await self.inner.complete(model, parts, options)
            log["events"].append((key, start, time.monotonic(), None))
            return result
        except Exception as exc:
            log["events"].append((key, start, time.monotonic(), exc))
            raise
        finally:
            log["now"] -= 1


def new_log() -> dict[str, Any]:
    return {"now": 0, "max": 0, "events": []}


def run(sim: SimulatorHandle, calls: list[PlannedCall], recorder, *, limits: RunLimits | None = None,
        watch: dict | None = None, run_id: str = "r1", **kw):
    async def go():
        async with ClientPool(16) as clients:
            adapters = adapters_for(sim, clients, sorted({c.model_key for c in calls}))
            if watch is not None:
                adapters = {k: Watch(a, watch) for k, a in adapters.items()}
            runner = Runner(calls, adapters, recorder, run_id=run_id, org_id=ORG,
                            limits=limits or RunLimits(concurrency=8), seed=1, **kw)
            return await runner.run()

    return asyncio.run(go())


def sim_calls(sim: SimulatorHandle) -> int:
    stats = sim.simulator.stats()
    return sum(m["requests"] for p in stats["by_model"].values() for m in p.values())


# -- recording --------------------------------------------------------------------------------


def test_every_call_is_recorded_with_latency_tokens_cost_and_usage_events(
        fresh: SimulatorHandle, wh: Warehouse) -> None:
    calls = plan(list(MODELS), items=5, iterations=2, photos=2)
    run_id = wc.create_run(wh, ORG, "first", {"models": list(MODELS)}, created_by="ann",
                           total_calls=len(calls))
    seen: list[Progress] = []
    result = run(fresh, calls, WarehouseRecorder(wh, ORG, run_id), run_id=run_id,
                 on_progress=seen.append,
                 score=lambda call, out: (1.0, "accurate", {"n": 1})
                 if isinstance(out, Completion) else (0.0, "failed", None))
    assert result.status == "done"
    assert (result.total, result.done, result.recorded, result.errors) == (40, 40, 40, 0)
    df = wc.load_results(wh, ORG, run_id)
    assert len(df) == 40 and set(df["status"]) == {"ok"}
    assert (df["duration_ms"] > 0).all() and (df["input_tokens"] > 0).all()
    assert (df["output_tokens"] > 0).all() and df["output_text"].notna().all()
    assert (df["cost_usd"] > 0).all()  # all four are priced by genai-prices
    assert set(df["bucket"]) == {"accurate"} and (df["score"] == 1.0).all()
    assert json.loads(df["details_json"].iloc[0]) == {"n": 1}
    assert set(df["item_kind"]) == {"photo", "prompt"}
    assert df["ttft_ms"].isna().all()  # not streamed
    assert (df["attempts"] == 1).all()
    # the photo calls carried their image: the vision models saw more input tokens
    photo_in = df[df.item_kind == "photo"].groupby("model_key")["input_tokens"].min()
    text_in = df[df.item_kind == "prompt"].groupby("model_key")["input_tokens"].max()
    assert (photo_in > text_in).all()
    run_row = wc.get_run(wh, ORG, run_id)
    assert run_row is not None and run_row.status == "done"
    assert (run_row.done_calls, run_row.total_calls) == (40, 40)
    assert run_row.started_at is not None and run_row.finished_at is not None
    assert seen and seen[-1].done == 40 and seen[-1].total == 40
    assert sim_calls(fresh) == 40
    with wh.cursor() as cur:
        events = cur.execute(
            "SELECT count(*), sum(cost_usd), count(DISTINCT request_id), min(source), "
            "max(source), count(DISTINCT provider_name) FROM usage_events").fetchone()
        hourly = cur.execute(
            "SELECT sum(requests), sum(errors), sum(cost_usd), sum(input_tokens) "
            "FROM usage_hourly WHERE source = 'benchmark' AND org_id = ?", [ORG]).fetchone()
        hist = cur.execute("SELECT sum(n) FROM latency_daily_hist WHERE source = 'benchmark'"
                           ).fetchone()[0]
        providers = {r[0] for r in cur.execute(
            "SELECT DISTINCT provider_name FROM usage_hourly").fetchall()}
        feature = cur.execute("SELECT DISTINCT feature FROM usage_events").fetchall()
    assert events[0] == 40 and events[2] == 40 and events[3] == events[4] == "benchmark"
    assert events[1] == pytest.approx(df["cost_usd"].sum())
    assert hourly[0] == 40 and hourly[1] == 0
    assert hourly[2] == pytest.approx(df["cost_usd"].sum())
    assert hourly[3] == df["input_tokens"].sum()
    assert hist == 40
    assert providers == {"openai", "anthropic", "gcp.gemini", "mistral_ai"}
    assert feature == [("comparison",)]


def test_streamed_calls_record_time_to_first_token(fresh: SimulatorHandle) -> None:
    rec = MemoryRecorder()
    calls = plan(["oa", "an"], items=2, options=CallOptions(max_tokens=32, stream=True))
    run(fresh, calls, rec)
    assert len(rec.rows) == 4
    assert all(r.ttft_ms is not None and 0 < r.ttft_ms <= r.duration_ms for r in rec.rows)


# -- faults -----------------------------------------------------------------------------------


def test_429_is_retried_after_retry_after_and_the_provider_is_held_back(
        fresh: SimulatorHandle) -> None:
    fresh.simulator.add_fault({"provider": "openai", "rate_limit_rate": 0.5,
                               "retry_after_s": 0.3})
    log = new_log()
    rec = MemoryRecorder()
    calls = plan(["oa"], items=12)
    result = run(fresh, calls, rec, watch=log,
                 limits=RunLimits(concurrency=4, retry=RetryPolicy(rate_limited_attempts=6)))
    assert result.status == "done" and len(rec.rows) == 12
    limited = [e for e in log["events"] if e[3] is not None]
    assert limited, "the fault rule produced no 429"
    assert all(type(e[3]).__name__ == "RateLimited" and e[3].retry_after == 0.3
               for e in limited)
    for key, _start, end, _exc in limited:
        later = [s for k, s, _e, _x in log["events"] if k == key and s > end]
        if later:  # retried: not before Retry-After had passed
            assert min(later) - end >= 0.3
        # and no call of that provider left during the hold either
        assert not [s for _k, s, _e, _x in log["events"] if end < s < end + 0.29]
    retried = [r for r in rec.rows if r.attempts > 1]
    assert retried
    for r in rec.rows:
        assert r.status == "ok" or r.error_type == "rate_limited"
    assert sum(r.attempts for r in rec.rows) == len(log["events"]) == sim_calls(fresh)


def test_500_timeouts_and_malformed_bodies_are_recorded_and_the_run_completes(
        fresh: SimulatorHandle, wh: Warehouse) -> None:
    fresh.simulator.add_fault({"provider": "anthropic", "status": 500})
    fresh.simulator.add_fault({"provider": "gemini", "timeout_rate": 1.0})
    fresh.simulator.add_fault({"provider": "mistral", "malformed_rate": 1.0})
    calls = plan(list(MODELS), items=3)
    run_id = wc.create_run(wh, ORG, "faults", {}, created_by="ann", total_calls=len(calls))
    policy = RetryPolicy(transient_retries=1, backoff_base_s=0.01, backoff_max_s=0.02)
    result = run(fresh, calls, WarehouseRecorder(wh, ORG, run_id), run_id=run_id,
                 limits=RunLimits(concurrency=12, timeouts={"ge": 0.3}, retry=policy))
    # the simulator's 5 s hangs were cut by the 0.3 s timeout: recorded as timeouts, retried
    # once (below); how long that took on the clock is bench/'s business, not a test's
    assert result.status == "done" and result.done == 12 and result.errors == 9
    df = wc.load_results(wh, ORG, run_id).set_index("model_key")
    assert set(df.loc["oa", "status"]) == {"ok"}
    assert set(df.loc["an", "error_type"]) == {"unavailable"}
    assert set(df.loc["ge", "error_type"]) == {"timeout"}
    assert set(df.loc["mi", "error_type"]) == {"malformed_response"}
    assert set(df.loc["an", "attempts"]) == {2} and set(df.loc["ge", "attempts"]) == {2}
    assert set(df.loc["mi", "attempts"]) == {1}  # a malformed answer is not retried
    assert (df.loc["ge", "duration_ms"] >= 290).all()
    errors = df[df.status == "error"]
    assert errors["output_text"].isna().all() and (errors["cost_usd"] == 0).all()
    assert all("error_message" in json.loads(d) for d in errors["details_json"])
    assert "HTTP 500" in json.loads(errors.loc["an", "details_json"].iloc[0])["error_message"]
    with wh.cursor() as cur:
        by_type = dict(cur.execute(
            "SELECT error_type, sum(n) FROM errors_hourly WHERE source = 'benchmark' "
            "GROUP BY ALL").fetchall())
        hourly = cur.execute("SELECT sum(requests), sum(errors) FROM usage_hourly").fetchone()
    assert by_type == {"unavailable": 3, "timeout": 3, "malformed_response": 3}
    assert hourly == (12, 9)


def test_other_errors_are_not_retried(fresh: SimulatorHandle) -> None:
    rec = MemoryRecorder()
    calls = plan(["oa"], items=2)
    bad = [PlannedCall(c.model_key, c.provider_id, c.provider_name, "no-such-model",
                       c.item_kind, c.item_id, c.iteration, c.parts, c.options) for c in calls]
    result = run(fresh, bad, rec)
    assert result.status == "done" and result.errors == 2
    assert {r.error_type for r in rec.rows} == {"bad_request"}
    assert {r.attempts for r in rec.rows} == {1} and sim_calls(fresh) == 2


# -- limits -----------------------------------------------------------------------------------


def test_concurrency_never_exceeds_the_limit(fresh: SimulatorHandle) -> None:
    fresh.simulator.add_fault({"latency_ms": 40})
    log = new_log()
    rec = MemoryRecorder()
    result = run(fresh, plan(list(MODELS), items=10), rec, watch=log,
                 limits=RunLimits(concurrency=5))
    assert result.done == 40
    assert log["max"] == 5


def test_requests_per_minute_are_respected_per_provider(fresh: SimulatorHandle) -> None:
    log = new_log()
    rec = MemoryRecorder()
    calls = plan(["oa", "an"], items=6)
    result = run(fresh, calls, rec, watch=log,
                 limits=RunLimits(concurrency=8, rpm={"sim-openai": 600, "sim-anthropic": None}))
    assert result.done == 12
    starts = sorted(s for (model, _), s, _e, _x in log["events"] if model == "gpt-4o-mini")
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert len(starts) == 6 and min(gaps) >= 0.1 - 0.005  # 600/min: one per 100 ms
    others = [s for (model, _), s, _e, _x in log["events"] if model != "gpt-4o-mini"]
    # the unlimited provider did not wait for the limited one: all six of its calls left
    # before the limited provider's second call was allowed to (order, not a clock limit)
    assert len(others) == 6 and sum(s < starts[1] for s in others) == 6


def test_rate_limiter_paces_and_allows_bursts() -> None:
    lim = RateLimiter(60, burst=1)  # one a second
    assert lim.delay(10.0) == 0
    lim.take(10.0)
    assert lim.delay(10.0) == pytest.approx(1.0)
    assert lim.delay(11.0) == 0
    burst = RateLimiter(60, burst=3)
    for _ in range(3):
        assert burst.delay(5.0) == 0
        burst.take(5.0)
    assert burst.delay(5.0) == pytest.approx(1.0)
    free = RateLimiter(None)
    free.take(1.0)
    assert free.delay(1.0) == 0
    free.hold(3.0)
    assert free.delay(1.0) == pytest.approx(2.0)


def test_limits_are_validated() -> None:
    with pytest.raises(ValueError):
        RunLimits(concurrency=0)
    with pytest.raises(ValueError):
        RunLimits(rpm={"p": 0})
    calls = plan(["oa"], items=1)
    with pytest.raises(ValueError, match="no adapter"):
        Runner(calls, {}, MemoryRecorder(), run_id="r", org_id=ORG)
    with pytest.raises(ValueError, match="share"):
        Runner(calls + calls, {"oa": object()}, MemoryRecorder(), run_id="r", org_id=ORG)


# -- cancel, crash, resume --------------------------------------------------------------------


def test_cancel_mid_run_then_resume_repeats_no_finished_call(
        fresh: SimulatorHandle, wh: Warehouse) -> None:
    fresh.simulator.add_fault({"latency_ms": 30})
    calls = plan(list(MODELS), items=10, iterations=2)  # 80 calls
    run_id = wc.create_run(wh, ORG, "cancel me", {}, created_by="ann", total_calls=len(calls))
    holder: dict[str, Any] = {"n": 0}

    class CancelAfter12(Watch):
        async def complete(self, model, parts, options=None):
            result = await super().complete(model, parts, options)
            holder["n"] += 1
            if holder["n"] == 12:
                holder["runner"].cancel()
            return result

    async def first():
        async with httpx.AsyncClient() as client:
            adapters = adapters_for(fresh, client, list(MODELS))
            log = new_log()
            runner = Runner(calls, {k: CancelAfter12(a, log) for k, a in adapters.items()},
                            WarehouseRecorder(wh, ORG, run_id), run_id=run_id, org_id=ORG,
                            limits=RunLimits(concurrency=4, flush_interval_s=0.05))
            holder["runner"] = runner
            return await runner.run()

    result = asyncio.run(first())
    assert result.status == "cancelled"
    assert 12 <= result.done < 80
    assert wc.get_run(wh, ORG, run_id).status == "cancelled"
    assert jobs.status(run_id, warehouse=wh, org_id=ORG).state == "cancelled"
    done_before = wc.finished_keys(wh, ORG, run_id)
    assert len(done_before) == result.done
    assert sim_calls(fresh) == result.done  # calls in flight finished and were recorded

    again = run(fresh, calls, WarehouseRecorder(wh, ORG, run_id), run_id=run_id,
                limits=RunLimits(concurrency=4))
    assert again.status == "done" and again.skipped == result.done
    assert again.recorded == 80 - result.done and again.done == 80
    assert sim_calls(fresh) == 80  # every call exactly once over both sessions
    df = wc.load_results(wh, ORG, run_id)
    assert len(df) == 80
    with wh.cursor() as cur:
        assert cur.execute("SELECT count(*) FROM usage_events").fetchone()[0] == 80
        assert cur.execute("SELECT sum(requests) FROM usage_hourly").fetchone()[0] == 80
    assert wc.get_run(wh, ORG, run_id).done_calls == 80


def test_results_are_never_counted_twice(wh: Warehouse) -> None:
    run_id = wc.create_run(wh, ORG, "dupes", {}, created_by="ann")
    row = wc.ResultRow(run_id=run_id, org_id=ORG, model_key="m", provider_id="p",
                       provider_name="openai", model="gpt-4o-mini", item_kind="prompt",
                       item_id="i", iteration=0, status="ok", ts=wc.utcnow(),
                       duration_ms=12.0, input_tokens=10, output_tokens=5, cost_usd=0.001)
    assert wc.record_results(wh, ORG, run_id, [row, row]) == 1
    assert wc.record_results(wh, ORG, run_id, [row]) == 0
    with wh.cursor() as cur:
        assert cur.execute("SELECT count(*) FROM usage_events").fetchone()[0] == 1
        assert cur.execute("SELECT sum(requests) FROM usage_hourly").fetchone()[0] == 1
    assert wc.get_run(wh, ORG, run_id).done_calls == 1
    # organizations are isolated
    assert wc.get_run(wh, "other-org", run_id) is None
    assert wc.list_runs(wh, "other-org") == []
    with pytest.raises(ValueError):
        wc.record_results(wh, "other-org", run_id, [row])
    with pytest.raises(wc.RunNotFound):
        wc.record_results(wh, "other-org", run_id, [replace(row, org_id="other-org")])
    with pytest.raises(wc.RunNotFound):
        wc.mark_status(wh, "other-org", run_id, "done")


def _job_plan(sim: SimulatorHandle, calls: list[PlannedCall], counter: Counter,
              score=None):
    def make(clients: ClientPool) -> jobs.RunPlan:
        log = new_log()
        adapters = adapters_for(sim, clients, sorted({c.model_key for c in calls}))

        class Count(Watch):
            async def complete(self, model, parts, options=None):
                counter[(model, parts[0].text)] += 1
                return await super().complete(model, parts, options)

        return jobs.RunPlan(calls, {k: Count(a, log) for k, a in adapters.items()}, score)

    return make


def test_a_crashed_job_is_failed_and_resumes_without_repeating_finished_calls(
        fresh: SimulatorHandle, wh: Warehouse) -> None:
    calls = plan(["oa", "an"], items=10)  # 20 calls
    run_id = wc.create_run(wh, ORG, "crashy", {}, created_by="ann", total_calls=len(calls))
    counter: Counter = Counter()
    scored = {"n": 0}

    def bad_score(call, outcome):
        scored["n"] += 1
        if scored["n"] == 8:
            raise RuntimeError("scorer blew up")
        return (1.0, "accurate", None)

    st = jobs.start(run_id, warehouse=wh, org_id=ORG, plan=_job_plan(fresh, calls, counter,
                                                                       bad_score),
                    limits=RunLimits(concurrency=2, flush_interval_s=0.02))
    assert st.state in ("queued", "running") and st.total == 20
    st = jobs.wait(run_id, timeout=30)
    assert st.state == "failed" and "scorer blew up" in st.error
    row = wc.get_run(wh, ORG, run_id)
    assert row.status == "failed" and "scorer blew up" in row.error
    finished = wc.finished_keys(wh, ORG, run_id)
    assert 1 <= len(finished) < 20
    with pytest.raises(jobs.RunNotStartable):
        jobs.start(run_id, warehouse=wh, org_id=ORG, plan=_job_plan(fresh, calls, counter))
    before = Counter(counter)

    jobs.start(run_id, warehouse=wh, org_id=ORG, plan=_job_plan(fresh, calls, counter),
               resume=True, limits=RunLimits(concurrency=4))
    st = jobs.wait(run_id, timeout=30)
    assert st == jobs.JobStatus("done", 20, 20, None, None)
    assert wc.get_run(wh, ORG, run_id).status == "done"
    assert len(wc.load_results(wh, ORG, run_id)) == 20
    texts = {c.key: (MODELS[c.model_key][1], c.parts[0].text) for c in calls}
    for key in finished:  # nothing recorded before the crash was called again
        assert counter[texts[key]] == before[texts[key]]


def test_a_dead_job_thread_reports_failed(fresh: SimulatorHandle, wh: Warehouse) -> None:
    calls = plan(["oa"], items=2)
    run_id = wc.create_run(wh, ORG, "dies", {}, created_by="ann", total_calls=2)
    jobs.start(run_id, warehouse=wh, org_id=ORG, plan=_job_plan(fresh, calls, Counter()))
    jobs.wait(run_id, timeout=30)
    job = jobs.registry().get(run_id)
    with job.lock:  # as if the thread had died without a word
        job.state, job.result = "running", None
    st = jobs.status(run_id)
    assert st.state == "failed" and "unexpectedly" in st.error
    assert wc.get_run(wh, ORG, run_id).status == "failed"


def test_job_cancel_and_progress(fresh: SimulatorHandle, wh: Warehouse) -> None:
    fresh.simulator.add_fault({"latency_ms": 100})
    calls = plan(list(MODELS), items=20)  # 80 calls, ~4 s at concurrency 2
    run_id = wc.create_run(wh, ORG, "job", {}, created_by="ann", total_calls=len(calls))
    jobs.start(run_id, warehouse=wh, org_id=ORG, plan=_job_plan(fresh, calls, Counter()),
               limits=RunLimits(concurrency=2, flush_interval_s=0.05, cancel_grace_s=10))
    with pytest.raises(jobs.JobAlreadyRunning):
        jobs.start(run_id, warehouse=wh, org_id=ORG, plan=_job_plan(fresh, calls, Counter()),
                   resume=True)
    deadline = time.monotonic() + 20
    st = jobs.status(run_id)
    while st.done < 8 and time.monotonic() < deadline:
        time.sleep(0.02)
        st = jobs.status(run_id)
    assert st.state == "running" and st.total == 80
    assert st.eta_s is not None and st.eta_s > 0
    assert jobs.registry().active() == [run_id]
    assert jobs.cancel(run_id)
    st = jobs.wait(run_id, timeout=30)
    assert st.state == "cancelled" and 8 <= st.done < 80
    assert wc.get_run(wh, ORG, run_id).status == "cancelled"
    assert not jobs.cancel(run_id)


def test_runs_left_running_by_a_dead_process_are_interrupted_and_resumable(
        fresh: SimulatorHandle, wh: Warehouse) -> None:
    calls = plan(["mi"], items=3)
    run_id = wc.create_run(wh, ORG, "orphan", {}, created_by="ann", total_calls=3)
    # what a process that died mid-run leaves behind
    wc.mark_status(wh, ORG, run_id, "running", total_calls=3,
                   owner=f"{jobs.HOST}|999999999|deadbeef0000")
    assert jobs.status(run_id, warehouse=wh, org_id=ORG).state == "interrupted"
    assert [r.run_id for r in jobs.interrupted_runs(wh, ORG)] == [run_id]
    # a run owned by a live process elsewhere is running, not interrupted
    other = wc.create_run(wh, ORG, "elsewhere", {}, created_by="ann")
    wc.mark_status(wh, ORG, other, "running", owner=f"{jobs.HOST}|1|somebodyelse")
    assert jobs.status(other, warehouse=wh, org_id=ORG).state == "running"
    with pytest.raises(jobs.JobAlreadyRunning):
        jobs.start(other, warehouse=wh, org_id=ORG, plan=_job_plan(fresh, calls, Counter()),
                   resume=True)
    jobs.start(run_id, warehouse=wh, org_id=ORG, plan=_job_plan(fresh, calls, Counter()),
               resume=True)
    assert jobs.wait(run_id, timeout=30).state == "done"
    assert jobs.interrupted_runs(wh, ORG) == []
    assert [r.name for r in wc.list_runs(wh, ORG)] == ["elsewhere", "orphan"]
    assert [r.name for r in wc.list_runs(wh, ORG, statuses=["done"])] == ["orphan"]
    assert jobs.status("nope", warehouse=wh, org_id=ORG).state == "unknown"


def test_bench_compare_prints_its_result_as_the_last_line() -> None:
    from click.testing import CliRunner

    from core.cli import main

    out = CliRunner().invoke(main, ["bench", "compare", "--items", "3", "--iterations", "1",
                                    "--concurrency", "4", "--latency-ms", "20"])
    assert out.exit_code == 0, out.output
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert list(result)[:4] == ["calls", "wall_s", "ideal_s", "overhead_ratio"]
    assert result["calls"] == result["recorded"] == result["ok"] == result["usage_events"] == 12
    assert result["ideal_s"] == pytest.approx(12 * 0.02 / 4)
    assert result["overhead_ratio"] == pytest.approx(result["wall_s"] / result["ideal_s"],
                                                     rel=0.01)
