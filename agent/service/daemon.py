"""`callplan run`: the long-running service.

Each account polls on an interval, with jitter so that many accounts do not poll in lock-step.
An account never runs two cycles at once, runs missed while the machine slept are coalesced
into one, and cycles run on up to `[service] workers` threads, as few as keep up
(agent.service.runners). The run statuses of a batch of cycles are written together when it
ends, in one transaction. A failing account backs off exponentially (capped) on its own; the
others keep their pace. A cycle that started late, because the workers were busy with other
accounts, sets its account's pace anew from when it started: the first cycles of thousands of
accounts, due together at the start, spread out as the workers take them, and do not come back
in one burst every interval.

The accounts are not each an APScheduler job: a process serving thousands would then wake for
every cycle, and a wake-up and a job hand-off cost a good part of what a quiet cycle does. The
interval is cut into slots instead (at most `MAX_SLOTS`, none shorter than `TICK` seconds), and
each slot is one APScheduler job that recurs every interval and hands the accounts due by then to
the pool, all at once. An account is in the slot that fires first at or after its due time, so it
starts at most a slot late; it moves to another slot when its due time does (jitter, backoff,
pacing anew), and a slot skips an account due later (a long backoff) or still running.

Signals are blocked in every thread and collected by the main thread with sigwaitinfo, so no
handler ever interrupts a cycle:
- SIGHUP reloads the configuration (and templates). Accounts that did not change keep their
  due time and backoff; added ones start, removed ones stop, changed ones run at once with
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
import math
import os
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from apscheduler.executors.pool import ThreadPoolExecutor as APThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from agent.config import settings as config_module
from agent.config.settings import ServiceSettings
from agent.core.errors import CallplanError, ConfigError
from agent.core.logfmt import emit
from agent.service import logs
from agent.service.notify import Notifier
from agent.service.outcome import crashed, log_cycle, outcome_line
from agent.service.runners import Runners
from agent.state.store import RunStatus
from agent.sync.cadence import backoff_delay
from agent.sync.engine import AccountReport
from agent.sync.session import Session

log = logging.getLogger("callplan.daemon")
SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}
# The slots of an interval: a cycle starts at most a slot after it is due; the process wakes once a
# slot (that has accounts), whatever the number of accounts.
TICK = 0.25
MAX_SLOTS = 1000


def _accounts(count: int) -> str:
    return f"{count} account{'' if count == 1 else 's'}"


def _slotting(interval: float) -> tuple[float, int]:
    """The width of a slot and how many the interval has: as many as fit, `TICK` seconds or more
    each, and at most `MAX_SLOTS`."""
    count = max(1, min(MAX_SLOTS, math.floor(interval / TICK)))
    return interval / count, count


class Daemon:
    """The scheduler, its slots, and what reload and stop do to them; `serve` adds the signals."""

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
        self._busy: set[str] = set()  # accounts handed to the runners and not yet done
        self._again: set[str] = set()  # busy accounts a reload changed: to run again at once
        self._status: dict[str, RunStatus] = {}  # account -> after its last cycle, for STATUS=
        self._unsaved: dict[str, RunStatus] = {}  # run statuses kept until their batch ends
        # of those, the accounts whose last cycle failed, and those where some calendars did
        self._failing: dict[str, None] = {}
        self._partly: dict[str, None] = {}
        self._due: dict[str, datetime] = {}  # account -> when its next cycle is due
        self._slot_of: dict[str, int] = {}
        self._slots: dict[int, dict[str, None]] = {}  # slot -> its accounts (those with a job)
        self._origin = datetime.now(UTC)  # where slot 0 starts, every interval
        self._width, self._count = _slotting(session.config.service.interval_seconds)
        self._runners = Runners(session.config.service.workers, self._width, self.run_cycle)
        self.scheduler = BackgroundScheduler(
            executors={"default": APThreadPoolExecutor(1), "watchdog": APThreadPoolExecutor(1)},
            # a slot fires once however late (after a sleep), and never twice at once
            job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": None},
            timezone=UTC,
        )

    # -- scheduling ------------------------------------------------------------------------------

    def next_run(self, name: str) -> datetime | None:
        """When the account's next cycle is due (None: not scheduled)."""
        with self._lock:
            return self._due.get(name)

    def _place(self, name: str, at: datetime) -> None:
        """Make the account due `at`: into the slot that fires first at or after it (the slot's job
        is made when its first account comes). Holding the lock."""
        seconds = (at - self._origin).total_seconds()
        number = math.ceil(seconds / self._width)
        if self._origin + timedelta(seconds=number * self._width) <= datetime.now(UTC):
            number += 1  # that slot's time is past: the next one
        slot = number % self._count
        self._due[name] = at
        old = self._slot_of.get(name)
        if old == slot:
            return
        if old is not None:
            del self._slots[old][name]
        self._slot_of[name] = slot
        if slot not in self._slots:
            self._slots[slot] = {}
            self.scheduler.add_job(
                self._fire,
                IntervalTrigger(
                    seconds=self._width * self._count,
                    start_date=self._origin + timedelta(seconds=slot * self._width),
                    timezone=UTC,
                ),
                args=[slot],
                id=f"slot:{slot}",
                name=f"slot {slot}",
            )
        self._slots[slot][name] = None

    def _unplace(self, name: str) -> None:
        """The account is scheduled no more. Holding the lock."""
        self._due.pop(name, None)
        slot = self._slot_of.pop(name, None)
        if slot is not None:
            del self._slots[slot][name]

    def _schedule(self, name: str, delay: float) -> None:
        """The account's next cycle runs after `delay` seconds; at once when it is 0."""
        now = datetime.now(UTC)
        with self._lock:
            self._place(name, now + timedelta(seconds=delay))
        if not delay:
            self._dispatch([name], again=True)

    def _fire(self, slot: int) -> None:
        """A slot's job: every account of the slot that is due and not busy goes to the runners
        (and a queue that a hanging cycle holds up gets another runner)."""
        now = datetime.now(UTC)
        with self._lock:
            due = self._due
            ready = [
                name
                for name in self._slots.get(slot, ())
                if due[name] <= now and name not in self._busy
            ]
        self._dispatch(ready)

    def _dispatch(self, names: list[str], again: bool = False) -> None:
        """Hand the accounts' cycles to the runners. A busy account is skipped, or with `again`
        runs once more as soon as its cycle ends."""
        with self._lock:
            if self._stopping.is_set():
                return
            handed = []
            for name in names:
                if name in self._busy:
                    if again:
                        self._again.add(name)
                    continue
                self._busy.add(name)
                handed.append(name)
            self._runners.hand(handed)

    def start(self) -> None:
        """Schedule every account (first cycles spread over the jitter) and start the scheduler."""
        service = self.session.config.service
        with self._lock:
            for account in self.session.config.accounts:
                self._place(
                    account.name,
                    self._origin + timedelta(seconds=self._uniform(0, service.jitter)),
                )
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

    # -- one cycle -------------------------------------------------------------------------------

    def run_cycle(self, name: str) -> None:
        """The work of one account: a recorded cycle, then its next run (backed off after a
        failure)."""
        with self._lock:
            session = self.session
            account = session.account(name)
            if self._stopping.is_set() or account is None:
                self._busy.discard(name)
                return
            self._running[name] = session
            due = self._due.get(name)
            previous = self._status.get(name)  # what its last cycle saved, not read back
        began, started = time.monotonic(), datetime.now(UTC)

        def pace(status: RunStatus, report: AccountReport) -> datetime | None:
            if self._stopping.is_set():
                return None
            return self._next_run(name, status, report, due, started, self.session is session)

        try:
            try:
                # its next run is saved with the rest of its status, in one write
                report, status = session.run(
                    account, stop=self._stopping, pace=pace, previous=previous, save=self._keep
                )
            # a bug, or the store failing: this account fails, the service goes on
            except Exception as exc:
                report, status = crashed(log, previous or RunStatus(name), exc, session.clock())
                status = replace(status, next_at=pace(status, report))
                self._keep(status)
            self._finish(name, report, status, time.monotonic() - began)
        finally:
            # before the cycle counts as ended: a stop waits for it, then closes the store
            if not self._runners.waiting:  # the last of a batch (or a cycle on its own)
                self._save()
            with self._lock:
                del self._running[name]
                self._busy.discard(name)
                # reloaded meanwhile: this account's old connector goes
                if session is not self.session:
                    session.release(name)
                self._lock.notify_all()
                again = name in self._again
                self._again.discard(name)
            if again:
                self._dispatch([name])

    def _keep(self, status: RunStatus) -> None:
        """A cycle's run status, to be written with the others of its batch."""
        with self._lock:
            self._unsaved[status.account] = status

    def _save(self) -> None:
        """Write the run statuses kept, in one transaction: a batch of quiet cycles would
        otherwise spend a good part of their time committing one row each."""
        with self._lock:
            batch = list(self._unsaved.values())
            self._unsaved.clear()
        if not batch:
            return
        try:
            self.session.store.save_run_statuses(batch)
        except CallplanError as error:
            accounts = [status.account for status in batch]
            emit(log, logging.ERROR, "status_not_saved", accounts=accounts, error=str(error))

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
        self,
        name: str,
        status: RunStatus,
        report: AccountReport,
        due: datetime | None,
        started: datetime,
        mine: bool,
    ) -> datetime | None:
        """When the account runs next, and its place in the slots. After a failure, the backoff
        from now. A cycle that started when it was `due` (up to the jitter late) keeps the pace:
        due an interval (and up to the jitter) after that. One that started later (the workers
        were busy with others), or out of turn, sets the account's pace anew: due an interval
        (and up to the jitter) after it started. Not `mine` (a reload replaced the account's
        schedule while the cycle ran), the new schedule stands."""
        service = self.session.config.service
        jitter = self._uniform(0, service.jitter)
        now = datetime.now(UTC)
        with self._lock:
            if name not in self._due or not mine:
                return self._due.get(name)  # removed by a reload meanwhile, or replaced
            if status.failures:
                delay = backoff_delay(status.failures, service, report.retry_after)
                at = now + timedelta(seconds=delay + jitter)
            elif due is not None and due <= started <= due + timedelta(seconds=service.jitter):
                at = max(due + timedelta(seconds=service.interval_seconds + jitter), now)
            else:
                at = started + timedelta(seconds=service.interval_seconds + jitter)
            self._place(name, at)
            return at

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
        with self._lock:
            for name in removed:
                self._unplace(name)
                self._status.pop(name, None)
                self._failing.pop(name, None)
                self._partly.pop(name, None)
            if (was.interval_seconds, was.jitter) != (now.interval_seconds, now.jitter):
                self._reslot(now, set(added) | set(changed))
        for name in changed:
            self._schedule(name, 0)
        for name in added:
            self._schedule(name, self._uniform(0, now.jitter))
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

    def _reslot(self, service: ServiceSettings, skip: set[str]) -> None:
        """A new interval (or jitter): new slots, and every account but those in `skip` due an
        interval (and up to the jitter) from now. Holding the lock."""
        for slot in self._slots:
            self.scheduler.remove_job(f"slot:{slot}")
        self._slots.clear()
        self._slot_of.clear()
        self._width, self._count = _slotting(service.interval_seconds)
        self._runners.width = self._width
        now = datetime.now(UTC)
        for name in [name for name in self._due if name not in skip]:
            delay = service.interval_seconds + self._uniform(0, service.jitter)
            self._place(name, now + timedelta(seconds=delay))

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
        self._runners.close()
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._running and (left := deadline - time.monotonic()) > 0:
                self._lock.wait(left)
            abandoned = sorted(self._running)
        self._save()
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
