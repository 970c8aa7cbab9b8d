"""`callplan db migrate` installs and upgrades the task queue's tables (procrastinate's) beside
the state's, and a worker refuses a queue older than its procrastinate."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from agent.cli.main import main
from agent.cluster import queue_schema
from agent.config.settings import PostgresState
from agent.core.errors import StateError
from agent.state.postgres import Database
from tests.support.servers.postgres import PostgresServer


def migrate(tmp_path: Path, state: PostgresState) -> list[str]:
    config = tmp_path / "config.toml"
    config.write_text(f'state = "{state.url}"\n')
    result = CliRunner().invoke(main, ["--config", str(config), "db", "migrate"])
    assert result.exit_code == 0, result.output
    return result.output.splitlines()


def test_db_migrate_installs_the_task_queue_once_and_then_has_nothing_to_do(
    tmp_path: Path, postgres: PostgresServer
) -> None:
    state = PostgresState(url=postgres.create_database())
    database = Database(state)
    with pytest.raises(StateError, match="run callplan db migrate$"):
        queue_schema.check(database)
    first = migrate(tmp_path, state)
    assert first[1] == (
        f"{state.where}: the task queue's schema installed (procrastinate {queue_schema.version()})"
    )
    assert migrate(tmp_path, state)[1] == (
        f"{state.where}: the task queue's schema is up to date, nothing to do"
    )
    queue_schema.check(database)
    with psycopg.connect(state.url) as connection:
        tables = {
            row[0]
            for row in connection.execute(
                "SELECT tablename FROM pg_tables WHERE tablename LIKE 'procrastinate%'"
            )
        }
    assert {
        "procrastinate_jobs",
        "procrastinate_workers",
        "procrastinate_periodic_defers",
    } <= tables


def test_a_newer_procrastinate_s_migrations_are_applied_in_order_once(
    tmp_path: Path, postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = PostgresState(url=postgres.create_database())
    migrate(tmp_path, state)
    shipped = queue_schema.shipped()
    extra = tmp_path / "migrations"
    extra.mkdir()
    (extra / "99.00.00_01_pre_add_a_table.sql").write_text(
        "CREATE TABLE procrastinate_later (id integer);"
    )
    (extra / "99.00.00_50_post_fill_it.sql").write_text(
        "INSERT INTO procrastinate_later VALUES (1);"
    )
    monkeypatch.setattr(queue_schema, "shipped", lambda: [*shipped, *sorted(extra.glob("*.sql"))])
    with pytest.raises(StateError, match="missing or older than this callplan's"):
        queue_schema.check(Database(state))
    assert migrate(tmp_path, state)[1] == (
        f"{state.where}: the task queue's schema upgraded (procrastinate "
        f"{queue_schema.version()}: 2 migrations)"
    )
    assert migrate(tmp_path, state)[1].endswith("up to date, nothing to do")
    with psycopg.connect(state.url) as connection:
        assert connection.execute("SELECT id FROM procrastinate_later").fetchall() == [(1,)]
    monkeypatch.undo()
    with pytest.raises(StateError, match="upgraded by a newer callplan .*99.00.00_50"):
        queue_schema.check(Database(state))
