"""The loop end to end on a real Radicale server: meeting 1 -> its debrief, filled in by the
seller's calendar client -> meeting 2's prep and agenda, with an injected clock."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import icalendar
from servers.radicale import SELLER, ZONE, put_ics, send

from agent.config import parse as parse_config
from agent.engine import AccountSync
from agent.model import Kind
from agent.render import Renderer
from agent.store import SqliteStore
from connectors.caldav import CaldavConnector
from connectors.radicale_server import RadicaleServer


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2030, 3, day, hour, minute, tzinfo=ZONE)


def invitation(uid: str, title: str, start: str, end: str) -> str:
    """A customer meeting the seller organises, as a calendar client stores it."""
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//client//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20300301T000000Z\r\nSUMMARY:{title}\r\n"
        f"DTSTART;TZID=Europe/Berlin:{start}\r\nDTEND;TZID=Europe/Berlin:{end}\r\n"
        f"ORGANIZER;CN=Ana:mailto:{SELLER}\r\n"
        "ATTENDEE;CN=Carla;PARTSTAT=ACCEPTED:mailto:carla@customer.example\r\n"
        f"ATTENDEE;CN=Ana;PARTSTAT=ACCEPTED:mailto:{SELLER}\r\n"
        "DESCRIPTION:Video link: https://meet.example/abc\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def stored(href: str) -> icalendar.Component:
    status, text = send("GET", href)
    assert status == 200
    return icalendar.Calendar.from_ical(text).walk("VEVENT")[0]


def seller_writes(href: str, description: str) -> None:
    """What the seller's calendar app does: GET the event, change its description, PUT it back whole."""
    _, text = send("GET", href)
    calendar = icalendar.Calendar.from_ical(text)
    calendar.walk("VEVENT")[0]["DESCRIPTION"] = icalendar.vText(description)
    status, _ = send("PUT", href, calendar.to_ical().decode())
    assert status in (201, 204)


class Agent:
    """The agent for one seller on the test's Radicale calendar, with a clock the test moves."""

    def __init__(
        self, radicale: RadicaleServer, user: str, calendar_url: str, connect: Callable[[str, str], CaldavConnector], folder: Path
    ) -> None:
        raw = {
            "defaults": {"timezone": "Europe/Berlin", "rules": {"internal_domains": ["seller.example"]}},
            "accounts": [{"name": "ana", "provider": "caldav", "email": SELLER, "url": radicale.url, "calendars": [calendar_url]}],
        }
        account = parse_config(raw, folder / "config.toml").accounts[0]
        self.now = [at(18, 7)]
        self.store = SqliteStore(folder / "state.db", clock=lambda: self.now[0])
        self.connector = connect(radicale.url, user)
        self.sync = AccountSync(account, self.connector, self.store, Renderer(), clock=lambda: self.now[0])


DEBRIEF_ANSWERS = {
    "What I liked about this meeting:": "SECRET-1 Carla trusts us more than their incumbent",
    "What I would do differently next time:": "- Commitment, us: SECRET-2 stop discounting in the first call",
    "Authority (": "SECRET-3 the CFO decides alone",
    "Commitment, customer (": "- send the March usage export, by Wed 20 Mar\nMy read:\n- SECRET-4 they will stall",
    "Commitment, us (": "- a pilot proposal with two options, by 2030-03-20",
    "Primary objective of the next meeting (": "Agree the pilot scope and its sponsor",
    "Still to discover (": "- who else is on their shortlist?",
    "Opening statement ideas for next time:": "- start from their month-end numbers",
    "Notes:": "SECRET-5 margin is thin",
}


def test_meeting_1_debrief_flows_into_meeting_2_and_nothing_private_leaks(
    radicale: RadicaleServer, user: str, calendar_url: str, connect: Callable[[str, str], CaldavConnector], tmp_path: Path
) -> None:
    agent = Agent(radicale, user, calendar_url, connect, tmp_path)
    sync, store, now = agent.sync, agent.store, agent.now

    def cycle() -> int:
        report = sync.cycle()
        assert not report.error and not any(c.error for c in report.calendars), report
        return report.requests

    put_ics(calendar_url, "first.ics", invitation("first", "Customer: discovery", "20300318T100000", "20300318T110000"))
    second = put_ics(calendar_url, "second.ics", invitation("second", "Customer: pilot scope", "20300321T140000", "20300321T150000"))
    cycle()
    assert int(stored(second).get("SEQUENCE", 0)) == 1  # the agenda went out once

    # the agent created meeting 1's debrief block; the seller fills it in after the meeting
    (debrief,) = [a for a in store.artifacts() if a.kind is Kind.DEBRIEF and a.meeting_key == "first"]
    form = str(stored(debrief.ref)["DESCRIPTION"])
    assert "Next meeting with Customer: Thu 21 Mar 2030." in form
    lines = form.split("\n")
    for heading, answer in DEBRIEF_ANSWERS.items():
        index = next(i for i, line in enumerate(lines) if line.startswith(heading))
        lines.insert(index + 1, answer)
    now[0] = at(18, 11, 10)
    seller_writes(debrief.ref, "\n".join(lines))

    now[0] = at(18, 12)
    cycle()
    meeting = stored(second)
    agenda = str(meeting["DESCRIPTION"])
    assert agenda.startswith("Video link: https://meet.example/abc\n\n")  # the seller's words, untouched
    assert "Purpose\nAgree the pilot scope and its sponsor\n" in agenda
    assert "When we met on Mon 18 Mar 2030, we agreed that\n" in agenda
    assert "- you would send the March usage export (by Wed 20 Mar 2030)\n" in agenda
    assert "- we would a pilot proposal with two options (by Wed 20 Mar 2030)\n" in agenda
    assert not re.search(r"SECRET|shortlist|month-end|discounting", agenda)
    assert int(meeting["SEQUENCE"]) == 2  # updated exactly once for the debrief

    (prep,) = [a for a in store.artifacts() if a.kind is Kind.PREP and a.meeting_key == "second"]
    text = str(stored(prep.ref)["DESCRIPTION"])
    assert "Primary objective of this meeting: Agree the pilot scope and its sponsor" in text
    assert "- Customer: send the March usage export (due Wed 20 Mar 2030)" in text
    assert "- who else is on their shortlist?" in text and "- start from their month-end numbers" in text
    assert "OVERDUE" not in text

    # time passes: the prep flags what is overdue, the customer hears nothing more
    for day, hour in ((19, 9), (20, 12), (21, 7), (21, 9)):
        now[0] = at(day, hour)
        cycle()
    assert "(due Wed 20 Mar 2030) OVERDUE" in str(stored(prep.ref)["DESCRIPTION"])
    assert int(stored(second)["SEQUENCE"]) == 2
    writes = [e for e in store.audit() if e.meeting_key == "second" and e.action == "write agenda"]
    assert len(writes) == 2  # inserted, then updated once for the debrief
    (held,) = [row for row in store.held() if row.meeting_key == "first"]
    assert held.debriefed and held.next_scheduled and held.debrief is not None
    assert held.debrief.dated_next_steps


def test_a_debrief_written_two_days_later_is_read_back_by_reference(
    radicale: RadicaleServer, user: str, calendar_url: str, connect: Callable[[str, str], CaldavConnector], tmp_path: Path
) -> None:
    """Monday's debrief block has left the window (it reaches back to yesterday) when the seller
    writes it on Wednesday: sync-collection reports the change, and one GET reads it back."""
    agent = Agent(radicale, user, calendar_url, connect, tmp_path)
    sync, store, now, connector = agent.sync, agent.store, agent.now, agent.connector
    put_ics(calendar_url, "first.ics", invitation("first", "Customer: discovery", "20300318T100000", "20300318T110000"))
    put_ics(calendar_url, "second.ics", invitation("second", "Customer: review", "20300325T140000", "20300325T150000"))
    for day, hour in ((18, 7), (19, 9), (20, 15)):
        now[0] = at(day, hour)
        assert not sync.cycle().error
    (debrief,) = [a for a in store.artifacts() if a.kind is Kind.DEBRIEF and a.meeting_key == "first"]
    form = str(stored(debrief.ref)["DESCRIPTION"])
    seller_writes(debrief.ref, form.replace("with a date):\n- ", "with a date):\n- send the security questionnaire by Fri 22 Mar", 1))

    now[0] = at(20, 16)
    before = connector.session.sent
    report = sync.cycle()
    writes = len(report.calendars[0].applied)
    assert sorted(change.kind for change, _ in report.calendars[0].applied) == ["agenda", "debrief", "prep"]
    # sync-collection + multiget of what changed + one GET of the debrief, and a GET + PUT per write
    assert connector.session.sent - before == 3 + 2 * writes
    (prep,) = [a for a in store.artifacts() if a.kind is Kind.PREP and a.meeting_key == "second"]
    assert "- Customer: send the security questionnaire (due Fri 22 Mar 2030)" in str(stored(prep.ref)["DESCRIPTION"])

    costs = []
    for hour in (17, 18):
        now[0] = at(20, hour)
        before = connector.session.sent
        assert sync.cycle().changes == 0
        costs.append(connector.session.sent - before)
    # the first read after our writes fetches them back (sync-collection + multiget); then a quiet
    # cycle is one sync-collection: no re-read of the debrief before recheck_hours
    assert costs == [2, 1]
