"""HTTP to Microsoft Graph: one `requests` session that authenticates, counts and retries.

Every Graph request of the Outlook connector goes through `GraphSession`, its one seam to
the network (tests inject one whose `sleep` records instead of waiting). It adds the bearer
token (asking for a fresh one once when Graph answers 401), a timeout, and counts each HTTP
request in `sent` so that `Delta.requests` is honest. Throttling (429, and 503/504 with a
Retry-After) waits as long as Graph asks; other 5xx answers and network failures (a
connection dropped mid-answer too) wait an exponential backoff with full jitter. Retries are bounded in attempts and in total waiting,
then ThrottledError or TransientError escapes. Writes are safe to repeat: PATCH and DELETE
carry If-Match, and a repeated POST after a lost answer is caught by the ownership tag on the
next cycle (the planner adopts it and deletes a duplicate).

JSON batching (`batch`) sends up to 20 requests in one round trip and retries only the parts
that were throttled.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests
from urllib3.util.retry import Retry

from agent.errors import ConnectorError, ThrottledError, TransientError
from connectors.retry import Backoff

BATCH_LIMIT = 20  # Graph's maximum number of requests in one $batch
THROTTLED = (429, 503, 504)
TRANSIENT = (500, 502, 503, 504)


def retry_after(headers: Any) -> float | None:
    """Seconds from a Retry-After header (a number or an HTTP date), None without one."""
    value = (headers or {}).get("Retry-After") or (headers or {}).get("retry-after")
    if not value:
        return None
    try:
        return float(Retry().parse_retry_after(str(value)))
    except Exception:  # urllib3 raises InvalidHeader for a value it cannot read
        return None


class GraphSession(requests.Session):
    """The HTTP session of one Outlook account (see the module docstring)."""

    def __init__(self, *, timeout: float = 30.0, **retry: Any) -> None:
        super().__init__()
        self.timeout = timeout
        self.retry = Backoff(**{"attempts": 5, "max_wait": 120.0, **retry})  # backoff, sleep, random too
        self.token: Callable[[bool], str] | None = None  # token(force_refresh) -> access token
        self.sent = 0

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs["timeout"] = kwargs.get("timeout") or self.timeout
        headers = dict(kwargs.pop("headers", None) or {})
        where = str(url).split("?")[0]
        attempt, waited, refreshed = 0, 0.0, False
        while True:
            attempt += 1
            if self.token is not None:
                headers["Authorization"] = f"Bearer {self.token(refreshed)}"
            self.sent += 1
            try:
                response = super().request(method, url, *args, headers=headers, **kwargs)
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:  # ...or cut off mid-body
                failure: ConnectorError = TransientError(f"{method}: {type(exc).__name__}; gave up after {attempt} attempts", where=where)
                delay = self.retry.jitter(attempt)
            else:
                if response.status_code == 401 and self.token is not None and not refreshed:
                    refreshed = True  # the token may have been revoked or expired early: one fresh try
                    attempt -= 1
                    continue
                verdict = self._verdict(str(method), where, response.status_code, response.headers, attempt)
                if verdict is None:
                    return response
                failure, delay = verdict
            if self.retry.gives_up(attempt, waited, delay):
                raise failure
            self.retry.sleep(delay)
            waited += delay

    def _verdict(self, method: str, where: str, status: int, headers: Any, attempt: int) -> tuple[ConnectorError, float] | None:
        """None for an answer to hand back; else the error to raise and how long to wait first."""
        wait = retry_after(headers)
        if status == 429 or (status in THROTTLED and wait is not None):
            told = "" if wait is None else f", Retry-After {wait:g} s"
            failure: ConnectorError = ThrottledError(
                f"{method}: Graph asks us to slow down (HTTP {status}{told}); gave up after {attempt} attempts",
                where=where,
                retry_after=wait,
            )
            return failure, self.retry.jitter(attempt) if wait is None else wait
        if status in TRANSIENT:
            return TransientError(f"{method}: HTTP {status}; gave up after {attempt} attempts", where=where), self.retry.jitter(attempt)
        return None

    def batch(self, url: str, parts: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Send requests as JSON batches of at most 20; the response of each part by its id.

        Parts answered 429/503/504 are sent again (in a new batch) after the longest
        Retry-After among them, within the same bounds as single requests.
        """
        answers: dict[str, dict[str, Any]] = {}
        for first in range(0, len(parts), BATCH_LIMIT):
            pending = parts[first : first + BATCH_LIMIT]
            attempt, waited = 0, 0.0
            while pending:
                attempt += 1
                response = self.post(url, json={"requests": pending})
                if response.status_code != 200:
                    raise ConnectorError(f"POST $batch: HTTP {response.status_code}", where=url)
                retry: list[dict[str, Any]] = []
                delays = [0.0]
                by_id = {part["id"]: part for part in pending}
                try:
                    responses = response.json().get("responses", [])
                except ValueError:
                    raise TransientError("POST $batch: the answer is not JSON (cut short)", where=url) from None
                for answer in responses:
                    verdict = self._verdict("GET", url, int(answer.get("status", 500)), answer.get("headers"), attempt)
                    if verdict is None:
                        answers[answer["id"]] = answer
                        continue
                    failure, delay = verdict
                    if self.retry.gives_up(attempt, waited, delay):
                        raise failure
                    retry.append(by_id[answer["id"]])
                    delays.append(delay)
                if retry:
                    self.retry.sleep(max(delays))
                    waited += max(delays)
                pending = retry
        return answers
