"""`callplan migrate-state`: a one-machine install's SQLite state, copied into PostgreSQL.

Everything the agent remembers goes: the calendar mirrors with their sync cursors, the
records of what it owns, tombstones, held meetings with their debriefs, run status and the
audit log, in one transaction (all of it, or nothing). Running it again is safe: a row the
target already has is skipped, and so is one the target holds in a newer version (a
service that ran on PostgreSQL meanwhile wrote it), judged by the row's own time:

| table | newer is |
|---|---|
| calendars | synced later |
| artifacts | updated later |
| tombstones | set later |
| held meetings | debrief read or re-checked later |
| run status | cycle started later |

A calendar goes as a whole: when the target synced it since (its calendar row is not
copied), the target's mirror, records and tombstones of that calendar stand, so a block
the service there has since forgotten is not brought back. Held meetings are history and
merge row by row. Audit entries are never replaced: an entry is copied unless the target
holds the same one (same time, account, change and texts) as often as the source does.
Since held meetings merge, every calendar's last plan in the target is made stale (its
generation moves on), so the first cycle after the copy plans.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.config.settings import PostgresState
from agent.core.errors import StateError
from agent.state.postgres import PostgresStore, migrate
from agent.state.sql import (
    ADD_AUDIT,
    AUDIT_COLUMNS,
    EVENT_COLUMNS,
    IN_CALENDAR,
    PUT_EVENT,
    Statements,
    unstamp,
    upsert,
)
from agent.state.sqlite import SqliteStore
from agent.state.store import CalendarKey

# table, its key, and when the offered row (excluded) is newer than the target's
NEWER = "COALESCE({0}, '-infinity') < COALESCE({1}, '-infinity')"
TABLES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    (
        "calendars",
        ("account", "calendar"),
        NEWER.format("calendars.synced_at", "excluded.synced_at"),
    ),
    (
        "artifacts",
        ("account", "calendar", "kind", "meeting_key"),
        NEWER.format("artifacts.updated_at", "excluded.updated_at"),
    ),
    (
        "tombstones",
        ("account", "calendar", "kind", "meeting_key"),
        NEWER.format("tombstones.at", "excluded.at"),
    ),
    (
        "held",
        ("account", "calendar", "meeting_key"),
        NEWER.format(
            "GREATEST(held.debriefed_at, held.checked_at, held.changed_at)",
            "GREATEST(excluded.debriefed_at, excluded.checked_at, excluded.changed_at)",
        ),
    ),
    ("runs", ("account",), NEWER.format("runs.last_start", "excluded.last_start")),
)
NAMES = {
    "calendars": ("calendar", "calendars"),
    "artifacts": ("record", "records"),
    "tombstones": ("tombstone", "tombstones"),
    "held": ("held meeting", "held meetings"),
    "runs": ("run status", "run statuses"),
    "audit": ("audit entry", "audit entries"),
}


@dataclass
class Copied:
    """What one run copied and skipped, per table; the events of the calendars copied."""

    copied: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    events: int = 0

    def summary(self) -> str:
        def listing(counts: Counter[str], events: bool) -> str:
            parts = [
                f"{counts[table]} {NAMES[table][counts[table] != 1]}"
                + (f" ({self.events} events)" if events and table == "calendars" else "")
                for table in NAMES
                if counts[table]
            ]
            return ", ".join(parts) or "nothing"

        return (
            f"copied {listing(self.copied, True)}; skipped {listing(self.skipped, False)} (already "
            "there, or newer there)"
        )


def move(source: Path, target: PostgresState) -> tuple[tuple[int, int], Copied]:
    """Copy the state in the SQLite file `source` into `target`, migrating its schema first; the
    schema versions before and after, and what was copied. Refuses while a callplan uses either."""
    schema = migrate(target)
    sqlite = SqliteStore(source)
    try:
        postgres = PostgresStore(target, pool_size=1)
        try:
            with sqlite.lock(), postgres.lock():
                return schema, copy_state(sqlite, postgres)
        finally:
            postgres.close()
    finally:
        sqlite.close()


def copy_state(source: SqliteStore, target: PostgresStore) -> Copied:
    """Copy every row of `source` that `target` lacks or holds in an older version, in one
    transaction."""
    copied = Copied()
    with (
        source.reading("read the state to copy") as reading,
        target.writing("copy the state") as writing,
    ):
        # calendars the target synced since: its version of them stands
        kept: set[CalendarKey] = set()
        for table, key, newer in TABLES:
            for row, done in _copy_table(reading, writing, table, key, newer, kept, target.where):
                if table == "calendars" and done:
                    copied.events += _copy_events(
                        reading, writing, CalendarKey(row["account"], row["calendar"])
                    )
                elif table == "calendars":
                    kept.add(CalendarKey(row["account"], row["calendar"]))
                (copied.copied if done else copied.skipped)[table] += 1
        _copy_audit(reading, writing, copied)
        writing.run("UPDATE calendars SET generation = generation + 1")
    return copied


def _copy_table(
    reading: Statements,
    writing: Statements,
    table: str,
    key: Sequence[str],
    newer: str,
    kept: set[CalendarKey],
    where: str,
) -> Iterator[tuple[dict[str, Any], bool]]:
    """Each row of the table, and whether it was copied (else the target's stands)."""
    rows = reading.rows(f"SELECT * FROM {table}")
    if not rows:
        return
    types = {
        row["column_name"]: row["data_type"]
        for row in writing.rows(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = "
            "current_schema() AND table_name = ?",
            [table],
        )
    }
    columns = list(rows[0])
    if missing := [column for column in columns if column not in types]:
        raise StateError(
            f"the table {table} has no column {', '.join(missing)}: is this callplan older than "
            "the source's?",
            where=where,
        )
    statement = upsert(table, columns, key, newer=newer)
    for row in rows:
        if (
            table in ("artifacts", "tombstones")
            and CalendarKey(row["account"], row["calendar"]) in kept
        ):
            yield row, False
        else:
            yield (
                row,
                bool(
                    writing.run(
                        statement, [_typed(row[column], types[column]) for column in columns]
                    )
                ),
            )


def _typed(value: Any, kind: str) -> Any:
    """SQLite keeps a boolean as 0 or 1; PostgreSQL wants a boolean. Everything else the server
    casts."""
    return bool(value) if kind == "boolean" and value is not None else value


def _copy_events(reading: Statements, writing: Statements, key: CalendarKey) -> int:
    """The mirror of a calendar whose cursor was copied: the source's, exactly."""
    rows = reading.rows(f"SELECT {', '.join(EVENT_COLUMNS)} FROM events WHERE {IN_CALENDAR}", key)
    writing.run(f"DELETE FROM events WHERE {IN_CALENDAR}", key)
    writing.run_many(PUT_EVENT, [[row[c] for c in EVENT_COLUMNS] for row in rows])
    return len(rows)


def _copy_audit(reading: Statements, writing: Statements, copied: Copied) -> None:
    """Audit entries in the source's order, each unless the target already holds it as often."""
    columns = ", ".join(AUDIT_COLUMNS)
    rows = reading.rows(f"SELECT {columns} FROM audit ORDER BY id")
    if not rows:
        return
    times = [at for row in rows if (at := unstamp(row["at"])) is not None]  # NOT NULL: all
    there = Counter(
        _entry(row)
        for row in writing.rows(
            f"SELECT {columns} FROM audit WHERE at >= ? AND at <= ?",
            [min(times).isoformat(), max(times).isoformat()],
        )
    )
    fresh = []
    for row in rows:
        if there[_entry(row)]:
            there[_entry(row)] -= 1
            copied.skipped["audit"] += 1
        else:
            fresh.append([row[column] for column in AUDIT_COLUMNS])
    writing.run_many(ADD_AUDIT, fresh)
    copied.copied["audit"] += len(fresh)


def _entry(row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(
        unstamp(row[column]) if column == "at" else row[column] for column in AUDIT_COLUMNS
    )
