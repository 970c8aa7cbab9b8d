"""The scenario harness on the fake Microsoft Graph (tests/support/fakes/graph.py).

The agent's connector is the real one, with real MSAL tokens from the fake authority (the
seller signs in once with the device-code flow). People act through the fake's admin
methods, as Outlook would for them, never through the connector under test; their edits send
no notifications, so each attendee's count is what the agent's writes caused.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from agent.config.settings import Account, parse
from agent.core.model import Event, Window
from connectors.graph_http import GraphSession
from connectors.outlook import OutlookConnector
from connectors.outlook_auth import GraphTokens, parse_options
from tests.support.fakes.authority import Authority
from tests.support.fakes.graph import GraphFake
from tests.support.harness.base import Harness

SELLER = "ana@seller.example"
ZONE = ZoneInfo("Europe/Berlin")
CLIENT_ID = "11111111-2222-3333-4444-555555555555"
# wide enough for the scenarios (2030) and for tests that run on the real clock
EVERYTHING = Window(datetime(2020, 1, 1, tzinfo=ZONE), datetime(2040, 1, 1, tzinfo=ZONE))


def graph_time(when: datetime) -> dict[str, str]:
    return {"dateTime": when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}


def person(address: str, response: str = "accepted", kind: str = "required") -> dict[str, Any]:
    return {
        "type": kind,
        "status": {"response": response, "time": "2030-01-01T00:00:00Z"},
        "emailAddress": {"address": address, "name": address.split("@")[0].title()},
    }


def outlook_account(
    graph: GraphFake, folder: Path, seller: str = SELLER, **options: Any
) -> Account:
    """A delegated outlook account on the fakes, its token cache in `folder`."""
    raw = {
        "defaults": {
            "timezone": str(ZONE),
            "rules": {"internal_domains": [seller.partition("@")[2]]},
        },
        "accounts": [
            {
                "name": "seller",
                "provider": "outlook",
                "email": seller,
                "client_id": CLIENT_ID,
                "token_cache_file": str(folder / "tokens.json"),
                "graph_url": graph.url,
                **options,
            }
        ],
    }
    return parse(raw, folder / "config.toml").accounts[0]


def signed_in(account: Account, authority: Authority, http_client: Any = None) -> GraphTokens:
    """The seller runs `callplan auth outlook`: device-code flow against the fake authority
    (through `http_client`, by default one that sends the login host's requests to the fake)."""
    authority.add_user(account.email)
    authority.next_sign_in = account.email
    tokens = GraphTokens(
        account, parse_options(account), http_client=http_client or authority.http_client()
    )
    tokens.sign_in(lambda message: None)
    return tokens


class OutlookHarness(Harness):
    name = "outlook"
    seller = SELLER
    zone = ZONE

    def __init__(
        self,
        graph: GraphFake,
        authority: Authority,
        folder: Path,
        seller: str = SELLER,
        http_client: Any = None,
        **options: Any,
    ) -> None:
        """`seller`'s mailbox, signed in; `options` are account keys (a proxy's graph_url, an
        authority_host), `http_client` is MSAL's (default: the login host sent to the fake)."""
        self.graph, self.authority, self.seller = graph, authority, seller
        self.http_client = http_client or authority.http_client()
        self.mailbox = graph.mailbox(seller)
        self.calendar = next(iter(self.mailbox.calendars))
        self.account = outlook_account(graph, folder, seller, **options)
        signed_in(self.account, authority, self.http_client)

    def connector(self, session: GraphSession | None = None) -> OutlookConnector:
        session = session or GraphSession(sleep=lambda seconds: None, random=lambda: 0.5)
        return self.handed_out(
            OutlookConnector.from_account(
                self.account, session=session, http_client=self.http_client
            )
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
        organizer = organizer or self.seller
        attendees = [person(address) for address in guests]
        event: dict[str, Any] = {
            "subject": title,
            "body": {"contentType": "text", "content": description},
            "start": graph_time(start),
            "end": graph_time(start + timedelta(minutes=minutes)),
            "organizer": {"emailAddress": {"address": organizer, "name": ""}},
        }
        if organizer != self.seller:
            attendees.append(person(self.seller))
            event["responseStatus"] = {"response": "accepted", "time": "2030-01-01T00:00:00Z"}
        event["attendees"] = attendees
        return self.graph.add_event(self.seller, self.calendar, event)

    def add_series(
        self,
        title: str,
        start: datetime,
        minutes: int,
        weeks: int,
        guests: Iterable[str] = ("dana@globex.example",),
    ) -> None:
        local = start.astimezone(self.zone)
        self.graph.add_event(
            self.seller,
            self.calendar,
            {
                "subject": title,
                "attendees": [person(address) for address in guests],
                "start": {
                    "dateTime": local.strftime("%Y-%m-%dT%H:%M:%S"),
                    "timeZone": str(self.zone),
                },
                "end": {
                    "dateTime": (local + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S"),
                    "timeZone": str(self.zone),
                },
                "recurrence": {
                    "pattern": {
                        "type": "weekly",
                        "interval": 1,
                        "daysOfWeek": [local.strftime("%A").lower()],
                    },
                    "range": {
                        "type": "numbered",
                        "startDate": local.date().isoformat(),
                        "numberOfOccurrences": weeks,
                    },
                },
            },
        )

    def add_broken_event(self, start: datetime) -> str:
        ref = self.add_meeting("Broken", start)
        self.graph.garble(
            self.seller,
            ref,
            {"dateTime": start.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "Mars/Olympus"},
            graph_time(start),
        )
        return ref

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
        stored = self.graph.raw(self.seller, key)
        changes: dict[str, Any] = {}
        if title is not None:
            changes["subject"] = title
        if start is not None or minutes is not None:
            begin = start or stored.start
            length = timedelta(minutes=minutes) if minutes else stored.end - stored.start
            changes["start"], changes["end"] = graph_time(begin), graph_time(begin + length)
        if description is not None:
            changes["body"] = {
                "contentType": stored.data["body"]["contentType"],
                "content": description,
            }
        if cancel:
            changes["isCancelled"] = True
        attendees = [
            a for a in stored.data["attendees"] if a["emailAddress"]["address"] != self.seller
        ]
        if guests is not None:
            attendees = [person(address) for address in guests]
        if guests is not None or decline:
            if not stored.data["isOrganizer"]:
                attendees.append(person(self.seller, "declined" if decline else "accepted"))
            changes["attendees"] = attendees
        if decline:
            changes["responseStatus"] = {"response": "declined", "time": "2030-01-02T00:00:00Z"}
        self.graph.edit(self.seller, key, changes)

    def delete(self, event: Event) -> None:
        self.graph.remove(self.seller, event.ref)

    def move(self, event: Event, start: datetime, end: datetime) -> None:
        self.graph.edit(
            self.seller, event.ref, {"start": graph_time(start), "end": graph_time(end)}
        )

    def write_description(self, event: Event, description: str) -> None:
        self.graph.edit(
            self.seller,
            event.ref,
            {"body": {"contentType": event.body_format.value, "content": description}},
        )

    def events(self) -> list[Event]:
        reader = self.connector()
        return list(reader.changes(self.calendar, None, EVERYTHING).upserted)

    def versions(self) -> dict[str, str]:
        return {event.ref: event.etag or "" for event in self.events()}

    def notifications(self) -> Counter[str]:
        return Counter(
            {
                attendee: n
                for (mailbox, attendee), n in self.graph.notifications.items()
                if mailbox == self.seller
            }
        )
