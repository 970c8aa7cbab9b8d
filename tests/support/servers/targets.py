"""The providers that benchmarks and fault tests run against (see servers/target.py).

SERVERS has one entry per provider: Radicale for CalDAV (here), the Google Calendar fake
(servers/google_target.py) and the Graph fake with its identity platform
(servers/outlook_target.py). The benchmarks (tests/bench) and the fault tests
(tests/faults) run against every one.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from agent.cli.demo_server import RadicaleServer
from connectors.caldav import CaldavConnector
from connectors.caldav_http import RetryingSession
from tests.support.harness.base import Harness
from tests.support.harness.caldav import CaldavHarness
from tests.support.servers.google_target import serve_google
from tests.support.servers.outlook_target import serve_outlook
from tests.support.servers.proxy import Plan, Reply, Request
from tests.support.servers.radicale import PASSWORD, SELLER, ZONE, make_calendar, put_ics
from tests.support.servers.target import MALFORMED, Target

__all__ = ["MALFORMED", "SERVERS", "CaldavTarget", "Target"]

# RFC 6578 3.2: a sync token the server no longer accepts is refused with this precondition.
SYNC_WITH_TOKEN = re.compile(rb"<[\w:]*sync-collection\b.*<[\w:]*sync-token>[^<]+<", re.DOTALL)
INVALID_SYNC_TOKEN = (
    b'<?xml version="1.0" encoding="utf-8"?>\n<D:error '
    b'xmlns:D="DAV:"><D:valid-sync-token/></D:error>'
)


class CaldavTarget(Target):
    """Radicale: each calendar belongs to a new user (who owns /<user>/ on an auth-less server)."""

    name = "caldav"
    page = None

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream

    def new_calendar(self, base: str) -> CaldavHarness:
        user = f"u{uuid.uuid4().hex[:12]}"
        calendar = make_calendar(self.upstream, user)
        return CaldavHarness(base, user, base + calendar.removeprefix(self.upstream))

    def connector(
        self,
        harness: Harness,
        *,
        timeout: float,
        sleep: Callable[[float], None],
        random: Callable[[], float],
    ) -> CaldavConnector:
        assert isinstance(harness, CaldavHarness)
        session = RetryingSession(timeout=timeout, sleep=sleep, random=random)
        return CaldavConnector(
            SELLER, harness.server_url, harness.user, PASSWORD, zone=ZONE, session=session
        )

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
            "unknown time zone": (
                f"DTSTART;TZID=Mars/Olympus_Mons:{stamp}\r\nDTEND;TZID=Mars/Olympus_Mons:{stamp}"
            ),
            "ends before it starts": (
                f"DTSTART:{stamp}Z\r\n"
                f"DTEND:{(start - timedelta(hours=1)).astimezone(UTC):%Y%m%dT%H%M%S}Z"
            ),
        }[problem]
        uid = uuid.uuid4().hex
        text = (
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//a broken client//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:{uid}\r\nDTSTAMP:20300101T000000Z\r\n{times}\r\nSUMMARY:{title}\r\n"
            f"ORGANIZER:mailto:{SELLER}\r\n"
            "ATTENDEE;PARTSTAT=ACCEPTED:mailto:dana@globex.example\r\nEND:VEVENT\r\n"
            "END:VCALENDAR\r\n"
        )
        put_ics(harness.calendar, f"{uid}.ics", text)

    def expire_cursor(self, request: Request) -> Reply | None:
        if request.method == "REPORT" and SYNC_WITH_TOKEN.search(request.body):
            return Reply(
                403,
                {"Content-Type": "application/xml; charset=utf-8"},
                INVALID_SYNC_TOKEN,
                "sync token expired",
            )
        return None

    def expire_cursor_mid_paging(self) -> Plan | None:
        return None  # Radicale answers a sync-collection report in one piece

    def limit_pages(self, items: int) -> None:
        pass  # nor does it page a calendar-query


@contextmanager
def serve_caldav(folder: Path) -> Iterator[CaldavTarget]:
    with RadicaleServer(folder) as server:
        yield CaldavTarget(server.url)


# Every provider the benchmarks and fault tests iterate over. Each entry starts its server
# with its data under a folder and yields its Target.
SERVERS: dict[str, Callable[[Path], AbstractContextManager[Target]]] = {
    "caldav": serve_caldav,
    "google": serve_google,
    "outlook": serve_outlook,
}
