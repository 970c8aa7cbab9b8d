"""The planner's deadline: each rule that reads the clock notes its instant, and the deadline
is exact (just before it, the same inputs give the same changes)."""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.core.clock import RESOLUTION, Clock, Deadline, Rule
from agent.core.history import Owned
from agent.plan.classify import Classifier
from agent.plan.planner import Plan, plan
from agent.state.store import CalendarKey
from agent.sync.engine import window_for
from tests.support.helpers import World, at, meeting
from tests.support.memory_calendar import CALENDAR
from tests.unit.test_planner_properties import build, meetings


def plan_at(world: World, when: datetime | None = None) -> Plan:
    """What the world's engine would plan at `when` (its clock's now) from what its calendar and
    store hold."""
    when = when or world.now
    key = CalendarKey(world.account.name, CALENDAR)
    events = list(world.calendar.events.values())
    owned = Owned(
        blocks=tuple(event for event in events if event.is_block),
        records={(a.kind, a.meeting_key): a.record() for a in world.store.artifacts(key)},
        tombstones=world.store.tombstones(key),
    )
    settings = world.account.settings
    window = window_for(world.now, settings.lookahead_days, settings.timezone)
    meetings = [event for event in events if not event.is_block]
    rules = Classifier(settings)
    history = world.sync.harvester.history(Clock(world.now), rules)
    return plan(when, meetings, owned, [], settings, world.renderer, window, history, rules)


def converged(world: World) -> Plan:
    """The world after a cycle, and what planning again would say (nothing to do, and until
    when)."""
    world.cycle()
    planned = plan_at(world)
    assert planned.changes == []
    return planned


def test_an_existing_prep_is_history_once_it_starts() -> None:
    world = World()
    world.add(meeting("Globex", at(0, 10)))
    assert converged(world).deadline == Deadline(at(0, 9, 45), Rule.PREP_STARTS, "Globex")


def test_a_moved_debrief_after_its_meeting_ended_is_history_once_it_starts() -> None:
    world = World(prep={"enabled": False}, agenda={"enabled": False})
    demo = world.add(meeting("Globex", at(0, 10)))
    world.cycle()
    debrief = world.block_for("debrief", demo)
    world.calendar.person_edit(debrief.ref, start=at(0, 15), end=at(0, 15, 15))
    world.now = at(0, 11, 5)
    expected = Deadline(at(0, 15), Rule.DEBRIEF_STARTS, "Globex")
    assert converged(world).deadline == expected


def test_an_agenda_is_frozen_once_its_meeting_starts() -> None:
    world = World(prep={"enabled": False})
    world.add(meeting("Globex", at(0, 10)))
    assert converged(world).deadline == Deadline(at(0, 10), Rule.MEETING_STARTS, "Globex")


def test_a_meeting_under_way_leaves_planning_when_it_ends() -> None:
    world = World()
    world.add(meeting("Globex", at(0, 10)))
    world.cycle()
    world.now = at(0, 10, 30)
    assert converged(world).deadline == Deadline(at(0, 11), Rule.MEETING_ENDS, "Globex")


def test_a_meeting_beyond_the_look_ahead_comes_within_it() -> None:
    world = World(lookahead_days=3)
    world.add(meeting("Globex later", at(6, 10)))
    expected = Deadline(at(3, 10) + RESOLUTION, Rule.LOOKAHEAD, "Globex later")
    assert converged(world).deadline == expected


def test_an_agenda_falls_due_its_lead_time_before_the_meeting() -> None:
    world = World(agenda={"lead_days": 2}, prep={"enabled": False}, debrief={"enabled": False})
    world.add(meeting("Globex next week", at(7, 10)))
    expected = Deadline(at(5, 10), Rule.AGENDA_DUE, "Globex next week")
    assert converged(world).deadline == expected


def test_a_slot_found_by_searching_is_there_until_it_starts() -> None:
    """The hour before the meeting is taken and working hours start at 9: the prep goes to the
    last free quarter before them, which no later search finds once its start has gone by."""
    world = World(debrief={"enabled": False}, agenda={"enabled": False})
    world.add(meeting("Internal", at(0, 9), guests=["bo@acme.example"]))
    world.add(meeting("Globex", at(0, 10)))
    first = plan_at(world)
    assert first.deadline == Deadline(at(0, 8, 45) + RESOLUTION, Rule.PREP_STARTS, "Globex")
    assert plan_at(world, at(0, 8, 45)) == first
    later = plan_at(world, at(0, 8, 45) + RESOLUTION)
    assert later.changes != first.changes


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(meetings, st.lists(st.integers(1, 3 * 24 * 4), max_size=3))
def test_just_before_the_deadline_a_plan_is_the_same(specs: list[dict], steps: list[int]) -> None:
    """Whatever the calendar and however far time moved, planning one second before the
    deadline gives the changes planning gave: before a first cycle, and after each."""
    world = World()
    build(world, specs)
    for quarters in [0, *steps]:
        world.now += timedelta(minutes=15 * quarters)
        for _ in range(2):
            first = plan_at(world)
            if first.deadline is not None:
                just_before = max(world.now, first.deadline.at - timedelta(seconds=1))
                assert plan_at(world, just_before).changes == first.changes
            world.cycle()
