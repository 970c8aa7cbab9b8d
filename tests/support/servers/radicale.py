"""Helpers around a real Radicale server: calendars per test and raw writes.

The server itself is `agent.cli.demo_server.RadicaleServer` (the demo uses it too);
`tests.support.servers.proxy.FaultProxy` goes in front of it to fail, delay or count requests.
Raw writes go through plain HTTP so that tests can put on the server what other clients
(or broken ones) would, without going through the connector under test.
"""

from __future__ import annotations

import base64
import urllib.error
import urllib.request
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from caldav.davclient import DAVClient

PASSWORD = "not-checked"  # Radicale with --auth-type none accepts any password but wants one
SELLER = "ana@seller.example"  # whose calendars the tests read and write
ZONE = ZoneInfo("Europe/Berlin")  # the seller's zone


def make_calendar(server_url: str, user: str, cal_id: str = "work", name: str = "Work") -> str:
    """Create a calendar for `user` (who owns /user/ on an auth-less Radicale) and return its
    URL."""
    with DAVClient(
        url=server_url, username=user, password=PASSWORD, enable_rfc6764=False
    ) as client:
        calendar = client.principal().make_calendar(name=name, cal_id=cal_id)
        return str(calendar.url.canonical())


def send(
    method: str, url: str, body: str | None = None, headers: dict[str, str] | None = None
) -> tuple[int, str]:
    """One plain HTTP request as the URL's user (the first path segment); returns status and
    body."""
    user = urlsplit(url).path.strip("/").split("/")[0]
    credentials = base64.b64encode(f"{user}:{PASSWORD}".encode()).decode()
    request = urllib.request.Request(
        url, data=None if body is None else body.encode(), method=method
    )
    request.add_header("Authorization", f"Basic {credentials}")
    request.add_header("Content-Type", "text/calendar; charset=utf-8")
    for key, value in (headers or {}).items():
        request.add_header(key, value)
    try:
        # generous: a hostile event (a megabyte of text, thousands of guests) takes Radicale
        # a while to parse on a busy machine, and seeding is not what any test measures
        with urllib.request.urlopen(request, timeout=120) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""


def put_ics(calendar_url: str, name: str, text: str) -> str:
    """Store `text` as `name` in the calendar, as any client would; returns the resource URL."""
    href = calendar_url + name
    status, _ = send("PUT", href, text)
    assert status in (201, 204), f"Radicale refused {name}: HTTP {status}"
    return href
