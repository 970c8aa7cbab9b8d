"""HTTP to Microsoft Graph: one `requests` session that authenticates, counts and retries.

Every Graph request of the Outlook connector goes through `GraphSession`, its one seam to
the network (tests inject one whose `sleep` records instead of waiting). It adds the bearer
token (asking for a fresh one once when Graph answers 401), a timeout, and counts each HTTP
request in `sent` so that `Delta.requests` is honest. Throttling (429, and 503/504 with a
Retry-After), other 5xx answers and network failures (a connection dropped mid-answer too)
are retried by `connectors.retry.Retrier`, whose module docstring states the policy. Writes
are safe to repeat: PATCH and DELETE carry If-Match, and a repeated POST after a lost answer
is caught by the ownership tag on the next cycle (the planner adopts it and deletes a
duplicate).

JSON batching (`batch`) sends up to 20 requests in one round trip and sends again only the
parts that were throttled or failed on Graph's side.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from agent.core.errors import ConnectorError, TransientError
from connectors import shared
from connectors.retry import Failure, Retrier, slowest, status_failure

BATCH_LIMIT = 20  # Graph's maximum number of requests in one $batch
# ...or cut off mid-body
NETWORK_FAILURES = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)


POOLED = 64  # connections kept open to one host: as many as accounts may cycle at once


def shared_connections() -> HTTPAdapter:
    """The connections to Graph, one pool per process that every account's session sends
    through.

    A session of its own for each account kept a connection (and its TLS state) open to the
    same host for every seller between cycles. An adapter holds only connections: the token,
    the counter, the retries and the cookies stay in each account's session. It never closes
    while the process runs; a connection that went stale in a pool is replaced as it is taken.
    """
    return shared.once("graph connections", lambda: HTTPAdapter(pool_maxsize=POOLED))


class GraphSession(requests.Session):
    """The HTTP session of one Outlook account (see the module docstring)."""

    def __init__(self, *, timeout: float = 30.0, **retry: Any) -> None:
        super().__init__()
        self.mount("https://", shared_connections())
        self.mount("http://", shared_connections())
        self.trust_env = False  # the environment is read once, by `environment`
        self.environment = shared.Environment()
        self.timeout = timeout
        # backoff, sleep, random, clock too
        self.retry = Retrier(**{"attempts": 5, "max_wait": 120.0, **retry})
        self.token: Callable[[bool], str] | None = None  # token(force_refresh) -> access token
        self.sent = 0

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        kwargs["timeout"] = kwargs.get("timeout") or self.timeout
        headers = kwargs["headers"] = dict(kwargs.get("headers") or {})
        # sends `headers` as they are then
        forward = partial(super().request, method, url, *args, **kwargs)
        where = str(url).split("?")[0]
        refreshed = False

        def send_once(fresh_token: bool) -> requests.Response:
            if self.token is not None:
                headers["Authorization"] = f"Bearer {self.token(fresh_token)}"
            self.sent += 1
            return forward()

        def send() -> requests.Response:
            nonlocal refreshed
            response = send_once(False)
            if response.status_code == 401 and self.token is not None and not refreshed:
                # the token may have been revoked or expired early: one fresh try, within this
                # attempt
                refreshed = True
                response = send_once(True)
            return response

        return self.retry.run(
            send,
            lambda outcome: self.retry.http_failure(
                outcome, str(method), where, NETWORK_FAILURES, "Graph"
            ),
        )

    def merge_environment_settings(
        self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> Any:
        proxies, verify = self.environment.settle(url, proxies, verify)
        return super().merge_environment_settings(url, proxies, stream, verify, cert)

    def close(self) -> None:
        """Let go of the shared connections, which other accounts' sessions go on using."""
        self.adapters.clear()
        super().close()

    def batch(self, url: str, parts: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Send requests as JSON batches of at most 20; the response of each part by its id.

        Parts answered 429, 5xx or 503/504 with a Retry-After are sent again (in a new batch,
        after the longest Retry-After among them), within the same bounds as single requests;
        each part that fails for good is reported under its own method and URL.
        """
        answers: dict[str, dict[str, Any]] = {}
        for first in range(0, len(parts), BATCH_LIMIT):
            self._batch(url, parts[first : first + BATCH_LIMIT], answers)
        return answers

    def _batch(
        self, url: str, parts: list[dict[str, Any]], answers: dict[str, dict[str, Any]]
    ) -> None:
        pending = {part["id"]: part for part in parts}
        root = url.removesuffix("/$batch")  # part URLs are relative to the version's root

        def send() -> list[Failure]:
            """One round: the parts still pending; the answers kept, the failures returned."""
            response = self.post(url, json={"requests": list(pending.values())})
            if response.status_code != 200:
                raise ConnectorError(f"POST $batch: HTTP {response.status_code}", where=url)
            try:
                responses = response.json().get("responses", [])
            except ValueError:
                raise TransientError(
                    "POST $batch: the answer is not JSON (cut short)", where=url
                ) from None
            failures: list[Failure] = []
            for answer in responses:
                part = pending.get(answer.get("id"))
                if part is None:
                    continue
                where = root + str(part["url"]).split("?")[0]
                status = int(answer.get("status", 500))
                failure = status_failure(
                    str(part["method"]),
                    where,
                    status,
                    self.retry.retry_after(answer.get("headers")),
                    "Graph",
                )
                if failure is None:
                    answers[answer["id"]] = answer
                    del pending[answer["id"]]
                else:
                    failures.append(failure)
            return failures

        self.retry.run(
            send, lambda outcome: slowest(outcome) if isinstance(outcome, list) else None
        )
