"""Time to notice: what a debrief shares reaches an agenda only once it has settled.

A debrief's shared part goes into the next agenda once the debrief has stayed unchanged for
agenda.settle_minutes (30 by default); meanwhile the next prep shows what the agenda carries
and what is about to change, so the seller can fix it before a customer sees it. All on the
real engine and store with an injected clock.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from agent.core.history import History, Past
from agent.core.model import Event
from agent.text import splice
from agent.text.debrief import carryover, parse
from tests.loop.test_loop import write_debrief
from tests.support.helpers import World, at, meeting

FIRST = {
    "Commitment, us": "- send the pilot proposal by 20 Mar",
    "Primary objective": "Agree the pilot scope",
}


def agenda(world: World, event: Event) -> str:
    meeting = world.get(event)
    return splice.TEXT.find(meeting.description, meeting.agenda_tag).body


def edit_debrief(world: World, event: Event, old: str, new: str) -> None:
    block = world.block_for("debrief", event)
    world.calendar.person_edit(block.ref, description=block.description.replace(old, new))


def two_meetings(**settings: Any) -> tuple[World, Event, Event]:
    world = World(**settings)
    first = world.add(meeting("Globex 1", at(0, 10)))
    second = world.add(meeting("Globex 2", at(3, 10)))
    world.cycle()
    return world, first, second


def test_an_edit_reaches_the_agenda_only_after_the_settle_time() -> None:
    world, first, second = two_meetings()
    write_debrief(world, first, FIRST)
    for minute in (0, 10, 29):
        world.now = at(0, 12, minute)
        world.cycle()
        assert "send the pilot proposal" not in agenda(world, second)
    world.now = at(0, 12, 30)
    world.cycle()
    assert "- we would send the pilot proposal (by Wed 20 Mar 2030)" in agenda(world, second)

    # a later edit waits in its turn, while the agenda keeps the version that had settled
    edit_debrief(
        world,
        first,
        "send the pilot proposal by 20 Mar",
        "send the pilot proposal with two options by 20 Mar",
    )
    world.now = at(0, 15)
    world.cycle()
    assert "- we would send the pilot proposal (by Wed 20 Mar 2030)" in agenda(world, second)
    world.now = at(0, 15, 29)
    world.cycle()
    assert "two options" not in agenda(world, second)
    world.now = at(0, 15, 30)
    world.cycle()
    assert "- we would send the pilot proposal with two options (by Wed 20 Mar 2030)" in agenda(
        world, second
    )


def test_a_burst_of_edits_gives_one_agenda_update() -> None:
    world, first, second = two_meetings()
    assert world.calendar.notifications == {"dana@globex.example": 2}
    write_debrief(world, first, {"Commitment, us": "- send pricing by 20 Mar"})
    for minute, (old, new) in enumerate(
        [("pricing", "the pricing"), ("20 Mar", "22 Mar"), ("the pricing", "pricing for 200 seats")]
    ):
        world.now = at(0, 12, minute * 10)
        world.cycle()
        edit_debrief(world, first, old, new)
    for minute in range(20, 120, 10):  # the last edit was read at 12:30; it settles at 13:00
        world.now = at(0, 12) + timedelta(minutes=minute + 10)
        world.cycle()
    # one update, with the final version
    assert world.calendar.notifications == {"dana@globex.example": 3}
    assert "- we would send pricing for 200 seats (by Fri 22 Mar 2030)" in agenda(world, second)


def test_the_prep_shows_what_the_agenda_carries_and_what_is_about_to_change() -> None:
    world, first, second = two_meetings()
    write_debrief(world, first, FIRST)
    world.now = at(0, 12)
    world.cycle()
    prep = world.block_for("prep", second).description
    assert (
        "WHAT THE AGENDA CARRIES FROM YOUR DEBRIEF\nNothing from your debrief yet.\nChanged in "
        "your debrief: goes into the agenda at 12:30 on Mon 18 Mar if you leave it as it is:\n"
        "Purpose: Agree the pilot scope\nWhen we met on Mon 18 Mar 2030, we agreed that\n- we "
        "would send the pilot proposal (by Wed 20 Mar 2030)\n\nTHE AGENDA AS THE CUSTOMER WILL SEE "
        "IT\n"
    ) in prep
    # callplan's notes on the debrief are in the preview, which it keeps up to date
    assert prep.index(splice.PREVIEW.begin) < prep.index("WHAT THE AGENDA CARRIES")
    world.now = at(0, 12, 30)
    world.cycle()
    prep = world.block_for("prep", second).description
    assert "Changed in your debrief" not in prep
    assert (
        "WHAT THE AGENDA CARRIES FROM YOUR DEBRIEF\nPurpose: Agree the pilot scope\nWhen we met on "
        "Mon 18 Mar 2030, we agreed that\n- we would send the pilot proposal (by Wed 20 Mar 2030)\n"
    ) in prep
    shown = agenda(world, second)
    assert (
        "Purpose\nAgree the pilot scope\n" in shown
        and "- we would send the pilot proposal (by Wed 20 Mar 2030)" in shown
    )

    # an edit: the prep shows both what goes out now and what will, and what was held back
    edit_debrief(
        world,
        first,
        "Agree the pilot scope",
        "Agree the pilot scope\nPrivate: push for three years",
    )
    world.now = at(0, 14, 5)
    world.cycle()
    prep = world.block_for("prep", second).description
    assert "Changed in your debrief" not in prep  # the shared part did not change: nothing waits
    assert (
        "Kept out of the agenda (marked private or unclear):\n- Private: push for three years\n"
        in prep
    )
    assert "three years" not in world.get(second).description


def test_the_debrief_block_is_never_rewritten_once_the_seller_wrote_in_it() -> None:
    world, first, second = two_meetings()
    write_debrief(world, first, FIRST)
    written = world.block_for("debrief", first)
    for minute in (0, 15, 30, 45, 120):
        world.now = at(0, 12) + timedelta(minutes=minute)
        world.cycle()
    after = world.block_for("debrief", first)
    assert (after.description, after.etag) == (written.description, written.etag)
    assert not [e for e in world.store.audit() if e.ref == written.ref and e.action != "create"]


def test_settle_minutes_zero_shares_at_once() -> None:
    world, first, second = two_meetings(agenda={"settle_minutes": 0})
    write_debrief(world, first, FIRST)
    world.now = at(0, 12)
    assert sorted(world.applied()) == ["update", "update", "write agenda"]
    assert "Changed in your debrief" not in world.block_for("prep", second).description


def test_a_new_debrief_leaves_the_agenda_with_the_last_settled_one_until_it_settles() -> None:
    """Meeting 2's debrief replaces meeting 1's in meeting 3's agenda in one step, when it
    settles."""
    world = World()
    first = world.add(meeting("Globex 1", at(0, 10)))
    second = world.add(meeting("Globex 2", at(1, 10)))
    third = world.add(meeting("Globex 3", at(3, 10)))
    world.cycle()
    write_debrief(world, first, {"Commitment, customer": "- send the data by 19 Mar"})
    for when in (at(0, 12), at(0, 12, 30)):
        world.now = when
        world.cycle()
    assert "- you would send the data (by Tue 19 Mar 2030)" in agenda(world, third)
    notified = world.calendar.notifications["dana@globex.example"]
    write_debrief(world, second, {"Commitment, us": "- draft the contract by 22 Mar"})
    world.now = at(1, 12)
    world.cycle()
    # still meeting 1's
    assert "- you would send the data (by Tue 19 Mar 2030)" in agenda(world, third)
    assert world.calendar.notifications["dana@globex.example"] == notified
    prep = world.block_for("prep", third).description
    assert (
        "WHAT THE AGENDA CARRIES FROM YOUR DEBRIEF\nWhen we met on Mon 18 Mar 2030, we agreed "
        "that\n" in prep
    )
    assert "goes into the agenda at 12:30 on Tue 19 Mar" in prep
    world.now = at(1, 12, 30)
    world.cycle()
    # meeting 2's form listed meeting 1's open commitment, and it stayed
    shown = agenda(world, third)
    assert (
        "When we met on Tue 19 Mar 2030, we agreed that\n- you would send the data (by Tue 19 Mar "
        "2030)\n"
        "- we would draft the contract (by Fri 22 Mar 2030)" in shown
    )
    assert world.calendar.notifications["dana@globex.example"] == notified + 1


def test_the_history_says_when_the_agenda_will_change() -> None:
    """The planner gets the settle instant as data (no clock read), with both parts."""
    day = at(0, 10).date()
    settled = parse("Commitment, us:\n- send pricing by 20 Mar", day)
    latest = parse("Commitment, us:\n- send pricing for 200 seats by 20 Mar", day)
    waiting = carryover(
        latest, "Globex 1", day, day, settles_at=at(0, 12, 30), settled=settled.shared
    )
    assert waiting.agreed is not None and [c.what for c in waiting.agreed.commitments] == [
        "send pricing"
    ]
    assert waiting.pending is not None and [c.what for c in waiting.pending.commitments] == [
        "send pricing for 200 seats"
    ]
    assert waiting.settles_at == at(0, 12, 30)
    shared = waiting.shared()
    assert shared is not None and [c.what for c in shared.commitments] == ["send pricing"]
    # an earlier debrief fills in while nothing of the latest has settled
    fresh = carryover(latest, "Globex 2", day, day, settles_at=at(1, 12, 30))
    history = History(
        [
            Past("globex", at(0, 10), "Globex 1", carryover(settled, "Globex 1", day, day)),
            Past("globex", at(1, 10), "Globex 2", fresh),
        ]
    )
    carry = history.carry_before("globex", at(3, 10))
    assert (
        carry is not None and carry.agreed is not None and carry.agreed.meeting_title == "Globex 1"
    )
    assert carry.pending == fresh.pending and carry.settles_at == at(1, 12, 30)


def test_without_agendas_the_prep_says_nothing_about_one() -> None:
    world, first, second = two_meetings(agenda={"enabled": False})
    write_debrief(
        world,
        first,
        {**FIRST, "Commitment, customer": "- send the data by Fri\n- internal: they stall"},
    )
    world.now = at(0, 12)
    world.cycle()
    prep = world.block_for("prep", second).description
    assert "Primary objective of this meeting: Agree the pilot scope" in prep
    assert "WHAT THE AGENDA CARRIES" not in prep and "Kept out" not in prep
