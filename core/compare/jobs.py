"""Comparison runs as background jobs that outlive Streamlit reruns and page navigation.

A page script must never run a comparison itself (it would die with the next rerun). It
calls :func:`start`, which runs the comparison in its own thread with its own event loop and
returns at once; the page then polls :func:`status` (e.g. from ``st.fragment(run_every=…)``)
and may :func:`cancel`. The registry is a plain module-level dict guarded by a lock, i.e. one
per process; a page keeps it alive with ``st.cache_resource(jobs.registry)``.

What a user can rely on:

* results are stored as calls finish (see :mod:`core.compare.runner`), so nothing finished is
  lost when a job is cancelled, crashes or the process stops;
* a job whose thread died (an exception in a callback, storage failing) reports ``failed``
  with the reason; the run is marked failed in the warehouse and can be resumed;
* after a restart, a run the warehouse still calls ``running`` but that no live process owns
  reports ``interrupted``; ``start(run_id, …, resume=True)`` carries on without repeating a
  finished call.

States reported: ``queued`` (starting), ``running``, ``cancelling`` (cancel asked, calls in
flight finishing), ``done``, ``cancelled``, ``failed``, ``interrupted`` and ``unknown``.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import socket
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from core.compare.record import WarehouseRecorder, calls_prices
from core.compare.runner import (
    ClientPool,
    PlannedCall,
    Progress,
    RunLimits,
    Runner,
    RunResult,
    ScoreFn,
)
from core.pricing import ModelPrice
from core.providers.base import Adapter
from core.redact import scrub
from core.warehouse import comparison_runs as wc
from core.warehouse.db import Warehouse

__all__ = [
    "OWNER", "JobAlreadyRunning", "JobRegistry", "JobStatus", "RunNotStartable", "RunPlan",
    "cancel", "interrupted_runs", "registry", "start", "status", "wait",
]

HOST = socket.gethostname()
PROCESS_TOKEN = uuid.uuid4().hex[:12]
OWNER = f"{HOST}|{os.getpid()}|{PROCESS_TOKEN}"  # stored with a running run
LIVE_STATES = frozenset({"queued", "running", "cancelling"})


class JobStatus(NamedTuple):
    state: str
    done: int
    total: int
    eta_s: float | None
    error: str | None


@dataclass
class RunPlan:
    """What a job runs: built inside the job's thread, on the job's own httpx clients."""

    calls: Sequence[PlannedCall]
    adapters: Mapping[str, Adapter]
    score: ScoreFn | None = None
    prices: Mapping[str, ModelPrice | None] | None = None  # None: looked up for the org


# plan(clients) -> RunPlan; ``clients(provider_id)`` is that provider's pooled httpx client
PlanFn = Callable[[ClientPool], "RunPlan | Awaitable[RunPlan]"]


class JobAlreadyRunning(RuntimeError):
    """The run already has a live job (in this process or another one)."""


class RunNotStartable(ValueError):
    """The run has already started; only ``resume=True`` may continue it."""


def owner_alive(owner: str | None, live_here: bool) -> bool:
    """Whether the process that marked a run ``running`` is still running it."""
    if not owner:
        return False
    host, _, rest = owner.partition("|")
    pid_text, _, token = rest.partition("|")
    if token == PROCESS_TOKEN:
        return live_here
    if host != HOST:
        return True  # another machine: we cannot tell, so do not call it interrupted
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True


class Job:
    """One run in a thread. Its fields are read by other threads; writes hold ``lock``."""

    def __init__(self, run_id: str, org_id: str, wh: Warehouse, plan: PlanFn,
                 limits: RunLimits, feature: str,
                 on_progress: Callable[[Progress], None] | None, done: int, total: int) -> None:
        self.run_id, self.org_id, self.wh = run_id, org_id, wh
        self.plan, self.limits, self.feature = plan, limits, feature
        self.user_progress = on_progress
        self.lock = threading.Lock()
        self.state = "queued"
        self.error: str | None = None
        self.runner: Runner | None = None
        self.result: RunResult | None = None
        self.cancel_requested = False
        self.started_at = time.time()
        self.finished_at: float | None = None
        self._base = (done, total)
        self.thread = threading.Thread(target=self._main, name=f"compare-{run_id[:8]}",
                                       daemon=True)

    # -- the thread -------------------------------------------------------------------------
    def _main(self) -> None:
        try:
            result = asyncio.run(self._amain())
        except BaseException as exc:  # noqa: BLE001 - a job reports, it does not crash the app
            message = scrub(f"{type(exc).__name__}: {exc}")
            with self.lock:
                self.state, self.error = "failed", message
                self.finished_at = time.time()
            try:  # the runner marks its own crashes; this covers a failing plan or start
                run = wc.get_run(self.wh, self.org_id, self.run_id)
                if run is not None and run.status != "failed":
                    wc.mark_status(self.wh, self.org_id, self.run_id, "failed", error=message)
            except Exception:  # noqa: BLE001 - the warehouse may be what failed
                pass
            return
        with self.lock:
            self.result = result
            self.state = result.status
            self.finished_at = time.time()

    async def _amain(self) -> RunResult:
        async with ClientPool(self.limits.concurrency) as clients:
            plan = self.plan(clients)
            if inspect.isawaitable(plan):
                plan = await plan
            prices = plan.prices
            if prices is None:
                prices = await asyncio.to_thread(calls_prices, plan.calls, wh=self.wh,
                                                 org_id=self.org_id)
            recorder = WarehouseRecorder(self.wh, self.org_id, self.run_id,
                                         feature=self.feature, owner=OWNER)
            runner = Runner(plan.calls, plan.adapters, recorder, run_id=self.run_id,
                            org_id=self.org_id, score=plan.score, limits=self.limits,
                            prices=prices, on_progress=self._progress, resume=True)
            with self.lock:
                self.runner = runner
                if self.state == "queued":
                    self.state = "running"
                cancel = self.cancel_requested
            if cancel:
                runner.cancel()
            return await runner.run()

    def _progress(self, progress: Progress) -> None:
        if self.user_progress is not None:
            self.user_progress(progress)

    # -- from other threads -----------------------------------------------------------------
    def cancel(self) -> None:
        with self.lock:
            self.cancel_requested = True
            if self.state in ("queued", "running"):
                self.state = "cancelling"
            runner = self.runner
        if runner is not None:
            runner.cancel()

    @property
    def alive(self) -> bool:
        return self.thread.is_alive()

    def status(self) -> JobStatus:
        with self.lock:
            state, error, runner, result = self.state, self.error, self.runner, self.result
        if state in LIVE_STATES and not self.thread.is_alive():
            # the thread ended without saying how: it died
            state, error = "failed", error or "the job stopped unexpectedly"
            with self.lock:
                self.state, self.error = state, error
            try:
                wc.mark_status(self.wh, self.org_id, self.run_id, "failed", error=error)
            except Exception:  # noqa: BLE001
                pass
        if result is not None:
            return JobStatus(state, result.done, result.total, None, error)
        if runner is not None:
            p = runner.progress()
            eta = p.eta_s if state in LIVE_STATES else None
            return JobStatus(state, p.done, p.total, eta, error)
        done, total = self._base
        return JobStatus(state, done, total, None, error)


class JobRegistry:
    """The process's jobs by run id (one dict, one lock)."""

    def __init__(self, jobs: dict[str, Job] | None = None,
                 lock: threading.Lock | None = None) -> None:
        self._jobs = {} if jobs is None else jobs
        self._lock = lock or threading.Lock()

    def start(
        self,
        run_id: str,
        *,
        warehouse: Warehouse,
        org_id: str,
        plan: PlanFn,
        limits: RunLimits | None = None,
        resume: bool = False,
        feature: str = wc.DEFAULT_FEATURE,
        on_progress: Callable[[Progress], None] | None = None,
    ) -> JobStatus:
        """Run ``run_id`` (created with ``core.warehouse.comparison_runs.create_run``) in the
        background. ``plan(clients)`` is called in the job's thread and returns the calls and
        an adapter per model, each built on ``clients(provider_id)`` (a pooled httpx client
        per provider, closed when the job ends).
        ``resume=True`` continues a cancelled, failed or interrupted run, skipping every
        call already recorded; without it the run must still be ``queued``."""
        run = wc.get_run(warehouse, org_id, run_id)
        if run is None:
            raise wc.RunNotFound(run_id)
        with self._lock:
            job = self._jobs.get(run_id)
            if job is not None and job.alive:
                raise JobAlreadyRunning(f"comparison {run.name!r} is already running")
            if run.status == "running" and owner_alive(run.owner, live_here=False):
                raise JobAlreadyRunning(
                    f"comparison {run.name!r} is running in another process ({run.owner})")
            if not resume and run.status != "queued":
                raise RunNotStartable(
                    f"comparison {run.name!r} is {run.status}; resume it instead")
            job = Job(run_id, org_id, warehouse, plan, limits or RunLimits(), feature,
                      on_progress, run.done_calls, run.total_calls)
            self._jobs[run_id] = job
            job.thread.start()
        return job.status()

    def get(self, run_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(run_id)

    def status(self, run_id: str, *, warehouse: Warehouse | None = None,
               org_id: str | None = None) -> JobStatus:
        """A live or finished job of this process; else (with ``warehouse`` and ``org_id``)
        what the warehouse says, ``running`` with no live owner being ``interrupted``."""
        job = self.get(run_id)
        if job is not None and (org_id is None or job.org_id == org_id):
            return job.status()
        if warehouse is None or org_id is None:
            return JobStatus("unknown", 0, 0, None, None)
        run = wc.get_run(warehouse, org_id, run_id)
        if run is None:
            return JobStatus("unknown", 0, 0, None, None)
        state = run.status
        if state == "running" and not owner_alive(run.owner, live_here=False):
            state = "interrupted"
        return JobStatus(state, run.done_calls, run.total_calls, None, run.error)

    def cancel(self, run_id: str, *, warehouse: Warehouse | None = None,
               org_id: str | None = None) -> bool:
        """Cancel a live job; or (given the warehouse) mark a queued or interrupted run
        cancelled. False when there was nothing to cancel."""
        job = self.get(run_id)
        if job is not None and job.alive and (org_id is None or job.org_id == org_id):
            job.cancel()
            return True
        if warehouse is None or org_id is None:
            return False
        state = self.status(run_id, warehouse=warehouse, org_id=org_id).state
        if state in ("queued", "interrupted"):
            wc.mark_status(warehouse, org_id, run_id, "cancelled")
            return True
        return False

    def wait(self, run_id: str, timeout: float | None = None) -> JobStatus:
        """Block until the job's thread ends (or ``timeout``); the CLI and tests use this."""
        job = self.get(run_id)
        if job is None:
            return JobStatus("unknown", 0, 0, None, None)
        job.thread.join(timeout)
        return job.status()

    def active(self) -> list[str]:
        with self._lock:
            return [rid for rid, job in self._jobs.items() if job.alive]

    def forget(self, run_id: str) -> None:
        """Drop a finished job from memory (its run stays in the warehouse)."""
        with self._lock:
            job = self._jobs.get(run_id)
            if job is not None and not job.alive:
                del self._jobs[run_id]

    def interrupted_runs(self, warehouse: Warehouse, org_id: str) -> list[wc.RunInfo]:
        """Runs the warehouse calls ``running`` that no live process owns (resumable)."""
        out = []
        for run in wc.list_runs(warehouse, org_id, statuses=["running"], limit=1000):
            job = self.get(run.run_id)
            if job is not None and job.alive:
                continue
            if not owner_alive(run.owner, live_here=False):
                out.append(run)
        return out


# The process-wide registry: a plain module-level dict guarded by a lock.
_JOBS: dict[str, Job] = {}
_JOBS_LOCK = threading.Lock()
_REGISTRY = JobRegistry(_JOBS, _JOBS_LOCK)


def registry() -> JobRegistry:
    """The process's registry (hold it with ``st.cache_resource(jobs.registry)``)."""
    return _REGISTRY


def start(run_id: str, **kw) -> JobStatus:
    return _REGISTRY.start(run_id, **kw)


def status(run_id: str, **kw) -> JobStatus:
    return _REGISTRY.status(run_id, **kw)


def cancel(run_id: str, **kw) -> bool:
    return _REGISTRY.cancel(run_id, **kw)


def wait(run_id: str, timeout: float | None = None) -> JobStatus:
    return _REGISTRY.wait(run_id, timeout)


def interrupted_runs(warehouse: Warehouse, org_id: str) -> list[wc.RunInfo]:
    return _REGISTRY.interrupted_runs(warehouse, org_id)
