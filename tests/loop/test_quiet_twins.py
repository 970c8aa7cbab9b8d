"""Skipping quiet cycles changes nothing anyone sees: the proof.

Two identical calendars receive the same random edits by people (meetings added, moved,
resized, cancelled, declined, customers invited and uninvited, descriptions edited, blocks
written in, deleted and moved, debriefs written) and the same random steps of the clock
(minutes to days, and onto the instants where rules turn: block starts, meeting ends, lead
times, settle times, midnights, the skipping agent's own deadline, a second either side).
One agent skips quiet cycles; the other plans every cycle. After every step both calendars
hold the same, as people see them: titles, times, descriptions and tags, whatever ids and
etags each provider gave. On the memory calendar with many examples, and on every
provider's harness (Radicale, the Google fake, the Graph fake) with a few.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.cli.demo_server import RadicaleServer
from agent.config.settings import parse
from agent.core.model import Attendee, Event, Response, Status
from agent.state.sqlite import SqliteStore
from agent.state.store import CalendarKey
from agent.sync.engine import AccountSync
from agent.text.render import Renderer
from connectors.base import Connector
from tests.loop.test_loop_scenarios import FILLED, write_as_seller
from tests.support.fakes.authority import Authority
from tests.support.fakes.google_calendar import GoogleCalendarFake
from tests.support.fakes.graph import GraphFake
from tests.support.harness.caldav import CaldavHarness
from tests.support.harness.google import GoogleHarness
from tests.support.harness.outlook import OutlookHarness
from tests.support.helpers import BERLIN, SELLER
from tests.support.memory_calendar import CALENDAR, MemoryCalendar, MemoryConnector
from tests.support.servers.radicale import make_calendar

CUSTOMERS = ("dana@globex.example", "eli@initech.example")
SECOND, MINUTE = timedelta(seconds=1), timedelta(minutes=1)
RENDERER = Renderer()  # one for every agent, as the service has one for every account


class Calendar(Protocol):
    """What the proof needs of a calendar: a harness (tests/support/harness/base.py) has it."""

    name: str
    seller: str
    zone: ZoneInfo
    calendar: str

    def connector(self) -> Connector: ...

    def add_meeting(
        self,
        title: str,
        start: datetime,
        minutes: int = 60,
        guests: Iterable[str] = ...,
        organizer: str | None = None,
        description: str = "",
    ) -> str: ...

    @property
    def edit_meeting(self) -> Callable[..., None]:
        """`edit_meeting(key, start=..., minutes=..., description=..., guests=..., cancel=...,
        decline=...)`: a person changes a meeting."""

    def delete(self, event: Event) -> None: ...

    def move(self, event: Event, start: datetime, end: datetime) -> None: ...

    def write_description(self, event: Event, description: str) -> None: ...

    def events(self) -> list[Event]: ...


class MemoryPeople:
    """People acting on a memory calendar as a harness's people act on a server."""

    name = "memory"
    seller = SELLER
    zone = BERLIN
    calendar = CALENDAR

    def __init__(self) -> None:
        self.memory = MemoryCalendar(SELLER)

    def connector(self) -> Connector:
        return MemoryConnector(self.memory)

    def _attendees(self, guests: Iterable[str], response: Response) -> tuple[Attendee, ...]:
        return (
            *(Attendee(g, g.split("@")[0].title()) for g in guests),
            Attendee(SELLER, "Alex", response),
        )

    def add_meeting(
        self,
        title: str,
        start: datetime,
        minutes: int = 60,
        guests: Iterable[str] = ("dana@globex.example",),
        organizer: str | None = None,
        description: str = "",
    ) -> str:
        organizer = organizer or SELLER
        event = Event(
            key="",
            ref="",
            calendar=CALENDAR,
            title=title,
            start=start,
            end=start + timedelta(minutes=minutes),
            organizer=organizer,
            self_is_organizer=organizer == SELLER,
            attendees=self._attendees(guests, Response.ACCEPTED),
            description=description,
        )
        return self.memory.person_add(event).key

    def edit_meeting(
        self,
        key: str,
        *,
        start: datetime | None = None,
        minutes: int | None = None,
        description: str | None = None,
        guests: Iterable[str] | None = None,
        cancel: bool = False,
        decline: bool = False,
    ) -> None:
        event = self.memory.events[key]
        changes: dict[str, Any] = {}
        if start is not None or minutes is not None:
            begin = start or event.start
            length = timedelta(minutes=minutes) if minutes else event.end - event.start
            changes.update(start=begin, end=begin + length)
        if description is not None:
            changes["description"] = description
        if cancel:
            changes["status"] = Status.CANCELLED
        response = Response.DECLINED if decline else event.self_response
        if guests is not None or decline:
            others = [a.email for a in event.attendees if a.email != SELLER]
            changes["attendees"] = self._attendees(others if guests is None else guests, response)
            changes["self_response"] = response
        self.memory.person_edit(key, **changes)

    def delete(self, event: Event) -> None:
        self.memory.person_delete(event.ref)

    def move(self, event: Event, start: datetime, end: datetime) -> None:
        self.memory.person_edit(event.ref, start=start, end=end)

    def write_description(self, event: Event, description: str) -> None:
        self.memory.person_edit(event.ref, description=description)

    def events(self) -> list[Event]:
        return list(self.memory.events.values())


def agent(
    calendar: Calendar,
    clock: Callable[[], datetime],
    always_plan: bool,
    settings: dict[str, Any],
) -> AccountSync:
    """The agent of one calendar, with its own state (the engine is handed its connector: the
    provider the configuration names is not used)."""
    raw = {
        "defaults": {
            "timezone": str(calendar.zone),
            "rules": {"internal_domains": [calendar.seller.split("@")[1]]},
            **settings,
        },
        "accounts": [
            {
                "name": "seller",
                "provider": "caldav",
                "email": calendar.seller,
                "calendars": [calendar.calendar],
            }
        ],
    }
    account = parse(raw, Path("config.toml")).accounts[0]
    store = SqliteStore(":memory:", clock=clock)
    return AccountSync(
        account, calendar.connector(), store, RENDERER, clock=clock, always_plan=always_plan
    )


def seen(calendar: Calendar) -> list[tuple[object, ...]]:
    """The calendar as people see it, without what differs between two calendars by nature:
    ids, etags, and the seller's own address (on a server, each calendar has its own seller)."""
    events = calendar.events()
    titles = {event.key: event.title for event in events if not event.is_block}

    def person(address: str) -> str:
        return "the seller" if address.lower() == calendar.seller.lower() else address

    rows = []
    for event in events:
        block, agenda = event.block_tag, event.agenda_tag
        rows.append(
            (
                event.title,
                event.start.astimezone(UTC),
                event.end.astimezone(UTC),
                event.status.value,
                event.self_response.value,
                person(event.organizer),
                tuple(sorted((person(a.email), a.response.value) for a in event.attendees)),
                event.description,
                None
                if block is None
                else (
                    block.kind.value,
                    titles.get(block.meeting_key, "a meeting not in the calendar"),
                    tuple(time.astimezone(UTC) for time in (*block.placed, *block.meeting)),
                    block.content,
                    block.pinned,
                ),
                None if agenda is None else (agenda.content, agenda.sep, agenda.body_format.value),
            )
        )
    return sorted(rows, key=repr)


class Twins:
    """Two calendars, identical as people see them, each with its agent: the first skips quiet
    cycles, the second plans every cycle. People do the same to both."""

    def __init__(
        self,
        first: Calendar,
        second: Calendar,
        now: datetime,
        settings: dict[str, Any],
        stops: int = 5,
    ) -> None:
        self.now = now
        self.stops = stops  # how many instants on the way a wait cycles at
        self.sides = (first, second)
        self.agents = [
            agent(side, self.clock, index == 1, settings) for index, side in enumerate(self.sides)
        ]
        self.settings = self.agents[0].account.settings
        self.meetings: list[tuple[str, str]] = []  # each meeting's key on each side
        self.cycles: list[datetime] = []  # when each step's cycles ran
        self.skipped = 0

    def clock(self) -> datetime:
        return self.now

    def at(self, day: int, minutes: int) -> datetime:
        """A time of the scenario: `minutes` after 08:00 on its `day` (day 0 is Monday 18 March
        2030), in the seller's zone."""
        zone = self.sides[0].zone
        return datetime(2030, 3, 18, 8, tzinfo=zone) + timedelta(days=day, minutes=minutes)

    def step(self) -> None:
        """A cycle of both agents, then both calendars are the same."""
        reports = [sync.cycle() for sync in self.agents]
        for report in reports:
            assert not report.failure, report.failure
        skipping = reports[0].calendars[0].outcome
        assert skipping is not None and reports[1].calendars[0].outcome is not None
        self.skipped += not skipping.planned
        self.cycles.append(self.now)
        assert seen(self.sides[0]) == seen(self.sides[1]), f"at {self.now}: {skipping}"

    def advance(self, target: datetime) -> None:
        """Move the clock to `target`, cycling a minute from now, then just after each of the
        first few instants on the way at which a rule may turn and a minute later, as a service
        cycling every minute would."""
        if self.now + MINUTE < target:
            self.now += MINUTE
            self.step()
        for _ in range(self.stops):
            on_the_way = [moment for moment in self.instants() if moment + MINUTE < target]
            if not on_the_way:
                break
            for after in (SECOND, MINUTE):
                self.now = on_the_way[0] + after
                self.step()
        self.now = target

    # -- what people do --------------------------------------------------------------------------

    def add(self, title: str, start: datetime, minutes: int, guest: str, theirs: bool) -> None:
        organizer = guest if theirs and guest in CUSTOMERS else None
        keys = [
            side.add_meeting(title, start, minutes, guests=[guest], organizer=organizer)
            for side in self.sides
        ]
        self.meetings.append((keys[0], keys[1]))

    def edit(self, index: int, **changes: Any) -> None:
        for side, key in zip(self.sides, self._keys(index)):
            if key in {event.key for event in side.events()}:
                side.edit_meeting(key, **changes)

    def _keys(self, index: int) -> tuple[str, str]:
        return self.meetings[index % len(self.meetings)]

    def blocks(self, index: int, kind: str) -> list[tuple[Calendar, Event]]:
        """The meeting's block of `kind` on each side, when both have one (they are the same)."""
        found = []
        for side, key in zip(self.sides, self._keys(index)):
            blocks = [
                event
                for event in side.events()
                if event.block_tag is not None
                and event.block_tag.kind == kind
                and event.block_tag.meeting_key == key
            ]
            if len(blocks) != 1:
                return []
            found.append((side, blocks[0]))
        return found

    def instants(self) -> list[datetime]:
        """When rules turn, as the first calendar shows: its events' starts and ends, the
        agenda's lead time and the look-ahead before each, harvest_days after each, the next
        midnights, settle_minutes and recheck_hours after the last cycles (which may have read a
        debrief), and the skipping agent's own deadline."""
        settings = self.settings
        spans = (
            -timedelta(days=settings.agenda.lead_days),
            -timedelta(days=settings.lookahead_days),
            timedelta(days=settings.debrief.harvest_days),
        )
        found: set[datetime] = set()
        for event in self.sides[0].events():
            found.update((event.start, event.end))
            found.update(event.start.astimezone(UTC) + span for span in spans)
        zone = self.sides[0].zone
        for days in range(1, 4):
            day = self.now.astimezone(zone).date() + timedelta(days=days)
            found.add(datetime.combine(day, datetime.min.time(), tzinfo=zone))
        after = (
            timedelta(minutes=settings.agenda.settle_minutes),
            timedelta(hours=settings.debrief.recheck_hours),
        )
        found.update(cycle + span for cycle in self.cycles[-3:] for span in after)
        sync = self.agents[0]
        last = sync.store.planning(CalendarKey(sync.account.name, self.sides[0].calendar)).last
        if last is not None and last.deadline is not None:
            found.add(last.deadline.at)
        return sorted(moment for moment in found if moment > self.now)


def colleague(twins: Twins) -> str:
    return "bo@" + twins.sides[0].seller.split("@")[1]


def add(twins: Twins, data: st.DataObject) -> None:
    """A meeting appears, in the scenario's week, with a customer or a colleague."""
    day = data.draw(st.integers(0, 9), label="day")
    minutes = data.draw(st.integers(0, 40), label="quarter") * 15
    twins.add(
        f"Meeting {len(twins.meetings)}",
        twins.at(day, minutes),
        data.draw(st.sampled_from([30, 60, 90]), label="length"),
        # mostly one customer: the debrief of one meeting flows into the next
        data.draw(st.sampled_from([CUSTOMERS[0], *CUSTOMERS, colleague(twins)]), label="guest"),
        data.draw(st.booleans(), label="they organise"),
    )


# what may happen in a step, each as likely as its share of the list
ANYTHING = (
    *("wait",) * 2,
    *("wait until",) * 4,
    "add",
    "move",
    "resize",
    "cancel",
    "decline",
    "invite",
    "uninvite",
    "describe",
    "write in a block",
    "delete a block",
    "move a block",
    *("debrief",) * 2,
)
# the loop: a debrief written, rewritten, read back and settled, with time passing
THE_LOOP = ("wait", *("wait until",) * 4, "debrief", "rewrite the debrief", "move")


def act(twins: Twins, data: st.DataObject, happens: tuple[str, ...] = ANYTHING) -> None:
    """One thing people do, or one step of the clock, drawn by hypothesis."""
    what = data.draw(st.sampled_from(happens), label="what")
    if what == "wait":
        minutes = data.draw(st.integers(1, 3 * 24 * 60), label="minutes")
        twins.advance(twins.now + timedelta(minutes=minutes))
        return
    if what == "wait until":
        instants = twins.instants()
        if instants:
            target = data.draw(st.sampled_from(instants[:12]), label="until")
            offset = data.draw(st.sampled_from([-1, 0, 1, 60]), label="seconds off")
            twins.advance(max(twins.now, target + timedelta(seconds=offset)))
        return
    if what == "add" or not twins.meetings:
        add(twins, data)
        return
    if what in (
        "write in a block",
        "delete a block",
        "move a block",
        "debrief",
        "rewrite the debrief",
    ):
        block_act(twins, data, what)
        return
    index = data.draw(st.integers(0, len(twins.meetings) - 1), label="meeting")
    if what == "move":
        day, quarter = data.draw(st.integers(0, 9)), data.draw(st.integers(0, 40))
        twins.edit(index, start=twins.at(day, quarter * 15))
    elif what == "resize":
        twins.edit(index, minutes=data.draw(st.sampled_from([15, 45, 120])))
    elif what in ("cancel", "decline"):
        twins.edit(index, **{what: True})
    elif what == "invite":
        twins.edit(index, guests=[data.draw(st.sampled_from(CUSTOMERS))])
    elif what == "uninvite":
        twins.edit(index, guests=[colleague(twins)])
    elif what == "describe":
        twins.edit(index, description=data.draw(st.sampled_from(["Room 4", "Dial-in: 555-0100"])))


def block_act(twins: Twins, data: st.DataObject, what: str) -> None:
    """The seller writes in, deletes or moves one of the agent's blocks, or fills in a debrief,
    the same on both sides (a meeting with such a block, if any, is drawn)."""
    kind = "debrief" if "debrief" in what else data.draw(st.sampled_from(["prep", "debrief"]))
    having = [index for index in range(len(twins.meetings)) if twins.blocks(index, kind)]
    if not having:
        return
    index = data.draw(st.sampled_from(having), label="meeting")
    shift = timedelta(minutes=15 * data.draw(st.integers(-6, 6).filter(bool), label="shift"))
    for side, block in twins.blocks(index, kind):
        if what == "write in a block":
            side.write_description(block, block.description + "\nMy notes: bring the numbers")
        elif what == "delete a block":
            side.delete(block)
        elif what == "move a block":
            side.move(block, block.start + shift, block.end + shift)
        else:  # a second version says otherwise, and settles anew
            text = FILLED if what == "debrief" else FILLED.replace("pilot scope", "budget")
            write_as_seller(side, block, text)  # type: ignore[arg-type]


def prove(
    twins: Twins, data: st.DataObject, steps: int, happens: tuple[str, ...] = ANYTHING
) -> None:
    """The first meetings, then `steps` things that happen; the calendars stay the same
    throughout, and at the end a calendar with nothing left to do is skipped."""
    if not twins.meetings:
        for _ in range(data.draw(st.integers(1, 3), label="meetings")):
            add(twins, data)
    twins.step()
    for _ in range(steps):
        act(twins, data, happens)
        twins.step()
    for _ in range(3):  # its own writes read back, the harvest's too: then nothing to do
        twins.step()
    skipped = twins.skipped
    twins.step()
    assert twins.skipped == skipped + 1, "a calendar with nothing to do was planned"


START = datetime(2030, 3, 18, 7, tzinfo=BERLIN)
# the settings whose rules read the clock, short enough that a scenario crosses them
SETTINGS = st.fixed_dictionaries(
    {
        "lookahead_days": st.sampled_from([3, 14]),
        "agenda": st.fixed_dictionaries(
            {"lead_days": st.sampled_from([1, 2, 7]), "settle_minutes": st.sampled_from([0, 30])}
        ),
        "debrief": st.fixed_dictionaries(
            {
                "harvest_days": st.sampled_from([1, 14]),
                "recheck_hours": st.sampled_from([1, 6]),
                "next_meeting_horizon_days": st.sampled_from([2, 21]),
            }
        ),
    }
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_skipping_changes_nothing_on_the_memory_calendar(data: st.DataObject) -> None:
    twins = Twins(MemoryPeople(), MemoryPeople(), START, data.draw(SETTINGS, label="settings"))
    prove(twins, data, data.draw(st.integers(5, 10)))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_skipping_changes_nothing_through_the_loop(data: st.DataObject) -> None:
    """Meetings with one customer, one after the other: the debrief of one is written (before
    its block ends or after), rewritten, read back and settled into the next one's prep and
    agenda, as time passes."""
    twins = Twins(MemoryPeople(), MemoryPeople(), START, data.draw(SETTINGS, label="settings"))
    for day in sorted(data.draw(st.lists(st.integers(0, 4), min_size=2, max_size=3))):
        quarter = data.draw(st.integers(4, 32), label="quarter")
        twins.add(
            f"Meeting {len(twins.meetings)}", twins.at(day, quarter * 15), 60, CUSTOMERS[0], False
        )
    prove(twins, data, data.draw(st.integers(4, 8)), THE_LOOP)


@pytest.fixture
def twins_on(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[[dict[str, Any]], Twins]]:
    """New twin calendars on one provider's server for each example."""
    made: list[Any] = []
    provider = request.param

    def make(settings: dict[str, Any]) -> Twins:
        if provider == "caldav":
            server: RadicaleServer = request.getfixturevalue("radicale")
            sides: list[Calendar] = []
            for _ in range(2):
                user = f"u{uuid.uuid4().hex[:12]}"
                sides.append(CaldavHarness(server.url, user, make_calendar(server.url, user)))
        elif provider == "google":
            fake: GoogleCalendarFake = request.getfixturevalue("google_fake")
            sides = [
                GoogleHarness(fake, seller=f"s{uuid.uuid4().hex[:8]}@northpeak.example")
                for _ in range(2)
            ]
        else:
            graph: GraphFake = request.getfixturevalue("graph")
            authority: Authority = request.getfixturevalue("authority")
            sides = [
                OutlookHarness(
                    graph,
                    authority,
                    tmp_path / uuid.uuid4().hex,
                    seller=f"s{uuid.uuid4().hex[:8]}@seller.example",
                )
                for _ in range(2)
            ]
        made.extend(sides)
        # the rules are the same on every provider: fewer stops on the way than in memory
        return Twins(sides[0], sides[1], START.astimezone(sides[0].zone), settings, stops=2)

    yield make
    for harness in made:
        harness.close()


@pytest.mark.parametrize("twins_on", ["caldav", "google", "outlook"], indirect=True)
@settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.data())
def test_skipping_changes_nothing_on_every_provider(
    twins_on: Callable[[dict[str, Any]], Twins], data: st.DataObject
) -> None:
    prove(twins_on(data.draw(SETTINGS, label="settings")), data, data.draw(st.integers(6, 8)))
