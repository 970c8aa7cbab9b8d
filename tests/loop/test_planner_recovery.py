"""Recovering from a crash between a provider write and the database write, on a memory calendar.

The crash is simulated by making the store's record() fail for one action after the
connector has applied it, as SIGKILL would at that moment (tests/faults does it for real).
"""

from __future__ import annotations

import pytest

from agent.core.model import Kind, Status
from agent.state.store import CalendarKey
from tests.support.helpers import World, at, meeting
from tests.support.memory_calendar import CALENDAR

MEMORY = CalendarKey("alex", CALENDAR)


def crash_on(world: World, action: str) -> None:
    """The next record() of `action` fails: the calendar has the change, the database not."""
    record = world.store.record

    def crashing(**kwargs):  # type: ignore[no-untyped-def]
        if kwargs["action"] == action:
            world.store.record = record  # type: ignore[method-assign]
            raise KeyboardInterrupt(f"killed after the provider applied a {action}")
        return record(**kwargs)

    world.store.record = crashing  # type: ignore[method-assign]


def test_a_block_deleted_by_the_agent_just_before_a_crash_is_forgotten_not_tombstoned() -> None:
    world = World()
    demo = world.add(meeting("Globex", at(0, 10)))
    world.cycle()
    world.calendar.person_edit(demo.ref, status=Status.CANCELLED)
    crash_on(world, "delete")
    with pytest.raises(KeyboardInterrupt):
        world.sync.cycle()
    assert "forget" in world.applied() and world.store.tombstones(MEMORY) == frozenset()
    assert [entry.action for entry in world.store.audit() if entry.action == "tombstone"] == []
    # it is on again: so are its blocks
    world.calendar.person_edit(demo.ref, status=Status.CONFIRMED)
    world.cycle()
    assert len(world.blocks("prep")) == 1 and len(world.blocks("debrief")) == 1


def test_an_agenda_stripped_by_the_agent_just_before_a_crash_is_forgotten_not_tombstoned() -> None:
    world = World()
    demo = world.add(meeting("Globex", at(0, 10), description="Intro"))
    world.cycle()
    world.calendar.person_edit(
        demo.ref, attendees=meeting("x", at(0, 10), guests=["bo@acme.example"]).attendees
    )
    crash_on(world, "strip agenda")
    with pytest.raises(KeyboardInterrupt):
        world.sync.cycle()
    assert world.get(demo).description == "Intro"
    assert world.applied() == ["forget"]
    assert [(e.action, e.ref) for e in world.store.audit()][0] == ("forget", demo.ref)
    assert world.store.tombstones(MEMORY) == frozenset()
    world.calendar.person_edit(demo.ref, attendees=demo.attendees)  # a customer is invited again
    world.cycle()
    assert world.get(demo).description.startswith("Intro\n\n") and (Kind.AGENDA, demo.key) in {
        (a.kind, a.meeting_key) for a in world.store.artifacts()
    }


def test_a_block_a_person_deleted_from_a_meeting_that_still_wants_it_is_tombstoned() -> None:
    world = World()
    demo = world.add(meeting("Globex", at(0, 10)))
    world.cycle()
    prep = world.block_for("prep", demo)
    world.calendar.person_delete(prep.ref)
    assert world.applied() == ["tombstone"]
    assert world.store.tombstones(MEMORY) == frozenset({(Kind.PREP, demo.key)})
    # the audit log says which block it was
    assert [(e.action, e.ref) for e in world.store.audit()][0] == ("tombstone", prep.ref)


def test_the_agenda_record_of_a_meeting_a_person_deleted_is_forgotten() -> None:
    """Google reports a cancelled meeting as deleted: its agenda went with it, and the state
    database must not keep claiming an agenda on an event that no longer exists."""
    world = World()
    demo = world.add(meeting("Globex", at(0, 10), description="Intro"))
    world.cycle()
    assert (Kind.AGENDA, demo.key) in {(a.kind, a.meeting_key) for a in world.store.artifacts()}
    world.calendar.person_delete(demo.ref)
    assert sorted(world.applied()) == ["delete", "delete", "forget"]
    assert world.store.artifacts() == [] and world.store.tombstones(MEMORY) == frozenset()


def test_a_meeting_moved_beyond_the_window_and_back_keeps_one_agenda() -> None:
    """Out of the window a meeting looks deleted, and its agenda record is forgotten; back in
    the window its agenda is found by its tag and adopted, never written a second time."""
    world = World(lookahead_days=3)
    later = world.add(meeting("Globex", at(1, 10), description="Intro"))
    world.cycle()
    written = world.get(later).description
    world.calendar.person_edit(later.ref, start=at(9, 10), end=at(9, 11))
    assert "forget" in world.applied()
    world.calendar.person_edit(later.ref, start=at(1, 10), end=at(1, 11))
    assert "adopt" in world.applied() and world.applied() == []
    assert world.get(later).description == written
    assert (Kind.AGENDA, later.key) in {(a.kind, a.meeting_key) for a in world.store.artifacts()}
