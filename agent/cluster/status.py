"""What `callplan status` shows of a cluster: its accounts, the workers alive, the queue.

A worker is alive while its heartbeat is fresher than `stalled_after_seconds`; its name is what
its connections tell the database (their application_name), so nothing but PostgreSQL's own
view is needed to list them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agent.cluster import accounts
from agent.cluster.queue import CYCLE
from agent.config.settings import Account
from agent.state.postgres import PostgresStore

WORKER_NAME = "callplan worker "  # how a worker's connections name it


@dataclass(frozen=True)
class ClusterView:
    accounts: list[Account]
    alive: int = 0  # workers whose heartbeat is fresh
    names: list[str] = field(default_factory=list)  # of the workers connected now
    waiting: int = 0  # cycle jobs queued
    running: int = 0  # cycle jobs running

    def line(self) -> str:
        names = f" ({', '.join(self.names)})" if self.names else ""
        return (
            f"callplan worker: {self.alive} alive{names}; queue: {self.waiting} waiting, "
            f"{self.running} running"
        )


def view(store: PostgresStore) -> ClusterView | None:
    """The cluster in the database, or None when it has none (no account was ever applied)."""
    listed = accounts.listed(store)
    if not listed:
        return None
    stalled = (accounts.shared(store) or accounts.UNAPPLIED).cluster.stalled_after_seconds
    with store.reading("read the task queue") as sql:
        if not sql.rows("SELECT to_regclass('procrastinate_jobs') IS NOT NULL AS found")[0][
            "found"
        ]:
            return ClusterView(listed)
        alive = sql.rows(
            "SELECT count(*) AS n FROM procrastinate_workers WHERE last_heartbeat > now() - "
            "make_interval(secs => ?)",
            [stalled],
        )[0]["n"]
        names = [
            row["name"]
            for row in sql.rows(
                "SELECT DISTINCT substr(application_name, ?) AS name FROM pg_stat_activity WHERE "
                "application_name LIKE ? AND datname = current_database() ORDER BY name",
                [len(WORKER_NAME) + 1, WORKER_NAME + "%"],
            )
        ]
        jobs = {
            row["status"]: row["n"]
            for row in sql.rows(
                "SELECT status::text AS status, count(*) AS n FROM procrastinate_jobs WHERE "
                "task_name = ? AND status IN ('todo', 'doing') GROUP BY status",
                [CYCLE],
            )
        }
    return ClusterView(listed, alive, names, jobs.get("todo", 0), jobs.get("doing", 0))
