"""The call plan loop through the real engine and store: prep -> agenda.

What a seller writes under the shared headings of a prep's call plan becomes the customer's
agenda once the prep has stayed unchanged for agenda.settle_minutes; everything else stays in
the prep. All with an injected clock on the memory calendar.
"""

from __future__ import annotations

from datetime import timedelta

from agent.core.model import Event
from agent.text import splice
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


def agenda(world: World, event: Event) -> str:
    current = world.get(event)
    return splice.TEXT.find(current.description, current.agenda_tag).body


def write_plan(world: World, event: Event, text: str) -> Event:
    """The seller writes their plan into the prep block of `event`, in their calendar app."""
    prep = world.block_for("prep", event)
    return world.calendar.person_edit(prep.ref, description=prep.description + "\n" + text)


def test_a_plan_reaches_the_agenda_once_it_has_settled() -> None:
    world = World()
    globex = world.add(meeting("Globex", at(1, 10)))
    world.cycle()
    assert world.calendar.notifications == {"dana@globex.example": 1}
    write_plan(world, globex, PLAN)
    world.now = at(0, 8)
    world.cycle()
    assert "four-week pilot" not in agenda(world, globex)
    world.now = at(0, 8, 29)
    world.cycle()
    assert "four-week pilot" not in agenda(world, globex)
    world.now = at(0, 8, 30)
    world.cycle()
    shown = agenda(world, globex)
    assert shown.startswith("Purpose\nAgree the scope of a four-week pilot\n")
    assert "- Your goals for the pilot (15 min)\n- Scope and success criteria (25 min)\n" in shown
    assert "What we hope to decide\n- pilot scope and start date\n" in shown
    assert "Initech" not in shown and "Raj" not in shown
    assert world.calendar.notifications == {"dana@globex.example": 2}
    for minutes in (1, 30, 300):
        world.now = at(0, 8, 30) + timedelta(minutes=minutes)
        world.cycle()
    assert world.calendar.notifications == {"dana@globex.example": 2}
