"""The review answers the practice's questions from what really happened on the calendar: a
seeded week run through the real engine on every provider (tests/support/harness/base.py), with
an injected clock, and `callplan report`'s four formats compared with the shares worked out by
hand.

The week, in the seller's zone (day 0 is Monday 18 March 2030; agendas go out at once, "auto"):
- A, Globex, Tue 10:00, the seller's: the plan written on Monday, the agenda out since Monday
  7:00 (27 h before); the debrief answered on the heading's lines, ticked boxes, with a dated
  commitment; the next Globex meeting (C) is booked. Ready on both sides, both goals met.
- B, Initech, Tue 15:00, put in the calendar that morning at 9:00: its agenda reaches the
  customer 6 h before, the plan is written only after the meeting started; the debrief answered
  under the headings: partly, no, yes, don't know, and a lesson. Ready on neither side.
- C, Globex, Wed 14:00, organised by the customer: the draft in the prep since Monday 7:00; no
  plan; the debrief left as callplan wrote it. They could be ready, we were not; all else
  unknown.
- D, Umbrella, Wed 10:00, the seller's: the plan written on Tuesday, the agenda out since
  Monday; the debrief answered with lone marks (x, ✗, n, ✓) and a dated commitment, but no next
  meeting. Ready on both sides.
On Outlook every debrief is written as Outlook stores it: HTML.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from agent.cli.report_view import to_csv, to_html, to_json, to_text
from agent.review.report import from_store
from tests.loop.test_callplan_providers import write_plan
from tests.loop.test_invariants import Agent, at, readable
from tests.loop.test_loop_scenarios import write_as_seller
from tests.support.harness.base import Harness
from tests.unit.test_report import references

# the quick check's lines as the seller leaves them: each replaces the line that starts alike
TICKED = {
    "Our goals met": "Our goals met: [x] yes [ ] partly [ ] no",
    "Their goals met": "Their goals met: [x] yes [ ] partly [ ] no",
    "Could we have achieved more": "Could we have achieved more: yes / no x",
    "Did they learn": "Did they learn something that mattered to them: y",
}
UNDER = {
    "Our goals met": "Our goals met:\npartly",
    "Their goals met": "Their goals met:\nno",
    "Could we have achieved more": "Could we have achieved more:\nyes",
    "Did they learn": "Did they learn something that mattered to them:\ndon't know",
    "What I would do differently": "What I would do differently next time:\nask who signs",
}
MARKS = {
    "Our goals met": "Our goals met: x",
    "Their goals met": "Their goals met: ✗",
    "Could we have achieved more": "Could we have achieved more: n",
    "Did they learn": "Did they learn something that mattered to them: ✓",
}

# (question, yes, known), in the order the review lists them; four meetings held
EXPECTED = [
    ("both_goals", 1, 3),  # A; B partly and D no; C unanswered
    ("more", 1, 3),  # B
    ("better", 1, 3),  # B's lesson; A and D answered the quick check and wrote none
    ("learned", 2, 2),  # A and D; B does not know
    ("closed", 1, 4),  # A: a dated commitment and C booked; D's has no next meeting
    ("we_ready", 2, 4),  # A and D; B's plan came after it started, C had none
    ("they_ready", 3, 4),  # A, C (the draft) and D; B's agenda went out 6 h before
]


def debrief(harness: Harness, key: str, lines: dict[str, str], commitment: str = "") -> None:
    """The seller fills in the debrief of meeting `key`: quick-check lines replaced, and a
    commitment of ours under its heading."""
    text = readable(harness.block_for("debrief", key))
    for start, line in lines.items():
        (old,) = [entry for entry in text.split("\n") if entry.startswith(start)]
        text = text.replace(old, line, 1)
    if commitment:
        heading = next(line for line in text.split("\n") if line.startswith("Commitment, us"))
        text = text.replace(heading, f"{heading}\n- {commitment}", 1)
    write_as_seller(harness, harness.block_for("debrief", key), text)


def run(agent: Agent, *moments: object) -> None:
    for moment in moments:
        agent.now = moment  # type: ignore[assignment]
        agent.cycle()


@pytest.fixture
def reviewed(harness: Harness, tmp_path: Path) -> Agent:
    """The week above, played."""
    agent = Agent(harness, tmp_path, at(harness, 0, 7))
    a = harness.add_meeting("Globex discovery", at(harness, 1, 10))
    harness.add_meeting("Globex pilot scope", at(harness, 2, 14), organizer="dana@globex.example")
    d = harness.add_meeting("Umbrella intro", at(harness, 2, 10), guests=["kim@umbrella.example"])
    agent.cycle()
    write_plan(harness, a, {"Purpose": "Agree what a pilot must show"})
    run(agent, at(harness, 0, 8))
    write_plan(harness, d, {"Risks": "they may not have a budget yet"})  # private only: a plan
    run(agent, at(harness, 1, 8))
    agent.now = at(harness, 1, 9)
    b = harness.add_meeting("Initech review", at(harness, 1, 15), guests=["eli@initech.example"])
    run(agent, at(harness, 1, 9))
    run(agent, at(harness, 1, 11, 20))  # A is over, and so is its debrief block
    debrief(harness, a, TICKED, "send the pilot plan, by 25 Mar")
    run(agent, at(harness, 1, 12))
    write_plan(harness, b, {"Purpose": "Agree the renewal"})  # after it started: too late
    run(agent, at(harness, 1, 15, 30), at(harness, 1, 16, 20))
    debrief(harness, b, UNDER)
    run(agent, at(harness, 1, 17), at(harness, 2, 11, 20))
    debrief(harness, d, MARKS, "send the references, by 29 Mar")
    run(agent, at(harness, 2, 12), at(harness, 2, 15, 20), at(harness, 3, 9))
    return agent


def test_the_review_answers_the_practices_questions_in_every_format(reviewed: Agent) -> None:
    harness = reviewed.harness
    review = from_store(reviewed.store, [reviewed.account], at(harness, 3, 12), 7)
    held = {row.title: (row.we_ready, row.they_ready) for row in reviewed.store.held()}
    assert held == {
        "Globex discovery": (True, True),
        "Initech review": (False, False),
        "Globex pilot scope": (False, True),
        "Umbrella intro": (True, True),
    }
    total = review.total
    assert total.meetings == 4
    assert [
        (name, getattr(total, name).yes, getattr(total, name).known) for name, *_ in EXPECTED
    ] == EXPECTED

    # the terminal: the practice's row for the seller and for all, yes of known
    shown = [
        f"{yes} of {known} ({yes / known:.0%})" if known else "—" for _, yes, known in EXPECTED
    ]
    rows = table_rows(to_text(review))
    assert rows["seller"] == rows["All"] == ["4", *shown]
    week = next(cells for name, cells in rows.items() if name == "18 Mar 2030")
    assert week == ["4", *shown]
    assert rows["initech.example"] == ["1", "0 of 1 (0%)", "0 of 1 (0%)", "1"]
    assert rows["globex.example"] == ["2", "1 of 2 (50%)", "2 of 2 (100%)", "0"]

    # CSV and JSON: the counts, the known counts and the shares
    (record,) = [r for r in csv.DictReader(io.StringIO(to_csv(review))) if r["scope"] == "total"]
    data = json.loads(to_json(review))
    for name, yes, known in EXPECTED:
        assert (record[name], record[f"{name}_known"]) == (str(yes), str(known)), name
        assert float(record[f"{name}_share"]) == pytest.approx(yes / known), name
        assert (data["total"][name], data["total"][f"{name}_known"]) == (yes, known), name
        assert data["total"][f"{name}_share"] == pytest.approx(yes / known), name
        assert data["sellers"][0][f"{name}_known"] == known
    (week_data,) = [w for w in data["weeks"] if w["meetings"]]
    assert week_data["we_ready"] == 2 and week_data["they_ready_known"] == 4

    # the page: readiness first, the questions with their unknowns, nothing fetched
    page = to_html(review)
    lead = page[page.index("Are we ready? Is the customer ready?") : page.index("<svg")]
    assert "2 of the 4 meetings" in lead and "3 of the 4 meetings" in lead
    questions = re.findall(r"<td>In what share [^<]*\?</td><td>([^<]*)</td><td>(\d+)</td>", page)
    assert questions == [(cell, str(4 - known)) for cell, (_, _, known) in zip(shown, EXPECTED)]
    unprepared_first = page.index("<td>initech.example</td><td>1</td>")
    assert unprepared_first < page.index("<td>globex.example</td><td>2</td>")
    assert references(page) == []


def table_rows(text: str) -> dict[str, list[str]]:
    """The terminal's rows by their first cell, the last table's row of a name winning; the
    account's row is also under "seller"."""
    rows: dict[str, list[str]] = {}
    for line in text.split("\n"):
        if line.startswith("│"):
            name, *cells = (cell.strip() for cell in line.strip("│").split("│"))
            if len(cells) in (4, 8):  # readiness per customer; the practice's questions
                rows[name] = cells
    return rows
