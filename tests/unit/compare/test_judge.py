"""The optional LLM judge of a comparison: its verdict is one more (llm-rubric) assertion, its
calls are billed usage events stored with their result rows and never counted twice, and a
judge that fails or talks nonsense leaves answers scored on their deterministic assertions.

Fake adapters for the rules; the provider simulator on 127.0.0.1 for whole runs."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from core.compare import jobs
from core.compare.analysis import analyse
from core.compare.judge import Judge
from core.compare.plan import build_plan, make_scorer
from core.compare.runner import RetryPolicy
from core.compare.samples import bundled_samples
from core.compare.scoring import (
    AssertionResult,
    AssertionsOutcome,
    JudgeVerdict,
    rubric_assertion,
)
from core.compare.service import resume, run_limits, run_plan, start_comparison
from core.compare.spec import JudgeSpec, SpecError, parse_spec
from core.config_store import ProviderStore
from core.connections import ensure_demo_providers
from core.pricing import price_for
from core.providers.base import Adapter, Completion, TokenUsage
from core.providers.errors import BadRequest, RateLimited, Unavailable
from core.warehouse import comparison_runs as wc
from core.warehouse.db import Warehouse
from tests.helpers import forbid_non_loopback

pytestmark = pytest.mark.timeout(120)

ORG = "demo"
JUDGE = {"provider": "sim-openai", "model": "gpt-4.1", "pass_score": 0.7}
# two simulated models of different quality (reference_agreement 0.64 and 0.84)
MODELS = ["sim-mistral/mistral-small-latest", "sim-anthropic/claude-sonnet-4-5"]


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    forbid_non_loopback(monkeypatch)


@pytest.fixture()
def store(home: Path) -> ProviderStore:
    s = ProviderStore()
    ensure_demo_providers(s)
    return s


@pytest.fixture()
def wh(tmp_path: Path):
    w = Warehouse(tmp_path / "w.duckdb", idle_close_s=5.0)
    yield w
    w.close()


def _spec(**kw: Any):
    base = {"name": "judged", "models": MODELS, "prompts": {"features": ["safety_chat"]},
            "iterations": 2, "concurrency": 4, "judge": JUDGE}
    return parse_spec({**base, **kw})


def _done(text: str) -> Completion:
    return Completion(text, TokenUsage(100, 20), "m", "stop", 120.0, 40.0)


class FakeJudge(Adapter):
    """Replies from a script: each entry is reply text or an exception to raise."""

    def __init__(self, *script: str | Exception) -> None:
        self.script = list(script)
        self.prompts: list[str] = []
        self.timeouts: list[float] = []

    async def complete(self, model, parts, options=None) -> Completion:
        self.prompts.append(parts[0].text)
        self.timeouts.append(options.timeout_s)
        step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(step, Exception):
            raise step
        return Completion(step, TokenUsage(300, 25), "gpt-4.1-2025-04-14", "stop", 80.0, None)


def _judge(adapter: Adapter, **kw: Any) -> Judge:
    return Judge(JudgeSpec(**JUDGE), adapter, provider_id="sim-openai", provider_name="openai",
                 price=price_for("openai", "gpt-4.1"), timeout_s=kw.pop("timeout_s", 7.0),
                 retry=RetryPolicy(transient_retries=kw.pop("retries", 2), backoff_base_s=0.001),
                 **kw)


# ---- the rules ------------------------------------------------------------------------------


def test_the_judges_score_is_one_more_assertion_in_the_mean() -> None:
    checks = AssertionsOutcome.of([AssertionResult("regex", True, "ok"),
                                   AssertionResult("contains", False, "no")])
    rubric = rubric_assertion(JudgeVerdict(0.9, "close"), pass_score=0.7)
    assert rubric is not None and rubric.type == "llm-rubric" and rubric.passed
    both = checks.plus(rubric)
    assert both.score == pytest.approx((1 + 0 + 0.9) / 3) and not both.passed
    alone = AssertionsOutcome.of([]).plus(rubric_assertion(JudgeVerdict(0.4, "meh"), 0.7))
    assert alone.score == pytest.approx(0.4) and not alone.passed  # below pass_score
    assert rubric_assertion(JudgeVerdict(None, "unreadable"), 0.7) is None


def test_a_judge_call_is_retried_like_a_compared_call_and_billed() -> None:
    fake = FakeJudge(Unavailable("busy", status=503),
                     RateLimited("slow", retry_after=0.01, status=429),
                     '{"score": 8, "reason": "Right."}')
    graded = asyncio.run(_judge(fake).grade("UNSAFE", reference="UNSAFE", question="Q?"))
    assert graded.verdict.score == pytest.approx(0.8) and graded.attempts == 3
    assert fake.timeouts == [7.0, 7.0, 7.0]  # the run's timeout on every attempt
    assert "REFERENCE ANSWER:\nUNSAFE" in fake.prompts[0]
    side = graded.side_call
    assert (side.kind, side.feature, side.status) == ("judge", wc.JUDGE_FEATURE, "ok")
    assert side.input_tokens == 300 and side.cost_usd and side.cost_usd > 0
    d = graded.details()
    assert d["score"] == pytest.approx(0.8) and d["passed"] and d["reason"] == "Right."
    assert d["model"] == "gpt-4.1" and d["cost_usd"] == side.cost_usd


def test_a_failed_or_unreadable_judge_is_unscored_and_says_why() -> None:
    failed = asyncio.run(_judge(FakeJudge(BadRequest("no", status=400))).grade("x"))
    assert failed.verdict.score is None and failed.attempts == 1  # a 400 is not retried
    assert "judge call failed" in failed.verdict.reason
    assert failed.side_call.status == "error" and failed.side_call.error_type == "bad_request"
    assert failed.side_call.cost_usd == 0.0 and "note" in failed.details()

    down = asyncio.run(_judge(FakeJudge(Unavailable("down", status=500)), retries=1)
                       .grade("x"))
    assert down.attempts == 2 and down.side_call.error_type == "unavailable"

    babble = asyncio.run(_judge(FakeJudge("I would rather not say.")).grade("x"))
    assert babble.verdict.score is None and babble.side_call.status == "ok"
    assert babble.side_call.cost_usd > 0  # an unreadable reply is still billed
    assert babble.details()["reply"] == "I would rather not say."


def test_the_scorer_judges_prompt_answers_with_a_reference(store: ProviderStore) -> None:
    samples = bundled_samples()
    plan = build_plan(_spec(photos=["chelsea"]), samples, store.list(ORG))
    plain = make_scorer(plan, samples)
    fake = FakeJudge('{"score": 6, "reason": "Partly right."}')
    score = make_scorer(plan, samples, judge=_judge(fake))
    call = next(c for c in plan.calls if c.item_id == "prompt:safety-redact-pii")
    prompt = samples.prompt("safety-redact-pii")
    s, bucket, details, sides = asyncio.run(score(call, _done(prompt.reference)))
    assert s == pytest.approx((3 + 0.6) / 4) and bucket == "accurate"
    rubric = details["assertions"][-1]
    assert rubric == {"type": "llm-rubric", "passed": False, "reason": "Partly right.",
                      "score": pytest.approx(0.6)}
    assert details["judge"]["reason"] == "Partly right." and len(sides) == 1
    assert prompt.text.strip()[:40] in fake.prompts[0]  # the judge sees the question
    # photos and failed calls are not judged
    photo = next(c for c in plan.calls if c.item_kind == "photo")
    assert len(asyncio.run(score(photo, _done("cat")))) == 3
    assert asyncio.run(score(call, Unavailable("down")))[:2] == (0.0, "failed")
    assert len(fake.prompts) == 1
    # a judge that fails leaves exactly the deterministic score
    broken = make_scorer(plan, samples, judge=_judge(FakeJudge(BadRequest("no"))))
    wrong = _done("Call me at 555-0142.")
    s2, b2, d2, sides2 = asyncio.run(broken(call, wrong))
    assert (s2, b2) == plain(call, wrong)[:2]
    assert all(a["type"] != "llm-rubric" for a in d2["assertions"])
    assert "judge call failed" in d2["judge"]["reason"] and sides2[0].status == "error"


def test_a_judge_provider_that_is_not_configured_is_a_spec_error(store: ProviderStore) -> None:
    records = store.list(ORG)
    with pytest.raises(SpecError) as err:
        build_plan(_spec(judge="nowhere/gpt-4.1"), bundled_samples(), records)
    assert "judge › nowhere/gpt-4.1: no enabled provider 'nowhere'" in str(err.value)
    with pytest.raises(SpecError) as err:
        build_plan(_spec(judge="sim-vision/builtin/stable"), bundled_samples(), records)
    assert "cannot grade answers" in str(err.value)


def test_side_calls_are_stored_with_their_row_and_never_twice(wh: Warehouse) -> None:
    run_id = wc.create_run(wh, ORG, "r", {}, created_by="t")
    side = wc.SideCall("judge", wc.JUDGE_FEATURE, "openai", "gpt-4.1", "ok", wc.utcnow(),
                       input_tokens=200, output_tokens=20, cost_usd=0.001, duration_ms=50.0)
    row = wc.ResultRow(run_id=run_id, org_id=ORG, model_key="m1", provider_id="p",
                       provider_name="anthropic", model="claude-haiku-4-5", item_kind="prompt",
                       item_id="prompt:x", iteration=1, status="ok", ts=wc.utcnow(),
                       cost_usd=0.01, duration_ms=100.0, input_tokens=10, output_tokens=5,
                       side_calls=(side,))
    assert wc.record_results(wh, ORG, run_id, [row]) == 1
    assert wc.record_results(wh, ORG, run_id, [row]) == 0
    with pytest.raises(ValueError):
        wc.record_results(wh, ORG, run_id, [replace(row, item_id="y", side_calls=(side, side))])
    with wh.cursor() as cur:
        events = cur.execute("SELECT request_id, feature, source, provider_name, cost_usd "
                             "FROM usage_events ORDER BY feature").fetchall()
        hourly = cur.execute("SELECT feature, sum(requests), sum(cost_usd) FROM usage_hourly "
                             "GROUP BY feature ORDER BY feature").fetchall()
    assert events == [
        (f"cmp:{run_id}:m1:prompt:x:1", "comparison", "benchmark", "anthropic", 0.01),
        (f"cmpjudge:{run_id}:m1:prompt:x:1", "comparison_judge", "benchmark", "openai", 0.001)]
    assert hourly == [("comparison", 1, 0.01), ("comparison_judge", 1, 0.001)]


class Counting(Adapter):
    """Answers after a short pause and counts how many calls (of any adapter sharing the
    log) are in flight at once."""

    def __init__(self, log: dict[str, int], reply: str | None = None) -> None:
        self.log, self.reply = log, reply

    async def complete(self, model, parts, options=None) -> Completion:
        self.log["now"] += 1
        self.log["max"] = max(self.log["max"], self.log["now"])
        self.log[model] = self.log.get(model, 0) + 1
        try:
            await asyncio.sleep(0.005)
        finally:
            self.log["now"] -= 1
        return _done(self.reply or parts[-1].text[:20])


def test_model_and_judge_calls_together_stay_within_the_concurrency(
        store: ProviderStore) -> None:
    from core.compare.record import MemoryRecorder
    from core.compare.runner import RunLimits, Runner

    samples = bundled_samples()
    plan = build_plan(_spec(), samples, store.list(ORG))
    log = {"now": 0, "max": 0}
    judge = _judge(Counting(log, '{"score": 7, "reason": "Fine."}'))
    recorder = MemoryRecorder()
    runner = Runner(plan.calls, {k: Counting(log) for k in plan.models}, recorder,
                    run_id="r", org_id=ORG, score=make_scorer(plan, samples, judge=judge),
                    limits=RunLimits(concurrency=3))
    result = asyncio.run(runner.run())
    assert result.status == "done" and len(recorder.rows) == plan.total
    assert log["gpt-4.1"] == plan.total  # every answer was judged ...
    assert log["max"] <= 3  # ... and never beyond the run's limit
    assert runner.in_flight == 0
    assert all(len(r.side_calls) == 1 for r in recorder.rows)


# ---- whole runs against the simulator ----------------------------------------------------------


def _judge_events(wh: Warehouse, run_id: str) -> pd.DataFrame:
    with wh.cursor() as cur:
        return cur.execute(
            "SELECT request_id, feature, source, provider_name, request_model, status, "
            "error_type, cost_usd FROM usage_events WHERE request_id LIKE ?",
            [f"cmpjudge:{run_id}:%"]).df()


def _details(frame: pd.DataFrame) -> list[dict]:
    return [json.loads(t) for t in frame["details_json"]]


def _judge_requests(sim) -> int:
    return sim.simulator.stats()["by_model"].get("openai", {}).get("gpt-4.1", {}).get(
        "requests", 0)


def test_a_judged_run_records_scores_reasons_and_judge_usage(store, wh, sim) -> None:
    spec = _spec()
    samples = bundled_samples()
    run_id = start_comparison(spec, samples, org_id=ORG, actor="t", warehouse=wh,
                              providers=store)
    assert jobs.wait(run_id, timeout=90).state == "done"
    frame = wc.load_results(wh, ORG, run_id)
    assert len(frame) == 2 * 11 * 2 and (frame["status"] == "ok").all()
    refs = {f"prompt:{p.id}": p.reference for p in samples.prompts_for("safety_chat")}
    right = wrong = 0
    for (_, row), details in zip(frame.iterrows(), _details(frame), strict=True):
        judge = details["judge"]
        rubric = [a for a in details["assertions"] if a["type"] == "llm-rubric"]
        assert judge["model"] == "gpt-4.1" and judge["reason"] and judge["status"] == "ok"
        assert len(rubric) == 1 and rubric[0]["score"] == judge["score"]
        values = [a.get("score", float(a["passed"])) for a in details["assertions"]]
        assert row["score"] == pytest.approx(sum(values) / len(values))
        # the judge really compared the answer with the reference
        if row["output_text"].strip() == refs[row["item_id"]].strip():
            right += 1
            assert judge["score"] >= 0.8, (row["item_id"], judge)
        else:
            wrong += 1
            assert judge["score"] <= 0.4, (row["item_id"], row["output_text"], judge)
    assert right and wrong  # both kinds of answer were graded

    events = _judge_events(wh, run_id)
    assert len(events) == len(frame) == events["request_id"].nunique()
    assert set(events["feature"]) == {"comparison_judge"}
    assert set(events["source"]) == {"benchmark"} and set(events["request_model"]) == {"gpt-4.1"}
    assert set(events["provider_name"]) == {"openai"}
    judge_cost = sum(d["judge"]["cost_usd"] for d in _details(frame))
    assert events["cost_usd"].sum() == pytest.approx(judge_cost) and judge_cost > 0
    with wh.cursor() as cur:
        hourly = cur.execute("SELECT sum(requests), sum(cost_usd) FROM usage_hourly WHERE "
                             "org_id = ? AND feature = 'comparison_judge'", [ORG]).fetchone()
    assert hourly[0] == len(frame) and hourly[1] == pytest.approx(judge_cost)

    result = analyse(frame, spec)
    assert result.judge is not None and result.judge.calls == len(frame)
    assert result.judge.scored == len(frame) and result.judge.failed == 0
    assert result.judge.total_cost == pytest.approx(judge_cost)
    for m in result.models:  # a model's own cost never includes the judge
        own = frame.loc[frame["model_key"] == m.model_key, "cost_usd"].sum()
        assert m.total_cost == pytest.approx(own) and m.judge_cost > 0
        assert m.cost_per_request == pytest.approx(own / m.calls)
    assert sum(m.judge_cost for m in result.models) == pytest.approx(judge_cost)
    assert json.loads(result.to_json())["judge"]["total_cost"] == pytest.approx(judge_cost)


def test_a_resumed_run_never_judges_or_counts_a_finished_call_twice(store, wh, sim) -> None:
    spec = _spec()
    samples = bundled_samples()
    plan = build_plan(spec, samples, store.list(ORG))
    run_id = wc.create_run(wh, ORG, spec.name, spec.model_dump(mode="json"), created_by="t",
                           total_calls=plan.total)
    make = run_plan(plan, samples, org_id=ORG, warehouse=wh, providers=store)

    async def first_part(clients):  # a session that stops after some calls
        whole = await make(clients)
        return replace(whole, calls=list(whole.calls)[:15])

    jobs.start(run_id, warehouse=wh, org_id=ORG, plan=first_part, limits=run_limits(spec, plan))
    assert jobs.wait(run_id, timeout=90).state == "done"
    assert len(_judge_events(wh, run_id)) == 15 and _judge_requests(sim) == 15
    resume(run_id, spec, samples, org_id=ORG, warehouse=wh, providers=store)
    assert jobs.wait(run_id, timeout=90).state == "done"
    resume(run_id, spec, samples, org_id=ORG, warehouse=wh, providers=store)  # nothing left
    assert jobs.wait(run_id, timeout=90).state == "done"
    frame = wc.load_results(wh, ORG, run_id)
    events = _judge_events(wh, run_id)
    assert len(frame) == plan.total
    assert len(events) == events["request_id"].nunique() == plan.total
    assert _judge_requests(sim) == plan.total  # finished calls were not judged again


def test_a_failing_judge_leaves_answers_scored_on_their_assertions(store, wh, sim) -> None:
    httpx.post(f"{sim.url}/_admin/faults", json={"provider": "openai", "model": "gpt-4.1",
                                                  "status": 503}).raise_for_status()
    spec = _spec(iterations=1, retries=1)
    samples = bundled_samples()
    run_id = start_comparison(spec, samples, org_id=ORG, actor="t", warehouse=wh,
                              providers=store)
    assert jobs.wait(run_id, timeout=90).state == "done"
    frame = wc.load_results(wh, ORG, run_id)
    plan = build_plan(spec, samples, store.list(ORG))
    plain = make_scorer(plan, samples)
    calls = {c.key: c for c in plan.calls}
    assert len(frame) == 2 * 11 and (frame["status"] == "ok").all()
    for (_, row), details in zip(frame.iterrows(), _details(frame), strict=True):
        judge = details["judge"]
        assert judge["status"] == "error" and judge["score"] is None
        assert judge["attempts"] == 2 and "judge call failed" in judge["reason"]
        assert "HTTP 503" in judge["reason"] and "deterministic" in judge["note"]
        assert all(a["type"] != "llm-rubric" for a in details["assertions"])
        call = calls[(row["model_key"], row["item_id"], int(row["iteration"]))]
        answer = Completion(row["output_text"], TokenUsage(int(row["input_tokens"]),
                            int(row["output_tokens"])), None, "stop", row["duration_ms"], None)
        expected, bucket, _ = plain(call, answer)
        assert row["score"] == pytest.approx(expected) and row["bucket"] == bucket
    events = _judge_events(wh, run_id)  # failed judge calls are recorded, unbilled
    assert len(events) == len(frame) and set(events["status"]) == {"error"}
    assert set(events["error_type"]) == {"unavailable"} and events["cost_usd"].sum() == 0
    summary = analyse(frame, spec).judge
    assert summary is not None and summary.failed == summary.calls == len(frame)
    assert summary.scored == 0 and summary.total_cost == 0
