"""The optional LLM judge of a comparison: one more model grades each prompt answer against
its reference with the spec's rubric (promptfoo's ``llm-rubric``).

The judge is a real, billed model call, made through its provider's adapter on the run's
pooled client, so every judged answer also yields a
:class:`~core.warehouse.comparison_runs.SideCall` (feature ``comparison_judge``) that is stored
as a usage event together with the answer's result row.

How it fits the runner (kept deliberately simple):

* **Concurrency**: the runner awaits the score function in the worker that made the model
  call, so a judge call occupies that worker's slot: model and judge calls in flight
  together never exceed the run's ``concurrency``, and no second pool or semaphore is needed.
  The price is throughput (a worker does not start its next call while it judges), which is
  the honest trade for a limit that means "calls in flight at once".
* **Timeout and retries**: each attempt gets the run's timeout; a 429 is retried after the
  provider's ``Retry-After`` and a 5xx or timeout with backoff, by the same rule and the
  same :class:`~core.compare.runner.RetryPolicy` as the compared calls
  (:func:`~core.compare.runner.retry_delay`). The waiting happens inside the worker, which
  keeps its slot.
* **Pacing**: when the spec sets requests per minute for the judge's provider, judge calls
  are paced to it by their own token bucket; it is not shared with the runner's pacing of a
  compared model on the same provider, so that provider may then see up to twice its limit
  (the 429s that follow are retried as above).
* **Failures never sink the run**: :meth:`Judge.grade` never raises (except cancellation);
  a failed call or an unreadable reply is an unscored verdict that says why.
* **Cancel and resume**: after a cancel, calls in flight get the runner's grace period to
  finish, judging included; a call abandoned while it is judged is not recorded (nor is its
  judge call, although the provider may bill it), and a resumed run makes both again. A
  recorded call is never judged again.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from typing import Any

from core.compare.runner import RateLimiter, RetryPolicy, retry_delay
from core.compare.scoring import JudgeVerdict, judge_answer
from core.compare.spec import JudgeSpec
from core.pricing import ModelPrice
from core.providers.base import Adapter, CallOptions, Completion, TextPart
from core.providers.errors import ProviderError
from core.redact import scrub
from core.warehouse.comparison_runs import JUDGE_FEATURE, SideCall, utcnow


@dataclass
class _Counts:
    """Attempts of one judge call, as :func:`retry_delay` counts them."""

    attempts: int = 0
    rate_limited: int = 0
    transient: int = 0


@dataclass(frozen=True)
class Graded:
    """One judged answer: the verdict, the judge call as a usage event, and what to store."""

    verdict: JudgeVerdict
    side_call: SideCall
    attempts: int
    provider_id: str
    pass_score: float

    def details(self) -> dict[str, Any]:
        """The ``details["judge"]`` object of the answer's result row."""
        s = self.side_call
        out: dict[str, Any] = {
            "provider": self.provider_id, "model": s.model, "status": s.status,
            "score": self.verdict.score, "reason": self.verdict.reason,
            "pass_score": self.pass_score,
            "passed": None if self.verdict.score is None else
            self.verdict.score >= self.pass_score,
            "input_tokens": s.input_tokens, "output_tokens": s.output_tokens,
            "cost_usd": s.cost_usd, "duration_ms": s.duration_ms, "attempts": self.attempts,
        }
        if s.error_type:
            out["error_type"] = s.error_type
        if not self.verdict.ok:
            out["note"] = "not judged: scored on its deterministic assertions only"
            if s.status == "ok":  # an unreadable reply: keep a little of it to see why
                out["reply"] = self.verdict.raw[:300]
        return out


class Judge:
    """The judge model of one run, on an adapter built from the run's pooled client."""

    def __init__(self, spec: JudgeSpec, adapter: Adapter, *, provider_id: str,
                 provider_name: str, price: ModelPrice | None = None, timeout_s: float = 60.0,
                 retry: RetryPolicy | None = None, rpm: float | None = None,
                 seed: int | None = None) -> None:
        self.spec = spec
        self.adapter = adapter
        self.provider_id, self.provider_name = provider_id, provider_name
        self.price = price
        self.retry = retry or RetryPolicy()
        # temperature 0: the same answer gets the same grade (adapters drop it for models
        # that only take their default); no token cap, so a thinking judge is not cut off
        self.options = CallOptions(temperature=0.0, stream=False, timeout_s=timeout_s)
        self._limiter = RateLimiter(rpm)
        self._rng = random.Random(seed)

    @property
    def model(self) -> str:
        return self.spec.model

    @property
    def pass_score(self) -> float:
        return self.spec.pass_score

    async def _paced(self) -> None:
        while (wait := self._limiter.delay(time.monotonic())) > 0:
            await asyncio.sleep(wait)
        self._limiter.take(time.monotonic())

    async def _complete(self, prompt: str, counts: _Counts) -> Completion:
        """One judge call with the run's retries; raises the final error."""
        while True:
            await self._paced()
            counts.attempts += 1
            try:
                return await self.adapter.complete(self.model, [TextPart(prompt)],
                                                   self.options)
            except ProviderError as exc:
                decided = retry_delay(self.retry, counts, exc, self._rng)
                if decided is None:
                    raise
                delay, hold = decided
                if hold is not None:
                    self._limiter.hold(time.monotonic() + hold)
                await asyncio.sleep(delay)

    async def grade(self, answer: str, *, reference: str | None = None,
                    question: str | None = None) -> Graded:
        """The judge's verdict on ``answer``; never raises (a failed call is unscored)."""
        counts = _Counts()
        got: dict[str, Any] = {}
        started = time.perf_counter()

        async def call(prompt: str) -> str:
            try:
                got["completion"] = await self._complete(prompt, counts)
            except BaseException as exc:
                got["error"] = exc
                raise
            return got["completion"].text

        verdict = await judge_answer(call, answer, rubric=self.spec.rubric,
                                     reference=reference, question=question)
        completion: Completion | None = got.get("completion")
        error: BaseException | None = got.get("error")
        if error is not None:
            message = error.user_message() if isinstance(error, ProviderError) else \
                scrub(f"{type(error).__name__}: {error}")
            verdict = JudgeVerdict(None, f"judge call failed: {message}")
        if completion is not None:
            u = completion.usage
            cost = self.price.cost(u.input_tokens, u.output_tokens, u.cached_input_tokens) \
                if self.price is not None else None
            side = SideCall(
                "judge", JUDGE_FEATURE, self.provider_name, self.model, "ok", utcnow(),
                response_model=completion.response_model, input_tokens=u.input_tokens,
                output_tokens=u.output_tokens, cached_input_tokens=u.cached_input_tokens,
                reasoning_tokens=u.reasoning_tokens, cost_usd=cost,
                duration_ms=completion.duration_ms, ttft_ms=completion.ttft_ms,
                finish_reason=completion.finish_reason)
        else:  # refused or failed calls are not billed
            side = SideCall(
                "judge", JUDGE_FEATURE, self.provider_name, self.model, "error", utcnow(),
                error_type=error.kind if isinstance(error, ProviderError) else "_OTHER",
                cost_usd=0.0 if self.price is not None and self.price.known else None,
                duration_ms=(time.perf_counter() - started) * 1000)
        return Graded(verdict, side, counts.attempts, self.provider_id, self.pass_score)
