"""The task queue of a cluster: procrastinate's app on the cluster's database, and its tasks.

- **dispatch**, periodic, every second: deferred once per tick across the whole cluster (the
  database keeps a second worker from deferring the same tick), it queues a cycle job for each
  account that is due (agent.cluster.dispatch). Dispatches run one at a time (their lock: two at
  once could both see an account due) and one waiting in the queue is enough (its queueing
  lock); a dispatch whose worker died is recovered like any job.
- **cycle**: one cycle of one account. The account is both the job's lock (no two of its jobs
  run at once, anywhere) and its queueing lock (at most one waits), so an account never has two
  cycles running or waiting.
- **recover**, periodic, every second: the jobs of a worker whose heartbeat is older than
  `stalled_after_seconds` (killed, or cut off) go back to the queue and run elsewhere; a job
  whose account already has its next cycle waiting is closed instead, and that one runs.
- **prune**, hourly: finished jobs a day old go (a successful one goes at once).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from procrastinate import App, PsycopgConnector
from procrastinate.exceptions import AlreadyEnqueued, ConnectorException, UniqueViolation
from procrastinate.jobs import Job, Status
from procrastinate.worker import Worker

from agent.cluster.dispatch import account_lock
from agent.cluster.runtime import Runtime
from agent.config.settings import ClusterSettings, PostgresState
from agent.core.logfmt import emit
from agent.state.postgres import Database

log = logging.getLogger("callplan.worker")

CYCLE = "callplan.cycle"
DISPATCH = "callplan.dispatch"
RECOVER = "callplan.recover"
PRUNE = "callplan.prune"
EVERY_SECOND = "* * * * * *"  # procrastinate's cron takes seconds as a sixth field
HOURLY = "0 * * * *"
QUEUE_CONNECTIONS = 4  # heartbeat, fetching, the periodic deferrer, the tasks' own queries


def connector(state: PostgresState, worker: str, timeout: float) -> PsycopgConnector:
    """procrastinate's connection pool on the cluster's database, named for the worker (so the
    database, and `callplan status`, can tell who is connected), failing after `timeout`."""
    database = Database(state)
    kwargs = {key: value for key, value in database.kwargs.items() if key != "autocommit"}
    kwargs["application_name"] = f"callplan worker {worker}"[:63]
    return PsycopgConnector(
        conninfo=state.url,
        kwargs=kwargs,
        min_size=1,
        max_size=QUEUE_CONNECTIONS,
        timeout=timeout,
        name="callplan-queue",
    )


def build_app(queue: PsycopgConnector, runtime: Runtime, cluster: ClusterSettings) -> App:
    """The app with callplan's tasks, each doing its work through `runtime`."""
    app = App(connector=queue)

    @app.task(name=CYCLE)
    def cycle(account: str) -> None:
        runtime.cycle(account)

    @app.periodic(cron=EVERY_SECOND, periodic_id="tick")
    @app.task(name=DISPATCH, lock=DISPATCH, queueing_lock=DISPATCH)
    def dispatch(timestamp: int) -> None:
        for name in runtime.due():
            lock = account_lock(name)
            try:
                cycle.configure(lock=lock, queueing_lock=lock).defer(account=name)
            except AlreadyEnqueued:
                pass  # queued meanwhile by another dispatch

    @app.periodic(cron=EVERY_SECOND, periodic_id="tick")
    @app.task(name=RECOVER, queueing_lock=RECOVER)
    async def recover(timestamp: int) -> None:
        stalled = await app.job_manager.get_stalled_jobs(
            seconds_since_heartbeat=cluster.stalled_after_seconds
        )
        for job in stalled:
            await rescue(app, job)

    @app.periodic(cron=HOURLY, periodic_id="hourly")
    @app.task(name=PRUNE, queueing_lock=PRUNE)
    async def prune(timestamp: int) -> None:
        await app.job_manager.delete_old_jobs(
            nb_hours=24, include_failed=True, include_cancelled=True, include_aborted=True
        )

    return app


async def rescue(app: App, job: Job) -> None:
    """Run a dead worker's job again: back in the queue at once, or, when the account's next
    cycle already waits there (its queueing lock is taken), closed as failed so that one runs."""
    try:
        await app.job_manager.retry_job(job)
        outcome = "queued again"
    except UniqueViolation:
        await app.job_manager.finish_job(job, Status.FAILED, delete_job=False)
        outcome = "closed: the next one already waits"
    except ConnectorException:  # another worker's recovery got to it first
        return
    emit(
        log,
        logging.WARNING,
        "recovered",
        job=job.id,
        task=job.task_name,
        account=job.task_kwargs.get("account"),
        dead_worker=job.worker_id,
        outcome=outcome,
    )


class CycleWorker(Worker):
    """procrastinate's worker, telling the cycles it runs to stop whenever it stops: because it was
    asked to, or because it lost the database (a failed heartbeat, a listener that could not
    reconnect, a fetch of the next job that failed). A cycle cut off from the database fails at
    its next write anyway, but the database may be back by then (the store reconnects); this
    stops it before its next change, within the stop bound, so that by the time the others take
    this worker for dead, nothing of it runs."""

    def __init__(self, app: App, on_stop: Callable[[], None], **options: Any) -> None:
        super().__init__(app=app, **options)
        self._on_stop = on_stop

    def stop(self) -> None:
        self._on_stop()
        super().stop()  # type: ignore[no-untyped-call]  # procrastinate leaves it unannotated

    async def _shutdown(self, side_tasks: list[asyncio.Task[Any]]) -> None:
        """Every way out of procrastinate's loop ends here, including a failed fetch, which
        stops the loop without `stop()`: the heartbeat ends at once and the running jobs are
        waited for without a bound, so the cycles too must be told to stop."""
        self._on_stop()
        await super()._shutdown(side_tasks)
