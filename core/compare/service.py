"""Start a comparison from a spec: the run is created in the warehouse, planned against the
organization's providers and run as a background job (the page polls it; the CLI waits)."""

from __future__ import annotations

from core.compare import jobs
from core.compare.plan import build_plan, make_scorer
from core.compare.runner import RetryPolicy, RunLimits
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


def resume(run_id: str, spec: ComparisonSpec, samples: SampleSet, *, org_id: str,
           warehouse: Warehouse, providers: ProviderStore, sim_root: str | None = None,
           fresh: bool = False) -> jobs.JobStatus:
    """(Re)start a run's job; finished calls are skipped."""
    plan = build_plan(spec, samples, providers.list(org_id))
    score = make_scorer(plan, samples)

    def make(clients) -> jobs.RunPlan:
        adapters = {key: adapter_for(providers, record, clients(record.id), sim_root)
                    for key, record in plan.providers.items()}
        return jobs.RunPlan(plan.calls, adapters, score)

    limits = RunLimits(concurrency=spec.concurrency,
                       rpm={pid: rpm for pid, rpm in spec.rate_limits_rpm.items()},
                       timeouts={k: (ref.timeout_s or spec.timeout_s)
                                 for k, ref in plan.models.items()},
                       retry=RetryPolicy(transient_retries=spec.retries))
    return jobs.start(run_id, warehouse=warehouse, org_id=org_id, plan=make, limits=limits,
                      resume=not fresh)
