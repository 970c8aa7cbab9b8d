"""Small builders shared by the tests: settings, meetings, and an engine on a memory calendar."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from agent.config.settings import Account, parse
from agent.core.model import Attendee, Event, Response, Status
from agent.state.sqlite import SqliteStore
from agent.state.store import Store
from agent.sync.engine import AccountSync
from agent.text.render import Renderer
from tests.support.memory_calendar import MemoryCalendar, MemoryConnector

StoreOpener = Callable[[Callable[[], datetime]], Store]  # a store on some state, given its clock

BERLIN = ZoneInfo("Europe/Berlin")
SELLER = "alex@acme.example"
# Monday 18 March 2030, 07:00 in Berlin: a fixed "now" so no test depends on today's date.
MONDAY = datetime(2030, 3, 18, 7, 0, tzinfo=BERLIN)


# The agenda goes into the invitation at its lead time whatever is written, as the tests of the
# agenda's mechanics (splicing, notifications, undo, faults) expect; the tests of the send policies
# (tests/loop/test_callplan.py) name theirs.
AUTO: dict[str, object] = {"send": "auto"}


def account(**overrides: object) -> Account:
    """A seller's account in Berlin with acme.example internal; `overrides` are [defaults] keys
    (an `agenda` table is merged into AUTO)."""
    agenda = overrides.pop("agenda", {})
    defaults: dict[str, object] = {
        "timezone": "Europe/Berlin",
        "rules": {"internal_domains": ["acme.example"]},
    }
    defaults.update(overrides)
    defaults["agenda"] = {**AUTO, **agenda}  # type: ignore[dict-item]
    config = parse(
        {
            "defaults": defaults,
            "accounts": [{"name": "alex", "provider": "caldav", "email": SELLER}],
        },
        Path("test.toml"),
    )
    return config.accounts[0]


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A time in the test week: day 0 is Monday 18 March 2030, in Berlin."""
    return datetime(2030, 3, 18, hour, minute, tzinfo=BERLIN) + timedelta(days=day)


def meeting(
    title: str,
    start: datetime,
    minutes: int = 60,
    guests: Iterable[str] = ("dana@globex.example",),
    organizer: str = SELLER,
    description: str = "",
    status: Status = Status.CONFIRMED,
    response: Response = Response.ACCEPTED,
    all_day: bool = False,
) -> Event:
    attendees = tuple(Attendee(email, email.split("@")[0].title()) for email in guests)
    attendees += (Attendee(SELLER, "Alex", response),)
    return Event(
        key="",
        ref="",
        calendar="",
        title=title,
        start=start,
        end=start + timedelta(minutes=minutes),
        organizer=organizer,
        self_is_organizer=organizer == SELLER,
        self_response=response,
        attendees=attendees,
        description=description,
        status=status,
        all_day=all_day,
    )


class World:
    """A memory calendar, an engine with a real store on it (SQLite unless `store` opens
    another), and a movable clock."""

    def __init__(
        self,
        now: datetime = MONDAY,
        store_path: Path | str = ":memory:",
        store: StoreOpener | None = None,
        **settings: object,
    ) -> None:
        self.now = now
        self.calendar = MemoryCalendar(SELLER)
        self.connector = MemoryConnector(self.calendar)
        self.store = store(self.clock) if store else SqliteStore(store_path, clock=self.clock)
        self.account = account(**settings)
        self.renderer = Renderer()
        self.sync = AccountSync(
            self.account, self.connector, self.store, self.renderer, clock=self.clock
        )

    def clock(self) -> datetime:
        return self.now

    def add(self, event: Event) -> Event:
        return self.calendar.person_add(event)

    def cycle(self):  # type: ignore[no-untyped-def]
        report = self.sync.cycle()
        assert not report.error, report.error
        for calendar in report.calendars:
            assert not calendar.error, calendar.error
        return report

    def applied(self) -> list[str]:
        """One cycle; the verbs of what it applied."""
        from agent.plan.changes import verb

        return [
            verb(change) for calendar in self.cycle().calendars for change, _ in calendar.applied
        ]

    def blocks(self, kind: str | None = None) -> list[Event]:
        found = [e for e in self.calendar.blocks() if kind is None or e.block_tag.kind == kind]  # type: ignore[union-attr]
        return sorted(found, key=lambda e: e.start)

    def block_for(self, kind: str, event: Event) -> Event:
        matches = [b for b in self.blocks(kind) if b.block_tag.meeting_key == event.key]  # type: ignore[union-attr]
        assert len(matches) == 1, f"{len(matches)} {kind} blocks for {event.title}"
        return matches[0]

    def get(self, event: Event) -> Event:
        return self.calendar.events[event.ref]
