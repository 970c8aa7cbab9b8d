"""Rules the planner, undo, the loop and the engine share give the same answer wherever asked:
whether a person wrote in a block, what a block that vanished means, and whose meeting it was.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import replace

import pytest

from agent.core.model import BodyFormat, Event, Kind, Status
from agent.state.store import CalendarKey
from agent.sync.engine import AccountSync
from agent.sync.undo import undo
from agent.text.form import fill_in
from tests.support.helpers import World, account, at, meeting
from tests.support.memory_calendar import CALENDAR

MEMORY = CalendarKey("alex", CALENDAR)


def deleted_after_the_read(world: World, ref: str) -> None:
    """A person deletes `ref` during the next cycle, after it read the calendar and before it
    writes: the write finds the block gone."""
    read = world.connector.changes

    def read_then_delete(*args):  # type: ignore[no-untyped-def]
        delta = read(*args)
        world.calendar.person_delete(ref)
        world.connector.changes = read  # type: ignore[method-assign]
        return delta

    world.connector.changes = read_then_delete  # type: ignore[method-assign]


def recorded(world: World, kind: Kind, event: Event) -> list[str]:
    """The refs the store records for the `kind` artifact of a meeting."""
    return [a.ref for a in world.store.artifacts() if (a.kind, a.meeting_key) == (kind, event.key)]


# -- did a person write in this block? -----------------------------------------------------------

Edit = Callable[[Event], dict[str, object]]
EDITS: dict[str, tuple[Edit, bool]] = {
    "as written": (lambda block: {}, False),
    "handed back as HTML by the provider": (
        lambda block: {
            "description": "<p>" + html.escape(block.description).replace("\n", "<br>") + "</p>",
            "body_format": BodyFormat.HTML,
        },
        False,
    ),
    "answers written in it": (
        lambda block: {"description": fill_in(block.description, {"Primary objective": "Pilot"})},
        True,
    ),
    "renamed": (lambda block: {"title": "Globex: my notes"}, True),
}


@pytest.mark.parametrize("name", EDITS)
def test_the_planner_undo_and_the_loop_agree_whether_a_person_wrote_in_a_block(name: str) -> None:
    edit, edited = EDITS[name]
    # the planner: a cancelled meeting's debrief goes, unless a person wrote in it
    world = World()
    demo = world.add(meeting("Globex", at(1, 10)))
    world.cycle()
    block = world.block_for("debrief", demo)
    world.calendar.person_edit(block.ref, **edit(block))
    world.calendar.person_edit(demo.ref, status=Status.CANCELLED)
    world.cycle()
    assert bool(world.blocks("debrief")) is edited
    # undo: the same block is left in place exactly when the planner kept it
    world = World()
    demo = world.add(meeting("Globex", at(1, 10)))
    world.cycle()
    block = world.block_for("debrief", demo)
    world.calendar.person_edit(block.ref, **edit(block))
    report = undo(world.sync)
    assert bool(world.blocks("debrief")) is edited and bool(report.kept) is edited
    # the loop: once the meeting is over, the debrief is read back exactly when it was kept
    world = World()
    demo = world.add(meeting("Globex", at(0, 10)))
    world.cycle()
    block = world.block_for("debrief", demo)
    world.calendar.person_edit(block.ref, **edit(block))
    world.now = at(0, 12)
    world.cycle()
    (held,) = world.store.held()
    assert bool(held.debrief_content) is edited


# -- a block that vanished: deleted by a person (tombstone) or by us (forget) ---------------------


def test_a_duplicate_the_agent_deletes_leaves_the_meetings_recorded_block_recorded() -> None:
    world = World()
    demo = world.add(meeting("Globex", at(1, 10)))
    world.cycle()
    prep = world.block_for("prep", demo)
    world.calendar.person_add(replace(prep, ref="", key=""))  # a copy, tag and all
    assert world.applied() == ["delete"]
    assert world.blocks("prep") == [world.get(prep)] and recorded(world, Kind.PREP, demo) == [
        prep.ref
    ]
    assert world.applied() == []  # nothing was forgotten, so there is nothing to adopt again


def test_a_duplicate_a_person_deletes_first_leaves_the_meetings_recorded_block_recorded() -> None:
    world = World()
    demo = world.add(meeting("Globex", at(1, 10)))
    world.cycle()
    prep = world.block_for("prep", demo)
    copy = world.calendar.person_add(replace(prep, ref="", key=""))
    deleted_after_the_read(world, copy.ref)
    world.cycle()
    assert recorded(world, Kind.PREP, demo) == [prep.ref]
    assert world.store.tombstones(MEMORY) == frozenset() and world.applied() == []


def test_a_block_its_meeting_no_longer_wants_that_vanishes_is_forgotten_blaming_nobody() -> None:
    """The meeting turned internal: the agent deletes its blocks, and a person beat it to one.
    As when the planner finds it gone, nobody is blamed and nothing is tombstoned."""
    world = World()
    demo = world.add(meeting("Globex", at(1, 10)))
    world.cycle()
    prep = world.block_for("prep", demo)
    world.calendar.person_edit(
        demo.ref, attendees=meeting("x", at(1, 10), guests=["bo@acme.example"]).attendees
    )
    deleted_after_the_read(world, prep.ref)
    report = world.cycle()
    outcomes = {change.kind: outcome for change, outcome in report.calendars[0].applied}
    assert outcomes[Kind.PREP] == "gone: no longer needed"
    entry = next(entry for entry in world.store.audit() if entry.ref == prep.ref)  # the latest
    assert entry.action == "forget" and "person" not in entry.reason
    assert recorded(world, Kind.PREP, demo) == [] and world.store.tombstones(MEMORY) == frozenset()
    world.calendar.person_edit(
        demo.ref, attendees=demo.attendees
    )  # a customer again: it comes back
    world.cycle()
    assert len(world.blocks("prep")) == 1


def test_a_block_its_meeting_wants_that_vanishes_as_it_is_moved_is_tombstoned() -> None:
    world = World()
    demo = world.add(meeting("Globex", at(1, 10)))
    world.cycle()
    prep = world.block_for("prep", demo)
    world.calendar.person_edit(demo.ref, start=at(1, 14), end=at(1, 15))
    deleted_after_the_read(world, prep.ref)
    report = world.cycle()
    outcomes = {change.kind: outcome for change, outcome in report.calendars[0].applied}
    assert outcomes[Kind.PREP] == "gone: deleted by a person"
    assert world.store.tombstones(MEMORY) == frozenset({(Kind.PREP, demo.key)})
    assert world.applied() == [] and world.blocks("prep") == []


# -- whose meeting was it? -------------------------------------------------------------------------


def test_a_held_meeting_counts_for_the_customer_the_planner_would_give_it_today() -> None:
    """Partners outnumbered the customer in the first meeting; the seller then excludes the
    partner's domain. The next meeting with the customer follows up on the first, as the
    planner would see it with today's rules, not as a partner's meeting."""
    guests = ["pia@partner.example", "per@partner.example", "dana@globex.example"]
    world = World()
    first = world.add(meeting("Globex intro", at(0, 10), guests=guests))
    world.cycle()
    world.now = at(0, 12)
    world.cycle()  # the first meeting is held
    world.now = at(2, 8)  # and it has left the calendar's window, so only the held row is left
    world.account = account(
        rules={"internal_domains": ["acme.example"], "exclude_domains": ["partner.example"]}
    )
    world.sync = AccountSync(
        world.account, world.connector, world.store, world.renderer, clock=world.clock
    )
    second = world.add(meeting("Globex pilot", at(3, 10), guests=guests))
    world.cycle()
    prep = world.block_for("prep", second).description
    assert "Follow-up with Globex: you last met on Mon 18 Mar 2030." in prep, prep
    assert world.store.held()[0].meeting_key == first.key
