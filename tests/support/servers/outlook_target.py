"""The Graph fake and its identity platform as a Target: a new seller's mailbox per harness.

The agent reaches Graph through `base` (a FaultProxy, usually) and signs in at the fake
authority directly: token requests are neither counted nor failed. MSAL accepts only an
https authority, so the authority is also served over TLS with a certificate from a CA made
for the session; the in-process agent trusts that CA through MSAL's http_client, a
`callplan` process through REQUESTS_CA_BUNDLE (see `environment`), and the config names the
authority with `authority_host`, as it would a national cloud's.
"""

from __future__ import annotations

import os
import ssl
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import certifi
import requests
import trustme

from connectors.graph_http import GraphSession
from connectors.outlook import OutlookConnector
from connectors.outlook_auth import OutlookOptions
from tests.support.fakes.authority import Authority
from tests.support.fakes.graph import GraphFake
from tests.support.harness.base import Harness
from tests.support.harness.outlook import OutlookHarness, graph_time
from tests.support.servers.proxy import Plan, Reply, Request
from tests.support.servers.target import Target

DOMAIN = "seller.example"


def _delta_query(request: Request) -> dict[str, list[str]] | None:
    """The query of a calendarView/delta request, None for any other request."""
    parts = urlsplit(request.path)
    if request.method != "GET" or not parts.path.endswith("/calendarView/delta"):
        return None
    return parse_qs(parts.query)


def _expired(request: Request) -> Reply:
    """Graph's answer to a delta token it no longer knows: 410 with a Location to start over."""
    body = (
        b'{"error": {"code": "SyncStateNotFound", "message": "The sync state generation is not '
        b'found."}}'
    )
    headers = {"Content-Type": "application/json", "Location": urlsplit(request.path).path}
    return Reply(410, headers, body, "410 syncStateNotFound")


class OutlookTarget(Target):
    name = "outlook"

    def __init__(
        self,
        graph: GraphFake,
        authority: Authority,
        folder: Path,
        authority_host: str,
        ca_bundle: Path,
    ) -> None:
        self.graph, self.authority, self.folder = graph, authority, folder
        self.upstream = graph.url.removesuffix("v1.0")
        self.authority_host, self.ca_bundle = authority_host, ca_bundle
        self.page: int | None = OutlookOptions.model_fields["page_size"].default
        self._signing_in = threading.Lock()

    def http_client(self) -> requests.Session:
        """MSAL's HTTP client in this process: it trusts the session's CA (and, unlike a session
        that trusts the environment, is not overruled by the machine's REQUESTS_CA_BUNDLE)."""
        session = requests.Session()
        session.trust_env = False
        session.verify = str(self.ca_bundle)
        return session

    def new_calendar(self, base: str) -> OutlookHarness:
        seller = f"s{uuid.uuid4().hex[:12]}@{DOMAIN}"
        options: dict[str, Any] = {
            "graph_url": base.rstrip("/") + "/v1.0",
            "authority_host": self.authority_host,
        }
        options["page_size"] = self.page
        folder = self.folder / seller
        folder.mkdir(parents=True)
        with self._signing_in:  # the fake authority signs in the next device code as one person
            return OutlookHarness(
                self.graph,
                self.authority,
                folder,
                seller,
                http_client=self.http_client(),
                **options,
            )

    def connector(
        self,
        harness: Harness,
        *,
        timeout: float,
        sleep: Callable[[float], None],
        random: Callable[[], float],
    ) -> OutlookConnector:
        assert isinstance(harness, OutlookHarness)
        return harness.connector(GraphSession(timeout=timeout, sleep=sleep, random=random))

    def account_options(self, harness: Harness, folder: Path) -> dict[str, Any]:
        assert isinstance(harness, OutlookHarness)
        # client id, token cache (signed in), graph_url, authority_host
        return dict(harness.account.options)

    def put_malformed(self, harness: Harness, problem: str, title: str, start: datetime) -> None:
        assert isinstance(harness, OutlookHarness)
        key = harness.add_meeting(title, start)
        local = start.astimezone(harness.zone).strftime("%Y-%m-%dT%H:%M:%S.0000000")
        times = {
            "unknown time zone": (
                {"dateTime": local, "timeZone": "Mars/Olympus_Mons"},
                {"dateTime": local, "timeZone": "Mars/Olympus_Mons"},
            ),
            "ends before it starts": (graph_time(start), graph_time(start - timedelta(hours=1))),
        }[problem]
        self.graph.garble(harness.seller, key, *times)

    def expire_cursor(self, request: Request) -> Reply | None:
        query = _delta_query(request)
        return _expired(request) if query is not None and "$deltatoken" in query else None

    def expire_cursor_mid_paging(self) -> Plan | None:
        """The first nextLink followed after a deltaLink: a page of an incremental read (a
        full read's delta round starts without a token, and its pages pass)."""
        incremental = False

        def plan(request: Request) -> Reply | None:
            nonlocal incremental
            query = _delta_query(request)
            if query is None:
                return None
            if "$skiptoken" in query and incremental:
                incremental = False
                return _expired(request)
            incremental = "$deltatoken" in query
            return None

        return plan

    def limit_pages(self, items: int) -> None:
        self.page = items

    def environment(self) -> dict[str, str]:
        return {"REQUESTS_CA_BUNDLE": str(self.ca_bundle)}


@contextmanager
def serve_outlook(folder: Path) -> Iterator[OutlookTarget]:
    """The Graph fake and the authority, which also speaks TLS with a certificate of a new CA;
    `folder` holds the CA bundle (the CA and the machine's usual ones) and the token caches."""
    folder.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    bundle = folder / "ca-bundle.pem"
    usual = Path(os.environ.get("REQUESTS_CA_BUNDLE") or certifi.where())
    bundle.write_bytes(ca.cert_pem.bytes() + usual.read_bytes())
    with Authority() as authority, GraphFake(authority.tokens) as graph:
        yield OutlookTarget(
            graph, authority, folder / "mailboxes", authority.secure(context), bundle
        )
