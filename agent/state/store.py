"""The state store: one small interface, whatever the database behind it.

The store keeps a mirror of each calendar's window (so a quiet calendar costs one request),
the sync cursor, what the agent owns, tombstones, the debriefs sellers wrote, per-account
run status and an audit log of every change applied (so `callplan undo` can revert it all).
Beside each calendar's cursor it keeps what its last plan was made from and until when that
plan holds, so a cycle whose read brought nothing can tell, from one small row, that
planning again would change nothing (agent.sync.engine).

Nothing outside this package may assume SQLite, one process, or a local file:
`agent.state.backend.open_store` picks the backend the configuration names (a SQLite file,
the embedded default, in sqlite.py, or a PostgreSQL database that many machines share, in
postgres.py). Both run the same queries (`agent.state.sql.SqlStore`), written in the SQL the
two have in common. Every method that
writes is one transaction, so a crash leaves the state as it was before the call or after
it, never in between. `lock()` keeps a second agent off the same state (a scheduler per
state database), each backend in its own way.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, NotRequired, TypedDict, Unpack

from agent.core.callplan import PlanRecord
from agent.core.clock import Deadline
from agent.core.held import Held
from agent.core.history import Record
from agent.core.model import Delta, Event, Kind, Window
from agent.core.readiness import AgendaWritten


class CalendarKey(NamedTuple):
    """One calendar of one account: what the store keeps each calendar's rows under."""

    account: str
    calendar: str  # the calendar's id at its provider


@dataclass(frozen=True)
class Artifact:
    """A row of what the agent owns: a block, or an agenda inside a meeting."""

    account: str
    calendar: str
    kind: Kind
    meeting_key: str
    ref: str
    etag: str | None
    start: datetime | None
    end: datetime | None
    meeting_start: datetime | None
    meeting_end: datetime | None
    customer: str
    title: str
    inputs: str = ""  # of an agenda: the fingerprint of what it says (see AgendaTag.inputs)

    def record(self) -> Record:
        if self.kind is Kind.AGENDA:  # where its meeting was: whether a read would have seen it
            return Record(
                self.kind,
                self.meeting_key,
                self.ref,
                self.meeting_start,
                self.meeting_end,
                self.inputs,
            )
        return Record(self.kind, self.meeting_key, self.ref, self.start, self.end)

    @property
    def key(self) -> CalendarKey:
        return CalendarKey(self.account, self.calendar)


class Applied(TypedDict):
    """One change the engine applied, as `Store.record` takes it (by keyword)."""

    key: CalendarKey
    action: str
    kind: Kind
    meeting_key: str
    reason: str
    before: Event | None
    after: Event | None
    artifact: Artifact | None
    forget: NotRequired[bool]  # remove the artifact row (default: keep it)
    tombstone: NotRequired[str | None]  # a tombstone's reason, when the change leaves one
    # what the change is about on the provider, when neither event says (a tombstone or a forget
    # the planner decided on what it no longer found)
    ref: NotRequired[str]


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    account: str
    calendar: str
    action: str
    kind: str
    meeting_key: str
    ref: str
    reason: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


@dataclass(frozen=True)
class RunStatus:
    """What `callplan status` shows for one account."""

    account: str
    last_start: datetime | None = None
    last_end: datetime | None = None
    last_error: str = ""
    next_at: datetime | None = None
    changes: int = 0
    requests: int = 0
    failures: int = 0  # consecutive failed cycles, for backoff
    backlog: int = (
        0  # changes the last cycle planned but did not carry out (conflicts, a stop, an error)
    )
    planning: str = ""  # whether the last cycle planned or skipped, and why, in words


class Inputs(NamedTuple):
    """What a plan is made from besides the calendar, the state and the clock, each as a digest:
    a plan made from other inputs may be another."""

    version: str  # callplan's own
    config: str  # the account's configuration
    templates: str  # the sources of the templates the texts are rendered from
    busy: str  # the busy time read from the account's other calendars


@dataclass(frozen=True)
class PlanState:
    """One calendar's last plan: when it ran, what it was made from, how many changes it found,
    and the first instant at which it could be another with the same inputs."""

    at: datetime
    generation: int  # the generation of the state the plan read (see Store.planning)
    inputs: Inputs
    changes: int  # 0: the calendar was as it should be
    deadline: Deadline | None  # None: no rule that reads the clock could change it


class Planning(NamedTuple):
    """A calendar's last plan, and the generation of the state a plan of it would read now."""

    last: PlanState | None  # None: never planned (or by a callplan that kept no such record)
    generation: int


class Store(ABC):
    """What the engine, the CLI and the daemon need from state, and nothing more."""

    where: str  # what errors name: the file, or the database as host:port/dbname

    @abstractmethod
    def cursor(self, key: CalendarKey, window: Window) -> str | None:
        """The sync cursor, if it was made for this window (else None: a full read is due)."""

    @abstractmethod
    def events(self, key: CalendarKey) -> list[Event]:
        """The mirror: every event of the calendar's window as last read."""

    @abstractmethod
    def apply_delta(self, key: CalendarKey, delta: Delta, window: Window) -> Planning:
        """Merge a delta into the mirror and save its cursor and window, together; returns the
        calendar's `planning` as it stands after them, read in the same transaction (a quiet
        cycle asks the store nothing more)."""

    @abstractmethod
    def planning(self, key: CalendarKey) -> Planning:
        """The calendar's last plan, and the generation of what a plan of it reads, from one small
        row (never the mirror).

        The generation grows with every write of what a plan of any calendar of the account
        reads: a mirror a read changed (`apply_delta`), a change recorded (`record`, by a cycle
        or by undo), a held meeting or debrief (`save_held`), a call plan read from a prep
        (`save_call_plan`). A plan that read generation g is stale once the generation is no
        longer g, whoever wrote meanwhile."""

    @abstractmethod
    def save_plan(self, key: CalendarKey, state: PlanState) -> None:
        """Keep the calendar's last plan (beside its cursor, which `apply_delta` saved first)."""

    @abstractmethod
    def artifacts(
        self, key: CalendarKey | None = None, *, account: str | None = None
    ) -> list[Artifact]:
        """What the agent owns in one calendar, in one account's calendars, or everywhere."""

    @abstractmethod
    def tombstones(self, key: CalendarKey) -> frozenset[tuple[Kind, str]]: ...

    @abstractmethod
    def record(self, **change: Unpack[Applied]) -> None:
        """Record one applied change, in one transaction: the audit line, the artifact row
        (upserted, or removed when `forget`), a tombstone when given, the mirror (the event
        `after` replaces `before`; `after` None removes it), and the fingerprint of the preview
        a prep `after` holds."""

    @abstractmethod
    def held(self, key: CalendarKey | None = None, *, account: str | None = None) -> list[Held]:
        """Customer meetings that took place (with their debriefs), oldest first: of one
        calendar, of one account's calendars, or all."""

    @abstractmethod
    def save_held(self, held: Held) -> None:
        """Insert or replace the record of one held meeting."""

    @abstractmethod
    def plans(self, key: CalendarKey) -> dict[str, PlanRecord]:
        """The call plans sellers wrote in the preps of one calendar, by meeting."""

    @abstractmethod
    def save_call_plan(self, plan: PlanRecord) -> None:
        """Insert or replace the record of one meeting's call plan."""

    @abstractmethod
    def previews(self, key: CalendarKey) -> dict[str, frozenset[str]]:
        """By meeting, the fingerprints of the previews callplan wrote into its prep (`record`
        keeps them): a calendar app that saves an older copy back saves one of these."""

    @abstractmethod
    def forget_plans(self, key: CalendarKey, before: datetime) -> None:
        """Drop the plans and previews of meetings that started before `before`."""

    @abstractmethod
    def agenda_rewrites(self, key: CalendarKey, since: datetime) -> dict[str, int]:
        """By meeting, how many times callplan rewrote an agenda already in the invitation since
        `since` (the audit log knows: the first insertion is not a rewrite)."""

    @abstractmethod
    def agenda_written(self, key: CalendarKey, meeting_key: str) -> AgendaWritten:
        """When callplan first wrote the meeting's agenda into its invitation (the audit log
        knows), and first wrote a preview into its prep (the previews kept until
        `forget_plans`)."""

    @abstractmethod
    def calendars(self, account: str) -> list[str]:
        """The calendars of an account that callplan has read."""

    @abstractmethod
    def audit(self, account: str | None = None, limit: int | None = None) -> list[AuditEntry]: ...

    @abstractmethod
    def run_status(self, account: str) -> RunStatus: ...

    def save_run_status(self, status: RunStatus) -> None:
        self.save_run_statuses([status])

    @abstractmethod
    def save_run_statuses(self, statuses: Sequence[RunStatus]) -> None:
        """Several accounts' run statuses, in one transaction (the service writes a batch of
        cycles' statuses at once)."""

    @abstractmethod
    def lock(self) -> AbstractContextManager[None]:
        """Hold the state for this process alone while the context lasts (the service, a sync,
        an undo); StateError naming the holder when another process has it."""

    @abstractmethod
    def locked_by(self) -> str | None:
        """Who holds the lock ("pid 1234"), or None when nobody does; changes nothing."""

    @abstractmethod
    def close(self) -> None: ...
