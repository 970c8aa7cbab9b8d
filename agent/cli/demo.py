"""`callplan demo`: the whole product on a throwaway local CalDAV server, with no account.

It starts Radicale on a free loopback port with a temporary store, seeds a realistic week
for a seller (customer meetings organised by the seller and by customers, back-to-back
calls, a recurring check-in, internal, declined, cancelled and all-day events, attendees in
several time zones), runs one cycle and shows what the agent did per meeting. Then the seller
writes their call plan into one meeting's prep, as they would in their calendar app; once it
has settled, the demo shows that meeting's invitation as the customer sees it, built from the
plan, and what the other artifacts look like, then runs a last cycle to show it changes nothing.
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
from caldav.calendarobjectresource import Event
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
from agent.state.store import Artifact
from agent.sync.engine import AccountReport
from agent.sync.session import Session
from agent.text.form import fill_in

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


PLANNED = "Globex: technical deep dive"
# The call plan the seller writes into that meeting's prep: under each heading of the form, as
# they would to the customer, with two private lines the invitation must never show.
PLAN = {
    "Purpose": "Agree the scope and success criteria of a four-week pilot on your own tickets",
    "What they will get": (
        "- a pilot plan your IT team can sign off\n"
        "- straight answers on data residency and the EU hosting region"
    ),
    "What we hope to get": "- the go-ahead to draft the pilot agreement",
    "Topics": (
        "- Your goals for the pilot (15 min)\n"
        "- Data residency and the security review (25 min)\n"
        "- Scope, success criteria and timeline (35 min)\n"
        "- Decisions and next steps (15 min)\n"
        "Private: keep pricing out of it until the scope is agreed"
    ),
    "Please bring": "- last quarter's ticket volumes by channel",
    "Who should join": "- your IT security lead",
    "What we hope to decide": "- the pilot's scope and start date\n- who signs off on your side",
    "Risks": "- Raj may block it over the EU hosting region: bring the data-flow diagram",
}


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
        minutes = [0]  # how far the demo's clock has moved on

        def moment() -> datetime:
            return clock() + timedelta(minutes=minutes[0])

        with Session(config, open_store(config, clock=moment), clock=moment) as session:
            first = session.cycle()[0]
            settings = config.accounts[0].settings
            _show_first(console, first, settings)
            if first.failure:
                client.close()
                return
            prep = next(
                a for a in session.store.artifacts() if a.kind is Kind.PREP and a.title == PLANNED
            )
            _write_plan(calendar, prep)
            typed = "\n".join(f"{heading}…\n{answer}" for heading, answer in PLAN.items())
            console.print(
                Panel(typed, title=f"The seller writes the call plan for {PLANNED!r} in its prep")
            )
            minutes[0] = 1  # the next cycle reads the plan...
            session.cycle()
            minutes[0] += settings.agenda.settle_minutes  # ...which settles, and goes out
            planning = session.cycle()[0]
            _show_planned(console, planning)
            last = session.cycle()[0]
            console.print(
                f"\n[bold]Next cycle[/]: {last.changes} changes, {last.requests} API "
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
    blocks = {(c.kind, c.meeting_key): c.block for c in done if isinstance(c, CreateBlock)}
    meetings = sorted(calendar.meetings, key=lambda m: m.start)
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
    ours = next((m for m in meetings if (Kind.DEBRIEF, m.key) in blocks), None)
    if ours is not None:
        debrief = blocks[(Kind.DEBRIEF, ours.key)]
        console.print(
            Panel(debrief.description, title=f"{debrief.title!r}: the form the seller fills in")
        )


def _write_plan(calendar: Calendar, prep: Artifact) -> None:
    """The seller types their plan under the headings of the prep's form, in their calendar
    app."""
    event = Event(calendar.client, url=prep.ref, parent=calendar)
    event.load()
    component = event.icalendar_component
    text = str(component.get("description", ""))
    component.pop("description", None)
    component.add("description", fill_in(text, PLAN))
    event.save()


def _show_planned(console: Console, report: AccountReport) -> None:
    """The invitation of the planned meeting, as the customer sees it once the plan settled."""
    calendar = report.calendars[0] if report.calendars else None
    applied = calendar.applied if calendar else []
    titles = {m.key: m.title for m in (calendar.meetings if calendar else [])}
    for change, outcome in applied:
        if outcome == "done" and isinstance(change, WriteAgenda):
            if titles.get(change.meeting_key) != PLANNED:
                continue
            console.print(
                Panel(
                    change.description,
                    title=f"Half an hour later: the invitation {PLANNED!r} as the customer sees "
                    "it, built from the plan (the private lines stayed in the prep)",
                )
            )
            console.print(
                f"Cycle: {report.changes} changes, {report.requests} API request(s): the agenda "
                "went into the invitation, and the prep's preview says so."
            )
            return
    console.print(f"[red]error[/]: the agenda of {PLANNED!r} did not go out: {report.failure}")
