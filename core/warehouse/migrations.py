"""Versioned warehouse migrations. Append new ones; never edit an applied one.

Column names follow the OpenTelemetry GenAI conventions (provider_name, request_model, …).
``request_id`` is unique: ingest enforces it with an anti-join under the writer lock rather
than an ART index, which would make bulk loads of millions of rows several times slower.

Rollups are maintained at ingest, in the same transaction as the events they summarise:

* ``usage_hourly``: sums per org/hour/provider/model/feature/source;
* ``latency_daily_hist``: mergeable log-bucketed latency histograms (successful calls) per
  org/day/provider/model/feature/source, from which p50/p95/p99 are read for any filter;
* ``errors_hourly``: error counts by type.

``price_overrides`` (migration 2) holds negotiated prices per organization with effective
dates (see ``core.pricing.PriceOverride``); ``reprice_log`` records each re-pricing.

``comparison_runs`` / ``comparison_results`` (migration 3) hold model comparisons: one row per
run (spec, status, progress, the process that runs it in ``owner``) and one per finished call
(unique per run, model, item and iteration, which is what a resumed run skips). Each batch of
results lands in the same transaction as its ``usage_events`` rows (``source='benchmark'``)
and their rollups (``core.warehouse.comparison_runs``).
"""

from __future__ import annotations

import duckdb

DIMS = "org_id, provider_name, request_model, feature, source"

MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "usage events, rollups, ingest log and quarantine",
        """
        CREATE TABLE usage_events (
            request_id VARCHAR NOT NULL,
            ts TIMESTAMP NOT NULL,
            org_id VARCHAR NOT NULL,
            provider_name VARCHAR NOT NULL,
            request_model VARCHAR NOT NULL,
            response_model VARCHAR,
            feature VARCHAR NOT NULL,
            source VARCHAR NOT NULL,
            input_tokens BIGINT,
            output_tokens BIGINT,
            cache_read_input_tokens BIGINT,
            reasoning_output_tokens BIGINT,
            cost_usd DOUBLE,
            duration_ms DOUBLE,
            ttft_ms DOUBLE,
            status VARCHAR NOT NULL,
            error_type VARCHAR,
            finish_reason VARCHAR,
            ingest_id VARCHAR
        );
        CREATE TABLE usage_hourly (
            org_id VARCHAR NOT NULL,
            hour TIMESTAMP NOT NULL,
            provider_name VARCHAR NOT NULL,
            request_model VARCHAR NOT NULL,
            feature VARCHAR NOT NULL,
            source VARCHAR NOT NULL,
            requests BIGINT NOT NULL,
            errors BIGINT NOT NULL,
            input_tokens BIGINT NOT NULL,
            output_tokens BIGINT NOT NULL,
            cache_read_input_tokens BIGINT NOT NULL,
            reasoning_output_tokens BIGINT NOT NULL,
            cost_usd DOUBLE NOT NULL,
            duration_ms_sum DOUBLE NOT NULL,
            duration_n BIGINT NOT NULL,
            ttft_ms_sum DOUBLE NOT NULL,
            ttft_n BIGINT NOT NULL,
            PRIMARY KEY (org_id, hour, provider_name, request_model, feature, source)
        );
        CREATE TABLE latency_daily_hist (
            org_id VARCHAR NOT NULL,
            day DATE NOT NULL,
            provider_name VARCHAR NOT NULL,
            request_model VARCHAR NOT NULL,
            feature VARCHAR NOT NULL,
            source VARCHAR NOT NULL,
            bucket SMALLINT NOT NULL,
            n BIGINT NOT NULL,
            PRIMARY KEY (org_id, day, provider_name, request_model, feature, source, bucket)
        );
        CREATE TABLE errors_hourly (
            org_id VARCHAR NOT NULL,
            hour TIMESTAMP NOT NULL,
            provider_name VARCHAR NOT NULL,
            request_model VARCHAR NOT NULL,
            feature VARCHAR NOT NULL,
            source VARCHAR NOT NULL,
            error_type VARCHAR NOT NULL,
            n BIGINT NOT NULL,
            PRIMARY KEY (org_id, hour, provider_name, request_model, feature, source, error_type)
        );
        CREATE TABLE ingest_log (
            ingest_id VARCHAR PRIMARY KEY,
            org_id VARCHAR NOT NULL,
            source_name VARCHAR NOT NULL,
            format VARCHAR NOT NULL,
            started_at TIMESTAMP NOT NULL,
            finished_at TIMESTAMP NOT NULL,
            rows_read BIGINT NOT NULL,
            rows_loaded BIGINT NOT NULL,
            rows_duplicate BIGINT NOT NULL,
            rows_quarantined BIGINT NOT NULL,
            costs_computed BIGINT NOT NULL
        );
        CREATE TABLE quarantine (
            ingest_id VARCHAR NOT NULL,
            org_id VARCHAR NOT NULL,
            source_name VARCHAR NOT NULL,
            row_number BIGINT NOT NULL,
            reason VARCHAR NOT NULL,
            raw VARCHAR
        );
        """,
    ),
    (
        2,
        "per-organization price overrides and the re-pricing log",
        """
        CREATE TABLE price_overrides (
            override_id VARCHAR PRIMARY KEY,
            org_id VARCHAR NOT NULL,
            provider_name VARCHAR NOT NULL,
            model VARCHAR NOT NULL,
            input_per_mtok DOUBLE NOT NULL CHECK (input_per_mtok >= 0),
            output_per_mtok DOUBLE NOT NULL CHECK (output_per_mtok >= 0),
            cached_input_per_mtok DOUBLE CHECK (cached_input_per_mtok >= 0),
            per_image DOUBLE CHECK (per_image >= 0),
            effective_from DATE NOT NULL,
            effective_to DATE,
            note VARCHAR,
            created_by VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL,
            CHECK (effective_to IS NULL OR effective_to >= effective_from)
        );
        CREATE TABLE reprice_log (
            reprice_id VARCHAR PRIMARY KEY,
            org_id VARCHAR NOT NULL,
            since DATE,
            until DATE,
            only_missing BOOLEAN NOT NULL,
            events BIGINT NOT NULL,
            changed BIGINT NOT NULL,
            cost_before DOUBLE NOT NULL,
            cost_after DOUBLE NOT NULL,
            actor VARCHAR NOT NULL,
            started_at TIMESTAMP NOT NULL,
            finished_at TIMESTAMP NOT NULL
        );
        """,
    ),
    (
        3,
        "model comparisons: runs and per-call results",
        """
        CREATE TABLE comparison_runs (
            run_id VARCHAR PRIMARY KEY,
            org_id VARCHAR NOT NULL,
            name VARCHAR NOT NULL,
            spec_json VARCHAR NOT NULL,
            status VARCHAR NOT NULL
                CHECK (status IN ('queued', 'running', 'cancelled', 'failed', 'done')),
            created_by VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL,
            started_at TIMESTAMP,
            finished_at TIMESTAMP,
            total_calls BIGINT NOT NULL DEFAULT 0 CHECK (total_calls >= 0),
            done_calls BIGINT NOT NULL DEFAULT 0 CHECK (done_calls >= 0),
            error VARCHAR,
            owner VARCHAR
        );
        CREATE TABLE comparison_results (
            run_id VARCHAR NOT NULL,
            org_id VARCHAR NOT NULL,
            model_key VARCHAR NOT NULL,
            provider_id VARCHAR NOT NULL,
            provider_name VARCHAR NOT NULL,
            model VARCHAR NOT NULL,
            item_kind VARCHAR NOT NULL CHECK (item_kind IN ('photo', 'prompt')),
            item_id VARCHAR NOT NULL,
            iteration INTEGER NOT NULL CHECK (iteration >= 0),
            status VARCHAR NOT NULL CHECK (status IN ('ok', 'error')),
            error_type VARCHAR,
            output_text VARCHAR,
            tags_json VARCHAR,
            duration_ms DOUBLE,
            ttft_ms DOUBLE,
            input_tokens BIGINT,
            output_tokens BIGINT,
            cached_input_tokens BIGINT,
            reasoning_tokens BIGINT,
            cost_usd DOUBLE,
            score DOUBLE,
            bucket VARCHAR,
            details_json VARCHAR,
            request_id VARCHAR,
            ts TIMESTAMP NOT NULL,
            response_model VARCHAR,
            finish_reason VARCHAR,
            attempts INTEGER,
            UNIQUE (run_id, model_key, item_id, iteration)
        );
        """,
    ),
]


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        "version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)"
    )
    row = con.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
    return int(row[0]) if row else 0


def migrate(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Apply every pending migration, each in its own transaction. Returns the versions applied."""
    applied: list[int] = []
    have = current_version(con)
    for version, name, sql in MIGRATIONS:
        if version <= have:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(sql)
            con.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, now()::TIMESTAMP)", [version, name]
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        applied.append(version)
    return applied
