"""One cycle for one account: read, plan, apply, record. All I/O of the agent happens here.

For each calendar: read what changed since the cursor and fold it into the mirror (together
with the new cursor), plan against the whole mirror, then apply the changes one by one,
recording each in the store right after the provider accepted it. A crash between the two
leaves an artifact the store does not know; the next cycle finds it by its tag and adopts
it, so nothing is ever created twice. Because planning is level-triggered, a cycle that
stops half-way is simply finished by the next one: that is how the service stops on SIGTERM,
by setting the `stop` event a cycle checks before each change (before each chunk of new blocks,
when the connector creates several in one request).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta

from agent.config.settings import Account
from agent.core.clock import Clock, Deadline, Rule, earliest, next_midnight
from agent.core.errors import (
    AuthError,
    BadDataError,
    CallplanError,
    ConfigError,
    ConflictError,
    ConnectorError,
    GoneError,
    StateError,
    ThrottledError,
)
from agent.core.history import Owned
from agent.core.logfmt import emit
from agent.core.model import Delta, Event, Interval, Window
from agent.loop.harvest import Harvester
from agent.loop.plans import PlanReader
from agent.plan.changes import (
    Adopt,
    Change,
    CreateBlock,
    DeleteBlock,
    Forget,
    Tombstone,
    UpdateBlock,
    WriteAgenda,
    verb,
)
from agent.plan.classify import Classifier
from agent.plan.planner import MeetingVerdict, plan
from agent.plan.wanted import unwanted, vanished
from agent.state.store import Artifact, CalendarKey, Inputs, PlanState, Store
from agent.sync import collection
from agent.sync.quiet import VERSION, Outcome, busy_digest, config_digest, summary, why_plan
from agent.text.render import Renderer
from connectors.base import Connector

log = logging.getLogger("callplan.engine")
# the outcome that leaves work for later
CONFLICT = "skipped: changed by someone else meanwhile; re-read next cycle"
# Failures that concern the whole account, not one calendar: they stop its cycle.
ACCOUNT_ERRORS = (AuthError, ThrottledError, StateError, ConfigError)


@dataclass
class CalendarReport:
    """What one calendar's cycle read, planned and did."""

    calendar: str
    requests: int = 0  # everything the cycle sent: reads, writes, retries
    read_requests: int = 0  # of those, what reading the calendar and finished debriefs took
    full: bool = False
    meetings: list[Event] = field(default_factory=list)
    planned: list[Change] = field(default_factory=list)
    verdicts: dict[str, MeetingVerdict] = field(default_factory=dict)  # by meeting
    applied: list[tuple[Change, str]] = field(default_factory=list)  # (change, outcome)
    skipped: list[str] = field(default_factory=list)
    error: str = ""
    stopped: bool = False  # asked to stop before every planned change was applied
    outcome: Outcome | None = None  # planned or skipped, and why (None: it failed before)

    @property
    def backlog(self) -> int:
        """Planned changes not carried out: refused as conflicts, or not tried because the cycle
        stopped or failed part-way. The next cycle plans them again."""
        return len(self.planned) - sum(1 for _, outcome in self.applied if outcome != CONFLICT)


@dataclass
class AccountReport:
    account: str
    calendars: list[CalendarReport] = field(default_factory=list)
    error: str = ""
    retry_after: float | None = None  # the provider asked us to wait this long (throttling)
    stopped: bool = False
    planning: str = ""  # whether its calendars planned or skipped, and why, in words
    requests: int = (
        0  # everything the cycle sent, the account's own look-ups (its calendars) included
    )

    @property
    def failure(self) -> str:
        """What went wrong: the account's error, else every failing calendar's (each names its
        calendar); "" if nothing did."""
        return self.error or "; ".join(
            calendar.error for calendar in self.calendars if calendar.error
        )

    @property
    def failed(self) -> bool:
        """Did the cycle fail as a whole: an error of the account, or one of every calendar it
        tried? Only then does the account back off; a calendar that fails alone must not slow the
        others."""
        return bool(self.error) or (
            bool(self.calendars) and all(calendar.error for calendar in self.calendars)
        )

    @property
    def backlog(self) -> int:
        return sum(calendar.backlog for calendar in self.calendars)

    @property
    def read_requests(self) -> int:
        return sum(calendar.read_requests for calendar in self.calendars)

    @property
    def changes(self) -> int:
        return sum(len(calendar.applied) for calendar in self.calendars)


def window_for(now: datetime, lookahead_days: int, zone: object) -> Window:
    """The span read from the calendar: from yesterday to the end of the look-ahead.

    Aligned to local midnights so it stays the same all day: a cursor is only valid for the
    window it was made for, and a window that changed every minute would force full reads.
    """
    today = now.astimezone(zone).date()  # type: ignore[arg-type]
    start = datetime.combine(today - timedelta(days=1), time(0), tzinfo=zone)  # type: ignore[arg-type]
    end = datetime.combine(today + timedelta(days=lookahead_days + 2), time(0), tzinfo=zone)  # type: ignore[arg-type]
    return Window(start.astimezone(UTC), end.astimezone(UTC))


def calendar_error(calendar: str, exc: CallplanError) -> str:
    """The error of one calendar, naming it (unless the message already does, by its URL)."""
    text = str(exc)
    return text if calendar in text else f"calendar {calendar}: {text}"


class AccountSync:
    """Runs cycles for one account; the daemon keeps one per account, `sync --once` makes one."""

    def __init__(
        self,
        account: Account,
        connector: Connector,
        store: Store,
        renderer: Renderer,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        always_plan: bool = False,
    ) -> None:
        self.account = account
        self.connector = connector
        self.store = store
        self.renderer = renderer
        self.clock = clock
        # plan in every cycle, even one that could skip (a dry run always does)
        self.always_plan = always_plan
        self.harvester = Harvester(account, connector, store)
        self.plans = PlanReader(account, store)
        self._calendars: list[str] | None = None
        self._config: tuple[Account, str] | None = None

    def calendars(self) -> list[str]:
        """The configured calendars, or the primary one; looked up once per process."""
        if self._calendars is None:
            if self.account.calendars:
                self._calendars = list(self.account.calendars)
            else:
                found = self.connector.calendars()
                primary = [info.id for info in found if info.primary] or [
                    info.id for info in found[:1]
                ]
                if not primary:
                    raise AuthError("the account has no calendar", where=self.account.where)
                self._calendars = primary
        return self._calendars

    def cycle(self, dry_run: bool = False, stop: threading.Event | None = None) -> AccountReport:
        """One pass over every calendar of the account. A calendar that fails (not found, refused,
        unreachable) is reported under its name and the others go on, what it did before failing
        still counted; errors that concern the whole account (auth, throttling, state, config, the
        look-up of its calendars) stop it and are reported. Once `stop` is set, no further change
        is started; the one in flight is finished and recorded."""
        report = AccountReport(self.account.name)
        sent = self.connector.requests_sent
        rules = Classifier(self.account.settings)  # the loop, the planner and the records share it
        try:
            for calendar in self.calendars():
                if stop is not None and stop.is_set():
                    report.stopped = True
                    break
                result = CalendarReport(calendar)
                report.calendars.append(result)
                before = self.connector.requests_sent
                try:
                    self._calendar_cycle(calendar, result, dry_run, stop, rules)
                except ACCOUNT_ERRORS:
                    raise
                except CallplanError as exc:
                    result.error = calendar_error(calendar, exc)
                    emit(
                        log,
                        logging.WARNING,
                        "calendar_error",
                        account=self.account.name,
                        calendar=calendar,
                        error=str(exc),
                    )
                finally:  # a cycle cut short still cost what it sent
                    result.requests = self.connector.requests_sent - before
                report.stopped = report.stopped or result.stopped
        except CallplanError as exc:
            report.error = str(exc)
            report.retry_after = exc.retry_after if isinstance(exc, ThrottledError) else None
        report.requests = self.connector.requests_sent - sent
        outcomes = [calendar.outcome for calendar in report.calendars if calendar.outcome]
        report.planning = summary(outcomes, self.account.settings.timezone, self.clock())
        return report

    def review(self) -> dict[str, dict[str, MeetingVerdict]]:
        """By calendar, what callplan would decide for each meeting from what the store holds of
        the account's calendars (as the last cycle read them), without asking the provider:
        `callplan status` lists what waits. Nothing is written."""
        clock = Clock(self.clock())
        settings = self.account.settings
        rules = Classifier(settings)
        window = window_for(clock.now, settings.lookahead_days, settings.timezone)
        found: dict[str, dict[str, MeetingVerdict]] = {}
        for calendar in self.store.calendars(self.account.name):
            key = CalendarKey(self.account.name, calendar)
            verdicts = found[calendar] = {}
            self._plan(key, self.store.events(key), clock, window, rules, [], verdicts)
        return found

    def _plan(
        self,
        key: CalendarKey,
        events: list[Event],
        clock: Clock,
        window: Window,
        rules: Classifier,
        busy: list[Interval],
        verdicts: dict[str, MeetingVerdict],
    ) -> tuple[list[Change], Deadline | None]:
        """The planner's changes for one calendar's `events`, with what the store knows, and
        the first instant at which they could be other (the clock's questions included)."""
        owned = Owned(
            blocks=tuple(event for event in events if event.is_block),
            records={(a.kind, a.meeting_key): a.record() for a in self.store.artifacts(key)},
            tombstones=self.store.tombstones(key),
        )
        history = self.harvester.history(clock, rules)
        states = self.plans.states(key, clock)
        with collection.deferred():  # no full collection walks the heap while the plan runs
            changes, deadline = plan(
                clock.now,
                [event for event in events if not event.is_block],
                owned,
                busy,
                self.account.settings,
                self.renderer,
                window,
                history,
                rules,
                states,
                verdicts,
            )
        return changes, earliest(clock.deadline, deadline)

    def _calendar_cycle(
        self,
        calendar: str,
        result: CalendarReport,
        dry_run: bool,
        stop: threading.Event | None,
        rules: Classifier,
    ) -> None:
        settings = self.account.settings
        key = CalendarKey(self.account.name, calendar)
        now = self.clock()
        window = window_for(now, settings.lookahead_days, settings.timezone)
        # a window that moved (a new day) means a full read: meetings may have entered it
        delta = self.connector.changes(calendar, self.store.cursor(key, window), window)
        result.read_requests, result.full, result.skipped = (
            delta.requests,
            delta.full,
            list(delta.skipped),
        )
        for reason in delta.skipped:
            emit(
                log,
                logging.WARNING,
                "skipped_event",
                account=self.account.name,
                calendar=calendar,
                reason=reason,
            )
        busy = (
            self.connector.busy(list(self.account.busy_calendars), window)
            if self.account.busy_calendars
            else []
        )
        inputs = Inputs(VERSION, self._config_digest(), self.renderer.digest, busy_digest(busy))
        # one small row: the last plan, the generation now (read with the write, when it writes)
        planning = (
            self.store.planning(key) if dry_run else self.store.apply_delta(key, delta, window)
        )
        why = why_plan(planning, delta, inputs, now)
        if why is None and not (dry_run or self.always_plan):
            # nothing read, nothing else changed, before the deadline: the plan would be the last
            # one, which had nothing to do (and the harvest would find what it found then)
            assert planning.last is not None
            result.outcome = Outcome(False, "nothing changed", planning.last.deadline)
            return
        # what the harvest, the call plans and the history read of the clock, and the window's
        # next move
        clock = Clock(now)
        clock.note(next_midnight(now, settings.timezone), Rule.WINDOW_MOVES)
        if dry_run:
            events = _merged(self.store.events(key), delta)
        else:
            events = self.store.events(key)
            # the loop: what sellers wrote in finished debriefs, before planning what comes next
            before = self.connector.requests_sent
            self.harvester.run(key, events, delta, clock, rules)
            result.read_requests += self.connector.requests_sent - before
            self.plans.run(key, events, clock)  # what sellers wrote in their preps
        meetings = [event for event in events if not event.is_block]
        result.meetings = meetings
        changes, deadline = self._plan(key, events, clock, window, rules, busy, result.verdicts)
        result.planned = changes
        result.outcome = Outcome(True, why or "nothing changed, planned anyway", deadline)
        if dry_run:
            return
        by_key = {meeting.key: meeting for meeting in meetings}
        self._apply_all(key, calendar, result, by_key, stop, rules)
        # only a plan that found nothing to change lets later cycles skip (see agent.sync.quiet)
        self.store.save_plan(
            key, PlanState(now, planning.generation, inputs, len(changes), deadline)
        )

    def _config_digest(self) -> str:
        """The digest of the account's configuration, made again only when it is replaced."""
        if self._config is None or self._config[0] is not self.account:
            self._config = (self.account, config_digest(self.account))
        return self._config[1]

    def _apply_all(
        self,
        key: CalendarKey,
        calendar: str,
        result: CalendarReport,
        by_key: dict[str, Event],
        stop: threading.Event | None,
        rules: Classifier,
    ) -> None:
        """Apply the planned changes in order, each recorded as it is done, until `stop`."""
        etags: dict[str, str | None] = {}
        creates = [change for change in result.planned if isinstance(change, CreateBlock)]
        started: set[int] = set()  # the creates already sent, each with the chunk it came in
        for change in result.planned:
            if id(change) in started:
                continue
            if stop is not None and stop.is_set():
                result.stopped = True
                break
            steps: list[tuple[Change, Event | ConnectorError | None]] = [(change, None)]
            if isinstance(change, CreateBlock):
                steps = self._create_chunk(
                    calendar, creates[len(started) : len(started) + self.connector.batch_size]
                )
                started.update(id(create) for create, _ in steps)
            for step, created in steps:
                outcome = self._apply(key, calendar, step, by_key, etags, rules, created)
                result.applied.append((step, outcome))
                meeting = by_key.get(step.meeting_key)
                emit(
                    log,
                    logging.INFO,
                    "change",
                    account=self.account.name,
                    action=verb(step),
                    kind=str(step.kind),
                    meeting=meeting.title if meeting else step.meeting_key,
                    outcome=outcome,
                    reason=step.reason,
                )

    # -- applying one change -----------------------------------------------------------------

    def _create_chunk(
        self, calendar: str, chunk: list[CreateBlock]
    ) -> list[tuple[Change, Event | ConnectorError | None]]:
        """Create the next blocks of the plan, as many as the connector creates in one request
        (`batch_size`: one, unless the provider batches), with the result of each.

        Each result is then recorded on its own, before anything else happens; a crash before
        that leaves tagged blocks the next cycle adopts. The stop event is checked between
        chunks, so a stop on a connector that creates one by one finishes just the block in
        flight."""
        results = self.connector.create_many(calendar, [create.block for create in chunk])
        return [(create, created) for create, created in zip(chunk, results)]

    def _apply(
        self,
        key: CalendarKey,
        calendar: str,
        change: Change,
        meetings: dict[str, Event],
        etags: dict[str, str | None],
        rules: Classifier,
        created: Event | ConnectorError | None = None,
    ) -> str:
        """Apply one change and record it (a block comes already created, as `created`);
        returns what happened, in a word or two."""
        record = self._recorder(key, change, meetings, rules)
        try:
            match change:
                case CreateBlock():
                    assert created is not None, (
                        "blocks are created in chunks before they are recorded"
                    )
                    if isinstance(created, ConnectorError):
                        raise created
                    record("create", None, created)
                case UpdateBlock(current=current, block=block):
                    updated = self.connector.update(calendar, _fresh(current, etags), block)
                    record("update", current, updated)
                case DeleteBlock(current=current, surplus=surplus):
                    self.connector.delete(calendar, _fresh(current, etags))
                    record("delete", current, None, forget=not surplus)
                case WriteAgenda(meeting=meeting, description=text, tag=tag, notify=notify):
                    written = self.connector.set_description(
                        calendar, _fresh(meeting, etags), text, tag, notify
                    )
                    etags[written.ref] = written.etag
                    record(
                        "strip agenda" if tag is None else "write agenda",
                        meeting,
                        written,
                        forget=tag is None,
                    )
                case Adopt(event=event):
                    record("adopt", None, None, found=event)
                case Tombstone(ref=ref, reason=reason):
                    record("tombstone", None, None, forget=True, tombstone=reason, ref=ref)
                case Forget(ref=ref):
                    record("forget", None, None, forget=True, ref=ref)
        except ConflictError:
            return CONFLICT
        # what a write must re-read came back unreadable: this change only
        except BadDataError as exc:
            emit(log, logging.WARNING, "skipped_change", account=self.account.name, error=str(exc))
            return "skipped: the event could not be read; tried again next cycle"
        except GoneError:
            if isinstance(change, (UpdateBlock, DeleteBlock)):
                return self._vanished(key, change, meetings, rules)
            return "skipped: the meeting is gone"
        return "done"

    def _vanished(
        self,
        key: CalendarKey,
        change: UpdateBlock | DeleteBlock,
        meetings: dict[str, Event],
        rules: Classifier,
    ) -> str:
        """A block vanished under us. A surplus copy leaves the meeting's recorded block as it
        is; else the planner's rule says what it means (`vanished`): a person deleted a block
        its meeting wants (a tombstone), or it went as the agent meant it to (forgotten).
        Either way the mirror lets it go."""
        kind, meeting_key, current = change.kind, change.meeting_key, change.current
        if isinstance(change, DeleteBlock) and change.surplus:
            self._recorder(key, change, meetings, rules)("delete", current, None)
            return "gone: deleted meanwhile"
        gone = vanished(
            kind, meeting_key, current.ref, unwanted(kind, meetings.get(meeting_key), rules)
        )
        tombstone = gone.reason if isinstance(gone, Tombstone) else None
        self._recorder(key, gone, meetings, rules)(
            verb(gone), current, None, forget=True, tombstone=tombstone
        )
        return "gone: deleted by a person" if tombstone else "gone: no longer needed"

    def _recorder(
        self, key: CalendarKey, change: Change, meetings: dict[str, Event], rules: Classifier
    ) -> Callable[..., None]:
        meeting = meetings.get(change.meeting_key)
        customer = rules.customer_of(meeting) if meeting else ""

        def record(
            action: str,
            before: Event | None,
            after: Event | None,
            *,
            forget: bool = False,
            tombstone: str | None = None,
            found: Event | None = None,
            ref: str = "",
        ) -> None:
            owned = after or found
            artifact = None
            if owned is not None and not forget:
                block = owned.block_tag
                # its meeting as read, else as the block's tag remembers it
                span = meeting.span if meeting else (block.meeting if block else None)
                artifact = Artifact(
                    *key,
                    kind=change.kind,
                    meeting_key=change.meeting_key,
                    ref=owned.ref,
                    etag=owned.etag,
                    start=owned.start if block else None,
                    end=owned.end if block else None,
                    meeting_start=span.start if span else None,
                    meeting_end=span.end if span else None,
                    customer=customer,
                    title=meeting.title if meeting else "",
                    # what an agenda says: its tag's, or (an earlier callplan's) the planner's
                    inputs=(change.inputs if isinstance(change, Adopt) else "")
                    or (owned.agenda_tag.inputs if owned.agenda_tag else ""),
                )
            self.store.record(
                key=key,
                action=action,
                kind=change.kind,
                meeting_key=change.meeting_key,
                reason=change.reason,
                before=before,
                after=after,
                artifact=artifact,
                forget=forget,
                tombstone=tombstone,
                ref=ref,
            )

        return record


def _fresh(event: Event, etags: dict[str, str | None]) -> Event:
    """The event with the newest etag we know for its ref (we may have just written it)."""
    return replace(event, etag=etags[event.ref]) if event.ref in etags else event


def _merged(events: list[Event], delta: Delta) -> list[Event]:
    """The mirror with a delta folded in, in memory (dry runs write nothing)."""
    if delta.full:
        return list(delta.upserted)
    gone = set(delta.removed_refs) | {event.ref for event in delta.upserted}
    return [event for event in events if event.ref not in gone] + list(delta.upserted)
