"""The planner's rules, one scenario each, through the real engine and store on a memory
calendar."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from agent.core.model import Attendee, BodyFormat, Event, Response, Status
from agent.plan.classify import Classifier
from agent.text import splice
from tests.support.helpers import BERLIN, MONDAY, SELLER, World, account, at, meeting


def test_customer_meeting_gets_prep_agenda_and_debrief() -> None:
    world = World()
    demo = world.add(meeting("Globex discovery", at(0, 10), description="Dial-in: 555-0100"))
    world.cycle()
    prep, debrief = world.block_for("prep", demo), world.block_for("debrief", demo)
    assert (prep.start, prep.end) == (at(0, 9, 45), at(0, 10))
    assert (debrief.start, debrief.end) == (at(0, 11), at(0, 11, 15))
    assert prep.private and prep.attendees == () and not prep.transparent
    assert (
        "WHO IS COMING" in prep.description
        and "Dana <dana@globex.example>, Globex" in prep.description
    )
    assert "Commitment, customer" in debrief.description
    described = world.get(demo).description
    assert described.startswith("Dial-in: 555-0100\n\n" + splice.BEGIN)
    assert world.calendar.notifications == {"dana@globex.example": 1}


def test_internal_all_day_declined_and_cancelled_meetings_get_nothing() -> None:
    world = World()
    world.add(meeting("Team sync", at(0, 10), guests=["bo@acme.example", "cy@eu.acme.example"]))
    world.add(meeting("Offsite", at(0, 0), guests=["dana@globex.example"], all_day=True))
    world.add(
        meeting("Declined", at(0, 12), organizer="dana@globex.example", response=Response.DECLINED)
    )
    world.add(meeting("Cancelled", at(0, 14), status=Status.CANCELLED))
    world.add(meeting("Solo focus", at(0, 16), guests=[]))
    assert world.applied() == []


def test_rules_include_and_exclude() -> None:
    world = World(
        rules={
            "internal_domains": ["acme.example"],
            "exclude_domains": ["partner.example"],
            "exclude_title_keywords": ["[no prep]"],
            "include_title_keywords": ["customer:"],
        }
    )
    world.add(meeting("Partner catch-up", at(0, 10), guests=["pam@partner.example"]))
    world.add(meeting("Globex [no prep]", at(0, 12)))
    included = world.add(meeting("Customer: board prep", at(0, 14), guests=["bo@acme.example"]))
    world.cycle()
    assert {b.block_tag.meeting_key for b in world.blocks() if b.block_tag} == {included.key}


def test_title_rules_match_whatever_the_case_of_keyword_and_title() -> None:
    rules = Classifier(
        account(
            rules={
                "internal_domains": ["acme.example"],
                "exclude_title_keywords": ["[No Prep]"],
                "include_title_keywords": ["Customer:"],
            }
        ).settings
    )
    assert rules.classify(meeting("Globex [NO PREP] review", at(0, 12))).reason == (
        "title excluded by a rule"
    )
    assert rules.classify(meeting("Globex [no prep] review", at(0, 12))).reason == (
        "title excluded by a rule"
    )
    internal = meeting("CUSTOMER: board prep", at(0, 14), guests=["bo@acme.example"])
    assert rules.classify(internal).reason == "title included by a rule"
    assert rules.classify(replace(internal, title="Board prep")).reason == "internal meeting"


def test_guests_are_told_apart_once_into_outside_and_inside() -> None:
    rules = Classifier(
        account(
            rules={
                "internal_domains": ["acme.example"],
                "exclude_domains": ["partner.example"],
                "exclude_addresses": ["bo@acme.example"],
                "include_addresses": ["ceo@acme.example"],
            }
        ).settings
    )
    guests = ["dana@globex.example", "bo@acme.example", "pat@partner.example", "ceo@acme.example"]
    demo = replace(
        meeting("Globex", at(0, 10), guests=guests),
        self_email="Alex@Acme.example",
        attendees=(
            *meeting("Globex", at(0, 10), guests=guests).attendees,
            Attendee("room@acme.example", "Room", resource=True),
        ),
    )
    # an included address is outside even at an internal domain; an excluded one outside the
    # company is neither; an internal one stays inside though it is excluded; the seller and
    # rooms are neither
    outside, inside = rules.guests(demo)
    assert [a.address for a in inside] == ["bo@acme.example"]
    assert [a.address for a in outside] == ["dana@globex.example", "ceo@acme.example"]
    assert rules.external_attendees(demo) is outside
    assert rules.guests(demo) == (outside, inside)
    assert rules.guests(demo)[1] is inside


def test_each_customer_organised_meeting_names_its_own_customer_in_the_prep() -> None:
    world = World()
    organised = [
        world.add(meeting(title, at(day, 15), guests=[guest], organizer=guest))
        for title, day, guest in (
            ("Initech review", 1, "eli@initech.example"),
            ("Globex review", 2, "dana@globex.example"),
            ("Initech follow-up", 3, "eli@initech.example"),
        )
    ]
    world.cycle()
    for theirs, name, other in zip(
        organised, ("Initech", "Globex", "Initech"), ("Globex", "Initech", "Globex")
    ):
        prep = world.block_for("prep", theirs).description
        assert f"{name} organised this meeting" in prep
        assert f"{other} organised this meeting" not in prep


def test_a_guest_is_shown_in_each_prep_as_they_are_in_that_meeting() -> None:
    world = World()
    guests = ["dana@globex.example", "raj@globex.example"]

    def with_dana(
        title: str,
        day: int,
        organizer: str = SELLER,
        optional: bool = False,
        response: Response = Response.NEEDS_ACTION,
    ) -> Event:
        made = meeting(title, at(day, 10), guests=guests, organizer=organizer)
        dana = replace(made.attendees[0], optional=optional, response=response)
        return replace(made, attendees=(dana, *made.attendees[1:]))

    shown = {
        world.add(with_dana("Globex", 1)): "",
        world.add(with_dana("Globex, optional", 2, optional=True)): " (optional)",
        world.add(with_dana("Globex, declined", 3, response=Response.DECLINED)): " [declined]",
        world.add(with_dana("Globex, theirs", 4, organizer=guests[0])): " (organizer)",
    }
    world.cycle()
    for demo, marks in shown.items():
        prep = world.block_for("prep", demo).description
        assert f"Dana <dana@globex.example>, Globex{marks}\n" in prep


def test_second_cycle_changes_nothing_not_even_etags() -> None:
    world = World()
    world.add(meeting("Globex", at(0, 10)))
    world.add(
        meeting(
            "Initech", at(1, 15), guests=["eli@initech.example"], organizer="eli@initech.example"
        )
    )
    world.cycle()
    etags = {ref: e.etag for ref, e in world.calendar.events.items()}
    assert world.applied() == []
    assert {ref: e.etag for ref, e in world.calendar.events.items()} == etags


def test_customer_organised_meeting_gets_agenda_as_draft_in_prep() -> None:
    world = World()
    theirs = world.add(
        meeting(
            "Initech review",
            at(1, 15),
            guests=["eli@initech.example"],
            organizer="eli@initech.example",
            description="Their text",
        )
    )
    world.cycle()
    assert world.get(theirs).description == "Their text"  # not ours to edit
    assert world.get(theirs).etag == theirs.etag
    prep = world.block_for("prep", theirs)
    assert (
        "DRAFT AGENDA FOR YOU TO SEND" in prep.description
        and "What we hope to decide" in prep.description
    )
    assert world.calendar.notifications == {}


def test_back_to_back_meetings_get_debriefs_after_the_chain() -> None:
    world = World()
    first = world.add(meeting("Globex 1", at(0, 10)))
    second = world.add(meeting("Initech", at(0, 11), guests=["eli@initech.example"]))
    # five minutes apart still counts as a chain
    third = world.add(meeting("Globex 2", at(0, 12, 5)))
    world.cycle()
    debriefs = [world.block_for("debrief", m) for m in (first, second, third)]
    assert [d.start for d in debriefs] == [at(0, 13, 5), at(0, 13, 20), at(0, 13, 35)]
    preps = [world.block_for("prep", m) for m in (first, second, third)]
    assert preps[0].end == at(0, 10)
    assert all(p.end <= at(0, 10) for p in preps)  # the only free time before a chain is before it


def test_debrief_finds_the_first_free_slot_within_working_hours() -> None:
    world = World()
    demo = world.add(meeting("Globex", at(0, 10)))
    world.add(meeting("Internal", at(0, 11), guests=["bo@acme.example"]))
    world.add(meeting("Lunch", at(0, 12), guests=[], minutes=30))
    world.cycle()
    assert world.block_for("debrief", demo).start == at(0, 12, 30)


def test_debrief_after_hours_goes_right_after_the_meeting() -> None:
    world = World()
    dinner = world.add(meeting("Globex dinner", at(0, 19)))
    world.add(meeting("Late call", at(0, 20), guests=["bo@acme.example"]))
    world.cycle()
    # no free slot in working hours within two hours: the first free slot after them
    assert world.block_for("debrief", dinner).start == at(0, 21)


def test_prep_moves_back_when_the_slot_before_is_taken() -> None:
    world = World()
    world.add(meeting("Internal", at(0, 9, 30), minutes=30, guests=["bo@acme.example"]))
    demo = world.add(meeting("Globex", at(0, 10)))
    world.cycle()
    assert world.block_for("prep", demo).start == at(0, 9, 15)


def test_a_deleted_block_is_not_recreated() -> None:
    world = World()
    demo = world.add(meeting("Globex", at(0, 10)))
    world.cycle()
    prep = world.block_for("prep", demo)
    world.calendar.person_delete(prep.ref)
    assert world.applied() == ["tombstone"]
    assert world.applied() == []
    assert world.blocks("prep") == []
    # even when the meeting moves
    world.calendar.person_edit(demo.ref, start=at(0, 14), end=at(0, 15))
    world.cycle()
    assert world.blocks("prep") == []


def test_a_moved_block_stays_where_the_seller_put_it() -> None:
    world = World()
    demo = world.add(meeting("Globex", at(0, 10)))
    world.cycle()
    prep = world.block_for("prep", demo)
    world.calendar.person_edit(prep.ref, start=at(0, 8), end=at(0, 8, 30))
    world.cycle()
    moved = world.block_for("prep", demo)
    assert (moved.start, moved.end) == (at(0, 8), at(0, 8, 30))
    assert moved.block_tag is not None and moved.block_tag.pinned
    assert world.applied() == []
    # a new meeting on top of it does not push it away
    world.add(meeting("Internal", at(0, 8), guests=["bo@acme.example"]))
    world.cycle()
    assert world.block_for("prep", demo).start == at(0, 8)


def test_reschedule_moves_the_blocks_and_a_pinned_block_follows() -> None:
    world = World()
    demo = world.add(meeting("Globex", at(0, 10)))
    world.cycle()
    debrief = world.block_for("debrief", demo)
    # seller prefers 16:00
    world.calendar.person_edit(debrief.ref, start=at(0, 16), end=at(0, 16, 30))
    world.cycle()
    world.calendar.person_edit(demo.ref, start=at(1, 14), end=at(1, 15))  # moved to Tuesday 14:00
    world.cycle()
    prep, debrief = world.block_for("prep", demo), world.block_for("debrief", demo)
    assert prep.end == at(1, 14)
    assert (debrief.start, debrief.end) == (at(1, 20), at(1, 20, 30))  # kept its offset and length
    # the invitation carries its own time: a moved meeting costs its attendees no new agenda
    assert world.calendar.notifications["dana@globex.example"] == 1
    assert world.applied() == []


def test_agenda_is_rewritten_only_when_its_content_changes() -> None:
    world = World()
    demo = world.add(meeting("Globex", at(0, 10)))
    world.cycle()
    assert world.calendar.notifications["dana@globex.example"] == 1
    world.calendar.person_edit(demo.ref, location="Room 4")  # not in the agenda: no update
    world.cycle()
    assert world.calendar.notifications["dana@globex.example"] == 1
    world.calendar.person_edit(demo.ref, start=at(0, 11), end=at(0, 12))  # moved: not in it either
    world.cycle()
    assert world.calendar.notifications["dana@globex.example"] == 1
    # longer: the agenda's timings change
    world.calendar.person_edit(demo.ref, end=at(0, 12, 30))
    world.cycle()
    world.cycle()
    assert world.calendar.notifications["dana@globex.example"] == 2


@pytest.mark.parametrize("notify, expected", [("never", 0), ("changes", 1)])
def test_notify_policy(notify: str, expected: int) -> None:
    world = World(agenda={"notify": notify})
    world.add(meeting("Globex", at(0, 10)))
    world.cycle()
    assert world.calendar.notifications["dana@globex.example"] == expected


def test_agenda_waits_for_its_lead_time() -> None:
    world = World(agenda={"lead_days": 2})
    later = world.add(meeting("Globex next week", at(7, 10)))
    world.cycle()
    assert splice.BEGIN not in world.get(later).description
    assert world.block_for("prep", later)  # blocks do not wait
    world.now = at(5, 10, 1)
    world.cycle()
    assert splice.BEGIN in world.get(later).description


def test_a_person_edit_inside_the_agenda_stops_rewrites() -> None:
    world = World()
    demo = world.add(meeting("Globex", at(0, 10), description="Intro"))
    world.cycle()
    text = world.get(demo).description
    edited = text.replace("Outcomes we hope for", "Outcomes we hope for (Dana added pricing)")
    world.calendar.person_edit(demo.ref, description=edited)
    world.calendar.person_edit(demo.ref, start=at(0, 11), end=at(0, 12))  # would change the agenda
    world.cycle()
    assert world.get(demo).description == edited
    assert world.calendar.notifications["dana@globex.example"] == 1


def test_a_person_who_deletes_the_agenda_does_not_get_it_back() -> None:
    world = World()
    demo = world.add(meeting("Globex", at(0, 10), description="Intro"))
    world.cycle()
    world.calendar.person_edit(demo.ref, description="Intro, rewritten by Alex", agenda_tag=None)
    assert sorted(world.applied()) == ["tombstone", "update"]  # the prep's preview says so
    assert (
        "Someone removed the agenda from the invitation, so callplan will not put it back."
        in world.block_for("prep", demo).description
    )
    world.calendar.person_edit(demo.ref, start=at(0, 11), end=at(0, 12))
    world.cycle()
    assert world.get(demo).description == "Intro, rewritten by Alex"


@pytest.mark.parametrize("internal", [False, True])
def test_an_agenda_removed_under_its_tag_is_let_go_once(internal: bool) -> None:
    """A person rewrites the description of a meeting that has started, taking our agenda out;
    the provider keeps our tag apart from the text. The agenda is let go once (remembered as
    deleted, or forgotten when the meeting no longer wants one) and never adopted back."""
    world = World()
    demo = world.add(meeting("Globex", at(0, 10), description="Intro"))
    world.cycle()
    world.now = at(0, 10, 30)
    world.calendar.person_edit(demo.ref, description="Intro, rewritten by Alex")
    assert world.get(demo).agenda_tag is not None
    if internal:  # and its debrief, still to come, goes
        colleague = meeting("x", at(0, 10), guests=["bo@acme.example"]).attendees
        world.calendar.person_edit(demo.ref, attendees=colleague)
    assert world.applied() == (["forget", "delete"] if internal else ["tombstone"])
    assert world.applied() == []
    assert world.applied() == []


def test_an_agenda_keeps_the_format_it_was_written_in() -> None:
    """Once inserted as text, the agenda is found and rewritten as text, even if the body now
    reads as HTML (a provider guessing the format from the text our own write produced)."""
    world = World()
    demo = world.add(meeting("Globex", at(0, 10), description="Intro"))
    world.cycle()
    tag = world.get(demo).agenda_tag
    assert tag is not None and tag.body_format is BodyFormat.TEXT
    # a longer meeting: the blocks follow, the agenda's timings change
    world.calendar.person_edit(demo.ref, body_format=BodyFormat.HTML, end=at(0, 11, 30))
    assert sorted(world.applied()) == [
        "update",
        "update",
        "write agenda",
    ]
    text = world.get(demo).description
    assert text.startswith("Intro\n\n" + splice.BEGIN) and "(37 min)" in text and "<p" not in text


def test_text_imitating_the_markers_is_never_deleted() -> None:
    fake = f"Notes\n{splice.BEGIN}\nmy own words, not an agenda\n{splice.END}\nmore"
    world = World()
    forged = world.add(meeting("Globex", at(0, 10), description=fake))
    world.cycle()
    assert world.get(forged).description == fake  # marker text we cannot vouch for: hands off
    # and once our own agenda is in, a copy of the markers in the person's text stays theirs
    clean = world.add(
        meeting("Initech", at(1, 10), guests=["eli@initech.example"], description="Hello")
    )
    world.cycle()
    ours = world.get(clean).description
    world.calendar.person_edit(clean.ref, description=fake + "\n" + ours)
    # longer: the agenda must be rewritten
    world.calendar.person_edit(clean.ref, end=at(1, 11, 30))
    world.cycle()
    after = world.get(clean).description
    assert after.startswith(fake + "\nHello\n\n" + splice.BEGIN)
    assert "(37 min)" in after


def test_cancel_decline_and_now_internal_remove_blocks_and_agenda() -> None:
    world = World()
    cancelled = world.add(meeting("Globex A", at(0, 10), description="A"))
    declined = world.add(
        meeting(
            "Initech", at(1, 10), guests=["eli@initech.example"], organizer="eli@initech.example"
        )
    )
    internal = world.add(meeting("Globex B", at(2, 10), description="B"))
    world.cycle()
    assert len(world.blocks()) == 6
    world.calendar.person_edit(cancelled.ref, status=Status.CANCELLED)
    world.calendar.person_edit(declined.ref, self_response=Response.DECLINED)
    world.calendar.person_edit(
        internal.ref, attendees=tuple(a for a in internal.attendees if "globex" not in a.email)
    )
    world.cycle()
    assert world.blocks() == []
    assert world.get(internal).description == "B"  # agenda stripped, the person's text intact
    assert world.get(internal).agenda_tag is None
    assert splice.BEGIN in world.get(cancelled).description  # a cancelled invitation is not touched
    assert world.applied() == []


def test_a_meeting_every_outside_guest_declined_is_no_longer_a_customer_meeting() -> None:
    """Its future blocks and its agenda go, as for one the seller declined; a block the seller
    wrote in stays, and so does the person's text around the agenda."""
    world = World()
    globex = world.add(
        meeting("Globex", at(1, 10), guests=["dana@globex.example", "raj@globex.example"])
    )
    world.add(meeting("Initech", at(1, 14), guests=["eli@initech.example"]))
    world.calendar.person_edit(globex.ref, description="Dial-in: 555-0100")
    world.cycle()
    debrief = world.block_for("debrief", globex)
    world.calendar.person_edit(debrief.ref, description=debrief.description + "\nmy notes")

    def responses(**answers: Response) -> tuple[Attendee, ...]:
        return tuple(
            replace(a, response=answers.get(a.email.split("@")[0], a.response))
            for a in world.get(globex).attendees
        )

    world.calendar.person_edit(globex.ref, attendees=responses(dana=Response.DECLINED))
    world.cycle()
    assert len(world.blocks()) == 4  # one guest still comes: still a customer meeting
    world.calendar.person_edit(
        globex.ref, attendees=responses(dana=Response.DECLINED, raj=Response.DECLINED)
    )
    assert Classifier(world.account.settings).classify(world.get(globex)).reason == (
        "every outside guest declined"
    )
    assert sorted(world.applied()) == ["delete", "strip agenda"]
    assert world.get(globex).description == "Dial-in: 555-0100"
    assert "my notes" in world.block_for("debrief", globex).description
    assert len(world.blocks()) == 3 and world.applied() == []


def test_a_meeting_deleted_from_the_calendar_takes_its_blocks() -> None:
    world = World()
    demo = world.add(meeting("Globex", at(0, 10)))
    world.cycle()
    world.calendar.person_delete(demo.ref)
    world.cycle()
    assert world.blocks() == []


def test_a_block_the_seller_wrote_in_is_never_deleted_or_rewritten() -> None:
    world = World()
    demo = world.add(meeting("Globex", at(0, 10)))
    world.cycle()
    prep = world.block_for("prep", demo)
    notes = prep.description + "\nMy notes: ask about the Q3 budget."
    world.calendar.person_edit(prep.ref, description=notes)
    world.calendar.person_edit(demo.ref, title="Globex (renamed)", start=at(0, 14), end=at(0, 15))
    world.cycle()
    kept = world.block_for("prep", demo)
    assert kept.description == notes and kept.title == prep.title  # words kept
    assert kept.end == at(0, 14)  # but it still follows the meeting
    world.calendar.person_edit(demo.ref, status=Status.CANCELLED)
    world.cycle()
    assert world.block_for("prep", demo).description == notes


def test_blocks_that_started_are_history() -> None:
    world = World()
    demo = world.add(meeting("Globex", at(0, 10)))
    world.cycle()
    world.now = at(0, 9, 50)  # prep under way
    prep = world.block_for("prep", demo)
    world.calendar.person_edit(demo.ref, status=Status.CANCELLED)
    world.cycle()
    assert world.calendar.events[prep.ref] == prep
    assert world.blocks("debrief") == []  # the future one goes


def test_crash_between_provider_write_and_store_write_leaves_no_duplicate() -> None:
    world = World()
    demo = world.add(meeting("Globex", at(0, 10), description="Intro"))

    real_record = world.store.record
    calls = {"n": 0}

    def crash_after_two(**kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] > 2:
            raise SystemExit("killed between the provider write and the database write")
        return real_record(**kwargs)

    world.store.record = crash_after_two  # type: ignore[method-assign]
    with pytest.raises(SystemExit):
        world.sync.cycle()
    world.store.record = real_record  # type: ignore[method-assign]
    applied = world.applied()
    assert "adopt" in applied
    assert len(world.blocks("prep")) == 1 and len(world.blocks("debrief")) == 1
    assert world.get(demo).description.count(splice.BEGIN) == 1
    assert world.calendar.notifications["dana@globex.example"] == 1
    assert world.applied() == []


def test_lost_state_is_rebuilt_from_the_tags_without_duplicates(tmp_path) -> None:  # type: ignore[no-untyped-def]
    world = World(store_path=tmp_path / "state.db")
    demo = world.add(meeting("Globex", at(0, 10)))
    world.cycle()
    prep = world.block_for("prep", demo)
    world.calendar.person_edit(prep.ref, start=at(0, 8), end=at(0, 8, 15))  # seller moved it
    world.store.close()
    (tmp_path / "state.db").unlink()
    fresh = World(store_path=tmp_path / "state.db")
    fresh.calendar, fresh.connector.cal = world.calendar, world.calendar
    # the update pins the moved block
    assert sorted(fresh.applied()) == [
        "adopt",
        "adopt",
        "adopt",
        "update",
    ]
    assert fresh.applied() == []
    assert fresh.block_for("prep", demo).start == at(0, 8)


def test_conflicting_edit_is_not_overwritten() -> None:
    world = World()
    demo = world.add(meeting("Globex", at(0, 10)))
    world.cycle()
    world.calendar.person_edit(demo.ref, end=at(0, 11, 30))  # longer: a new agenda
    # the agent read the meeting; a person edits it again before the agent writes
    original = world.connector.set_description

    def edit_first(calendar, meeting, description, agenda, notify):  # type: ignore[no-untyped-def]
        world.calendar.person_edit(meeting.ref, description=meeting.description + "\nPS from Dana")
        return original(calendar, meeting, description, agenda, notify)

    world.connector.set_description = edit_first  # type: ignore[method-assign]
    report = world.cycle()
    outcomes = [outcome for c in report.calendars for _, outcome in c.applied]
    assert any(o.startswith("skipped: changed by someone else") for o in outcomes)
    world.connector.set_description = original  # type: ignore[method-assign]
    world.cycle()
    text = world.get(demo).description
    # both the edit and the new agenda
    assert "\nPS from Dana" in text and "(37 min)" in text


def test_dst_week_keeps_wall_clock_working_hours() -> None:
    """Europe/Berlin springs forward on Sunday 31 March 2030: placement stays on local time."""
    world = World(now=at(13, 7))  # Sunday 31 March 07:00 CEST
    monday = world.add(meeting("Globex after DST", at(14, 9)))
    world.add(meeting("Internal", at(14, 8, 30), minutes=30, guests=["bo@acme.example"]))
    world.cycle()
    prep = world.block_for("prep", monday)
    # 08:30-09:00 is busy and working hours start at 09:00 local: the prep goes to the free time
    # before
    assert prep.end == at(14, 8, 30)
    assert prep.start.astimezone(BERLIN).utcoffset() == timedelta(hours=2)  # summer time


def test_all_times_reported_in_the_sellers_zone() -> None:
    world = World()
    new_york = world.add(meeting("Globex NY", at(0, 16), guests=["sam@globex.example"]))
    world.cycle()
    assert "Mon 18 Mar 2030, 16:00–17:00 (CET)" in world.block_for("prep", new_york).description


def test_meetings_beyond_the_look_ahead_wait() -> None:
    world = World(lookahead_days=3)
    far = world.add(meeting("Globex later", at(6, 10)))
    world.cycle()
    assert world.blocks() == []
    world.now = MONDAY + timedelta(days=4)
    world.cycle()
    assert world.block_for("debrief", far)


def _agenda_reasons(world: World) -> list[str]:
    """One cycle; the reasons of the agenda changes it applied."""
    return [
        change.reason
        for c in world.cycle().calendars
        for change, _ in c.applied
        if change.kind == "agenda"
    ]


def test_a_removed_agenda_says_why_it_really_went() -> None:
    """Each reason for taking an agenda out is named: the seller handed the meeting over, the
    agenda was switched off, or the meeting became internal."""
    worlds = [World(), World(), World()]
    handed_over, switched_off, internal = (
        (world, world.add(meeting("Globex", at(1, 10), description="Intro"))) for world in worlds
    )
    for world in worlds:
        world.cycle()
    world, event = handed_over
    world.calendar.person_edit(event.ref, organizer="dana@globex.example", self_is_organizer=False)
    assert _agenda_reasons(world) == ["agenda removed: the seller no longer organises the meeting"]
    world, event = switched_off
    world.sync.account = account(agenda={"enabled": False})
    assert _agenda_reasons(world) == ["agenda removed: agenda disabled"]
    world, event = internal
    world.calendar.person_edit(
        event.ref, attendees=tuple(a for a in event.attendees if "globex" not in a.email)
    )
    assert _agenda_reasons(world) == ["agenda removed: internal meeting"]
    assert [
        world.get(event).description for world, event in (handed_over, switched_off, internal)
    ] == ["Intro"] * 3


def test_a_meeting_s_texts_name_the_customer_s_meetings_either_side_of_it() -> None:
    """The last meeting with the customer before this one, and the next one within the horizon
    (debrief.next_meeting_horizon_days); a meeting at the same time is neither."""
    world = World(lookahead_days=40)
    first = world.add(meeting("Globex intro", at(0, 10)))
    twin = world.add(meeting("Globex intro, second room", at(0, 10)))
    later = world.add(meeting("Globex demo", at(1, 14)))
    world.add(meeting("Globex review", at(30, 10)))  # beyond the horizon from the demo
    world.cycle()
    for intro in (first, twin):
        assert "First meeting with Globex." in world.block_for("prep", intro).description
        debrief = world.block_for("debrief", intro).description
        assert "Next meeting with Globex: Tue 19 Mar 2030." in debrief
    prep = world.block_for("prep", later).description
    assert "Follow-up with Globex: you last met on Mon 18 Mar 2030." in prep
    debrief = world.block_for("debrief", later).description
    assert "No next meeting with Globex is scheduled yet." in debrief
