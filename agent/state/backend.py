"""Which store a configuration names: a PostgreSQL database, or a SQLite file (the default)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from agent.config.settings import Config, PostgresState
from agent.state.sqlite import SqliteStore
from agent.state.store import Store


def open_store(
    config: Config, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> Store:
    """The store the configuration names: a PostgreSQL database, or a SQLite file (the default)."""
    if isinstance(config.state, PostgresState):
        # psycopg is imported only by those who use it
        from agent.state.postgres import (
            PostgresStore,
        )

        return PostgresStore(config.state, clock=clock, pool_size=config.service.workers)
    return SqliteStore(config.state, clock=clock)


def migrate(state: Path | PostgresState) -> tuple[str, int, int]:
    """`callplan db migrate`: bring the state's schema to this callplan's; where, the version before
    and after.

    A SQLite file is migrated whenever it is opened; a PostgreSQL database only by this."""
    if isinstance(state, PostgresState):
        from agent.state import postgres  # psycopg is imported only by those who use it

        return (state.where, *postgres.migrate(state))
    store = SqliteStore(state)
    store.close()
    return (store.where, *store.migration)
