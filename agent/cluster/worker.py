"""`callplan worker`: one worker of a cluster; start it on as many machines as you like.

Its own configuration file names the cluster's database (`state`, `state_password_file`) and
how it runs (`[service]`: `workers` cycles at once, `stop_timeout_seconds`, `log_level`); the
accounts, their pace, the `[cluster]` timing and the templates come from the database, where
`callplan accounts apply` put them. The work comes from procrastinate's queue (agent.cluster.queue).

- **SIGTERM, SIGINT**: the worker takes no new job, its running cycles stop before their next
  change (the change in flight is finished and recorded, and the account is due again at once, for
  another worker), and it leaves the cluster. A cycle still running after `stop_timeout_seconds`
  is abandoned: the process exits, and the cluster runs that cycle again elsewhere once this
  worker's heartbeat is `stalled_after_seconds` old, as for a worker that was killed.
- **The database goes away** (a restart, a failover): procrastinate's worker stops when its
  heartbeat or its listener fails, and so do the cycles, as on SIGTERM. As soon as the database
  answers again a new one starts, on connection pools that renew their connections.
- **systemd** hears READY=1 once the worker is connected, a STATUS= line after each cycle,
  STOPPING=1, and WATCHDOG=1 from the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from pathlib import Path

from agent.cluster import accounts, queue_schema
from agent.cluster.queue import CycleWorker, build_app, connector
from agent.cluster.runtime import Runtime
from agent.config import settings as config_module
from agent.config.settings import ClusterSettings, Config, PostgresState, ServiceSettings
from agent.core.errors import CallplanError, ConfigError
from agent.core.logfmt import emit
from agent.service import logs
from agent.service.notify import Notifier
from agent.state.postgres import Database, PostgresStore

log = logging.getLogger("callplan.worker")
SIGNALS = (signal.SIGTERM, signal.SIGINT)
SWEEP_SECONDS = 60  # how often a worker closes the connectors of accounts gone or changed
POLL_SECONDS = 1.0  # how often an idle worker looks for jobs that no notification announced


class WorkerProcess:
    """The event loop's side of a worker: procrastinate's worker, restarted whenever it stops
    without being asked to, the signals, the stop bound and systemd."""

    def __init__(
        self,
        runtime: Runtime,
        config: Config,
        cluster: ClusterSettings,
        notifier: Notifier,
    ) -> None:
        self.runtime = runtime
        self.service: ServiceSettings = config.service
        self.cluster = cluster
        self.notifier = notifier
        self.name = runtime.name
        queue = connector(runtime.state, self.name, timeout=cluster.heartbeat_seconds)
        self.app = build_app(queue, runtime, cluster)
        self._worker: CycleWorker | None = None
        self._asked = asyncio.Event()
        self._abandon: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def serve(self) -> None:
        """Serve until asked to stop."""
        self._loop = loop = asyncio.get_running_loop()
        # the cycles, procrastinate's sync jobs, run on the loop's default executor
        loop.set_default_executor(
            ThreadPoolExecutor(self.service.workers + 2, thread_name_prefix="callplan-job")
        )
        for number in SIGNALS:
            loop.add_signal_handler(number, self.ask_to_stop, number)
        async with self.app.open_async():
            helpers = [asyncio.create_task(self._watchdog()), asyncio.create_task(self._sweep())]
            count = len(await asyncio.to_thread(accounts.roster, self.runtime.store))
            emit(
                log,
                logging.INFO,
                "start",
                worker=self.name,
                accounts=count,
                workers=self.service.workers,
                pid=os.getpid(),
            )
            self.notifier.ready(
                f"worker {self.name}: serving the cluster's {count} accounts"
                if count
                else f"worker {self.name}: no accounts yet (callplan accounts apply adds them)"
            )
            try:
                await self._supervise()
            finally:
                for helper in helpers:
                    helper.cancel()
                await asyncio.gather(*helpers, return_exceptions=True)
        emit(log, logging.INFO, "stop", worker=self.name, outcome="clean")

    async def _supervise(self) -> None:
        """Run procrastinate's worker; when it stops on its own (it lost the database), wait for
        the database and start a new one."""
        pause = 1.0
        while not self._asked.is_set():
            self.runtime.stopping.clear()
            self._worker = CycleWorker(
                self.app,
                self._stopped,
                name=self.name,
                concurrency=self.service.workers,
                fetch_job_polling_interval=POLL_SECONDS,
                update_heartbeat_interval=self.cluster.heartbeat_seconds,
                stalled_worker_timeout=self.cluster.stalled_after_seconds,
                delete_jobs="successful",
                install_signal_handlers=False,
            )
            try:
                await self._worker.run()  # type: ignore[no-untyped-call]  # unannotated upstream
                reason = "procrastinate's worker stopped"
            except Exception as exc:  # noqa: BLE001 - whatever cut it off, the remedy is the same
                reason = why(exc)
            finally:
                if self._abandon is not None:
                    self._abandon.cancel()
                    self._abandon = None
            if self._asked.is_set():
                return
            emit(log, logging.WARNING, "reconnect", worker=self.name, reason=reason, pause=pause)
            self.notifier.status(f"worker {self.name}: lost the database, reconnecting")
            with suppress(TimeoutError):
                await asyncio.wait_for(self._asked.wait(), pause)
            pause = min(pause * 2, self.cluster.heartbeat_seconds)

    def _stopped(self) -> None:
        """procrastinate's worker stops (any thread may say so): the cycles stop before their next
        change, and must have ended within the stop bound."""
        self.runtime.stopping.set()
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._bound_the_stop)

    def _bound_the_stop(self) -> None:
        if self._abandon is None and self._loop is not None:
            self._abandon = self._loop.call_later(
                self.service.stop_timeout_seconds, self._abandon_cycles
            )

    def _abandon_cycles(self) -> None:
        busy = self.runtime.running()
        if not busy:
            return
        emit(
            log,
            logging.WARNING,
            "stop",
            worker=self.name,
            outcome="abandoned",
            accounts=busy,
            timeout=self.service.stop_timeout_seconds,
            note="the cluster runs them again elsewhere",
        )
        logging.shutdown()
        os._exit(0 if self._asked.is_set() else 1)

    def ask_to_stop(self, number: signal.Signals) -> None:
        if self._asked.is_set():
            return
        emit(log, logging.INFO, "signal", name=signal.Signals(number).name)
        self._asked.set()
        busy = self.runtime.running()
        self.notifier.stopping(
            f"stopping: letting {', '.join(busy)} finish the current change"
            if busy
            else "stopping: nothing in flight"
        )
        if self._worker is not None:
            self._worker.stop()
        else:
            self._stopped()

    async def _watchdog(self) -> None:
        if not self.notifier.watchdog_seconds:
            return
        while True:
            self.notifier.watchdog()
            await asyncio.sleep(self.notifier.watchdog_seconds / 3)

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            try:
                await asyncio.to_thread(self.runtime.sweep)
            except CallplanError as exc:
                emit(log, logging.DEBUG, "sweep", outcome="failed", error=str(exc))


def why(exc: BaseException) -> str:
    """One line for an exception, with the one it stands for (procrastinate's ConnectorException
    says only "Database error.", psycopg's cause says which)."""
    cause = exc.__cause__ or exc.__context__
    text = f"{type(exc).__name__}: {exc}"
    if cause is not None:
        text += f" ({type(cause).__name__}: {cause})"
    return " ".join(text.split())[:300]


def bounded(cluster: ClusterSettings, service: ServiceSettings, where: str) -> None:
    """A worker that lost the database must have stopped its cycles (two heartbeats to notice,
    then the stop bound) before the others take it for dead and run them again."""
    noticed = 2 * cluster.heartbeat_seconds
    if cluster.stalled_after_seconds <= noticed + service.stop_timeout_seconds:
        raise ConfigError(
            f"stop_timeout_seconds ({service.stop_timeout_seconds:g}) must be less than the "
            f"cluster's stalled_after_seconds ({cluster.stalled_after_seconds:g}) less two "
            f"heartbeats ({noticed:g}): a worker cut off from the database "
            "must have stopped its cycles before the others run them again",
            where=where,
        )


def run_worker(config_path: Path | None, name: str | None = None, verbose: int = 0) -> None:
    """`callplan worker`: load this worker's configuration, join the cluster, serve until
    stopped."""
    path = config_path or config_module.default_config_path()
    config = config_module.load(path)
    logs.configure(logs.level(config.service.log_level, verbose))
    if not isinstance(config.state, PostgresState):
        raise ConfigError(
            "a worker serves a cluster, whose state is a PostgreSQL database: set state = "
            '"postgresql://..."',
            where=f"{path.name}: state",
        )
    if config.accounts:
        emit(
            log,
            logging.WARNING,
            "accounts_ignored",
            where=f"{path.name}: accounts",
            note="a worker serves the accounts in the cluster's database (callplan accounts apply)",
        )
    store = PostgresStore(config.state, pool_size=config.service.workers + 2)
    notifier = Notifier()
    runtime = Runtime(store, config.state, name or socket.gethostname(), notifier=notifier)
    try:
        queue_schema.check(Database(config.state))
        cluster = (accounts.shared(store) or accounts.UNAPPLIED).cluster
        bounded(cluster, config.service, f"{path.name}: service.stop_timeout_seconds")
        asyncio.run(WorkerProcess(runtime, config, cluster, notifier).serve())
    finally:
        runtime.close()
        store.close()
