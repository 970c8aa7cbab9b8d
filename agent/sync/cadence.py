"""When an account's next cycle is due: the interval with jitter, or the backoff of a failing one.

`callplan run` paces each account with a due time it keeps in memory and `callplan worker` with a
due time kept in the state database, but both follow these rules, so an account keeps the same
pace whichever runs it.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta

from agent.config.settings import ServiceSettings
from agent.state.store import RunStatus
from agent.sync.engine import AccountReport


def backoff_delay(
    failures: int, service: ServiceSettings, retry_after: float | None = None
) -> float:
    """Seconds until a failing account's next cycle: the interval, doubled for each further
    consecutive failure, capped at `backoff_max_seconds`, and never sooner than the provider
    asked."""
    if failures <= 0:
        return service.interval_seconds
    delay = min(
        service.interval_seconds * 2.0 ** min(failures - 1, 32), service.backoff_max_seconds
    )
    return max(delay, retry_after or 0.0)


def next_due(
    status: RunStatus,
    report: AccountReport,
    service: ServiceSettings,
    now: datetime,
    uniform: Callable[[float, float], float] = random.uniform,
) -> datetime:
    """When the account that just ran this cycle runs again.

    A cycle that stopped part-way (its worker was asked to stop) is due at once, so the work it
    left is picked up without waiting; a failed one waits out the backoff from now; any other runs
    one interval after it started, so the pace does not drift by the time cycles take. Each adds
    a random delay of up to `jitter` seconds, so that many accounts do not poll in lock-step.
    """
    if report.stopped and not status.failures:
        return now
    jitter = timedelta(seconds=uniform(0, service.jitter))
    if status.failures:
        delay = backoff_delay(status.failures, service, report.retry_after)
        return now + timedelta(seconds=delay) + jitter
    started = status.last_start or now
    return started + timedelta(seconds=service.interval_seconds) + jitter
