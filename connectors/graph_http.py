"""HTTP to Microsoft Graph: a session per account that authenticates, counts and retries.

Every Graph request of the Outlook connector goes through `GraphSession`, its one seam to
the network (tests inject one whose `sleep` records instead of waiting). It adds the bearer
token (asking for a fresh one once when Graph answers 401), a timeout, and counts each HTTP
request in `sent` so that `Delta.requests` is honest. Throttling (429, and 503/504 with a
Retry-After), other 5xx answers and network failures (a connection dropped mid-answer too)
are retried by `connectors.retry.Retrier`, whose module docstring states the policy. Writes
are safe to repeat: PATCH and DELETE carry If-Match, and a repeated POST after a lost answer
is caught by the ownership tag on the next cycle (the planner adopts it and deletes a
duplicate).

The requests travel on the httplib2 clients the process shares (connectors.http_clients),
which says why httplib2. MSAL keeps its own requests session (connectors.outlook_auth); it
asks for a token about once an hour.

JSON batching (`batch`) sends up to 20 requests in one round trip and sends again only the
parts that were throttled or failed on Graph's side.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httplib2

from agent.core.errors import ConnectorError, TransientError
from connectors import http_clients, shared
from connectors.retry import Failure, Retrier, slowest, status_failure

BATCH_LIMIT = 20  # Graph's maximum number of requests in one $batch
# refused, reset, timed out, a name that does not resolve, or an answer cut off mid-body
NETWORK_FAILURES = (OSError, http.client.HTTPException, httplib2.ServerNotFoundError)


@dataclass(frozen=True, slots=True)
class Answer:
    """An answer from Graph, read to its end."""

    status_code: int
    headers: Mapping[str, str]  # names in lower case
    content: bytes

    def json(self) -> Any:
        """The body as JSON; ValueError when it is not JSON."""
        return json.loads(self.content)


class GraphSession:
    """The HTTP session of one Outlook account (see the module docstring)."""

    def __init__(self, *, timeout: float = 30.0, **retry: Any) -> None:
        # the environment's proxies and CA bundle, read once, as they stand now
        environment = shared.Environment()
        self.connections = http_clients.shared_clients(
            timeout, environment.proxies, environment.ca_bundle
        )
        # backoff, sleep, random, clock too
        self.retry = Retrier(**{"attempts": 5, "max_wait": 120.0, **retry})
        self.token: Callable[[bool], str] | None = None  # token(force_refresh) -> access token
        self.sent = 0

    def _send(self, method: str, url: str, headers: dict[str, str], body: bytes | None) -> Answer:
        """One request on a client of the process's, counted."""
        before = http_clients.written()
        try:
            response, content = self.connections.request(method, url, headers, body)
        finally:
            self.sent += http_clients.written() - before
        return Answer(response.status, response, content)

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
    ) -> Answer:
        """Send `body` (as JSON, when there is one) and read the answer, retried as the module
        docstring says; a failure that stays raises the agent.core.errors class for it."""
        sent_headers = dict(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body, allow_nan=False).encode()
            sent_headers["Content-Type"] = "application/json"
        where = url.split("?")[0]
        refreshed = False

        def send_once(fresh_token: bool) -> Answer:
            if self.token is not None:
                sent_headers["Authorization"] = f"Bearer {self.token(fresh_token)}"
            return self._send(method, url, sent_headers, data)

        def send() -> Answer:
            nonlocal refreshed
            answer = send_once(False)
            if answer.status_code == 401 and self.token is not None and not refreshed:
                # the token may have been revoked or expired early: one fresh try, within this
                # attempt
                refreshed = True
                answer = send_once(True)
            return answer

        return self.retry.run(
            send,
            lambda outcome: self.retry.http_failure(
                outcome, method, where, NETWORK_FAILURES, "Graph"
            ),
        )

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
            response = self.request("POST", url, body={"requests": list(pending.values())})
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
