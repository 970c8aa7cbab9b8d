"""The call plan's I/O: read what sellers write in their preps, and tell the planner what it
carries.

Each cycle, after the mirror is up to date and before planning, every prep block of a meeting
still to come is looked at. A prep whose form (agent.core.preview: the block without callplan's
preview) reads as callplan wrote it holds no plan; one a person wrote in is parsed
(agent.text.callplan) whenever its form changed, and stored with the instant this cycle first
saw that version. What a version shares reaches the agenda only once the prep has stayed
unchanged for `agenda.settle_minutes`, so a burst of saves costs the customer one update.

The planner then gets, per meeting, a PlanState: what has settled and what waits (with the
instant it settles), the fingerprints of the previews callplan wrote into the prep, and how
many times callplan rewrote the agenda on the seller's day so far (the audit log knows), all as
plain data.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from agent.config.settings import Account
from agent.core.callplan import CallPlan, PlanRecord, PlanState
from agent.core.clock import Clock
from agent.core.fingerprint import observed_fingerprint
from agent.core.model import BodyFormat, Event, Kind
from agent.state.store import CalendarKey, Store
from agent.text.callplan import parse_plan


class PlanReader:
    """Reads one account's call plans into the store, and gives the planner their state."""

    def __init__(self, account: Account, store: Store) -> None:
        self.account = account
        self.settings = account.settings
        self.store = store

    @property
    def _settle(self) -> timedelta:
        return timedelta(minutes=self.settings.agenda.settle_minutes)

    def run(self, key: CalendarKey, events: list[Event], clock: Clock) -> None:
        """Read the preps of one calendar's mirror, and forget the plans of meetings long past."""
        # what is read here is stored, and read again only when the prep changes (a cycle that
        # plans anyway): which preps are read is no answer a deadline need cover
        now = clock.now
        rows = self.store.plans(key)
        for block in events:
            tag = block.block_tag
            if tag is None or tag.kind is not Kind.PREP or tag.meeting.start <= now:
                continue  # only a meeting still to come has an agenda to shape
            content = observed_fingerprint(block)
            written = content != tag.content
            seen = content if written else ""  # "": the form as callplan wrote it
            row = rows.get(tag.meeting_key)
            if (row.content if row is not None else "") == seen:
                continue
            plan = (
                parse_plan(block.description, html=block.body_format is BodyFormat.HTML or None)
                if written
                else CallPlan()
            )
            fresh = PlanRecord(key.account, key.calendar, tag.meeting_key, tag.meeting.start)
            self.store.save_call_plan((row or fresh).reread(plan, seen, now, self._settle))
        self.store.forget_plans(key, now - timedelta(days=self.settings.debrief.harvest_days))

    def states(self, key: CalendarKey, clock: Clock) -> dict[str, PlanState]:
        """What the planner needs to know of each meeting's plan and agenda at the clock's now;
        the clock learns when a waiting version settles, and when the day (and with it the
        count of today's agenda rewrites) ends."""
        rows = self.store.plans(key)
        previews = self.store.previews(key)
        zone = self.settings.timezone
        day_start = datetime.combine(clock.today(zone), time(0), tzinfo=zone)
        rewrites = self.store.agenda_rewrites(key, day_start)
        states = {}
        for meeting in rows.keys() | previews.keys() | rewrites.keys():
            known, today = previews.get(meeting, frozenset()), rewrites.get(meeting, 0)
            row = rows.get(meeting)
            states[meeting] = (
                row.state(clock, self._settle, known, today)
                if row is not None
                else PlanState(previews=known, rewrites_today=today)
            )
        return states
