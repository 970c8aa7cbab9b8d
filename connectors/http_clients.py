"""The httplib2 clients one process shares, and the count of the requests they write.

The Outlook connector sends Graph's requests on these clients, and the CalDAV connector's
session sends the caldav library's requests through them (connectors.caldav). A quiet
calendar costs one request a cycle, and in a service with thousands of sellers that request
is most of what the quiet calendar costs. httplib2 is a thin layer over the standard
library's `http.client`, and googleapiclient sends through it too. requests and niquests
would do the same job at a multiple of the cost here: niquests, which the caldav library
needs, installs urllib3-future in place of urllib3, whose HTTP/1.1 stack both libraries then
run on.

httplib2 sends a request a second time, without telling, when a kept-alive connection turned
out to be closed. Its connections here count every request they write (`written`), so that
what a connector reports as requests is what the server received, and keep the last answer
they read as the server sent it (`last_read`).
"""

from __future__ import annotations

import http.client
import threading
from collections import deque
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httplib2

from connectors import shared

POOLED = 64  # idle clients kept for reuse: as many as accounts may cycle at once


class _Seen(threading.local):
    """What this thread's connections wrote and read. httplib2 sends in the calling thread, so
    what `count` grows by during a call is what that call wrote."""

    count = 0
    answer: http.client.HTTPResponse | None = None


_SEEN = _Seen()


def written() -> int:
    """How many requests this thread's connections have written so far: the difference across
    a call is what that call wrote, also when it raised."""
    return _SEEN.count


def last_read() -> http.client.HTTPResponse | None:
    """The last answer this thread's connections read, with its headers as the server sent them
    (httplib2's own answer joins repeated headers into one, which Set-Cookie does not
    survive)."""
    return _SEEN.answer


class _Counting:
    """A connection that counts the requests it writes, httplib2's own second try of a
    connection that went stale included, and keeps the answer it read last."""

    def request(self, *args: Any, **kwargs: Any) -> None:
        _SEEN.count += 1
        super().request(*args, **kwargs)  # type: ignore[misc]  # the http.client connection's

    def getresponse(self) -> http.client.HTTPResponse:
        response: http.client.HTTPResponse = super().getresponse()  # type: ignore[misc]
        _SEEN.answer = response
        return response


class _CountingHTTP(_Counting, httplib2.HTTPConnectionWithTimeout):
    pass


class _CountingHTTPS(_Counting, httplib2.HTTPSConnectionWithTimeout):
    pass


COUNTING = {"http": _CountingHTTP, "https": _CountingHTTPS}


class Clients:
    """The idle httplib2 clients of one process for one set of settings.

    An `httplib2.Http` keeps its connections open between requests but may serve one request
    at a time, so a request takes a client for itself and gives it back once the answer is
    read. A client whose request failed is closed instead: its connection may be half-way
    through an answer. At most POOLED are kept, so a process serving thousands of sellers keeps
    a few connections open to a server, not one for each seller.
    """

    def __init__(self, *, follow_redirects: bool = True, **settings: Any) -> None:
        self.settings = settings  # an httplib2.Http's arguments
        self.follow_redirects = follow_redirects
        self._idle: deque[httplib2.Http] = deque()

    @contextmanager
    def taken(self) -> Iterator[httplib2.Http]:
        """A client of this process's own, for one request."""
        try:
            client = self._idle.pop()
        except IndexError:
            client = httplib2.Http(**self.settings)
            client.follow_redirects = self.follow_redirects
        try:
            yield client
        except BaseException:
            client.close()
            raise
        if len(self._idle) < POOLED:
            self._idle.append(client)
        else:
            client.close()

    def request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None
    ) -> tuple[httplib2.Response, bytes]:
        """One request on a client taken for it, on connections that count what they write."""
        with self.taken() as client:
            response, content = client.request(
                url,
                method,
                body,
                dict(headers),
                connection_type=COUNTING.get(url.split(":")[0]),
            )
        return response, content


def shared_clients(
    timeout: float,
    proxies: Mapping[str, str],
    ca_certs: str | None,
    *,
    validate: bool = True,
    follow_redirects: bool = True,
) -> Clients:
    """The process's clients for these settings.

    `proxies` maps a scheme to its proxy's URL, and "no" to the hosts that go straight
    (NO_PROXY), as `urllib.request.getproxies_environment` gives them; httplib2 exempts
    those hosts itself. `ca_certs` None means httplib2's own CA bundle.
    """
    key = (
        f"httplib2 clients {timeout} {sorted(proxies.items())} {ca_certs} {validate} "
        f"{follow_redirects}"
    )
    return shared.once(
        key,
        lambda: Clients(
            follow_redirects=follow_redirects,
            timeout=timeout,
            proxy_info=shared.httplib2_proxies(proxies),
            ca_certs=ca_certs,
            disable_ssl_certificate_validation=not validate,
        ),
    )
