"""The `callplan` command: parses arguments, calls the library, prints. Nothing else.

Every failure the agent understands (CallplanError) is printed as one line on stderr with
exit status 1; a cycle in which some account failed also exits 1, after the others ran.
Each command imports what it needs when it runs, so `callplan --help` does not load the engine.
"""

from __future__ import annotations

import logging
import sys
from contextlib import nullcontext
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console

from agent.core.errors import CallplanError

if TYPE_CHECKING:
    from agent.cluster.status import ClusterView
    from agent.config.settings import Account
    from agent.sync.session import Session
    from connectors.base import CalendarInfo

console = Console()
err_console = Console(stderr=True)


class Main(click.Group):
    """A group that turns CallplanError into one line and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CallplanError as exc:
            err_console.print(f"callplan: {exc}", markup=False, highlight=False, soft_wrap=True)
            sys.exit(1)


@click.group(cls=Main)
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    envvar="CALLPLAN_CONFIG",
    help="Configuration file (default: ~/.config/callplan/config.toml).",
)
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.pass_context
def main(ctx: click.Context, config_path: Path | None, verbose: int) -> None:
    """callplan: prep, agenda and debrief for every customer meeting in your calendar."""
    logging.basicConfig(
        level=[logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)],
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    ctx.obj = config_path


def _session(ctx: click.Context):  # type: ignore[no-untyped-def]
    from agent.sync.session import Session

    return Session.from_file(ctx.obj)


@main.command()
@click.option(
    "--once",
    is_flag=True,
    help="Run one cycle and exit (required; the service that keeps running is `callplan run`).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Plan and show the changes, and each agenda as it would go out; write nothing anywhere.",
)
@click.option(
    "--all",
    "every",
    is_flag=True,
    help="Also list every meeting in the window with what callplan does with it, and why.",
)
@click.option("--account", "accounts", multiple=True, help="Only this account (repeatable).")
@click.pass_context
def sync(
    ctx: click.Context, once: bool, dry_run: bool, every: bool, accounts: tuple[str, ...]
) -> None:
    """One cycle over all configured accounts."""
    from agent.cli import present

    if not once:
        raise click.UsageError(
            "sync runs one cycle and needs --once; the service that runs a cycle every interval is "
            "`callplan run`"
        )
    with _session(ctx) as session, nullcontext() if dry_run else session.store.lock():
        reports = session.cycle(accounts, dry_run=dry_run)
        by_name = {account.name: account for account in session.config.accounts}
        if every:
            console.print(present.verdicts_table(reports, by_name))
        requests = sum(report.requests for report in reports)
        changes = sum(
            len(c.planned if dry_run else c.applied) for report in reports for c in report.calendars
        )
        if changes:
            console.print(present.changes_table(reports, by_name, planned=dry_run))
            for panel in present.agendas_to_send(reports) if dry_run else []:
                console.print(panel)
            console.print(
                f"{changes} changes {'planned' if dry_run else 'applied'}, {requests} API requests"
            )
        elif not present.errors(reports):
            console.print(present.nothing_to_do(reports, dry_run), highlight=False)
        for report in reports:
            if report.planning:
                console.print(
                    f"{report.account}: {report.planning}",
                    markup=False,
                    highlight=False,
                    soft_wrap=True,
                )
    problems = present.errors(reports)
    for line in problems:
        err_console.print(f"callplan: {line}", markup=False, highlight=False, soft_wrap=True)
    if any(report.error or any(c.error for c in report.calendars) for report in reports):
        sys.exit(1)


def _cluster(session: Session) -> ClusterView | None:
    """The cluster whose database the configuration names (None: not a cluster's)."""
    from agent.state.postgres import PostgresStore

    if not isinstance(session.store, PostgresStore):
        return None
    from agent.cluster import status as cluster_status

    return cluster_status.view(session.store)


def _served(session: Session, cluster: ClusterView | None, names: tuple[str, ...]) -> list[Account]:
    """The accounts a command is about: a cluster's (from its database) or the configuration's,
    all or those named."""
    if cluster is None:
        return session.accounts(names)
    unknown = set(names) - {account.name for account in cluster.accounts}
    if unknown:
        raise CallplanError(
            f"no account named {', '.join(sorted(unknown))} in the cluster",
            where=session.store.where,
        )
    return [account for account in cluster.accounts if not names or account.name in names]


@main.command()
@click.pass_context
def status(ctx: click.Context) -> None:
    """Per account: last and next cycle, artifacts owned, backlog, planned or skipped, last
    error; for a cluster, also the workers alive and the queue."""
    from agent.cli import present

    with _session(ctx) as session:
        cluster = _cluster(session)
        accounts = _served(session, cluster, ())
        statuses = {account.name: session.store.run_status(account.name) for account in accounts}
        holder = session.store.locked_by()
        scheduled = bool(holder or (cluster and cluster.alive))
        console.print(
            present.status_table(accounts, statuses, session.store.artifacts(), scheduled)
        )
        if cluster is not None:
            console.print(cluster.line(), highlight=False)
        console.print(
            f"callplan run: running ({holder})" if holder else "callplan run: not running",
            highlight=False,
        )
        for account in accounts:
            _waiting(session, account)


def _waiting(session: Session, account: Account) -> None:
    """The account's meetings inside the lead time whose agenda waits for the seller's plan, as
    the planner decides from what the last cycle read (no request to the provider)."""
    from agent.cli import present

    try:
        review = session.sync_for(account).review()
    except CallplanError as exc:
        err_console.print(f"callplan: {account.name}: {exc}", markup=False, highlight=False)
        return
    now = session.clock()
    verdicts = [verdict for calendar in review.values() for verdict in calendar.values()]
    waiting = present.waiting_for_a_plan(account, verdicts, now)
    if not waiting:
        console.print(f"{account.name}: no agenda waits for a plan.", highlight=False)
        return
    console.print(
        f"{account.name}: {len(waiting)} agenda(s) wait for your plan (write its purpose in the "
        "meeting's prep):",
        highlight=False,
    )
    for starts, title, why in waiting:
        console.print(f"  {starts}  {title}: {why}", highlight=False, markup=False)


@main.command()
@click.option("--account", "accounts", multiple=True, help="Only this account (repeatable).")
@click.option("--dry-run", is_flag=True, help="Show what would be removed; change nothing.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def undo(ctx: click.Context, accounts: tuple[str, ...], dry_run: bool, yes: bool) -> None:
    """Remove every block callplan created and strip every agenda it inserted."""
    from agent.cli import present
    from agent.sync.undo import undo as undo_account

    if not (dry_run or yes):
        click.confirm(
            "Remove every callplan block and agenda from the configured calendars?", abort=True
        )
    with _session(ctx) as session, nullcontext() if dry_run else session.store.lock():
        failed = False
        for account in session.accounts(accounts):
            try:
                report = undo_account(session.sync_for(account), dry_run=dry_run)
            except CallplanError as exc:  # this account's sign-in or server; the others go on
                err_console.print(f"callplan: {account.name}: {exc}", markup=False, highlight=False)
                failed = True
                continue
            present.undo_summary(console, report, dry_run)
            failed = failed or bool(report.errors)
    if failed:
        sys.exit(1)


@main.command()
@click.pass_context
def run(ctx: click.Context) -> None:
    """Run as a service: a cycle per account every interval until SIGTERM; SIGHUP reloads the
    configuration."""
    from agent.service.daemon import run_service

    run_service(ctx.obj, verbose=ctx.find_root().params["verbose"])


@main.command()
@click.option(
    "--name", help="This worker's name in logs and in the database (default: the host name)."
)
@click.pass_context
def worker(ctx: click.Context, name: str | None) -> None:
    """Serve a cluster's accounts with the other workers on its PostgreSQL database, until
    SIGTERM (see callplan accounts apply)."""
    from agent.cluster.worker import run_worker

    run_worker(ctx.obj, name, verbose=ctx.find_root().params["verbose"])


@main.command("install-service")
@click.option(
    "--user", "scope", flag_value="user", help="A user unit, for you alone (systemctl --user)."
)
@click.option(
    "--system",
    "scope",
    flag_value="system",
    help="A system unit, for an organisation (needs root).",
)
@click.option(
    "--worker",
    is_flag=True,
    help="The template unit of a cluster's workers, callplan-worker@NAME (a system unit; its "
    "configuration defaults to /etc/callplan/worker.toml).",
)
@click.option(
    "--unit-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Write the unit here instead of the systemd directory (for packaging).",
)
@click.option(
    "--dry-run", is_flag=True, help="Print the unit and where it would go; write nothing."
)
@click.pass_context
def install_service(
    ctx: click.Context, scope: str | None, worker: bool, unit_dir: Path | None, dry_run: bool
) -> None:
    """Install the systemd unit that runs `callplan run` (or a cluster's `callplan worker`), and
    print the commands that enable it."""
    from agent.service import units

    if worker and scope == "user":
        raise click.UsageError("a cluster's worker is a system unit: use --worker alone")
    if worker:
        scope = "system"
    if scope is None:
        raise click.UsageError(
            "choose --user (one seller), --system (an organisation) or --worker (a cluster)"
        )
    installation = units.plan(scope, unit_dir, ctx.obj, worker)  # type: ignore[arg-type]
    for warning in installation.warnings:
        err_console.print(
            f"callplan: warning: {warning}", markup=False, highlight=False, soft_wrap=True
        )
    if dry_run:
        click.echo(f"# {installation.path} (dry run: nothing written)\n{installation.text}")
    else:
        units.install(installation)
        click.echo(f"wrote {installation.path}")
    click.echo("\nThen run" + (" as root" if scope == "system" else "") + ":")
    for command in installation.commands:
        click.echo(f"  {command}")


@main.command()
@click.option(
    "--days",
    type=click.IntRange(1, 3660),
    default=90,
    show_default=True,
    help="How many days back to review.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json", "html"]),
    default="table",
    show_default=True,
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file instead of the terminal (html: default callplan-report.html).",
)
@click.option(
    "--until",
    type=click.DateTime(["%Y-%m-%d"]),
    help="Review the days up to the end of this date (default: now).",
)
@click.option(
    "--account", "accounts", multiple=True, help="Only this seller's account (repeatable)."
)
@click.pass_context
def report(
    ctx: click.Context,
    days: int,
    fmt: str,
    output: Path | None,
    until: datetime | None,
    accounts: tuple[str, ...],
) -> None:
    """The review of customer meetings per seller and per customer: debriefed, next steps, next
    meeting booked."""
    from agent.cli import report_view
    from agent.review.report import from_store, period_end

    with _session(ctx) as session:
        chosen = _served(session, _cluster(session), accounts)
        end = period_end(chosen, until.date() if until else None, session.clock())
        review = from_store(session.store, chosen, end, days)
    if fmt == "table" and output is None:
        for table in report_view.tables(review):
            console.print(table)
        return
    text = {
        "table": report_view.to_text,
        "csv": report_view.to_csv,
        "json": report_view.to_json,
        "html": report_view.to_html,
    }[fmt](review)
    if output is None and fmt == "html":
        output = Path("callplan-report.html")
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise CallplanError(f"cannot write the report: {exc.strerror}", where=str(output)) from None
    console.print(f"Report written to {output}", markup=False, highlight=False)


@main.group()
def config() -> None:
    """Inspect the configuration."""


@config.command("check")
@click.option("--connect", is_flag=True, help="Also log in to each account and list its calendars.")
@click.pass_context
def config_check(ctx: click.Context, connect: bool) -> None:
    """Validate the configuration file, templates and credentials files."""
    from connectors import open_connector

    with _session(ctx) as session:
        console.print(
            f"{session.config.path}: ok, {len(session.config.accounts)} accounts, state in "
            f"{session.store.where}"
        )
        failed = []
        for account in session.config.accounts:
            connector = open_connector(account)
            try:
                line = f"  {account.name} ({account.provider}, {account.email}): options ok"
                if connect:
                    try:
                        line += _calendar_lines(account, connector.calendars())
                    except CallplanError as exc:
                        failed.append(account.name)
                        line += f"; cannot connect: {exc}"
                console.print(line, markup=False, highlight=False)
            finally:
                connector.close()
        if failed:
            raise CallplanError(f"cannot connect to {', '.join(failed)}", where=session.config.path)


def _calendar_lines(account: Account, calendars: list[CalendarInfo]) -> str:
    """The calendars an account can see, each with the id its `calendars` and `busy_calendars`
    keys take (a name is not unique and may change), and the ones callplan works on marked."""
    enriched = set(account.calendars) or {info.id for info in calendars if info.primary}
    lines = [f"; {len(calendars)} calendar(s):"]
    for info in calendars:
        marks = (
            ("primary", info.primary),
            ("enriched", info.id in enriched),
            ("busy time read", info.id in account.busy_calendars),
        )
        notes = [note for note, on in marks if on]
        lines.append(f"    {info.name}  {info.id}" + (f"  ({', '.join(notes)})" if notes else ""))
    return "\n".join(lines)


@main.group()
def db() -> None:
    """The state database."""


@db.command("migrate")
@click.pass_context
def db_migrate(ctx: click.Context) -> None:
    """Bring the state database's schema up to this callplan's (safe to run again, and on many
    machines at once); in PostgreSQL, the task queue of a cluster's workers too."""
    from agent.config import settings as config_module
    from agent.config.settings import PostgresState
    from agent.state.backend import migrate

    config = config_module.load(ctx.obj or config_module.default_config_path())
    where, before, after = migrate(config.state)
    console.print(_schema_line(where, before, after), markup=False, highlight=False, soft_wrap=True)
    if isinstance(config.state, PostgresState):  # a database many machines share: a cluster's
        from agent.cluster import queue_schema

        line = queue_schema.migrate(config.state)
        console.print(line, markup=False, highlight=False, soft_wrap=True)


def _schema_line(where: str, before: int, after: int) -> str:
    if before == after:
        return f"{where}: schema at version {after}, nothing to do"
    return f"{where}: schema upgraded from version {before} to {after}"


@main.command("migrate-state")
@click.option(
    "--from",
    "source",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="The SQLite state database of a one-machine install.",
)
@click.option(
    "--to",
    "target",
    required=True,
    metavar="postgresql://USER@HOST:PORT/DBNAME",
    help="The PostgreSQL database.",
)
@click.option(
    "--password-file",
    help="A file (mode 0600) with the database password; else ~/.pgpass or PGPASSWORD.",
)
def migrate_state(source: Path, target: str, password_file: str | None) -> None:
    """Copy a SQLite state into PostgreSQL (safe to run again: nothing is doubled or made older)."""
    from agent.config.settings import is_postgres, postgres_state
    from agent.state.copy import move

    if not is_postgres(target):
        raise click.UsageError("--to takes a postgresql:// URL")
    state = postgres_state(target, password_file, "--to")
    (before, after), copied = move(source, state)
    if before != after:
        console.print(
            _schema_line(state.where, before, after), markup=False, highlight=False, soft_wrap=True
        )
    console.print(
        f"{source} -> {state.where}: {copied.summary()}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


@main.group()
def accounts() -> None:
    """The accounts of a cluster (`callplan worker`), kept in its PostgreSQL database."""


@accounts.command("apply")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
def accounts_apply(file: Path, dry_run: bool) -> None:
    """Make the cluster serve the accounts of FILE (a configuration whose state is the cluster's
    PostgreSQL database): adds, changes and removes accounts, the [service] pace, [cluster] and
    the templates; safe to run again."""
    from agent.cluster.accounts import apply_file

    for line in apply_file(file, dry_run=dry_run).lines():
        console.print(line, markup=False, highlight=False, soft_wrap=True)


@main.group()
def auth() -> None:
    """Sign an account in to its provider (tokens go to a mode-0600 cache file)."""


@auth.command("outlook")
@click.argument("account")
@click.pass_context
def auth_outlook(ctx: click.Context, account: str) -> None:
    """Microsoft 365: device-code sign-in (delegated) or an app-only token check."""
    from connectors.outlook_auth import sign_in

    with _session(ctx) as session:
        chosen = session.accounts([account])[0]
        who = sign_in(
            chosen, lambda line: console.print(line, markup=False, highlight=False, soft_wrap=True)
        )
    console.print(who, markup=False, highlight=False)


@auth.command("google")
@click.argument("account")
@click.option(
    "--port",
    default=0,
    show_default="any free port",
    help="Loopback port for Google's redirect (fix it to forward it over ssh).",
)
@click.option(
    "--no-browser",
    is_flag=True,
    help="Only print the address to open (on a machine without a browser).",
)
@click.pass_context
def auth_google(ctx: click.Context, account: str, port: int, no_browser: bool) -> None:
    """Google: the consent flow in your browser (OAuth installed app); saves the token (mode
    0600)."""
    from connectors.google_auth import authorize

    with _session(ctx) as session:
        chosen = session.accounts([account])[0]
    if no_browser and port:
        click.echo(
            f"From another computer: ssh -L {port}:127.0.0.1:{port} <this host>, then open the "
            "address below there."
        )
    authorize(chosen, port=port, open_browser=not no_browser, say=click.echo)


@main.command()
def demo() -> None:
    """Run the whole product on a throwaway local CalDAV server: no account needed."""
    from agent.cli.demo import run_demo

    run_demo(console)


if __name__ == "__main__":
    main()
