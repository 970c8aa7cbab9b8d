"""A timeline of busy time answers as the set of busy minutes it holds does, however its
intervals were added: overlapping, touching or apart, in any order. A placer's working hours
inside a span are those of each date the span touches."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.config.settings import WorkingHours
from agent.core.clock import Clock
from agent.core.model import Interval
from agent.plan.placement import ONE_DAY, Placer, Timeline

ORIGIN = datetime(2030, 3, 18, tzinfo=UTC)
SPAN = 40  # minutes the intervals fall in


def _at(minute: int) -> datetime:
    return ORIGIN + timedelta(minutes=minute)


def _wall(day: date, clock: time, zone: ZoneInfo) -> datetime:
    """A wall-clock time on a date, as it is: one in the gap of a change to summer time is
    the instant it names in the time before the change."""
    return datetime.combine(day, clock, tzinfo=zone).astimezone(UTC).astimezone(zone)


def _free_runs(busy: set[int], start: int, end: int) -> list[tuple[int, int]]:
    """The maximal runs of free minutes in [start, end)."""
    runs: list[tuple[int, int]] = []
    for minute in range(start, end):
        if minute in busy:
            continue
        if runs and runs[-1][1] == minute:
            runs[-1] = (runs[-1][0], minute + 1)
        else:
            runs.append((minute, minute + 1))
    return runs


_SPANS = st.lists(
    st.tuples(st.integers(0, SPAN), st.integers(0, 8)).map(
        lambda pair: (pair[0], pair[0] + pair[1])
    ),
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(
    first=_SPANS,
    added=_SPANS,
    probe=st.tuples(st.integers(0, SPAN), st.integers(0, SPAN)),
    length=st.integers(1, 8),
    latest=st.integers(0, SPAN),
)
def test_a_timeline_answers_as_its_busy_minutes_do(
    first: list[tuple[int, int]],
    added: list[tuple[int, int]],
    probe: tuple[int, int],
    length: int,
    latest: int,
) -> None:
    timeline = Timeline(Interval(_at(start), _at(end)) for start, end in first)
    for start, end in added:
        timeline.add(Interval(_at(start), _at(end)))
    busy = {minute for start, end in first + added for minute in range(start, end)}
    low, high = min(probe), max(probe) + 1
    runs = [(start, end) for start, end in _free_runs(busy, low, high) if end - start >= length]
    duration = timedelta(minutes=length)
    assert timeline.latest_fit(_at(low), _at(high), duration) == (
        _at(runs[-1][1]) if runs else None
    )
    starting = [start for start, _ in runs if start <= latest]
    assert timeline.first_fit(_at(low), _at(high), duration, _at(latest)) == (
        _at(starting[0]) if starting else None
    )
    assert timeline.is_free(Interval(_at(low), _at(high))) == (
        not busy.intersection(range(low, high))
    )


@settings(max_examples=200, deadline=None)
@given(
    spans=st.lists(
        st.tuples(st.integers(-3 * 24, 12 * 24), st.integers(1, 4 * 24)), min_size=1, max_size=6
    )
)
def test_working_spans_are_each_touched_date_s_hours_inside_the_span(
    spans: list[tuple[int, int]],
) -> None:
    """Spans of a few hours (inside one date's hours or not) and of days, in any order, across
    a change to summer time."""
    zone = ZoneInfo("Europe/Berlin")
    hours = WorkingHours()
    placer = Placer(hours, zone, Clock(datetime(2030, 3, 25, tzinfo=UTC)))
    for offset, length in spans:
        start = datetime(2030, 3, 25, tzinfo=UTC) + timedelta(hours=offset)
        end = start + timedelta(hours=length)
        first = start.astimezone(zone).date() - ONE_DAY
        dates = [first + ONE_DAY * n for n in range((end - start).days + 3)]
        days = [
            (_wall(day, hours.start, zone), _wall(day, hours.end, zone))
            for day in dates
            if day.weekday() in hours.weekday_numbers()
        ]
        expected = [
            (max(open_, start), min(close, end))
            for open_, close in days
            if open_ < end and start < close
        ]
        assert placer.working_spans(start, end) == expected
