"""When a cluster's accounts are due: claimed by the dispatcher, once per tick across the cluster.

An account's due time is its run status's `next_at`, which its last cycle set (an interval after
it started, with jitter, or after the backoff of a failure: agent.sync.cadence), so it lives in
PostgreSQL with the rest of the state. Each tick the dispatcher claims every due account in one
statement, moving its due time an interval ahead, and queues a cycle job for each; the cycle sets
the real due time when it ends. The claim is what keeps the dispatcher from queueing an account
again while its job waits or runs, and if a job is ever lost the account is simply due again an
interval later.
"""

from __future__ import annotations

from datetime import datetime

from agent.state.postgres import PostgresStore
from agent.state.sql import stamp

# A row that its cycle moved ahead meanwhile is not claimed (the DO UPDATE condition is checked on
# the latest version of the row, after the SELECT's snapshot).
CLAIM = """
    INSERT INTO runs (account, next_at)
    SELECT a.name, ?::timestamptz + make_interval(secs => (
        SELECT (service->>'interval_seconds')::float8 FROM cluster_settings))
    FROM accounts a LEFT JOIN runs r ON r.account = a.name
    WHERE r.next_at IS NULL OR r.next_at <= ?
    ON CONFLICT (account) DO UPDATE SET next_at = excluded.next_at
    WHERE runs.next_at IS NULL OR runs.next_at <= ?
    RETURNING account"""


def claim_due(store: PostgresStore, now: datetime) -> list[str]:
    """The accounts due at `now`, each claimed for one interval; by name."""
    at = stamp(now)
    with store.writing("claim the accounts that are due") as sql:
        return sorted(row["account"] for row in sql.rows(CLAIM, [at, at, at]))


def due_now(store: PostgresStore, name: str, now: datetime) -> None:
    """Make the account due at once (its job could not run here: this worker is stopping)."""
    with store.writing("put the account back in line") as sql:
        sql.run("UPDATE runs SET next_at = ? WHERE account = ?", [stamp(now), name])
