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
    import warnings

    from core.files import private_umask

    private_umask()  # runtime files (warehouse, its log, keys) owner-only

    from core.vault import MasterKeyGenerated

    # the vault also logs this, in plain words; the warning's copy would add a source line
    warnings.filterwarnings("ignore", category=MasterKeyGenerated)


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
    if demo:
        from core.catalog.view import ensure_demo_catalog
        from core.config_store import CatalogStore, ProviderStore
        from core.connections import ensure_demo_providers

        store = ProviderStore()
        sims = [r for r in ensure_demo_providers(store) if r.simulated]
        if sims:
            click.echo(f"Demo organization: {len(sims)} simulated providers (no keys needed).")
        run = ensure_demo_catalog(store, CatalogStore(), DEMO_ORG)  # the first discovery
        if run is not None:
            click.echo(f"Demo catalog: {run.summary()}")


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


@main.command()
@click.option("--org", "org_id", required=True, callback=lambda c, p, v: _org(v),
              help="The organization whose events to export.")
@click.option("--from", "start", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="First day (default: the organization's first day of data).")
@click.option("--to", "end", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Last day, inclusive (default: its last day of data).")
@click.option("--format", "fmt", type=click.Choice(["csv", "parquet"]), default=None,
              help="Default: from the --out suffix (.parquet), else csv.")
@click.option("--out", "out", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="The file to write.")
def export(org_id: str, start, end, fmt: str | None, out: Path) -> None:
    """Export an organization's usage events (newest first), as the Usage page's Export does.

    CSV cells a spreadsheet would run as formulas are neutralised; Parquet keeps raw values.
    """
    from core.domain import UsageFilter
    from core.warehouse import queries
    from core.warehouse.db import WarehouseBusy

    fmt = fmt or ("parquet" if out.suffix.lower() == ".parquet" else "csv")
    wh = _warehouse()
    try:
        opts = queries.filter_options(wh, org_id)
        first = start.date() if start else opts["first_day"]
        last = end.date() if end else opts["last_day"]
        if first is None or last is None:
            raise click.ClickException(f"organization {org_id} has no usage to export")
        try:
            flt = UsageFilter(org_id=org_id, start=first, end=last)
        except ValueError:
            raise click.BadParameter("--to is before --from") from None
        body = queries.export_events(wh, flt, fmt)
    except WarehouseBusy as exc:
        raise click.ClickException(str(exc)) from None
    out.write_bytes(body)
    click.echo(f"Exported {org_id}'s events {first} – {last} as {fmt} to {out} "
               f"({len(body):,} bytes).")


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


@bench.command("pages")
@click.option("--events", default=200_000, show_default=True, type=click.IntRange(0, 10_000_000),
              help="Demo history of the home the app serves (the default demo has 200k).")
@click.option("--rounds", default=4, show_default=True, type=click.IntRange(1, 50))
def bench_pages(events: int, rounds: int) -> None:
    """Click through the sidebar as a signed-in admin in Debian's chromium; print each page's
    median and maximum switch time (seed 002's target: 500 ms)."""
    from core.page_bench import BenchError, run_pages_bench

    try:
        result = run_pages_bench(events=events, rounds=rounds,
                                 progress=lambda m: click.echo(m, err=True))
    except BenchError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(json.dumps(result))


@bench.command("discovery")
@click.option("--seed", default=7, show_default=True, type=int)
def bench_discovery(seed: int) -> None:
    """Discover every demo provider against the simulator at its normal latency (target 10 s)."""
    from core.catalog.bench import run_discovery_bench

    result = run_discovery_bench(seed=seed, progress=lambda m: click.echo(m, err=True))
    click.echo(json.dumps(result))


@bench.command("compare")
@click.option("--items", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--iterations", default=3, show_default=True, type=click.IntRange(1, 100))
@click.option("--concurrency", default=16, show_default=True, type=click.IntRange(1, 1000))
@click.option("--latency-ms", default=100.0, show_default=True, type=click.FloatRange(1),
              help="The simulator's fixed latency per call.")
@click.option("--stream/--no-stream", default=False, show_default=True,
              help="Streamed answers (the simulator then paces every chunk, which measures "
                   "its pacing more than the runner).")
@click.option("--in-process", is_flag=True,
              help="Serve the simulator from a thread of this process instead of its own.")
@click.option("--seed", default=7, show_default=True, type=int)
def bench_compare(items: int, iterations: int, concurrency: int, latency_ms: float,
                  stream: bool, in_process: bool, seed: int) -> None:
    """Run 4 models × ITEMS × ITERATIONS calls against the simulator at a fixed latency and
    print wall time against the ideal (target overhead_ratio ≤ 1.10)."""
    from core.compare.bench import run_compare_bench

    result = run_compare_bench(items=items, iterations=iterations, concurrency=concurrency,
                               latency_ms=latency_ms, stream=stream, in_process=in_process,
                               seed=seed, progress=lambda m: click.echo(m, err=True))
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


@users.command("unlock")
@click.argument("username")
def users_unlock(username: str) -> None:
    """Lift a sign-in lockout (too many failed attempts) before it ends by itself."""
    from core.signin import SignIn

    if SignIn().unlock(username, acting=None):
        click.echo(f"Unlocked {username}.")
    else:
        click.echo(f"{username} had no failed sign-ins to clear.")


@users.group("sessions")
def users_sessions() -> None:
    """Sign-in sessions: list them, or end them."""


@users_sessions.command("list")
def users_sessions_list() -> None:
    """Live sessions: user, organization, since, last seen, until."""
    from datetime import UTC, datetime

    from core.config_store.sessions import SessionStore

    fmt = "%Y-%m-%d %H:%M"
    for r in SessionStore().live(datetime.now(UTC)):
        click.echo(f"{r.username}\t{r.org_id}\t{r.created_at.astimezone():{fmt}}\t"
                   f"{r.last_seen_at.astimezone():{fmt}}\t{r.expires_at.astimezone():{fmt}}\t"
                   f"{r.client or ''}")


@users_sessions.command("revoke")
@click.option("--all", "everyone", is_flag=True, help="End every session of the instance.")
@click.option("--user", "username", default=None, help="End every session of this user.")
def users_sessions_revoke(everyone: bool, username: str | None) -> None:
    """End sessions at once: their cookies stop working, wherever they were copied to."""
    from core.signin import SignIn

    if everyone == bool(username):
        raise click.UsageError("Give either --all or --user NAME.")
    service = SignIn()
    if everyone:
        n = service.revoke_all(actor="cli")
    else:
        n = service.revoke_user(username or "", actor="cli", reason="revoked by the operator")
    click.echo(f"Ended {n} session{'s' if n != 1 else ''}.")


@main.group()
def providers() -> None:
    """Manage model providers (the app's Providers page does the same)."""


def _provider_store():
    from core.config_store import ProviderStore

    return ProviderStore()


@providers.command("add")
@click.argument("ptype", metavar="TYPE", type=click.Choice(
    ["openai", "anthropic", "gemini", "mistral", "clarifai", "gcp_vision", "ollama",
     "openai_compatible"]))
@click.option("--name", required=True, help="A name for this provider, e.g. 'OpenAI prod'.")
@click.option("--org", "org_id", default=DEMO_ORG, show_default=True,
              callback=lambda c, p, v: _org(v))
@click.option("--base-url", default=None, help="Required for ollama and openai_compatible.")
@click.option("--model", "default_model", default=None, help="Default model id.")
@click.option("--header", "headers", multiple=True, metavar="NAME:VALUE",
              help="Extra header (openai_compatible only); repeatable.")
@click.option("--key-env", default=None, metavar="VAR",
              help="Read the API key from this environment variable (else you are prompted). "
                   "A key is never taken as an argument: it would land in shell history.")
@click.option("--actor", default="cli", show_default=True, help="Who is recorded in the audit log.")
def providers_add(ptype: str, name: str, org_id: str, base_url: str | None,
                  default_model: str | None, headers: tuple[str, ...], key_env: str | None,
                  actor: str) -> None:
    """Add a provider; its key is encrypted before it is stored."""
    import os

    from pydantic import ValidationError

    from core.config_store import ConfigStoreError
    from core.config_store.schemas import parse_provider_settings, validation_messages
    from core.provider_names import PROVIDER_TYPES, KeyPolicy, ProviderType

    info = PROVIDER_TYPES[ProviderType(ptype)]
    data: dict = {"type": ptype, "name": name, "base_url": base_url,
                  "default_model": default_model}
    if headers:
        data["headers"] = dict(h.split(":", 1) for h in headers if ":" in h)
        data["headers"] = {k.strip(): v.strip() for k, v in data["headers"].items()}
    key: str | None = None
    if key_env:
        key = os.environ.get(key_env)
        if not key:
            raise click.ClickException(f"Environment variable {key_env} is empty or not set.")
    elif info.key_policy is KeyPolicy.required:
        key = click.prompt(f"{info.label} {info.key_label}", hide_input=True)
    elif info.key_policy is KeyPolicy.optional:
        key = click.prompt(f"{info.key_label} (optional, Enter to skip)", hide_input=True,
                           default="", show_default=False) or None
    try:
        record = _provider_store().add(org_id, parse_provider_settings(data), key, actor)
    except ValidationError as exc:
        raise click.ClickException("; ".join(validation_messages(exc))) from None
    except ConfigStoreError as exc:
        raise click.ClickException(str(exc)) from None
    shown = f", key {record.key_last4}" if record.has_key else ""
    click.echo(f"Added {record.name} ({record.id}, {info.label}{shown}).")


@providers.command("list")
@click.option("--org", "org_id", default=DEMO_ORG, show_default=True,
              callback=lambda c, p, v: _org(v))
def providers_list(org_id: str) -> None:
    """List providers with their last connection test."""
    from core.connections import ensure_demo_providers

    store = _provider_store()
    records = ensure_demo_providers(store) if org_id == DEMO_ORG else store.list(org_id)
    if not records:
        click.echo(f"No providers in organization {org_id}.")
    for r in records:
        status = {True: "ok", False: "FAILED", None: "untested"}[r.last_test_ok]
        sim = " (simulated)" if r.simulated and "simulated" not in r.name else ""
        click.echo(f"{r.id}\t{r.type.value}\t{r.name}{sim}\t{status}\t{r.last_test_message or ''}")


@providers.command("test")
@click.argument("ids", nargs=-1)
@click.option("--org", "org_id", default=DEMO_ORG, show_default=True,
              callback=lambda c, p, v: _org(v))
def providers_test(ids: tuple[str, ...], org_id: str) -> None:
    """Test the connection of the given providers (all when none given), in parallel.

    Exits non-zero when any test fails, for scripts and schedulers."""
    from core.connections import ensure_demo_providers, run_tests

    store = _provider_store()
    records = ensure_demo_providers(store) if org_id == DEMO_ORG else store.list(org_id)
    if ids:
        unknown = set(ids) - {r.id for r in records}
        if unknown:
            raise click.ClickException(f"No such provider in {org_id}: {', '.join(sorted(unknown))}")
        records = [r for r in records if r.id in ids]
    failed = 0
    for o in run_tests(store, records, actor="cli", throttle=False):
        if o.result and o.result.ok:
            click.echo(f"ok      {o.name}: {o.result.message}")
        else:
            failed += 1
            click.echo(f"FAILED  {o.name}: {o.result.message if o.result else o.throttled}")
    if failed:
        sys.exit(1)


@providers.command("pull")
@click.argument("provider_id")
@click.argument("model")
@click.option("--org", "org_id", default=DEMO_ORG, show_default=True,
              callback=lambda c, p, v: _org(v))
def providers_pull(provider_id: str, model: str, org_id: str) -> None:
    """Pull MODEL (e.g. llama3.2:3b) into the Ollama server of PROVIDER_ID, showing progress,
    then add it to the catalog."""
    from core.catalog.discovery import DiscoveryError, pull_and_discover
    from core.config_store import CatalogStore, ConfigStoreError
    from core.connections import PullError, ensure_demo_providers
    from core.providers.errors import ProviderError
    from core.providers.ollama import PullProgress

    store = _provider_store()
    if org_id == DEMO_ORG:
        ensure_demo_providers(store)
    shown: list[tuple[str, int]] = []

    def progress(step: PullProgress) -> None:
        # one line per status, and per tenth of the download: readable in a log
        mark = (step.status, int(step.fraction * 10) if step.total else -1)
        if not shown or shown[-1] != mark:
            shown.append(mark)
            pct = f" {step.fraction:4.0%}" if step.total else ""
            click.echo(f"{step.status}{pct}", err=True)

    try:
        _, run = pull_and_discover(store, CatalogStore(), org_id, provider_id, model,
                                   actor="cli", on_progress=progress)
    except (PullError, ProviderError, DiscoveryError, ConfigStoreError) as exc:
        message = exc.user_message() if isinstance(exc, ProviderError) else str(exc)
        raise click.ClickException(message) from None
    click.echo(f"Pulled {model} into {provider_id}. {run.summary()}")


@providers.command("remove")
@click.argument("provider_id")
@click.option("--org", "org_id", default=DEMO_ORG, show_default=True,
              callback=lambda c, p, v: _org(v))
@click.confirmation_option(prompt="Delete this provider and its stored key?")
def providers_remove(provider_id: str, org_id: str) -> None:
    """Delete a provider and its stored key."""
    from core.config_store import ConfigStoreError

    try:
        _provider_store().remove(org_id, provider_id, "cli")
    except ConfigStoreError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Removed {provider_id}.")


@main.command()
@click.option("--provider", "provider_ids", multiple=True, metavar="ID",
              help="Scan only this provider (repeatable); default: every enabled provider.")
@click.option("--org", "org_id", default=DEMO_ORG, show_default=True,
              callback=lambda c, p, v: _org(v))
@click.option("--timeout", "timeout_s", default=10.0, show_default=True,
              type=click.FloatRange(0.5, 300), help="Seconds to wait for one provider's list.")
@click.option("--strict", is_flag=True,
              help="Exit 2 when the run is partial (some providers failed), not 0.")
@click.option("--history", is_flag=True, help="Show past runs instead of running one.")
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1, 1000),
              help="Runs shown with --history.")
@click.option("--actor", default="cli", show_default=True, help="Who is recorded in the audit log.")
def discover(provider_ids: tuple[str, ...], org_id: str, timeout_s: float, strict: bool,
             history: bool, limit: int, actor: str) -> None:
    """Find new and retired models at every provider and update the catalog (for cron).

    \b
    Exit status: 0 when the run succeeded, and also when it was PARTIAL (some providers
    failed, the others were updated: a flaky provider should not page whoever reads cron
    mail every month; the output says "partial" and names the failures on stderr);
    1 when every provider failed or nothing could be scanned; 2 for a partial run
    with --strict.
    """
    from core.catalog.discovery import DiscoveryError, run_discovery
    from core.config_store import CatalogStore
    from core.connections import ensure_demo_providers

    catalog = CatalogStore()
    if history:
        runs = catalog.runs(org_id, limit=limit)
        if not runs:
            click.echo(f"No discovery runs yet in organization {org_id}.")
        for r in runs:
            when = r.started_at.astimezone().strftime("%Y-%m-%d %H:%M")
            click.echo(f"#{r.id}\t{when}\t{r.status}\t{r.providers_checked} providers\t"
                       f"{r.models_discovered} listed\t+{r.models_added} new\t"
                       f"-{r.models_deprecated} deprecated\t{r.duration_ms / 1000:.2f} s\t"
                       f"{r.actor}")
            for sign, refs in (("+", r.added), ("↺", r.reactivated), ("-", r.deprecated)):
                for ref in refs[:10]:
                    click.echo(f"    {sign} {ref.provider_id}  {ref.model_id}")
                if len(refs) > 10:
                    click.echo(f"    {sign} … and {len(refs) - 10} more")
            for pid, message in r.errors.items():
                click.echo(f"    ! {pid}: {message}")
        return
    store = _provider_store()
    if org_id == DEMO_ORG:
        ensure_demo_providers(store)
    try:
        run = run_discovery(store, catalog, org_id, provider_ids=provider_ids or None,
                            actor=actor, timeout_s=timeout_s,
                            on_progress=lambda done, total, name, ok: click.echo(
                                f"[{done}/{total}] {name}: {'ok' if ok else 'FAILED'}", err=True))
    except DiscoveryError as exc:
        raise click.ClickException(str(exc)) from None
    for p in run.providers:
        if p.ok:
            default = f" · default {p.default_model}" if p.default_model else ""
            back = f" · {p.reactivated} back" if p.reactivated else ""
            click.echo(f"ok      {p.name}: {p.listed} listed · {p.added} new · {p.updated} "
                       f"updated · {p.deprecated} deprecated{back}{default}")
        else:
            click.echo(f"FAILED  {p.name}: {p.error}")
            click.echo(f"error: {p.name}: {p.error}", err=True)
    names = {p.provider_id: p.name for p in run.providers}
    if run.added:
        click.echo("New models:")
        for ref in run.added:
            click.echo(f"  + {names.get(ref.provider_id, ref.provider_id)}: {ref.model_id}")
    if run.reactivated:
        click.echo("Listed again:")
        for ref in run.reactivated:
            click.echo(f"  ↺ {names.get(ref.provider_id, ref.provider_id)}: {ref.model_id}")
    if run.deprecated:
        click.echo("No longer listed (now inactive):")
        for ref in run.deprecated:
            click.echo(f"  - {names.get(ref.provider_id, ref.provider_id)}: {ref.model_id}")
    click.echo(f"Run #{run.id}: {run.summary()}")
    if run.status == "failed":
        sys.exit(1)
    if run.status == "partial":
        click.echo(f"Partial run: {len(run.errors)} of {run.providers_checked} providers failed; "
                   "the others were updated." + ("" if strict else " Exit status 0 (use "
                                                 "--strict to fail on partial runs)."), err=True)
        if strict:
            sys.exit(2)


@main.group()
def keys() -> None:
    """The master key that encrypts provider keys."""


@keys.command("rotate")
@click.option("--new-key-env", default=None, metavar="VAR",
              help="When the master key comes from SWITCHYARD_MASTER_KEY: read the new one "
                   "from this variable (nothing is written to disk).")
@click.option("--keep-old", is_flag=True, help="Keep the old key to read old backups.")
def keys_rotate(new_key_env: str | None, keep_old: bool) -> None:
    """Re-encrypt every provider key under a new master key, in one transaction."""
    import os

    from core.config_store.rotation import rotate
    from core.vault import VaultError, parse_master_key

    new_key = None
    if new_key_env:
        text = os.environ.get(new_key_env)
        if not text:
            raise click.ClickException(f"Environment variable {new_key_env} is empty or not set.")
        try:
            new_key = parse_master_key(text, where=new_key_env)
        except VaultError as exc:
            raise click.ClickException(str(exc)) from None
    try:
        result = rotate(_provider_store(), new_key, actor="cli", keep_old=keep_old)
    except VaultError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(result.message)


def _register_simulator() -> None:
    from core.simulator.launcher import simulator_command

    main.add_command(simulator_command)


_register_simulator()


@main.group()
def prices() -> None:
    """Model prices: genai-prices' bundled data, negotiated overrides, re-pricing."""


def _money(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"


@prices.command("list")
@click.option("--provider", "provider", default=None,
              help="Every model genai-prices knows for this provider (default: models in use).")
@click.option("--org", "org_id", default=DEMO_ORG, show_default=True,
              callback=lambda c, p, v: _org(v))
@click.option("--at", "at", default=None, type=click.DateTime(["%Y-%m-%d"]),
              help="Prices effective on this day (default: now).")
def prices_list(provider: str | None, org_id: str, at) -> None:
    """List prices (USD per million tokens) and the organization's overrides."""
    from core.pricing import genai_models, price_for
    from core.provider_names import canonical_provider
    from core.warehouse.prices import list_overrides
    from core.warehouse.queries import models_in_use

    wh = _warehouse()
    canonical = canonical_provider(provider) if provider else None
    overrides = list_overrides(wh, org_id, provider_name=canonical)
    listed = {}
    if canonical:
        listed = {(canonical, m.model_id): m.price for m in genai_models(canonical, at=at)}
        pairs = list(listed)
    else:
        pairs = models_in_use(wh, org_id)
    pairs += [(o.provider_name, o.model) for o in overrides]
    pairs = list(dict.fromkeys(pairs))
    if not pairs:
        click.echo(f"No models in use in organization {org_id}; try --provider openai.")
    else:
        click.echo(f"{'PROVIDER':<14} {'MODEL':<36} {'INPUT':>8} {'CACHED':>8} {'OUTPUT':>8} "
                   f"{'/IMAGE':>8}  SOURCE")
    for prov, model in pairs:
        p = price_for(prov, model, org_id=org_id, at=at, overrides=overrides)
        if not p.known and (prov, model) in listed:  # an entry whose own id matches no request
            p = listed[(prov, model)]
        since = f" since {p.effective_from}" if p.effective_from else ""
        tiers = " (+long-context tiers)" if p.tiered else ""
        click.echo(f"{prov:<14} {model:<36} {_money(p.input_per_mtok):>8} "
                   f"{_money(p.cached_input_per_mtok):>8} {_money(p.output_per_mtok):>8} "
                   f"{_money(p.per_image):>8}  {p.source}{since}{tiers}")
    if overrides:
        click.echo(f"\nOverrides (negotiated prices) of {org_id}:")
        for o in overrides:
            note = f" — {o.note}" if o.note else ""
            click.echo(f"  {o.override_id[:8]}  {o.describe()} (by {o.created_by}){note}")


@prices.command("set")
@click.argument("provider")
@click.argument("model")
@click.option("--input", "input_price", required=True, type=float, help="USD per million input tokens.")
@click.option("--output", "output_price", required=True, type=float,
              help="USD per million output tokens.")
@click.option("--cached-input", type=float, default=None,
              help="USD per million cached input tokens (default: the input price).")
@click.option("--per-image", type=float, default=None, help="USD per image (per successful call).")
@click.option("--from", "start", required=True, type=click.DateTime(["%Y-%m-%d"]),
              help="First day (UTC) the price applies.")
@click.option("--to", "end", default=None, type=click.DateTime(["%Y-%m-%d"]),
              help="Last day (UTC, inclusive); default: until further notice.")
@click.option("--note", default=None, help="e.g. the contract reference.")
@click.option("--org", "org_id", default=DEMO_ORG, show_default=True,
              callback=lambda c, p, v: _org(v))
@click.option("--supersede", is_flag=True,
              help="End an open-ended earlier price the day before this one starts.")
@click.option("--actor", default="cli", show_default=True, help="Who is recorded as its author.")
def prices_set(provider: str, model: str, input_price: float, output_price: float,
               cached_input: float | None, per_image: float | None, start, end,
               note: str | None, org_id: str, supersede: bool, actor: str) -> None:
    """Set a negotiated price for MODEL at PROVIDER from a date (stored costs are unchanged)."""
    from pydantic import ValidationError

    from core.pricing import (
        OverlappingOverride,
        PriceOverride,
        match_model,
        override_messages,
    )
    from core.warehouse.prices import add_override

    try:
        override = PriceOverride(
            org_id=org_id, provider_name=provider, model=model, input_per_mtok=input_price,
            output_per_mtok=output_price, cached_input_per_mtok=cached_input, per_image=per_image,
            effective_from=start.date(), effective_to=end.date() if end else None, note=note,
            created_by=actor,
        )
    except ValidationError as exc:
        raise click.ClickException("; ".join(override_messages(exc))) from None
    try:
        added = add_override(_warehouse(), override, supersede=supersede)
    except OverlappingOverride as exc:
        hint = ""
        if exc.existing.effective_to is None and exc.existing.effective_from < override.effective_from:
            hint = " (or pass --supersede to end it the day before)"
        raise click.ClickException(f"{exc}{hint}") from None
    click.echo(f"Saved {override.override_id[:8]}: {override.describe()}.")
    if added.ended is not None:
        click.echo(f"Ended {added.ended.override_id[:8]} on {added.ended.effective_to}.")
    if match_model(override.provider_name, override.model) is None:
        click.echo(f"Note: genai-prices does not know {override.provider_name} {override.model}; "
                   "events match it only by this exact model id.", err=True)
    click.echo(f"Costs already in the warehouse are unchanged; to apply: switchyard prices "
               f"reprice --org {org_id} --since {override.effective_from}")


@prices.command("remove")
@click.argument("override_id")
@click.option("--org", "org_id", default=DEMO_ORG, show_default=True,
              callback=lambda c, p, v: _org(v))
@click.confirmation_option(prompt="Delete this price override?")
def prices_remove(override_id: str, org_id: str) -> None:
    """Delete a price override by id (the first 8 characters shown by `prices list` do)."""
    from core.warehouse.prices import UnknownOverride, delete_override

    try:
        gone = delete_override(_warehouse(), org_id, override_id)
    except UnknownOverride as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Removed {gone.override_id[:8]}: {gone.describe()}.")


@prices.command("reprice")
@click.option("--org", "org_id", default=DEMO_ORG, show_default=True,
              callback=lambda c, p, v: _org(v))
@click.option("--since", default=None, type=click.DateTime(["%Y-%m-%d"]),
              help="First day (UTC) to re-price (default: the beginning).")
@click.option("--until", default=None, type=click.DateTime(["%Y-%m-%d"]),
              help="Last day (UTC, inclusive) to re-price (default: the end).")
@click.option("--only-missing", is_flag=True, help="Only events that have no cost yet.")
@click.option("--actor", default="cli", show_default=True, help="Who is recorded in the log.")
def prices_reprice(org_id: str, since, until, only_missing: bool, actor: str) -> None:
    """Recompute event costs with the price effective at each event's time (all or nothing)."""
    from core.warehouse.db import WarehouseBusy
    from core.warehouse.prices import reprice

    try:
        result = reprice(_warehouse(), org_id, since=since.date() if since else None,
                         until=until.date() if until else None, only_missing=only_missing,
                         actor=actor)
    except (ValueError, WarehouseBusy) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Cost before: ${result.cost_before:,.2f}")
    click.echo(f"Cost after:  ${result.cost_after:,.2f}")
    click.echo(result.summary())


@main.group()
def samples() -> None:
    """Your organization's own sample sets (photos, labels, prompt sets) for comparisons.

    A spec names a set by id under samples: (the Compare page offers the same sets)."""


_PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")
_PROMPT_SUFFIXES = (".csv", ".yaml", ".yml")


def _upload_files(paths: tuple[Path, ...], labels: Path | None, prompts: tuple[Path, ...]
                  ) -> tuple[list[Path], Path | None, list[Path]]:
    """Photos, labels and prompt files from the arguments: .csv/.yaml files are prompt sets
    (labels.yaml is the labels); a folder gives its photos (in any subfolder) and, unless
    --labels/--prompts say otherwise, its labels.yaml and prompts.yaml/.csv (the
    data/samples layout)."""
    photos: list[Path] = []
    prompt_files = list(prompts)
    for path in paths:
        if path.is_dir():
            photos += sorted(p for p in path.rglob("*") if p.is_file()
                             and p.suffix.lower() in _PHOTO_SUFFIXES
                             and not any(part.startswith(".") for part in
                                         p.relative_to(path).parts))
            if labels is None and (path / "labels.yaml").is_file():
                labels = path / "labels.yaml"
            if not prompts:
                prompt_files += [path / n for n in ("prompts.yaml", "prompts.yml", "prompts.csv")
                                 if (path / n).is_file()]
        elif path.name.lower() in ("labels.yaml", "labels.yml") and labels is None:
            labels = path
        elif path.suffix.lower() in _PROMPT_SUFFIXES:
            prompt_files.append(path)
        else:
            photos.append(path)
    return photos, labels, prompt_files


@samples.command("add")
@click.argument("name")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--labels", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Labels YAML (labels.yaml schema, keyed by photo file name).")
@click.option("--prompts", "prompts", multiple=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A prompt set, CSV or YAML (repeatable).")
@click.option("--feature", default=None,
              help="Feature of prompts that name none, e.g. description_generation.")
@click.option("--org", "org_id", default=DEMO_ORG, show_default=True,
              callback=lambda c, p, v: _org(v))
@click.option("--actor", default="cli", show_default=True, help="Who is recorded as its author.")
def samples_add(name: str, paths: tuple[Path, ...], labels: Path | None,
                prompts: tuple[Path, ...], feature: str | None, org_id: str, actor: str) -> None:
    """Save photos (files or folders) and prompt sets (.csv/.yaml) as a sample set NAME.

    Bad photos or rows are skipped and listed; the rest are saved."""
    from core.compare.sample_store import SampleStore, SampleStoreError

    photos, labels, prompt_files = _upload_files(paths, labels, prompts)
    try:
        saved = SampleStore().save(
            org_id, name, photos=[(p.name, p.read_bytes()) for p in photos],
            labels=labels.read_bytes() if labels else None,
            prompt_files=[(p.name, p.read_bytes()) for p in prompt_files], actor=actor,
            default_feature=feature)
    except SampleStoreError as exc:
        for problem in exc.problems:
            click.echo(f"skipped: {problem}", err=True)
        raise click.ClickException(str(exc)) from None
    for problem in saved.problems:
        kind = "skipped" if problem.level == "error" else "note"
        click.echo(f"{kind}: {problem}", err=True)
    if saved.labels_note:
        click.echo(f"warning: {saved.labels_note}", err=True)
    i = saved.info
    click.echo(f"Saved {i.name} as {i.id}: {i.photos} photos ({i.labelled_photos} labelled), "
               f"{i.prompts} prompts. Use it in a spec with  samples: [{i.id}]")


@samples.command("list")
@click.option("--org", "org_id", default=DEMO_ORG, show_default=True,
              callback=lambda c, p, v: _org(v))
def samples_list(org_id: str) -> None:
    """List the organization's sample sets, newest first."""
    from core.compare.sample_store import SampleStore

    sets = SampleStore().list(org_id)
    if not sets:
        click.echo(f"No sample sets in organization {org_id}; add one with "
                   "switchyard samples add NAME PHOTOS... --prompts FILE")
    for i in sets:
        features = ", ".join(i.features) or "—"
        click.echo(f"{i.id}\t{i.name}\t{i.photos} photos ({i.labelled_photos} labelled)\t"
                   f"{i.prompts} prompts ({features})\t{i.created_at:%Y-%m-%d %H:%M} UTC\t"
                   f"{i.created_by}")


@samples.command("remove")
@click.argument("set_id")
@click.option("--org", "org_id", default=DEMO_ORG, show_default=True,
              callback=lambda c, p, v: _org(v))
@click.confirmation_option(prompt="Delete this sample set? Past runs that used it can no "
                                  "longer be reopened with its photos and prompts.")
def samples_remove(set_id: str, org_id: str) -> None:
    """Delete a sample set by id."""
    from core.compare.sample_store import SampleStore, SampleStoreError

    try:
        gone = SampleStore().delete(org_id, set_id)
    except SampleStoreError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Removed {gone.name} ({gone.id}).")


@main.command("compare")
@click.argument("spec_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the results summary as JSON here.")
@click.option("--org", "org_id", default=DEMO_ORG, show_default=True,
              callback=lambda c, p, v: _org(v))
def compare_command(spec_path: Path, out: Path | None, org_id: str) -> None:
    """Run a comparison spec headless (for CI): progress on stderr, a summary on stdout.

    Exits 1 when a threshold of the spec fails, 2 when the spec is invalid or the run did
    not finish."""
    from core.compare import jobs
    from core.compare.analysis import analyse
    from core.compare.sample_store import resolve_samples
    from core.compare.service import start_comparison
    from core.compare.spec import SpecError, load_spec
    from core.connections import ensure_demo_providers
    from core.warehouse import comparison_runs as wc

    try:
        spec = load_spec(spec_path)
        samples, problems = resolve_samples(spec, org_id, allow_folders=True)
    except SpecError as exc:
        for line in exc.errors:
            click.echo(f"{spec_path}: {line}", err=True)
        sys.exit(2)
    for problem in problems:
        kind = "skipped" if problem.level == "error" else "note"
        click.echo(f"{kind}: {problem}", err=True)
    store = _provider_store()
    if org_id == DEMO_ORG:
        ensure_demo_providers(store)
    wh = _warehouse()
    try:
        run_id = start_comparison(spec, org_id=org_id, actor="cli", warehouse=wh,
                                  providers=store, allow_folders=True)
    except SpecError as exc:
        for line in exc.errors:
            click.echo(f"{spec_path}: {line}", err=True)
        sys.exit(2)
    click.echo(f"Run {run_id}: {spec.name}", err=True)
    while True:
        status = jobs.wait(run_id, timeout=2.0)
        eta = f", about {status.eta_s:.0f} s left" if status.eta_s else ""
        click.echo(f"  {status.done}/{status.total} calls{eta}", err=True)
        if status.state not in ("queued", "running", "cancelling"):
            break
    if status.state != "done":
        click.echo(f"The run ended {status.state}: {status.error or ''}", err=True)
        sys.exit(2)
    result = analyse(wc.load_results(wh, org_id, run_id), spec,
                     features=samples.item_features())
    for m in result.models:
        acc = "—" if m.accuracy is None else f"{m.accuracy:.2f}"
        click.echo(f"{m.label}: accuracy {acc}, success {m.success_rate or 0:.1%}, "
                   f"p95 {m.p95_ms or 0:,.0f} ms, cost ${m.total_cost:.4f}")
    if result.judge is not None:
        j = result.judge
        click.echo(f"Judge {j.provider}/{j.model}: {j.scored}/{j.calls} answers scored, "
                   f"{j.failed} failed calls, cost ${j.total_cost:.4f} (not in the models' "
                   "costs)")
    click.echo(f"Best overall: {result.best_overall} · most cost-effective: {result.cheapest}"
               f" · fastest: {result.fastest} · most accurate: {result.most_accurate}")
    click.echo(result.winner_message)
    for rec in result.recommendations:
        click.echo(f"Recommended: {rec.model} ({rec.kind}, confidence {rec.confidence:.0%}). "
                   f"{rec.reason}")
        for t in rec.tradeoffs:
            click.echo(f"    trade-off: {t}")
    if out is not None:
        out.write_text(result.to_json())
    for failure in result.threshold_failures:
        click.echo(f"THRESHOLD FAILED  {failure}", err=True)
    sys.exit(1 if result.threshold_failures else 0)


if __name__ == "__main__":  # pragma: no cover
    main()
