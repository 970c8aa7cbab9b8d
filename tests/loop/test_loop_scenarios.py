"""The loop end to end, as a scenario every provider runs (tests/support/harness/base.py): meeting 1
-> the seller fills in its debrief in their calendar app -> meeting 2's prep and agenda, with an
injected clock. The CalDAV part at the end counts the requests a late debrief costs."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.core.htmltext import plain_text
from agent.core.model import BodyFormat, Event, Kind
from agent.text import splice
from tests.loop.test_invariants import Agent, at, people_part, readable
from tests.support.harness.base import Harness
from tests.support.harness.caldav import CaldavHarness
from tests.unit.test_debrief_privacy import (
    OBJECTIVE,
    SHARED_ITEMS,
    SHOWN_ITEMS,
    marked_debrief,
    outlook_html,
)

# What the seller typed into meeting 1's debrief: private notes in every form a person might
# use, around the commitments and the objective that are meant for the customer.
FILLED = """What I liked about this meeting:
SECRET-1 Dana trusts us more than their incumbent

What I would do differently next time:
- Commitment, us: SECRET-2 stop discounting in the first call

Authority (their buying process, who decides, who else is involved):
SECRET-3 the CFO decides alone

Commitment, customer (shared: what they will do before the next meeting, one per line, with a date):
- send the March usage export, by Wed 20 Mar
My read:
- SECRET-4 they will stall

Commitment, us (shared: what we will do, one per line, with a date):
- send a pilot proposal with two options, by 2030-03-20

Primary objective of the next meeting (shared as its purpose: what we want them to do in it):
Agree the pilot scope and its sponsor

SECRET-5 get them to sign before they see the competitor

Still to discover (the exact questions to ask next time):
- who else is on their shortlist?

Opening statement ideas for next time:
- start from their month-end numbers

Notes:
SECRET-6 margin is thin
"""


@pytest.fixture
def agent(harness: Harness, tmp_path: Path) -> Agent:
    return Agent(harness, tmp_path, at(harness, 0, 7))


def test_meeting_1_debrief_flows_into_meeting_2_once_and_nothing_private_leaks(
    harness: Harness, agent: Agent
) -> None:
    first = harness.add_meeting(
        "Globex discovery", at(harness, 0, 10), description="Video: https://meet.example/a"
    )
    second = harness.add_meeting(
        "Globex pilot scope", at(harness, 3, 14), description="Video: https://meet.example/b"
    )
    second_before = harness.meeting(second).description
    agent.cycle()
    assert harness.notifications() == {"dana@globex.example": 2}  # each agenda went out once
    assert (
        "Next meeting with Globex: Thu 21 Mar 2030."
        in harness.block_for("debrief", first).description
    )

    agent.now = at(harness, 0, 11, 10)
    harness.write_description(harness.block_for("debrief", first), FILLED)
    agent.now = at(harness, 0, 12)
    # next prep, next debrief form; the agenda waits
    assert sorted(agent.cycle()) == [
        "update",
        "update",
    ]
    assert (
        "goes into the agenda at 12:30 on Mon 18 Mar"
        in harness.block_for("prep", second).description
    )
    assert harness.notifications() == {"dana@globex.example": 2}
    agent.now = at(harness, 0, 12, 30)  # settle_minutes later, the debrief unchanged
    # the prep loses its note; the agenda
    assert sorted(agent.cycle()) == [
        "update",
        "write agenda",
    ]

    meeting = harness.meeting(second)
    assert people_part(meeting) == second_before  # the seller's words, untouched
    found = splice.for_meeting(meeting).find(meeting.description, meeting.agenda_tag)
    # as text lines or HTML paragraphs
    assert meeting.agenda_tag is not None
    agenda = plain_text(found.body, meeting.agenda_tag.body_format)
    assert "Purpose\nAgree the pilot scope and its sponsor\n" in agenda
    assert "When we met on Mon 18 Mar 2030, we agreed that\n" in agenda
    assert "you would send the March usage export (by Wed 20 Mar 2030)\n" in agenda
    assert "we would send a pilot proposal with two options (by Wed 20 Mar 2030)\n" in agenda
    assert not re.search(r"SECRET|shortlist|month-end|discounting|incumbent", meeting.description)
    prep = harness.block_for("prep", second).description
    assert "Primary objective of this meeting: Agree the pilot scope and its sponsor" in prep
    assert "- Customer: send the March usage export (due Wed 20 Mar 2030)" in prep
    assert (
        "- who else is on their shortlist?" in prep
        and "- start from their month-end numbers" in prep
    )
    # private: fine here
    assert "What you wanted to do differently this time: Commitment, us: SECRET-2" in prep
    assert "OVERDUE" not in prep and not re.search(r"SECRET-[1346]", prep)
    # what was written under the objective's heading but not shared is shown to the seller as held
    # back
    kept = "Kept out of the agenda (marked private or unclear):\n- SECRET-5 get them to sign"
    assert kept in readable(harness.block_for("prep", second))
    assert (
        "- [ ] send the March usage export, by Wed 20 Mar 2030"
        in harness.block_for("debrief", second).description
    )
    # meeting 2's agenda: updated exactly once
    assert harness.notifications() == {"dana@globex.example": 3}

    # time passes and the commitments fall due: the private prep says so, the customer hears nothing
    # more
    version = harness.meeting(second).etag
    for day, hour in ((1, 9), (2, 12), (3, 7)):
        agent.now = at(harness, day, hour)
        agent.cycle()
    assert "(due Wed 20 Mar 2030) OVERDUE" in harness.block_for("prep", second).description
    assert harness.meeting(second).etag == version
    assert harness.notifications() == {"dana@globex.example": 3}
    (held,) = [row for row in agent.store.held() if row.meeting_key == first]
    assert (
        held.debriefed
        and held.next_scheduled
        and held.debrief is not None
        and held.debrief.dated_next_steps
    )


def test_a_debrief_written_two_days_later_is_read_back(harness: Harness, agent: Agent) -> None:
    """Monday's debrief block has left the calendar window (it reaches back to yesterday) when
    the seller writes it on Wednesday: it is re-read by reference all the same."""
    first = harness.add_meeting("Globex discovery", at(harness, 0, 10))
    second = harness.add_meeting("Globex review", at(harness, 7, 14))
    for day, hour in ((0, 7), (1, 9), (2, 15)):
        agent.now = at(harness, day, hour)
        agent.cycle()
    harness.write_description(
        harness.block_for("debrief", first), "Commitment, us:\n- send the pricing by Fri 22 Mar\n"
    )
    for minute in (0, 30):  # read back, then settled
        agent.now = at(harness, 2, 16, minute)
        agent.cycle()
    assert (
        "- Us: send the pricing (due Fri 22 Mar 2030)"
        in harness.block_for("prep", second).description
    )
    assert "we would send the pricing (by Fri 22 Mar 2030)" in readable(harness.meeting(second))


def test_a_debrief_written_two_days_later_costs_one_get(
    caldav_harness: CaldavHarness, tmp_path: Path
) -> None:
    """Monday's debrief block has left the window (it reaches back to yesterday) when the seller
    writes it on Wednesday: sync-collection reports the change, and one GET reads it back."""
    harness = caldav_harness
    agent = Agent(harness, tmp_path, at(harness, 0, 7))
    connector = agent.sync.connector
    first = harness.add_meeting("Globex discovery", at(harness, 0, 10))
    second = harness.add_meeting("Globex review", at(harness, 7, 14))
    for day, hour in ((0, 7), (1, 9), (2, 15)):
        agent.now = at(harness, day, hour)
        agent.cycle()
    form = harness.block_for("debrief", first)
    harness.write_description(
        form,
        form.description.replace(
            "with a date):\n- ", "with a date):\n- the security questionnaire by Fri 22 Mar", 1
        ),
    )

    agent.now = at(harness, 2, 16)
    before = connector.session.sent  # type: ignore[attr-defined]
    report = agent.sync.cycle()
    applied = report.calendars[0].applied
    # the agenda waits to settle
    assert sorted(change.kind for change, _ in applied) == [
        Kind.DEBRIEF,
        Kind.PREP,
    ]
    # sync-collection + multiget of what changed + one GET of the debrief; one conditional PUT per
    # write
    assert connector.session.sent - before == 3 + len(applied)  # type: ignore[attr-defined]
    assert (
        "- Customer: the security questionnaire (due Fri 22 Mar 2030)"
        in harness.block_for("prep", second).description
    )
    agent.now = at(harness, 2, 16, 30)
    before = connector.session.sent  # type: ignore[attr-defined]
    # the prep loses its note; the agenda
    assert sorted(agent.cycle()) == [
        "update",
        "write agenda",
    ]
    assert connector.session.sent - before == 2 + 2  # type: ignore[attr-defined]  # our writes read back; a PUT each

    costs = []
    for hour in (17, 18, 22):
        agent.now = at(harness, 2, hour)
        before = connector.session.sent  # type: ignore[attr-defined]
        assert agent.cycle() == []
        costs.append(connector.session.sent - before)  # type: ignore[attr-defined]
    # the first read after our own writes fetches them back (sync-collection + multiget); a quiet
    # cycle is one sync-collection; six hours after the last read, one GET re-reads the debrief
    assert costs == [2, 1, 2]


# --- marked private text, on every provider ----------------------------------------------------

# A debrief with private words marked the ways sellers mark them; each private word carries
# PRIV so that the whole invitation can be searched for it.
MARKED = """Commitment, customer (shared: what they will do before the next meeting, one per line, with a date):
- send the March usage export, by Wed 20 Mar
  - PRIV-1 they have not even started the export
- [internal] PRIV-2 they want 20% off

Commitment, us (internal notes):
- PRIV-3 push the enterprise tier

Commitment, us:
- send a pilot proposal with two options, by 2030-03-20
- send the internal benchmark PRIV-4 by Fri

Primary objective of the next meeting (shared as its purpose, one line: what we want them to do in it):
Agree the pilot scope and its sponsor
Private: PRIV-5 upsell the enterprise tier
🔒 PRIV-6 margin is thin
"""  # noqa: E501 (the form's own headings, as the shipped template writes them)


def write_as_seller(harness: Harness, block: Event, text: str) -> None:
    """The seller types `text` into a debrief block in their calendar app: as plain text on
    CalDAV and Google, and in Outlook, which stores what the seller edits as HTML (Word's
    paragraphs and pseudo-lists, rewritten as Exchange stores them)."""
    if harness.name == "outlook":
        harness.write_description(
            replace(block, body_format=BodyFormat.HTML), outlook_html(text, "mso")
        )
    else:
        harness.write_description(block, text)


def test_marked_private_text_never_reaches_the_invitation_on_any_provider(
    harness: Harness, agent: Agent
) -> None:
    first = harness.add_meeting("Globex discovery", at(harness, 0, 10))
    second = harness.add_meeting("Globex pilot scope", at(harness, 3, 14))
    agent.cycle()
    before = harness.meeting(second).description
    write_as_seller(harness, harness.block_for("debrief", first), MARKED)
    agent.now = at(harness, 0, 12)
    agent.cycle()
    assert harness.meeting(second).description == before  # not settled yet: the agenda waits
    prep = readable(harness.block_for("prep", second))
    assert "goes into the agenda at 12:30 on Mon 18 Mar" in prep and "- PRIV-5 upsell" not in prep
    assert (
        "Kept out of the agenda (marked private or unclear):\n" in prep
        and "- send the internal benchmark PRIV-4 by Fri\n" in prep
    )
    agent.now = at(harness, 0, 12, 30)
    agent.cycle()
    shown = readable(harness.meeting(second))
    assert "Purpose\nAgree the pilot scope and its sponsor\n" in shown
    assert "you would send the March usage export (by Wed 20 Mar 2030)\n" in shown
    assert "we would send a pilot proposal with two options (by Wed 20 Mar 2030)\n" in shown
    assert "PRIV" not in harness.meeting(second).description and not re.search(
        r"internal|upsell|margin|20%", shown
    )
    # the agenda's insertion and one update
    assert harness.notifications() == {"dana@globex.example": 3}


@pytest.fixture
def weeks(harness: Harness, tmp_path: Path) -> dict[str, object]:
    """One agent for all the examples of a property test; each example takes the next week."""
    return {"agent": Agent(harness, tmp_path, at(harness, 0, 7)), "week": 0}


@settings(
    max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=marked_debrief(), lists=st.sampled_from(["mso", "ul"]))
def test_random_marked_debriefs_on_every_provider(
    harness: Harness, weeks: dict[str, object], case: tuple[str, list[str]], lists: str
) -> None:
    text, tokens = case
    agent = weeks["agent"]
    assert isinstance(agent, Agent)
    day = 7 * int(weeks["week"])  # type: ignore[call-overload]
    weeks["week"] = int(weeks["week"]) + 1  # type: ignore[call-overload]
    guest = f"dana@c{day}.example"  # a customer of its own, so examples do not meet
    agent.now = at(harness, day, 7)
    first = harness.add_meeting("Discovery", at(harness, day, 10), guests=[guest])
    second = harness.add_meeting("Follow-up", at(harness, day + 3, 14), guests=[guest])
    agent.cycle()
    block = harness.block_for("debrief", first)
    if harness.name == "outlook":
        harness.write_description(
            replace(block, body_format=BodyFormat.HTML), outlook_html(text, lists)
        )
    else:
        harness.write_description(block, text)
    for minute in (0, 30):
        agent.now = at(harness, day, 12, minute)
        agent.cycle()
    invitation = harness.meeting(second).description
    assert not [token for token in tokens if token in invitation], text
    shown = readable(harness.meeting(second))
    # the real shared items arrive (dated a year on: 22 Mar has passed)
    for item, label in zip(SHARED_ITEMS, SHOWN_ITEMS):
        if re.search(rf"^- {item}$", text, re.M):
            assert f"would {label.split(' (by ')[0]} (by " in shown, (label, text)
    if OBJECTIVE in text:
        assert f"Purpose\n{OBJECTIVE}\n" in shown, text
