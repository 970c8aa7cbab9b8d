"""The CalDAV session's transport: niquests' protocol work on the process's httplib2 clients.

niquests still authenticates, keeps cookies and applies the environment; httplib2 writes the
request and reads the answer. These tests hold what would break between the two: the cookies
a server sets, Digest's challenge and answer, the headers as the server sent them, TLS
against the CA bundle of the environment, and the count of what the server received.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import niquests
import pytest
import trustme

from agent.core.errors import TransientError
from connectors.caldav_http import RetryingSession
from tests.faults.agents import environment
from tests.support.fakes.listener import LocalServer
from tests.support.servers.proxy import FaultProxy, Reply, Request

CHALLENGE = 'Digest realm="dav", nonce="n1", qop="auth", algorithm=MD5'


def answering(plan: dict[int, Reply]) -> FaultProxy:
    """A server that answers the n-th request (from 1) as `plan` says, and 207 otherwise."""
    return FaultProxy(
        "http://127.0.0.1:9/", plan=lambda request: plan.get(request.index, Reply(207))
    )


def header(request: Request, name: str) -> str | None:
    """A request's header, whatever the case its client wrote the name in."""
    return {key.lower(): value for key, value in request.headers.items()}.get(name.lower())


def test_cookies_the_server_sets_are_sent_back() -> None:
    session = RetryingSession(attempts=1)
    with answering({1: Reply(207, {"Set-Cookie": "session=abc; Path=/"})}).running() as server:
        with server.injecting(server.plan) as seen:
            for _ in range(2):
                assert session.request("REPORT", server.url + "cal/").status_code == 207
    assert [header(s.request, "Cookie") for s in seen] == [None, "session=abc"]
    assert session.sent == 2


def test_digest_authentication_answers_the_servers_challenge() -> None:
    def plan(request: Request) -> Reply:
        if (header(request, "Authorization") or "").startswith("Digest "):
            return Reply(207)
        return Reply(401, {"WWW-Authenticate": CHALLENGE})

    session = RetryingSession(attempts=1)
    with FaultProxy("http://127.0.0.1:9/", plan=plan).running() as server:
        with server.injecting(plan) as seen:
            answer = session.request(
                "REPORT", server.url + "cal/", auth=niquests.auth.HTTPDigestAuth("seller", "pw")
            )
    assert answer.status_code == 207
    first, second = (header(s.request, "Authorization") or "" for s in seen)
    assert first == "" and 'username="seller"' in second and 'nonce="n1"' in second
    assert session.sent == 2  # the challenge's answer is a request the server received


def test_an_answers_headers_are_those_the_server_sent() -> None:
    session = RetryingSession(attempts=1)
    with answering({1: Reply(200, {"ETag": '"1"'}, b"BEGIN:VCALENDAR")}).running() as server:
        answer = session.request("GET", server.url + "cal/a.ics")
    assert answer.status_code == 200 and answer.content == b"BEGIN:VCALENDAR"
    assert answer.headers["ETag"] == '"1"'
    # httplib2 adds these to its own answer; the server sent neither
    assert "status" not in answer.headers and "content-location" not in answer.headers


class _Calendar(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_REPORT(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(207)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def served_over_tls(ca: trustme.CA) -> Iterator[str]:
    """A server on 127.0.0.1 that answers REPORT with 207, over TLS with a certificate of `ca`."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    with LocalServer(("127.0.0.1", 0), _Calendar) as server:
        server.socket = context.wrap_socket(server.socket, server_side=True)
        thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
        thread.start()
        try:
            yield f"https://127.0.0.1:{server.server_address[1]}/cal/"
        finally:
            server.shutdown()
            thread.join()


def test_tls_is_verified_against_the_ca_bundle_of_the_environment(tmp_path: Path) -> None:
    ca = trustme.CA()
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    unset = {"REQUESTS_CA_BUNDLE": "", "CURL_CA_BUNDLE": ""}
    with environment({**unset, "REQUESTS_CA_BUNDLE": str(bundle)}):
        trusting = RetryingSession(attempts=1)
    with environment(unset):
        usual = RetryingSession(attempts=1)
    with served_over_tls(ca) as url:
        assert trusting.request("REPORT", url).status_code == 207
        with pytest.raises(TransientError, match="REPORT: SSLError") as refused:
            usual.request("REPORT", url)
    assert "\n" not in str(refused.value)
