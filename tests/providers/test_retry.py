"""The retry runner every connector sends through (connectors.retry), on its own.

Attempts here are scripted outcomes: what each one returns or raises, in order. Sleeps are
recorded, jitter and the clock are injected: nothing waits and nothing depends on today.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from agent.core.errors import ConnectorError, GoneError, ThrottledError, TransientError
from connectors.retry import Failure, Retrier, parse_retry_after, slowest, status_failure

NOW = datetime(2030, 3, 18, 9, 0, 0, tzinfo=UTC)
OK = "the answer"


class Script:
    """`send` plays the outcomes in order (an exception is raised); `classify` says which are
    failures."""

    def __init__(self, outcomes: Iterable[Any], failures: dict[Any, Failure]) -> None:
        self.outcomes, self.failures, self.sent = list(outcomes), failures, 0

    def send(self) -> Any:
        outcome = self.outcomes[self.sent]
        self.sent += 1
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def classify(self, outcome: Any) -> Failure | None:
        key = type(outcome) if isinstance(outcome, BaseException) else outcome
        return self.failures.get(key)


def retrier(
    sleeps: list[float], jitter: float | Callable[[], float] = 0.5, **bounds: Any
) -> Retrier:
    return Retrier(
        sleep=sleeps.append,
        random=jitter if callable(jitter) else lambda: jitter,
        clock=lambda: NOW,
        **bounds,
    )


def throttled(retry_after: float | None) -> Failure:
    return Failure(ThrottledError, "GET: slow down", "https://api.example/x", retry_after)


def test_a_final_answer_comes_back_at_once() -> None:
    sleeps: list[float] = []
    script = Script([OK], {})
    assert (
        retrier(sleeps).run(script.send, script.classify) == OK
        and script.sent == 1
        and sleeps == []
    )


def test_the_wait_the_server_asks_for_is_honoured() -> None:
    sleeps: list[float] = []
    script = Script(["429", "429 later", OK], {"429": throttled(7.0), "429 later": throttled(2.5)})
    assert retrier(sleeps).run(script.send, script.classify) == OK
    assert sleeps == [7.0, 2.5] and script.sent == 3


def test_without_retry_after_the_wait_is_full_jitter_of_a_doubling_backoff() -> None:
    sleeps: list[float] = []
    draws = iter([0.5, 1.0, 0.0, 0.25])
    script = Script(
        [TimeoutError()] * 4 + [OK], {TimeoutError: Failure(TransientError, "GET: Timeout", "x")}
    )
    assert (
        retrier(sleeps, lambda: next(draws), attempts=5, backoff=1.0).run(
            script.send, script.classify
        )
        == OK
    )
    assert sleeps == [0.5, 2.0, 0.0, 2.0]  # a random part of 1, 2, 4 and 8 seconds


def test_attempts_are_bounded_and_the_error_says_how_many_were_made() -> None:
    sleeps: list[float] = []
    network = OSError("connection reset")
    script = Script(
        [network] * 10,
        {OSError: Failure(TransientError, "PUT: ConnectionError", "https://dav.example/a.ics")},
    )
    with pytest.raises(TransientError) as raised:
        retrier(sleeps, attempts=4).run(script.send, script.classify)
    assert (
        str(raised.value)
        == "https://dav.example/a.ics: PUT: ConnectionError; gave up after 4 attempts"
    )
    assert script.sent == 4 and sleeps == [0.25, 0.5, 1.0]
    assert raised.value.__cause__ is network  # the network's own words stay at hand for a traceback


def test_the_total_wait_is_bounded() -> None:
    sleeps: list[float] = []
    script = Script(["429"] * 10, {"429": throttled(25.0)})
    with pytest.raises(ThrottledError, match="gave up after 3 attempts") as raised:
        retrier(sleeps, attempts=10, max_wait=60.0).run(script.send, script.classify)
    # a third wait would make 75 s
    assert sleeps == [25.0, 25.0] and raised.value.retry_after == 25.0


def test_a_retry_after_beyond_the_budget_gives_up_at_once_and_passes_the_wait_on() -> None:
    sleeps: list[float] = []
    script = Script(["429"], {"429": throttled(3600.0)})
    with pytest.raises(ThrottledError, match="gave up after 1 attempts") as raised:
        retrier(sleeps, max_wait=60.0).run(script.send, script.classify)
    assert (
        sleeps == []
        and raised.value.retry_after == 3600.0
        and raised.value.where == "https://api.example/x"
    )


def test_an_outcome_classified_final_is_handed_back_or_raised_as_it_is() -> None:
    sleeps: list[float] = []
    refusal = GoneError("GET: not found", where="x")
    script = Script([refusal], {})
    with pytest.raises(GoneError) as raised:
        retrier(sleeps).run(script.send, script.classify)
    assert raised.value is refusal and script.sent == 1 and sleeps == []
    script = Script(["404"], {})
    assert retrier(sleeps).run(script.send, script.classify) == "404"


def test_an_answer_classified_as_a_failure_is_retried_like_an_exception() -> None:
    """Throttling often comes as an answer (a 429 response), not as an exception."""
    sleeps: list[float] = []
    script = Script(["503"] * 3, {"503": Failure(TransientError, "GET: HTTP 503", "x")})
    with pytest.raises(
        TransientError, match=r"^x: GET: HTTP 503; gave up after 3 attempts$"
    ) as raised:
        retrier(sleeps, attempts=3).run(script.send, script.classify)
    assert raised.value.__cause__ is None and sleeps == [0.25, 0.5]


def test_runs_nest() -> None:
    """A batch's round may itself send a request through the same retrier (a re-read)."""
    sleeps: list[float] = []
    runner = retrier(sleeps)
    inner = Script(["429", OK], {"429": throttled(1.0)})
    outer = Script(["busy", "done"], {"busy": throttled(2.0)})

    def send() -> Any:
        if outer.sent == 0:
            assert runner.run(inner.send, inner.classify) == OK
        return outer.send()

    assert runner.run(send, outer.classify) == "done" and sleeps == [1.0, 2.0]


@given(
    waits=st.lists(st.one_of(st.none(), st.floats(0, 100)), min_size=1, max_size=12),
    attempts=st.integers(1, 8),
    max_wait=st.floats(0, 200),
    jitter=st.floats(0, 1),
)
def test_whatever_the_server_says_retries_stay_within_both_bounds(
    waits: list[float | None], attempts: int, max_wait: float, jitter: float
) -> None:
    sleeps: list[float] = []
    outcomes = [f"failure {n}" for n in range(len(waits))] + [OK]
    script = Script(outcomes, {f"failure {n}": throttled(wait) for n, wait in enumerate(waits)})
    try:
        assert (
            retrier(sleeps, jitter, attempts=attempts, max_wait=max_wait).run(
                script.send, script.classify
            )
            == OK
        )
        assert script.sent == len(waits) + 1
    except ThrottledError as exc:
        assert (
            f"gave up after {script.sent} attempts" in str(exc)
            and exc.retry_after == waits[script.sent - 1]
        )
    assert script.sent <= attempts and len(sleeps) == script.sent - 1 and sum(sleeps) <= max_wait
    assert all(sleep == wait for sleep, wait in zip(sleeps, waits) if wait is not None)


# --- Retry-After ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        ("0", 0.0),
        ("1.5", 1.5),
        (format_datetime(NOW + timedelta(seconds=90), usegmt=True), 90.0),  # IMF-fixdate
        ("Monday, 18-Mar-30 09:00:30 GMT", 30.0),  # the obsolete RFC 850 form
        ("Mon Mar 18 09:01:00 2030", 60.0),  # asctime, which names no zone: GMT
        ("Mon, 18 Mar 2030 08:00:00 GMT", 0.0),  # a date already past: at once, never negative
        (None, None),
        ("", None),
        ("-5", None),
        ("soon", None),
        ("inf", None),
        ("Mon, 31 Feb 2030 09:00:00 GMT", None),
    ],
)
def test_retry_after_is_read_as_seconds_or_an_http_date(
    value: str | None, seconds: float | None
) -> None:
    assert parse_retry_after(value, NOW) == seconds


def test_the_header_is_found_in_any_case_and_dated_by_the_injected_clock() -> None:
    runner = retrier([])
    later = format_datetime(NOW + timedelta(seconds=42), usegmt=True)
    assert (
        runner.retry_after({"Retry-After": "3"}) == runner.retry_after({"retry-after": "3"}) == 3.0
    )
    assert runner.retry_after({"RETRY-AFTER": later}) == 42.0
    assert (
        runner.retry_after(None) is None
        and runner.retry_after({"Content-Type": "text/plain"}) is None
    )


# --- shared readings of answers -------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "retry_after", "kind"),
    [
        (429, None, ThrottledError),
        (429, 5.0, ThrottledError),
        (503, 5.0, ThrottledError),
        (504, 5.0, ThrottledError),
        (503, None, TransientError),
        (500, None, TransientError),
        (502, None, TransientError),
        (500, 5.0, TransientError),
        (404, None, None),
        (412, None, None),
        (200, None, None),
    ],
)
def test_statuses_worth_retrying(
    status: int, retry_after: float | None, kind: type[ConnectorError] | None
) -> None:
    failure = status_failure("PATCH", "https://api.example/x", status, retry_after, "the server")
    assert (failure and failure.error) is kind
    if failure is not None and kind is ThrottledError:
        told = "" if retry_after is None else ", Retry-After 5 s"
        assert failure.message == f"PATCH: the server asks us to slow down (HTTP {status}{told})"


def test_an_http_clients_outcome_is_read_for_the_runner() -> None:
    runner = retrier([])
    answer = requests.Response()
    answer.status_code, answer.headers["Retry-After"] = 503, "9"
    network = (requests.ConnectionError, requests.Timeout)
    failure = runner.http_failure(answer, "GET", "https://api.example/x", network, "Graph")
    assert failure == Failure(
        ThrottledError,
        "GET: Graph asks us to slow down (HTTP 503, Retry-After 9 s)",
        "https://api.example/x",
        9.0,
    )
    assert runner.http_failure(requests.Timeout(), "PUT", "x", network, "Graph") == Failure(
        TransientError, "PUT: Timeout", "x"
    )
    # not ours to retry
    assert runner.http_failure(ValueError("not JSON"), "GET", "x", network, "Graph") is None
    answer.status_code = 200
    assert runner.http_failure(answer, "GET", "x", network, "Graph") is None


def test_a_batch_waits_for_its_slowest_part() -> None:
    parts = [
        throttled(None),
        throttled(4.0),
        Failure(TransientError, "GET: HTTP 500", "x"),
        throttled(2.0),
    ]
    assert slowest(parts) is parts[1] and slowest([]) is None
