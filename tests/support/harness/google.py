"""The scenario harness on the Google Calendar fake, driven through the real googleapiclient.

People act through the fake's admin methods, as the seller's or a customer's calendar app
would; only the agent goes through the API. Notifications are the e-mails the fake counts
from the `sendUpdates` of the agent's writes.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from google.oauth2.credentials import Credentials

from agent.core.model import Event, Window
from connectors import google_auth
from connectors.google import GoogleConnector
from tests.support.fakes.google_calendar import GoogleCalendarFake
from tests.support.harness.base import Harness

SELLER = "alex@northpeak.example"
ZONE = ZoneInfo("Europe/Berlin")
# wide enough for the scenarios (2030) and for tests that run on the real clock
EVERYTHING = Window(datetime(2020, 1, 1, tzinfo=ZONE), datetime(2040, 1, 1, tzinfo=ZONE))


def when(moment: datetime) -> dict[str, str]:
    return {"dateTime": moment.isoformat(), "timeZone": str(ZONE)}


class GoogleHarness(Harness):
    name = "google"
    seller = SELLER
    zone: ZoneInfo = ZONE

    def __init__(
        self, fake: GoogleCalendarFake, seller: str = SELLER, api: str | None = None
    ) -> None:
        """The primary calendar of `seller` (a new one per harness: the fake keys calendars by
        owner), read by the agent at `api` (the fake's own endpoint, or a proxy in front of it)."""
        self.fake, self.seller, self.api = fake, seller, api or fake.api
        self.calendar = fake.add_calendar(seller)
        self.client_id, self.client_secret = fake.oauth.client()

    def credentials(self, scopes: list[str] | None = None) -> Credentials:
        """The seller's OAuth credentials, as after `callplan auth google` (refreshable at the
        fake)."""
        scopes = scopes or [google_auth.EVENTS, google_auth.CALENDAR_LIST]
        access, refresh = self.fake.oauth.issue(self.seller, scopes)
        return Credentials(
            token=access,
            refresh_token=refresh,
            token_uri=self.fake.token_uri,
            client_id=self.client_id,
            client_secret=self.client_secret,
            scopes=scopes,
        )

    def connector(self, **options: Any) -> GoogleConnector:
        options.setdefault("sleep", lambda seconds: None)
        options.setdefault("random", lambda: 0.5)
        made = GoogleConnector(
            self.seller,
            options.pop("credentials", None) or self.credentials(),
            zone=ZONE,
            api_endpoint=self.api,
            **options,
        )
        return self.handed_out(made)

    def add_meeting(
        self,
        title: str,
        start: datetime,
        minutes: int = 60,
        guests: Iterable[str] = ("dana@globex.example",),
        organizer: str | None = None,
        description: str = "",
    ) -> str:
        event: dict[str, Any] = {
            "summary": title,
            "start": when(start),
            "end": when(start + timedelta(minutes=minutes)),
            "organizer": {"email": organizer or self.seller},
            "attendees": [
                {"email": address, "responseStatus": "accepted"}
                for address in [*guests, self.seller]
            ],
        }
        if description:
            event["description"] = description
        return self.fake.insert(self.calendar, event)["id"]

    def add_series(
        self,
        title: str,
        start: datetime,
        minutes: int,
        weeks: int,
        guests: Iterable[str] = ("dana@globex.example",),
    ) -> None:
        self.fake.insert(
            self.calendar,
            {
                "summary": title,
                "start": when(start),
                "end": when(start + timedelta(minutes=minutes)),
                "organizer": {"email": self.seller},
                "recurrence": [f"RRULE:FREQ=WEEKLY;COUNT={weeks}"],
                "attendees": [
                    {"email": address, "responseStatus": "accepted"}
                    for address in [*guests, self.seller]
                ],
            },
        )

    def add_broken_event(self, start: datetime) -> str:
        ident = f"broken{uuid.uuid4().hex}"
        local = start.astimezone(self.zone).replace(tzinfo=None).isoformat()
        # a zone nobody knows: the API would refuse to store it
        unknown = {
            "dateTime": local,
            "timeZone": "Mars/Olympus",
        }
        self.fake.put_raw(
            self.calendar, {"id": ident, "summary": "Broken", "start": unknown, "end": unknown}
        )
        return ident

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
        if cancel:  # in Google, cancelling a meeting is deleting it
            self.fake.delete(self.calendar, key)
            return
        current = self.fake.get(self.calendar, key)
        changes: dict[str, Any] = {}
        if title is not None:
            changes["summary"] = title
        if start is not None or minutes is not None:
            begin = start or datetime.fromisoformat(current["start"]["dateTime"])
            length = (
                timedelta(minutes=minutes)
                if minutes
                else (
                    datetime.fromisoformat(current["end"]["dateTime"])
                    - datetime.fromisoformat(current["start"]["dateTime"])
                )
            )
            changes.update(start=when(begin), end=when(begin + length))
        if description is not None:
            changes["description"] = description
        if guests is not None or decline:
            others = [a for a in current.get("attendees", []) if a["email"] != self.seller]
            if guests is not None:
                others = [{"email": address, "responseStatus": "accepted"} for address in guests]
            changes["attendees"] = [
                *others,
                {"email": self.seller, "responseStatus": "declined" if decline else "accepted"},
            ]
        self.fake.patch(self.calendar, key, changes)

    def delete(self, event: Event) -> None:
        self.fake.delete(self.calendar, event.ref)

    def move(self, event: Event, start: datetime, end: datetime) -> None:
        self.fake.patch(self.calendar, event.ref, {"start": when(start), "end": when(end)})

    def write_description(self, event: Event, description: str) -> None:
        self.fake.patch(self.calendar, event.ref, {"description": description})

    def events(self) -> list[Event]:
        reader = self.connector()
        try:
            return list(reader.changes(self.calendar, None, EVERYTHING).upserted)
        finally:
            reader.close()

    def versions(self) -> dict[str, str]:
        return {item["id"]: item["etag"] for item in self.fake.events(self.calendar)}

    def notifications(self) -> Counter[str]:
        return Counter(self.fake.emails)
