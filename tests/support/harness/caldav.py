"""The scenario harness on a real Radicale server.

People act through plain HTTP and icalendar, as another calendar client would, never through
the connector under test. Radicale sends no e-mail, so an update notification is what an
organiser's client signals by raising SEQUENCE (RFC 5546); the people here never raise it,
so each attendee's count is the agent's SEQUENCE bumps.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar

from agent.core.model import Event, Window
from connectors.caldav import CaldavConnector
from connectors.caldav_http import RetryingSession
from tests.support.harness.base import Harness
from tests.support.servers.radicale import PASSWORD, SELLER, ZONE, put_ics, send

# wide enough for the scenarios (2030) and for tests that run on the real clock
EVERYTHING = Window(datetime(2020, 1, 1, tzinfo=ZONE), datetime(2040, 1, 1, tzinfo=ZONE))


class CaldavHarness(Harness):
    name = "caldav"
    seller = SELLER
    zone: ZoneInfo = ZONE

    def __init__(self, server_url: str, user: str, calendar_url: str) -> None:
        self.server_url, self.user, self.calendar = server_url, user, calendar_url

    def connector(self) -> CaldavConnector:
        session = RetryingSession(sleep=lambda seconds: None, random=lambda: 0.5)
        return self.handed_out(
            CaldavConnector(
                SELLER, self.server_url, self.user, PASSWORD, zone=ZONE, session=session
            )
        )

    def _href(self, key: str) -> str:
        return self.calendar + key + ".ics"

    def add_meeting(
        self,
        title: str,
        start: datetime,
        minutes: int = 60,
        guests: Iterable[str] = ("dana@globex.example",),
        organizer: str | None = None,
        description: str = "",
    ) -> str:
        return self._store(self._vevent(title, start, minutes, guests, organizer, description))

    def add_series(
        self,
        title: str,
        start: datetime,
        minutes: int,
        weeks: int,
        guests: Iterable[str] = ("dana@globex.example",),
    ) -> None:
        event = self._vevent(title, start, minutes, guests)
        event.add("rrule", {"freq": "weekly", "count": weeks})
        self._store(event)

    def add_broken_event(self, start: datetime) -> str:
        # DTEND before DTSTART: no client should write it
        key, end = (
            uuid.uuid4().hex,
            (start - timedelta(hours=1)).astimezone(UTC),
        )
        text = "\r\n".join(
            [
                "BEGIN:VCALENDAR",
                "VERSION:2.0",
                "PRODID:-//a broken client//EN",
                "BEGIN:VEVENT",
                f"UID:{key}",
                "DTSTAMP:20300101T000000Z",
                f"DTSTART:{start.astimezone(UTC):%Y%m%dT%H%M%SZ}",
                f"DTEND:{end:%Y%m%dT%H%M%SZ}",
                "SUMMARY:Broken",
                "END:VEVENT",
                "END:VCALENDAR",
                "",
            ]
        )
        return put_ics(self.calendar, f"{key}.ics", text)

    def _store(self, event: icalendar.Event) -> str:
        key = str(event["uid"])
        calendar = icalendar.Calendar()
        calendar.add("version", "2.0")
        calendar.add("prodid", "-//another client//EN")
        calendar.add_component(event)
        put_ics(self.calendar, f"{key}.ics", calendar.to_ical().decode())
        return key

    def _vevent(
        self,
        title: str,
        start: datetime,
        minutes: int,
        guests: Iterable[str],
        organizer: str | None = None,
        description: str = "",
    ) -> icalendar.Event:
        key = uuid.uuid4().hex
        event = icalendar.Event()
        event.add("uid", key)
        event.add("dtstamp", datetime(2030, 1, 1, tzinfo=ZONE))
        event.add("summary", title)
        event.add("dtstart", start)
        event.add("dtend", start + timedelta(minutes=minutes))
        if description:
            event.add("description", description)
        event.add("organizer", f"mailto:{organizer or SELLER}")
        for address in [*guests, SELLER]:
            attendee = icalendar.vCalAddress(f"mailto:{address}")
            attendee.params["partstat"] = "ACCEPTED"
            event.add("attendee", attendee)
        return event

    def _edit(self, href: str, change: Callable[[icalendar.Event], None]) -> None:
        status, text = send("GET", href)
        assert status == 200, f"GET {href}: {status}"
        calendar = icalendar.Calendar.from_ical(text)
        change(calendar.events[0])
        status, _ = send("PUT", href, calendar.to_ical().decode())
        assert status in (201, 204), f"PUT {href}: {status}"

    @staticmethod
    def _set(vevent: icalendar.Event, name: str, value: object) -> None:
        vevent.pop(name, None)
        vevent.add(name, value)

    def edit_meeting(
        self,
        key: str,
        *,
        title: str | None = None,
        start: datetime | None = None,
        minutes: int | None = None,
        description: str | None = None,
        guests: Iterable[str] | None = None,
        cancel: bool = False,
        decline: bool = False,
    ) -> None:
        def change(vevent: icalendar.Event) -> None:
            if title is not None:
                self._set(vevent, "summary", title)
            if start is not None or minutes is not None:
                begin = start or vevent.decoded("dtstart")
                length = (
                    timedelta(minutes=minutes)
                    if minutes
                    else vevent.decoded("dtend") - vevent.decoded("dtstart")
                )
                self._set(vevent, "dtstart", begin)
                self._set(vevent, "dtend", begin + length)
            if description is not None:
                self._set(vevent, "description", description)
            if cancel:
                self._set(vevent, "status", "CANCELLED")
            attendees = [
                a for a in vevent.get("attendee", []) if str(a).lower() != f"mailto:{SELLER}"
            ]
            if guests is not None:
                attendees = [icalendar.vCalAddress(f"mailto:{address}") for address in guests]
            if guests is not None or decline:
                me = icalendar.vCalAddress(f"mailto:{SELLER}")
                me.params["partstat"] = "DECLINED" if decline else "ACCEPTED"
                vevent.pop("attendee", None)
                for attendee in [*attendees, me]:
                    vevent.add("attendee", attendee)

        self._edit(self._href(key), change)

    def delete(self, event: Event) -> None:
        status, _ = send("DELETE", event.ref)
        assert status in (200, 204), f"DELETE {event.ref}: {status}"

    def move(self, event: Event, start: datetime, end: datetime) -> None:
        def change(vevent: icalendar.Event) -> None:
            self._set(vevent, "dtstart", start)
            self._set(vevent, "dtend", end)

        self._edit(event.ref, change)

    def write_description(self, event: Event, description: str) -> None:
        self._edit(event.ref, lambda vevent: self._set(vevent, "description", description))

    def events(self) -> list[Event]:
        reader = self.connector()
        try:
            return list(reader.changes(self.calendar, None, EVERYTHING).upserted)
        finally:
            reader.close()

    def versions(self) -> dict[str, str]:
        return {event.ref: event.etag or "" for event in self.events()}

    def notifications(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        for event in self.events():
            if event.is_block:
                continue
            status, text = send("GET", event.ref)
            vevent = icalendar.Calendar.from_ical(text).walk("VEVENT")[0]
            bumps = int(vevent.get("sequence", 0))
            for attendee in event.attendees:
                if attendee.email != SELLER and bumps:
                    counts[attendee.email] += bumps
        return counts
