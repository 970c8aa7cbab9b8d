"""The loop through the real engine and store: debrief of one meeting -> prep and agenda of the
next."""

from __future__ import annotations

from datetime import datetime, timedelta

from agent.core.model import BodyFormat, Event
from agent.text import splice
from agent.text.form import fill_in
from tests.support.helpers import World, at, meeting

PRIVATE = "SECRET they are shopping around"


def write_debrief(world: World, event: Event, answers: dict[str, str]) -> Event:
    """The seller fills in the debrief block of `event`, as they would in their calendar app."""
    block = world.block_for("debrief", event)
    return world.calendar.person_edit(block.ref, description=fill_in(block.description, answers))


def settle(world: World, when: datetime) -> None:
    """Cycles at `when`, when a debrief is read back, and once its shared part has settled
    (agenda.settle_minutes, 30 by default, later) and reached the agenda."""
    world.now = when
    world.cycle()
    world.now = when + timedelta(minutes=world.account.settings.agenda.settle_minutes)
    world.cycle()


ANSWERS = {
    "What I liked": PRIVATE,
    "What I would do differently": "ask about budget earlier",
    "Authority": "SECRET the CFO decides",
    "Commitment, customer": (
        "- send the usage data by Wednesday\nBetween us:\n- SECRET they will not"
    ),
    "Commitment, us": "- send a pilot proposal, by 20 Mar",
    "Primary objective": "Agree the pilot scope",
    "Still to discover": "- who else is on the shortlist?",
    "Opening statement ideas": "- open with their month-end numbers",
}


def test_a_debrief_flows_into_the_next_prep_and_agenda_exactly_once() -> None:
    world = World()
    first = world.add(meeting("Globex discovery", at(0, 10)))
    second = world.add(meeting("Globex deep dive", at(3, 10)))
    world.cycle()
    assert world.calendar.notifications == {"dana@globex.example": 2}  # one agenda each
    write_debrief(world, first, ANSWERS)
    world.now = at(0, 10, 30)  # the debrief block has not ended yet: nothing is read back
    assert world.applied() == []
    world.now = at(0, 12)
    # the next prep and debrief form; the agenda waits
    assert sorted(world.applied()) == [
        "update",
        "update",
    ]
    assert (
        "Changed in your debrief: goes into the agenda at 12:30 on Mon 18 Mar"
        in world.block_for("prep", second).description
    )
    assert world.calendar.notifications == {"dana@globex.example": 2}
    world.now = at(0, 12, 30)  # the debrief stayed as it was for settle_minutes
    # the prep loses its note; the agenda
    assert sorted(world.applied()) == [
        "update",
        "write agenda",
    ]
    prep = world.block_for("prep", second).description
    assert "Changed in your debrief" not in prep
    assert 'FROM YOUR DEBRIEF OF "Globex discovery" (Mon 18 Mar 2030)' in prep
    assert "Primary objective of this meeting: Agree the pilot scope" in prep
    assert (
        "- Customer: send the usage data (due Wed 20 Mar 2030)\n- Us: send a pilot proposal (due "
        "Wed 20 Mar 2030)" in prep
    )
    assert (
        "- who else is on the shortlist?" in prep and "- open with their month-end numbers" in prep
    )
    assert "What you wanted to do differently this time: ask about budget earlier" in prep
    agenda = splice.TEXT.find(world.get(second).description, world.get(second).agenda_tag).body
    assert "Purpose\nAgree the pilot scope\n" in agenda
    assert (
        "When we met on Mon 18 Mar 2030, we agreed that\n- you would send the usage data (by Wed "
        "20 Mar 2030)\n"
        "- we would send a pilot proposal (by Wed 20 Mar 2030)" in agenda
    )
    assert (
        "SECRET" not in world.get(second).description
        and "shortlist" not in agenda
        and "budget" not in agenda
    )
    next_form = world.block_for("debrief", second).description
    # carried for the seller to tick
    assert "- [ ] send the usage data, by Wed 20 Mar 2030" in next_form
    assert world.calendar.notifications == {"dana@globex.example": 3}
    agenda_etag = world.get(second).etag

    # time passes, the commitments fall due: the private prep says so, the agenda stays as sent
    world.now = at(2, 12)
    assert world.applied() == []
    world.now = at(3, 7)
    assert world.applied() == ["update"]
    assert (
        "send the usage data (due Wed 20 Mar 2030) OVERDUE"
        in world.block_for("prep", second).description
    )
    assert world.get(second).etag == agenda_etag
    assert world.calendar.notifications == {"dana@globex.example": 3}


def test_a_debrief_written_days_later_is_still_read_back_at_a_bounded_cost() -> None:
    # the agenda is written in the cycle that reads the debrief
    world = World(agenda={"settle_minutes": 0})
    first = world.add(meeting("Globex discovery", at(0, 10)))
    second = world.add(meeting("Globex review", at(7, 10)))
    world.cycle()
    world.now = at(1, 9)
    world.cycle()
    world.now = at(2, 15)  # Wednesday: Monday's blocks have left the calendar window
    before = world.calendar.requests
    world.cycle()
    # the sync read, and one re-read of Monday's debrief
    assert world.calendar.requests - before == 2
    write_debrief(world, first, {"Commitment, us": "- send the pricing by Fri 22 Mar"})
    world.now = at(2, 16)
    before = world.calendar.requests
    # the next prep, debrief form and agenda
    assert sorted(world.applied()) == [
        "update",
        "update",
        "write agenda",
    ]
    # sync read, re-read (reported changed), three writes
    assert world.calendar.requests - before == 1 + 1 + 3
    assert (
        "Us: send the pricing (due Fri 22 Mar 2030)" in world.block_for("prep", second).description
    )
    (held,) = [row for row in world.store.held() if row.meeting_key == first.key]
    assert held.debriefed and held.debriefed_at == at(2, 16)

    # quiet cycles: the out-of-window debrief is re-read at most every recheck_hours (6)
    costs = []
    for hour in range(17, 24):
        world.now = at(2, hour)
        before = world.calendar.requests
        world.cycle()
        costs.append(world.calendar.requests - before)
    # one sync read per cycle; one re-read at 22:00, six hours after
    assert costs == [
        1,
        1,
        1,
        1,
        1,
        2,
        1,
    ]


def test_a_debrief_is_read_back_only_for_harvest_days() -> None:
    world = World(debrief={"harvest_days": 2})
    first = world.add(meeting("Globex discovery", at(0, 10)))
    world.add(meeting("Globex review", at(12, 10)))
    world.cycle()
    world.now = at(3, 9)  # more than two days after the meeting
    write_debrief(world, first, {"Commitment, us": "- send the pricing by Fri 22 Mar"})
    before = world.calendar.requests
    world.cycle()
    assert world.calendar.requests - before == 1
    assert not any(row.debriefed for row in world.store.held())


def test_no_next_meeting_is_said_in_the_debrief_and_recorded_until_the_end_of_the_day() -> None:
    world = World()
    initech = world.add(meeting("Initech intro", at(0, 10), guests=["eli@initech.example"]))
    world.cycle()
    assert (
        "No next meeting with Initech is scheduled yet."
        in world.block_for("debrief", initech).description
    )
    world.now = at(0, 11, 30)
    world.cycle()
    assert [row.next_scheduled for row in world.store.held()] == [False]
    # booked that afternoon
    world.add(meeting("Initech follow-up", at(9, 10), guests=["eli@initech.example"]))
    world.now = at(0, 15)
    world.cycle()
    assert [row.next_scheduled for row in world.store.held()] == [True]

    globex = world.add(meeting("Globex intro", at(1, 10)))
    world.now = at(1, 12)
    world.cycle()
    world.add(meeting("Globex follow-up", at(5, 10)))  # booked only the next day: too late to count
    world.now = at(2, 9)
    world.cycle()
    assert {row.title: row.next_scheduled for row in world.store.held()}[globex.title] is False


def test_a_customer_with_several_domains_is_one_customer() -> None:
    world = World(customers={"Globex": ["globex.example", "globex-eu.example"]})
    first = world.add(meeting("Globex US", at(0, 10)))
    second = world.add(meeting("Globex EU", at(2, 10), guests=["jo@globex-eu.example"]))
    world.cycle()
    write_debrief(world, first, {"Primary objective": "Agree the rollout order"})
    settle(world, at(0, 12))
    assert "Purpose\nAgree the rollout order" in world.get(second).description
    assert (
        "Follow-up with Globex: you last met on Mon 18 Mar 2030."
        in world.block_for("prep", second).description
    )


def test_ticking_commitments_in_the_next_debrief_closes_them() -> None:
    world = World()
    first = world.add(meeting("Globex 1", at(0, 10)))
    second = world.add(meeting("Globex 2", at(1, 10)))
    third = world.add(meeting("Globex 3", at(3, 10)))
    world.cycle()
    write_debrief(
        world,
        first,
        {"Commitment, customer": "- send the data by 19 Mar\n- name a sponsor by 21 Mar"},
    )
    settle(world, at(0, 12))
    form = world.block_for("debrief", second)
    ticked = form.description.replace("- [ ] send the data", "- [x] send the data")
    ticked = fill_in(ticked, {"Commitment, us": "- draft the contract by 22 Mar"})
    world.calendar.person_edit(form.ref, description=ticked)
    settle(world, at(1, 12))
    prep = world.block_for("prep", third).description
    assert (
        "- Customer: name a sponsor (due Thu 21 Mar 2030)\n- Us: draft the contract (due Fri 22 "
        "Mar 2030)" in prep
    )
    assert "send the data" not in prep and "send the data" not in world.get(third).description


def test_an_agenda_a_person_edited_is_not_rewritten_when_a_debrief_arrives() -> None:
    world = World()
    first = world.add(meeting("Globex 1", at(0, 10)))
    second = world.add(meeting("Globex 2", at(2, 10)))
    world.cycle()
    edited = world.get(second).description.replace(
        "Purpose", "Purpose (Dana: let us focus on pricing)"
    )
    world.calendar.person_edit(second.ref, description=edited)
    write_debrief(world, first, {"Primary objective": "Agree the pilot scope"})
    settle(world, at(0, 12))
    assert world.get(second).description == edited
    assert "Agree the pilot scope" in world.block_for("prep", second).description


def test_the_draft_agenda_for_a_customer_organised_meeting_is_shared_text_only() -> None:
    world = World()
    first = world.add(meeting("Globex 1", at(0, 10)))
    theirs = world.add(meeting("Globex 2", at(2, 10), organizer="dana@globex.example"))
    world.cycle()
    write_debrief(world, first, ANSWERS)
    settle(world, at(0, 12))
    prep = world.block_for("prep", theirs).description
    draft = prep.split("DRAFT AGENDA FOR YOU TO SEND", 1)[1]
    assert "you would send the usage data (by Wed 20 Mar 2030)" in draft
    assert "SECRET" not in draft and "shortlist" not in draft
    assert world.get(theirs).description == ""  # their invitation is not ours to edit


def test_a_debrief_with_only_private_notes_leaves_the_next_agenda_alone() -> None:
    world = World()
    first = world.add(meeting("Globex 1", at(0, 10)))
    second = world.add(meeting("Globex 2", at(2, 10)))
    world.cycle()
    etag = world.get(second).etag
    write_debrief(
        world,
        first,
        {"What I liked": PRIVATE, "Authority": "SECRET the CFO", "Notes": "SECRET notes"},
    )
    settle(world, at(0, 12))
    assert world.get(second).etag == etag and world.calendar.notifications == {
        "dana@globex.example": 2
    }
    assert [row.debriefed for row in world.store.held()] == [True]


def test_a_debrief_put_back_as_callplan_wrote_it_is_withdrawn_from_the_next_meeting() -> None:
    """A seller who undoes everything they wrote (their calendar app's undo, or pasting the form
    back) takes it back: once that has settled, neither the prep nor the agenda carries it."""
    world = World()
    first = world.add(meeting("Globex 1", at(0, 10)))
    second = world.add(meeting("Globex 2", at(2, 10)))
    world.cycle()
    form = world.block_for("debrief", first)
    write_debrief(world, first, {"Primary objective": "Agree the pilot scope"})
    settle(world, at(0, 12))
    assert "Agree the pilot scope" in world.get(second).description
    world.calendar.person_edit(form.ref, description=form.description)
    settle(world, at(0, 14))
    assert "Agree the pilot scope" not in world.get(second).description
    assert "Agree the pilot scope" not in world.block_for("prep", second).description
    assert [row.debriefed for row in world.store.held()] == [False]


def test_a_debrief_saved_as_html_by_the_sellers_client_is_read_as_they_see_it() -> None:
    """Outlook turns a text body the seller edits into HTML: paragraphs, list items, entities."""
    world = World()
    first = world.add(meeting("Globex 1", at(0, 10)))
    second = world.add(meeting("Globex 2", at(2, 10)))
    world.cycle()
    html = (
        '<html><body><div class="WordSection1"><p class="MsoNormal">DEBRIEF · Globex 1</p>'
        "<p><b>What I liked about this meeting:</b></p><p>SECRET R&amp;D was "
        "there</p><p><b>Commitment, customer (shared):</b></p><ul><li>send the usage data by "
        "Wednesday</li></ul><p>Between us:</p><p>SECRET they will not</p><p>Primary objective of "
        "the next meeting:</p><p>Agree the pilot&nbsp;scope</p></div></body></html>"
    )
    block = world.block_for("debrief", first)
    world.calendar.person_edit(block.ref, description=html, body_format=BodyFormat.HTML)
    settle(world, at(0, 12))
    described = world.get(second).description
    assert "Purpose\nAgree the pilot scope\n" in described
    assert (
        "- you would send the usage data (by Wed 20 Mar 2030)" in described
        and "SECRET" not in described
    )


def test_a_debrief_of_an_internal_meeting_carries_only_to_the_next_with_the_same_people() -> None:
    """Meetings with nobody from outside (enrich_internal, or a title rule) have no customer to
    group them by: they are grouped by who else is in them, so one's debrief never reaches an
    unrelated meeting, and a meeting with nobody else in it carries nothing."""
    world = World(
        rules={
            "internal_domains": ["acme.example"],
            "enrich_internal": True,
            "include_title_keywords": ["customer:"],
        }
    )
    one_on_one = world.add(meeting("1:1 Bo", at(0, 10), guests=["bo@acme.example"]))
    board = world.add(meeting("Board", at(1, 10), guests=["cy@acme.example", "bo@acme.example"]))
    alone = world.add(meeting("Customer: call notes", at(1, 14), guests=[]))
    again = world.add(meeting("1:1 Bo again", at(2, 10), guests=["bo@acme.example"]))
    world.cycle()
    alone_before = world.add(meeting("Customer: first call notes", at(0, 14), guests=[]))
    world.cycle()
    write_debrief(world, one_on_one, {"Primary objective": "Agree the hiring plan"})
    write_debrief(world, alone_before, {"Primary objective": "Price the renewal"})
    settle(world, at(0, 17))
    carried = "Agree the hiring plan"
    assert carried in world.block_for("prep", again).description
    assert carried in world.get(again).description
    for other in (board, alone):
        for text in (world.block_for("prep", other).description, world.get(other).description):
            assert carried not in text and "Price the renewal" not in text
