"""Property-based tests of the planner: for random calendars the agent converges and behaves.

Each example builds a random week (customer and internal meetings, organised by the seller or
by customers, cancelled, declined, all-day, back-to-back), runs the real engine and state
store on an in-memory calendar, and checks the invariants of docs/architecture.md.
"""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.core.model import Kind, Response, Status
from agent.plan.classify import Classifier
from tests.support.helpers import MONDAY, SELLER, World, at, meeting

GUESTS = [
    "dana@globex.example",
    "eli@initech.example",
    "fay@gmail.com",
    "bo@acme.example",
    "cy@eu.acme.example",
]

meetings = st.lists(
    st.fixed_dictionaries(
        {
            "day": st.integers(0, 4),
            "slot": st.integers(0, 40),  # quarter hours from 08:00
            "minutes": st.sampled_from([15, 30, 45, 60, 90, 120]),
            "guests": st.lists(st.sampled_from(GUESTS), min_size=0, max_size=3, unique=True),
            "seller_organizes": st.booleans(),
            "status": st.sampled_from(
                [Status.CONFIRMED] * 6 + [Status.CANCELLED, Status.TENTATIVE]
            ),
            "response": st.sampled_from(
                [Response.ACCEPTED] * 6 + [Response.DECLINED, Response.TENTATIVE]
            ),
            "all_day": st.sampled_from([False] * 9 + [True]),
            "description": st.text(max_size=40),
        }
    ),
    max_size=10,
)


def build(world: World, specs: list[dict]) -> None:
    for index, spec in enumerate(specs):
        start = at(spec["day"], 8) + timedelta(minutes=15 * spec["slot"])
        organizer = SELLER if spec["seller_organizes"] or not spec["guests"] else spec["guests"][0]
        world.add(
            meeting(
                f"Meeting {index}",
                start,
                spec["minutes"],
                spec["guests"],
                organizer,
                spec["description"],
                spec["status"],
                spec["response"] if organizer != SELLER else Response.ACCEPTED,
                spec["all_day"],
            )
        )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(meetings)
def test_random_calendars_converge_and_keep_the_invariants(specs: list[dict]) -> None:
    world = World()
    build(world, specs)
    world.cycle()
    # converged: planning again after applying yields nothing, and nothing on the calendar moves
    before = dict(world.calendar.events)
    assert world.applied() == []
    assert world.calendar.events == before

    blocks = world.blocks()
    # no two agent blocks overlap each other
    ordered = sorted(blocks, key=lambda b: b.start)
    for first, second in zip(ordered, ordered[1:]):
        assert first.end <= second.start, f"{first.title} overlaps {second.title}"
    # no block for a non-customer meeting, and blocks are private with no attendees
    meetings_by_key = {e.key: e for e in world.calendar.events.values() if not e.is_block}
    rules = Classifier(world.account.settings)
    tags = [block.block_tag for block in blocks if block.block_tag is not None]
    assert len(tags) == len(blocks)
    for block, tag in zip(blocks, tags):
        owner = meetings_by_key[tag.meeting_key]
        assert rules.classify(owner).customer, f"block for {owner.title}"
        assert block.attendees == ()
    # every customer meeting in the window has exactly one debrief (and at most one prep)
    for key, event in meetings_by_key.items():
        kinds = [tag.kind for tag in tags if tag.meeting_key == key]
        if rules.classify(event).customer and event.end > MONDAY:
            assert kinds.count(Kind.DEBRIEF) == 1, f"{event.title}: {kinds}"
            assert kinds.count(Kind.PREP) <= 1
        else:
            assert kinds == []


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(meetings, st.integers(1, 5 * 24 * 4))
def test_converges_again_as_time_passes(specs: list[dict], quarters: int) -> None:
    """Later in the week the agent still converges and never touches blocks that have started."""
    world = World()
    build(world, specs)
    world.cycle()
    world.now = MONDAY + timedelta(minutes=15 * quarters)
    started = {
        ref: e for ref, e in world.calendar.events.items() if e.is_block and e.start <= world.now
    }
    world.cycle()
    assert world.applied() == []
    for ref, block in started.items():
        assert world.calendar.events.get(ref) == block, f"{block.title} changed after it started"


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(meetings, st.data())
def test_agenda_text_around_the_markers_survives(specs: list[dict], data: st.DataObject) -> None:
    """Whatever people write before or after the agenda stays byte for byte, through rewrites and
    undo."""
    world = World()
    build(world, specs)
    world.cycle()
    for event in list(world.calendar.events.values()):
        if event.agenda_tag is None:
            continue
        added = data.draw(st.text(max_size=30), label="appended by a person")
        edited = world.calendar.person_edit(
            event.ref, description=event.description + added, title=event.title + " (v2)"
        )
        world.cycle()  # the title change alters the agenda: it is rewritten in place
        now = world.calendar.events[edited.ref].description
        assert now.endswith(added)
        original = next(
            s["description"] for i, s in enumerate(specs) if f"Meeting {i}" == event.title
        )
        assert now.startswith(original)
