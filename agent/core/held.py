"""The record of a customer meeting that took place, with what its debrief said.

One row per held meeting: the history the loop carries forward and the sales review
(`callplan report`) counts. Plain data: the store keeps it, the harvester fills it, the
report reads it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from agent.core.debrief import Debrief, Shared


@dataclass(frozen=True)
class Held:
    calendar: str  # the calendar's id at its provider (in `account`)
    meeting_key: str
    account: str
    customer: str  # as classified when the meeting was recorded
    title: str
    start: datetime
    end: datetime
    externals: tuple[str, ...] = ()  # the customer's addresses, so the customer can be re-derived
    next_scheduled: bool = (
        False  # a later meeting with the customer was booked by the end of the meeting's day
    )
    debrief: Debrief | None = None  # None until the seller wrote in the debrief block
    debrief_content: str = ""  # fingerprint of the block text the debrief was read from
    debriefed_at: datetime | None = None  # when callplan first read a written debrief
    checked_at: datetime | None = None  # last time the block was re-read from the provider
    # Settling: what a debrief shares reaches an agenda only once it stayed unchanged for
    # agenda.settle_minutes, so a seller can still fix what they see in the next prep.
    changed_at: datetime | None = (
        None  # when this version of the debrief was first read (None: before settling existed)
    )
    settled: Shared | None = (
        None  # the shared part of the last earlier version that had settled, if any
    )
    # Readiness, judged once when the meeting is recorded as held (agent.loop.readiness);
    # None: unknown (held before callplan judged it, or seen only through its debrief).
    we_ready: bool | None = None  # the seller had written a call plan before it started
    they_ready: bool | None = None  # the agenda (or the draft) was out early enough

    @property
    def debriefed(self) -> bool:
        return self.debrief is not None and self.debrief.written

    def settles_at(self, settle: timedelta) -> datetime | None:
        """When this version of the debrief settles; None for a record from before settling
        existed, which counts as settled."""
        return self.changed_at + settle if self.changed_at is not None else None

    def settled_by(self, now: datetime, settle: timedelta) -> bool:
        at = self.settles_at(settle)
        return at is None or at <= now

    def reread(self, debrief: Debrief, content: str, now: datetime, settle: timedelta) -> Held:
        """This record after reading a new version of the debrief at `now`: the version read
        before becomes the settled one if it had settled by then."""
        settled = self.settled
        if self.debrief is not None and self.settled_by(now, settle):
            # an emptied debrief says nothing
            settled = self.debrief.shared if self.debriefed else None
        return replace(
            self,
            debrief=debrief,
            debrief_content=content,
            debriefed_at=self.debriefed_at or now,
            changed_at=now,
            settled=settled,
        )
