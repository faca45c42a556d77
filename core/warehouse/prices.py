"""Price overrides in the warehouse, and event pricing in SQL (ingest and re-pricing).

The *choice* of a price lives in :mod:`core.pricing` (``rate_periods``: override, else
free, else genai-prices, as non-overlapping periods and long-context bands). This module keeps
the SQL: it stores overrides, turns the chosen periods into a small temp table, and prices
events column-wise with one range join, so ingest and re-pricing of millions of events never
loop in Python and can never disagree with ``price_for``.

Re-pricing runs in one transaction: the events' costs and the hourly rollups they feed change
together or not at all.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import duckdb
import pyarrow as pa

from core.domain import check_org_id
from core.pricing import (
    MAX_TS,
    MIN_TS,
    OverlappingOverride,
    PriceOverride,
    find_overlap,
    model_key,
    rate_periods,
)
from core.provider_names import canonical_provider
from core.warehouse.db import Warehouse, one_row

OVERRIDE_COLUMNS = [
    "override_id", "org_id", "provider_name", "model", "input_per_mtok", "output_per_mtok",
    "cached_input_per_mtok", "per_image", "effective_from", "effective_to", "note", "created_by",
    "created_at",
]


def computed_cost_sql(e: str = "c", r: str = "r") -> str:
    """Cost of event alias ``e`` at rate row ``r`` (NULL when no rate row matched).

    ``input_tokens`` includes cached tokens (as in genai-prices and OpenTelemetry); a price
    per image is charged once per successful call (a Vision call tags one photo).
    """
    return (
        f"(greatest(coalesce({e}.input_tokens, 0) - coalesce({e}.cache_read_input_tokens, 0), 0)"
        f" * {r}.r_in + coalesce({e}.cache_read_input_tokens, 0) * {r}.r_cache"
        f" + coalesce({e}.output_tokens, 0) * {r}.r_out"
        f" + CASE WHEN {e}.status = 'ok' THEN coalesce({r}.r_image, 0) ELSE 0 END)"
    )


def rates_join_sql(table: str, e: str = "c", r: str = "r", kind: str = "LEFT JOIN") -> str:
    """Join each event to the one rate row of its provider, model, instant and token band."""
    return (
        f"{kind} {table} {r} ON {r}.provider_name = {e}.provider_name "
        f"AND {r}.request_model = {e}.request_model "
        f"AND {e}.ts >= {r}.valid_from AND {e}.ts < {r}.valid_to "
        f"AND coalesce({e}.input_tokens, 0) > {r}.band_lo "
        f"AND coalesce({e}.input_tokens, 0) <= {r}.band_hi"
    )


# What ingest uses: a cost given by the source wins; a missing one is computed.
PRICED_COST_SQL = f"coalesce(c.cost_usd, {computed_cost_sql()})"
RATES_JOIN_SQL = rates_join_sql("_rates")

# Re-pricing rewrites a cost only when it moves by more than a picodollar: costs computed
# elsewhere (numpy in the demo, a provider's own bill) differ from ours in the last float bits.
CHANGED_SQL = "(old_cost IS NULL OR abs(new_cost - old_cost) > 1e-12)"


# -- overrides --------------------------------------------------------------------------------


class UnknownOverride(LookupError):
    """No override with that id in the organization (or an ambiguous id prefix)."""


def _fetch_overrides(
    cur: duckdb.DuckDBPyConnection, org_id: str, provider_name: str | None = None
) -> list[PriceOverride]:
    sql = f"SELECT {', '.join(OVERRIDE_COLUMNS)} FROM price_overrides WHERE org_id = ?"
    params: list[object] = [check_org_id(org_id)]
    if provider_name:
        sql += " AND provider_name = ?"
        params.append(canonical_provider(provider_name))
    sql += " ORDER BY provider_name, model, effective_from, created_at"
    return [
        PriceOverride.model_validate(dict(zip(OVERRIDE_COLUMNS, row, strict=True)))
        for row in cur.execute(sql, params).fetchall()
    ]


def list_overrides(
    wh: Warehouse, org_id: str, *, provider_name: str | None = None, model: str | None = None
) -> list[PriceOverride]:
    """An organization's overrides (for one provider, and one model as genai-prices matches it)."""
    with wh.cursor() as cur:
        found = _fetch_overrides(cur, org_id, provider_name)
    if model is not None:
        found = [o for o in found if model_key(o.provider_name, o.model)
                 == model_key(o.provider_name, model)]
    return found


@dataclass(frozen=True)
class AddedOverride:
    """What :func:`add_override` stored, and the open-ended override it ended, if any."""

    override: PriceOverride
    ended: PriceOverride | None = None


def add_override(wh: Warehouse, override: PriceOverride, *, supersede: bool = False) -> AddedOverride:
    """Store an override after checking it overlaps no other for the same org/provider/model.

    ``supersede=True`` lets a new price take over from an open-ended one that started earlier:
    that one is ended the day before (so its past stays priced as it was). Any other overlap
    raises :class:`OverlappingOverride`. Stored costs are not touched: see :func:`reprice`.
    """
    with wh.transaction() as cur:
        existing = [o for o in _fetch_overrides(cur, override.org_id, override.provider_name)
                    if o.key == override.key]
        ended = None
        clash = find_overlap(override, existing)
        if (clash is not None and supersede and clash.effective_to is None
                and clash.effective_from < override.effective_from):
            ended = clash.model_copy(
                update={"effective_to": override.effective_from - timedelta(days=1)}
            )
            cur.execute(
                "UPDATE price_overrides SET effective_to = ? WHERE override_id = ?",
                [ended.effective_to, ended.override_id],
            )
            existing = [ended if o.override_id == ended.override_id else o for o in existing]
            clash = find_overlap(override, existing)
        if clash is not None:
            raise OverlappingOverride(override, clash)
        cur.execute(
            f"INSERT INTO price_overrides ({', '.join(OVERRIDE_COLUMNS)}) "
            f"VALUES ({', '.join('?' for _ in OVERRIDE_COLUMNS)})",
            [getattr(override, c) for c in OVERRIDE_COLUMNS],
        )
    return AddedOverride(override, ended)


def delete_override(wh: Warehouse, org_id: str, override_id: str) -> PriceOverride:
    """Delete one override by id (or a unique prefix of at least 6 characters)."""
    override_id = override_id.strip()
    if len(override_id) < 6:
        raise UnknownOverride("give at least 6 characters of the override id")
    with wh.transaction() as cur:
        found = [o for o in _fetch_overrides(cur, org_id)
                 if o.override_id.startswith(override_id)]
        if not found:
            raise UnknownOverride(f"no price override {override_id} in organization {org_id}")
        if len(found) > 1:
            raise UnknownOverride(f"{override_id} matches {len(found)} overrides; give more of it")
        cur.execute("DELETE FROM price_overrides WHERE override_id = ?", [found[0].override_id])
    return found[0]


# -- rates as a table -------------------------------------------------------------------------


def rates_table(
    cur: duckdb.DuckDBPyConnection,
    org_id: str,
    combos: Iterable[tuple[str, str]],
    name: str = "_rates",
) -> int:
    """Create temp table ``name`` with the rate periods of each (provider, model) for an org.

    Python runs once per distinct model (a handful), never per event. Returns the row count.
    """
    by_provider: dict[str, list[PriceOverride]] = {}
    for o in _fetch_overrides(cur, org_id):
        by_provider.setdefault(o.provider_name, []).append(o)
    cols: dict[str, list] = {k: [] for k in (
        "provider_name", "request_model", "valid_from", "valid_to", "band_lo", "band_hi",
        "r_in", "r_out", "r_cache", "r_image")}
    for provider, model in combos:
        for p in rate_periods(provider, model, by_provider.get(provider, ())):
            for k, v in (("provider_name", provider), ("request_model", model),
                         ("valid_from", p.valid_from), ("valid_to", p.valid_to),
                         ("band_lo", p.band_lo), ("band_hi", p.band_hi), ("r_in", p.r_in),
                         ("r_out", p.r_out), ("r_cache", p.r_cache), ("r_image", p.r_image)):
                cols[k].append(v)
    table = pa.table({
        "provider_name": pa.array(cols["provider_name"], pa.string()),
        "request_model": pa.array(cols["request_model"], pa.string()),
        "valid_from": pa.array(cols["valid_from"], pa.timestamp("us")),
        "valid_to": pa.array(cols["valid_to"], pa.timestamp("us")),
        "band_lo": pa.array(cols["band_lo"], pa.int64()),
        "band_hi": pa.array(cols["band_hi"], pa.int64()),
        "r_in": pa.array(cols["r_in"], pa.float64()),
        "r_out": pa.array(cols["r_out"], pa.float64()),
        "r_cache": pa.array(cols["r_cache"], pa.float64()),
        "r_image": pa.array(cols["r_image"], pa.float64()),
    })
    view = f"{name}_arrow"
    cur.register(view, table)
    try:
        cur.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {view}")
    finally:
        cur.unregister(view)
    return table.num_rows


# -- re-pricing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RepriceResult:
    """What a re-pricing did: events priced, how many changed, total cost of the window."""

    events: int  # events in the window that have a price (their cost was recomputed)
    cost_before: float  # total cost of every event in the window, before and after
    cost_after: float
    changed: int = 0  # events whose cost actually changed
    unpriced: int = 0  # events in the window with no known price: left as they were
    seconds: float = 0.0

    def summary(self) -> str:
        delta = round(self.cost_after - self.cost_before, 2) + 0.0  # no "-$0.00"
        text = (f"{self.events:,} events re-priced ({self.changed:,} changed): "
                f"${self.cost_before:,.2f} before, ${self.cost_after:,.2f} after "
                f"({'+' if delta >= 0 else '-'}${abs(delta):,.2f})")
        if self.unpriced:
            text += f"; {self.unpriced:,} events have no known price and were left as they were"
        return text


def _window(since: date | None, until: date | None) -> tuple[datetime, datetime]:
    if since is not None and until is not None and until < since:
        raise ValueError(f"until ({until}) is before since ({since})")
    lo = datetime.combine(since, datetime.min.time()) if since else MIN_TS
    hi = datetime.combine(until + timedelta(days=1), datetime.min.time()) if until else MAX_TS
    return lo, hi


def _rebuild_rollups(cur: duckdb.DuckDBPyConnection, org_id: str) -> None:
    """Recompute ``usage_hourly.cost_usd`` for every group holding a changed event.

    Only costs change, so latency histograms and error counts stay as they are; sums are
    recomputed from the events (not adjusted by deltas), so they match raw sums exactly.
    """
    cur.execute(
        "CREATE OR REPLACE TEMP TABLE _reprice_groups AS SELECT DISTINCT hour, provider_name, "
        "request_model, feature, source FROM _repriced WHERE changed"
    )
    lo, hi = one_row(cur, "SELECT min(hour), max(hour) FROM _reprice_groups")
    if lo is None:
        return
    cur.execute(
        """
        UPDATE usage_hourly SET cost_usd = s.cost FROM (
            SELECT date_trunc('hour', e.ts) AS hour, e.provider_name, e.request_model,
                   e.feature, e.source, coalesce(sum(e.cost_usd), 0) AS cost
            FROM usage_events e JOIN _reprice_groups g
              ON date_trunc('hour', e.ts) = g.hour AND e.provider_name = g.provider_name
             AND e.request_model = g.request_model AND e.feature = g.feature
             AND e.source = g.source
            WHERE e.org_id = ? AND e.ts >= ? AND e.ts < ?
            GROUP BY ALL
        ) s
        WHERE usage_hourly.org_id = ? AND usage_hourly.hour = s.hour
          AND usage_hourly.provider_name = s.provider_name
          AND usage_hourly.request_model = s.request_model
          AND usage_hourly.feature = s.feature AND usage_hourly.source = s.source
        """,
        [org_id, lo, hi + timedelta(hours=1), org_id],
    )
    cur.execute("DROP TABLE _reprice_groups")


def reprice(
    wh: Warehouse,
    org_id: str,
    *,
    since: date | None = None,
    until: date | None = None,
    only_missing: bool = False,
    actor: str = "system",
) -> RepriceResult:
    """Recompute ``cost_usd`` with the price effective at each event's time, atomically.

    The window is whole UTC days ``since``..``until`` (inclusive; None: unbounded). Each
    event gets its organization's override effective at its timestamp, else genai-prices'
    price of that day; events with no known price keep their cost. ``only_missing`` re-prices
    only events without a cost. Costs and the hourly rollups change in one transaction:
    anything raised midway leaves both exactly as they were.
    """
    org_id = check_org_id(org_id)
    lo, hi = _window(since, until)
    started = datetime.now(UTC).replace(tzinfo=None)
    scope = "e.org_id = ? AND e.ts >= ? AND e.ts < ?"
    params = [org_id, lo, hi]
    with wh.transaction() as cur:
        combos = cur.execute(
            "SELECT DISTINCT provider_name, request_model FROM usage_hourly "
            "WHERE org_id = ? AND hour >= ? AND hour < ?",
            params,
        ).fetchall()
        rates_table(cur, org_id, combos, "_reprice_rates")
        before = one_row(
            cur, f"SELECT coalesce(sum(cost_usd), 0) FROM usage_events e WHERE {scope}", params
        )[0]
        missing = " AND e.cost_usd IS NULL" if only_missing else ""
        cur.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE _repriced AS
            SELECT *, {CHANGED_SQL} AS changed FROM (
                SELECT e.rowid AS rid, date_trunc('hour', e.ts) AS hour, e.provider_name,
                       e.request_model, e.feature, e.source, e.cost_usd AS old_cost,
                       {computed_cost_sql("e", "r")} AS new_cost
                FROM usage_events e {rates_join_sql("_reprice_rates", "e", "r", "JOIN")}
                WHERE {scope}{missing}
            )
            """,
            params,
        )
        events, changed = one_row(cur, "SELECT count(*), count(*) FILTER (WHERE changed) FROM _repriced")
        unpriced = one_row(cur, f"SELECT count(*) FROM usage_events e WHERE {scope}{missing}", params)[0] - events
        if changed:
            cur.execute(
                "UPDATE usage_events SET cost_usd = p.new_cost FROM _repriced p "
                "WHERE usage_events.rowid = p.rid AND p.changed"
            )
            _rebuild_rollups(cur, org_id)
        after = one_row(
            cur, f"SELECT coalesce(sum(cost_usd), 0) FROM usage_events e WHERE {scope}", params
        )[0]
        finished = datetime.now(UTC).replace(tzinfo=None)
        cur.execute(
            "INSERT INTO reprice_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [uuid.uuid4().hex, org_id, since, until, only_missing, events, changed, before,
             after, actor, started, finished],
        )
        cur.execute("DROP TABLE _repriced")
        cur.execute("DROP TABLE _reprice_rates")
    return RepriceResult(int(events), float(before), float(after), int(changed), int(unpriced),
                         (finished - started).total_seconds())
