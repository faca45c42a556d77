"""The comparison-run repository: runs, per-call results, and their usage events, in the warehouse.

A comparison's calls are real model calls, so each finished call is stored twice, in ONE
transaction per batch: as a ``comparison_results`` row (output, score, bucket, …) and as a
``usage_events`` row with ``source='benchmark'`` whose rollups (``usage_hourly``,
``latency_daily_hist``, ``errors_hourly``) are updated at the same time, exactly as ingest
does, so the Usage page counts benchmark spend and latency with everything else. A batch is
all-or-nothing: a crash leaves either every row of a batch or none of it.

Scoring may make billed calls of its own (the LLM judge): a result row carries them as
:class:`SideCall` objects, and each becomes one more ``source='benchmark'`` usage event
(feature ``comparison_judge`` for the judge) in the same transaction as its row, so it is
stored exactly when its row is, and never twice.

Every function is scoped by ``org_id``: a run of another organization is invisible (it is
"not found"), and results can only be added to a run of the same organization.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any, Literal

import pandas as pd
import pyarrow as pa

from core.provider_names import otel_name
from core.warehouse.db import Warehouse
from core.warehouse.load import ROLLUP_SQL

RunStatus = Literal["queued", "running", "cancelled", "failed", "done"]
RUN_STATUSES: tuple[str, ...] = ("queued", "running", "cancelled", "failed", "done")
TERMINAL_STATUSES = frozenset({"cancelled", "failed", "done"})
DEFAULT_FEATURE = "comparison"
JUDGE_FEATURE = "comparison_judge"  # the usage events of a comparison's LLM-judge calls
CallKey = tuple[str, str, int]  # (model_key, item_id, iteration)



def utcnow() -> datetime:
    """Now as the naive UTC timestamp the warehouse stores."""
    return datetime.now(UTC).replace(tzinfo=None)




class RunNotFound(KeyError):
    """No comparison run with that id in that organization."""


@dataclass(frozen=True)
class SideCall:
    """A billed model call made to score a result, not one of the compared calls (the LLM
    judge): stored as a usage event only, with the result row it belongs to.

    Its event id is ``cmp{kind}:{run}:{model_key}:{item}:{iteration}`` (e.g. ``cmpjudge:…``),
    so each kind may appear once per result row."""

    kind: str  # "judge"
    feature: str  # usage_events.feature, e.g. JUDGE_FEATURE
    provider_name: str  # the provider type or its OpenTelemetry name
    model: str
    status: str  # ok | error
    ts: datetime  # naive UTC, when the call finished
    response_model: str | None = None
    error_type: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    reasoning_tokens: int = 0
    cost_usd: float | None = None
    duration_ms: float | None = None
    ttft_ms: float | None = None
    finish_reason: str | None = None


@dataclass
class ResultRow:
    """One finished call of a comparison: a ``comparison_results`` row (column for column)."""

    run_id: str
    org_id: str
    model_key: str
    provider_id: str
    provider_name: str
    model: str
    item_kind: str  # photo | prompt
    item_id: str
    iteration: int
    status: str  # ok | error
    ts: datetime  # naive UTC, when the call finished
    error_type: str | None = None
    output_text: str | None = None
    tags_json: str | None = None
    duration_ms: float | None = None
    ttft_ms: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_input_tokens: int | None = None
    reasoning_tokens: int | None = None
    cost_usd: float | None = None
    score: float | None = None
    bucket: str | None = None
    details_json: str | None = None
    request_id: str | None = None  # the provider's response id, when it sent one
    response_model: str | None = None
    finish_reason: str | None = None
    attempts: int | None = None
    side_calls: tuple[SideCall, ...] = ()  # not a column: stored as usage events

    @property
    def key(self) -> CallKey:
        return (self.model_key, self.item_id, self.iteration)

    def event_id(self, kind: str = "") -> str:
        """The ``usage_events.request_id`` of this call (or of its side call of ``kind``):
        deterministic, so a call can never be counted twice, whatever happens to a run."""
        return f"cmp{kind}:{self.run_id}:{self.model_key}:{self.item_id}:{self.iteration}"


RESULT_COLUMNS = [f.name for f in fields(ResultRow) if f.name != "side_calls"]

_RESULT_SCHEMA = pa.schema([
    ("run_id", pa.string()), ("org_id", pa.string()), ("model_key", pa.string()),
    ("provider_id", pa.string()), ("provider_name", pa.string()), ("model", pa.string()),
    ("item_kind", pa.string()), ("item_id", pa.string()), ("iteration", pa.int32()),
    ("status", pa.string()), ("ts", pa.timestamp("us")), ("error_type", pa.string()),
    ("output_text", pa.string()), ("tags_json", pa.string()), ("duration_ms", pa.float64()),
    ("ttft_ms", pa.float64()), ("input_tokens", pa.int64()), ("output_tokens", pa.int64()),
    ("cached_input_tokens", pa.int64()), ("reasoning_tokens", pa.int64()),
    ("cost_usd", pa.float64()), ("score", pa.float64()), ("bucket", pa.string()),
    ("details_json", pa.string()), ("request_id", pa.string()),
    ("response_model", pa.string()), ("finish_reason", pa.string()), ("attempts", pa.int32()),
    # not stored in comparison_results: what the matching usage event needs
    ("event_id", pa.string()), ("otel_provider", pa.string()), ("feature", pa.string()),
])
assert [n for n in _RESULT_SCHEMA.names[: len(RESULT_COLUMNS)]] == RESULT_COLUMNS

_SIDE_SCHEMA = pa.schema([
    ("request_id", pa.string()), ("ts", pa.timestamp("us")), ("org_id", pa.string()),
    ("provider_name", pa.string()), ("request_model", pa.string()),
    ("response_model", pa.string()), ("feature", pa.string()), ("input_tokens", pa.int64()),
    ("output_tokens", pa.int64()), ("cache_read_input_tokens", pa.int64()),
    ("reasoning_output_tokens", pa.int64()), ("cost_usd", pa.float64()),
    ("duration_ms", pa.float64()), ("ttft_ms", pa.float64()), ("status", pa.string()),
    ("error_type", pa.string()), ("finish_reason", pa.string()),
])

_EVENTS_FROM_SIDE = """
    SELECT request_id, ts, org_id, provider_name, request_model, response_model, feature,
        'benchmark' AS source, input_tokens, output_tokens, cache_read_input_tokens,
        reasoning_output_tokens, cost_usd, duration_ms, ttft_ms, status,
        CASE WHEN status = 'error' THEN coalesce(error_type, '_OTHER') END AS error_type,
        finish_reason, ? AS ingest_id
    FROM _cmp_side
"""

_EVENTS_FROM_BATCH = """
    SELECT event_id AS request_id, ts, org_id, otel_provider AS provider_name,
        model AS request_model, response_model, feature, 'benchmark' AS source,
        input_tokens, output_tokens, cached_input_tokens AS cache_read_input_tokens,
        reasoning_tokens AS reasoning_output_tokens, cost_usd, duration_ms, ttft_ms, status,
        CASE WHEN status = 'error' THEN coalesce(error_type, '_OTHER') END AS error_type,
        finish_reason, ? AS ingest_id
    FROM _cmp_batch
"""


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    org_id: str
    name: str
    spec_json: str
    status: str
    created_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    total_calls: int
    done_calls: int
    error: str | None
    owner: str | None

    @property
    def spec(self) -> Any:
        return json.loads(self.spec_json) if self.spec_json else None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


_RUN_COLUMNS = ", ".join(f.name for f in fields(RunInfo))


def _check_status(status: str) -> str:
    if status not in RUN_STATUSES:
        raise ValueError(f"status must be one of {', '.join(RUN_STATUSES)} (got {status!r})")
    return status


def create_run(
    wh: Warehouse,
    org_id: str,
    name: str,
    spec_json: str | dict,
    *,
    created_by: str,
    total_calls: int = 0,
    run_id: str | None = None,
) -> str:
    """A new run in status ``queued``; returns its id."""
    run_id = run_id or uuid.uuid4().hex
    spec = spec_json if isinstance(spec_json, str) else json.dumps(spec_json, default=str)
    with wh.transaction() as cur:
        cur.execute(
            "INSERT INTO comparison_runs (run_id, org_id, name, spec_json, status, created_by, "
            "created_at, total_calls, done_calls) VALUES (?, ?, ?, ?, 'queued', ?, ?, ?, 0)",
            [run_id, org_id, name, spec, created_by, utcnow(), int(total_calls)],
        )
    return run_id


def _run_from_row(row: Sequence[Any]) -> RunInfo:
    return RunInfo(*row)


def get_run(wh: Warehouse, org_id: str, run_id: str) -> RunInfo | None:
    with wh.cursor() as cur:
        row = cur.execute(
            f"SELECT {_RUN_COLUMNS} FROM comparison_runs WHERE org_id = ? AND run_id = ?",
            [org_id, run_id],
        ).fetchone()
    return _run_from_row(row) if row else None


def list_runs(
    wh: Warehouse, org_id: str, *, limit: int = 100, statuses: Iterable[str] | None = None
) -> list[RunInfo]:
    """An organization's runs, newest first."""
    sql = f"SELECT {_RUN_COLUMNS} FROM comparison_runs WHERE org_id = ?"
    params: list[Any] = [org_id]
    wanted = [_check_status(s) for s in statuses] if statuses is not None else None
    if wanted is not None:
        if not wanted:
            return []
        sql += f" AND status IN ({', '.join('?' for _ in wanted)})"
        params += wanted
    sql += " ORDER BY created_at DESC, run_id LIMIT ?"
    params.append(int(limit))
    with wh.cursor() as cur:
        return [_run_from_row(r) for r in cur.execute(sql, params).fetchall()]


def _update_run(
    cur: Any,
    org_id: str,
    run_id: str,
    *,
    status: str | None = None,
    error: str | None = None,
    total_calls: int | None = None,
    owner: str | None = None,
    add_done: int = 0,
) -> None:
    """The one UPDATE of a run row; raises :class:`RunNotFound` when the organization has no
    such run (the caller's transaction then rolls back)."""
    sets: list[str] = []
    params: list[Any] = []
    if status is not None:
        _check_status(status)
        now = utcnow()
        sets.append("status = ?")
        params.append(status)
        if status == "running":
            sets += ["started_at = coalesce(started_at, ?)", "finished_at = NULL",
                     "error = NULL", "owner = ?"]
            params += [now, owner]
        elif status in TERMINAL_STATUSES:
            sets += ["finished_at = ?", "error = ?"]
            params += [now, error]
    if total_calls is not None:
        sets.append("total_calls = ?")
        params.append(int(total_calls))
    if add_done:
        sets.append("done_calls = done_calls + ?")
        params.append(int(add_done))
    if not sets:
        _check_run(cur, org_id, run_id)
        return
    found = cur.execute(
        f"UPDATE comparison_runs SET {', '.join(sets)} WHERE org_id = ? AND run_id = ?",
        params + [org_id, run_id],
    ).fetchall()
    if not found or not found[0][0]:
        raise RunNotFound(run_id)


def _check_run(cur: Any, org_id: str, run_id: str) -> None:
    if not cur.execute("SELECT 1 FROM comparison_runs WHERE org_id = ? AND run_id = ?",
                       [org_id, run_id]).fetchall():
        raise RunNotFound(run_id)


def mark_status(
    wh: Warehouse,
    org_id: str,
    run_id: str,
    status: str,
    *,
    error: str | None = None,
    total_calls: int | None = None,
    owner: str | None = None,
) -> None:
    """Move a run to ``status``. ``running`` stamps ``started_at`` (first time only), clears
    ``finished_at`` and ``error`` and records the ``owner`` process; a terminal status stamps
    ``finished_at`` and keeps ``error`` (failed runs say why)."""
    _check_status(status)
    with wh.transaction() as cur:
        _update_run(cur, org_id, run_id, status=status, error=error, total_calls=total_calls,
                    owner=owner)


def begin_run(
    wh: Warehouse,
    org_id: str,
    run_id: str,
    *,
    total_calls: int,
    owner: str | None = None,
) -> set[CallKey]:
    """Mark a run ``running`` (this process its ``owner``) and return the keys of the calls
    it has already recorded, in one transaction (what a runner does first)."""
    with wh.transaction() as cur:
        _update_run(cur, org_id, run_id, status="running", total_calls=total_calls,
                    owner=owner)
        return {
            (m, i, int(n)) for m, i, n in cur.execute(
                "SELECT model_key, item_id, iteration FROM comparison_results "
                "WHERE org_id = ? AND run_id = ?",
                [org_id, run_id],
            ).fetchall()
        }


def _batch_table(rows: Sequence[ResultRow], feature: str) -> pa.Table:
    """The batch as Arrow columns (plain attribute reads: ``asdict`` would deep-copy every
    value, and this runs while the runner's event loop waits for the interpreter lock)."""
    cols: dict[str, list[Any]] = {
        name: [getattr(row, name) for row in rows] for name in RESULT_COLUMNS
    }
    cols["event_id"] = [row.event_id() for row in rows]
    cols["otel_provider"] = [otel_name(row.provider_name) for row in rows]
    cols["feature"] = [feature] * len(rows)
    return pa.table(cols, schema=_RESULT_SCHEMA)


def _side_table(rows: Sequence[ResultRow]) -> pa.Table | None:
    """The side calls of a batch as usage-event columns (None when there are none)."""
    cols: dict[str, list[Any]] = {name: [] for name in _SIDE_SCHEMA.names}
    for row in rows:
        for side in row.side_calls:
            values = {
                "request_id": row.event_id(side.kind), "ts": side.ts, "org_id": row.org_id,
                "provider_name": otel_name(side.provider_name),
                "request_model": side.model, "response_model": side.response_model,
                "feature": side.feature, "input_tokens": side.input_tokens,
                "output_tokens": side.output_tokens,
                "cache_read_input_tokens": side.cached_input_tokens,
                "reasoning_output_tokens": side.reasoning_tokens, "cost_usd": side.cost_usd,
                "duration_ms": side.duration_ms, "ttft_ms": side.ttft_ms,
                "status": side.status, "error_type": side.error_type,
                "finish_reason": side.finish_reason,
            }
            for name, value in values.items():
                cols[name].append(value)
    if not cols["request_id"]:
        return None
    return pa.table(cols, schema=_SIDE_SCHEMA)


def record_results(
    wh: Warehouse,
    org_id: str,
    run_id: str,
    rows: Sequence[ResultRow],
    *,
    feature: str = DEFAULT_FEATURE,
    status: str | None = None,
    error: str | None = None,
) -> int:
    """Store a batch of finished calls, their usage events and rollups in one transaction;
    with ``status`` (the last batch of a run), move the run to it in the same transaction.

    Each row's :class:`SideCall` objects (the judge's call) become usage events with their
    row, in the same transaction. Rows whose call key is already stored are skipped, side
    calls and all (never counted twice); returns how many rows were added. Every row must
    belong to ``org_id`` and ``run_id``."""
    for row in rows:
        if row.org_id != org_id or row.run_id != run_id:
            raise ValueError("every result must belong to the run it is recorded for")
        kinds = [side.kind for side in row.side_calls]
        if len(set(kinds)) != len(kinds):
            raise ValueError("a result may carry at most one side call of each kind")
    if len({r.key for r in rows}) != len(rows):  # the first of repeated keys wins
        firsts: dict[CallKey, ResultRow] = {}
        for r in rows:
            firsts.setdefault(r.key, r)
        rows = list(firsts.values())
    with wh.transaction() as cur:
        added = _insert_batch(cur, org_id, run_id, rows, feature) if rows else 0
        # the run's row last: a run of another organization rolls everything back here
        _update_run(cur, org_id, run_id, status=status, error=error, add_done=added)
    return added


def _insert_batch(cur: Any, org_id: str, run_id: str, rows: Sequence[ResultRow],
                  feature: str) -> int:
    batch_id = f"cmp-{uuid.uuid4().hex}"
    cur.register("_cmp_batch", _batch_table(rows, feature))
    try:
        dupes = {
            (m, i, int(n)) for m, i, n in cur.execute(
                "SELECT b.model_key, b.item_id, b.iteration FROM _cmp_batch b "
                "JOIN comparison_results c ON c.run_id = b.run_id "
                "AND c.model_key = b.model_key AND c.item_id = b.item_id "
                "AND c.iteration = b.iteration"
            ).fetchall()
        }
        if dupes:
            rows = [r for r in rows if r.key not in dupes]
            cur.unregister("_cmp_batch")
            if not rows:
                return 0
            cur.register("_cmp_batch", _batch_table(rows, feature))
        cols = ", ".join(RESULT_COLUMNS)
        cur.execute(f"INSERT INTO comparison_results ({cols}) SELECT {cols} FROM _cmp_batch")
        events = _EVENTS_FROM_BATCH.replace("?", f"'{batch_id}'")  # our own hex id
        statuses = {r.status for r in rows}
        side = _side_table(rows)
        if side is not None:  # only rows that were stored bring their side calls
            cur.register("_cmp_side", side)
            events += " UNION ALL " + _EVENTS_FROM_SIDE.replace("?", f"'{batch_id}'")
            statuses |= {s.status for r in rows for s in r.side_calls}
        cur.execute(f"INSERT INTO usage_events {events}")
        # the rollups read the batch itself, not usage_events (no scan of the big table);
        # the latency histogram only counts successes, the error counts only errors
        usage_hourly, latency_hist, errors_hourly = ROLLUP_SQL
        for sql, needed in ((usage_hourly, True), (latency_hist, "ok" in statuses),
                            (errors_hourly, "error" in statuses)):
            if needed:
                cur.execute(sql.replace("FROM new_events", f"FROM ({events}) new_events"))
    finally:
        cur.unregister("_cmp_batch")
        cur.unregister("_cmp_side")
    return len(rows)


def finished_keys(wh: Warehouse, org_id: str, run_id: str) -> set[CallKey]:
    """Keys of the calls a run has already recorded (what a resumed run skips)."""
    with wh.cursor() as cur:
        return {
            (m, i, int(n)) for m, i, n in cur.execute(
                "SELECT model_key, item_id, iteration FROM comparison_results "
                "WHERE org_id = ? AND run_id = ?",
                [org_id, run_id],
            ).fetchall()
        }


def load_results(wh: Warehouse, org_id: str, run_id: str) -> pd.DataFrame:
    """Every recorded call of a run, one row per call, ordered by model, item, iteration."""
    cols = ", ".join(RESULT_COLUMNS)
    with wh.cursor() as cur:
        return cur.execute(
            f"SELECT {cols} FROM comparison_results WHERE org_id = ? AND run_id = ? "
            "ORDER BY model_key, item_id, iteration",
            [org_id, run_id],
        ).df()


def result_counts(wh: Warehouse, org_id: str, run_id: str) -> dict[str, int]:
    """``{"ok": n, "error": m}`` for a run (cheap, for progress and summaries)."""
    with wh.cursor() as cur:
        return {s: int(n) for s, n in cur.execute(
            "SELECT status, count(*) FROM comparison_results WHERE org_id = ? AND run_id = ? "
            "GROUP BY status", [org_id, run_id]).fetchall()}


def model_accuracy(wh: Warehouse, org_id: str) -> dict[tuple[str, str], tuple[float, int]]:
    """Mean score and number of scored calls per (provider_id, model) over all of an
    organization's comparisons: the catalog's measured accuracy."""
    with wh.cursor() as cur:
        rows = cur.execute(
            "SELECT provider_id, model, avg(score), count(score) FROM comparison_results "
            "WHERE org_id = ? AND score IS NOT NULL GROUP BY provider_id, model",
            [org_id]).fetchall()
    return {(p, m): (float(avg), int(n)) for p, m, avg, n in rows}
