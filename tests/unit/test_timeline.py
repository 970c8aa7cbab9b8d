"""A timeline of busy time answers as the set of busy minutes it holds does, however its
intervals were added: overlapping, touching or apart, in any order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.core.model import Interval
from agent.plan.placement import Timeline

ORIGIN = datetime(2030, 3, 18, tzinfo=UTC)
SPAN = 40  # minutes the intervals fall in


def _at(minute: int) -> datetime:
    return ORIGIN + timedelta(minutes=minute)


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
