"""The clock a plan reads: each answer about `now`, and the first instant one would turn."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.core.clock import RESOLUTION, Clock, Deadline, Rule, earliest, elapsed, next_midnight
from tests.support.helpers import BERLIN, at

NOW = at(0, 7)


def test_reached_and_before_turn_when_the_instant_comes() -> None:
    clock = Clock(NOW)
    assert clock.reached(at(0, 6), Rule.PREP_STARTS, "Old")  # come already: nothing to note
    assert clock.reached(NOW, Rule.PREP_STARTS, "Now")
    assert clock.deadline is None
    assert not clock.reached(at(0, 10), Rule.MEETING_STARTS, "Globex")
    assert clock.before(at(0, 9, 45), Rule.PREP_STARTS, "Globex")
    assert clock.deadline == Deadline(at(0, 9, 45), Rule.PREP_STARTS, "Globex")


def test_past_turns_just_after_the_instant() -> None:
    clock = Clock(NOW)
    assert not clock.past(NOW, Rule.LOOKAHEAD, "Far")  # now > now is false until the next step
    assert clock.deadline == Deadline(NOW + RESOLUTION, Rule.LOOKAHEAD, "Far")
    assert Clock(NOW + RESOLUTION).past(NOW, Rule.LOOKAHEAD)


def test_the_first_instant_noted_is_kept_and_a_tie_keeps_the_first_rule() -> None:
    clock = Clock(NOW)
    clock.note(at(0, 11), Rule.MEETING_ENDS, "Globex")
    clock.note(at(0, 11), Rule.DEBRIEF_STARTS, "Globex")
    clock.note(at(0, 12), Rule.MEETING_ENDS, "Initech")
    clock.note(NOW, Rule.NEW_DAY)  # not to come: ignored
    assert clock.deadline == Deadline(at(0, 11), Rule.MEETING_ENDS, "Globex")


def test_today_turns_at_the_next_local_midnight() -> None:
    clock = Clock(datetime(2030, 3, 18, 23, 30, tzinfo=UTC))  # already Tuesday in Berlin
    assert clock.today(BERLIN) == date(2030, 3, 19)
    assert clock.deadline == Deadline(at(2, 0), Rule.NEW_DAY)


def test_midnight_on_a_day_that_skips_it_is_when_the_new_day_begins() -> None:
    """Santiago springs forward at midnight: 8 September 2030 begins at 01:00 local time."""
    santiago = ZoneInfo("America/Santiago")
    evening = datetime(2030, 9, 7, 23, 0, tzinfo=santiago)
    midnight = next_midnight(evening, santiago)
    assert midnight == datetime(2030, 9, 8, 4, tzinfo=UTC)
    assert midnight.astimezone(santiago).date() == date(2030, 9, 8)
    assert (midnight - RESOLUTION).astimezone(santiago).date() == date(2030, 9, 7)


def test_elapsed_time_does_not_jump_with_summer_time() -> None:
    """Berlin springs forward on 31 March 2030: a week before a meeting on 2 April at 10:00 is
    7 × 24 hours before it, at 09:00 local time on 26 March."""
    meeting = datetime(2030, 4, 2, 10, tzinfo=BERLIN)
    week_before = elapsed(meeting, -timedelta(days=7))
    assert meeting - week_before == timedelta(hours=168)
    assert week_before.astimezone(BERLIN).hour == 9


def test_a_deadline_says_what_happens_as_it_comes_and_once_it_came() -> None:
    prep = Deadline(at(0, 9, 45), Rule.PREP_STARTS, "Globex review")
    assert prep.coming() == "the prep of 'Globex review' starts"
    assert prep.came() == "the prep of 'Globex review' started"
    assert Deadline(NOW, Rule.DEBRIEF_READABLE, "X").came() == "the debrief of 'X' became readable"
    assert Deadline(NOW, Rule.MEETING_STARTS).coming() == "a meeting starts"
    assert Deadline(NOW, Rule.WINDOW_MOVES).came() == "the calendar window moved to the next day"
    for rule in Rule:  # every rule says both, and the store can keep it by its value
        assert Rule.named(rule.value) is rule and rule.coming != rule.came


def test_earliest_of_several_deadlines() -> None:
    first = Deadline(at(0, 8), Rule.PREP_STARTS, "A")
    assert earliest(None, Deadline(at(0, 9), Rule.MEETING_STARTS, "B"), first, None) == first
    assert earliest(None, None) is None


_MINUTES = st.integers(min_value=-3 * 24 * 60, max_value=3 * 24 * 60)


@settings(max_examples=300, deadline=None)
@given(now=_MINUTES, times=st.lists(st.tuples(_MINUTES, st.booleans()), max_size=6))
def test_instants_in_utc_and_in_a_zone_are_answered_by_the_instant_they_are(
    now: int, times: list[tuple[int, bool]]
) -> None:
    """A plan asks of times in the seller's zone and in UTC (`elapsed`) alike, around a change
    to summer time: each answer, and the deadline, is the instant's, whatever its zone."""
    start = datetime(2030, 3, 30, 12, tzinfo=BERLIN)  # the clocks go forward the next night
    clock = Clock(elapsed(start, timedelta(minutes=now)).astimezone(BERLIN))
    noted = []
    for minutes, in_utc in times:
        when = elapsed(start, timedelta(minutes=minutes))
        when = when if in_utc else when.astimezone(BERLIN)
        instant = when.timestamp()
        assert clock.reached(when, Rule.PREP_STARTS) is (clock.now.timestamp() >= instant)
        assert clock.past(when, Rule.LOOKAHEAD) is (clock.now.timestamp() > instant)
        noted += [instant] if clock.now.timestamp() < instant else []
        noted += [instant + RESOLUTION.total_seconds()] if clock.now.timestamp() <= instant else []
    deadline = clock.deadline
    assert (deadline.at.timestamp() if deadline else None) == (min(noted) if noted else None)
