"""A fault-injecting, delaying HTTP proxy in front of a real server or a faithful fake.

The agent talks to the proxy as it would to the provider; the proxy passes each request on
to `upstream` unchanged, or does something else with it that a real network and a real
provider do now and then: answers with a status of its own (5xx, 429 with Retry-After, an
expired sync cursor), resets the connection, hangs until the client gives up, cuts the
response body short, or kills the client process. A fault can strike before the request
reaches the server (nothing happened there) or after the server applied it (the client
never hears that it did), which are the two cases a crash-safe client must tell apart.

Which request gets which fault is decided by `plan(request)` from the request's position in
the stream and its content, never by the wall clock, so a seeded plan replays exactly. Every
request is recorded, so tests and benchmarks count what a cycle cost. `latency` delays each
request, to measure how cycle time follows from request count on a slow network.

It speaks HTTP/1.1 with keep-alive, as the client libraries do, and binds 127.0.0.1 only.
"""

from __future__ import annotations

import http.client
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

from tests.support.fakes.listener import LocalServer

DROPPED_HEADERS = (
    "content-length",
    "connection",
    "transfer-encoding",
    "keep-alive",
    "date",
    "server",
)


@dataclass(frozen=True)
class Request:
    """One request the proxy received: its position (from 1, counted from the start of the
    current `injecting` block, else from the start), its content, and who sent it (what the
    proxy's `identify` made of the connection it came on; "" without one)."""

    index: int
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    client: str = ""


@dataclass(frozen=True)
class Reply:
    """Answer with this status instead of the server; the server never sees the request."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    label: str = ""

    def __str__(self) -> str:
        return self.label or f"HTTP {self.status}"


@dataclass(frozen=True)
class Reset:
    """Reset the connection (TCP RST), before the server saw the request or after it applied it."""

    after_forward: bool = False

    def __str__(self) -> str:
        return "reset after the server applied it" if self.after_forward else "reset"


@dataclass(frozen=True)
class Hang:
    """Keep the connection open without answering for `seconds`: the client's timeout fires."""

    seconds: float
    after_forward: bool = False

    def __str__(self) -> str:
        return "timeout after the server applied it" if self.after_forward else "timeout"


@dataclass(frozen=True)
class Truncate:
    """Pass the request on, then send only the first part of the body.

    With `dropped` the headers announce the whole body and the connection closes early (a
    dropped connection, which HTTP can detect); without, they announce the part that is
    sent (a server that cut its own answer short, which only the parser can detect).
    """

    keep: float = 0.5  # the share of the body that gets through
    dropped: bool = True

    def __str__(self) -> str:
        return "truncated response" if self.dropped else "cut-short response"


@dataclass(frozen=True)
class Kill:
    """Run `action` (kill the client process), then drop the connection unanswered."""

    action: Callable[[], None]
    after_forward: bool = False

    def __str__(self) -> str:
        return (
            "killed after the server applied it"
            if self.after_forward
            else "killed before the server saw it"
        )


@dataclass(frozen=True)
class Hold:
    """Keep the request from the server until `release` is set, then pass it on: a write in
    flight for as long as the test needs."""

    release: threading.Event

    def __str__(self) -> str:
        return "held"


Fault = Reply | Reset | Hang | Truncate | Kill | Hold
Plan = Callable[[Request], "Fault | None"]


def _reaches_server(fault: Fault | None) -> bool:
    return (
        fault is None
        or isinstance(fault, (Truncate, Hold))
        or getattr(fault, "after_forward", False)
    )


@dataclass
class Seen:
    """A request, the fault it met (None: passed through cleanly), and when (time.monotonic())
    it arrived and was answered: the moment its answer was ready to go out, before the client
    could read a byte of it (or the connection was dropped). Stamped any later (once the answer
    is written), it would come after the client's next request whenever the proxy's thread
    waits its turn to run, and a client sending one request at a time would seem to send two."""

    request: Request
    fault: Fault | None
    arrived: float = 0.0
    answered: float = 0.0


class FaultProxy:
    """An HTTP server on 127.0.0.1 that forwards to `upstream`, injecting faults as planned.

    `queue` holds faults for the next requests, in order (a server failing for a while);
    once it is empty, `plan` decides (None: pass everything through). `before_forward(method,
    path)`, when set, runs just before a request is passed on: someone else's write racing ours.
    `identify(client, server)`, when given, names the client of each new connection (from its
    two ends' addresses), and every request on it carries that name.
    """

    def __init__(
        self,
        upstream: str,
        *,
        latency: float = 0.0,
        plan: Plan | None = None,
        identify: Callable[[tuple[str, int], tuple[str, int]], str] | None = None,
    ) -> None:
        self.upstream = urlsplit(upstream)
        self.latency = latency
        self.plan = plan
        self.identify = identify
        self.queue: list[Fault] = []
        self.before_forward: Callable[[str, str], None] | None = None
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._count = 0
        self._base = 0  # the count when the current `injecting` block began
        self._stopping = threading.Event()
        self._server = LocalServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    def via(self, url: str, upstream_url: str) -> str:
        """`url` on the upstream server, as reached through the proxy."""
        return self.url + url.removeprefix(upstream_url)

    @property
    def faults(self) -> list[Seen]:
        return [seen for seen in self.seen if seen.fault is not None]

    @contextmanager
    def injecting(self, plan: Plan | None) -> Iterator[list[Seen]]:
        """Use `plan` for the requests sent inside the block; yields what those requests met."""
        with self._lock:
            start, self._base = len(self.seen), self._count
        previous, self.plan = self.plan, plan
        window: list[Seen] = []
        try:
            yield window
        finally:
            self.plan = previous
            with self._lock:
                window.extend(self.seen[start:])

    def _receive(
        self, method: str, path: str, headers: dict[str, str], body: bytes, client: str = ""
    ) -> tuple[Seen, Fault | None]:
        """Number the request and decide its fault: the queue first, then the plan."""
        arrived = time.monotonic()
        with self._lock:
            self._count += 1
            request = Request(self._count - self._base, method, path, headers, body, client)
            fault = self.queue.pop(0) if self.queue else None
        if fault is None and self.plan is not None:
            fault = self.plan(request)
        seen = Seen(request, fault, arrived)
        with self._lock:
            self.seen.append(seen)
        return seen, fault

    def _forward(self, request: Request) -> tuple[int, list[tuple[str, str]], bytes]:
        if self.before_forward is not None:
            self.before_forward(request.method, request.path)
        assert self.upstream.hostname is not None, "an upstream URL names its host"
        connection = http.client.HTTPConnection(
            self.upstream.hostname, self.upstream.port, timeout=30
        )
        try:
            connection.request(
                request.method, request.path, body=request.body, headers=request.headers
            )
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out as separate writes

            client = ""
            seen: Seen  # the request being served

            def setup(self) -> None:
                super().setup()
                if proxy.identify is not None:
                    self.client = proxy.identify(
                        self.client_address[:2], self.connection.getsockname()[:2]
                    )

            def handle_one_request(self) -> None:
                self.raw_requestline = self.rfile.readline(65537)
                if not self.raw_requestline or not self.parse_request():
                    self.close_connection = True
                    return
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                # Host kept: links point here
                headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
                seen, fault = proxy._receive(self.command, self.path, headers, body, self.client)
                if proxy.latency:
                    time.sleep(proxy.latency)  # a simulated network: benchmarks only, never tests
                self.seen = seen
                try:
                    self._serve(seen.request, fault)
                finally:
                    if not seen.answered:  # dropped unanswered
                        seen.answered = time.monotonic()

            def _serve(self, request: Request, fault: Fault | None) -> None:
                if isinstance(fault, Hold):
                    fault.release.wait(60)
                if isinstance(fault, Reply):
                    self._answer(fault.status, list(fault.headers.items()), fault.body)
                    return
                if _reaches_server(fault):
                    status, headers, payload = proxy._forward(request)
                match fault:
                    case None | Hold():
                        self._answer(status, headers, payload)
                    case Truncate(keep=keep, dropped=True):
                        self._answer(status, headers, payload, cut=int(len(payload) * keep))
                    case Truncate(keep=keep):
                        self._answer(status, headers, payload[: int(len(payload) * keep)])
                    case Reset():
                        self._reset()
                    case Hang(seconds=seconds):
                        proxy._stopping.wait(seconds)
                        self.close_connection = True
                    case Kill(action=action):
                        action()
                        self._reset()

            def _answer(
                self,
                status: int,
                headers: list[tuple[str, str]],
                payload: bytes,
                cut: int | None = None,
            ) -> None:
                self.seen.answered = time.monotonic()
                self.send_response(status)
                for key, value in headers:
                    if key.lower() not in DROPPED_HEADERS:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload if cut is None else payload[:cut])
                if cut is not None:
                    self.close_connection = True

            def _reset(self) -> None:
                # linger 0: closing sends RST, not FIN; the files still open on the socket
                # close it for real when the handler finishes
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.connection.close()
                self.close_connection = True

            def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
                pass

        return Handler

    @contextmanager
    def running(self) -> Iterator[FaultProxy]:
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.01,), daemon=True
        )
        self._thread.start()
        try:
            yield self
        finally:
            self._stopping.set()
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
