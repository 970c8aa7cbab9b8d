"""Helpers around a real Radicale server: calendars per test, raw writes, a flaky front.

The server itself is `connectors.radicale_server.RadicaleServer` (the demo uses it too).
Raw writes go through plain HTTP so that tests can put on the server what other clients
(or broken ones) would, without going through the connector under test.
"""

from __future__ import annotations

import base64
import http.client
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import caldav

PASSWORD = "not-checked"  # Radicale with --auth-type none accepts any password but wants one
SELLER = "ana@seller.example"  # whose calendars the tests read and write
ZONE = ZoneInfo("Europe/Berlin")  # the seller's zone


def make_calendar(server_url: str, user: str, cal_id: str = "work", name: str = "Work") -> str:
    """Create a calendar for `user` (who owns /user/ on an auth-less Radicale) and return its URL."""
    with caldav.DAVClient(url=server_url, username=user, password=PASSWORD, enable_rfc6764=False) as client:
        calendar = client.principal().make_calendar(name=name, cal_id=cal_id)
        return str(calendar.url.canonical())


def send(method: str, url: str, body: str | None = None, headers: dict[str, str] | None = None) -> tuple[int, str]:
    """One plain HTTP request as the URL's user (the first path segment); returns status and body."""
    user = urlsplit(url).path.strip("/").split("/")[0]
    credentials = base64.b64encode(f"{user}:{PASSWORD}".encode()).decode()
    request = urllib.request.Request(url, data=None if body is None else body.encode(), method=method)
    request.add_header("Authorization", f"Basic {credentials}")
    request.add_header("Content-Type", "text/calendar; charset=utf-8")
    for key, value in (headers or {}).items():
        request.add_header(key, value)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""


def put_ics(calendar_url: str, name: str, text: str) -> str:
    """Store `text` as `name` in the calendar, as any client would; returns the resource URL."""
    href = calendar_url + name
    status, _ = send("PUT", href, text)
    assert status in (201, 204), f"Radicale refused {name}: HTTP {status}"
    return href


class FlakyFront:
    """An HTTP server on 127.0.0.1 in front of a real one (`upstream`): it answers the next
    requests with the canned `failures` (status, headers), as a server that is throttling or
    failing for a while, and passes every other one through. `before_forward(method, path)`,
    when set, runs just before a request is passed on: someone else's write in a race."""

    def __init__(self, upstream: str, failures: list[tuple[int, dict[str, str]]]) -> None:
        self.upstream = urlsplit(upstream)
        self.failures = list(failures)
        self.before_forward: Callable[[str, str], None] | None = None
        self.seen = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    def _next_failure(self) -> tuple[int, dict[str, str]] | None:
        with self._lock:
            self.seen += 1
            return self.failures.pop(0) if self.failures else None

    def _forward(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        if self.before_forward is not None:
            self.before_forward(method, path)
        connection = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=10)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        front = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def handle_one_request(self) -> None:
                self.raw_requestline = self.rfile.readline(65537)
                if not self.raw_requestline or not self.parse_request():
                    self.close_connection = True
                    return
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                failure = front._next_failure()
                if failure is not None:
                    status, headers, payload = failure[0], list(failure[1].items()), b""
                else:
                    forwarded = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                    status, headers, payload = front._forward(self.command, self.path, forwarded, body)
                self.send_response(status)
                for key, value in headers:
                    if key.lower() not in ("content-length", "connection", "transfer-encoding", "date", "server"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
                pass

        return Handler

    @contextmanager
    def running(self) -> Iterator[FlakyFront]:
        thread = threading.Thread(target=self._server.serve_forever, args=(0.01,), daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
            thread.join()
