"""The connectors' HTTP sessions read the environment once, and still honour it.

The CalDAV session stops re-reading proxies and CA bundles at every request (`trust_env` is
off), and the Graph session hands them to httplib2 as they were when it was made; either way
what a user set in the environment then still applies: HTTP(S)_PROXY carries the requests (to
a counting proxy here), NO_PROXY exempts its hosts, and REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE
is what TLS is verified against.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest

from connectors.caldav_http import RetryingSession
from connectors.graph_http import GraphSession
from tests.faults.agents import environment
from tests.support.harness.google import GoogleHarness
from tests.support.servers.proxy import FaultProxy, Reply
from tests.support.servers.tunnel import TunnelProxy

SESSIONS: dict[str, Callable[[], Any]] = {"caldav": lambda: RetryingSession(attempts=1)}
FAR = "http://calendar.invalid/dav/cal/"  # resolves nowhere: only a proxy can answer


@pytest.mark.parametrize("make", SESSIONS.values(), ids=SESSIONS.keys())
def test_requests_go_through_the_proxy_of_the_environment(make: Callable[[], Any]) -> None:
    with FaultProxy("http://127.0.0.1:9/", plan=lambda r: Reply(207)).running() as proxy:
        with environment({"HTTP_PROXY": proxy.url, "http_proxy": proxy.url, "NO_PROXY": ""}):
            session = make()
        try:
            assert session.trust_env is False
            with proxy.injecting(lambda r: Reply(207)) as seen:
                for _ in range(2):
                    assert session.request("REPORT", FAR, data=b"<x/>").status_code == 207
        finally:
            session.close()
    assert [s.request.path for s in seen] == [FAR, FAR]


@pytest.mark.parametrize("make", SESSIONS.values(), ids=SESSIONS.keys())
def test_no_proxy_exempts_its_hosts(make: Callable[[], Any]) -> None:
    proxied = {
        "HTTPS_PROXY": "http://proxy.example:3128",
        "https_proxy": "http://proxy.example:3128",
    }
    with environment({**proxied, "NO_PROXY": "calendar.example", "no_proxy": "calendar.example"}):
        session = make()
    try:
        near = session.merge_environment_settings(
            "https://calendar.example/dav/", {}, None, None, None
        )
        far = session.merge_environment_settings(
            "https://graph.example/v1.0/", {}, None, None, None
        )
    finally:
        session.close()
    assert "https" not in near["proxies"]
    assert far["proxies"]["https"] == "http://proxy.example:3128"


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
@pytest.mark.parametrize("make", SESSIONS.values(), ids=SESSIONS.keys())
def test_tls_is_verified_against_the_bundle_of_the_environment(
    make: Callable[[], Any], variable: str
) -> None:
    other = {"REQUESTS_CA_BUNDLE": "", "CURL_CA_BUNDLE": ""}
    with environment({**other, variable: "/etc/callplan/ca.pem"}):
        session = make()
    try:
        settings = session.merge_environment_settings("https://x.example/", {}, None, None, None)
        asked = session.merge_environment_settings("https://x.example/", {}, None, False, None)
    finally:
        session.close()
    assert settings["verify"] == "/etc/callplan/ca.pem"
    assert asked["verify"] is False  # a request that says otherwise is not overruled


def through(tunnel: TunnelProxy, exempt: bool) -> dict[str, str]:
    """An environment whose HTTP proxy is `tunnel`, with 127.0.0.1 exempt from it or not."""
    no_proxy = "127.0.0.1" if exempt else ""
    proxy = {"HTTP_PROXY": tunnel.url, "http_proxy": tunnel.url}
    return {**proxy, "NO_PROXY": no_proxy, "no_proxy": no_proxy}


@pytest.mark.parametrize("exempt", [False, True], ids=["proxied", "no_proxy"])
def test_graph_requests_go_through_the_proxy_of_the_environment_unless_exempt(
    exempt: bool,
) -> None:
    with (
        FaultProxy("http://127.0.0.1:9/", plan=lambda r: Reply(200)).running() as graph,
        TunnelProxy().running() as tunnel,
    ):
        with environment(through(tunnel, exempt)):
            session = GraphSession(attempts=1)
        with graph.injecting(lambda r: Reply(200)) as seen:
            for _ in range(2):
                assert session.request("GET", graph.url + "v1.0/me").status_code == 200
    assert len(seen) == 2 and session.sent == 2
    # one tunnel, kept open between the requests
    assert tunnel.tunnels == ([] if exempt else [urlsplit(graph.url).netloc])


@pytest.mark.parametrize("exempt", [False, True], ids=["proxied", "no_proxy"])
def test_google_requests_go_through_the_proxy_of_the_environment_unless_exempt(
    google_harness: GoogleHarness, exempt: bool
) -> None:
    with TunnelProxy().running() as tunnel:
        with environment(through(tunnel, exempt)):
            connector = google_harness.connector()
        assert connector.calendars()
    assert set(tunnel.tunnels) == (set() if exempt else {urlsplit(google_harness.api).netloc})


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_graph_tls_is_verified_against_the_bundle_of_the_environment(variable: str) -> None:
    other = {"REQUESTS_CA_BUNDLE": "", "CURL_CA_BUNDLE": ""}
    with environment({**other, variable: "/etc/callplan/ca.pem"}):
        bundled = GraphSession(attempts=1)
    with environment(other):
        usual = GraphSession(attempts=1)
    assert bundled.connections.settings["ca_certs"] == "/etc/callplan/ca.pem"
    assert usual.connections.settings["ca_certs"] is None  # httplib2's own bundle
