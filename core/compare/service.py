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
from dataclasses import dataclass

from core.catalog.view import provider_name_for
from core.compare import jobs
from core.compare.judge import Judge
from core.compare.plan import Plan, build_plan, make_scorer
from core.compare.record import prices_for
from core.compare.runner import ClientPool, RetryPolicy, RunLimits
from core.compare.sample_store import SampleStore, resolve_samples
from core.compare.samples import Problem, SamplePhoto, SampleSet
from core.compare.spec import ComparisonSpec, parse_spec
from core.config_store import ProviderStore
from core.connections import adapter_for, simulator_root
from core.simulator.launcher import KnowledgeUpdate, teach
from core.warehouse import comparisons as wc
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
    :class:`core.warehouse.comparisons.RunNotFound`, or SpecError when a set it used is
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
