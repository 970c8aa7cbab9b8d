"""A call plan as callplan keeps it: what a seller wrote in a prep's form, and what of it has
settled.

The seller plans the meeting in the prep block; the shared sections become the customer's
agenda. The form's reader (agent.text.callplan) makes these, the store keeps them, the loop
says what has settled and the planner renders the agenda from it; none of them needs another's
code for that, so they live here.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from agent.core.clock import Clock, Rule


@dataclass(frozen=True)
class Topic:
    """One topic of the agenda, with its minutes when the seller gave them."""

    what: str
    minutes: int | None = None


@dataclass(frozen=True)
class PlanShared:
    """The sections of a call plan that the customer's agenda carries, as the seller wrote them
    to the customer."""

    purpose: str = ""
    for_them: tuple[str, ...] = ()  # what they will get from the meeting
    for_us: tuple[str, ...] = ()  # what we hope to get from it
    topics: tuple[Topic, ...] = ()
    bring: tuple[str, ...] = ()
    join: tuple[str, ...] = ()  # who should join from their side
    decide: tuple[str, ...] = ()  # what we hope to decide

    @property
    def written(self) -> bool:
        return any(getattr(self, name) for name in self.__dataclass_fields__)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> PlanShared:
        return cls.from_data(json.loads(text))

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> PlanShared:
        lists = {
            name: tuple(data.get(name, ()))
            for name in ("for_them", "for_us", "bring", "join", "decide")
        }
        topics = tuple(
            Topic(entry["what"], entry.get("minutes")) for entry in data.get("topics", ())
        )
        return cls(purpose=data.get("purpose", ""), topics=topics, **lists)


@dataclass(frozen=True)
class CallPlan:
    """What a seller wrote into one prep's call plan: the shared sections and the private ones."""

    shared: PlanShared = PlanShared()
    readiness: str = ""  # their answers to the questions before they go in
    asks: tuple[str, ...] = ()  # commitments we will ask for
    risks: str = ""
    notes: str = ""
    # private notes: unknown headings, marked and held-back text
    other: tuple[str, ...] = field(default=())
    withheld: tuple[str, ...] = ()  # lines under a shared section's heading that were not shared

    @property
    def written(self) -> bool:
        """Did the seller write anything at all into the form, shared or private?"""
        return self.shared.written or any(
            (self.readiness, self.asks, self.risks, self.notes, self.other, self.withheld)
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> CallPlan:
        data = json.loads(text)
        return cls(
            shared=PlanShared.from_data(data.get("shared", {})),
            readiness=data.get("readiness", ""),
            asks=tuple(data.get("asks", ())),
            risks=data.get("risks", ""),
            notes=data.get("notes", ""),
            other=tuple(data.get("other", ())),
            withheld=tuple(data.get("withheld", ())),
        )


@dataclass(frozen=True)
class PlanRecord:
    """The store's record of one meeting's call plan: its latest version, when that version was
    first read, and the shared part of the last earlier version that had settled.

    Sellers save a plan many times while they write it; customers should hear once. What a
    version shares reaches the agenda only once the prep has stayed unchanged for
    agenda.settle_minutes, as for a debrief (agent.core.held).
    """

    account: str
    calendar: str
    meeting_key: str
    meeting_start: datetime
    plan: CallPlan | None = None  # None until the seller wrote in the prep's form
    content: str = ""  # fingerprint of the form part the plan was read from ("": untouched)
    changed_at: datetime | None = None  # when callplan first read this version
    settled: PlanShared | None = None  # the last earlier version that had settled, if any

    def settles_at(self, settle: timedelta) -> datetime | None:
        return self.changed_at + settle if self.changed_at is not None else None

    def settled_by(self, now: datetime, settle: timedelta) -> bool:
        at = self.settles_at(settle)
        return at is None or at <= now

    def reread(self, plan: CallPlan, content: str, now: datetime, settle: timedelta) -> PlanRecord:
        """This record after reading a new version of the plan at `now`: the version read before
        becomes the settled one if it had settled by then."""
        settled = self.settled
        if self.plan is not None and self.settled_by(now, settle):
            # an emptied plan shares nothing
            settled = self.plan.shared if self.plan.shared.written else None
        return replace(self, plan=plan, content=content, changed_at=now, settled=settled)

    def state(
        self,
        clock: Clock,
        settle: timedelta,
        previews: frozenset[str] = frozenset(),
        rewrites_today: int = 0,
    ) -> PlanState:
        """What the planner needs of this plan at the clock's now (`previews`, `rewrites_today`:
        what the loop knows of the agenda, as PlanState has them); the clock learns when the
        version waiting settles."""
        latest = self.plan.shared if self.plan is not None and self.plan.shared.written else None
        withheld = self.plan.withheld if self.plan is not None else ()
        at = self.settles_at(settle)
        if at is None or clock.reached(at, Rule.PLAN_SETTLES):
            return PlanState(latest, latest, None, withheld, previews, rewrites_today)
        return PlanState(
            agreed=self.settled,
            latest=latest,
            settles_at=self.settles_at(settle),
            withheld=withheld,
            previews=previews,
            rewrites_today=rewrites_today,
        )


@dataclass(frozen=True)
class PlanState:
    """What the planner knows of one meeting's call plan and agenda at the instant it plans.

    `agreed` is what the agenda may carry now (it has settled); `latest` is what the seller
    last wrote, shown in the prep's preview while it waits until `settles_at`. The rest is
    what the loop knows of the agenda: the fingerprints of the recent previews callplan
    wrote into the prep (a calendar app may save an older one back) and how many times
    callplan rewrote the agenda on the seller's day so far (the daily cap).
    """

    agreed: PlanShared | None = None
    latest: PlanShared | None = None
    settles_at: datetime | None = None  # when `latest` replaces `agreed` if the prep stays as is
    withheld: tuple[str, ...] = ()
    previews: frozenset[str] = frozenset()
    rewrites_today: int = 0

    @property
    def pending(self) -> PlanShared | None:
        """The latest version while it waits to settle, if it says something else."""
        if self.settles_at is None or self.latest == self.agreed:
            return None
        return self.latest or PlanShared()
