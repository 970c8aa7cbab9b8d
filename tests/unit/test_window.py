"""The one rule for which events a window holds (agent.core.model.Window.holds), at its edges.

Every connector applies it; tests/providers/connector_contract.py checks each provider at these same
edges."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from agent.core.model import Interval, Window

ZONE = ZoneInfo("Europe/Berlin")
START, END = datetime(2030, 3, 17, tzinfo=ZONE), datetime(2030, 4, 1, tzinfo=ZONE)
WINDOW = Window(START, END)
HOUR = timedelta(hours=1)


@pytest.mark.parametrize(
    ("span", "held"),
    [
        (Interval(START - HOUR, START), False),  # ends exactly when the window starts
        (Interval(END, END + HOUR), False),  # starts exactly when it ends
        (Interval(START, START), True),  # an instant at the start: the start belongs to the window
        (Interval(END, END), False),  # an instant at the end: the end does not
        (Interval(START + HOUR, START + HOUR), True),  # an instant inside
        (Interval(START - HOUR, END + HOUR), True),  # spans the whole window
        (Interval(START - HOUR, START + timedelta(seconds=1)), True),  # reaches one second in
        (Interval(END - timedelta(seconds=1), END + HOUR), True),  # starts a second before the end
        (Interval(START, END), True),  # the window itself
    ],
)
def test_an_event_is_held_when_it_overlaps_the_window_and_an_instant_when_the_window_contains_it(
    span: Interval, held: bool
) -> None:
    assert WINDOW.holds(span) is held


def test_the_rule_is_the_same_in_any_zone() -> None:
    utc = ZoneInfo("UTC")
    assert WINDOW.holds(Interval(START.astimezone(utc), START.astimezone(utc)))
    assert not WINDOW.holds(Interval(END.astimezone(utc), END.astimezone(utc) + HOUR))


def test_widened_asks_for_more_on_both_sides() -> None:
    assert WINDOW.widened(HOUR) == Window(START - HOUR, END + HOUR)
