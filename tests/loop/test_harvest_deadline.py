"""The harvest's and the history's clock rules: each notes the instant at which it would do
otherwise, and a cycle's deadline is the earliest of theirs, the plan's and the window's."""

from __future__ import annotations

from datetime import datetime

from agent.core.clock import RESOLUTION, Clock, Deadline, Rule
from agent.core.model import Delta
from agent.plan.classify import Classifier
from agent.state.store import CalendarKey
from tests.loop.test_loop import ANSWERS, write_debrief
from tests.support.helpers import World, at, meeting
from tests.support.memory_calendar import CALENDAR


def harvest_at(world: World, when: datetime | None = None) -> Deadline | None:
    """Run the world's harvest at `when` over what its store mirrors (the read brought nothing),
    and say when it would do otherwise."""
    clock = Clock(when or world.now)
    key = CalendarKey(world.account.name, CALENDAR)
    rules = Classifier(world.account.settings)
    world.sync.harvester.run(key, world.store.events(key), Delta(), clock, rules)
    return clock.deadline


def history_at(world: World, when: datetime | None = None) -> Deadline | None:
    clock = Clock(when or world.now)
    world.sync.harvester.history(clock, Classifier(world.account.settings))
    return clock.deadline


def test_a_customer_meeting_is_recorded_as_held_when_it_ends() -> None:
    world = World()
    world.add(meeting("Globex", at(0, 10)))
    world.cycle()
    assert harvest_at(world) == Deadline(at(0, 11), Rule.MEETING_ENDS, "Globex")


def test_the_next_meeting_is_judged_until_the_meeting_s_day_ends() -> None:
    world = World()
    world.add(meeting("Globex", at(0, 10)))
    world.cycle()
    world.now = at(0, 11, 30)
    world.cycle()  # recorded as held, debrief read
    assert harvest_at(world) == Deadline(at(1, 0), Rule.DAY_ENDS, "Globex")


def test_a_debrief_becomes_readable_when_its_block_ends() -> None:
    world = World()
    world.add(meeting("Globex", at(0, 10)))
    world.cycle()
    world.now = at(0, 11, 5)
    assert harvest_at(world) == Deadline(at(0, 11, 15), Rule.DEBRIEF_READABLE, "Globex")


def test_a_debrief_outside_the_window_is_read_again_after_recheck_hours() -> None:
    world = World()
    world.add(meeting("Globex", at(0, 10)))
    world.cycle()
    world.now = at(2, 9)  # the meeting left the mirror: its debrief is read by reference
    world.cycle()
    expected = Deadline(at(2, 15), Rule.DEBRIEF_RECHECK, "Globex")
    assert harvest_at(world) == expected
    assert harvest_at(world, at(2, 15) - RESOLUTION) == expected


def test_a_debrief_is_read_back_for_harvest_days_after_its_meeting() -> None:
    world = World(debrief={"recheck_hours": 24 * 30, "harvest_days": 3})
    world.add(meeting("Globex", at(0, 10)))
    world.cycle()
    world.now = at(2, 9)
    world.cycle()
    assert harvest_at(world) == Deadline(at(3, 10) + RESOLUTION, Rule.HARVEST_ENDS, "Globex")


def test_what_a_debrief_shares_reaches_the_agenda_when_it_settles() -> None:
    world = World()
    first = world.add(meeting("Globex discovery", at(0, 10)))
    world.add(meeting("Globex deep dive", at(3, 10)))
    world.cycle()
    write_debrief(world, first, ANSWERS)
    world.now = at(0, 12)
    world.cycle()  # read back: it settles 30 minutes later
    expected = Deadline(at(0, 12, 30), Rule.DEBRIEF_SETTLES, "Globex discovery")
    assert history_at(world) == expected
    assert world.cycle().calendars[0].outcome.deadline == expected


def test_a_carried_commitment_may_fall_overdue_when_a_new_day_begins() -> None:
    world = World()
    first = world.add(meeting("Globex discovery", at(0, 10)))
    world.cycle()
    write_debrief(world, first, ANSWERS)
    world.now = at(0, 12)
    world.cycle()
    assert history_at(world, at(0, 13)) == Deadline(at(1, 0), Rule.NEW_DAY)


def test_a_recorded_debrief_joins_the_history_when_its_meeting_starts() -> None:
    world = World()
    world.add(meeting("Globex", at(0, 10)))
    world.cycle()
    assert history_at(world) == Deadline(at(0, 10) + RESOLUTION, Rule.MEETING_STARTS, "Globex")


def test_a_quiet_calendar_s_cycle_is_due_again_when_the_window_moves() -> None:
    world = World()
    world.add(meeting("Team", at(0, 10), guests=["bo@acme.example"]))
    report = world.cycle()
    assert report.calendars[0].outcome.deadline == Deadline(at(1, 0), Rule.WINDOW_MOVES)
    world.now = at(0, 23, 59)
    assert world.cycle().calendars[0].outcome.deadline == Deadline(at(1, 0), Rule.WINDOW_MOVES)
    world.now = at(1, 0)
    assert world.cycle().calendars[0].outcome.deadline == Deadline(at(2, 0), Rule.WINDOW_MOVES)


def test_a_cycle_s_deadline_is_the_earliest_of_the_plan_s_and_the_harvest_s() -> None:
    world = World()
    world.add(meeting("Globex", at(0, 10)))
    world.cycle()
    world.now = at(0, 9, 50)
    # the prep has started; the meeting starts at 10:00 (its agenda is frozen, the history
    # gains its debrief's record just after)
    deadline = world.cycle().calendars[0].outcome.deadline
    assert deadline == Deadline(at(0, 10), Rule.MEETING_STARTS, "Globex")
    world.now = at(0, 10, 30)
    assert world.cycle().calendars[0].outcome.deadline == Deadline(
        at(0, 11), Rule.MEETING_ENDS, "Globex"
    )
