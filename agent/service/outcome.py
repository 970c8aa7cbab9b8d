"""How a cycle ended, told the same way by every service that runs cycles (`callplan run`, and a
cluster's `callplan worker`): its log line, its line in systemd's STATUS=, and the status of a
cycle that crashed."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime
from typing import Any

from agent.core.errors import CallplanError
from agent.core.logfmt import emit
from agent.state.store import RunStatus
from agent.sync.engine import AccountReport


def _clock(value: datetime | None) -> str:
    return value.astimezone().strftime("%H:%M:%S") if value else "?"


def outcome(status: RunStatus, report: AccountReport) -> str:
    """In a word: failed (it backs off), partial (some calendars failed), stopped, or ok."""
    if status.failures:
        return "failed"
    if status.last_error:
        return "partial"
    return "stopped" if report.stopped else "ok"


def outcome_line(name: str, status: RunStatus, stopped: bool) -> str:
    """How one cycle ended, in words, for STATUS=: failed (backing off), partly failed (some
    calendars failed, the others did their work), stopped, or ok."""
    if status.failures:
        return (
            f"{name} failed ({status.failures} in a row): {status.last_error}; retry at "
            f"{_clock(status.next_at)}"
        )
    counts = f"{status.changes} changes, {status.requests} requests"
    if status.last_error:
        return (
            f"{name} partly failed: {status.last_error}; {counts}; next at {_clock(status.next_at)}"
        )
    if stopped:
        return f"{name} stopped part-way, {status.backlog} changes left for the next start"
    deferred = f", {status.backlog} deferred" if status.backlog else ""
    return f"{name} ok, {counts}{deferred}; next at {_clock(status.next_at)}"


def log_cycle(
    log: logging.Logger,
    name: str,
    report: AccountReport,
    status: RunStatus,
    seconds: float,
    **extra: Any,
) -> None:
    """The cycle's log line (event=cycle), a warning when something failed."""
    emit(
        log,
        logging.WARNING if status.last_error else logging.INFO,
        "cycle",
        account=name,
        outcome=outcome(status, report),
        changes=status.changes,
        requests=status.requests,
        backlog=status.backlog,
        ms=round(seconds * 1000),
        failures=status.failures or None,
        planning=status.planning or None,
        next=status.next_at,
        error=status.last_error or None,
        **extra,
    )


def crashed(
    log: logging.Logger, previous: RunStatus, exc: Exception, now: datetime
) -> tuple[AccountReport, RunStatus]:
    """A cycle that raised (a bug, or the store failing): the account fails and backs off, and the
    service goes on with the others."""
    error = (
        str(exc)
        if isinstance(exc, CallplanError)
        else f"internal error: {type(exc).__name__}: {exc}"
    )
    emit(log, logging.ERROR, "cycle_crash", account=previous.account, error=error)
    log.debug("cycle of %s crashed", previous.account, exc_info=exc)
    status = replace(
        previous, last_end=now, last_error=error, failures=previous.failures + 1, planning=""
    )
    return AccountReport(previous.account, error=error), status
