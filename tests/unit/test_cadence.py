"""The pace of an account: the interval with jitter, the backoff of a failing one, and at once
after a stop."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from agent.config.settings import ServiceSettings
from agent.state.store import RunStatus
from agent.sync.cadence import backoff_delay, next_due
from agent.sync.engine import AccountReport

NOW = datetime(2030, 3, 18, 9, 0, 30, tzinfo=UTC)
STARTED = NOW - timedelta(seconds=30)
SERVICE = ServiceSettings(interval_seconds=60, jitter_seconds=6, backoff_max_seconds=900)


def highest(low: float, high: float) -> float:
    return high


def test_the_backoff_doubles_from_the_interval_up_to_the_cap_and_honours_retry_after() -> None:
    service = ServiceSettings(interval_seconds=60, backoff_max_seconds=900)
    assert [backoff_delay(failures, service) for failures in range(7)] == [
        60,
        60,
        120,
        240,
        480,
        900,
        900,
    ]
    assert backoff_delay(10_000, service) == 900  # no overflow however long the outage
    assert backoff_delay(2, service, retry_after=300) == 300


def test_a_cycle_that_went_well_is_due_an_interval_after_it_started_plus_jitter() -> None:
    status = RunStatus("alex", last_start=STARTED, last_end=NOW)
    assert next_due(status, AccountReport("alex"), SERVICE, NOW, highest) == STARTED + timedelta(
        seconds=66
    )
    assert next_due(status, AccountReport("alex"), SERVICE, NOW, lambda a, b: a) == (
        STARTED + timedelta(seconds=60)
    )


def test_a_failed_cycle_waits_out_the_backoff_from_now() -> None:
    status = RunStatus("alex", last_start=STARTED, last_end=NOW, failures=3, last_error="down")
    report = AccountReport("alex", error="down", retry_after=500)
    assert next_due(status, report, SERVICE, NOW, highest) == NOW + timedelta(seconds=500 + 6)
    assert next_due(status, AccountReport("alex", error="down"), SERVICE, NOW, highest) == (
        NOW + timedelta(seconds=240 + 6)
    )


def test_a_cycle_stopped_part_way_is_due_at_once_for_whoever_takes_it_next() -> None:
    status = RunStatus("alex", last_start=STARTED, last_end=NOW, backlog=4)
    assert next_due(status, AccountReport("alex", stopped=True), SERVICE, NOW, highest) == NOW
