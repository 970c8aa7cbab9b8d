"""The call plan loop on every provider (tests/support/harness/base.py), with an injected clock:
the seller writes a plan in a prep in their calendar app, and once it has settled the
customer's invitation carries exactly its shared sections; what the attendees hear about it is
counted with the harness's notifications()."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from functools import partial
from pathlib import Path

import pytest

from agent.core.htmltext import plain_text
from agent.core.model import BodyFormat, Event
from agent.core.preview import BEGIN
from agent.text import splice
from agent.text.form import fill_in
from agent.text.splice.html import from_text
from tests.loop.test_invariants import Agent, at, people_part, readable
from tests.loop.test_loop_scenarios import FILLED, write_as_seller
from tests.support.harness.base import Harness
from tests.unit.test_debrief_privacy import outlook_html

WHEN_PLANNED = {"send": "when_planned"}

# What the seller types under the headings of the prep's form: shared sections with a private
# line marked inside them, and private sections.
PLAN = {
    "Purpose": "Agree the scope of a four-week pilot",
    "What they will get": (
        "- a pilot plan your IT team can sign off\nPrivate: PRIV-1 we will not show the roadmap"
    ),
    "What we hope to get": "- the go-ahead to draft the pilot agreement",
    "Topics": (
        "- Your goals for the pilot (15 min)\n"
        "- Scope and success criteria (25 min)\n"
        "- [internal] PRIV-2 they are talking to Initech too"
    ),
    "Please bring": "- last quarter's ticket volumes",
    "What we hope to decide": "- the pilot's scope and start date",
    "Risks": "- PRIV-3 Raj may block it over security",
    "Notes": "PRIV-4 margin is thin",
}

# The agenda that plan produces, whole: the plan's sections, the defaults where it is silent
# (who should join), and what the last debrief agreed.
AGENDA = """Purpose
Agree the scope of a four-week pilot

Outcomes we hope for
- For you: a pilot plan your IT team can sign off
- For us: the go-ahead to draft the pilot agreement

Agenda
- Your goals for the pilot (15 min)
- Scope and success criteria (25 min)

When we met on Mon 18 Mar 2030, we agreed that
- you would send the March usage export (by Wed 20 Mar 2030)
- we would send a pilot proposal with two options (by Wed 20 Mar 2030)

Helpful to bring
- last quarter's ticket volumes
- Anyone on your side who should have a say in the decisions below: please feel free to invite them.

What we hope to decide
- the pilot's scope and start date

If you cannot make these decisions in this meeting, or the timing, the people or the topics do not suit you, just reply to this invitation. We would rather reshape, re-staff or skip the meeting than take up your time without a result."""  # noqa: E501


@pytest.fixture
def agent(harness: Harness, tmp_path: Path) -> Agent:
    return Agent(harness, tmp_path, at(harness, 0, 7), agenda=WHEN_PLANNED)


def write_plan(harness: Harness, key: str, answers: dict[str, str]) -> None:
    """The seller types `answers` under the headings of the prep of meeting `key`."""
    edit_prep(harness, key, lambda form: fill_in(form, answers))


def edit_prep(harness: Harness, key: str, change: Callable[[str], str]) -> None:
    """The seller changes the form of the prep of meeting `key` in their calendar app. Outlook
    saves the prep as HTML: the form as Word's paragraphs and pseudo-lists, callplan's preview
    as the paragraphs Exchange makes of a text body."""
    prep = harness.block_for("prep", key)
    text = readable(prep)
    cut = text.index(BEGIN)
    form, rest = change(text[:cut]), text[cut:]
    if harness.name == "outlook":
        body = outlook_html(form, "mso") + "\n" + from_text(rest)
        harness.write_description(replace(prep, body_format=BodyFormat.HTML), body)
    else:
        harness.write_description(prep, form + rest)


def agenda_of(harness: Harness, key: str) -> str:
    """The agenda in a meeting's invitation, as the customer reads it ("" when it has none)."""
    meeting = harness.meeting(key)
    if meeting.agenda_tag is None:
        return ""
    found = splice.for_meeting(meeting).find(meeting.description, meeting.agenda_tag)
    return plain_text(found.body, meeting.agenda_tag.body_format).strip()


def renumber(number: int, form: str) -> str:
    """The seller's next version of the purpose."""
    return form.replace(f"pilot v{number - 1}", f"pilot v{number}")


def squeezed(text: str) -> str:
    """Text as its lines say it, whatever the body's format: Outlook's HTML agenda reads with
    neither blank lines nor bullets (its lists are HTML lists), the prep's bullets as "·"."""
    lines = (re.sub(r"^[-·•] ", "", line.strip()) for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def run(agent: Agent, *moments: object) -> None:
    for moment in moments:
        agent.now = moment  # type: ignore[assignment]
        agent.cycle()


def test_the_invitation_carries_exactly_the_plans_shared_sections(
    harness: Harness, agent: Agent
) -> None:
    first = harness.add_meeting("Globex discovery", at(harness, 0, 10))
    second = harness.add_meeting(
        "Globex pilot scope", at(harness, 1, 14), description="Video: https://meet.example/b"
    )
    before = harness.meeting(second).description
    agent.cycle()
    assert harness.notifications() == {}  # when_planned: nothing written yet, nothing sent
    prep = readable(harness.block_for("prep", second))
    assert "The agenda waits for its purpose" in prep
    # the debrief of the first meeting, private notes and all, then the plan of the second
    run(agent, at(harness, 0, 11))
    write_as_seller(harness, harness.block_for("debrief", first), FILLED)
    write_plan(harness, second, PLAN)
    run(agent, at(harness, 0, 12))
    prep = readable(harness.block_for("prep", second))
    assert "goes into the invitation at 12:30 on Mon 18 Mar if you leave your plan" in prep
    # the seller sees what will go out (Exchange's HTML reads without blank lines)
    assert squeezed(AGENDA.split("\n\nWhen we met")[0]) in squeezed(prep)
    assert harness.notifications() == {} and agenda_of(harness, second) == ""
    run(agent, at(harness, 0, 12, 30))
    assert squeezed(agenda_of(harness, second)) == squeezed(AGENDA)
    meeting = harness.meeting(second)
    assert people_part(meeting) == before  # the seller's words in the invitation, untouched
    assert not re.search(r"PRIV|SECRET|Initech|roadmap|margin", meeting.description)
    assert harness.notifications() == {"dana@globex.example": 1}
    assert "The agenda below is in the invitation." in readable(harness.block_for("prep", second))
    run(agent, at(harness, 0, 13), at(harness, 0, 18))
    assert harness.notifications() == {"dana@globex.example": 1}


def test_a_burst_of_twenty_edits_costs_one_update_and_a_move_none(
    harness: Harness, agent: Agent
) -> None:
    key = harness.add_meeting(
        "Globex pilot scope", at(harness, 1, 14), guests=["dana@globex.example", "raj@x.example"]
    )
    agent.cycle()
    write_plan(harness, key, {"Purpose": "Agree the pilot v0"})
    run(agent, at(harness, 0, 8), at(harness, 0, 8, 30))
    assert "Agree the pilot v0" in agenda_of(harness, key)
    sent = {"dana@globex.example": 1, "raj@x.example": 1}
    assert harness.notifications() == sent
    start = at(harness, 0, 9)
    for number in range(1, 21):  # a save every 30 seconds, a cycle every minute
        edit_prep(harness, key, partial(renumber, number))
        if number % 2 == 0:
            run(agent, start + timedelta(seconds=30 * number))
    run(agent, *(start + timedelta(minutes=minutes) for minutes in (15, 25, 39, 41, 60)))
    assert "Agree the pilot v20" in agenda_of(harness, key)
    sent = {"dana@globex.example": 2, "raj@x.example": 2}
    assert harness.notifications() == sent
    # the seller moves the meeting: its organiser's client tells the attendees, callplan does not
    agenda = agenda_of(harness, key)
    harness.edit_meeting(key, start=at(harness, 2, 15))
    run(agent, at(harness, 0, 11), at(harness, 0, 12))
    assert harness.block_for("prep", key).end == at(harness, 2, 15)  # the blocks follow
    assert agenda_of(harness, key) == agenda and harness.notifications() == sent


def test_a_guest_list_above_the_limit_or_a_personal_address_alone_costs_no_update(
    harness: Harness, agent: Agent
) -> None:
    crowd = [f"guest{number}@customer{number}.example" for number in range(11)]
    webinar = harness.add_meeting("Product webinar", at(harness, 1, 16), guests=crowd)
    coffee = harness.add_meeting("Coffee with Jo", at(harness, 2, 9), guests=["jo@gmail.com"])
    agent.cycle()
    for key in (webinar, coffee):
        write_plan(harness, key, {"Purpose": "Show what is new this spring"})
    run(agent, at(harness, 0, 8), at(harness, 0, 9))
    assert harness.notifications() == {}
    assert agenda_of(harness, webinar) == agenda_of(harness, coffee) == ""
    assert len(harness.blocks()) == 4  # blocks as usual
    webinar_prep = readable(harness.block_for("prep", webinar))
    assert "11 guests from outside, more than 10 (agenda.max_external_guests)" in webinar_prep
    coffee_prep = readable(harness.block_for("prep", coffee))
    assert "jo@gmail.com writes from a personal address that [customers] does not name" in (
        coffee_prep
    )
    for prep in (webinar_prep, coffee_prep):
        assert "DRAFT AGENDA FOR YOU TO SEND\nPurpose\nShow what is new this spring" in prep


def test_each_instance_of_a_series_has_its_own_plan_and_agenda(
    harness: Harness, tmp_path: Path
) -> None:
    agent = Agent(harness, tmp_path, at(harness, 0, 7), agenda={**WHEN_PLANNED, "lead_days": 14})
    harness.add_series("Globex weekly", at(harness, 1, 10), 30, weeks=2)
    agent.cycle()
    instances: list[Event] = sorted(
        (e for e in harness.events() if e.title == "Globex weekly"), key=lambda e: e.start
    )
    assert len(instances) == 2 and instances[0].key != instances[1].key
    one, two = (instance.key for instance in instances)
    write_plan(harness, one, {"Purpose": "PLAN-ONE agree the pilot scope"})
    write_plan(harness, two, {"Purpose": "PLAN-TWO review the pilot's first week"})
    run(agent, at(harness, 0, 8), at(harness, 0, 9))
    assert "PLAN-ONE" in agenda_of(harness, one) and "PLAN-TWO" not in agenda_of(harness, one)
    assert "PLAN-TWO" in agenda_of(harness, two) and "PLAN-ONE" not in agenda_of(harness, two)
    for this, other in ((one, "PLAN-TWO"), (two, "PLAN-ONE")):  # nor in the previews
        assert other not in readable(harness.block_for("prep", this)).split(BEGIN)[1]
