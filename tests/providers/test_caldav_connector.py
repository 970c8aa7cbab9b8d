"""The CalDAV connector against a real Radicale server (see conftest.py), and its pure parts.

Dates are fixed in March and April 2030; Europe/Berlin (the seller's zone here) switches to
summer time on 31 March 2030, New York already did on 10 March.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import pytest

from agent.cli.demo_server import RadicaleServer, free_port
from agent.config.settings import Account
from agent.core.errors import (
    AuthError,
    BadDataError,
    ConfigError,
    ConflictError,
    ThrottledError,
    TransientError,
)
from agent.core.model import (
    AgendaTag,
    BlockSpec,
    BlockTag,
    Event,
    Interval,
    Kind,
    Response,
    Status,
    Window,
)
from connectors.caldav import (
    AGENDA_PROPERTY,
    CaldavConnector,
    EventReader,
    Resource,
    append_component,
    replace_properties,
)
from connectors.caldav_http import RetryingSession
from tests.providers.connector_contract import ConnectorContract
from tests.support.harness.caldav import CaldavHarness
from tests.support.servers.proxy import FaultProxy, Reply, Request, Truncate
from tests.support.servers.radicale import PASSWORD, SELLER, ZONE, make_calendar, put_ics, send

Connect = Callable[[str, str], CaldavConnector]
WINDOW = Window(datetime(2030, 3, 18, tzinfo=ZONE), datetime(2030, 4, 15, tzinfo=ZONE))


def at(day: int, hour: int, minute: int = 0, month: int = 3, zone: ZoneInfo = ZONE) -> datetime:
    return datetime(2030, month, day, hour, minute, tzinfo=zone)


def vevent(uid: str, *lines: str) -> str:
    body = "".join(f"{line}\r\n" for line in lines)
    return f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20300101T000000Z\r\n{body}END:VEVENT\r\n"


def ics(*vevents: str) -> str:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n"
        + "".join(vevents)
        + "END:VCALENDAR\r\n"
    )


def utc(uid: str, start: str, end: str, *extra: str) -> str:
    """A calendar with one event between two UTC times (basic format, without the Z)."""
    return ics(vevent(uid, f"DTSTART:{start}Z", f"DTEND:{end}Z", *extra))


def meeting(
    uid: str, *extra: str, start: str = "20300320T100000", end: str = "20300320T110000"
) -> str:
    """A customer meeting the seller organizes, in Berlin time."""
    return ics(
        vevent(
            uid,
            f"DTSTART;TZID=Europe/Berlin:{start}",
            f"DTEND;TZID=Europe/Berlin:{end}",
            f"SUMMARY:Call {uid}",
            f"ORGANIZER;CN=Ana:mailto:{SELLER}",
            "ATTENDEE;CN=Carla;PARTSTAT=ACCEPTED:mailto:carla@customer.example",
            *extra,
        )
    )


WEEKLY = (
    "DTSTART;TZID=Europe/Berlin:20300320T100000",
    "DTEND;TZID=Europe/Berlin:20300320T110000",
    "RRULE:FREQ=WEEKLY;COUNT=4",
    "SUMMARY:Weekly sync",
    "DESCRIPTION:Series notes",
    f"ORGANIZER:mailto:{SELLER}",
    "ATTENDEE;PARTSTAT=ACCEPTED:mailto:carla@customer.example",
)
WEEKLY_KEYS = [
    "w#20300320T090000Z",
    "w#20300327T090000Z",
    "w#20300403T080000Z",
    "w#20300410T080000Z",
]


def block(
    meeting_key: str = "m1", start: datetime | None = None, title: str = "Prep: ACME"
) -> BlockSpec:
    start = start or at(20, 9, 45)
    meeting_span = Interval(at(20, 10), at(20, 11))
    tag = BlockTag(
        Kind.PREP, meeting_key, Interval(start, start + timedelta(minutes=15)), meeting_span, "f00d"
    )
    return BlockSpec(
        title, start, start + timedelta(minutes=15), "1. Read the notes\n2. Check the deal", tag
    )


def by_key(events: tuple[Event, ...] | list[Event]) -> dict[str, Event]:
    return {event.key: event for event in events}


def stored_text(href: str) -> str:
    status, body = send("GET", href)
    assert status == 200
    return body


# --- calendars ---------------------------------------------------------------------------


def test_calendars_lists_the_principals_calendars_with_one_primary(
    connector: CaldavConnector, radicale: RadicaleServer, user: str, calendar_url: str
) -> None:
    other = make_calendar(radicale.url, user, "other", "Other")
    found = connector.calendars()
    assert {c.id for c in found} == {calendar_url, other}
    assert {c.name for c in found} == {"Work", "Other"}
    assert [c.primary for c in found] == [True, False]


# --- create, get, update, delete -----------------------------------------------------------


def test_a_block_is_stored_private_and_opaque_without_organizer_or_attendees(
    connector: CaldavConnector, calendar_url: str
) -> None:
    created = connector.create(calendar_url, block())
    assert created.organizer == ""
    text = stored_text(created.ref)
    assert "CLASS:PRIVATE" in text and "TRANSP:OPAQUE" in text
    assert "ORGANIZER" not in text and "ATTENDEE" not in text


def test_update_rewrites_the_block_and_keeps_what_a_person_added(
    connector: CaldavConnector, calendar_url: str
) -> None:
    created = connector.create(calendar_url, block())
    alarm = "BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT5M\r\nDESCRIPTION:Soon\r\nEND:VALARM\r\n"
    # the seller's app
    send("PUT", created.ref, stored_text(created.ref).replace("END:VEVENT", alarm + "END:VEVENT"))
    current = connector.get(calendar_url, created.ref)
    assert current is not None

    moved = block(start=at(20, 9, 30), title="Prep: ACME (moved)")
    updated = connector.update(calendar_url, current, moved)
    assert (updated.title, updated.start, updated.block_tag) == (
        "Prep: ACME (moved)",
        at(20, 9, 30),
        moved.tag,
    )
    assert updated.etag not in (None, current.etag)
    assert connector.get(calendar_url, created.ref) == updated
    stored = stored_text(created.ref)
    assert "TRIGGER:-PT5M" in stored and "DESCRIPTION:Soon" in stored
    assert stored.count("SUMMARY:") == 1 and stored.count("X-CALLPLAN-TAG:") == 1


@pytest.mark.parametrize("write", ["update", "set_description"])
def test_the_server_refuses_a_write_when_someone_edits_between_our_read_and_our_put(
    connect: Connect, radicale: RadicaleServer, user: str, calendar_url: str, write: str
) -> None:
    href = put_ics(
        calendar_url, "m.ics", utc("m", "20300320T100000", "20300320T110000", "SUMMARY:Mine")
    )
    front = FaultProxy(radicale.url)
    with front.running():
        connector = connect(front.url, user)
        calendar = calendar_url.replace(radicale.url, front.url)
        current = connector.get(calendar, href.replace(radicale.url, front.url))
        assert current is not None

        def someone_else(method: str, path: str) -> None:
            if method == "PUT":
                put_ics(
                    calendar_url,
                    "m.ics",
                    utc("m", "20300320T100000", "20300320T110000", "SUMMARY:Theirs"),
                )

        front.before_forward = someone_else
        with pytest.raises(ConflictError):
            if write == "update":
                connector.update(calendar, current, block())
            else:
                connector.set_description(calendar, current, "ours", None, notify=False)
    assert "SUMMARY:Theirs" in stored_text(href)


def test_a_write_is_one_request_when_the_event_came_with_its_text(
    connector: CaldavConnector, calendar_url: str
) -> None:
    """Blocks and the seller's own invitations carry the text they were read (or written) with,
    so a write edits that text and sends one conditional PUT. A series, or an event whose etag
    moved on since, is read again first; what the agent never writes carries no text."""
    put_ics(calendar_url, "m.ics", meeting("m"))
    put_ics(calendar_url, "w.ics", ics(vevent("w", *WEEKLY)))
    put_ics(
        calendar_url,
        "theirs.ics",
        meeting("theirs").replace(
            f"ORGANIZER;CN=Ana:mailto:{SELLER}", "ORGANIZER:mailto:carla@customer.example"
        ),
    )
    read = by_key(connector.changes(calendar_url, None, WINDOW).upserted)
    assert (
        read["m"].source is not None
        and read["theirs"].source is None
        and read[WEEKLY_KEYS[0]].source is None
    )
    created = connector.create(calendar_url, block())

    def sent(write: Callable[[], Event]) -> tuple[int, Event]:
        before = connector.requests_sent
        result = write()
        return connector.requests_sent - before, result

    count, renamed = sent(
        lambda: connector.update(calendar_url, created, block(title="Prep: ACME (renamed)"))
    )
    assert count == 1 and renamed.title == "Prep: ACME (renamed)"
    # from our own write
    count, moved = sent(lambda: connector.update(calendar_url, renamed, block(start=at(20, 9, 30))))
    assert count == 1 and moved.start == at(20, 9, 30)
    count, _ = sent(
        lambda: connector.set_description(
            calendar_url, read["m"], "Agenda: pricing", None, notify=False
        )
    )
    assert count == 1 and "DESCRIPTION:Agenda: pricing" in stored_text(read["m"].ref)
    count, _ = sent(
        lambda: connector.set_description(
            calendar_url, read[WEEKLY_KEYS[0]], "Notes", None, notify=False
        )
    )
    assert count == 2  # GET, PUT
    count, last = sent(
        lambda: connector.update(
            calendar_url, replace(created, etag=moved.etag), block(title="Prep: last")
        )
    )
    assert count == 2 and last.title == "Prep: last"  # a newer etag than its text: GET, PUT
    assert connector.get(calendar_url, created.ref) == last


def test_a_write_that_reads_again_refuses_an_unreadable_answer_and_writes_nothing(
    connect: Connect, radicale: RadicaleServer, user: str, calendar_url: str
) -> None:
    """An instance of a series is read again before its write. An answer cut short is a
    BadDataError (the engine skips that one change) and the resource stays as it was."""
    href = put_ics(calendar_url, "w.ics", ics(vevent("w", *WEEKLY)))
    front = FaultProxy(radicale.url)
    with front.running():
        connector = connect(front.url, user)
        calendar = calendar_url.replace(radicale.url, front.url)
        target = by_key(connector.changes(calendar, None, WINDOW).upserted)[WEEKLY_KEYS[0]]
        before = stored_text(href)
        front.queue.append(Truncate(0.5, dropped=False))
        with pytest.raises(BadDataError):
            connector.set_description(calendar, target, "Agenda", None, notify=False)
    assert stored_text(href) == before


# --- changes() -----------------------------------------------------------------------------


def test_changes_reads_fully_then_costs_one_request_when_quiet_then_sees_exactly_what_changed(
    connector: CaldavConnector, calendar_url: str
) -> None:
    a = put_ics(calendar_url, "a.ics", meeting("a"))
    b = put_ics(calendar_url, "b.ics", meeting("b", start="20300321T100000", end="20300321T110000"))
    put_ics(
        calendar_url, "past.ics", meeting("past", start="20300301T100000", end="20300301T110000")
    )

    first = connector.changes(calendar_url, None, WINDOW)
    assert first.full and set(by_key(first.upserted)) == {"a", "b"} and first.removed_refs == ()
    assert first.requests == 2  # PROPFIND sync-token, REPORT calendar-query

    quiet = connector.changes(calendar_url, first.cursor, WINDOW)
    assert (quiet.requests, quiet.upserted, quiet.removed_refs, quiet.full) == (1, (), (), False)

    # moved
    put_ics(calendar_url, "a.ics", meeting("a", start="20300320T120000", end="20300320T130000"))
    send("DELETE", b)
    c = put_ics(calendar_url, "c.ics", meeting("c"))
    later = put_ics(
        calendar_url, "later.ics", meeting("later", start="20310101T100000", end="20310101T110000")
    )
    task = put_ics(
        calendar_url,
        "task.ics",
        ics("BEGIN:VTODO\r\nUID:t\r\nDTSTAMP:20300101T000000Z\r\nEND:VTODO\r\n"),
    )
    delta = connector.changes(calendar_url, quiet.cursor, WINDOW)
    assert not delta.full and delta.requests == 2 and delta.skipped == ()
    assert {(e.key, e.ref, e.start) for e in delta.upserted} == {
        ("a", a, at(20, 12)),
        ("c", c, at(20, 10)),
    }
    # deleted, or changed with no event in the window
    assert set(delta.removed_refs) == {
        b,
        later,
        task,
    }

    assert connector.changes(calendar_url, delta.cursor, WINDOW).requests == 1


def test_a_sync_reply_cut_short_is_read_again_by_the_library_from_the_same_token(
    connect: Connect, radicale: RadicaleServer, user: str, calendar_url: str
) -> None:
    """RFC 6578 3.6: a server may send part of the changes, a new token and a 507 for the
    collection; the rest is read page by page, here by the caldav library from our token."""
    front = FaultProxy(radicale.url)
    with front.running():
        connector = connect(front.url, user)
        calendar = calendar_url.replace(radicale.url, front.url)
        put_ics(calendar_url, "a.ics", meeting("a"))
        first = connector.changes(calendar, None, WINDOW)
        b = put_ics(calendar_url, "b.ics", meeting("b"))
        c = put_ics(calendar_url, "c.ics", meeting("c"))
        path = calendar.removeprefix(front.url.rstrip("/"))
        cut_short = (
            '<?xml version="1.0"?>\n<D:multistatus xmlns:D="DAV:"><D:response>'
            f'<D:href>{path}b.ics</D:href><D:propstat><D:prop><D:getetag>"x"</D:getetag>'
            "</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>"
            f"<D:response><D:href>{path}</D:href><D:status>HTTP/1.1 507 Insufficient Storage"
            f"</D:status></D:response><D:sync-token>{first.cursor}-next</D:sync-token>"
            "</D:multistatus>"
        ).encode()
        replies = [Reply(207, {"Content-Type": "application/xml"}, cut_short)]
        with front.injecting(lambda r: replies.pop() if replies else None) as seen:
            delta = connector.changes(calendar, first.cursor, WINDOW)
    assert [s.request.method for s in seen] == ["REPORT", "REPORT", "REPORT"]  # and a multiget
    assert {e.ref for e in delta.upserted} == {
        b.replace(radicale.url, front.url),
        c.replace(radicale.url, front.url),
    }
    assert delta.requests == 3 and not delta.full and delta.cursor != first.cursor


def test_a_full_read_costs_two_requests_whatever_the_calendar_holds(
    connector: CaldavConnector, calendar_url: str
) -> None:
    for number in range(12):
        put_ics(calendar_url, f"e{number}.ics", meeting(f"e{number}"))
    delta = connector.changes(calendar_url, None, WINDOW)
    assert (len(delta.upserted), delta.requests) == (12, 2)


def test_an_unknown_sync_token_or_a_broken_cursor_means_a_full_read(
    connector: CaldavConnector, calendar_url: str
) -> None:
    put_ics(calendar_url, "a.ics", meeting("a"))
    for cursor in ("http://radicale.org/ns/sync/" + "0" * 64, "not a token"):
        delta = connector.changes(calendar_url, cursor, WINDOW)
        assert delta.full and [e.key for e in delta.upserted] == ["a"]


def test_a_wider_window_reads_the_instances_that_entered_it(
    connector: CaldavConnector, calendar_url: str
) -> None:
    """The engine asks for a full read when its window moves; the read expands to the new window."""
    put_ics(calendar_url, "w.ics", ics(vevent("w", *WEEKLY)))
    early = Window(WINDOW.start, at(28, 0))
    assert [e.key for e in connector.changes(calendar_url, None, early).upserted] == WEEKLY_KEYS[:2]
    assert [e.key for e in connector.changes(calendar_url, None, WINDOW).upserted] == WEEKLY_KEYS


# --- recurring events ----------------------------------------------------------------------


def test_a_weekly_series_comes_back_per_instance_with_stable_keys(
    connector: CaldavConnector, calendar_url: str
) -> None:
    href = put_ics(calendar_url, "w.ics", ics(vevent("w", *WEEKLY)))
    delta = connector.changes(calendar_url, None, WINDOW)
    assert [e.key for e in delta.upserted] == WEEKLY_KEYS
    assert {e.ref for e in delta.upserted} == {href}
    assert all(e.recurring and e.title == "Weekly sync" for e in delta.upserted)

    # A moved instance keeps its key (the original start); an EXDATE drops one.
    put_ics(
        calendar_url,
        "w.ics",
        ics(
            vevent("w", *WEEKLY, "EXDATE;TZID=Europe/Berlin:20300403T100000"),
            vevent(
                "w",
                "RECURRENCE-ID;TZID=Europe/Berlin:20300327T100000",
                "DTSTART;TZID=Europe/Berlin:20300328T150000",
                "DTEND;TZID=Europe/Berlin:20300328T160000",
                "SUMMARY:Weekly sync (moved)",
            ),
        ),
    )
    changed = connector.changes(calendar_url, delta.cursor, WINDOW)
    events = by_key(changed.upserted)
    assert list(events) == [WEEKLY_KEYS[0], WEEKLY_KEYS[1], WEEKLY_KEYS[3]]
    assert (events[WEEKLY_KEYS[1]].start, events[WEEKLY_KEYS[1]].title) == (
        at(28, 15),
        "Weekly sync (moved)",
    )
    assert connector.get(calendar_url, href, WEEKLY_KEYS[1]) == events[WEEKLY_KEYS[1]]
    assert connector.get(calendar_url, href, WEEKLY_KEYS[2]) is None  # excluded


def test_set_description_on_one_instance_overrides_it_and_leaves_the_others_alone(
    connector: CaldavConnector, calendar_url: str
) -> None:
    href = put_ics(calendar_url, "w.ics", ics(vevent("w", *WEEKLY)))
    before = by_key(connector.changes(calendar_url, None, WINDOW).upserted)
    target = before[WEEKLY_KEYS[2]]  # after the DST switch
    agenda = AgendaTag(target.key, "c0ffee", "\n\n")

    written = connector.set_description(
        calendar_url, target, "Series notes\n\nAgenda: pricing", agenda, notify=False
    )
    assert (written.key, written.start, written.agenda_tag) == (target.key, target.start, agenda)
    assert written.description == "Series notes\n\nAgenda: pricing"

    after = by_key(connector.changes(calendar_url, None, WINDOW).upserted)
    assert list(after) == WEEKLY_KEYS
    assert after[target.key] == written
    for key in set(WEEKLY_KEYS) - {target.key}:
        assert after[key].description == "Series notes" and after[key].agenda_tag is None
        assert after[key].start == before[key].start
    text = stored_text(href)
    assert (
        text.count("BEGIN:VEVENT") == 2
        and "RECURRENCE-ID;TZID=Europe/Berlin:20300403T100000" in text
    )

    # A second edit of the same instance edits the override in place.
    again = connector.set_description(calendar_url, written, "Series notes", None, notify=False)
    assert again.agenda_tag is None and again.description == "Series notes"
    assert stored_text(href).count("BEGIN:VEVENT") == 2


def test_sequence_goes_up_only_when_attendees_should_hear_about_it(
    connector: CaldavConnector, calendar_url: str
) -> None:
    href = put_ics(calendar_url, "m.ics", meeting("m", "SEQUENCE:3"))
    current = connector.get(calendar_url, href)
    assert current is not None
    quiet = connector.set_description(calendar_url, current, "quiet", None, notify=False)
    assert "SEQUENCE:3" in stored_text(href)
    connector.set_description(calendar_url, quiet, "loud", None, notify=True)
    assert "SEQUENCE:4" in stored_text(href)


@pytest.mark.parametrize(
    "description",
    [
        "Grüße aus Köln — 会议 🚀\n\nZeile zwei\n  eingerückt, mit; Satzzeichen\\Backslash",
        "Agenda\n- {{ pricing }} {% if x %}\n- ${HOME} %s {0}",
        '<p onclick="x()">Hi</p><script>alert(1)</script>\n&amp; <b>bold</b>',
        "   leading and trailing spaces   \n\n\n",
    ],
)
def test_set_description_keeps_the_text_exactly(
    connector: CaldavConnector, calendar_url: str, description: str
) -> None:
    href = put_ics(calendar_url, "m.ics", meeting("m", "DESCRIPTION:Original", "LOCATION:Room 1"))
    current = connector.get(calendar_url, href)
    assert current is not None
    written = connector.set_description(calendar_url, current, description, None, notify=False)
    read = connector.get(calendar_url, href)
    assert written.description == description and read == written
    assert (
        by_key(connector.changes(calendar_url, None, WINDOW).upserted)["m"].description
        == description
    )
    assert (read.location, read.attendees, read.title) == (
        current.location,
        current.attendees,
        current.title,
    )


# --- mapping iCalendar to events ----------------------------------------------------------


def test_times_are_read_in_the_right_zone(connector: CaldavConnector, calendar_url: str) -> None:
    new_york, kolkata = ZoneInfo("America/New_York"), ZoneInfo("Asia/Kolkata")
    in_new_york = (
        "DTSTART;TZID=America/New_York:20300320T100000",
        "DTEND;TZID=America/New_York:20300320T110000",
    )
    put_ics(calendar_url, "ny.ics", ics(vevent("ny", *in_new_york)))
    put_ics(
        calendar_url,
        "in.ics",
        ics(vevent("in", "DTSTART;TZID=Asia/Kolkata:20300320T100000", "DURATION:PT45M")),
    )
    put_ics(calendar_url, "utc.ics", utc("utc", "20300321T120000", "20300321T123000"))
    put_ics(
        calendar_url,
        "floating.ics",
        ics(vevent("floating", "DTSTART:20300321T090000", "DTEND:20300321T093000")),
    )
    put_ics(calendar_url, "day.ics", ics(vevent("day", "DTSTART;VALUE=DATE:20300322")))
    put_ics(
        calendar_url,
        "days.ics",
        ics(vevent("days", "DTSTART;VALUE=DATE:20300330", "DTEND;VALUE=DATE:20300402")),
    )
    events = by_key(connector.changes(calendar_url, None, WINDOW).upserted)

    assert events["ny"].span == Interval(at(20, 10, zone=new_york), at(20, 11, zone=new_york))
    assert events["ny"].start == datetime(2030, 3, 20, 14, tzinfo=UTC)
    assert events["in"].span == Interval(
        datetime(2030, 3, 20, 4, 30, tzinfo=UTC), at(20, 10, 45, zone=kolkata)
    )
    assert events["utc"].start == datetime(2030, 3, 21, 12, tzinfo=UTC)
    assert events["floating"].start == at(21, 9)  # floating times are the seller's wall clock
    assert (events["day"].all_day, events["day"].span) == (True, Interval(at(22, 0), at(23, 0)))
    assert events["days"].span == Interval(at(30, 0), at(2, 0, month=4))  # across the DST switch
    assert not events["ny"].all_day and not events["day"].busy


def test_a_series_keeps_its_wall_clock_time_across_the_dst_switch(
    connector: CaldavConnector, calendar_url: str
) -> None:
    put_ics(calendar_url, "w.ics", ics(vevent("w", *WEEKLY)))
    events = connector.changes(calendar_url, None, WINDOW).upserted
    assert [(e.start.astimezone(ZONE).hour, e.end.astimezone(ZONE).hour) for e in events] == [
        (10, 11)
    ] * 4
    assert [e.start.astimezone(UTC).hour for e in events] == [9, 9, 8, 8]


def test_people_status_and_flags_are_mapped(connector: CaldavConnector, calendar_url: str) -> None:
    put_ics(
        calendar_url,
        "invite.ics",
        ics(
            vevent(
                "invite",
                "DTSTART:20300320T130000Z",
                "DTEND:20300320T140000Z",
                "SUMMARY:Their meeting",
                "LOCATION:HQ",
                "STATUS:CANCELLED",
                "TRANSP:TRANSPARENT",
                "CLASS:CONFIDENTIAL",
                'ORGANIZER;CN="Doe, Carla":MAILTO:Carla@Customer.Example',
                f"ATTENDEE;CN=Ana;PARTSTAT=DECLINED:mailto:{SELLER.upper()}",
                "ATTENDEE;CN=Bo;PARTSTAT=TENTATIVE;ROLE=OPT-PARTICIPANT:mailto:bo@customer.example",
                "ATTENDEE;CN=Room 4;CUTYPE=ROOM;PARTSTAT=ACCEPTED:mailto:room4@customer.example",
                "ATTENDEE:mailto:dee@customer.example",
            )
        ),
    )
    put_ics(calendar_url, "mine.ics", utc("mine", "20300321T130000", "20300321T140000"))
    events = by_key(connector.changes(calendar_url, None, WINDOW).upserted)
    invite = events["invite"]
    assert (invite.organizer, invite.self_is_organizer, invite.self_response) == (
        "carla@customer.example",
        False,
        Response.DECLINED,
    )
    assert (invite.status, invite.transparent, invite.private, invite.location) == (
        Status.CANCELLED,
        True,
        True,
        "HQ",
    )
    attendees = {a.email: a for a in invite.attendees}
    assert (
        attendees["bo@customer.example"].optional and attendees["bo@customer.example"].name == "Bo"
    )
    assert attendees["bo@customer.example"].response is Response.TENTATIVE
    assert attendees["room4@customer.example"].resource
    assert attendees["dee@customer.example"].response is Response.NEEDS_ACTION
    mine = events["mine"]
    assert (mine.organizer, mine.self_is_organizer, mine.self_response, mine.status) == (
        "",
        True,
        Response.ACCEPTED,
        Status.CONFIRMED,
    )


# --- malformed data ------------------------------------------------------------------------


def test_malformed_resources_are_skipped_with_a_reason_and_the_rest_still_come_back(
    connector: CaldavConnector, calendar_url: str
) -> None:
    good = put_ics(calendar_url, "good.ics", meeting("good"))
    zone = put_ics(
        calendar_url,
        "zone.ics",
        ics(
            vevent(
                "zone",
                "DTSTART;TZID=Mars/Olympus:20300320T100000",
                "DTEND;TZID=Mars/Olympus:20300320T110000",
            )
        ),
    )
    backwards = put_ics(
        calendar_url, "backwards.ics", utc("backwards", "20300320T100000", "20300320T090000")
    )
    huge = put_ics(calendar_url, "huge.ics", meeting("huge", "DESCRIPTION:" + "x" * 1_000_000))

    delta = connector.changes(calendar_url, None, WINDOW)
    assert {e.ref for e in delta.upserted} == {good, huge}
    assert len(by_key(delta.upserted)["huge"].description) == 1_000_000
    skipped = sorted(delta.skipped)
    assert len(skipped) == 2 and all("\n" not in line for line in skipped)
    assert skipped[0].startswith(f"{backwards}: ") and "DTEND is before DTSTART" in skipped[0]
    assert skipped[1].startswith(f"{zone}: ") and "unknown time zone 'Mars/Olympus'" in skipped[1]
    assert connector.busy([calendar_url], WINDOW) == sorted(e.span for e in delta.upserted)


BROKEN = {
    "a bad date": vevent("x", "DTSTART:20301345T100000Z"),
    "garbage for a date": vevent("x", "DTSTART:garbage", "DTEND:20300320T090000Z"),
    "no start": vevent("x", "DTEND:20300320T090000Z"),
    "a broken rule": vevent("x", "DTSTART:20300320T100000Z", "RRULE:FREQ=BOGUS"),
    "a date start with a time end": vevent(
        "x", "DTSTART;VALUE=DATE:20300320", "DTEND:20300320T100000Z"
    ),
    "no UID": vevent("", "DTSTART:20300320T100000Z"),
    "a period for a recurrence id": vevent(
        "x",
        "RECURRENCE-ID;VALUE=PERIOD:20300321T100000Z/PT1H",
        "DTSTART:20300321T120000Z",
        "DTEND:20300321T130000Z",
    ),
}


@pytest.mark.parametrize("vevent_text", BROKEN.values(), ids=BROKEN.keys())
def test_malformed_events_are_refused_with_a_one_line_reason(vevent_text: str) -> None:
    """What Radicale will not even store: these reach us only from other servers."""
    reader = EventReader("cal", SELLER, ZONE)
    with pytest.raises(BadDataError) as caught:
        parsed = reader.parse(Resource("http://x/cal/bad.ics", None, ics(vevent_text)))
        reader.in_window(parsed, WINDOW)
    assert str(caught.value).startswith("http://x/cal/bad.ics: skipped malformed event: ")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "text", ["not iCalendar at all", "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\n", ""]
)
def test_the_reader_refuses_unparsable_text(text: str) -> None:
    with pytest.raises(BadDataError):
        EventReader("cal", SELLER, ZONE).parse(Resource("http://x/cal/bad.ics", None, text))


def test_control_characters_are_data_not_an_error() -> None:
    reader = EventReader("cal", SELLER, ZONE)
    text = utc("x", "20300320T100000", "20300320T110000", "SUMMARY:bell\x07 and\x01 nul")
    [event] = reader.in_window(reader.parse(Resource("http://x/cal/x.ics", None, text)), WINDOW)
    assert event.title == "bell\x07 and\x01 nul"


# --- editing text in place -----------------------------------------------------------------

APPLE = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Apple Inc.//macOS 14.0//EN\r\n"
    "CALSCALE:GREGORIAN\r\nBEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:DAYLIGHT\r\n"
    "TZOFFSETFROM:+0100\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nDTSTART:19810329T020000\r\n"
    "TZNAME:CEST\r\nTZOFFSETTO:+0200\r\nEND:DAYLIGHT\r\nBEGIN:STANDARD\r\nTZOFFSETFROM:+0200\r\n"
    "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nDTSTART:19961027T030000\r\nTZNAME:CET\r\n"
    "TZOFFSETTO:+0100\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\nBEGIN:VEVENT\r\nUID:w\r\n"
    "DTEND;TZID=Europe/Berlin:20300320T110000\r\nX-APPLE-TRAVEL:AUTOMATIC\r\n"
    'SUMMARY:Sync\\, with "quotes"\r\nDTSTAMP:20240101T120000Z\r\n'
    "DTSTART;TZID=Europe/Berlin:20300320T100000\r\n"
    'RRULE:FREQ=WEEKLY;COUNT=4\r\nSEQUENCE:0\r\nORGANIZER;CN="Doe, '
    'Ana":mailto:ana@seller.example\r\n'
    "DESCRIPTION:line one\\nline two with a very long text that needs to be fol\r\n ded across "
    "lines\r\nBEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT15M\r\nDESCRIPTION:Reminder\r\n"
    "END:VALARM\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


def test_editing_a_component_leaves_every_other_line_byte_for_byte() -> None:
    reader = EventReader("cal", SELLER, ZONE)
    parsed = reader.parse(Resource("http://x/cal/w.ics", None, APPLE))
    new_properties = icalendar.Event()
    new_properties.add("DESCRIPTION", "New text")
    edited = replace_properties(parsed, 1, ["DESCRIPTION"], new_properties)
    old_line = (
        "DESCRIPTION:line one\\nline two with a very long text that needs to be fol\r\n ded across "
        "lines\r\n"
    )
    assert edited == APPLE.replace(old_line, "DESCRIPTION:New text\r\n")

    override = reader.instance(parsed, "w#20300327T090000Z")
    assert override is not None and override[0] is None
    appended = append_component(APPLE, override[1])
    assert appended.startswith(APPLE.removesuffix("END:VCALENDAR\r\n"))
    assert appended.count("RECURRENCE-ID;TZID=Europe/Berlin:20300327T100000\r\n") == 1


# --- busy and find_owned -------------------------------------------------------------------


def test_busy_leaves_out_free_cancelled_declined_and_all_day_events(
    connector: CaldavConnector, radicale: RadicaleServer, user: str, calendar_url: str
) -> None:
    other = make_calendar(radicale.url, user, "private", "Private")
    put_ics(other, "dentist.ics", utc("dentist", "20300320T140000", "20300320T150000"))
    put_ics(
        other, "free.ics", utc("free", "20300320T150000", "20300320T160000", "TRANSP:TRANSPARENT")
    )
    put_ics(other, "off.ics", utc("off", "20300321T080000", "20300321T090000", "STATUS:CANCELLED"))
    put_ics(other, "holiday.ics", ics(vevent("holiday", "DTSTART;VALUE=DATE:20300322")))
    put_ics(other, "later.ics", utc("later", "20300601T080000", "20300601T090000"))
    declined = f"ATTENDEE;CN=Ana;PARTSTAT=DECLINED:mailto:{SELLER}"
    put_ics(
        calendar_url,
        "no.ics",
        meeting("no", declined, start="20300323T100000", end="20300323T110000"),
    )
    put_ics(calendar_url, "w.ics", ics(vevent("w", *WEEKLY)))

    busy = connector.busy([other, calendar_url], WINDOW)
    dentist = Interval(datetime(2030, 3, 20, 14, tzinfo=UTC), datetime(2030, 3, 20, 15, tzinfo=UTC))
    days = ((3, 20), (3, 27), (4, 3), (4, 10))
    weekly = [Interval(at(day, 10, month=month), at(day, 11, month=month)) for month, day in days]
    assert busy == sorted([dentist, *weekly])


def test_find_owned_finds_tagged_blocks_and_agendas_at_any_date(
    connector: CaldavConnector, calendar_url: str
) -> None:
    old_block = connector.create(calendar_url, block(start=datetime(2021, 5, 3, 9, tzinfo=ZONE)))
    new_block = connector.create(calendar_url, block("m2"))
    plain = put_ics(calendar_url, "plain.ics", meeting("plain"))
    put_ics(calendar_url, "w.ics", ics(vevent("w", *WEEKLY)))
    instance = by_key(connector.changes(calendar_url, None, WINDOW).upserted)[WEEKLY_KEYS[1]]
    tagged = connector.set_description(
        calendar_url, instance, "agenda", AgendaTag(instance.key, "c", ""), notify=False
    )

    owned = by_key(connector.find_owned(calendar_url))
    assert set(owned) == {old_block.key, new_block.key, tagged.key}
    assert owned[old_block.key] == old_block and owned[tagged.key] == tagged
    assert plain not in {e.ref for e in owned.values()}
    assert AGENDA_PROPERTY in stored_text(tagged.ref)


# --- configuration -------------------------------------------------------------------------


def account(where: str = "config.toml: accounts[0]", **options: object) -> Account:
    return Account(name="ana", provider="caldav", email=SELLER, options=options, where=where)


def test_from_account_builds_a_working_connector(
    radicale: RadicaleServer, user: str, calendar_url: str, tmp_secret: Path
) -> None:
    caldav_connector = CaldavConnector.from_account(
        account(url=radicale.url, username=user, password_file=str(tmp_secret))
    )
    try:
        assert [c.id for c in caldav_connector.calendars()] == [calendar_url]
        assert caldav_connector.where == "config.toml: accounts[0]"
    finally:
        caldav_connector.close()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "config.toml: accounts[0].url: Field required"),
        (
            {"url": "ftp://cal.example"},
            "config.toml: accounts[0].url: expected an http:// or https:// URL",
        ),
        (
            {"url": "https://ana:pw@cal.example/"},
            "config.toml: accounts[0].url: credentials do not belong in the URL",
        ),
        (
            {"url": "https://cal.example/", "colour": "red"},
            "config.toml: accounts[0].colour: unknown key",
        ),
        (
            {"url": "https://cal.example/", "password_file": "pw"},
            "config.toml: accounts[0]: password_file needs a",
        ),
    ],
)
def test_bad_options_are_config_errors_that_say_where(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        CaldavConnector.from_account(account(**options))
    assert str(caught.value).startswith(message)


def test_a_password_file_others_can_read_is_refused(tmp_secret: Path) -> None:
    tmp_secret.chmod(0o644)
    with pytest.raises(ConfigError) as caught:
        CaldavConnector.from_account(
            account(url="https://cal.example/", username="ana", password_file=str(tmp_secret))
        )
    assert str(caught.value) == (
        f"config.toml: accounts[0].password_file: {tmp_secret} is readable by others (mode 0644); "
        f"run chmod 600 {tmp_secret}"
    )
    assert "s3cret" not in str(caught.value)


def test_a_missing_password_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"accounts\[0\]\.password_file: cannot read .*nope: No such file"
    ):
        missing = str(tmp_path / "nope")
        CaldavConnector.from_account(
            account(url="https://cal.example/", username="ana", password_file=missing)
        )


# --- authentication ------------------------------------------------------------------------


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[RadicaleServer]:
    """A second Radicale that checks passwords (ana / s3cret-Pa55)."""
    users = tmp_path / "users"
    users.write_text("ana:s3cret-Pa55\n")
    with RadicaleServer(tmp_path / "guarded", htpasswd=users) as server:
        yield server


def test_the_right_password_from_the_credentials_directory_gets_in(
    guarded: RadicaleServer, tmp_secret: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_secret.parent))
    connector = CaldavConnector.from_account(
        account(url=guarded.url, username="ana", password_file=tmp_secret.name)
    )
    try:
        assert connector.calendars() == []
    finally:
        connector.close()


def test_a_wrong_password_is_an_auth_error_that_never_shows_the_password(
    guarded: RadicaleServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = tmp_path / "wrong"
    wrong.write_text("hunter2-wrong\n")
    wrong.chmod(0o600)
    connector = CaldavConnector.from_account(
        account(url=guarded.url, username="ana", password_file=str(wrong))
    )
    try:
        with pytest.raises(AuthError) as caught:
            connector.changes(f"{guarded.url}ana/work/", None, WINDOW)
    finally:
        connector.close()
    message = str(caught.value)
    assert (
        message.startswith("config.toml: accounts[0]: ")
        and guarded.url in message
        and "'ana'" in message
    )
    assert "\n" not in message
    assert "hunter2" not in message and "hunter2" not in caplog.text


# --- throttling and failures ---------------------------------------------------------------


def test_503_with_retry_after_is_retried_after_the_time_the_server_asks(
    connect: Connect, radicale: RadicaleServer, user: str, calendar_url: str, sleeps: list[float]
) -> None:
    put_ics(calendar_url, "a.ics", meeting("a"))
    front = FaultProxy(radicale.url)
    with front.running():
        connector = connect(front.url, user)
        calendar = calendar_url.replace(radicale.url, front.url)
        first = connector.changes(calendar, None, WINDOW)
        front.queue += [Reply(503, {"Retry-After": "7"})] * 2
        put_ics(calendar_url, "b.ics", meeting("b"))
        delta = connector.changes(calendar, first.cursor, WINDOW)
    assert sleeps == [7.0, 7.0]
    assert [e.key for e in delta.upserted] == ["b"]
    assert delta.requests == 2 + 2  # two refused, then sync-collection and multiget


@pytest.mark.parametrize(
    ("failure", "error", "waits"),
    [
        ((503, {"Retry-After": "7"}), ThrottledError, [7.0, 7.0, 7.0]),
        # a gateway that says when, too
        (
            (504, {"Retry-After": "2"}),
            ThrottledError,
            [2.0, 2.0, 2.0],
        ),
        ((429, {"Retry-After": "120"}), ThrottledError, []),  # more than we are willing to wait
        ((429, {}), ThrottledError, [0.25, 0.5, 1.0]),
        ((502, {}), TransientError, [0.25, 0.5, 1.0]),
    ],
)
def test_retries_are_bounded_then_the_failure_is_reported(
    connect: Connect,
    radicale: RadicaleServer,
    user: str,
    calendar_url: str,
    sleeps: list[float],
    failure: tuple[int, dict[str, str]],
    error: type[Exception],
    waits: list[float],
) -> None:
    front = FaultProxy(radicale.url)
    front.queue += [Reply(*failure)] * 10
    with front.running():
        with pytest.raises(error) as caught:
            connect(front.url, user).changes(
                calendar_url.replace(radicale.url, front.url), None, WINDOW
            )
    assert sleeps == waits and len(front.seen) == len(waits) + 1
    if "Retry-After" in failure[1]:
        assert caught.value.retry_after == float(failure[1]["Retry-After"])  # type: ignore[attr-defined]


def test_retry_after_as_an_http_date_is_honoured(
    radicale: RadicaleServer, user: str, calendar_url: str
) -> None:
    now = datetime(2030, 3, 18, 8, 0, tzinfo=UTC)
    put_ics(calendar_url, "a.ics", meeting("a"))
    sleeps: list[float] = []
    front = FaultProxy(radicale.url)
    front.queue += [
        Reply(503, {"Retry-After": format_datetime(now + timedelta(seconds=7), usegmt=True)})
    ] * 2
    # already past: at once
    front.queue += [Reply(429, {"Retry-After": "Mon, 18 Mar 2030 07:00:00 GMT"})]
    with front.running():
        session = RetryingSession(sleep=sleeps.append, random=lambda: 0.5, clock=lambda: now)
        connector = CaldavConnector(SELLER, front.url, user, PASSWORD, zone=ZONE, session=session)
        try:
            delta = connector.changes(calendar_url.replace(radicale.url, front.url), None, WINDOW)
        finally:
            connector.close()
    assert (
        [e.key for e in delta.upserted] == ["a"]
        and sleeps == [7.0, 7.0, 0.0]
        and delta.requests == 3 + 2
    )


def test_an_unreachable_server_is_a_transient_error_after_backoff(
    connect: Connect, user: str, sleeps: list[float]
) -> None:
    url = f"http://127.0.0.1:{free_port()}/"
    with pytest.raises(TransientError, match="gave up after 4 attempts"):
        connect(url, user).changes(f"{url}{user}/work/", None, WINDOW)
    assert sleeps == [0.25, 0.5, 1.0]


def test_a_body_cut_off_by_a_dropped_connection_is_retried(
    connect: Connect, radicale: RadicaleServer, user: str, calendar_url: str, sleeps: list[float]
) -> None:
    put_ics(calendar_url, "a.ics", meeting("a"))
    front = FaultProxy(radicale.url)
    front.queue += [Truncate(0.5)] * 2  # the headers announce more than arrives
    with front.running():
        delta = connect(front.url, user).changes(
            calendar_url.replace(radicale.url, front.url), None, WINDOW
        )
    assert [e.key for e in delta.upserted] == ["a"] and delta.requests == 2 + 2
    assert sleeps == [0.25, 0.5]


def test_an_answer_cut_short_by_the_server_is_a_one_line_transient_error(
    connect: Connect, radicale: RadicaleServer, user: str, calendar_url: str
) -> None:
    front = FaultProxy(radicale.url)
    front.queue.append(Truncate(0.5, dropped=False))  # well-formed HTTP, half a multistatus
    with front.running():
        with pytest.raises(TransientError, match="not well-formed XML") as caught:
            connect(front.url, user).changes(
                calendar_url.replace(radicale.url, front.url), None, WINDOW
            )
    assert "\n" not in str(caught.value)


def test_a_server_that_never_answers_times_out(user: str) -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts connections, never answers
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
        session = RetryingSession(timeout=0.2, attempts=1)
        connector = CaldavConnector(SELLER, url, user, PASSWORD, session=session)
        with pytest.raises(TransientError, match="Timeout"):
            connector.changes(f"{url}{user}/work/", None, WINDOW)
        connector.close()


# --- the connector contract ------------------------------------------------------------------


class TestContract(ConnectorContract):
    """The contract on Radicale, through a proxy that counts what the server received and can
    refuse a write (people's edits go through it too, never while a count is taken)."""

    @pytest.fixture
    def front(self, radicale: RadicaleServer) -> Iterator[FaultProxy]:
        with FaultProxy(radicale.url).running() as proxy:
            yield proxy

    @pytest.fixture
    def harness(
        self, front: FaultProxy, radicale: RadicaleServer, user: str, calendar_url: str
    ) -> Iterator[CaldavHarness]:
        harness = CaldavHarness(front.url, user, front.via(calendar_url, radicale.url))
        yield harness
        harness.close()

    @pytest.fixture
    def served(self, front: FaultProxy) -> Callable[[], int]:
        return lambda: len(front.seen)

    @pytest.fixture
    def refuse(self, front: FaultProxy) -> Callable[[str], None]:
        def refuse(text: str) -> None:
            wanted = [text.encode()]

            def plan(request: Request) -> Reply | None:
                if request.method == "PUT" and wanted and wanted[0] in request.body:
                    wanted.clear()
                    return Reply(403)  # what a server answers a resource it will not store
                return None

            front.plan = plan

        return refuse
