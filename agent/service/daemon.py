"""`callplan run`: the long-running service.

One APScheduler job per account polls on an interval, with jitter so that many accounts do
not poll in lock-step. An account never runs two cycles at once, runs missed while the
machine slept are coalesced into one, and cycles run on a thread pool of `[service] workers`.
A failing account backs off exponentially (capped) on its own job; the others keep their pace.
A cycle that started late, because the workers were busy with other accounts, sets its
account's pace anew from when it started: the first cycles of thousands of accounts, due
together at the start, spread out as the workers take them, and do not come back in one burst
every interval.

Signals are blocked in every thread and collected by the main thread with sigwaitinfo, so no
handler ever interrupts a cycle:
- SIGHUP reloads the configuration (and templates). Accounts that did not change keep their
  schedule and backoff; added ones start, removed ones stop, changed ones run at once with
  their new settings. A bad file is reported and the previous configuration stays in force.
- SIGTERM and SIGINT stop. No new cycle starts; running cycles stop before their next change
  (the one in flight is finished and recorded). A cycle still running after
  `stop_timeout_seconds` is abandoned: the process exits without waiting for it. That is safe
  because every store write is one transaction and the next start finishes the work (the
  planner is level-triggered; ownership tags let it adopt a write whose record was lost).

systemd hears about all of it (agent.service.notify): READY=1 once every account's first cycle is
scheduled, a STATUS= line after each cycle, RELOADING=1/STOPPING=1, and WATCHDOG=1 from a
heartbeat job, so the pings stop when the scheduler stops dispatching.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from agent.config import settings as config_module
from agent.config.settings import ServiceSettings
from agent.core.errors import CallplanError, ConfigError
from agent.core.logfmt import emit
from agent.service import logs
from agent.service.notify import Notifier
from agent.service.outcome import crashed, log_cycle, outcome_line
from agent.state.store import RunStatus
from agent.sync.cadence import backoff_delay
from agent.sync.engine import AccountReport
from agent.sync.session import Session

log = logging.getLogger("callplan.daemon")
SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}


def _accounts(count: int) -> str:
    return f"{count} account{'' if count == 1 else 's'}"


def _job_id(account: str) -> str:
    return f"account:{account}"


class Daemon:
    """The scheduler, its jobs, and what reload and stop do to them; `serve` adds the signals."""

    def __init__(
        self,
        session: Session,
        config_path: Path,
        notifier: Notifier,
        *,
        uniform: Callable[[float, float], float] = random.uniform,
    ) -> None:
        self.session = session
        self.config_path = config_path
        self.notifier = notifier
        self._uniform = uniform
        self._stopping = threading.Event()
        self._lock = threading.Condition()
        self._running: dict[str, Session] = {}  # account -> the session its cycle runs in
        self._status: dict[str, RunStatus] = {}  # account -> after its last cycle, for STATUS=
        # of those, the accounts whose last cycle failed, and those where some calendars did
        self._failing: dict[str, None] = {}
        self._partly: dict[str, None] = {}
        service = session.config.service
        self.scheduler = BackgroundScheduler(
            executors={
                "default": ThreadPoolExecutor(service.workers),
                "watchdog": ThreadPoolExecutor(1),
            },
            # one cycle per account at a time; a late run is run however late, and only once
            job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": None},
            timezone=UTC,
        )

    # -- scheduling ------------------------------------------------------------------------------

    def _trigger(self) -> IntervalTrigger:
        service = self.session.config.service
        return IntervalTrigger(
            seconds=service.interval_seconds, jitter=service.jitter or None, timezone=UTC
        )

    def _schedule(self, name: str, delay: float) -> None:
        """(Re)place the account's job; its first cycle runs after `delay` seconds."""
        self.scheduler.add_job(
            self.run_cycle,
            self._trigger(),
            args=[name],
            id=_job_id(name),
            name=f"cycle {name}",
            next_run_time=datetime.now(UTC) + timedelta(seconds=delay),
            replace_existing=True,
        )

    def start(self) -> None:
        """Schedule every account (first cycles spread over the jitter) and start the scheduler."""
        service = self.session.config.service
        for account in self.session.config.accounts:
            self._schedule(account.name, self._uniform(0, service.jitter))
        if self.notifier.watchdog_seconds:
            every = self.notifier.watchdog_seconds / 3
            self.scheduler.add_job(
                self.notifier.watchdog,
                IntervalTrigger(seconds=every, timezone=UTC),
                id="watchdog",
                executor="watchdog",
                next_run_time=datetime.now(UTC),
            )
        self.scheduler.start()
        count = len(self.session.config.accounts)
        emit(
            log,
            logging.INFO,
            "start",
            accounts=count,
            interval=service.interval_seconds,
            workers=service.workers,
            watchdog=self.notifier.watchdog_seconds,
            pid=os.getpid(),
        )
        self.notifier.ready(
            f"watching {_accounts(count)}; first cycles scheduled"
            if count
            else "no accounts configured: add some to the configuration and reload"
        )

    # -- one cycle (a job) -----------------------------------------------------------------------

    def run_cycle(self, name: str) -> None:
        """The job of one account: a recorded cycle, then its next run (backed off after a
        failure)."""
        with self._lock:
            session = self.session
            account = session.account(name)
            if self._stopping.is_set() or account is None:
                return
            self._running[name] = session
        began, started = time.monotonic(), datetime.now(UTC)

        def pace(status: RunStatus, report: AccountReport) -> datetime | None:
            if self._stopping.is_set():
                return None
            return self._next_run(name, status, report, started, self.session is session)

        try:
            try:
                # its next run is saved with the rest of its status, in one write
                report, status = session.run(account, stop=self._stopping, pace=pace)
            # a bug, or the store failing: this account fails, the service goes on
            except Exception as exc:
                with self._lock:
                    previous = self._status.get(name, RunStatus(name))
                report, status = crashed(log, previous, exc, session.clock())
                status = replace(status, next_at=pace(status, report))
                try:
                    self.session.store.save_run_status(status)
                except CallplanError as error:
                    emit(log, logging.ERROR, "status_not_saved", account=name, error=str(error))
            self._finish(name, report, status, time.monotonic() - began)
        finally:
            with self._lock:
                del self._running[name]
                # reloaded meanwhile: this account's old connector goes
                if session is not self.session:
                    session.release(name)
                self._lock.notify_all()

    def _finish(self, name: str, report: AccountReport, status: RunStatus, seconds: float) -> None:
        with self._lock:
            self._status[name] = status
            self._failing.pop(name, None)
            self._partly.pop(name, None)
            if status.failures:
                self._failing[name] = None
            elif status.last_error:
                self._partly[name] = None
        log_cycle(log, name, report, status, seconds)
        self.notifier.status(self._summary(outcome_line(name, status, report.stopped)))

    def _next_run(
        self, name: str, status: RunStatus, report: AccountReport, started: datetime, mine: bool
    ) -> datetime | None:
        """When the account runs next. After a failure, the backoff from now. A cycle that
        `started` late, later than the jitter allows (the workers were busy with others), sets
        the account's pace anew: due an interval (and up to the jitter) after it started. Any
        other keeps the pace its job has. Not `mine` (a reload replaced the account's job while
        the cycle ran), the new job's time stands. The job is moved only when its time changes:
        each move wakes the scheduler."""
        service = self.session.config.service
        jitter = timedelta(seconds=service.jitter)
        try:
            job = self.scheduler.get_job(_job_id(name))
            paced: datetime | None = job.next_run_time if job else None
            if job is None or not mine:
                return paced
            due = started + timedelta(seconds=service.interval_seconds)
            if status.failures:
                delay = backoff_delay(status.failures, service, report.retry_after)
                due = datetime.now(UTC) + timedelta(seconds=delay)
            elif paced is None or paced >= due - jitter:
                return paced  # on time: the interval's pace holds
            at = due + timedelta(seconds=self._uniform(0, service.jitter))
            self.scheduler.modify_job(_job_id(name), next_run_time=at)
            return at
        except JobLookupError:  # the account was removed by a reload meanwhile
            return None

    def _summary(self, last: str) -> str:
        """The STATUS= line: the accounts, those failing and partly failing (in the order of the
        configuration), and how the last cycle ended. Made after every cycle, so it costs what
        the failing accounts count, not what all do."""
        with self._lock:
            session = self.session
            failing = session.in_order(self._failing)
            partly = session.in_order(self._partly)
        count = len(session.config.accounts)
        state = f"{len(failing)} failing ({', '.join(failing)})" if failing else "none failing"
        if partly:
            state += f", {len(partly)} partly failing ({', '.join(partly)})"
        return f"{_accounts(count)}, {state}; last: {last}"

    # -- reload ------------------------------------------------------------------------------------

    def reload(self) -> None:
        """Read the configuration again and apply it without dropping state (see the module
        docstring)."""
        self.notifier.reloading("reloading the configuration")
        old = self.session
        try:
            config = config_module.load(self.config_path)
            if config.state != old.config.state:
                raise ConfigError(
                    "a different state database needs a restart, not a reload",
                    where=f"{config.path.name}: state",
                )
            new = old.reopen(config)
        except CallplanError as exc:
            emit(log, logging.ERROR, "reload", outcome="failed", error=str(exc))
            self.notifier.ready(f"reload failed, still running the previous configuration: {exc}")
            return
        with self._lock:
            self.session = new
            for name in old.open_accounts():
                # a running cycle releases its own at the end
                if self._running.get(name) is not old:
                    old.release(name)
        before = {account.name: account for account in old.config.accounts}
        after = {account.name: account for account in config.accounts}
        added = sorted(after.keys() - before.keys())
        removed = sorted(before.keys() - after.keys())
        changed = sorted(
            name for name in after.keys() & before.keys() if after[name] != before[name]
        )
        self._apply_changes(old.config.service, config.service, added, removed, changed)
        emit(
            log,
            logging.INFO,
            "reload",
            outcome="ok",
            accounts=len(after),
            added=added or None,
            removed=removed or None,
            changed=changed or None,
        )
        details = ", ".join(
            f"{label} {', '.join(names)}"
            for label, names in (("added", added), ("removed", removed), ("changed", changed))
            if names
        )
        self.notifier.ready(
            f"reloaded: {_accounts(len(after))}"
            + (f" ({details})" if details else ", no account changed")
        )

    def _apply_changes(
        self,
        was: ServiceSettings,
        now: ServiceSettings,
        added: list[str],
        removed: list[str],
        changed: list[str],
    ) -> None:
        for name in removed:
            try:
                self.scheduler.remove_job(_job_id(name))
            except JobLookupError:
                pass
            with self._lock:
                self._status.pop(name, None)
                self._failing.pop(name, None)
                self._partly.pop(name, None)
        for name in changed:
            self._schedule(name, 0)
        for name in added:
            self._schedule(name, self._uniform(0, now.jitter))
        if (was.interval_seconds, was.jitter) != (now.interval_seconds, now.jitter):
            for name in (
                {account.name for account in self.session.config.accounts}
                - set(added)
                - set(changed)
            ):
                self.scheduler.reschedule_job(_job_id(name), trigger=self._trigger())
        if was.log_level != now.log_level:
            logs.set_level(now.log_level)
        if was.workers != now.workers:
            emit(
                log,
                logging.WARNING,
                "reload_partial",
                key="service.workers",
                note="takes effect at the next start",
            )

    # -- stop --------------------------------------------------------------------------------------

    def stop(self) -> bool:
        """Stop scheduling and let running cycles end after their current change, for at most
        `stop_timeout_seconds`. True when everything ended; False when a cycle was abandoned."""
        timeout = self.session.config.service.stop_timeout_seconds
        with self._lock:
            busy = sorted(self._running)
        waiting = (
            f"letting {', '.join(busy)} finish the current change" if busy else "nothing in flight"
        )
        self.notifier.stopping(f"stopping: {waiting}")
        self._stopping.set()
        self.scheduler.shutdown(wait=False)
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._running and (left := deadline - time.monotonic()) > 0:
                self._lock.wait(left)
            abandoned = sorted(self._running)
        if abandoned:
            emit(
                log,
                logging.WARNING,
                "stop",
                outcome="abandoned",
                accounts=abandoned,
                timeout=timeout,
                note="the next start finishes their work",
            )
            return False
        emit(log, logging.INFO, "stop", outcome="clean")
        return True

    def serve(self) -> None:
        """Run until SIGTERM or SIGINT, reloading on SIGHUP. Returns after a clean stop; when a
        cycle had to be abandoned the process exits at once (status 0: the stop was asked for)."""
        # threads started from here on inherit the mask
        signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
        self.start()
        while (received := signal.sigwaitinfo(SIGNALS).si_signo) == signal.SIGHUP:
            self.reload()
        emit(log, logging.INFO, "signal", name=signal.Signals(received).name)
        if not self.stop():
            logging.shutdown()
            os._exit(0)


def run_service(config_path: Path | None, verbose: int = 0) -> None:
    """`callplan run`: load the configuration, take the state lock, serve until stopped."""
    # Blocked before anything can start a thread: a signal must reach only the main thread's
    # sigwaitinfo, never a thread where SIGTERM's default action would end the process at once.
    signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    path = config_path or config_module.default_config_path()
    config = config_module.load(path)
    logs.configure(logs.level(config.service.log_level, verbose))
    with Session(config) as session, session.store.lock():
        Daemon(session, path, Notifier()).serve()
