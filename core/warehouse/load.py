"""Load staged usage events into the warehouse: validate, de-duplicate, price, roll up.

Every format reader (``core.warehouse.formats``) turns its input into a *stage*
(:class:`~core.warehouse.stage.Stage`): a DuckDB
view or Arrow table whose columns carry the canonical names below (any subset, any type
castable to the target) plus ``_row``, the 1-based row number in the source file.
Everything after that is shared and column-wise, so 10M events load in seconds:

1. each row is checked in SQL; a failing row gets a human-readable reason and is
   quarantined (row number, reason, the mapped values) while good rows go on;
2. duplicates (same ``request_id`` seen earlier in the file or already in the warehouse)
   are skipped, so re-ingesting a file adds nothing;
3. missing costs are computed with the price effective at each event's time: the
   organization's override when one covers it, else genai-prices' (``core.warehouse.prices``);
4. events, rollups, quarantine and the ingest log are written in ONE transaction: an
   interrupted ingest leaves nothing half-loaded.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import duckdb

from core.provider_names import PROVIDER_ALIASES
from core.warehouse.db import Warehouse
from core.warehouse.prices import PRICED_COST_SQL, RATES_JOIN_SQL, rates_table
from core.warehouse.stage import (
    MAX_FIELD_CHARS,
    MAX_TOKENS,
    TS_EARLIEST,
    TS_FUTURE_TOLERANCE,
    BadRow,
    Stage,
)

# Log-bucketed latency histograms: bucket b holds durations in [G**b, G**(b+1)) ms.
HIST_GAMMA = 1.02
HIST_LN = math.log(HIST_GAMMA)
BUCKET_SQL = f"CAST(floor(ln(greatest(duration_ms, 0.01)) / {HIST_LN!r}) AS SMALLINT)"

SOURCES = ("production", "benchmark", "health")

CANONICAL_COLUMNS: dict[str, str] = {
    "request_id": "VARCHAR",
    "ts": "TIMESTAMP",
    "org_id": "VARCHAR",
    "provider_name": "VARCHAR",
    "request_model": "VARCHAR",
    "response_model": "VARCHAR",
    "feature": "VARCHAR",
    "source": "VARCHAR",
    "input_tokens": "BIGINT",
    "output_tokens": "BIGINT",
    "cache_read_input_tokens": "BIGINT",
    "reasoning_output_tokens": "BIGINT",
    "cost_usd": "DOUBLE",
    "duration_ms": "DOUBLE",
    "ttft_ms": "DOUBLE",
    "status": "VARCHAR",
    "error_type": "VARCHAR",
    "finish_reason": "VARCHAR",
}
EVENT_COLUMNS = list(CANONICAL_COLUMNS) + ["ingest_id"]
TOKEN_COLUMNS = [
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "reasoning_output_tokens",
]

UNASSIGNED_FEATURE = "unassigned"
# Text values longer than MAX_FIELD_CHARS are quarantined (status and source are checked
# against their allowed values, org_id against the organization).
LIMITED_TEXT_COLUMNS = ("request_id", "provider_name", "request_model", "response_model",
                        "feature", "error_type", "finish_reason")


@dataclass
class IngestReport:
    ingest_id: str
    source_name: str
    format: str
    rows_read: int = 0
    rows_loaded: int = 0
    rows_duplicate: int = 0
    rows_quarantined: int = 0
    costs_computed: int = 0
    costs_unknown: int = 0
    bad_rows: list[BadRow] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        parts = [f"{self.rows_loaded:,} loaded"]
        if self.rows_duplicate:
            parts.append(f"{self.rows_duplicate:,} already present")
        if self.rows_quarantined:
            parts.append(f"{self.rows_quarantined:,} quarantined")
        if self.costs_computed:
            parts.append(f"{self.costs_computed:,} costs computed from prices")
        if self.costs_unknown:
            parts.append(f"{self.costs_unknown:,} without a known price")
        return f"{self.source_name}: {self.rows_read:,} rows read — " + ", ".join(parts)


def _status_sql() -> str:
    return (
        "CASE lower(trim(CAST(status AS VARCHAR)))"
        " WHEN 'ok' THEN 'ok' WHEN 'success' THEN 'ok' WHEN 'succeeded' THEN 'ok'"
        " WHEN '200' THEN 'ok' WHEN 'unset' THEN 'ok'"
        " WHEN 'error' THEN 'error' WHEN 'failure' THEN 'error' WHEN 'failed' THEN 'error'"
        " ELSE NULL END"
    )


def _provider_sql(col: str) -> str:
    whens = " ".join(
        f"WHEN '{alias}' THEN '{canon}'" for alias, canon in sorted(PROVIDER_ALIASES.items())
    )
    norm = f"lower(trim(CAST({col} AS VARCHAR)))"
    return f"CASE {norm} {whens} ELSE {norm} END"


_INT_TYPES = {"BIGINT", "INTEGER", "SMALLINT", "TINYINT", "UBIGINT", "UINTEGER", "USMALLINT",
              "UTINYINT", "HUGEINT"}
_FLOAT_TYPES = {"DOUBLE", "FLOAT", "REAL"}
_FITS_BIGINT = {"BIGINT", "INTEGER", "SMALLINT", "TINYINT", "UINTEGER", "USMALLINT", "UTINYINT"}


def _checked_sql(
    src: str, present: set[str], org_id: str, types: dict[str, str] | None = None,
    now: datetime | None = None,
) -> str:
    """A SELECT that types every canonical column and adds ``_bad`` and ``_reason``.

    ``_bad`` is a cheap boolean; ``_reason`` (the human-readable list of problems, '' when
    good) is only computed where it is selected, i.e. for the bad rows. ``types`` (column
    -> DuckDB type of the stage) lets already-typed columns skip text round trips.

    A stage column already of its target type is also exposed raw (``_raw_<col>``) with
    ``_same_<col>``, true where the checked value equals it. When the first pass finds a
    column the same on every row, the INSERT takes the raw column: a clean Parquet file's
    dictionary-encoded strings then go to storage without being rebuilt row by row, which
    is most of a bulk load's cost. DuckDB computes a view's columns only where selected.
    """
    types = types or {}
    latest = (now or datetime.now(UTC).replace(tzinfo=None)) + TS_FUTURE_TOLERANCE

    def raw(col: str) -> str:
        return col if col in present else "NULL"

    def txt(col: str) -> str:
        return f"nullif(trim(CAST({raw(col)} AS VARCHAR)), '')"

    sel: list[str] = ["_row"]
    checks: list[tuple[str, str]] = []  # (condition that makes the row bad, reason)
    sel.append(f"{txt('request_id')} AS request_id")
    checks.append((f"{txt('request_id')} IS NULL", "'request_id is missing'"))
    if "ts" in present:
        ts_expr = (
            "CAST(ts AS TIMESTAMP)" if types.get("ts", "").startswith("TIMESTAMP") else
            "CASE WHEN typeof(ts) LIKE 'TIMESTAMP%' THEN CAST(ts AS TIMESTAMP) "
            "ELSE CAST(TRY_CAST(CAST(ts AS VARCHAR) AS TIMESTAMPTZ) AS TIMESTAMP) END"
        )
    else:
        ts_expr = "CAST(NULL AS TIMESTAMP)"
    sel.append(f"{ts_expr} AS ts")
    checks.append((
        f"({ts_expr}) IS NULL",
        "'timestamp is missing or not a date-time"
        f" (' || coalesce(left(CAST({raw('ts')} AS VARCHAR), 100), 'empty') || ')'",
    ))
    checks.append((
        f"({ts_expr}) < TIMESTAMP '{TS_EARLIEST.isoformat(sep=' ')}'",
        f"'timestamp is before {TS_EARLIEST:%Y-%m-%d} (' || CAST(({ts_expr}) AS VARCHAR) || ')'",
    ))
    checks.append((
        f"({ts_expr}) > TIMESTAMP '{latest.isoformat(sep=' ', timespec='seconds')}'",
        "'timestamp is in the future, more than "
        f"{_tolerance_words()} after the time of import (' || CAST(({ts_expr}) AS VARCHAR) || ')'",
    ))
    sel.append(f"coalesce({txt('org_id')}, '{org_id}') AS org_id")
    checks.append((
        f"{txt('org_id')} IS NOT NULL AND {txt('org_id')} <> '{org_id}'",
        f"'belongs to organization ' || {txt('org_id')} || ', not {org_id}'",
    ))
    sel.append(f"{_provider_sql(txt('provider_name'))} AS provider_name")
    checks.append((f"{txt('provider_name')} IS NULL", "'provider_name is missing'"))
    sel.append(f"{txt('request_model')} AS request_model")
    checks.append((f"{txt('request_model')} IS NULL", "'request_model is missing'"))
    sel.append(f"{txt('response_model')} AS response_model")
    sel.append(f"coalesce({txt('feature')}, '{UNASSIGNED_FEATURE}') AS feature")
    src_expr = f"coalesce(lower({txt('source')}), 'production')"
    sel.append(f"{src_expr} AS source")
    allowed = ", ".join(f"'{s}'" for s in SOURCES)
    checks.append((
        f"{src_expr} NOT IN ({allowed})",
        f"'source must be one of production, benchmark, health (got ' || {src_expr} || ')'",
    ))
    for col in TOKEN_COLUMNS:
        # TRY_CAST where a value may not fit: the bad rows' values are selected for quarantine
        if types.get(col) in _FITS_BIGINT:
            sel.append(f"CAST({col} AS BIGINT) AS {col}")
            bad = f"{col} < 0"
        elif types.get(col) in _INT_TYPES:
            sel.append(f"TRY_CAST({col} AS BIGINT) AS {col}")
            bad = f"{col} < 0 OR {col} > {MAX_TOKENS}"
        else:
            cast = f"TRY_CAST({raw(col)} AS DOUBLE)"
            sel.append(f"TRY_CAST({cast} AS BIGINT) AS {col}")
            # above MAX_TOKENS the cast to BIGINT would fail the whole file, not the row
            bad = (f"{raw(col)} IS NOT NULL AND ({cast} IS NULL OR {cast} < 0 "
                   f"OR {cast} > {MAX_TOKENS} OR {cast} <> floor({cast}))")
        checks.append(
            (bad, f"'{col} must be a whole number from 0 to {MAX_TOKENS:,} (got ' || "
                  f"left(CAST({raw(col)} AS VARCHAR), 100) || ')'")
        )
    for col in ("cost_usd", "duration_ms", "ttft_ms"):
        if types.get(col) in _FLOAT_TYPES | _INT_TYPES:
            cast = f"CAST({col} AS DOUBLE)"
            bad = f"{cast} < 0 OR isnan({cast}) OR isinf({cast})"
        else:
            cast = f"TRY_CAST({raw(col)} AS DOUBLE)"
            bad = (f"{txt(col)} IS NOT NULL AND ({cast} IS NULL OR {cast} < 0 OR isnan({cast}) "
                   f"OR isinf({cast}))")
        sel.append(f"{cast} AS {col}")
        checks.append(
            (bad, f"'{col} must be a number ≥ 0 (got ' || CAST({raw(col)} AS VARCHAR) || ')'")
        )
    status_norm = _status_sql() if "status" in present else "NULL"
    err = txt("error_type")
    sel.append(
        f"coalesce({status_norm}, CASE WHEN {err} IS NULL THEN 'ok' ELSE 'error' END) AS status"
    )
    if "status" in present:
        checks.append((
            f"{txt('status')} IS NOT NULL AND ({status_norm}) IS NULL",
            f"'status must be ok or error (got ' || {txt('status')} || ')'",
        ))
    sel.append(
        f"CASE WHEN {err} IS NULL AND coalesce({status_norm}, 'ok') = 'error' THEN '_OTHER' "
        f"ELSE {err} END AS error_type"
    )
    sel.append(f"{txt('finish_reason')} AS finish_reason")
    for col in LIMITED_TEXT_COLUMNS:
        if col in present:
            # strlen (bytes, O(1)) rules out almost every value before length counts chars
            checks.append((
                f"strlen(CAST({col} AS VARCHAR)) > {MAX_FIELD_CHARS} "
                f"AND length(CAST({col} AS VARCHAR)) > {MAX_FIELD_CHARS}",
                f"'{col} is ' || length(CAST({col} AS VARCHAR)) || ' characters long, over the "
                f"limit of {MAX_FIELD_CHARS:,}'",
            ))
    bad_any = " OR ".join(f"({cond}) IS TRUE" for cond, _ in checks)
    reason = "concat_ws('; ', " + ", ".join(
        f"CASE WHEN {cond} THEN {msg} END" for cond, msg in checks
    ) + ")"
    for col in raw_eligible(present, types):
        expr = next(e for e in sel if e.endswith(f" AS {col}"))[: -len(f" AS {col}")]
        sel.append(f"{col} AS _raw_{col}")
        # a number or time already of its type is cast to itself: the same on every row
        same = f"({expr}) IS NOT DISTINCT FROM {col}" if types[col] == "VARCHAR" else "true"
        sel.append(f"{same} AS _same_{col}")
    return f"SELECT {', '.join(sel)}, {bad_any} AS _bad, {reason} AS _reason FROM {src}"


def _tolerance_words() -> str:
    """TS_FUTURE_TOLERANCE in words, for the quarantine reason ("1 day", "6 hours")."""
    hours = round(TS_FUTURE_TOLERANCE.total_seconds() / 3600)
    if hours % 24:
        return f"{hours} hour" + ("s" if hours != 1 else "")
    return f"{hours // 24} day" + ("s" if hours != 24 else "")


def raw_eligible(present: set[str], types: dict[str, str]) -> list[str]:
    """Canonical columns the stage already holds in their target type (see _checked_sql)."""
    return [
        col for col, target in CANONICAL_COLUMNS.items()
        if col in present and types.get(col) == target
    ]


def _rates_table(cur: duckdb.DuckDBPyConnection, org_id: str) -> None:
    """``_rates``: rate periods (override, else genai-prices) of every model lacking a cost."""
    combos = cur.execute(
        "SELECT DISTINCT provider_name, request_model FROM _good WHERE cost_usd IS NULL"
    ).fetchall()
    rates_table(cur, org_id, combos, "_rates")


ROLLUP_SQL = [
    """
    INSERT INTO usage_hourly
    SELECT org_id, date_trunc('hour', ts) AS hour, provider_name, request_model, feature, source,
        count(*), count(*) FILTER (WHERE status = 'error'),
        coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0),
        coalesce(sum(cache_read_input_tokens), 0), coalesce(sum(reasoning_output_tokens), 0),
        coalesce(sum(cost_usd), 0),
        coalesce(sum(duration_ms) FILTER (WHERE status = 'ok'), 0),
        count(duration_ms) FILTER (WHERE status = 'ok'),
        coalesce(sum(ttft_ms) FILTER (WHERE status = 'ok'), 0),
        count(ttft_ms) FILTER (WHERE status = 'ok')
    FROM new_events GROUP BY ALL
    ON CONFLICT DO UPDATE SET
        requests = requests + EXCLUDED.requests, errors = errors + EXCLUDED.errors,
        input_tokens = input_tokens + EXCLUDED.input_tokens,
        output_tokens = output_tokens + EXCLUDED.output_tokens,
        cache_read_input_tokens = cache_read_input_tokens + EXCLUDED.cache_read_input_tokens,
        reasoning_output_tokens = reasoning_output_tokens + EXCLUDED.reasoning_output_tokens,
        cost_usd = cost_usd + EXCLUDED.cost_usd,
        duration_ms_sum = duration_ms_sum + EXCLUDED.duration_ms_sum,
        duration_n = duration_n + EXCLUDED.duration_n,
        ttft_ms_sum = ttft_ms_sum + EXCLUDED.ttft_ms_sum, ttft_n = ttft_n + EXCLUDED.ttft_n
    """,
    f"""
    INSERT INTO latency_daily_hist
    SELECT org_id, CAST(ts AS DATE) AS day, provider_name, request_model, feature, source,
        {BUCKET_SQL} AS bucket, count(*)
    FROM new_events WHERE status = 'ok' AND duration_ms IS NOT NULL GROUP BY ALL
    ON CONFLICT DO UPDATE SET n = n + EXCLUDED.n
    """,
    """
    INSERT INTO errors_hourly
    SELECT org_id, date_trunc('hour', ts) AS hour, provider_name, request_model, feature, source,
        coalesce(error_type, '_OTHER'), count(*)
    FROM new_events WHERE status = 'error' GROUP BY ALL
    ON CONFLICT DO UPDATE SET n = n + EXCLUDED.n
    """,
]

MAX_BAD_ROWS_KEPT = 10_000


def _one(cur: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> tuple:
    return cur.execute(sql, params or []).fetchall()[0]


def load_stage(
    wh: Warehouse, org_id: str, stage: Stage, *, now: datetime | None = None
) -> IngestReport:
    """Validate, de-duplicate, price and load one stage atomically. See module docstring.

    Built for millions of rows: the stage is read once to count rows, bad rows, distinct
    ids and missing costs, then once more by the INSERT; nothing is materialised in between.
    Slower paths (exact de-duplication, pricing) run only when that first pass says so.
    """
    started = datetime.now()
    ingest_id = uuid.uuid4().hex
    report = IngestReport(ingest_id, stage.source_name, stage.format)
    with wh.transaction() as cur:
        cur.execute("SET TimeZone = 'UTC'")
        if stage.arrow is not None:
            cur.register("_stage_arrow", stage.arrow)
            cur.execute("CREATE OR REPLACE TEMP VIEW _stage AS SELECT * FROM _stage_arrow")
        elif stage.relation_sql is not None:
            cur.execute(f"CREATE OR REPLACE TEMP VIEW _stage AS {stage.relation_sql}")
        else:
            raise ValueError("a stage needs relation_sql or arrow")
        # readers map to canonical names; any other column is ignored, never stored
        types = {r[0]: str(r[1]) for r in cur.execute("DESCRIBE _stage").fetchall()}
        checked = _checked_sql("_stage", set(types), org_id, types, now=now)
        cur.execute(f"CREATE OR REPLACE TEMP VIEW _checked AS {checked}")
        # 1. one pass: how many rows, how many bad, are the good ids distinct, missing costs.
        # Equal hashes are necessary for equal ids, so "as many hashes as rows" proves there
        # is no duplicate; a (rare) hash collision only sends us down the exact path.
        # It also finds the columns whose raw values can be stored as they are.
        eligible = raw_eligible(set(types), types)
        first = _one(
            cur,
            "SELECT count(*), count(*) FILTER (WHERE _bad), "
            "count(DISTINCT hash(request_id)) FILTER (WHERE NOT _bad), "
            "count(*) FILTER (WHERE NOT _bad AND cost_usd IS NULL)"
            + "".join(f", coalesce(bool_and(_same_{c}), false)" for c in eligible)
            + " FROM _checked",
        )
        staged_rows, n_bad, n_hashes, n_no_cost = first[:4]
        as_is = {c for c, same in zip(eligible, first[4:], strict=True) if same}
        bad = []
        if n_bad:
            shown = ", ".join(["_row", *CANONICAL_COLUMNS, "_reason"])
            bad = cur.execute(
                f"SELECT _row, _reason, left(to_json(c)::VARCHAR, 2000) FROM (SELECT {shown} "
                "FROM _checked WHERE _bad) c ORDER BY _row"
            ).fetchall()
        # 2. duplicates: the first occurrence in the file wins; ids already stored are skipped
        good = "SELECT * FROM _checked WHERE " + ("NOT _bad" if n_bad else "true")
        if n_hashes < staged_rows - n_bad:  # rare: settle it exactly, for the repeated ids only
            cur.execute(
                f"CREATE OR REPLACE TEMP TABLE _first AS {good} AND request_id IN ("
                "SELECT request_id FROM _checked WHERE NOT _bad GROUP BY request_id "
                "HAVING count(*) > 1) QUALIFY row_number() OVER (PARTITION BY request_id "
                "ORDER BY _row) = 1"
            )
            good = (
                f"{good} AND request_id NOT IN (SELECT request_id FROM _first) "
                "UNION ALL SELECT * FROM _first"
            )
        cur.execute(f"CREATE OR REPLACE TEMP VIEW _good AS {good}")
        cond = "true"
        if _one(cur, "SELECT EXISTS (SELECT 1 FROM usage_events)")[0]:
            cond = "NOT EXISTS (SELECT 1 FROM usage_events u WHERE u.request_id = c.request_id)"
        # 3. missing costs from the rate periods (override, else genai-prices), in the INSERT
        cost_sql, join_sql, missing = "c.cost_usd", "", 0
        if n_no_cost:
            _rates_table(cur, org_id)
            cost_sql, join_sql = PRICED_COST_SQL, RATES_JOIN_SQL
            missing = n_no_cost if cond == "true" and n_hashes == staged_rows - n_bad else _one(
                cur, f"SELECT count(*) FROM _good c WHERE {cond} AND c.cost_usd IS NULL"
            )[0]
        cols = [
            cost_sql if col == "cost_usd" and n_no_cost else
            f"c._raw_{col}" if col in as_is else f"c.{col}"
            for col in CANONICAL_COLUMNS
        ]
        loaded = _one(
            cur,
            f"INSERT INTO usage_events SELECT {', '.join(cols)}, '{ingest_id}' "
            f"FROM _good c {join_sql} WHERE {cond}",
        )[0]
        cur.execute(
            "CREATE OR REPLACE TEMP VIEW new_events AS "
            f"SELECT * FROM usage_events WHERE ingest_id = '{ingest_id}'"
        )
        unknown = 0
        if missing:
            unknown = _one(cur, "SELECT count(*) FROM new_events WHERE cost_usd IS NULL")[0]
        report.costs_computed, report.costs_unknown = int(missing - unknown), int(unknown)
        # 4. rollups from the rows just written (read back compressed: faster than a temp copy)
        for sql in ROLLUP_SQL:
            cur.execute(sql)
        all_bad = list(stage.pre_bad) + [BadRow(int(r), why, raw) for r, why, raw in bad]
        all_bad.sort(key=lambda b: b.row_number)
        if all_bad:
            cur.executemany(
                "INSERT INTO quarantine VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (ingest_id, org_id, stage.source_name, b.row_number, b.reason, (b.raw or "")[:2000])
                    for b in all_bad[:MAX_BAD_ROWS_KEPT]
                ],
            )
        report.rows_read = stage.rows_read if stage.rows_read is not None else staged_rows + len(
            stage.pre_bad
        )
        report.rows_loaded = int(loaded)
        report.rows_quarantined = len(all_bad)
        report.rows_duplicate = int(staged_rows - len(bad) - loaded)
        report.bad_rows = all_bad
        cur.execute(
            "INSERT INTO ingest_log VALUES (?, ?, ?, ?, ?, now()::TIMESTAMP, ?, ?, ?, ?, ?)",
            [
                ingest_id,
                org_id,
                stage.source_name,
                stage.format,
                started,
                report.rows_read,
                report.rows_loaded,
                report.rows_duplicate,
                report.rows_quarantined,
                report.costs_computed,
            ],
        )
        cur.execute("DROP VIEW new_events")
        cur.execute("DROP VIEW _good")
        cur.execute("DROP TABLE IF EXISTS _first")
        cur.execute("DROP TABLE IF EXISTS _rates")
        cur.execute("DROP VIEW _checked")
        cur.execute("DROP VIEW _stage")
        if stage.arrow is not None:
            cur.unregister("_stage_arrow")
    report.seconds = (datetime.now() - started).total_seconds()
    return report
