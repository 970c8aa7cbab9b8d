"""Terminal output: tables of what the agent planned, did, and knows. Presentation only."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, tzinfo

from rich.console import Console
from rich.table import Table

from agent.config.settings import Account, Settings
from agent.core.model import Kind
from agent.plan.changes import Change, CreateBlock, DeleteBlock, UpdateBlock, WriteAgenda, verb
from agent.plan.classify import Classifier
from agent.state.store import Artifact, RunStatus
from agent.sync.engine import AccountReport
from agent.sync.undo import UndoReport


def _when(value: datetime | None, zone: tzinfo) -> str:
    return value.astimezone(zone).strftime("%a %d %b %H:%M") if value else ""


def _slot(change: Change, zone: tzinfo) -> str:
    match change:
        case CreateBlock(block=block) | UpdateBlock(block=block):
            return f"{block.start.astimezone(zone):%a %H:%M}–{block.end.astimezone(zone):%H:%M}"
        case DeleteBlock(current=current):
            return f"{current.start.astimezone(zone):%a %H:%M}"
    return ""


def changes_table(
    reports: Iterable[AccountReport], accounts: dict[str, Account], planned: bool
) -> Table:
    """Every change of a cycle, one row each: what, for which meeting, when, and why."""
    table = Table(
        title="Planned changes (dry run: nothing was written)" if planned else "Changes applied"
    )
    for column in (
        "Account",
        "Meeting",
        "Starts",
        "Artifact",
        "Action",
        "Slot",
        "Why" if planned else "Outcome",
    ):
        table.add_column(column, overflow="fold")
    for report in reports:
        zone = accounts[report.account].settings.timezone
        for calendar in report.calendars:
            meetings = {meeting.key: meeting for meeting in calendar.meetings}
            rows = (
                [(change, change.reason) for change in calendar.planned]
                if planned
                else calendar.applied
            )
            for change, note in rows:
                meeting = meetings.get(change.meeting_key)
                table.add_row(
                    report.account,
                    meeting.title if meeting else change.meeting_key,
                    _when(meeting.start, zone) if meeting else "",
                    str(change.kind),
                    verb(change),
                    _slot(change, zone),
                    note if planned else f"{note} ({change.reason})",
                )
    return table


def errors(reports: Iterable[AccountReport]) -> list[str]:
    lines = []
    for report in reports:
        if report.error:
            lines.append(f"{report.account}: {report.error}")
        for calendar in report.calendars:
            if calendar.error:
                lines.append(f"{report.account}: {calendar.error}")
            lines.extend(
                f"{report.account}: skipped an event: {reason}" for reason in calendar.skipped
            )
    return lines


def meeting_summary(report: AccountReport, settings: Settings) -> Table:
    """Per meeting: is it a customer meeting, and what each artifact became."""
    zone = settings.timezone
    table = Table(title=f"What callplan did, meeting by meeting ({report.account})")
    for column in ("When", "Meeting", "Verdict", "Prep", "Debrief", "Agenda"):
        table.add_column(column, overflow="fold")
    rules = Classifier(settings)
    for calendar in report.calendars:
        done: dict[str, dict[Kind, str]] = defaultdict(dict)
        for change, outcome in calendar.applied:
            done[change.meeting_key][change.kind] = _describe(change, outcome, zone)
        for meeting in sorted(calendar.meetings, key=lambda m: (m.start, m.key)):
            verdict = rules.classify(meeting)
            cells = done.get(meeting.key, {})
            agenda = cells.get(Kind.AGENDA, "")
            if verdict.customer and not meeting.self_is_organizer and settings.agenda.enabled:
                agenda = "draft in prep (they organise)"
            table.add_row(
                _when(meeting.start, zone),
                meeting.title,
                verdict.reason,
                cells.get(Kind.PREP, "—"),
                cells.get(Kind.DEBRIEF, "—"),
                agenda or "—",
            )
    return table


def _describe(change: Change, outcome: str, zone: tzinfo) -> str:
    if outcome != "done":
        return outcome
    match change:
        case CreateBlock():
            return _slot(change, zone)
        case UpdateBlock():
            return f"moved to {_slot(change, zone)}"
        case WriteAgenda(tag=None):
            return "removed"
        case WriteAgenda():
            return "inserted (attendees notified)" if change.notify else "inserted"
    return verb(change)


def status_table(
    accounts: Iterable[Account],
    statuses: dict[str, RunStatus],
    artifacts: list[Artifact],
    service: str | None,
) -> Table:
    """Per account: the last cycle, the next (only while the service runs), what it owns, its
    backlog (changes planned but not yet made: conflicts, throttling, a stop), whether the last
    cycle planned or skipped (and why) and the last error."""
    table = Table(title="callplan status")
    for column in (
        "Account",
        "Last cycle",
        "Next cycle",
        "Prep",
        "Debrief",
        "Agenda",
        "Backlog",
        "Planning",
        "Last error",
    ):
        table.add_column(column, overflow="fold")
    counts: dict[str, dict[Kind, int]] = defaultdict(lambda: defaultdict(int))
    for artifact in artifacts:
        counts[artifact.account][artifact.kind] += 1
    for account in accounts:
        zone = account.settings.timezone
        status = statuses[account.name]
        own = counts[account.name]
        table.add_row(
            account.name,
            _when(status.last_end, zone) or "never",
            (_when(status.next_at, zone) if service else "") or "—",
            str(own[Kind.PREP]),
            str(own[Kind.DEBRIEF]),
            str(own[Kind.AGENDA]),
            str(status.backlog),
            status.planning or "—",
            (
                f"{status.last_error} ({status.failures} in a row)"
                if status.failures > 1
                else status.last_error
            )
            or "—",
        )
    return table


def undo_summary(console: Console, report: UndoReport, dry_run: bool) -> None:
    head = "would remove" if dry_run else "removed"
    console.print(
        f"[bold]{report.account}[/]: {head} {len(report.removed)} blocks, "
        f"{'would strip' if dry_run else 'stripped'} {len(report.restored)} agendas, kept "
        f"{len(report.kept)}"
    )
    for line in report.kept:
        console.print(f"  kept: {line}")
    for line in report.errors:
        console.print(f"  [red]error[/]: {line}")
