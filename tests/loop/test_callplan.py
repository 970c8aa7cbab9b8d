"""The call plan loop through the real engine and store: prep -> agenda.

What a seller writes under the shared headings of a prep's call plan becomes the customer's
agenda once the prep has stayed unchanged for agenda.settle_minutes; everything else stays in
the prep, whose preview (callplan's part at its end) says what the customer will see and when.
When the agenda goes out (agenda.send), how often it may change (the daily cap), and who gets
none are tested here with an injected clock on the memory calendar; tests/loop/
test_callplan_providers.py runs the same loop on every provider.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from agent.core.model import AgendaTag, Event, Kind, Status
from agent.core.preview import BEGIN, END, form_part
from agent.sync.undo import undo
from agent.text import splice
from tests.loop.test_loop import write_debrief
from tests.support.helpers import World, at, meeting

PLAN = """
Purpose:
Agree the scope of a four-week pilot
Topics:
- Your goals for the pilot (15 min)
- Scope and success criteria (25 min)
Private: they are talking to Initech too
What we hope to decide:
- pilot scope and start date
Risks:
- Raj may block it over security
"""
SHARED = (
    "Purpose\nAgree the scope of a four-week pilot\n",
    "- Your goals for the pilot (15 min)\n- Scope and success criteria (25 min)\n",
    "What we hope to decide\n- pilot scope and start date\n",
)
PRIVATE = ("Initech", "Raj")
WHEN_PLANNED = {"send": "when_planned"}


def agenda(world: World, event: Event) -> str:
    current = world.get(event)
    return splice.TEXT.find(current.description, current.agenda_tag).body


def preview(world: World, event: Event) -> str:
    text = world.block_for("prep", event).description
    return text[text.index(BEGIN) : text.index(END)]


def write_plan(world: World, event: Event, text: str) -> Event:
    """The seller writes their plan into the prep block of `event`, in their calendar app: at the
    end of its form, above callplan's preview."""
    prep = world.block_for("prep", event)
    form = form_part(prep.description).rstrip("\n")
    found = splice.preview_of(prep)
    rest = prep.description[found.start :] if found.state is splice.AgendaState.OURS else ""
    return world.calendar.person_edit(prep.ref, description=f"{form}\n{text}\n\n{rest}")


def edit_plan(world: World, event: Event, old: str, new: str) -> None:
    """The seller changes their plan (the form above the preview, not the preview)."""
    prep = world.block_for("prep", event)
    text = prep.description
    cut = text.index(BEGIN) if BEGIN in text else len(text)
    world.calendar.person_edit(prep.ref, description=text[:cut].replace(old, new) + text[cut:])


def cycle_at(world: World, *when: object) -> None:
    for moment in when:
        world.now = moment  # type: ignore[assignment]
        world.cycle()


# -- prep -> agenda ------------------------------------------------------------------------------


def test_a_plan_reaches_the_agenda_once_it_has_settled_and_nothing_private_does() -> None:
    world = World()
    globex = world.add(meeting("Globex", at(1, 10)))
    world.cycle()
    assert world.calendar.notifications == {"dana@globex.example": 1}
    write_plan(world, globex, PLAN)
    cycle_at(world, at(0, 8), at(0, 8, 29))
    assert "four-week pilot" not in agenda(world, globex)
    shown = preview(world, globex)
    assert "Changed in your plan: goes into the agenda at 08:30 on Mon 18 Mar" in shown
    assert all(part in shown for part in SHARED)  # the seller sees what will go out
    assert (
        "Kept out of the agenda from your plan (marked private or unclear):\n- Private: " in shown
    )
    cycle_at(world, at(0, 8, 30))
    text = agenda(world, globex)
    assert all(part in text for part in SHARED) and not any(word in text for word in PRIVATE)
    assert world.calendar.notifications == {"dana@globex.example": 2}
    assert "Changed in your plan" not in preview(world, globex)
    for minutes in (1, 30, 300):
        cycle_at(world, at(0, 8, 30) + timedelta(minutes=minutes))
    assert world.calendar.notifications == {"dana@globex.example": 2}


def test_a_burst_of_twenty_edits_in_ten_minutes_costs_the_attendees_one_update() -> None:
    world = World(agenda=WHEN_PLANNED)
    globex = world.add(
        meeting("Globex", at(1, 10), guests=["dana@globex.example", "raj@x.example"])
    )
    world.cycle()
    assert world.calendar.notifications == {}
    write_plan(world, globex, "Purpose:\nAgree the pilot v0\nTopics:\n- Scope")
    for number in range(1, 21):  # saves every 30 seconds, with a cycle every minute
        world.now = at(0, 8) + timedelta(seconds=30 * number)
        edit_plan(world, globex, f"pilot v{number - 1}", f"pilot v{number}")
        if number % 2 == 0:
            world.cycle()
    for minutes in range(11, 120, 1):
        cycle_at(world, at(0, 8) + timedelta(minutes=minutes))
    assert world.calendar.notifications == {"dana@globex.example": 1, "raj@x.example": 1}
    assert "Agree the pilot v20" in agenda(world, globex)


def test_a_moved_meeting_costs_its_attendees_no_update_from_callplan() -> None:
    world = World()
    globex = world.add(meeting("Globex", at(1, 10)))
    world.cycle()
    write_plan(world, globex, PLAN)
    cycle_at(world, at(0, 8), at(0, 9))
    assert world.calendar.notifications == {"dana@globex.example": 2}
    world.calendar.person_edit(globex.ref, start=at(2, 14), end=at(2, 15))
    cycle_at(world, at(0, 10), at(0, 11))
    assert world.calendar.notifications == {"dana@globex.example": 2}
    assert world.block_for("prep", globex).end == at(2, 14)  # the blocks follow it


# -- when it goes out ----------------------------------------------------------------------------


def test_when_planned_the_agenda_waits_for_a_purpose_and_the_prep_says_until_when() -> None:
    world = World(agenda=WHEN_PLANNED)
    globex = world.add(meeting("Globex", at(3, 10)))
    world.cycle()
    assert splice.BEGIN not in world.get(globex).description
    assert (
        "The agenda waits for its purpose: it goes into the invitation once you write one above, "
        "under Purpose.\nWithout one, callplan sends none (agenda.fallback_hours is not set)."
    ) in preview(world, globex)
    for day in range(3):  # days pass: nothing goes out without a purpose
        cycle_at(world, at(day, 18))
    assert world.calendar.notifications == {}
    write_plan(world, globex, "Topics:\n- Scope\nPurpose:\n")  # topics alone are not a plan
    cycle_at(world, at(2, 19), at(2, 20))
    assert world.calendar.notifications == {}
    edit_plan(world, globex, "Purpose:\n", "Purpose:\nAgree the pilot scope\n")
    cycle_at(world, at(2, 21))
    assert "goes into the invitation at 21:30 on Wed 20 Mar if you leave your plan as it is" in (
        preview(world, globex)
    )
    cycle_at(world, at(2, 21, 30))
    assert agenda(world, globex).startswith("Purpose\nAgree the pilot scope\n")
    assert "- Scope\n" in agenda(world, globex)
    assert world.calendar.notifications == {"dana@globex.example": 1}


def test_when_planned_the_last_debriefs_objective_is_a_purpose() -> None:
    world = World(agenda=WHEN_PLANNED)
    first = world.add(meeting("Globex 1", at(0, 10)))
    second = world.add(meeting("Globex 2", at(3, 10)))
    world.cycle()
    write_debrief(world, first, {"Primary objective": "Agree the pilot scope"})
    cycle_at(world, at(0, 12))
    assert splice.BEGIN not in world.get(second).description  # not settled yet
    prep = world.block_for("prep", second).description
    assert "Suggested: Agree the pilot scope" in form_part(prep)
    cycle_at(world, at(0, 12, 30))
    assert agenda(world, second).startswith("Purpose\nAgree the pilot scope\n")


def test_the_fallback_sends_the_default_agenda_that_long_before_the_meeting() -> None:
    world = World(agenda={"send": "when_planned", "fallback_hours": 24})
    globex = world.add(meeting("Globex", at(3, 10)))
    cycle_at(world, at(0, 8))
    assert (
        "Without one, callplan sends the agenda below, with the default purpose, at 10:00 on "
        "Wed 20 Mar." in preview(world, globex)
    )
    cycle_at(world, at(2, 9, 59))
    assert world.calendar.notifications == {}
    cycle_at(world, at(2, 10))
    assert agenda(world, globex).startswith("Purpose\nTo understand what matters most to you")
    assert world.calendar.notifications == {"dana@globex.example": 1}


def test_auto_sends_at_the_lead_time_whatever_is_written() -> None:
    world = World(agenda={"send": "auto", "lead_days": 2})
    globex = world.add(meeting("Globex", at(3, 10)))
    cycle_at(world, at(0, 8))
    assert "The agenda below goes into the invitation at 10:00 on Tue 19 Mar." in (
        preview(world, globex)
    )
    cycle_at(world, at(1, 9, 59))
    assert splice.BEGIN not in world.get(globex).description
    cycle_at(world, at(1, 10))
    assert agenda(world, globex).startswith("Purpose\nTo understand")


def test_never_leaves_the_agenda_a_draft_in_the_prep() -> None:
    world = World(agenda={"send": "never"})
    globex = world.add(meeting("Globex", at(1, 10)))
    world.cycle()
    write_plan(world, globex, PLAN)
    cycle_at(world, at(0, 8), at(0, 9), at(0, 10))
    assert world.get(globex).agenda_tag is None and world.calendar.notifications == {}
    shown = preview(world, globex)
    assert 'callplan puts no agenda into invitations (agenda.send = "never").' in shown
    assert "DRAFT AGENDA FOR YOU TO SEND\nPurpose\nAgree the scope of a four-week pilot" in shown


def test_the_daily_cap_holds_a_third_change_until_the_next_day() -> None:
    world = World(agenda={"settle_minutes": 0})
    globex = world.add(meeting("Globex", at(2, 10)))
    cycle_at(world, at(0, 8))  # the agenda goes in (auto): an insertion is not an update
    write_plan(world, globex, "Purpose:\nVersion 1")
    for hour, version in ((9, 2), (10, 3), (11, 4)):
        cycle_at(world, at(0, hour))
        edit_plan(world, globex, f"Version {version - 1}", f"Version {version}")
    cycle_at(world, at(0, 12), at(0, 23, 59))
    # the insertion, then two rewrites (versions 1 and 2): the third change waits
    assert world.calendar.notifications == {"dana@globex.example": 3}
    assert "Version 2" in agenda(world, globex)
    assert (
        "The invitation holds an earlier version of the agenda below: callplan updated it 2 "
        "times today, as many as agenda.max_updates_per_day allows. The change goes out at 00:00 "
        "on Tue 19 Mar."
    ) in preview(world, globex)
    assert "Version 4" in preview(world, globex)
    cycle_at(world, at(1, 0))
    assert "Version 4" in agenda(world, globex)
    assert world.calendar.notifications == {"dana@globex.example": 4}


# -- who gets none ---------------------------------------------------------------------------------


def test_a_meeting_above_the_guest_limit_gets_no_agenda_and_the_prep_says_why() -> None:
    world = World()
    guests = [f"guest{n}@customer{n}.example" for n in range(11)]
    webinar = world.add(meeting("Product webinar", at(1, 16), guests=guests))
    ten = world.add(meeting("Roundtable", at(2, 16), guests=guests[:10]))
    world.cycle()
    assert world.get(webinar).agenda_tag is None and splice.BEGIN in world.get(ten).description
    assert set(world.calendar.notifications) == set(guests[:10])  # the webinar's cost nothing
    shown = preview(world, webinar)
    assert (
        "11 guests from outside, more than 10 (agenda.max_external_guests): callplan puts no "
        "agenda into an invitation sent to so many."
    ) in shown
    assert "DRAFT AGENDA FOR YOU TO SEND" in shown
    assert len(world.blocks()) == 4  # blocks as usual


@pytest.mark.parametrize("named", [False, True])
def test_a_personal_address_gets_an_agenda_only_when_named_as_a_customer(named: bool) -> None:
    world = World(customers={"Maple Dental": ["jo.maple@gmail.com"]} if named else {})
    coffee = world.add(meeting("Coffee with Jo", at(1, 16), guests=["jo.maple@gmail.com"]))
    world.cycle()
    assert len(world.blocks()) == 2
    if named:
        assert splice.BEGIN in world.get(coffee).description
        return
    assert world.get(coffee).agenda_tag is None and world.calendar.notifications == {}
    assert (
        "jo.maple@gmail.com writes from a personal address that [customers] does not name, so "
        "callplan puts no agenda into the invitation until it does."
    ) in preview(world, coffee)


def test_a_company_guest_beside_a_personal_one_makes_it_a_customer_meeting() -> None:
    world = World()
    mixed = world.add(
        meeting("Globex", at(1, 16), guests=["jo.maple@gmail.com", "dana@globex.example"])
    )
    world.cycle()
    assert splice.BEGIN in world.get(mixed).description


def test_an_agenda_someone_edited_stays_theirs_and_the_prep_says_so() -> None:
    world = World()
    globex = world.add(meeting("Globex", at(1, 10)))
    world.cycle()
    edited = world.get(globex).description.replace("Helpful to bring", "Helpful to bring (Q3!)")
    world.calendar.person_edit(globex.ref, description=edited)
    write_plan(world, globex, PLAN)
    cycle_at(world, at(0, 8), at(0, 9))
    assert world.get(globex).description == edited
    assert world.calendar.notifications == {"dana@globex.example": 1}
    assert (
        "Someone edited the agenda in the invitation, so callplan no longer updates it: changes "
        "to your plan do not reach it."
    ) in preview(world, globex)


# -- the prep's two parts --------------------------------------------------------------------------


def test_the_form_is_the_sellers_once_they_write_in_it_and_the_preview_stays_callplans() -> None:
    world = World()
    first = world.add(meeting("Globex 1", at(0, 10)))
    second = world.add(meeting("Globex 2", at(3, 10)))
    world.cycle()
    write_plan(world, second, PLAN)
    written = form_part(world.block_for("prep", second).description)
    cycle_at(world, at(0, 8))
    write_debrief(world, first, {"Commitment, us": "- send pricing by 20 Mar"})
    cycle_at(world, at(0, 12), at(0, 12, 30))
    prep = world.block_for("prep", second).description
    assert form_part(prep) == written  # the seller's words, byte for byte
    assert "WHAT THE AGENDA CARRIES FROM YOUR DEBRIEF\nWhen we met on Mon 18 Mar 2030" in prep
    assert "- we would send pricing (by Wed 20 Mar 2030)" in agenda(world, second)


def test_an_older_copy_of_the_preview_saved_back_is_replaced_and_a_persons_words_in_it_kept() -> (
    None
):
    world = World(agenda={"settle_minutes": 0, "max_updates_per_day": 10})
    globex = world.add(meeting("Globex", at(1, 10)))
    world.cycle()
    write_plan(world, globex, "Purpose:\nVersion 1")
    cycle_at(world, at(0, 8))
    old = world.block_for("prep", globex)
    edit_plan(world, globex, "Version 1", "Version 2")
    cycle_at(world, at(0, 9))
    assert "Version 2" in preview(world, globex)
    # the seller's app had the event open: it saves the older preview over callplan's newer one
    stale = world.block_for("prep", globex)
    world.calendar.person_edit(
        stale.ref,
        description=form_part(stale.description) + old.description[old.description.index(BEGIN) :],
    )
    cycle_at(world, at(0, 10))
    assert "Version 2" in preview(world, globex) and "Version 1" not in preview(world, globex)
    # a person types inside the preview: never destroyed, and callplan stops updating it
    mine = world.block_for("prep", globex).description.replace(END, "my own note\n" + END)
    world.calendar.person_edit(stale.ref, description=mine)
    edit_plan(world, globex, "Version 2", "Version 3")
    cycle_at(world, at(0, 11), at(0, 12))
    cut = mine.index(BEGIN)
    assert world.block_for("prep", globex).description == (
        mine[:cut].replace("Version 2", "Version 3") + mine[cut:]
    )
    assert "Version 3" in agenda(world, globex)  # the plan itself still flows
    world.calendar.person_edit(globex.ref, status=Status.CANCELLED)
    cycle_at(world, at(0, 13))
    assert "my own note" in world.block_for("prep", globex).description  # kept, not deleted


def test_undo_keeps_a_prep_a_person_typed_in() -> None:
    world = World()
    globex = world.add(meeting("Globex", at(1, 10)))
    initech = world.add(meeting("Initech", at(1, 14), guests=["eli@initech.example"]))
    world.cycle()
    prep = world.block_for("prep", initech)
    world.calendar.person_edit(prep.ref, description=prep.description.replace(END, "mine\n" + END))
    report = undo(world.sync)
    assert len(report.kept) == 1 and "Prep: Initech" in report.kept[0]
    assert [b.block_tag.kind for b in world.blocks()] == [Kind.PREP]  # type: ignore[union-attr]
    assert world.get(globex).agenda_tag is None


def test_a_prep_an_earlier_callplan_wrote_and_the_seller_wrote_in_gains_a_preview() -> None:
    world = World()
    globex = world.add(meeting("Globex", at(1, 10)))
    world.cycle()
    prep = world.block_for("prep", globex)
    # as an earlier callplan left it: no preview, and no fingerprint of one in its tag
    old = form_part(prep.description).rstrip("\n") + "\nPurpose:\nAgree the pilot scope\n"
    tag = replace(prep.block_tag, preview="")  # type: ignore[type-var]
    world.calendar.person_edit(prep.ref, description=old, block_tag=tag)
    world.store.db.execute("DELETE FROM previews")  # type: ignore[attr-defined]
    cycle_at(world, at(0, 8))
    after = world.block_for("prep", globex).description
    assert after.startswith(old) and BEGIN in after[len(old) :]


# -- upgrades --------------------------------------------------------------------------------------


def test_an_agenda_an_earlier_callplan_wrote_is_kept_until_what_it_says_changes() -> None:
    """Upgrading callplan must not re-send every agenda already on the calendars: an agenda
    whose tag does not say what it carries is adopted as it is (its header with the meeting's
    time included), and rewritten only for a real change."""
    world = World()
    globex = world.add(meeting("Globex", at(1, 10)))
    world.cycle()
    current = world.get(globex)
    tag = current.agenda_tag
    assert tag is not None and tag.inputs
    body = splice.TEXT.find(current.description, tag).body
    old_body = "Globex\nTue 19 Mar 2030, 10:00–11:00 (CET)\n\n" + body  # as it used to read
    old_tag = AgendaTag(
        tag.meeting_key, splice.TEXT.fingerprint(old_body), tag.sep, tag.body_format
    )
    world.calendar.person_edit(
        globex.ref, description=current.description.replace(body, old_body), agenda_tag=old_tag
    )
    world.store.db.execute("UPDATE artifacts SET inputs = ''")  # type: ignore[attr-defined]
    notified = world.calendar.notifications["dana@globex.example"]
    assert world.applied() == ["adopt"]
    assert world.applied() == []
    world.calendar.person_edit(globex.ref, start=at(1, 11), end=at(1, 12))  # moved: no change
    world.cycle()
    assert world.calendar.notifications["dana@globex.example"] == notified
    assert "10:00–11:00" in world.get(globex).description  # still the old agenda, as it was
    write_plan(world, globex, "Purpose:\nAgree the pilot scope")
    cycle_at(world, at(0, 8), at(0, 8, 30))
    assert world.calendar.notifications["dana@globex.example"] == notified + 1
    assert agenda(world, globex).startswith("Purpose\nAgree the pilot scope\n")
    assert world.get(globex).agenda_tag.inputs  # type: ignore[union-attr]


def test_a_meeting_under_way_keeps_its_agenda_as_it_is() -> None:
    world = World()
    globex = world.add(meeting("Globex", at(0, 10)))
    world.cycle()
    assert world.calendar.notifications == {"dana@globex.example": 1}
    world.now = at(0, 10, 15)
    world.calendar.person_edit(globex.ref, end=at(0, 11, 30))  # it runs longer
    assert "write agenda" not in world.applied() and "(37 min)" not in agenda(world, globex)
    assert world.calendar.notifications == {"dana@globex.example": 1}
