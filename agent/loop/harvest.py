"""The loop's I/O: record held customer meetings, read debriefs back, and build the history.

Each cycle, after the mirror is up to date and before planning:
- every customer meeting of the mirror that has ended is recorded as held, with whether a
  later meeting with the same customer is on the calendar within the horizon (judged until
  the end of the meeting's local day; once seen, it stays seen), and, once, with whether we
  were ready and the customer could be (agent.core.readiness);
- every debrief block that is over, for `debrief.harvest_days` after its meeting, is read
  back. A block still in the mirror costs nothing. A block outside it (the mirror reaches
  back only to yesterday) is re-read by reference, one request, when the provider reported
  it changed and otherwise at most every `debrief.recheck_hours`. Text the seller wrote is
  parsed (agent.text.debrief) and stored with the held meeting, with when this version was first
  read: what it shares reaches an agenda only once it has stayed unchanged for
  `agenda.settle_minutes` (until then, the last version that had settled does).
The planner then gets the history, with each debrief's carry-over (and the instant a waiting
version settles), as plain data.

Every comparison with now is asked of the cycle's Clock (agent.core.clock), which so learns
when the harvest or the history would do otherwise: a customer meeting ends and is recorded
as held, its day ends and the judgement of its next meeting with it, a debrief block ends
and becomes readable, a re-read falls due, harvest_days runs out, a version settles, a new
day makes a commitment overdue.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, time, timedelta
from typing import TypedDict

from agent.config.settings import Account
from agent.core.clock import Clock, Rule, elapsed
from agent.core.errors import BadDataError, GoneError, TransientError
from agent.core.fingerprint import edited_content
from agent.core.held import Held
from agent.core.history import Carryover, History, Past
from agent.core.model import BodyFormat, Delta, Event, Kind
from agent.core.readiness import customer_could_be_ready, we_were_ready
from agent.plan.classify import Classifier
from agent.state.store import Artifact, CalendarKey, Store
from agent.text.debrief import carryover, parse
from connectors.base import Connector

log = logging.getLogger("callplan.harvest")


class _Seen(TypedDict):
    """What a cycle sees of a held meeting on the calendar (its debrief is read on its own)."""

    customer: str
    title: str
    start: datetime
    end: datetime
    externals: tuple[str, ...]
    next_scheduled: bool


class _Ready(TypedDict):
    we_ready: bool
    they_ready: bool


class Harvester:
    """Harvests one account's debriefs into the store and gives the planner its history."""

    def __init__(self, account: Account, connector: Connector, store: Store) -> None:
        self.account = account
        self.settings = account.settings
        self.connector = connector
        self.store = store

    def run(
        self,
        key: CalendarKey,
        events: list[Event],
        delta: Delta,
        clock: Clock,
        rules: Classifier,
    ) -> None:
        """Record held meetings and read back finished debriefs of one calendar; `rules` are
        the cycle's, which the planner judges the same meetings by."""
        held = {row.meeting_key: row for row in self.store.held(key)}
        meetings = [event for event in events if not event.is_block]
        self._record_held(key, meetings, held, clock, rules)
        blocks = {event.ref: event for event in events if event.is_block}
        changed = set(delta.removed_refs)
        for artifact in self._due(key, clock):
            self._harvest(key.calendar, artifact, blocks, changed, held, clock)

    # -- held meetings ---------------------------------------------------------------------

    def _record_held(
        self,
        key: CalendarKey,
        meetings: list[Event],
        held: dict[str, Held],
        clock: Clock,
        rules: Classifier,
    ) -> None:
        customers = {m.key: rules.customer_of(m) for m in meetings if rules.classify(m).customer}
        starts: dict[str, list[datetime]] = defaultdict(list)
        for meeting in meetings:
            if meeting.key in customers:
                starts[customers[meeting.key]].append(meeting.start)
        horizon = timedelta(days=self.settings.debrief.next_meeting_horizon_days)
        for meeting in meetings:
            customer = customers.get(meeting.key, "")
            if not customer or clock.before(meeting.end, Rule.MEETING_ENDS, meeting.title):
                continue
            existing = held.get(meeting.key)
            scheduled = existing.next_scheduled if existing else False
            day_end = self._day_end(meeting.end)
            if existing is None or clock.before(day_end, Rule.DAY_ENDS, meeting.title):
                scheduled = scheduled or any(
                    meeting.start < start <= meeting.end + horizon for start in starts[customer]
                )
            seen: _Seen = {
                "customer": customer,
                "title": meeting.title,
                "start": meeting.start,
                "end": meeting.end,
                "externals": tuple(a.address for a in rules.external_attendees(meeting)),
                "next_scheduled": scheduled,
            }
            if existing is not None:  # the meeting as seen now; its debrief as read before
                row = replace(existing, **seen)
            else:
                row = Held(
                    calendar=key.calendar,
                    meeting_key=meeting.key,
                    account=key.account,
                    **seen,
                    **self._readiness(key, meeting),
                )
            if row != existing:
                self.store.save_held(row)
                held[meeting.key] = row

    def _readiness(self, key: CalendarKey, meeting: Event) -> _Ready:
        """Whether we were ready and the customer could be, judged once, as the meeting is first
        recorded as held (agent.core.readiness)."""
        plan = self.store.plans(key).get(meeting.key)
        lead = timedelta(hours=self.settings.review.customer_ready_hours)
        written = self.store.agenda_written(key, meeting.key)
        return {
            "we_ready": we_were_ready(meeting.start, plan),
            "they_ready": customer_could_be_ready(
                meeting.start, not meeting.self_is_organizer, written, lead
            ),
        }

    def _day_end(self, when: datetime) -> datetime:
        zone = self.settings.timezone
        return datetime.combine(
            when.astimezone(zone).date() + timedelta(days=1), time(0), tzinfo=zone
        )

    # -- debriefs ----------------------------------------------------------------------------

    def _due(self, key: CalendarKey, clock: Clock) -> list[Artifact]:
        """Debrief blocks that are over, of meetings recent enough to read back."""
        days = timedelta(days=self.settings.debrief.harvest_days)
        return [
            a
            for a in self.store.artifacts(key)
            if a.kind is Kind.DEBRIEF
            and a.end
            and clock.reached(a.end, Rule.DEBRIEF_READABLE, a.title)
            and a.meeting_start
            and not clock.past(elapsed(a.meeting_start, days), Rule.HARVEST_ENDS, a.title)
        ]

    def _harvest(
        self,
        calendar: str,
        artifact: Artifact,
        blocks: dict[str, Event],
        changed: set[str],
        held: dict[str, Held],
        clock: Clock,
    ) -> None:
        """Read one debrief block back (from the provider only if the delta did not bring it)."""
        row = held.get(artifact.meeting_key) or _from_artifact(artifact)
        block = blocks.get(artifact.ref)
        if block is None:
            recheck = timedelta(hours=self.settings.debrief.recheck_hours)
            if (
                artifact.ref not in changed
                and row.checked_at is not None
                and clock.before(elapsed(row.checked_at, recheck), Rule.DEBRIEF_RECHECK, row.title)
            ):
                return
            try:
                block = self.connector.get(calendar, artifact.ref)
            except (BadDataError, GoneError, TransientError) as exc:
                log.warning(
                    "cannot read the debrief of %s back: %s",
                    artifact.title or artifact.meeting_key,
                    exc,
                )
                return
            row = replace(row, checked_at=clock.now)
        # "": the block is as callplan wrote it; a debrief read before is then one the seller
        # took back, and reading the untouched form withdraws it
        content = (edited_content(block) or "") if block is not None else ""
        if block is not None and content != row.debrief_content:
            day = row.start.astimezone(self.settings.timezone).date()
            html = True if block.body_format is BodyFormat.HTML else None
            debrief = parse(
                block.description, day, html=html, order=self.settings.debrief.date_order
            )
            row = row.reread(debrief, content, clock.now, self._settle)
        if row != held.get(artifact.meeting_key):
            self.store.save_held(row)
            held[artifact.meeting_key] = row

    # -- history -----------------------------------------------------------------------------

    def history(self, clock: Clock, rules: Classifier) -> History:
        """The account's customer meetings before now, each with its debrief's carry-over,
        under the customers `rules` give them today."""
        rows = [
            row
            for row in self.store.held(account=self.account.name)
            if clock.past(row.start, Rule.MEETING_STARTS, row.title)
        ]
        known = {(row.calendar, row.meeting_key) for row in rows}
        pasts = [
            Past(rules.held_customer(row), row.start, row.title, self._carry(row, clock))
            for row in rows
        ]
        pasts += (
            Past(a.customer, start, a.title)
            for a, start in self._recorded(clock)
            if (a.calendar, a.meeting_key) not in known
        )
        return History(pasts)

    @property
    def _settle(self) -> timedelta:
        return timedelta(minutes=self.settings.agenda.settle_minutes)

    def _carry(self, row: Held, clock: Clock) -> Carryover | None:
        """What a held meeting's debrief carries now: its latest version for the prep;
        for the agenda, that version's shared part once it has settled, else the last one
        that had (see Held)."""
        zone = self.settings.timezone
        settles_at = row.settles_at(self._settle)
        waiting = settles_at is not None and clock.before(
            settles_at, Rule.DEBRIEF_SETTLES, row.title
        )
        if row.debrief is None or not (row.debriefed or (waiting and row.settled is not None)):
            return None
        return carryover(
            row.debrief,
            row.title,
            row.start.astimezone(zone).date(),
            clock.today(zone),  # a commitment falls overdue on the day after it was due
            settles_at=settles_at.astimezone(zone) if settles_at is not None and waiting else None,
            settled=row.settled if waiting else None,
        )

    def _recorded(self, clock: Clock) -> Iterable[tuple[Artifact, datetime]]:
        """Debrief records of meetings that started before now (held or not yet recorded as
        held), each with its meeting's start."""
        for a in self.store.artifacts(account=self.account.name):
            if (
                a.kind is Kind.DEBRIEF
                and a.meeting_start
                and clock.past(a.meeting_start, Rule.MEETING_STARTS, a.title)
            ):
                yield a, a.meeting_start


def _from_artifact(artifact: Artifact) -> Held:
    """A held record for a meeting seen only through its debrief block (it left the mirror
    before a cycle saw it end)."""
    assert artifact.meeting_start is not None
    return Held(
        calendar=artifact.calendar,
        meeting_key=artifact.meeting_key,
        account=artifact.account,
        customer=artifact.customer,
        title=artifact.title,
        start=artifact.meeting_start,
        end=artifact.meeting_end or artifact.meeting_start,
    )
