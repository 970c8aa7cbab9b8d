"""The record of a customer meeting that took place, with what its debrief said.

One row per held meeting: the history the loop carries forward and the sales review
(`callplan report`) counts. Plain data: the store keeps it, the harvester fills it, the
report reads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from agent.classify import customer_among
from agent.config import Settings
from agent.debrief import Debrief
from agent.model import Attendee


@dataclass(frozen=True)
class Held:
    calendar: str  # the store's calendar key ("account|calendar")
    meeting_key: str
    account: str
    customer: str  # as classified when the meeting was recorded
    title: str
    start: datetime
    end: datetime
    externals: tuple[str, ...] = ()  # the customer's addresses, so the customer can be re-derived
    next_scheduled: bool = False  # a later meeting with the customer was booked by the end of the meeting's day
    debrief: Debrief | None = None  # None until the seller wrote in the debrief block
    debrief_content: str = ""  # fingerprint of the block text the debrief was read from
    debriefed_at: datetime | None = None  # when callplan first read a written debrief
    checked_at: datetime | None = None  # last time the block was re-read from the provider

    @property
    def debriefed(self) -> bool:
        return self.debrief is not None and self.debrief.written

    def customer_for(self, settings: Settings) -> str:
        """The customer under the current configuration: a [customers] mapping added later
        gathers earlier meetings under its name too."""
        return customer_among((Attendee(email) for email in self.externals), settings) or self.customer
