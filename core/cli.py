"""The ``switchyard`` command: the command-line face of ``core``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from core.domain import DEMO_ORG, check_org_id


def _say_wait(message: str) -> None:
    click.echo(message, err=True)


def _warehouse():
    from core.warehouse.db import get_warehouse

    return get_warehouse(on_wait=_say_wait, label="switchyard CLI")


def _org(value: str) -> str:
    try:
        return check_org_id(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Switchyard: see what your AI models cost and how fast they are."""


@main.command()
@click.option("--demo/--no-demo", default=True, show_default=True,
              help="Build demo history when the warehouse is empty.")
def init(demo: bool) -> None:
    """Prepare SWITCHYARD_HOME: warehouse migrations, cookie key, and demo history if empty."""
    from core.settings import cookie_key, get_settings
    from core.warehouse.queries import event_count

    s = get_settings()
    s.ensure_home()
    cookie_key(s)
    wh = _warehouse()
    n = event_count(wh)
    click.echo(f"Warehouse: {s.warehouse_path} ({n:,} events)")
    if demo and n == 0:
        from core.warehouse.demo import build_demo

        click.echo(f"Building demo history: {s.demo_events:,} events over {s.demo_days} days…")
        report = build_demo(wh, events=s.demo_events, days=s.demo_days, seed=7)
        click.echo(report.summary())


@main.command()
@click.option("--events", default=200_000, show_default=True, type=click.IntRange(1, 50_000_000))
@click.option("--days", default=60, show_default=True, type=click.IntRange(1, 3650))
@click.option("--seed", default=7, show_default=True, type=int)
@click.option("--end", "end", default=None, type=click.DateTime(["%Y-%m-%d"]),
              help="Last day of history (default: today, UTC).")
@click.option("--org", "org_id", default=DEMO_ORG, show_default=True, callback=lambda c, p, v: _org(v))
def demo(events: int, days: int, seed: int, end, org_id: str) -> None:
    """Build a deterministic, realistic usage history for a demo organization."""
    from core.warehouse.demo import build_demo

    report = build_demo(
        _warehouse(), events=events, days=days, seed=seed, org_id=org_id,
        end=end.date() if end else None, progress=lambda m: click.echo(m, err=True),
    )
    click.echo(report.summary())


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--org", "org_id", default=DEMO_ORG, show_default=True, callback=lambda c, p, v: _org(v))
@click.option("--quarantine-out", type=click.Path(path_type=Path), default=None,
              help="Write rejected rows (row number, reason) to this CSV file.")
def ingest(paths: tuple[Path, ...], org_id: str, quarantine_out: Path | None) -> None:
    """Ingest usage files: JSONL, CSV, Parquet, LiteLLM SpendLogs, OpenTelemetry GenAI spans."""
    from core.warehouse.db import WarehouseBusy
    from core.warehouse.ingest import UnreadableFile, ingest_path, quarantine_csv

    wh = _warehouse()
    failed = False
    rejected = b""
    for p in paths:
        try:
            report = ingest_path(wh, org_id, p)
        except (UnreadableFile, WarehouseBusy) as exc:
            click.echo(f"error: {exc}", err=True)
            failed = True
            continue
        click.echo(report.summary())
        for bad in report.bad_rows[:10]:
            click.echo(f"  row {bad.row_number}: {bad.reason}", err=True)
        if len(report.bad_rows) > 10:
            click.echo(f"  … and {len(report.bad_rows) - 10} more rejected rows", err=True)
        if report.bad_rows:
            body = quarantine_csv(report)
            rejected += body if not rejected else body.split(b"\n", 1)[1]
    if quarantine_out and rejected:
        quarantine_out.write_bytes(rejected)
        click.echo(f"Rejected rows written to {quarantine_out}", err=True)
    if failed:
        sys.exit(1)


@main.group()
def bench() -> None:
    """Benchmarks that print ratios against a baseline measured in the same run."""


@bench.command("warehouse")
@click.option("--events", default=1_000_000, show_default=True, type=click.IntRange(1000, 50_000_000))
@click.option("--days", default=60, show_default=True, type=click.IntRange(1, 3650))
@click.option("--repeat", default=5, show_default=True, type=click.IntRange(1, 100))
def bench_warehouse(events: int, days: int, repeat: int) -> None:
    """Time the Usage page's queries against the same aggregations in pandas."""
    from core.warehouse.bench import run_warehouse_bench

    result = run_warehouse_bench(events=events, days=days, repeat=repeat,
                                 progress=lambda m: click.echo(m, err=True))
    click.echo(json.dumps(result))


@main.group()
def users() -> None:
    """Manage sign-in users (the app's Users page does the same)."""


@users.command("add")
@click.argument("username")
@click.option("--name", default=None, help="Display name (default: the username).")
@click.option("--email", default="", help="E-mail address.")
@click.option("--role", type=click.Choice(["admin", "editor", "analyst", "viewer"]), default="viewer",
              show_default=True)
@click.option("--org", "org_id", default=DEMO_ORG, show_default=True, callback=lambda c, p, v: _org(v))
@click.password_option(help="Asked for at the prompt (never pass it as an argument in scripts).")
def users_add(username: str, name: str | None, email: str, role: str, org_id: str, password: str) -> None:
    """Add a user (the first user becomes the instance owner)."""
    from core import auth

    try:
        auth.UserStore().add_user(username, name or username, email, password, role, org_id)
    except auth.UserError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Added {username} ({role}, organization {org_id}).")


@users.command("list")
def users_list() -> None:
    """List users with their roles and organizations."""
    from core import auth

    for u in auth.UserStore().list_users():
        owner = " (owner)" if u.owner else ""
        click.echo(f"{u.username}\t{u.role}\t{u.org_id}{owner}")


if __name__ == "__main__":  # pragma: no cover
    main()
