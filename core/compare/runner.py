"""The comparison runner: many model calls at once, politely, each recorded as it finishes.

A generic asyncio engine. It takes a list of :class:`PlannedCall` (which model, which item,
which iteration, the parts to send), an adapter per ``model_key``, a scoring callback and a
:class:`~core.compare.record.Recorder`, and

* runs at most ``concurrency`` calls at a time: a fixed pool of worker coroutines, so the
  limit is exact and a call waiting for a retry holds no slot;
* paces each provider to its requests-per-minute limit (a token bucket per provider; calls
  leave at the moment they are counted, so the spacing holds at the wire);
* gives each call its model's timeout (``CallOptions.timeout_s``, or ``RunLimits.timeouts``);
* retries a 429 after the provider's ``Retry-After`` (and holds the whole provider back for
  that long), else with jittered exponential backoff, up to a bounded number of attempts;
  retries ``Unavailable`` and ``Timeout`` a configurable number of times; never retries
  anything else (bad request, authentication, malformed answers);
* records every finished call, success or final failure (with its ``error_type``), through
  ONE writer that batches rows every ``flush_interval_s`` or ``flush_rows`` rows and writes
  them in a worker thread, so storage never stalls the calls; the last batch is written
  with the run's final status, in one transaction;
* prices each call with the model's price (``core.pricing``), looked up once per run;
* reports progress (done, total, estimated seconds left from the observed throughput);
* stops on :meth:`Runner.cancel` (thread-safe): nothing new starts, calls in flight get
  ``cancel_grace_s`` to finish (they are recorded) and are then abandoned (they are not);
* resumes: calls whose key (model_key, item_id, iteration) is already recorded are skipped;
* awaits the score function, which may make billed calls of its own (the LLM judge) and
  return them as a fourth element, :class:`~core.warehouse.comparison_runs.SideCall` objects
  stored with the call's row. Scoring runs in the worker that made the call, so while a
  call is being judged its worker takes no new call: model and judge calls together never
  exceed ``concurrency``. ``in_flight`` (progress, and the scheduler's "may a retry still
  come back") counts model calls only, which is right because judging never queues work.

A crash (an exception in the scoring or progress callback, or in storage) stops the run: the
rows finished so far are written, the run is marked ``failed`` and the exception re-raised;
starting it again (``resume=True``) carries on where it stopped.

Adapters should share pooled HTTP clients, one per provider (:class:`ClientPool`), and be
made once per run, not per call.
"""

from __future__ import annotations

import asyncio
import heapq
import inspect
import json
import math
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import httpx

from core.compare.record import Recorder, calls_prices
from core.pricing import ModelPrice
from core.providers.base import Adapter, CallOptions, Completion, ImagePart, Part
from core.providers.errors import ProviderError, RateLimited, Timeout, Unavailable
from core.redact import scrub
from core.warehouse.comparison_runs import CallKey, ResultRow, SideCall, utcnow

ItemKind = Literal["photo", "prompt"]
Outcome = Completion | BaseException  # what a call ended with: an answer or the final error
# (score, bucket, details) or (score, bucket, details, side calls made while scoring)
ScoreResult = (tuple[float | None, str | None, Mapping[str, Any] | None]
               | tuple[float | None, str | None, Mapping[str, Any] | None, Sequence[SideCall]])
ScoreFn = Callable[["PlannedCall", Outcome], "ScoreResult | Awaitable[ScoreResult] | None"]
RunStatus = Literal["done", "cancelled", "failed"]

__all__ = [
    "ClientPool", "PlannedCall", "Progress", "RateLimiter", "RetryPolicy", "RunLimits",
    "RunResult", "Runner", "ScoreFn", "retry_delay", "run_calls",
]


@dataclass(frozen=True)
class PlannedCall:
    """One call of a comparison. ``model_key`` names a compared model (e.g. its position or
    ``provider_id/model``); ``(model_key, item_id, iteration)`` is unique within a run."""

    model_key: str
    provider_id: str
    provider_name: str  # the provider type or its OpenTelemetry name (pricing, usage events)
    model: str
    item_kind: ItemKind
    item_id: str
    iteration: int
    parts: Sequence[Part]
    options: CallOptions = field(default_factory=CallOptions)

    @property
    def key(self) -> CallKey:
        return (self.model_key, self.item_id, self.iteration)

    @property
    def images(self) -> int:
        return sum(isinstance(p, ImagePart) for p in self.parts)


@dataclass(frozen=True)
class RetryPolicy:
    """How often to try again. Attempt counts include the first attempt."""

    rate_limited_attempts: int = 5  # a 429 is retried until this many attempts were made
    transient_retries: int = 2  # extra attempts after Unavailable (5xx, refused) or Timeout
    backoff_base_s: float = 0.5  # first backoff when the provider gives no Retry-After
    backoff_max_s: float = 30.0
    max_retry_after_s: float = 120.0  # a longer Retry-After ends the call as rate_limited

    def backoff(self, n: int, rng: random.Random) -> float:
        """Equal-jitter exponential backoff before retry ``n`` (1-based)."""
        cap = min(self.backoff_max_s, self.backoff_base_s * 2 ** max(n - 1, 0))
        return cap / 2 + rng.uniform(0, cap / 2)


def retry_delay(policy: RetryPolicy, counts: Any, outcome: object,
                rng: random.Random) -> tuple[float, float | None] | None:
    """Whether and when to try a call again after ``outcome``: ``(seconds to wait, seconds
    to hold the whole provider back or None)``, or None for "do not retry".

    ``counts`` has the ``attempts`` made so far and the ``rate_limited`` / ``transient``
    retries already granted (this function counts a granted retry). Shared by the runner
    and the LLM judge so both treat a provider's 429s and outages alike."""
    if isinstance(outcome, RateLimited):
        if counts.attempts >= policy.rate_limited_attempts:
            return None
        counts.rate_limited += 1
        if outcome.retry_after is not None:
            if outcome.retry_after > policy.max_retry_after_s:
                return None
            # at least what the provider asked for, plus a little jitter so that the
            # calls it refused together do not all come back in the same instant
            return outcome.retry_after * (1 + rng.uniform(0, 0.1)) + 0.001, outcome.retry_after
        return policy.backoff(counts.rate_limited, rng), None
    if isinstance(outcome, Unavailable | Timeout):
        if counts.transient >= policy.transient_retries:
            return None
        counts.transient += 1
        return policy.backoff(counts.transient, rng), None
    return None


@dataclass(frozen=True)
class RunLimits:
    concurrency: int = 8  # calls in flight at once, over all providers
    rpm: Mapping[str, float | None] = field(default_factory=dict)  # provider_id -> requests/min
    timeouts: Mapping[str, float] = field(default_factory=dict)  # model_key -> seconds
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    burst: int = 1  # calls a rate-limited provider may get back to back after a quiet spell
    # The writer stores finished calls every flush_interval_s, or as soon as flush_rows are
    # waiting. When storage is slow the interval stretches to 5× the last write (at most 2 s),
    # so writing takes at most ~20% of the time. A write is one transaction whose cost is
    # mostly fixed (the rollup upserts), so fewer, larger batches keep the calls fast.
    flush_interval_s: float = 0.5
    flush_rows: int = 500
    cancel_grace_s: float = 5.0  # how long calls in flight may finish after a cancel

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if self.burst < 1:
            raise ValueError("burst must be at least 1")
        for pid, rpm in self.rpm.items():
            if rpm is not None and rpm <= 0:
                raise ValueError(f"requests per minute for {pid} must be positive (or None)")


@dataclass(frozen=True)
class Progress:
    done: int  # calls recorded (including those recorded by an earlier, resumed attempt)
    total: int
    eta_s: float | None  # None until the first call of this session has finished
    errors: int  # calls of this session that ended in an error
    elapsed_s: float
    in_flight: int = 0

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0


@dataclass(frozen=True)
class RunResult:
    status: RunStatus
    total: int
    done: int  # recorded, all sessions
    recorded: int  # recorded by this session
    skipped: int  # already recorded before this session (resume)
    errors: int  # of this session's recorded calls, how many ended in an error
    elapsed_s: float
    error: str | None = None


class RateLimiter:
    """A token bucket (GCRA form) for one provider, plus a hold after a 429.

    ``rpm`` None means no pacing. With ``burst`` 1, two calls are never closer than
    60/rpm seconds, so no 60-second window ever holds more than rpm calls."""

    def __init__(self, rpm: float | None, burst: int = 1) -> None:
        self.rpm = rpm
        self.interval = 60.0 / rpm if rpm else 0.0
        self.tolerance = (burst - 1) * self.interval
        self._tat = -math.inf  # theoretical arrival time of the next call
        self._hold_until = -math.inf

    def delay(self, now: float) -> float:
        """Seconds until a call may leave (0: now)."""
        ready = max(self._hold_until, self._tat - self.tolerance)
        return max(0.0, ready - now)

    def take(self, now: float) -> None:
        """Count a call leaving at ``now``."""
        if self.interval:
            self._tat = max(self._tat, now) + self.interval

    def hold(self, until: float) -> None:
        """No call before ``until`` (the provider asked us to back off)."""
        self._hold_until = max(self._hold_until, until)


@dataclass
class _Pending:
    call: PlannedCall
    options: CallOptions
    attempts: int = 0
    rate_limited: int = 0
    transient: int = 0


@dataclass
class _Lane:
    """One provider: its calls in plan order, its retries by due time, its pacing."""

    provider_id: str
    limiter: RateLimiter
    queue: deque[_Pending] = field(default_factory=deque)
    retries: list[tuple[float, int, _Pending]] = field(default_factory=list)  # heap

    @property
    def has_work(self) -> bool:
        return bool(self.queue or self.retries)


class ClientPool:
    """One pooled ``httpx.AsyncClient`` per provider, created on first use.

    Why not one client for everything: httpcore walks every connection of a pool (several
    times, with a socket poll for each idle one) whenever a request starts or ends, so one
    pool of N connections costs O(N²) per request; a pool per provider keeps N small. Each
    client may open ``connections`` connections (the run's concurrency: one provider may get
    every slot). Close with :meth:`aclose` (or ``async with``)."""

    def __init__(self, connections: int = 16, *, timeout: httpx.Timeout | None = None,
                 **client_kw: Any) -> None:
        self.connections = max(int(connections), 1)
        self.timeout = timeout or httpx.Timeout(60.0, connect=10.0)
        self.client_kw = client_kw
        self._clients: dict[str, httpx.AsyncClient] = {}

    def __call__(self, provider_id: str) -> httpx.AsyncClient:
        client = self._clients.get(provider_id)
        if client is None:
            if "verify" not in self.client_kw:  # one TLS context for all (~65 ms each)
                self.client_kw["verify"] = httpx.create_ssl_context()
            client = self._clients[provider_id] = httpx.AsyncClient(
                limits=httpx.Limits(max_connections=self.connections,
                                    max_keepalive_connections=self.connections),
                timeout=self.timeout, **self.client_kw)
        return client

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()

    async def __aenter__(self) -> ClientPool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _score_none(_call: PlannedCall, _outcome: Outcome) -> ScoreResult:
    return (None, None, None)


def _error_message(exc: BaseException) -> str:
    if isinstance(exc, ProviderError):
        return exc.user_message()
    return scrub(f"{type(exc).__name__}: {exc}")


class Runner:
    """One run of planned calls; see the module docstring. Use :meth:`run` once."""

    def __init__(
        self,
        calls: Sequence[PlannedCall],
        adapters: Mapping[str, Adapter],
        recorder: Recorder,
        *,
        run_id: str,
        org_id: str,
        score: ScoreFn | None = None,
        limits: RunLimits | None = None,
        prices: Mapping[str, ModelPrice | None] | None = None,
        on_progress: Callable[[Progress], None] | None = None,
        resume: bool = True,
        seed: int | None = None,
    ) -> None:
        keys = [c.key for c in calls]
        if len(set(keys)) != len(keys):
            raise ValueError("two planned calls share a (model_key, item_id, iteration)")
        missing = sorted({c.model_key for c in calls} - set(adapters))
        if missing:
            raise ValueError(f"no adapter for model(s) {', '.join(missing)}")
        self.calls = list(calls)
        self.adapters = dict(adapters)
        self.recorder = recorder
        self.run_id, self.org_id = run_id, org_id
        self.score = score or _score_none
        self.limits = limits or RunLimits()
        self.prices = dict(prices) if prices is not None else dict(calls_prices(self.calls))
        self.on_progress = on_progress
        self.resume = resume
        self._rng = random.Random(seed)
        self.total = len(self.calls)
        # state (read by progress() from other threads: plain ints and floats)
        self.skipped = 0
        self.recorded = 0
        self.completed = 0  # finished calls of this session, recorded or waiting to be
        self.errors = 0
        self.in_flight = 0
        self._started: float | None = None
        self._cancel_requested = False
        self._stopping = False  # no new attempts (cancel or crash)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._flush_now: asyncio.Event | None = None
        self._buffer: list[ResultRow] = []
        self._last_write_s = 0.0
        self._closing = False
        self._lanes: list[_Lane] = []
        self._rr = 0
        self._seq = 0
        self._ran = False
        self._workers: list[asyncio.Task] = []
        self._grace: asyncio.Task | None = None

    # -- control (thread-safe) ------------------------------------------------------------
    def cancel(self) -> None:
        """Stop starting calls; those in flight get ``cancel_grace_s`` to finish. Safe to
        call from any thread, before or during :meth:`run`."""
        self._cancel_requested = True
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._on_cancel)
            except RuntimeError:  # the loop has just closed
                pass

    @property
    def cancel_requested(self) -> bool:
        return self._cancel_requested

    def progress(self) -> Progress:
        """Where the run is now (safe from any thread)."""
        now = time.monotonic()
        done = self.skipped + self.recorded
        elapsed = now - self._started if self._started is not None else 0.0
        eta = None
        if self.completed and self._started is not None:
            rate = self.completed / max(now - self._started, 1e-6)
            remaining = max(self.total - self.skipped - self.completed, 0)
            eta = remaining / rate if rate > 0 else None
        return Progress(done, self.total, eta, self.errors, elapsed, self.in_flight)

    # -- the run --------------------------------------------------------------------------
    async def run(self) -> RunResult:
        if self._ran:
            raise RuntimeError("a Runner runs once; make a new one to resume")
        self._ran = True
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._flush_now = asyncio.Event()
        started = time.monotonic()
        finished = await asyncio.to_thread(self.recorder.begin, self.total)
        todo = [c for c in self.calls if c.key not in finished] if self.resume else self.calls
        self.skipped = self.total - len(todo)
        self._started = time.monotonic()
        self._build_lanes(todo)
        if self._cancel_requested:
            self._stopping = True
        writer = asyncio.create_task(self._writer(), name="compare-writer")
        workers = self._workers = [
            asyncio.create_task(self._worker(), name=f"compare-worker-{i}")
            for i in range(min(self.limits.concurrency, len(todo)))
        ]
        crash: BaseException | None = None
        try:
            self._emit_progress()
            watch: set[asyncio.Task] = {*workers, writer}
            while any(not w.done() for w in workers):
                done, _ = await asyncio.wait(watch, return_when=asyncio.FIRST_COMPLETED)
                for t in done:
                    if not t.cancelled() and t.exception() is not None:
                        crash = t.exception()
                        break
                if crash is not None or writer in done:  # the writer ends early only on failure
                    break
                watch -= done
        except asyncio.CancelledError:  # the run itself was cancelled from outside
            self._cancel_requested = self._stopping = True
            await self._abandon(workers)
            await self._stop_writer(writer)
            await asyncio.to_thread(self._finish_run, "cancelled", None)
            raise
        finally:
            if self._grace is not None:
                self._grace.cancel()
        if crash is not None:
            self._stopping = True
            self._notify()
            await self._abandon(workers)
        try:
            await self._stop_writer(writer)
        except Exception as exc:  # storing failed
            crash = crash or exc
        elapsed = time.monotonic() - started
        if crash is not None:
            try:
                await asyncio.to_thread(self._finish_run, "failed", _error_message(crash))
            except Exception:  # noqa: BLE001 - storage may be what failed; report the cause
                pass
            raise crash
        remaining = self.total - self.skipped - self.recorded - len(self._buffer)
        status: RunStatus = "cancelled" if self._cancel_requested and remaining > 0 else "done"
        # the last batch and the final status in one transaction
        await asyncio.to_thread(self._finish_run, status, None)
        try:  # the final report; the run is stored whatever the callback does
            self._emit_progress()
        except Exception:  # noqa: BLE001
            pass
        return RunResult(status, self.total, self.skipped + self.recorded, self.recorded,
                         self.skipped, self.errors, elapsed)

    def _finish_run(self, status: str, error: str | None) -> None:
        """Store what is left with the final status (blocking: called in a thread)."""
        batch, self._buffer = self._buffer, []
        try:
            self.recorder.finish(status, error=error, rows=batch)
        except BaseException:
            self._buffer = batch + self._buffer
            raise
        self.recorded += len(batch)

    def _build_lanes(self, todo: Sequence[PlannedCall]) -> None:
        lanes: dict[str, _Lane] = {}
        for call in todo:
            lane = lanes.get(call.provider_id)
            if lane is None:
                limiter = RateLimiter(self.limits.rpm.get(call.provider_id), self.limits.burst)
                lane = lanes[call.provider_id] = _Lane(call.provider_id, limiter)
            options = call.options
            timeout = self.limits.timeouts.get(call.model_key)
            if timeout is not None and timeout != options.timeout_s:
                options = replace(options, timeout_s=timeout)
            lane.queue.append(_Pending(call, options))
        self._lanes = list(lanes.values())

    def _on_cancel(self) -> None:
        self._cancel_requested = True
        self._stopping = True
        self._notify()
        if self._grace is None and self._workers:
            self._grace = asyncio.get_running_loop().create_task(self._cancel_after_grace())

    def _notify(self) -> None:
        """Wake every idle worker (each re-checks what it may do)."""
        if self._wake is not None:
            self._wake.set()
            self._wake = asyncio.Event()

    async def _cancel_after_grace(self) -> None:
        await asyncio.sleep(self.limits.cancel_grace_s)
        for w in self._workers:
            w.cancel()

    async def _abandon(self, workers: list[asyncio.Task]) -> None:
        for w in workers:
            w.cancel()
        await asyncio.gather(*workers, return_exceptions=True)

    # -- scheduling -----------------------------------------------------------------------
    def _pick(self, now: float) -> tuple[_Pending, _Lane] | float | None:
        """The next call that may leave now, else seconds until one may (None: no work)."""
        wait = math.inf
        any_work = False
        n = len(self._lanes)
        for i in range(n):
            idx = (self._rr + i) % n
            lane = self._lanes[idx]
            if not lane.has_work:
                continue
            any_work = True
            due_retry = bool(lane.retries) and lane.retries[0][0] <= now
            if not due_retry and not lane.queue:  # only retries, none due yet
                wait = min(wait, lane.retries[0][0] - now)
                continue
            d = lane.limiter.delay(now)
            if d > 0:
                wait = min(wait, d)
                continue
            item = heapq.heappop(lane.retries)[2] if due_retry else lane.queue.popleft()
            lane.limiter.take(now)
            self._rr = (idx + 1) % n
            return item, lane
        return wait if any_work else None

    async def _next(self) -> tuple[_Pending, _Lane] | None:
        while True:
            if self._stopping:
                return None
            picked = self._pick(time.monotonic())
            if isinstance(picked, tuple):
                return picked
            if picked is None and self.in_flight == 0:
                self._notify()  # nothing left and nothing can come back: everyone may stop
                return None
            wake = self._wake
            assert wake is not None
            if picked is None:
                await wake.wait()
            else:
                try:
                    await asyncio.wait_for(wake.wait(), picked)
                except TimeoutError:
                    pass

    async def _worker(self) -> None:
        while True:
            got = await self._next()
            if got is None:
                return
            await self._attempt(*got)

    async def _attempt(self, pending: _Pending, lane: _Lane) -> None:
        call = pending.call
        pending.attempts += 1
        adapter = self.adapters[call.model_key]
        self.in_flight += 1
        t0 = time.perf_counter()
        try:
            outcome: Outcome = await adapter.complete(call.model, list(call.parts),
                                                      pending.options)
        except ProviderError as exc:
            outcome = exc
        except Exception as exc:  # an adapter bug must not end the run: record it
            outcome = exc
        finally:
            self.in_flight -= 1
        elapsed_ms = (time.perf_counter() - t0) * 1000
        delay = self._retry_delay(pending, outcome, lane)
        if delay is not None:
            if self._stopping:  # unfinished: a resumed run tries it again
                return
            self._seq += 1
            heapq.heappush(lane.retries, (time.monotonic() + delay, self._seq, pending))
            self._notify()
            return
        if self.in_flight == 0:
            self._notify()
        await self._finish(pending, outcome, elapsed_ms)

    def _retry_delay(self, pending: _Pending, outcome: Outcome, lane: _Lane) -> float | None:
        decided = retry_delay(self.limits.retry, pending, outcome, self._rng)
        if decided is None:
            return None
        delay, hold = decided
        if hold is not None:
            lane.limiter.hold(time.monotonic() + hold)
        return delay

    # -- recording ------------------------------------------------------------------------
    async def _finish(self, pending: _Pending, outcome: Outcome, elapsed_ms: float) -> None:
        call = pending.call
        scored = self.score(call, outcome)
        if inspect.isawaitable(scored):
            scored = await scored
        score, bucket, details, *side = scored if scored is not None else (None, None, None)
        row = self._row(pending, outcome, elapsed_ms, score, bucket, details)
        if side and side[0]:
            row.side_calls = tuple(side[0])
        self.completed += 1
        if row.status == "error":
            self.errors += 1
        self._buffer.append(row)
        if len(self._buffer) >= self.limits.flush_rows and self._flush_now is not None:
            self._flush_now.set()

    def _row(self, pending: _Pending, outcome: Outcome, elapsed_ms: float,
             score: float | None, bucket: str | None,
             details: Mapping[str, Any] | None) -> ResultRow:
        call = pending.call
        price = self.prices.get(call.model_key)
        extra: dict[str, Any] = dict(details or {})
        row = ResultRow(
            run_id=self.run_id, org_id=self.org_id, model_key=call.model_key,
            provider_id=call.provider_id, provider_name=call.provider_name, model=call.model,
            item_kind=call.item_kind, item_id=call.item_id, iteration=call.iteration,
            status="ok", ts=utcnow(), attempts=pending.attempts,
            score=None if score is None else float(score), bucket=bucket,
        )
        if isinstance(outcome, Completion):
            u = outcome.usage
            row.output_text = outcome.text
            if outcome.tags:
                row.tags_json = json.dumps([{"name": t.name, "score": t.score}
                                            for t in outcome.tags])
            row.duration_ms, row.ttft_ms = outcome.duration_ms, outcome.ttft_ms
            row.input_tokens, row.output_tokens = u.input_tokens, u.output_tokens
            row.cached_input_tokens, row.reasoning_tokens = u.cached_input_tokens, \
                u.reasoning_tokens
            row.request_id = outcome.request_id
            row.response_model, row.finish_reason = outcome.response_model, \
                outcome.finish_reason
            if price is not None:
                row.cost_usd = price.cost(u.input_tokens, u.output_tokens,
                                          u.cached_input_tokens, call.images)
        else:
            row.status = "error"
            row.error_type = outcome.kind if isinstance(outcome, ProviderError) else "_OTHER"
            row.duration_ms = elapsed_ms
            row.input_tokens = row.output_tokens = 0
            row.cached_input_tokens = row.reasoning_tokens = 0
            if price is not None and price.known:
                row.cost_usd = 0.0  # refused and failed calls are not billed
            extra["error_message"] = _error_message(outcome)
        if extra:
            row.details_json = json.dumps(extra, default=str)
        return row

    async def _writer(self) -> None:
        """Store finished calls in batches until the run stops (the last batch is stored
        with the final status, see :meth:`_finish_run`)."""
        assert self._flush_now is not None
        while True:
            wait = max(self.limits.flush_interval_s, min(5 * self._last_write_s, 2.0))
            try:
                await asyncio.wait_for(self._flush_now.wait(), wait)
            except TimeoutError:
                pass
            self._flush_now.clear()
            if self._closing:
                return
            await self._flush()

    async def _flush(self) -> None:
        if not self._buffer:
            return
        batch, self._buffer = self._buffer, []
        t0 = time.perf_counter()
        try:
            await asyncio.to_thread(self.recorder.record, batch)
        except BaseException:
            self._buffer = batch + self._buffer  # not stored: the final write retries them
            raise
        self._last_write_s = time.perf_counter() - t0
        self.recorded += len(batch)
        self._emit_progress()

    async def _stop_writer(self, writer: asyncio.Task) -> None:
        """Stop the writer after the write it may be doing; re-raises what made it fail."""
        self._closing = True
        if self._flush_now is not None:
            self._flush_now.set()
        await writer

    def _emit_progress(self) -> None:
        if self.on_progress is not None:
            self.on_progress(self.progress())


async def run_calls(
    calls: Sequence[PlannedCall],
    adapters: Mapping[str, Adapter],
    recorder: Recorder,
    *,
    run_id: str,
    org_id: str,
    **kw: Any,
) -> RunResult:
    """Build a :class:`Runner` and run it (keyword arguments as for the Runner)."""
    return await Runner(calls, adapters, recorder, run_id=run_id, org_id=org_id, **kw).run()
