"""`callplan undo`: take back everything the agent put on the calendars.

Blocks are deleted and agendas stripped, giving meetings back their descriptions as people
left them. What the agent owns is found both in the store and on the calendar by its tags,
so blocks orphaned by a crash go too. Anything a person wrote in (a filled-in debrief, an
edited agenda) stays, and is listed, because losing a person's words is worse than leaving
a block behind.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agent.core.errors import AuthError, ConflictError, ConnectorError, GoneError
from agent.core.fingerprint import block_edited
from agent.core.model import Event, Kind
from agent.state.store import CalendarKey
from agent.sync.engine import AccountSync
from agent.text import splice


@dataclass
class UndoReport:
    account: str
    removed: list[str] = field(default_factory=list)  # blocks deleted
    restored: list[str] = field(default_factory=list)  # agendas stripped
    kept: list[str] = field(default_factory=list)  # a person wrote in them: left in place
    errors: list[str] = field(default_factory=list)


def _label(event: Event) -> str:
    return f"{event.title} ({event.start:%a %d %b %H:%M})"


def owned_events(sync: AccountSync, calendar: str) -> list[Event]:
    """Everything of ours in a calendar: found by tag, plus what the store remembers."""
    found = {(event.ref, event.key): event for event in sync.connector.find_owned(calendar)}
    refs = {ref for ref, _ in found}
    for artifact in sync.store.artifacts(CalendarKey(sync.account.name, calendar)):
        if artifact.ref in refs:
            continue
        key = artifact.meeting_key if artifact.kind is Kind.AGENDA else None
        event = sync.connector.get(calendar, artifact.ref, key)
        if event is not None and (event.block_tag or event.agenda_tag):
            found[(event.ref, event.key)] = event
    return sorted(found.values(), key=lambda event: (event.start, event.key))


def undo(sync: AccountSync, dry_run: bool = False) -> UndoReport:
    """Undo one account, calendar by calendar: a calendar that cannot be read (deleted on the
    server, say) is named in the report and the others are still cleaned; only a failed
    sign-in stops the account, since every later request would fail the same way."""
    report = UndoReport(sync.account.name)
    for calendar in sync.calendars():
        try:
            owned = owned_events(sync, calendar)
        except AuthError:
            raise
        except ConnectorError as exc:
            report.errors.append(f"calendar {calendar}: {exc}")
            continue
        for event in owned:
            try:
                _undo_one(sync, calendar, event, report, dry_run)
            except (ConflictError, GoneError) as exc:
                report.errors.append(f"{_label(event)}: {exc}; run undo again")
    return report


def _undo_one(
    sync: AccountSync, calendar: str, event: Event, report: UndoReport, dry_run: bool
) -> None:
    tag = event.block_tag
    if tag is not None:
        if block_edited(event) or _typed_in_preview(sync, calendar, event):
            report.kept.append(f"{_label(event)}: you wrote in it")
            return
        report.removed.append(_label(event))
        if not dry_run:
            sync.connector.delete(calendar, event)
            _record(sync, calendar, "undo delete", tag.kind, tag.meeting_key, event, None)
        return
    if event.agenda_tag is None:
        return
    splicer = splice.for_meeting(event)
    found = splicer.find(event.description, event.agenda_tag)
    if found.state is not splice.AgendaState.OURS:
        report.kept.append(f"agenda of {_label(event)}: a person edited or removed it")
        return
    report.restored.append(f"agenda of {_label(event)}")
    if not dry_run:
        text = splicer.strip(event.description, found)
        written = sync.connector.set_description(calendar, event, text, None, notify=False)
        _record(sync, calendar, "undo agenda", Kind.AGENDA, event.key, event, written)


def _typed_in_preview(sync: AccountSync, calendar: str, block: Event) -> bool:
    """Did a person type in the preview callplan keeps at the end of a prep?"""
    tag = block.block_tag
    if tag is None or tag.kind is not Kind.PREP:
        return False
    known = sync.store.previews(CalendarKey(sync.account.name, calendar)).get(tag.meeting_key, ())
    state = splice.preview_of(block, known).state
    return state in (splice.AgendaState.EDITED, splice.AgendaState.FOREIGN)


def _record(
    sync: AccountSync,
    calendar: str,
    action: str,
    kind: Kind,
    key: str,
    before: Event,
    after: Event | None,
) -> None:
    sync.store.record(
        key=CalendarKey(sync.account.name, calendar),
        action=action,
        kind=kind,
        meeting_key=key,
        reason="callplan undo",
        before=before,
        after=after,
        artifact=None,
        forget=True,
    )
