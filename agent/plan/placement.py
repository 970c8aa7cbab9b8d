"""Where prep and debrief blocks go: pure slot finding over busy time and working hours.

All arithmetic is on aware datetimes; working hours are laid out per local date in the
seller's zone, so a day that is 23 or 25 hours long (DST) gets the right hours. Busy time is
kept in a `Timeline` of merged, sorted intervals so each search is a bisection, not a scan:
planning stays close to linear in the number of meetings.

A search never places a block in the past: `now` is its lower bound. Raising that bound
leaves a found slot where it is until the slot's start goes by (the gaps before it were
too short, and only get shorter; the gaps after it are untouched), and leaves a search that
found nothing finding nothing. So the one instant a search's answer depends on is just
after the start of the slot it found, and the searches note it on the plan's clock.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from agent.config.settings import WorkingHours
from agent.core.clock import Clock, Rule
from agent.core.model import Interval

Why = tuple[Rule, str]  # the rule and meeting a search is for, for the deadline it notes
# a span of time as a search walks them, (start, end): a search looks at many spans and gaps
# and keeps one slot, which alone becomes an Interval
Span = tuple[datetime, datetime]

ONE_DAY = timedelta(days=1)
AHEAD = timedelta(weeks=4)  # how far past a search's span a placer lays out working hours


class Timeline:
    """A set of busy intervals, kept sorted, no two overlapping (two may touch).

    Intervals that overlap are merged. An interval that only touches others, as a block
    placed right before or after a meeting does, extends one of them in place instead: the
    lists keep their length, and nothing after it moves (a plan adds its blocks one by one
    into a timeline of the whole calendar). A gap search steps over touching intervals.
    """

    def __init__(self, intervals: Iterable[Interval] = ()) -> None:
        starts: list[datetime] = []
        ends: list[datetime] = []
        for start, end in sorted(intervals):  # a plan lays out every busy meeting here
            if end <= start:
                continue
            if ends and start <= ends[-1]:
                if end > ends[-1]:
                    ends[-1] = end
            else:
                starts.append(start)
                ends.append(end)
        self._starts, self._ends = starts, ends

    def add(self, interval: Interval) -> None:
        start, end = interval
        if end <= start:
            return
        starts, ends = self._starts, self._ends
        # the stored intervals that overlap [start, end): [low, high). Those before `low` end by
        # `start`, so `high` is not before it, and mostly is it (a block is placed in free time):
        # that is looked at first, before a bisection of the rest
        low = bisect.bisect_right(ends, start)
        if low == len(starts) or starts[low] >= end:
            high = low
        else:
            high = bisect.bisect_left(starts, end, low + 1)
        if high - low == 1:  # overlaps one: it grows
            if start < starts[low]:
                starts[low] = start
            if end > ends[low]:
                ends[low] = end
        elif high > low:  # overlaps several: they become one
            starts[low:high] = [min(start, starts[low])]
            ends[low:high] = [max(end, ends[high - 1])]
        elif low and ends[low - 1] == start:  # touches the one before: it grows
            ends[low - 1] = end
        elif high < len(starts) and starts[high] == end:  # touches the one after: it grows
            starts[high] = start
        else:  # touches nothing: a new interval
            starts.insert(low, start)
            ends.insert(low, end)

    def is_free(self, interval: Interval) -> bool:
        start, end = interval
        index = bisect.bisect_right(self._ends, start)
        return index >= len(self._starts) or self._starts[index] >= end

    def first_fit(
        self, start: datetime, end: datetime, duration: timedelta, latest: datetime
    ) -> datetime | None:
        """The start of the first free interval inside [start, end) that is `duration` long
        (a positive span) and starts by `latest`, or None.

        The free intervals are walked in order, and the walk stops at the first one that starts
        after `latest`: every later one does too."""
        starts, ends = self._starts, self._ends
        cursor = start
        index = bisect.bisect_right(ends, start)
        while cursor < end and cursor <= latest:
            if index >= len(starts) or starts[index] >= end:
                return cursor if end - cursor >= duration else None
            if starts[index] - cursor >= duration:
                return cursor
            if ends[index] > cursor:
                cursor = ends[index]
            index += 1
        return None

    def latest_fit(self, start: datetime, end: datetime, duration: timedelta) -> datetime | None:
        """The end of the latest free interval inside [start, end) that is `duration` long (a
        positive span), or None: the free intervals are walked latest first."""
        starts, ends = self._starts, self._ends
        cursor = end
        index = bisect.bisect_left(starts, end) - 1
        while cursor > start:
            if index < 0 or ends[index] <= start:
                return cursor if cursor - start >= duration else None
            if cursor - ends[index] >= duration:
                return cursor
            if starts[index] < cursor:
                cursor = starts[index]
            index -= 1
        return None


def _wall(day, clock, zone: ZoneInfo) -> datetime:  # type: ignore[no-untyped-def]
    """A wall-clock time on a date, normalised through UTC so a time in a DST gap is real."""
    return datetime.combine(day, clock, tzinfo=zone).astimezone(UTC).astimezone(zone)


class Placer:
    """Finds slots for blocks given busy time, one seller's working hours, and the clock."""

    def __init__(self, hours: WorkingHours, zone: ZoneInfo, clock: Clock) -> None:
        self.hours = hours
        self.zone = zone
        self.clock = clock
        self._weekdays = hours.weekday_numbers()
        now = clock.now
        # the working hours of consecutive local dates, laid out once: a plan asks for the
        # same few days thousands of times, and each ask is then a bisection (none are laid
        # out yet: the dates from the day after today to today)
        self._last = now.astimezone(zone).date()
        self._first = self._last + ONE_DAY
        self._covered = Interval(now, now)  # the time those dates span
        self._starts: list[datetime] = []
        self._ends: list[datetime] = []

    def working_spans(self, start: datetime, end: datetime) -> list[Span]:
        """The working hours inside [start, end), in order."""
        if start >= end:
            return []
        if not (self._covered.start <= start and end <= self._covered.end):
            self._cover(start, end)
        starts, ends = self._starts, self._ends
        low = bisect.bisect_right(ends, start)
        high = bisect.bisect_left(starts, end)
        # each day's hours cut to [start, end), by comparisons rather than calls of max and min,
        # which cost many times more (a tie keeps the day's own time, as they would)
        if high - low == 1:  # a search mostly spans some of one day's hours
            first, last = starts[low], ends[low]
            return [(start if start > first else first, end if end < last else last)]
        return [
            (start if start > starts[day] else starts[day], end if end < ends[day] else ends[day])
            for day in range(low, high)
        ]

    def _cover(self, start: datetime, end: datetime) -> None:
        """Lay out the dates around [start, end) not laid out yet, and those of some weeks more
        after it, as a plan walks forward through its window (it comes here once every few
        weeks of it, not for every day)."""
        first = start.astimezone(self.zone).date() - ONE_DAY
        last = end.astimezone(self.zone).date() + ONE_DAY
        if first < self._first:
            starts, ends = self._lay_out(first, self._first - ONE_DAY)
            self._starts[:0] = starts
            self._ends[:0] = ends
            self._first = first
        if last > self._last:
            starts, ends = self._lay_out(self._last + ONE_DAY, last + AHEAD)
            self._starts += starts
            self._ends += ends
            self._last = last + AHEAD
        self._covered = Interval(
            _wall(self._first, time(0), self.zone), _wall(self._last, time(0), self.zone)
        )

    def _lay_out(self, first: date, last: date) -> tuple[list[datetime], list[datetime]]:
        """The starts and the ends of the working hours of the local dates from `first` to
        `last` (none when `last` is before `first`). The hours' times are read once, not for
        every date through the settings model's attribute look-up."""
        zone, weekdays = self.zone, self._weekdays
        opens, closes = self.hours.start, self.hours.end
        starts: list[datetime] = []
        ends: list[datetime] = []
        day = first
        while day <= last:
            if day.weekday() in weekdays:
                starts.append(_wall(day, opens, zone))
                ends.append(_wall(day, closes, zone))
            day += ONE_DAY
        return starts, ends

    def latest_before(
        self,
        busy: Timeline,
        duration: timedelta,
        end_by: datetime,
        earliest: datetime,
        working: bool,
        why: Why,
    ) -> Interval | None:
        """The latest free slot of `duration` ending by `end_by`, starting after both `earliest` and
        now."""
        now = self.clock.now
        floor = now if now > earliest else earliest  # max(earliest, now), without the call
        spans = self.working_spans(floor, end_by)[::-1] if working else [(floor, end_by)]
        for start, end in spans:
            found = busy.latest_fit(start, end, duration)
            if found is not None:
                return self._found(Interval(found - duration, found), why)
        return None

    def first_after(
        self,
        busy: Timeline,
        duration: timedelta,
        start_at: datetime,
        latest_start: datetime,
        working: bool,
        why: Why,
    ) -> Interval | None:
        """The first free slot of `duration` starting in [start_at, latest_start] and after now."""
        now = self.clock.now
        floor = now if now > start_at else start_at  # max(start_at, now), without the call
        if floor > latest_start:
            return None
        end = latest_start + duration
        spans = self.working_spans(floor, end) if working else [(floor, end)]
        for span_start, span_end in spans:
            found = busy.first_fit(span_start, span_end, duration, latest_start)
            if found is not None:
                return self._found(Interval(found, found + duration), why)
        return None

    def _found(self, slot: Interval, why: Why) -> Interval:
        """A slot found at or after now: the search would answer otherwise once its start has
        gone by (see the module's docstring)."""
        rule, subject = why
        self.clock.past(slot.start, rule, subject)
        return slot
