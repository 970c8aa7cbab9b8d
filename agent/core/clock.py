"""The clock a plan reads, and the deadline that reading leaves: when the plan could change.

A plan depends on its inputs and on `now`. With the same inputs, its answer changes only at
the instants where one of its comparisons with `now` turns the other way: a block starts
and becomes history, an agenda's lead time arrives, a debrief block ends and becomes
readable. Every such comparison is asked of a `Clock`, which answers it and remembers the
earliest instant at which any answer it gave would turn. That instant is the plan's
deadline: before it, planning again with the same inputs gives the same changes, so a cycle
whose read brought nothing need not plan at all.

A deadline is data, not only a time: it names the rule and the meeting, so a seller can be
told why the agent will look again ("when the prep of 'Globex review' starts") and, once it
has, why it did ("the prep of 'Globex review' started").
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

# the smallest step of a datetime: `now > t` first holds at t + RESOLUTION
RESOLUTION = timedelta(microseconds=1)


class Rule(enum.Enum):
    """What happens at an instant a plan depends on, said while it is coming and once it came.

    `{}` stands for the meeting (or block) it concerns. The value is what the store keeps.
    """

    PREP_STARTS = ("prep-starts", "the prep of {} starts", "the prep of {} started")
    DEBRIEF_STARTS = ("debrief-starts", "the debrief of {} starts", "the debrief of {} started")
    MEETING_STARTS = ("meeting-starts", "{} starts", "{} started")
    MEETING_ENDS = ("meeting-ends", "{} ends", "{} ended")
    LOOKAHEAD = (
        "lookahead",
        "{} comes within the look-ahead",
        "{} came within the look-ahead",
    )
    AGENDA_DUE = ("agenda-due", "the agenda of {} is due", "the agenda of {} fell due")
    DEBRIEF_READABLE = (
        "debrief-readable",
        "the debrief of {} becomes readable",
        "the debrief of {} became readable",
    )
    DEBRIEF_SETTLES = (
        "debrief-settles",
        "your debrief of {} goes into the agenda",
        "your debrief of {} went into the agenda",
    )
    PLAN_SETTLES = (
        "plan-settles",
        "your call plan for {} goes into the agenda",
        "your call plan for {} went into the agenda",
    )
    AGENDA_FALLBACK = (
        "agenda-fallback",
        "the default agenda of {} is due (no purpose written)",
        "the default agenda of {} fell due (no purpose written)",
    )
    DEBRIEF_RECHECK = (
        "debrief-recheck",
        "the debrief of {} is due to be read again",
        "the debrief of {} was due to be read again",
    )
    HARVEST_ENDS = (
        "harvest-ends",
        "reading back the debrief of {} ends",
        "reading back the debrief of {} ended",
    )
    DAY_ENDS = ("day-ends", "the day of {} ends", "the day of {} ended")
    NEW_DAY = ("new-day", "a new day begins", "a new day began")
    WINDOW_MOVES = (
        "window-moves",
        "the calendar window moves to the next day",
        "the calendar window moved to the next day",
    )

    def __new__(cls, code: str, coming: str, came: str) -> Rule:
        member = object.__new__(cls)
        member._value_ = code
        member.coming = coming
        member.came = came
        return member

    coming: str
    came: str

    @classmethod
    def named(cls, code: str) -> Rule:
        """The rule the store keeps as `code`; ValueError when this callplan knows none (a
        newer one wrote it)."""
        for rule in cls:
            if rule.value == code:
                return rule
        raise ValueError(f"no rule named {code!r}")


@dataclass(frozen=True)
class Deadline:
    """The first instant at which a plan could change, and what happens then."""

    at: datetime
    rule: Rule
    subject: str = ""  # the meeting's title (or the block's), when the rule concerns one

    def _who(self) -> str:
        return f"'{self.subject}'" if self.subject else "a meeting"

    def coming(self) -> str:
        """What will happen, for a sentence: "the prep of 'Globex review' starts"."""
        return self.rule.coming.format(self._who())

    def came(self) -> str:
        """What happened, for a sentence: "the prep of 'Globex review' started"."""
        return self.rule.came.format(self._who())


def earliest(*deadlines: Deadline | None) -> Deadline | None:
    """The first of some deadlines (None: none of them)."""
    found = [deadline for deadline in deadlines if deadline is not None]
    return min(found, key=lambda deadline: deadline.at) if found else None


def elapsed(when: datetime, span: timedelta) -> datetime:
    """The instant `span` after `when` (before, if negative) in elapsed time, as a UTC clock
    counts it: a change to or from summer time in between does not move it by an hour."""
    return when.astimezone(UTC) + span


def next_midnight(when: datetime, zone: tzinfo) -> datetime:
    """The first instant of the local day after the one `when` falls on."""
    day = when.astimezone(zone).date() + timedelta(days=1)
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


class Clock:
    """`now`, and the earliest instant at which any answer it gave would turn.

    Each question names the rule that asks it and the meeting it concerns, so the deadline
    can say what happens then. An instant that has come cannot be undone (time only moves
    forward), so an answer that holds from it on is never noted.
    """

    __slots__ = ("now", "_utc", "_at", "_rule", "_subject")

    def __init__(self, now: datetime) -> None:
        self.now = now
        # now in UTC as well, for instants in UTC (`elapsed` gives those): two times in one zone
        # compare by their fields, two in different zones by their offsets, which a zone such as
        # Europe/Berlin looks up for each time at every comparison. Each question picks the one
        # in `at`'s zone itself, not through a helper: a plan asks tens of thousands of them
        self._utc = now.astimezone(UTC)
        self._at: datetime | None = None
        self._rule = Rule.NEW_DAY
        self._subject = ""

    def note(self, at: datetime, rule: Rule, subject: str = "") -> None:
        """An instant at which an answer turns, when it is still to come."""
        if at > (self._utc if at.tzinfo is UTC else self.now):
            self._sooner(at, rule, subject)

    def _sooner(self, at: datetime, rule: Rule, subject: str) -> None:
        """An instant still to come at which an answer turns: the deadline, if it is the
        earliest yet."""
        if self._at is None or at < self._at:
            self._at, self._rule, self._subject = at, rule, subject

    def reached(self, at: datetime, rule: Rule, subject: str = "") -> bool:
        """Has `at` come (now >= at)? It turns when `at` comes (then still to come, as the
        question just found: noted without asking again)."""
        if (self._utc if at.tzinfo is UTC else self.now) >= at:
            return True
        self._sooner(at, rule, subject)
        return False

    def before(self, at: datetime, rule: Rule, subject: str = "") -> bool:
        """Is `at` still to come (now < at)? `not reached(...)`, asked here rather than through
        it: a plan asks this of every meeting and slot, and a call costs more than the test."""
        if (self._utc if at.tzinfo is UTC else self.now) >= at:
            return False
        self._sooner(at, rule, subject)
        return True

    def past(self, at: datetime, rule: Rule, subject: str = "") -> bool:
        """Has `at` gone by (now > at)? It turns just after `at` (then still to come)."""
        if (self._utc if at.tzinfo is UTC else self.now) > at:
            return True
        self._sooner(at + RESOLUTION, rule, subject)
        return False

    def today(self, zone: tzinfo, rule: Rule = Rule.NEW_DAY) -> date:
        """The local date of now; it turns at the next local midnight."""
        self.note(next_midnight(self.now, zone), rule)
        return self.now.astimezone(zone).date()

    @property
    def deadline(self) -> Deadline | None:
        """The earliest instant at which an answer would turn (None: none would)."""
        return None if self._at is None else Deadline(self._at, self._rule, self._subject)
