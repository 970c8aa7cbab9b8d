"""What one worker process keeps between jobs, and the jobs' work: a cycle, a dispatch.

A worker serves whichever accounts the queue hands it. It keeps a session for the cluster's
shared settings as last applied (a new one when they change: the pace, the templates) and, in it,
the connector of each account it has served, so an account served again costs no new sign-in;
a connector is closed when its account is changed (by the cycle that finds it changed) or removed
(by `sweep`, which each worker runs now and then). All cycles of a worker obey one stop event:
set, they stop before their next change.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from agent.cluster import accounts, dispatch
from agent.cluster.accounts import UNAPPLIED
from agent.config.settings import Config, PostgresState, ServiceSettings
from agent.core.logfmt import emit
from agent.service.notify import Notifier
from agent.service.outcome import crashed, log_cycle, outcome_line
from agent.state.postgres import PostgresStore
from agent.state.store import RunStatus
from agent.sync.cadence import next_due
from agent.sync.engine import AccountReport
from agent.sync.session import ConnectorFactory, Session, default_factory

log = logging.getLogger("callplan.worker")


class Runtime:
    """The sessions, connectors and stop event of one worker process."""

    def __init__(
        self,
        store: PostgresStore,
        state: PostgresState,
        name: str,
        *,
        notifier: Notifier | None = None,
        connect: ConnectorFactory = default_factory,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        uniform: Callable[[float, float], float] = random.uniform,
    ) -> None:
        self.store = store
        self.state = state
        self.name = name
        self.notifier = notifier or Notifier({})
        self.clock = clock
        # the cycles' stop: set, they stop before their next change
        self.stopping = threading.Event()
        self._connect = connect
        self._uniform = uniform
        self._lock = threading.Lock()
        self._session: Session | None = None
        self._shared = ""  # the digest of the shared settings the session was made with
        self._digests: dict[str, str] = {}  # account -> the digest its open connector was made for
        self._running: dict[str, Session] = {}  # account -> the session its cycle runs in

    # -- sessions --------------------------------------------------------------------------------

    def session(self, digest: str) -> Session:
        """The session for the shared settings with this digest: the current one, or a new one
        when they changed (the old one's connectors close as their cycles end)."""
        with self._lock:
            if self._session is not None and digest == self._shared:
                return self._session
        shared = accounts.shared(self.store) or UNAPPLIED
        config = Config(
            path=Path("cluster"), state=self.state, service=shared.service, cluster=shared.cluster
        )
        new = Session(config, self.store, self._connect, self.clock, renderer=shared.renderer())
        with self._lock:
            old, self._session, self._shared = self._session, new, digest
            self._digests.clear()
            idle = [
                name
                for name in (old.open_accounts() if old else [])
                if self._running.get(name) is not old
            ]
        for name in idle:
            old.release(name)  # type: ignore[union-attr]  # idle is empty without an old session
        return new

    def running(self) -> list[str]:
        with self._lock:
            return sorted(self._running)

    # -- the jobs --------------------------------------------------------------------------------

    def due(self) -> list[str]:
        """The dispatcher's part: the accounts to queue a cycle for now."""
        return dispatch.due(self.store, self.clock())

    def cycle(self, name: str) -> None:
        """The cycle job of one account: the engine's cycle, recorded with the account's next
        due time; a crash is recorded as a failure, and the account backs off."""
        if self.stopping.is_set():
            return  # fetched just as the worker stops: the next tick queues it again
        served = accounts.served(self.store, name)
        if served is None:
            emit(
                log, logging.INFO, "cycle_skipped", account=name, reason="removed from the cluster"
            )
            return
        session = self.session(served.shared)
        with self._lock:
            if self._digests.get(name) != served.digest:
                session.release(name)  # changed since its connector was made
                self._digests[name] = served.digest
            self._running[name] = session
        began = time.monotonic()
        service = session.config.service
        try:
            try:
                report, status = session.run(
                    served.account, stop=self.stopping, pace=self._pace(service)
                )
            except Exception as exc:  # a bug, or the store failing: this account fails
                report, status = self._crashed(name, exc, service)
            log_cycle(log, name, report, status, time.monotonic() - began, worker=self.name)
            self.notifier.status(
                f"worker {self.name}: {len(self.running())} cycles running; last: "
                + outcome_line(name, status, report.stopped)
            )
        finally:
            with self._lock:
                del self._running[name]
                if session is not self._session:
                    session.release(name)

    def _pace(self, service: ServiceSettings) -> Callable[[RunStatus, AccountReport], datetime]:
        return lambda status, report: next_due(status, report, service, self.clock(), self._uniform)

    def _crashed(
        self, name: str, exc: Exception, service: ServiceSettings
    ) -> tuple[AccountReport, RunStatus]:
        """Record a crashed cycle as a failure; when even that fails (the database is gone), the
        job fails, and the account is queued again at the next tick."""
        report, status = crashed(log, self.store.run_status(name), exc, self.clock())
        status = replace(status, next_at=self._pace(service)(status, report))
        self.store.save_run_status(status)
        return report, status

    def sweep(self) -> None:
        """Close the connectors of accounts removed or changed since this worker served them."""
        roster = accounts.roster(self.store)
        with self._lock:
            session = self._session
            stale = [
                name
                for name, digest in self._digests.items()
                if roster.get(name) != digest and name not in self._running
            ]
            for name in stale:
                del self._digests[name]
        for name in stale:
            session.release(name)  # type: ignore[union-attr]  # digests imply a session
            emit(log, logging.INFO, "connector_closed", account=name, reason="changed or removed")

    def close(self) -> None:
        """Close every connector (the store is the caller's)."""
        with self._lock:
            session, self._session = self._session, None
        if session is not None:
            for name in session.open_accounts():
                session.release(name)
