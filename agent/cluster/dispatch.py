"""Which of a cluster's accounts are due: what the dispatcher queues, once per tick.

An account's due time is its run status's `next_at`, which its last cycle set (an interval after
it started, with jitter, or after the backoff of a failure: agent.sync.cadence), so it lives in
PostgreSQL with the rest of the state. An account is due once that time has come, unless a cycle
job of it is already waiting or running: the task queue itself is the claim, so there is nothing
else to keep consistent. Whatever becomes of a job (it ends, fails, or its worker dies and the
job is recovered), the account is due again as soon as no job of it is queued and its due time
has come; a cycle that could not record its end is simply run again at the next tick.
"""

from __future__ import annotations

from datetime import datetime

from agent.state.postgres import PostgresStore
from agent.state.sql import stamp

ACCOUNT_LOCK = "account:"  # the lock and queueing lock of an account's cycle jobs: this + name

# procrastinate keeps at most one waiting job per queueing lock and one running job per lock, each
# found through its own partial index
DUE = f"""
    SELECT a.name FROM accounts a LEFT JOIN runs r ON r.account = a.name
    WHERE (r.next_at IS NULL OR r.next_at <= ?)
    AND NOT EXISTS (SELECT 1 FROM procrastinate_jobs j
        WHERE j.queueing_lock = '{ACCOUNT_LOCK}' || a.name AND j.status = 'todo')
    AND NOT EXISTS (SELECT 1 FROM procrastinate_jobs j
        WHERE j.lock = '{ACCOUNT_LOCK}' || a.name AND j.status = 'doing')
    ORDER BY r.next_at NULLS FIRST, a.name"""


def account_lock(name: str) -> str:
    """The lock and queueing lock of an account's cycle jobs."""
    return ACCOUNT_LOCK + name


def due(store: PostgresStore, now: datetime) -> list[str]:
    """The accounts due at `now` with no cycle job queued or running, most overdue first."""
    with store.reading("read which accounts are due") as sql:
        return [row["name"] for row in sql.rows(DUE, [stamp(now)])]
