"""HTTP for the caldav library: a session per account that counts and retries, and the
transport the process's sessions share.

The caldav client sends every request through a niquests session, the attribute it documents
for that, and the connector gives it `RetryingSession`. niquests keeps doing the protocol's
work there (authentication, Digest's second request included, redirects, cookies and the
environment's proxies), and `Transport` does the last step, writing the request and reading
the answer, on the httplib2 clients the process shares (connectors.http_clients, which says
why). A request that needs what those clients do not do the way niquests does (one through a
proxy, which httplib2 would tunnel even for plain HTTP; a client certificate; a streamed
answer) goes through niquests' own transport, as every request did before.
"""

from __future__ import annotations

import http.client
import io
import os
import ssl
from functools import partial
from typing import Any

import httplib2
import niquests
import urllib3
from niquests.adapters import HTTPAdapter

from connectors import http_clients, shared
from connectors.retry import Retrier

# a connection refused, reset or timed out, or dropped in the middle of the body
NETWORK_FAILURES = (
    niquests.ConnectionError,
    niquests.Timeout,
    niquests.exceptions.ChunkedEncodingError,
)
POOLED = 64  # connections niquests' own transport keeps open to one host


class Transport(HTTPAdapter):
    """niquests' transport adapter that sends on the process's httplib2 clients.

    A request whose transport httplib2 would do differently from niquests' own (see the module
    docstring) is left to niquests' own transport, which this adapter also is.
    """

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        # the process's clients by timeout, CA bundle and whether to verify: found once, not
        # at every request
        self._clients: dict[tuple[float, str | None, bool], http_clients.Clients] = {}

    def send(  # type: ignore[override]  # the keywords niquests passes, by name
        self,
        request: niquests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Any = None,
        **rest: Any,
    ) -> niquests.Response:
        clients = self._clients_for(stream, timeout, verify, cert, proxies)
        body = request.body.encode() if isinstance(request.body, str) else request.body
        if clients is None or not isinstance(body, bytes | None):
            return super().send(request, stream, timeout, verify, cert, proxies, **rest)
        assert request.method is not None and isinstance(request.url, str)
        try:
            response, content = clients.request(
                request.method, request.url, request.headers or {}, body
            )
        except TimeoutError as exc:
            raise niquests.Timeout(exc, request=request) from exc
        except ssl.SSLError as exc:  # a certificate not trusted, among others
            raise niquests.exceptions.SSLError(exc, request=request) from exc
        except (OSError, http.client.HTTPException, httplib2.HttpLib2Error) as exc:
            raise niquests.ConnectionError(exc, request=request) from exc
        read = http_clients.last_read()
        assert read is not None, "an answer was read"
        answer = urllib3.HTTPResponse(
            body=io.BytesIO(content),  # read by niquests, as from a socket
            headers=_sent(response, read.msg),
            status=response.status,
            reason=response.reason,
            preload_content=False,
            decode_content=False,  # httplib2 has decoded it
            request_url=request.url,
            # read to its end and closed: where niquests finds the cookies to keep
            original_response=read,  # type: ignore[arg-type]
        )
        return self.build_response(request, answer)

    def _clients_for(
        self, stream: bool, timeout: Any, verify: Any, cert: Any, proxies: Any
    ) -> http_clients.Clients | None:
        """The httplib2 clients for a request sent with these settings, or None when it is
        niquests' own transport's (see the module docstring)."""
        if stream or cert is not None or not isinstance(timeout, int | float):
            return None
        if proxies and any(scheme in proxies for scheme in shared.SCHEMES):
            return None
        if not (isinstance(verify, bool) or (isinstance(verify, str) and os.path.isfile(verify))):
            return None  # a folder of certificates, or another form of them
        ca_certs = verify if isinstance(verify, str) else None
        key = (float(timeout), ca_certs, verify is not False)
        clients = self._clients.get(key)
        if clients is None:
            clients = self._clients[key] = http_clients.shared_clients(
                key[0], {}, ca_certs, validate=key[2], follow_redirects=False
            )
        return clients


def _sent(response: httplib2.Response, sent: http.client.HTTPMessage) -> dict[str, str]:
    """The headers of httplib2's answer that the server sent: httplib2 adds its own (status,
    names that begin with "-", and a Content-Location naming the URL asked)."""
    headers = {name: value for name, value in response.items() if not name.startswith("-")}
    headers.pop("status", None)
    if "content-location" in headers and "content-location" not in sent:
        del headers["content-location"]
    return headers


def shared_transport() -> Transport:
    """The transport of the process's CalDAV sessions (connectors.shared). The credentials
    (which caldav sends with each request), the counter and the retries stay in each account's
    session."""
    return shared.once("caldav transport", lambda: Transport(pool_maxsize=POOLED))


class RetryingSession(niquests.Session):
    """The HTTP session the caldav client sends every request through.

    It is the connector's one seam to the network (tests inject one with a fake `sleep`):
    every request gets a timeout and is counted in `sent`; throttling (429, and 503/504 with
    a Retry-After), other 5xx answers and network failures (refused, reset, timed out, or
    cut off in the middle of the body) are retried by `connectors.retry.Retrier`, whose
    module docstring states the policy. PUT and DELETE are safe to repeat here because every
    write we send is conditional.
    """

    def __init__(self, *, timeout: float = 30.0, **retry: Any) -> None:
        super().__init__()
        for scheme in ("https://", "http://"):
            self.adapters[scheme].close()
            self.mount(scheme, shared_transport())
        self.trust_env = False  # the environment is read once, by `environment`
        self.environment = shared.Environment()
        self.timeout = timeout
        self.retry = Retrier(**retry)  # attempts, backoff, max_wait, sleep, random, clock
        self.sent = 0

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> niquests.Response:
        kwargs["timeout"] = kwargs.get("timeout") or self.timeout
        forward = partial(super().request, method, url, *args, **kwargs)

        def send() -> niquests.Response:
            """One attempt: a request at least, and each that httplib2 sent again."""
            before = http_clients.written()
            try:
                return forward()
            finally:
                self.sent += max(1, http_clients.written() - before)

        return self.retry.run(
            send,
            lambda outcome: self.retry.http_failure(
                outcome, method, url, NETWORK_FAILURES, "the server"
            ),
        )

    def merge_environment_settings(
        self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> Any:
        proxies, verify = self.environment.settle(url, proxies, verify)
        return super().merge_environment_settings(url, proxies, stream, verify, cert)

    def close(self) -> None:
        """Let go of the shared transport, which other accounts' sessions go on using."""
        self.adapters.clear()
        super().close()
