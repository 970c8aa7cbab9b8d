"""The one retry runner every provider's requests go through, built on tenacity.

The policy, the same for Google, Microsoft Graph and CalDAV:

- An attempt is one request (or one batch). Its outcome, an answer or an exception, is
  either final (handed back, or raised as it is) or a `Failure` that may pass: the provider
  throttles us (ThrottledError) or failed on its side or on the way (TransientError).
- Before the next attempt we wait as long as the server asked in Retry-After (seconds or an
  HTTP date); without one, an exponential backoff with full jitter (a random part of
  `backoff`, then of twice as much, and so on), so that clients that failed together do not
  all come back at the same moment.
- Retries are bounded: at most `attempts` attempts, and at most `max_wait` seconds of waiting
  in total. A Retry-After that would take us past `max_wait` ends the retries at once, and
  the ThrottledError carries it (`retry_after`) so that the service waits that long before
  the account's next cycle instead of tying up a worker.
- Giving up raises the failure's error, saying how many attempts were made.
- Every attempt is sent for real and counted by the session that sends it, so the request
  counts the engine reports (`Delta.requests`) include retries.

Repeating a request is safe because of the connectors' writes: each is conditional (If-Match)
or recognised on a later read by an id or tag of ours (see each connector).

`sleep`, `random` and `clock` are injectable, so tests never wait on the wall clock and see
the same waits every run.
"""

from __future__ import annotations

import logging
import random as random_module
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, NoReturn, TypeVar

from tenacity import RetryCallState, Retrying, wait_exponential

from agent.core.errors import ConnectorError, ThrottledError, TransientError

log = logging.getLogger(__name__)

T = TypeVar("T")
# the statuses whose Retry-After `status_failure` reads: throttling (429), unavailable (503, 504)
HEEDS_RETRY_AFTER = frozenset({429, 503, 504})
# RFC 9110's delay-seconds (digits); a fraction is read too
DELAY_SECONDS = re.compile(r"\d+(\.\d+)?")


@dataclass(frozen=True)
class Failure:
    """An attempt that failed in a way that may pass, as a `classify` function reports it."""

    error: type[ThrottledError] | type[TransientError]  # what to raise if we give up
    message: str  # what failed ("GET: HTTP 503"), without the count of attempts
    where: str
    retry_after: float | None = None  # seconds the server asked us to wait, if it did

    def give_up(self, attempts: int) -> ConnectorError:
        message = f"{self.message}; gave up after {attempts} attempts"
        if issubclass(self.error, ThrottledError):
            return self.error(message, where=self.where, retry_after=self.retry_after)
        return self.error(message, where=self.where)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After value (RFC 9110, 10.2.3): delay-seconds or an HTTP date.

    None when there is no value or it cannot be read (the backoff applies then); never
    negative: a date already past means at once. HTTP dates are in GMT, also the asctime form
    that names no zone."""
    text = (value or "").strip()
    if not text:
        return None
    if DELAY_SECONDS.fullmatch(text):
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def status_failure(
    method: str, where: str, status: int, retry_after: float | None, server: str
) -> Failure | None:
    """What an HTTP status means to the runner; None for an answer to hand back as it is.

    429, and 503 or 504 with a Retry-After, is throttling: `server` asks us to slow down. Other
    500, 502, 503 and 504 answers are transient. Anything else is the caller's to interpret."""
    if status in HEEDS_RETRY_AFTER and (status == 429 or retry_after is not None):
        told = "" if retry_after is None else f", Retry-After {retry_after:g} s"
        return Failure(
            ThrottledError,
            f"{method}: {server} asks us to slow down (HTTP {status}{told})",
            where,
            retry_after,
        )
    if status in (500, 502, 503, 504):
        return Failure(TransientError, f"{method}: HTTP {status}", where)
    return None


def slowest(failures: list[Failure]) -> Failure | None:
    """The failure a batch attempt stands for: a batch is sent again once, for all its failed
    parts, after the longest wait any of them was asked for. None when no part failed."""
    return max(failures, key=lambda failure: failure.retry_after or 0.0, default=None)


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Retrier:
    """The bounds and the knobs of retrying; `run` retries one request (see the module
    docstring)."""

    attempts: int = 4
    backoff: float = (
        0.5  # seconds: the first jittered wait is up to this, each next one up to twice the last
    )
    max_wait: float = 60.0  # seconds of waiting in total, over all the retries of one request
    sleep: Callable[[float], None] = time.sleep
    random: Callable[[], float] = random_module.random
    clock: Callable[[], datetime] = _utc_now  # the present, for a Retry-After given as a date

    def retry_after(self, headers: Mapping[str, Any] | None) -> float | None:
        """The wait a Retry-After header asks for (its name in any case), None without one."""
        value = next(
            (
                value
                for name, value in (headers or {}).items()
                if str(name).lower() == "retry-after"
            ),
            None,
        )
        return parse_retry_after(None if value is None else str(value), self.clock())

    def http_failure(
        self,
        outcome: Any,
        method: str,
        where: str,
        network: tuple[type[BaseException], ...],
        server: str,
    ) -> Failure | None:
        """What an outcome of an HTTP client's request means: one of the `network` exceptions is
        a transient failure, an answer is read by `status_failure`, any other exception is final."""
        if isinstance(outcome, network):
            return Failure(TransientError, f"{method}: {type(outcome).__name__}", where)
        if isinstance(outcome, BaseException):
            return None
        status = outcome.status_code
        # Retry-After is read only where `status_failure` heeds it: most answers are a success
        wait = self.retry_after(outcome.headers) if status in HEEDS_RETRY_AFTER else None
        return status_failure(method, where, status, wait, server)

    def run(self, send: Callable[[], T], classify: Callable[[Any], Failure | None]) -> T:
        """Call `send` until its outcome is final, and hand that back (or raise it).

        `classify` gets each outcome, what `send` returned or the exception it raised, and
        answers None when it is final, or the Failure to retry for. When the bounds are
        reached, the last Failure's error is raised.

        The first attempt is made before tenacity is: nearly every request succeeds at once,
        and setting up tenacity's state for it would cost more than the request's own Python
        work. When it failed, tenacity takes over with that attempt as its first, replayed."""
        first: Callable[[], T]
        try:
            result = send()
        except Exception as exc:
            if classify(exc) is None:
                raise
            first = _raising(exc)
        else:
            if classify(result) is None:
                return result
            first = _returning(result)
        replay = [first]

        def attempt() -> T:
            return replay.pop()() if replay else send()

        return self._retrying(classify)(attempt)

    def _retrying(self, classify: Callable[[Any], Failure | None]) -> Retrying:
        """Tenacity's retrying, with this Retrier's bounds and `classify`'s verdicts."""
        last: Failure | None = None
        exponential = wait_exponential(multiplier=self.backoff)

        def failed(state: RetryCallState) -> bool:
            nonlocal last
            outcome = state.outcome
            assert outcome is not None
            last = classify(outcome.exception() if outcome.failed else outcome.result())
            return last is not None

        def wait(state: RetryCallState) -> float:
            assert last is not None
            return (
                last.retry_after
                if last.retry_after is not None
                else self.random() * exponential(state)
            )

        def stop(state: RetryCallState) -> bool:
            """After the last attempt, or when waiting again would sleep past `max_wait`."""
            return (
                state.attempt_number >= self.attempts
                or state.idle_for + state.upcoming_sleep > self.max_wait
            )

        def announce(state: RetryCallState) -> None:
            assert last is not None
            log.debug(
                "%s: %s (attempt %d); retrying in %.2f s",
                last.where,
                last.message,
                state.attempt_number,
                state.upcoming_sleep,
            )

        def give_up(state: RetryCallState) -> NoReturn:
            assert last is not None and state.outcome is not None
            raise last.give_up(state.attempt_number) from state.outcome.exception()

        return Retrying(
            sleep=self.sleep,
            retry=failed,
            wait=wait,
            stop=stop,
            before_sleep=announce,
            retry_error_callback=give_up,
        )


def _returning(value: T) -> Callable[[], T]:
    return lambda: value


def _raising(exc: Exception) -> Callable[[], Any]:
    def again() -> Any:
        raise exc

    return again
