"""`callplan demo`: the whole product on a throwaway local CalDAV server, with no account.

It starts Radicale on a free loopback port with a temporary store, seeds a realistic week
for a seller (customer meetings organised by the seller and by customers, back-to-back
calls, a recurring check-in, internal, declined, cancelled and all-day events, attendees in
several time zones), runs one cycle and shows what the agent did per meeting and what each
artifact looks like, then runs a second cycle to show it changes nothing.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import tzlocal
from caldav.collection import Calendar
from caldav.davclient import DAVClient
from rich.console import Console
from rich.panel import Panel

from agent.cli import present
from agent.cli.demo_server import RadicaleServer
from agent.config.settings import Settings, parse
from agent.core.model import Kind
from agent.plan.changes import CreateBlock, WriteAgenda
from agent.state.backend import open_store
from agent.sync.engine import AccountReport
from agent.sync.session import Session

SELLER = ("alex@northpeak.example", "Alex Rivera")
USER = "alex"


@dataclass(frozen=True)
class Seed:
    title: str
    day: int  # working days from the first one
    at: time
    minutes: int
    organizer: tuple[str, str] = SELLER
    guests: tuple[tuple[str, str], ...] = ()
    zone: str = ""  # the organiser's zone when it is not the seller's
    description: str = ""
    declined: bool = False
    cancelled: bool = False
    all_day: bool = False
    weekly: int = 0  # occurrences of a weekly series
    optional: tuple[str, ...] = ()


DANA = ("dana@globex.example", "Dana Whitfield")
RAJ = ("raj@globex.example", "Raj Patel")
ELI = ("eli@initech.example", "Eli Novak")
PAT = ("pat@umbrella-health.example", "Pat Okafor")
KIM = ("kim@kestrel-logistics.example", "Kim Larsen")
MEI = ("mei@contoso.example", "Mei Tanaka")
SAM = ("sam@contoso.example", "Sam Brooks")
HOOLI = ("gavin@hooli.example", "Gavin Belson")
BO = ("bo@northpeak.example", "Bo Chen")
CY = ("cy@northpeak.example", "Cy Ortiz")

WEEK = (
    Seed("Team stand-up", 0, time(9, 0), 15, guests=(BO, CY), weekly=0),
    Seed(
        "Globex: discovery call",
        0,
        time(10, 0),
        60,
        guests=(DANA, RAJ),
        description=(
            "Video call: https://meet.example/globex-disco\nDana asked to cover data residency."
        ),
    ),
    Seed(
        "Initech: pricing review",
        0,
        time(11, 0),
        45,
        guests=(ELI,),
        description="Dial-in: +1 555 0100",
    ),
    Seed(
        "Umbrella Health: security questionnaire",
        0,
        time(8, 0),
        60,
        organizer=PAT,
        guests=(PAT,),
        zone="America/New_York",
        description="Pat's agenda: walk through sections 3-5 of the questionnaire.",
    ),
    Seed("SaaS Summit (trade show)", 1, time(0), 0, all_day=True),
    Seed("Kestrel Logistics: weekly check-in", 1, time(13, 0), 30, guests=(KIM,), weekly=4),
    Seed(
        "Hooli: quarterly business review",
        1,
        time(16, 0),
        60,
        organizer=HOOLI,
        guests=(HOOLI,),
        declined=True,
    ),
    Seed("Globex: technical deep dive", 2, time(10, 0), 90, guests=(DANA, RAJ, BO)),
    Seed("Pipeline review", 2, time(14, 0), 30, guests=(BO, CY)),
    Seed(
        "Soylent: intro call",
        2,
        time(15, 0),
        30,
        guests=(("ana@soylent.example", "Ana Silva"),),
        cancelled=True,
    ),
    Seed(
        "Contoso: proposal walkthrough",
        3,
        time(17, 30),
        60,
        organizer=MEI,
        guests=(MEI, SAM),
        zone="Asia/Tokyo",
        optional=(SAM[0],),
    ),
)


def working_days(after: date, count: int) -> list[date]:
    days: list[date] = []
    day = after
    while len(days) < count:
        day += timedelta(days=1)
        if day.weekday() < 5:
            days.append(day)
    return days


def _ics(seed: Seed, day: date, zone: ZoneInfo) -> str:
    event = icalendar.Event()
    event.add("uid", f"{uuid.uuid4()}@demo.callplan")
    event.add("summary", seed.title)
    event.add("dtstamp", datetime.now(ZoneInfo("UTC")))
    if seed.all_day:
        event.add("dtstart", day)
        event.add("dtend", day + timedelta(days=1))
        event.add("transp", "TRANSPARENT")
    else:
        own = ZoneInfo(seed.zone) if seed.zone else zone
        # a customer abroad picks a time in their zone; shown to the seller in theirs
        local = datetime.combine(day, seed.at, tzinfo=zone)
        start = (
            local.astimezone(own) if not seed.zone else datetime.combine(day, seed.at, tzinfo=own)
        )
        event.add("dtstart", start)
        event.add("dtend", start + timedelta(minutes=seed.minutes))
    if seed.description:
        event.add("description", seed.description)
    if seed.weekly:
        event.add("rrule", {"freq": "weekly", "count": seed.weekly})
    if seed.cancelled:
        event.add("status", "CANCELLED")
    if seed.guests:
        organizer = icalendar.vCalAddress(f"mailto:{seed.organizer[0]}")
        organizer.params["cn"] = seed.organizer[1]
        event.add("organizer", organizer)
        for email, name in (*seed.guests, SELLER):
            attendee = icalendar.vCalAddress(f"mailto:{email}")
            attendee.params["cn"] = name
            mine = email == SELLER[0]
            attendee.params["partstat"] = "DECLINED" if seed.declined and mine else "ACCEPTED"
            attendee.params["role"] = (
                "OPT-PARTICIPANT" if email in seed.optional else "REQ-PARTICIPANT"
            )
            event.add("attendee", attendee)
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//callplan demo//EN")
    calendar.add("version", "2.0")
    calendar.add_component(event)
    text: bytes = calendar.to_ical()
    return text.decode()


def seed_week(calendar: Calendar, zone: ZoneInfo, today: date) -> int:
    days = working_days(today, 4)
    for seed in WEEK:
        calendar.add_event(_ics(seed, days[seed.day], zone))
    return len(WEEK)


def run_demo(console: Console, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
    zone_name = tzlocal.get_localzone_name() or "UTC"
    zone = ZoneInfo(zone_name)
    today = clock().astimezone(zone).date()
    with (
        tempfile.TemporaryDirectory(prefix="callplan-demo-") as folder,
        RadicaleServer(Path(folder) / "radicale") as server,
    ):
        client = DAVClient(url=server.url, username=USER, password="demo", enable_rfc6764=False)
        calendar = client.principal().make_calendar(name="Work", cal_id="work")
        count = seed_week(calendar, zone, today)
        console.print(
            f"Local CalDAV server (Radicale) on {server.url}, seller {SELLER[1]} <{SELLER[0]}>, "
            f"time zone {zone_name}: seeded {count} events over the next four working days.\n"
        )
        raw = {
            "state": str(Path(folder) / "state.db"),
            "defaults": {
                "timezone": zone_name,
                "rules": {"internal_domains": ["northpeak.example"]},
            },
            "accounts": [
                {
                    "name": USER,
                    "provider": "caldav",
                    "email": SELLER[0],
                    "url": server.url,
                    "username": USER,
                    "calendars": [str(calendar.url.canonical())],
                }
            ],
        }
        config = parse(raw, Path(folder) / "demo.toml")
        with Session(config, open_store(config, clock=clock), clock=clock) as session:
            first = session.cycle()[0]
            settings = config.accounts[0].settings
            _show_first(console, first, settings)
            second = session.cycle()[0]
            console.print(
                f"\n[bold]Second cycle[/]: {second.changes} changes, {second.requests} API "
                "request(s). Nothing to do: the calendar already holds what it should."
            )
        client.close()
    console.print(
        "The server and its data were temporary and are gone. Set up your own calendars: see "
        "README.md."
    )


def _show_first(console: Console, report: AccountReport, settings: Settings) -> None:
    if report.failure:  # the account's error, or its calendar's
        console.print(f"[red]error[/]: {report.failure}")
        return
    console.print(present.meeting_summary(report, settings))
    console.print(f"First cycle: {report.changes} changes, {report.requests} API request(s).\n")
    calendar = report.calendars[0]
    done = [change for change, outcome in calendar.applied if outcome == "done"]
    agendas = {c.meeting_key: c.description for c in done if isinstance(c, WriteAgenda)}
    blocks = {(c.kind, c.meeting_key): c.block for c in done if isinstance(c, CreateBlock)}
    meetings = sorted(calendar.meetings, key=lambda m: m.start)
    ours = next((m for m in meetings if m.key in agendas), None)
    if ours is not None:
        console.print(
            Panel(
                agendas[ours.key],
                title=f"The invitation {ours.title!r} as the customer now sees it",
            )
        )
    theirs = next(
        (m for m in meetings if not m.self_is_organizer and (Kind.PREP, m.key) in blocks), None
    )
    if theirs is not None:
        prep = blocks[(Kind.PREP, theirs.key)]
        console.print(
            Panel(
                prep.description,
                title=f"{prep.title!r}: private, with the agenda as a draft to send",
            )
        )
    if ours is not None and (Kind.DEBRIEF, ours.key) in blocks:
        debrief = blocks[(Kind.DEBRIEF, ours.key)]
        console.print(
            Panel(debrief.description, title=f"{debrief.title!r}: the form the seller fills in")
        )
