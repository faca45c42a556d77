"""Start a comparison from a spec: the run is created in the warehouse, planned against the
organization's providers and run as a background job (the page polls it; the CLI waits)."""

from __future__ import annotations

import asyncio

from core.catalog.catalog import provider_name_for
from core.compare import jobs
from core.compare.judge import Judge
from core.compare.plan import Plan, build_plan, make_scorer
from core.compare.record import prices_for
from core.compare.runner import ClientPool, RetryPolicy, RunLimits
from core.compare.samples import SampleSet
from core.compare.spec import ComparisonSpec
from core.config_store import ProviderStore
from core.connections import adapter_for
from core.warehouse import comparisons as wc
from core.warehouse.db import Warehouse


def start_comparison(spec: ComparisonSpec, samples: SampleSet, *, org_id: str, actor: str,
                     warehouse: Warehouse, providers: ProviderStore,
                     sim_root: str | None = None) -> str:
    """Create the run and start its job; returns the run id. Spec problems (an unknown
    provider, nothing selected) raise :class:`core.compare.spec.SpecError` before anything
    is stored."""
    plan = build_plan(spec, samples, providers.list(org_id))
    run_id = wc.create_run(warehouse, org_id, spec.name, spec.model_dump(mode="json"),
                           created_by=actor, total_calls=plan.total)
    resume(run_id, spec, samples, org_id=org_id, warehouse=warehouse, providers=providers,
           sim_root=sim_root, fresh=True)
    return run_id


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
    too) on the job's pooled client for its provider."""

    async def make(clients: ClientPool) -> jobs.RunPlan:
        adapters = {key: adapter_for(providers, record, clients(record.id), sim_root)
                    for key, record in plan.providers.items()}
        judge = await _judge(plan, clients, org_id=org_id, warehouse=warehouse,
                             providers=providers, sim_root=sim_root)
        return jobs.RunPlan(plan.calls, adapters, make_scorer(plan, samples, judge=judge))

    return make


def resume(run_id: str, spec: ComparisonSpec, samples: SampleSet, *, org_id: str,
           warehouse: Warehouse, providers: ProviderStore, sim_root: str | None = None,
           fresh: bool = False) -> jobs.JobStatus:
    """(Re)start a run's job; finished calls are skipped (and so is judging them)."""
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
