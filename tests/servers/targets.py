"""The providers that benchmarks and fault tests run against, behind one small interface.

A Target is a running server (Radicale, or a faithful fake of Google Calendar or Graph) plus
what a provider-neutral test needs to know about it: how to get a fresh calendar for a new
seller (a scenario harness, see tests/harness.py), how to build the agent's connector with
its network knobs set by the test (timeout, sleep, jitter), which config keys make the
`callplan` command reach that calendar, and how the provider says that an incremental-sync
cursor has expired. Everything else (the proxy that fails or delays requests, the scenarios,
the checks) is shared.

EXTENSION POINT: the Google and Graph fakes each add a Target subclass and one entry to
SERVERS; the benchmarks (tests/bench) and the fault tests (tests/faults) then run against
them too.
"""

from __future__ import annotations

import re
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from harness import Harness
from harness_caldav import CaldavHarness

from connectors.base import Connector
from connectors.caldav import CaldavConnector, RetryingSession
from connectors.radicale_server import RadicaleServer
from servers.proxy import Reply, Request
from servers.radicale import PASSWORD, SELLER, ZONE, make_calendar, put_ics


class Target(ABC):
    name: str  # the provider, as in the config ("caldav", "google", "outlook")
    upstream: str  # the server's base URL; a proxy in front of it forwards here

    @abstractmethod
    def new_calendar(self, base: str) -> Harness:
        """A fresh, empty calendar of a new seller; people and the agent reach the server at
        `base` (the upstream URL itself, or a proxy in front of it)."""

    @abstractmethod
    def connector(
        self, harness: Harness, *, timeout: float, sleep: Callable[[float], None], random: Callable[[], float]
    ) -> Connector:
        """The agent's connector for the harness's seller, with the test's network knobs."""

    @abstractmethod
    def account_options(self, harness: Harness, folder: Path) -> dict[str, Any]:
        """The [[accounts]] keys (besides name, provider, email, calendars) that make the
        `callplan` command reach the harness's calendar; secrets go in files under `folder`."""

    @abstractmethod
    def put_malformed(self, harness: Harness, problem: str, title: str, start: datetime) -> None:
        """Put on the calendar, as a broken client could, a meeting with `problem` (one of
        MALFORMED) that the provider stores but the agent cannot read correctly."""

    @abstractmethod
    def expire_cursor(self, request: Request) -> Reply | None:
        """The provider's answer to a request that uses a sync cursor it no longer knows;
        None for requests that use none."""


MALFORMED = ("unknown time zone", "ends before it starts")

# RFC 6578 3.2: a sync token the server no longer accepts is refused with this precondition.
SYNC_WITH_TOKEN = re.compile(rb"<[\w:]*sync-collection\b.*<[\w:]*sync-token>[^<]+<", re.DOTALL)
INVALID_SYNC_TOKEN = b'<?xml version="1.0" encoding="utf-8"?>\n<D:error xmlns:D="DAV:"><D:valid-sync-token/></D:error>'


class CaldavTarget(Target):
    """Radicale: each calendar belongs to a new user (who owns /<user>/ on an auth-less server)."""

    name = "caldav"

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream

    def new_calendar(self, base: str) -> CaldavHarness:
        user = f"u{uuid.uuid4().hex[:12]}"
        calendar = make_calendar(self.upstream, user)
        return CaldavHarness(base, user, base + calendar.removeprefix(self.upstream))

    def connector(
        self, harness: Harness, *, timeout: float, sleep: Callable[[float], None], random: Callable[[], float]
    ) -> CaldavConnector:
        assert isinstance(harness, CaldavHarness)
        session = RetryingSession(timeout=timeout, sleep=sleep, random=random)
        return CaldavConnector(SELLER, harness.server_url, harness.user, PASSWORD, zone=ZONE, session=session)

    def account_options(self, harness: Harness, folder: Path) -> dict[str, Any]:
        assert isinstance(harness, CaldavHarness)
        secret = folder / "caldav-password"
        secret.write_text(PASSWORD)
        secret.chmod(0o600)
        return {"url": harness.server_url, "username": harness.user, "password_file": str(secret)}

    def put_malformed(self, harness: Harness, problem: str, title: str, start: datetime) -> None:
        assert isinstance(harness, CaldavHarness)
        stamp = start.astimezone(UTC).strftime("%Y%m%dT%H%M%S")
        times = {
            "unknown time zone": f"DTSTART;TZID=Mars/Olympus_Mons:{stamp}\r\nDTEND;TZID=Mars/Olympus_Mons:{stamp}",
            "ends before it starts": f"DTSTART:{stamp}Z\r\nDTEND:{(start - timedelta(hours=1)).astimezone(UTC):%Y%m%dT%H%M%S}Z",
        }[problem]
        uid = uuid.uuid4().hex
        text = (
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//a broken client//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:{uid}\r\nDTSTAMP:20300101T000000Z\r\n{times}\r\nSUMMARY:{title}\r\n"
            f"ORGANIZER:mailto:{SELLER}\r\nATTENDEE;PARTSTAT=ACCEPTED:mailto:dana@globex.example\r\n"
            "END:VEVENT\r\nEND:VCALENDAR\r\n"
        )
        put_ics(harness.calendar, f"{uid}.ics", text)

    def expire_cursor(self, request: Request) -> Reply | None:
        if request.method == "REPORT" and SYNC_WITH_TOKEN.search(request.body):
            return Reply(403, {"Content-Type": "application/xml; charset=utf-8"}, INVALID_SYNC_TOKEN, "sync token expired")
        return None


@contextmanager
def serve_caldav(folder: Path) -> Iterator[CaldavTarget]:
    with RadicaleServer(folder) as server:
        yield CaldavTarget(server.url)


# EXTENSION POINT: every provider the benchmarks and fault tests iterate over. Each entry
# starts its server with its data under a folder and yields its Target.
SERVERS: dict[str, Callable[[Path], AbstractContextManager[Target]]] = {
    "caldav": serve_caldav,
}
