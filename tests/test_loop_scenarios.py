"""The loop end to end, as a scenario every provider runs (tests/harness.py): meeting 1 -> the
seller fills in its debrief in their calendar app -> meeting 2's prep and agenda, with an
injected clock. The CalDAV part at the end counts the requests a late debrief costs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from harness import Harness
from harness_caldav import CaldavHarness
from test_invariants import Agent, at, people_part, readable

from agent import splice
from agent.model import Kind

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


def test_meeting_1_debrief_flows_into_meeting_2_once_and_nothing_private_leaks(harness: Harness, agent: Agent) -> None:
    first = harness.add_meeting("Globex discovery", at(harness, 0, 10), description="Video: https://meet.example/a")
    second = harness.add_meeting("Globex pilot scope", at(harness, 3, 14), description="Video: https://meet.example/b")
    second_before = harness.meeting(second).description
    agent.cycle()
    assert harness.notifications() == {"dana@globex.example": 2}  # each agenda went out once
    assert "Next meeting with Globex: Thu 21 Mar 2030." in harness.block_for("debrief", first).description

    agent.now = at(harness, 0, 11, 10)
    harness.write_description(harness.block_for("debrief", first), FILLED)
    agent.now = at(harness, 0, 12)
    assert sorted(agent.cycle()) == ["update", "update", "write agenda"]  # next prep, next debrief form, agenda

    meeting = harness.meeting(second)
    assert people_part(meeting) == second_before  # the seller's words, untouched
    found = splice.for_meeting(meeting).find(meeting.description, meeting.agenda_tag)
    agenda = splice.plain_text(found.body, meeting.agenda_tag.body_format)  # as text lines or HTML paragraphs
    assert "Purpose\nAgree the pilot scope and its sponsor\n" in agenda
    assert "When we met on Mon 18 Mar 2030, we agreed that\n" in agenda
    assert "you would send the March usage export (by Wed 20 Mar 2030)\n" in agenda
    assert "we would send a pilot proposal with two options (by Wed 20 Mar 2030)\n" in agenda
    assert not re.search(r"SECRET|shortlist|month-end|discounting|incumbent", meeting.description)
    prep = harness.block_for("prep", second).description
    assert "Primary objective of this meeting: Agree the pilot scope and its sponsor" in prep
    assert "- Customer: send the March usage export (due Wed 20 Mar 2030)" in prep
    assert "- who else is on their shortlist?" in prep and "- start from their month-end numbers" in prep
    assert "What you wanted to do differently this time: Commitment, us: SECRET-2" in prep  # private: fine here
    assert "OVERDUE" not in prep and not re.search(r"SECRET-[13456]", prep)
    assert "- [ ] send the March usage export, by Wed 20 Mar 2030" in harness.block_for("debrief", second).description
    assert harness.notifications() == {"dana@globex.example": 3}  # meeting 2's agenda: updated exactly once

    # time passes and the commitments fall due: the private prep says so, the customer hears nothing more
    version = harness.meeting(second).etag
    for day, hour in ((1, 9), (2, 12), (3, 7)):
        agent.now = at(harness, day, hour)
        agent.cycle()
    assert "(due Wed 20 Mar 2030) OVERDUE" in harness.block_for("prep", second).description
    assert harness.meeting(second).etag == version
    assert harness.notifications() == {"dana@globex.example": 3}
    (held,) = [row for row in agent.store.held() if row.meeting_key == first]
    assert held.debriefed and held.next_scheduled and held.debrief is not None and held.debrief.dated_next_steps


def test_a_debrief_written_two_days_later_is_read_back(harness: Harness, agent: Agent) -> None:
    """Monday's debrief block has left the calendar window (it reaches back to yesterday) when
    the seller writes it on Wednesday: it is re-read by reference all the same."""
    first = harness.add_meeting("Globex discovery", at(harness, 0, 10))
    second = harness.add_meeting("Globex review", at(harness, 7, 14))
    for day, hour in ((0, 7), (1, 9), (2, 15)):
        agent.now = at(harness, day, hour)
        agent.cycle()
    harness.write_description(harness.block_for("debrief", first), "Commitment, us:\n- send the pricing by Fri 22 Mar\n")
    agent.now = at(harness, 2, 16)
    agent.cycle()
    assert "- Us: send the pricing (due Fri 22 Mar 2030)" in harness.block_for("prep", second).description
    assert "we would send the pricing (by Fri 22 Mar 2030)" in readable(harness.meeting(second))


def test_a_debrief_written_two_days_later_costs_one_get(caldav_harness: CaldavHarness, tmp_path: Path) -> None:
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
    harness.write_description(form, form.description.replace("with a date):\n- ", "with a date):\n- the security questionnaire by Fri 22 Mar", 1))

    agent.now = at(harness, 2, 16)
    before = connector.session.sent  # type: ignore[attr-defined]
    report = agent.sync.cycle()
    applied = report.calendars[0].applied
    assert sorted(change.kind for change, _ in applied) == [Kind.AGENDA, Kind.DEBRIEF, Kind.PREP]
    # sync-collection + multiget of what changed + one GET of the debrief; one conditional PUT per write
    assert connector.session.sent - before == 3 + len(applied)  # type: ignore[attr-defined]
    assert "- Customer: the security questionnaire (due Fri 22 Mar 2030)" in harness.block_for("prep", second).description

    costs = []
    for hour in (17, 18, 22):
        agent.now = at(harness, 2, hour)
        before = connector.session.sent  # type: ignore[attr-defined]
        assert agent.cycle() == []
        costs.append(connector.session.sent - before)  # type: ignore[attr-defined]
    # the first read after our own writes fetches them back (sync-collection + multiget); a quiet
    # cycle is one sync-collection; six hours after the last read, one GET re-reads the debrief
    assert costs == [2, 1, 2]
