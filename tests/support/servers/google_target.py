"""The Google Calendar fake as a Target: a new seller (and primary calendar) per harness.

The agent reaches the Calendar API through `base` (a FaultProxy, usually) and refreshes
tokens at the fake's own token endpoint, which is not the API's business: token requests
are neither counted nor failed. From a config file the account says the same with the
`api_endpoint` and `token_uri` options, as it would for a gateway in front of Google.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httplib2

from connectors import google_auth
from connectors.google import PAGE, GoogleConnector
from tests.support.fakes.google_calendar import ApiError, GoogleCalendarFake
from tests.support.harness.base import Harness
from tests.support.harness.google import ZONE, GoogleHarness
from tests.support.helpers import MONDAY
from tests.support.servers.proxy import Plan, Reply, Request
from tests.support.servers.target import Target

DOMAIN = "northpeak.example"
EXPIRED = Reply(
    410,
    {"Content-Type": "application/json; charset=UTF-8"},
    json.dumps(
        ApiError(
            410, "fullSyncRequired", "Sync token is no longer valid, a full sync is required."
        ).body()
    ).encode(),
    "410 fullSyncRequired",
)


def _listing(request: Request) -> dict[str, list[str]] | None:
    """The query of an events.list request, None for any other request."""
    parts = urlsplit(request.path)
    if request.method != "GET" or not parts.path.endswith("/events"):
        return None
    return parse_qs(parts.query)


class GoogleTarget(Target):
    name = "google"
    page = PAGE

    def __init__(self, fake: GoogleCalendarFake) -> None:
        self.fake = fake
        self.upstream = fake.url + "/"

    def new_calendar(self, base: str) -> GoogleHarness:
        seller = f"s{uuid.uuid4().hex[:12]}@{DOMAIN}"
        return GoogleHarness(self.fake, seller, api=base.rstrip("/") + "/calendar/v3/")

    def connector(
        self,
        harness: Harness,
        *,
        timeout: float,
        sleep: Callable[[float], None],
        random: Callable[[], float],
    ) -> GoogleConnector:
        assert isinstance(harness, GoogleHarness)
        return GoogleConnector(
            harness.seller,
            harness.credentials(),
            zone=ZONE,
            api_endpoint=harness.api,
            transport=httplib2.Http(timeout=timeout),
            sleep=sleep,
            random=random,
        )

    def account_options(self, harness: Harness, folder: Path) -> dict[str, Any]:
        assert isinstance(harness, GoogleHarness)
        token = folder / "google-token.json"
        credentials = harness.credentials()
        google_auth.TokenStore(str(token), "test").save(credentials, list(credentials.scopes or []))
        return {
            "token_file": str(token),
            "api_endpoint": harness.api,
            "token_uri": self.fake.token_uri,
        }

    def put_malformed(self, harness: Harness, problem: str, title: str, start: datetime) -> None:
        local = start.astimezone(ZONE).replace(tzinfo=None).isoformat()
        times = {
            "unknown time zone": {
                "start": {"dateTime": local, "timeZone": "Mars/Olympus_Mons"},
                "end": {"dateTime": local, "timeZone": "Mars/Olympus_Mons"},
            },
            "ends before it starts": {
                "start": {"dateTime": start.isoformat()},
                "end": {"dateTime": (start - timedelta(hours=1)).isoformat()},
            },
        }[problem]
        item = {
            "id": uuid.uuid4().hex,
            "summary": title,
            "organizer": {"email": harness.seller},
            "attendees": [{"email": "dana@globex.example", "responseStatus": "accepted"}],
            **times,
        }
        self.fake.put_raw(harness.calendar, item)

    def expire_cursor(self, request: Request) -> Reply | None:
        query = _listing(request)
        return EXPIRED if query is not None and "syncToken" in query else None

    def expire_cursor_mid_paging(self) -> Plan | None:
        """The page after the first of a read with a sync token (every page repeats the token)."""

        def plan(request: Request) -> Reply | None:
            query = _listing(request)
            return (
                EXPIRED
                if query is not None and "syncToken" in query and "pageToken" in query
                else None
            )

        return plan

    def limit_pages(self, items: int) -> None:
        self.fake.page_limit = self.page = items


@contextmanager
def serve_google(folder: Path) -> Iterator[GoogleTarget]:
    """The fake (in memory: `folder` is not needed), its clock on the scenarios' Monday."""
    with GoogleCalendarFake(MONDAY) as fake:
        yield GoogleTarget(fake)
    assert not fake.crashes, fake.crashes
