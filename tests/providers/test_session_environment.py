"""The connectors' HTTP sessions read the environment once, and still honour it.

Both sessions stop re-reading proxies and CA bundles at every request (`trust_env` is off);
what a user set in the environment when the session was made still applies: HTTP(S)_PROXY
carries the requests (to a counting proxy here), NO_PROXY exempts its hosts, and
REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE is what TLS is verified against.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from connectors.caldav import RetryingSession
from connectors.graph_http import GraphSession
from tests.faults.agents import environment
from tests.support.servers.proxy import FaultProxy, Reply

SESSIONS: dict[str, Callable[[], Any]] = {
    "caldav": lambda: RetryingSession(attempts=1),
    "graph": lambda: GraphSession(attempts=1),
}
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
