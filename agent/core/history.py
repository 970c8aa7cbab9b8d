"""What the loop carries from one meeting to the next, as plain data.

The planner reads it, the store keeps part of it (what the agent owns), and the debrief loop
builds it from held meetings; none of them needs another's code for that, so it lives here,
below all three.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from agent.core.model import Event, Kind


@dataclass(frozen=True)
class Record:
    """What the state store believes the agent owns on the calendar."""

    kind: Kind
    meeting_key: str
    ref: str
    start: datetime | None = None  # where a block was placed, or the meeting an agenda is in
    end: datetime | None = None
    inputs: str = ""  # of an agenda: what it says, when its tag does not say (AgendaTag.inputs)


@dataclass(frozen=True)
class Commitment:
    """Something one side agreed to do, carried from a debrief into the next meeting."""

    who: str  # "customer" or "us"
    what: str
    due: str = ""  # as the seller wrote it; a date when it parses
    overdue: bool = False


@dataclass(frozen=True)
class Agreed:
    """What an agenda carries from one debrief: its objective and open commitments, without
    the clock-dependent overdue flag, so time passing never changes an agenda."""

    meeting_title: str
    meeting_date: str
    objective: str = ""
    commitments: tuple[Commitment, ...] = ()


@dataclass(frozen=True)
class Carryover:
    """What the last debrief with this customer says about the next meeting (the loop).

    The private part (everything but `agreed` and `pending`) is the debrief's latest version,
    for the prep. What the agenda carries settles first: a version's shared part reaches the
    agenda only once the debrief stayed unchanged for agenda.settle_minutes, and the prep
    shows both meanwhile, so the seller can fix what is about to be shared.
    """

    meeting_title: str
    meeting_date: str
    objective: str = ""
    commitments: tuple[Commitment, ...] = ()  # the open ones
    questions: tuple[str, ...] = ()
    openers: tuple[str, ...] = ()
    overview: str = ""
    lessons: str = ""  # what the seller would do differently next time
    next_steps: tuple[str, ...] = ()
    agreed: Agreed | None = None  # what the agenda carries now; None: nothing has settled yet
    pending: Agreed | None = None  # the latest version's shared part, while it waits to settle
    settles_at: datetime | None = (
        None  # when `pending` replaces `agreed` if the debrief stays unchanged
    )
    # lines under the latest version's shared headings that were held back
    withheld: tuple[str, ...] = ()

    def carrying(self, agreed: Agreed | None) -> Carryover:
        """This carry-over with `agreed` as what the agenda carries now: nothing is pending
        any more if the version waiting to settle says the same."""
        if self.pending is not None and _same(self.pending, agreed):
            return replace(self, agreed=agreed, pending=None, settles_at=None)
        return replace(self, agreed=agreed)

    def shared(self) -> Carryover | None:
        """The part a customer may see: what has settled, and nothing else (None: nothing)."""
        if self.agreed is None:
            return None
        agreed = self.agreed
        return Carryover(
            agreed.meeting_title,
            agreed.meeting_date,
            agreed.objective,
            agreed.commitments,
            agreed=agreed,
        )


def _same(pending: Agreed, agreed: Agreed | None) -> bool:
    """Would the agenda say the same? An empty shared part says what none says."""
    if agreed is None:
        return not (pending.objective or pending.commitments)
    return pending == agreed


@dataclass(frozen=True)
class Owned:
    blocks: tuple[Event, ...] = ()  # tagged blocks seen on the calendar
    records: Mapping[tuple[Kind, str], Record] = field(default_factory=dict)
    tombstones: frozenset[tuple[Kind, str]] = frozenset()


@dataclass(frozen=True)
class Past:
    """A customer meeting from before the window, with what its debrief said (if anything)."""

    customer: str
    start: datetime
    title: str
    carry: Carryover | None = None


class History:
    """Earlier customer meetings, indexed by customer and start for quick look-ups."""

    def __init__(self, meetings: Iterable[Past] = ()) -> None:
        self._by_customer: dict[str, list[Past]] = defaultdict(list)
        for past in sorted(meetings, key=lambda past: past.start):
            if past.customer:  # "": a meeting with nobody else in it carries into none
                self._by_customer[past.customer].append(past)
        self._starts = {
            customer: [p.start for p in group] for customer, group in self._by_customer.items()
        }

    def _earlier(self, customer: str, when: datetime) -> tuple[list[Past], int]:
        """This customer's meetings by start, and how many of them started before `when`."""
        starts = self._starts.get(customer)
        if not starts:
            return [], 0
        return self._by_customer[customer], bisect.bisect_left(starts, when)

    def _latest_first(self, customer: str, when: datetime) -> Iterator[Past]:
        """This customer's meetings before `when`, the most recent first."""
        group, count = self._earlier(customer, when)
        for index in range(count - 1, -1, -1):
            yield group[index]

    def last_before(self, customer: str, when: datetime) -> Past | None:
        """This customer's most recent meeting before `when`, found without an iterator (a plan
        asks it for every meeting it plans)."""
        group, count = self._earlier(customer, when)
        return group[count - 1] if count else None

    def carry_before(self, customer: str, when: datetime) -> Carryover | None:
        """What the most recent debrief with this customer before `when` said.

        While nothing of that debrief has settled yet, the agenda keeps carrying what the
        debrief before it agreed, so a new debrief changes an agenda once, when it settles.
        """
        if customer not in self._starts:
            return None  # no meeting with them before the window: nothing to carry
        carries = (
            past.carry for past in self._latest_first(customer, when) if past.carry is not None
        )
        latest = next(carries, None)
        if latest is None or latest.agreed is not None:
            return latest
        return latest.carrying(
            next((carry.agreed for carry in carries if carry.agreed is not None), None)
        )
