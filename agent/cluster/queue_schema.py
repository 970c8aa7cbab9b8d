"""The task queue's tables (procrastinate's) in the cluster's database, installed and upgraded by
`callplan db migrate`.

procrastinate ships its whole schema and, for each release that changed it, numbered SQL
migrations (`03.04.00_50_post_...sql`), and leaves it to the application to know which of them a
database has. A table of ours records the last one applied: a new database gets the whole schema
and is recorded at the newest migration shipped, an older one gets each migration after its
record, in order, all in one transaction (under the same advisory lock as the state's
migrations, so many machines may run it at once). A worker refuses to start on a queue older
than its procrastinate.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path
from typing import Any

import psycopg
from procrastinate.schema import SchemaManager

from agent.config.settings import PostgresState
from agent.core.errors import StateError
from agent.state.postgres import Database, migrating

RECORD = "CREATE TABLE IF NOT EXISTS queue_schema (migration text NOT NULL)"


def shipped() -> list[Path]:
    """procrastinate's migration files, oldest first (their names sort by version)."""
    return sorted(Path(SchemaManager.get_migrations_path()).glob("*.sql"))


def newest() -> str:
    return shipped()[-1].stem


def version() -> str:
    return metadata.version("procrastinate")


def recorded(connection: psycopg.Connection[Any]) -> str | None:
    """The last migration the database has, or None when it has no task queue yet."""
    row = connection.execute("SELECT to_regclass('queue_schema') IS NOT NULL").fetchone()
    if not row or not row[0]:
        return None
    row = connection.execute("SELECT migration FROM queue_schema").fetchone()
    return row[0] if row else None


def migrate(state: PostgresState) -> str:
    """Install or upgrade the task queue's schema; what was done, in a line."""
    database = Database(state)
    with migrating(database, "migrate the task queue's schema") as connection:
        before = recorded(connection)
        connection.execute(RECORD)
        if before is None:
            connection.execute(SchemaManager.get_schema().encode())
            connection.execute("INSERT INTO queue_schema VALUES (%s)", [newest()])
            return (
                f"{database.where}: the task queue's schema installed (procrastinate {version()})"
            )
        missing = [path for path in shipped() if path.stem > before]
        for path in missing:
            connection.execute(path.read_bytes())
        if not missing:
            return f"{database.where}: the task queue's schema is up to date, nothing to do"
        connection.execute("UPDATE queue_schema SET migration = %s", [newest()])
        count = f"{len(missing)} migration{'' if len(missing) == 1 else 's'}"
        return (
            f"{database.where}: the task queue's schema upgraded (procrastinate {version()}: "
            f"{count})"
        )


def check(database: Database) -> None:
    """StateError unless the database's task queue is the one this procrastinate expects."""
    with database.errors("read the task queue's schema"), database.connect() as connection:
        found = recorded(connection)
    if found == newest():
        return
    if found is not None and found > newest():
        raise StateError(
            f"the task queue was upgraded by a newer callplan (procrastinate migration {found}); "
            "upgrade this one",
            where=database.where,
        )
    raise StateError(
        "the task queue's schema is missing or older than this callplan's: run callplan db migrate",
        where=database.where,
    )
