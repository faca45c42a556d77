"""Where a comparison's finished calls go: the warehouse (the app, the CLI) or memory (tests).

The runner talks to a :class:`Recorder` and nothing else, so it never holds SQL and never
blocks its event loop on DuckDB: ``record`` is called from a worker thread with a batch of
rows, and each batch is one transaction (``core.warehouse.comparison_runs.record_results``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from core.pricing import ModelPrice, price_for
from core.provider_names import canonical_provider
from core.warehouse import comparison_runs as wc
from core.warehouse.comparison_runs import CallKey, ResultRow
from core.warehouse.db import Warehouse

__all__ = ["CallKey", "MemoryRecorder", "Recorder", "ResultRow", "WarehouseRecorder",
           "prices_for"]


class Recorder(Protocol):
    """What the runner needs from storage. Every method may block (the runner calls them in
    a worker thread) and must be atomic: ``begin`` marks the run running and returns the
    keys already recorded; ``record`` stores a batch and skips keys already stored;
    ``finish`` stores the last batch and the final status together."""

    def begin(self, total_calls: int) -> set[CallKey]: ...

    def record(self, rows: Sequence[ResultRow]) -> None: ...

    def finish(self, status: str, *, error: str | None = None,
               rows: Sequence[ResultRow] = ()) -> None: ...


class WarehouseRecorder:
    """Results, ``source='benchmark'`` usage events and rollups of one run, in the warehouse."""

    def __init__(self, wh: Warehouse, org_id: str, run_id: str, *,
                 feature: str = wc.DEFAULT_FEATURE, owner: str | None = None) -> None:
        self.wh, self.org_id, self.run_id = wh, org_id, run_id
        self.feature = feature
        self.owner = owner

    def begin(self, total_calls: int) -> set[CallKey]:
        return wc.begin_run(self.wh, self.org_id, self.run_id, total_calls=total_calls,
                            owner=self.owner)

    def record(self, rows: Sequence[ResultRow]) -> None:
        wc.record_results(self.wh, self.org_id, self.run_id, rows, feature=self.feature)

    def finish(self, status: str, *, error: str | None = None,
               rows: Sequence[ResultRow] = ()) -> None:
        wc.record_results(self.wh, self.org_id, self.run_id, rows, feature=self.feature,
                          status=status, error=error)


class MemoryRecorder:
    """Keeps everything in lists (tests, dry runs)."""

    def __init__(self, rows: Iterable[ResultRow] = ()) -> None:
        self.rows: list[ResultRow] = list(rows)
        self.batches: list[int] = []
        self.statuses: list[tuple[str, str | None]] = []
        self._lock = threading.Lock()

    def begin(self, total_calls: int) -> set[CallKey]:
        with self._lock:
            self.statuses.append(("running", None))
            return {r.key for r in self.rows}

    def record(self, rows: Sequence[ResultRow]) -> None:
        with self._lock:
            have = {r.key for r in self.rows}
            new = [r for r in rows if r.key not in have]
            self.rows.extend(new)
            self.batches.append(len(new))

    def finish(self, status: str, *, error: str | None = None,
               rows: Sequence[ResultRow] = ()) -> None:
        if rows:
            self.record(rows)
        with self._lock:
            self.statuses.append((status, error))

    @property
    def status(self) -> str | None:
        return self.statuses[-1][0] if self.statuses else None


def prices_for(
    pairs: Iterable[tuple[str, str, str]], *, wh: Warehouse | None = None, org_id: str | None = None,
) -> dict[str, ModelPrice]:
    """``model_key -> ModelPrice`` for (model_key, provider_name, model) triples, priced now:
    the organization's negotiated override (read once per provider from ``wh``) when one is in
    force, else genai-prices. Done once per run, not once per call."""
    from core.warehouse.prices import list_overrides

    overrides: dict[str, list] = {}
    out: dict[str, ModelPrice] = {}
    for key, provider_name, model in pairs:
        if key in out:
            continue
        provider = canonical_provider(provider_name) or provider_name
        if wh is not None and org_id is not None and provider not in overrides:
            overrides[provider] = list_overrides(wh, org_id, provider_name=provider)
        out[key] = price_for(provider, model, org_id=org_id,
                             overrides=overrides.get(provider, ()))
    return out


def calls_prices(calls: Iterable, *, wh: Warehouse | None = None,
                 org_id: str | None = None) -> Mapping[str, ModelPrice]:
    """:func:`prices_for` for planned calls (anything with model_key, provider_name, model)."""
    return prices_for(((c.model_key, c.provider_name, c.model) for c in calls), wh=wh,
                      org_id=org_id)
