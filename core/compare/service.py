"""Start a comparison from a spec: the run is created in the warehouse, planned against the
organization's providers and run as a background job (the page polls it; the CLI waits).

The samples a run uses come from its spec (:func:`core.compare.sample_store.resolve_samples`:
the bundled samples plus the uploaded sets and folders it names), so starting, resuming and
reopening a run all see the same photos and prompts. Before a run against simulated
providers the simulator is taught those items' ground truth (``/_admin/knowledge``); real
providers only ever receive the photos and prompt texts.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from core.catalog.view import Catalog, CatalogEntry, provider_name_for
from core.compare import jobs
from core.compare.analysis import Analysis
from core.compare.judge import Judge
from core.compare.plan import Plan, build_plan, make_scorer
from core.compare.record import prices_for
from core.compare.runner import ClientPool, RetryPolicy, RunLimits
from core.compare.sample_store import SampleSetInfo, SampleStore, resolve_samples
from core.compare.samples import Problem, SamplePhoto, SampleSet
from core.compare.spec import ComparisonSpec, SpecError, parse_spec
from core.compare.stats import pareto_frontier
from core.config_store import ProviderRecord, ProviderStore
from core.connections import adapter_for, simulator_root
from core.simulator.launcher import KnowledgeUpdate, teach
from core.warehouse import comparison_runs as wc
from core.warehouse.db import Warehouse


def _samples_for(spec: ComparisonSpec, samples: SampleSet | None, org_id: str,
                 store: SampleStore | None, allow_folders: bool) -> SampleSet:
    if samples is None:
        return resolve_samples(spec, org_id, store=store, allow_folders=allow_folders)[0]
    if spec.samples or not spec.bundled:
        raise ValueError("this spec names its samples; pass samples=None so that they are "
                         "resolved from the spec (the same way on start, resume and reopen)")
    return samples


def start_comparison(spec: ComparisonSpec, samples: SampleSet | None = None, *, org_id: str,
                     actor: str, warehouse: Warehouse, providers: ProviderStore,
                     sim_root: str | None = None, sample_store: SampleStore | None = None,
                     allow_folders: bool = False) -> str:
    """Create the run and start its job; returns the run id.

    ``samples=None`` (the normal case) resolves them from the spec; an explicit SampleSet
    is only accepted for specs that name no samples (tests, benchmarks). ``allow_folders``
    lets ``spec.samples`` name folders on this machine (the CLI; never a page user's
    input). Spec problems (an unknown provider, a deleted sample set, nothing selected)
    raise :class:`core.compare.spec.SpecError` before anything is stored."""
    samples = _samples_for(spec, samples, org_id, sample_store, allow_folders)
    plan = build_plan(spec, samples, providers.list(org_id))
    run_id = wc.create_run(warehouse, org_id, spec.name, spec.model_dump(mode="json"),
                           created_by=actor, total_calls=plan.total)
    _start_job(run_id, spec, samples, org_id=org_id, warehouse=warehouse, providers=providers,
               sim_root=sim_root, fresh=True)
    return run_id


def resume(run_id: str, spec: ComparisonSpec, samples: SampleSet | None = None, *,
           org_id: str, warehouse: Warehouse, providers: ProviderStore,
           sim_root: str | None = None, fresh: bool = False,
           sample_store: SampleStore | None = None,
           allow_folders: bool = False) -> jobs.JobStatus:
    """(Re)start a run's job; finished calls are skipped. Samples resolve as in
    :func:`start_comparison`."""
    samples = _samples_for(spec, samples, org_id, sample_store, allow_folders)
    return _start_job(run_id, spec, samples, org_id=org_id, warehouse=warehouse,
                      providers=providers, sim_root=sim_root, fresh=fresh)


@dataclass(frozen=True)
class OpenedRun:
    """A past run with what it compared: the page shows each item beside every answer."""

    run: wc.RunInfo
    spec: ComparisonSpec
    samples: SampleSet
    problems: list[Problem]


def open_run(warehouse: Warehouse, org_id: str, run_id: str, *,
             sample_store: SampleStore | None = None) -> OpenedRun:
    """A past run of ``org_id`` with its spec and samples, resolved as when it ran. Folders
    are read because this spec is the stored one, admitted when the run started. Raises
    :class:`core.warehouse.comparison_runs.RunNotFound`, or SpecError when a set it used is
    gone."""
    run = wc.get_run(warehouse, org_id, run_id)
    if run is None:
        raise wc.RunNotFound(run_id)
    spec = parse_spec(run.spec)
    samples, problems = resolve_samples(spec, org_id, store=sample_store, allow_folders=True)
    return OpenedRun(run, spec, samples, problems)


def simulator_knowledge(plan: Plan, samples: SampleSet) -> KnowledgeUpdate:
    """Ground truth of the plan's labelled photos and references of its prompts."""
    photos: dict[str, SamplePhoto] = {}
    references = []
    for item in plan.items.values():
        if item.photo is not None:
            photos[item.photo.id] = item.photo
        if item.prompt is not None:
            if item.prompt.photo and (p := samples.photo(item.prompt.photo)) is not None:
                photos[p.id] = p
            if item.prompt.reference:
                references.append(item.prompt.reference_entry())
    return KnowledgeUpdate.model_validate({
        "photos": {p.sha256: p.truth_entry() for p in photos.values() if p.labelled},
        "references": references})


def run_limits(spec: ComparisonSpec, plan: Plan) -> RunLimits:
    """The runner's limits for a spec: concurrency, pacing, per-model timeouts, retries."""
    return RunLimits(concurrency=spec.concurrency,
                     rpm={pid: rpm for pid, rpm in spec.rate_limits_rpm.items()},
                     timeouts={k: (ref.timeout_s or spec.timeout_s)
                               for k, ref in plan.models.items()},
                     retry=RetryPolicy(transient_retries=spec.retries))


def run_plan(plan: Plan, samples: SampleSet, *, org_id: str, warehouse: Warehouse,
             providers: ProviderStore, sim_root: str | None = None) -> jobs.PlanFn:
    """What a job runs for ``plan``: built in the job's thread, every adapter (the judge's
    too) on the job's pooled client for its provider. Before a run against simulated
    providers the simulator is taught the items' ground truth."""

    async def make(clients: ClientPool) -> jobs.RunPlan:
        simulated = [r for r in plan.providers.values() if r.simulated]
        root = sim_root
        if simulated:  # only the simulator hears the truth, never a real provider
            root = root or simulator_root()
            await teach(clients(simulated[0].id), root, simulator_knowledge(plan, samples))
        adapters = {key: adapter_for(providers, record, clients(record.id), root)
                    for key, record in plan.providers.items()}
        judge = await _judge(plan, clients, org_id=org_id, warehouse=warehouse,
                             providers=providers, sim_root=root)
        return jobs.RunPlan(plan.calls, adapters, make_scorer(plan, samples, judge=judge))

    return make


def _start_job(run_id: str, spec: ComparisonSpec, samples: SampleSet, *, org_id: str,
               warehouse: Warehouse, providers: ProviderStore, sim_root: str | None,
               fresh: bool) -> jobs.JobStatus:
    """Plan against the organization's providers and start (or resume) the run's job;
    finished calls are skipped, and so is judging them."""
    plan = build_plan(spec, samples, providers.list(org_id))
    make = run_plan(plan, samples, org_id=org_id, warehouse=warehouse, providers=providers,
                    sim_root=sim_root)
    return jobs.start(run_id, warehouse=warehouse, org_id=org_id, plan=make,
                      limits=run_limits(spec, plan), resume=not fresh)


async def _judge(plan: Plan, clients: ClientPool, *, org_id: str, warehouse: Warehouse,
                 providers: ProviderStore, sim_root: str | None) -> Judge | None:
    """The run's judge on the job's pooled client for its provider (None: no judge), priced
    like the compared models (the organization's override when one is in force), with the
    run's timeout and retries."""
    if plan.judge is None or plan.judge_provider is None:
        return None
    record, spec = plan.judge_provider, plan.spec
    name = provider_name_for(record)
    price = (await asyncio.to_thread(prices_for, [("judge", name, plan.judge.model)],
                                     wh=warehouse, org_id=org_id))["judge"]
    return Judge(plan.judge, adapter_for(providers, record, clients(record.id), sim_root),
                 provider_id=record.id, provider_name=name, price=price,
                 timeout_s=spec.timeout_s, retry=run_limits(spec, plan).retry,
                 rpm=spec.rate_limits_rpm.get(record.id))


# ---- what the Compare page asks ----------------------------------------------------------------
# The page lays out widgets; the rules behind them live here, so the CLI and tests share them.

RunInfo = wc.RunInfo
RunNotFound = wc.RunNotFound


def get_run(warehouse: Warehouse, org_id: str, run_id: str) -> RunInfo | None:
    """A run of ``org_id`` (None when there is none by that id in this organization)."""
    return wc.get_run(warehouse, org_id, run_id)


def list_runs(warehouse: Warehouse, org_id: str, limit: int = 50) -> list[RunInfo]:
    """The organization's runs, newest first."""
    return wc.list_runs(warehouse, org_id, limit=limit)


def load_results(warehouse: Warehouse, org_id: str, run_id: str) -> pd.DataFrame:
    """A run's result rows (one per call)."""
    return wc.load_results(warehouse, org_id, run_id)


def run_label(run: RunInfo) -> str:
    """Name, start and a short id: two runs of one spec in the same minute stay apart."""
    return f"{run.name} · {run.created_at:%d %b %H:%M:%S} · {run.run_id[:6]}"


def comparable(catalog: Catalog) -> list[CatalogEntry]:
    """The catalog's models a comparison can run: active, and not photo-tagging services."""
    return [e for e in catalog.entries if e.model.active and e.model.kind != "tagging"]


def model_options(catalog: Catalog) -> dict[str, str]:
    """provider/model key -> "model · provider name", for the model pickers."""
    return {e.key: f"{e.model.model_id} · {e.provider.name}" for e in comparable(catalog)}


_CLASS_RANK = {"flagship": 0, "fast": 2, "legacy": 3}


def default_judge(entries: Iterable[CatalogEntry]) -> str | None:
    """The judge to preselect: a judge should be the strongest writer on offer, so the
    catalog's own classification decides — flagships first, then models that reason, then
    the dearest per token (price follows capability within a catalog); ties keep the
    catalog's order. None when there is nothing to choose from."""
    ranked = sorted(enumerate(e for e in entries if e.model.kind != "tagging"),
                    key=lambda ie: (_CLASS_RANK.get(ie[1].model.model_class or "", 1),
                                    "reasoning" not in ie[1].model.specialties,
                                    -(ie[1].blended_per_mtok or 0.0), ie[0]))
    return ranked[0][1].key if ranked else None


@dataclass(frozen=True)
class SampleChoice:
    """What the sample pickers offer and which of it is selected."""

    photo_ids: list[str]  # every photo of the merged samples
    features: list[str]  # features that have prompts
    photos: list[str]  # selected photo ids
    selected_features: list[str]


def sample_choice(samples: SampleSet, previous: tuple[Sequence[str], Sequence[str]] | None,
                  added: Sequence[SampleSet] = ()) -> SampleChoice:
    """The pickers after the sample sources changed: the first time every photo and the
    safety prompts (else the first feature); afterwards what is still there stays selected
    and what a newly chosen set (``added``) brings is selected too."""
    photo_ids = [p.id for p in samples.photos]
    features = [f for f in samples.feature_names if samples.prompts_for(f)]
    if previous is None:
        return SampleChoice(photo_ids, features, photo_ids,
                            ["safety_chat"] if "safety_chat" in features else features[:1])
    photos, chosen = previous
    return SampleChoice(
        photo_ids, features,
        list(dict.fromkeys([p for p in photos if p in photo_ids]
                           + [p.id for s in added for p in s.photos if p.id in photo_ids])),
        list(dict.fromkeys([f for f in chosen if f in features]
                           + [q.feature for s in added for q in s.prompts
                              if q.feature in features])))


@dataclass(frozen=True)
class JudgeChoice:
    """The judge as the form sets it up."""

    model_key: str  # provider/model
    rubric: str
    pass_score: float


@dataclass(frozen=True)
class CompareForm:
    """Everything the "new comparison" form collects, before it is a spec."""

    models: tuple[str, ...]  # provider/model keys
    comparison_type: str
    iterations: int
    concurrency: int
    photos: tuple[str, ...]
    features: tuple[str, ...]
    sample_sets: tuple[str, ...] = ()
    bundled: bool = True
    judge: JudgeChoice | None = None
    advanced: Mapping[str, Any] = field(default_factory=dict)  # spec fields, set ones only


def advanced_fields(*, timeout_s: float, retries: int, temperature: float | None = None,
                    max_tokens: int = 0, rate_limits_rpm: Mapping[str, int] | None = None
                    ) -> dict[str, Any]:
    """The advanced settings as spec fields: a temperature of None, an output cap of 0 and a
    pace of 0 requests per minute mean "not set" (the model's default, no cap, no limit)."""
    out: dict[str, Any] = {"timeout_s": float(timeout_s), "retries": int(retries)}
    if temperature is not None:
        out["temperature"] = float(temperature)
    if max_tokens:
        out["max_tokens"] = int(max_tokens)
    rpm = {pid: int(v) for pid, v in (rate_limits_rpm or {}).items() if v}
    if rpm:
        out["rate_limits_rpm"] = rpm
    return out


def spec_from_form(form: CompareForm) -> ComparisonSpec:
    """The spec the form describes, named after its models; raises SpecError."""
    data: dict[str, Any] = {
        "name": " vs ".join(k.partition("/")[2] or k for k in form.models),
        "models": list(form.models), "comparison_type": form.comparison_type,
        "photos": list(form.photos), "prompts": {"features": list(form.features)},
        "iterations": int(form.iterations), "concurrency": int(form.concurrency),
        **dict(form.advanced), "samples": list(form.sample_sets), "bundled": form.bundled}
    if form.judge is not None:
        provider, _, model = form.judge.model_key.partition("/")
        data["judge"] = {"provider": provider, "model": model, "rubric": form.judge.rubric,
                         "pass_score": form.judge.pass_score}
    return parse_spec(data)


@dataclass(frozen=True)
class CallEstimate:
    """What a run of the form would cost in calls, from the plan itself."""

    models: int
    items: int
    iterations: int
    calls: int  # model calls (before retries)
    judge_calls: int  # at most this many judge calls
    judged: bool  # a judge is set up
    errors: tuple[str, ...] = ()  # why no plan could be made (then calls are 0)

    def describe(self) -> str:
        text = (f"{self.models} models × {self.items} items × {self.iterations} iterations = "
                f"{self.calls} calls")
        return text + (f", plus up to {self.judge_calls} judge calls" if self.judged else "")


def estimate_calls(form: CompareForm, samples: SampleSet,
                   records: Iterable[ProviderRecord]) -> CallEstimate:
    """The plan's own count of the form's calls (and its judge calls)."""
    items = len([p for p in form.photos if samples.photo(p) is not None]) + len(
        [q for f in form.features for q in samples.prompts_for(f)])
    try:
        plan = build_plan(spec_from_form(form), samples, records)
    except SpecError as exc:
        return CallEstimate(len(form.models), items, form.iterations, 0, 0,
                            form.judge is not None, tuple(exc.errors))
    return CallEstimate(len(plan.models), len(plan.items), plan.spec.iterations, plan.total,
                        plan.judge_calls, plan.judge is not None)


@dataclass(frozen=True)
class AnswerDetails:
    """What a recorded answer's details say: its checks, the judge's verdict, missed tags."""

    checks: tuple[tuple[str, bool], ...] = ()  # (assertion type, passed)
    judge_score: float | None = None
    judge_reason: str | None = None
    missed: tuple[str, ...] = ()

    def lines(self) -> list[str]:
        """One caption per part, for the side-by-side view."""
        out = []
        if self.checks:
            out.append(" · ".join(("✓ " if ok else "✗ ") + kind for kind, ok in self.checks))
        if self.judge_reason:
            score = "" if self.judge_score is None else f" {self.judge_score:.2f}"
            out.append(f"Judge{score}: {self.judge_reason}")
        if self.missed:
            out.append("Missed: " + ", ".join(self.missed))
        return out


def answer_details(details_json: object) -> AnswerDetails:
    """A result row's ``details_json`` read for people (empty for none or unreadable)."""
    if not isinstance(details_json, str) or not details_json:
        return AnswerDetails()
    try:
        details = json.loads(details_json)
    except ValueError:
        return AnswerDetails()
    if not isinstance(details, dict):
        return AnswerDetails()
    checks = tuple((str(a.get("type")), bool(a.get("passed")))
                   for a in details.get("assertions") or [] if isinstance(a, dict))
    judge = details.get("judge")
    score = reason = None
    if isinstance(judge, dict) and judge.get("reason"):
        reason = str(judge["reason"])
        score = judge.get("score") if isinstance(judge.get("score"), int | float) else None
    return AnswerDetails(checks, score, reason, tuple(map(str, details.get("missed") or ())))


def with_model_labels(frame: pd.DataFrame, spec: ComparisonSpec) -> pd.DataFrame:
    """Result rows with a ``Model`` column: each model's label as the spec shows it."""
    labels = model_labels(spec)
    return frame.assign(Model=frame["model_key"].map(labels))


def model_labels(spec: ComparisonSpec) -> dict[str, str]:
    """Result model keys (m1, m2, …) -> the label the spec gives each model."""
    return {f"m{i + 1}": ref.display for i, ref in enumerate(spec.models)}


def accuracy_cost_points(result: Analysis) -> tuple[dict[str, tuple[float, float]], list[str]]:
    """Model label -> (accuracy, cost per request) for the models that have both, and the
    Pareto frontier among them (labels, cheapest first)."""
    points = {m.label: (m.accuracy, m.cost_per_request) for m in result.models
              if m.accuracy is not None and m.cost_per_request is not None}
    return points, list(pareto_frontier(points)) if points else []


def summary_table(result: Analysis) -> pd.DataFrame:
    """One row per model: calls, success, accuracy with intervals, latency and cost."""
    return pd.DataFrame([{
        "Model": m.label, "Calls": m.calls, "Success": m.success_rate,
        "Success 95% CI": f"{m.success_low:.0%}–{m.success_high:.0%}",
        "Accuracy": m.accuracy,
        "Accuracy 95% CI": "—" if m.accuracy_low is None else
        f"{m.accuracy_low:.2f}–{m.accuracy_high:.2f}",
        "Consistency": m.consistency, "Avg ms": m.avg_ms, "p50 ms": m.p50_ms, "p95 ms": m.p95_ms,
        "Total $": m.total_cost, "$ / request": m.cost_per_request,
        "$ / accurate result": m.cost_per_accurate,
        "Accurate": m.accurate, "Partial": m.partial, "Failed": m.failed,
    } for m in result.models])


def runs_table(runs: Sequence[RunInfo]) -> pd.DataFrame:
    """The past runs as the page lists them."""
    return pd.DataFrame([{"Name": r.name, "Status": r.status, "Calls": r.total_calls,
                          "Done": r.done_calls, "Started": r.created_at,
                          "By": r.created_by, "Run": r.run_id} for r in runs])


def sets_table(sets: Sequence[SampleSetInfo]) -> pd.DataFrame:
    """The organization's sample sets as the page lists them."""
    return pd.DataFrame([{"Name": s.name, "Photos": s.photos, "Labelled": s.labelled_photos,
                          "Prompts": s.prompts, "Features": ", ".join(s.features),
                          "Size (MB)": round(s.size_bytes / 2**20, 2), "Added": s.created_at,
                          "By": s.created_by, "Id": s.id} for s in sets])


def problems_table(problems: Sequence[Problem]) -> pd.DataFrame:
    """Skipped items and notes with where they are (file, row or line)."""
    return pd.DataFrame([{"File": p.source, "Where": "" if p.row is None else f"{p.unit} {p.row}",
                          "Level": p.level, "Problem": p.message} for p in problems])


def problems_label(problems: Sequence[Problem]) -> str:
    """"2 item(s) skipped, 1 note(s)": the headline over a problems table."""
    errors = sum(1 for p in problems if p.level == "error")
    notes = len(problems) - errors
    parts = ([f"{errors} item(s) skipped"] if errors else []) + (
        [f"{notes} note(s)"] if notes else [])
    return ", ".join(parts)
