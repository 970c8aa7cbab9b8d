"""The PostgreSQL store beyond the contract (tests/state/test_store.py): configuration, passwords,
schema versions and `callplan db migrate`, a server restart, the pool under the service's
worker threads, and the whole command line on a PostgreSQL state."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import closing
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
import time_machine
from click.testing import CliRunner

from agent.cli.main import main
from agent.config.settings import PostgresState, load
from agent.core.errors import ConfigError, StateError
from agent.core.model import Kind
from agent.state import postgres as pgstore
from agent.state.postgres import PostgresStore
from agent.state.sqlite import MIGRATIONS
from agent.state.store import Artifact, CalendarKey, RunStatus
from tests.cli.test_cli import write_config
from tests.state.test_store import assert_split, old_rows
from tests.support.harness.caldav import CaldavHarness
from tests.support.helpers import at
from tests.support.servers.postgres import PostgresServer
from tests.support.servers.radicale import ZONE

PASSWORD = "Pg-s3cret-never-shown"


def cli(config: Path, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner(env={"COLUMNS": "200"}).invoke(
        main, ["--config", str(config), *args], catch_exceptions=False
    )


def dbname(state: PostgresState) -> str:
    return urlsplit(state.url).path.lstrip("/")


@pytest.fixture
def seller_state(
    postgres: PostgresServer, postgres_state: PostgresState, tmp_path: Path
) -> PostgresState:
    """The migrated database, reached as a role that must give its password, kept in a private
    file."""
    role = f"r{dbname(postgres_state)}"
    postgres.create_role(role, PASSWORD, dbname(postgres_state))
    with psycopg.connect(postgres_state.url, autocommit=True) as connection:
        connection.execute(f'GRANT ALL ON ALL TABLES IN SCHEMA public TO "{role}"'.encode())
    secret = tmp_path / "pg-password"
    secret.write_text(PASSWORD + "\n")
    secret.chmod(0o600)
    return PostgresState(
        url=postgres.url(dbname(postgres_state), user=role), password_file=str(secret)
    )


@pytest.fixture
def logged(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every log record of every library, down to debug."""
    caplog.set_level(logging.DEBUG)
    for name in ("psycopg", "psycopg.pool"):
        caplog.set_level(logging.DEBUG, logger=name)
    yield caplog


# -- configuration -------------------------------------------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_a_postgresql_url_selects_the_database_and_names_it_without_the_url(tmp_path: Path) -> None:
    config = load(
        write(
            tmp_path,
            'state = "postgresql://callplan@db.example:5433/agents?sslmode=require"\n'
            'state_password_file = "secret_db"\n',
        )
    )
    assert config.state == PostgresState(
        url="postgresql://callplan@db.example:5433/agents?sslmode=require",
        password_file="secret_db",
    )
    assert config.state.where == "db.example:5433/agents"
    assert (
        PostgresState(url="postgres://callplan@db.example/callplan").where
        == "db.example:5432/callplan"
    )
    assert PostgresState(url="postgresql://u@[::1]:6000/x").where == "[::1]:6000/x"
    # a file
    assert (
        load(write(tmp_path, 'state = "postgres-backup.db"\n')).state
        == tmp_path / "postgres-backup.db"
    )


@pytest.mark.parametrize(
    "text, message",
    [
        (
            'state = "postgresql://callplan:hunter2@db.example/agents"\n',
            "config.toml: state: a password does not belong in the URL",
        ),
        (
            'state = "postgresql://callplan@db.example/agents?password=hunter2"\n',
            "config.toml: state: a password does not belong",
        ),
        (
            'state_password_file = "pw"\n',
            "config.toml: state_password_file: only for a PostgreSQL state",
        ),
    ],
)
def test_a_password_never_sits_in_the_configuration(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load(write(tmp_path, text))
    assert str(caught.value).startswith(message) and "hunter2" not in str(caught.value)
    assert "state_password_file" in str(caught.value) and "\n" not in str(caught.value)


# -- passwords -------------------------------------------------------------------------------------


def test_the_password_comes_from_its_file_or_from_libpq_and_never_shows(
    seller_state: PostgresState,
    tmp_path: Path,
    logged: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = PostgresStore(seller_state)
    store.save_run_status(RunStatus("alex", changes=2))
    store.close()

    wrong = tmp_path / "wrong-password"
    wrong.write_text("Wrong-" + PASSWORD + "\n")
    wrong.chmod(0o600)
    for attempt in (
        lambda: PostgresStore(seller_state.model_copy(update={"password_file": str(wrong)})),
        lambda: pgstore.migrate(seller_state.model_copy(update={"password_file": str(wrong)})),
    ):
        with pytest.raises(StateError) as caught:
            attempt()
        message = str(caught.value)
        assert (
            message.startswith(f"{seller_state.where}: cannot ")
            and "password authentication failed" in message
        )
        assert "\n" not in message and PASSWORD not in message and seller_state.url not in message

    wrong.chmod(0o644)
    with pytest.raises(
        ConfigError,
        match=r"state_password_file: .* is readable by others \(mode 0644\); run chmod 600",
    ):
        PostgresStore(seller_state.model_copy(update={"password_file": str(wrong)}))

    without = seller_state.model_copy(update={"password_file": None})
    monkeypatch.setenv("PGPASSWORD", PASSWORD)  # libpq's own means work as they always do
    with closing(PostgresStore(without)) as store:
        assert store.run_status("alex").changes == 2
    monkeypatch.delenv("PGPASSWORD")
    pgpass = tmp_path / "pgpass"
    pgpass.write_text(f"*:*:*:*:{PASSWORD}\n")
    pgpass.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(pgpass))
    with closing(PostgresStore(without)) as store:
        assert store.run_status("alex").changes == 2
    assert not [record for record in logged.records if PASSWORD in record.getMessage()]


def test_a_server_restart_is_survived_and_the_lock_held_again(
    postgres: PostgresServer, seller_state: PostgresState, logged: pytest.LogCaptureFixture
) -> None:
    store, other = PostgresStore(seller_state, pool_size=3), PostgresStore(seller_state)
    with store.lock():
        holder = other.locked_by()
        assert holder is not None
        store.save_run_status(RunStatus("alex", changes=1))
        postgres.stop()
        try:
            with pytest.raises(StateError) as caught:
                store.run_status("alex")
            message = str(caught.value)
            assert message.startswith(
                f"{seller_state.where}: cannot read run status: cannot reach the database: "
            )
            assert "\n" not in message and PASSWORD not in message
            with pytest.raises(StateError, match="cannot open"):
                PostgresStore(seller_state)
        finally:
            postgres.start()
        assert store.run_status("alex").changes == 1  # the next call after the restart works
        store.save_run_status(RunStatus("alex", changes=2))
        assert other.run_status("alex").changes == 2
        assert other.locked_by() == holder  # the lock's session was renewed with the others
        with pytest.raises(StateError, match="in use by another callplan process"), other.lock():
            pass
    assert other.locked_by() is None
    store.close()
    other.close()
    assert not [record for record in logged.records if PASSWORD in record.getMessage()]


def test_a_lock_taken_by_another_during_a_restart_stops_the_first(
    postgres: PostgresServer, postgres_state: PostgresState
) -> None:
    store, other = PostgresStore(postgres_state), PostgresStore(postgres_state)
    with store.lock():
        postgres.stop()
        postgres.start()
        with other.lock():  # the first one's session is gone: its lock with it
            with pytest.raises(StateError, match="in use by another callplan process") as caught:
                store.run_status("alex")
            with pytest.raises(StateError) as again:
                store.run_status("alex")
            assert str(again.value) == str(caught.value)  # it stays stopped, however often it asks
    store.close()
    other.close()


# -- schema ----------------------------------------------------------------------------------------


def test_db_migrate_prepares_the_database_once_and_an_older_or_newer_schema_is_refused(
    postgres: PostgresServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = PostgresState(url=postgres.create_database())
    config = write(tmp_path, f'state = "{state.url}"\n')
    now, later = len(pgstore.MIGRATIONS), len(pgstore.MIGRATIONS) + 1
    with pytest.raises(StateError) as caught:
        PostgresStore(state)
    assert str(caught.value) == (
        f"{state.where}: no callplan schema yet, this callplan needs version {now}: run callplan "
        "db migrate"
    )
    first, second = cli(config, "db", "migrate"), cli(config, "db", "migrate")
    assert (first.exit_code, first.output.splitlines()[0]) == (
        0,
        f"{state.where}: schema upgraded from version 0 to {now}",
    )
    assert (second.exit_code, second.output.splitlines()[0]) == (
        0,
        f"{state.where}: schema at version {now}, nothing to do",
    )

    store = PostgresStore(state)
    store.record(
        key=CalendarKey("alex", "work"),
        action="create",
        kind=Kind.PREP,
        meeting_key="m1",
        reason="r",
        before=None,
        after=None,
        artifact=Artifact(
            "alex",
            "work",
            Kind.PREP,
            "m1",
            "ref",
            "e1",
            at(0, 9),
            at(0, 10),
            at(0, 10),
            at(0, 11),
            "globex.example",
            "Globex",
        ),
    )
    store.close()
    # a later callplan adds a column: a plain migration, and until it runs the old schema is refused
    added = [
        *pgstore.MIGRATIONS,
        ("a column for a later feature", ("ALTER TABLE held ADD COLUMN later_column text",)),
    ]
    monkeypatch.setattr(pgstore, "MIGRATIONS", added)
    with pytest.raises(
        StateError,
        match=(
            rf"schema version {now}, this callplan needs version {later}: run callplan db migrate$"
        ),
    ):
        PostgresStore(state)
    assert (
        cli(config, "db", "migrate").output.splitlines()[0]
        == f"{state.where}: schema upgraded from version {now} to {later}"
    )
    with closing(PostgresStore(state)) as store:
        assert [a.meeting_key for a in store.artifacts()] == ["m1"]  # the data came through
    monkeypatch.undo()
    with pytest.raises(StateError) as newer:
        PostgresStore(state)
    assert (
        str(newer.value)
        == f"{state.where}: written by a newer callplan (schema {later}, this one knows {now})"
    )
    refused = cli(config, "db", "migrate")
    assert (
        refused.exit_code == 1
        and f"written by a newer callplan (schema {later}, this one knows {now})" in refused.output
    )


def test_db_migrate_on_a_sqlite_state_says_where_it_stands(tmp_path: Path) -> None:
    config = write(tmp_path, 'state = "state.db"\n')
    assert (
        cli(config, "db", "migrate").output
        == f"{tmp_path / 'state.db'}: schema upgraded from version 0 to {len(MIGRATIONS)}\n"
    )
    assert (
        cli(config, "db", "migrate").output
        == f"{tmp_path / 'state.db'}: schema at version {len(MIGRATIONS)}, nothing to do\n"
    )


def test_a_database_keyed_by_joined_strings_is_split_into_account_and_calendar(
    postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database at schema 2, its calendars keyed by "account|calendar", gains the columns on
    migrate."""
    state = PostgresState(url=postgres.create_database())
    monkeypatch.setattr(pgstore, "MIGRATIONS", pgstore.MIGRATIONS[:2])
    pgstore.migrate(state)
    with psycopg.connect(state.url, autocommit=True) as connection:
        for statement in old_rows():
            connection.execute(statement.encode())
    monkeypatch.undo()
    assert pgstore.migrate(state) == (2, len(pgstore.MIGRATIONS))
    with closing(PostgresStore(state)) as store:
        assert_split(store)


def test_meetings_held_before_readiness_was_judged_have_it_unknown(
    postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database at schema 6 gains the readiness columns on migrate; its held meetings have
    them unknown."""
    state = PostgresState(url=postgres.create_database())
    monkeypatch.setattr(pgstore, "MIGRATIONS", pgstore.MIGRATIONS[:6])
    pgstore.migrate(state)
    with psycopg.connect(state.url, autocommit=True) as connection:
        connection.execute(
            'INSERT INTO held (account, calendar, meeting_key, customer, start, "end") VALUES '
            "('alex', 'cal', 'm1', 'globex.example', %s, %s)",
            (at(0, 10), at(0, 11)),
        )
    monkeypatch.undo()
    assert pgstore.migrate(state) == (6, len(pgstore.MIGRATIONS))
    with closing(PostgresStore(state)) as store:
        (row,) = store.held()
        assert (row.we_ready, row.they_ready) == (None, None)
        store.save_held(replace(row, we_ready=True, they_ready=False))
        assert [(held.we_ready, held.they_ready) for held in store.held()] == [(True, False)]


def test_many_migrators_at_once_apply_each_migration_once(postgres: PostgresServer) -> None:
    state = PostgresState(url=postgres.create_database())
    results: list[tuple[int, int]] = []
    threads = [
        threading.Thread(target=lambda: results.append(pgstore.migrate(state))) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latest = len(pgstore.MIGRATIONS)
    assert sorted(results) == [(0, latest)] + [(latest, latest)] * 3


# -- the service's worker threads ------------------------------------------------------------------


def test_worker_threads_share_the_pool_and_each_write_is_whole(
    postgres_state: PostgresState,
) -> None:
    store = PostgresStore(postgres_state, pool_size=3)
    accounts = [f"seller{n}" for n in range(8)]

    def work(account: str) -> None:
        for n in range(15):
            store.record(
                key=CalendarKey(account, "work"),
                action="create",
                kind=Kind.PREP,
                meeting_key=f"m{n}",
                reason="r",
                before=None,
                after=None,
                artifact=Artifact(
                    account,
                    "work",
                    Kind.PREP,
                    f"m{n}",
                    f"ref{n}",
                    None,
                    None,
                    None,
                    at(0, n),
                    None,
                    "",
                    "",
                ),
            )
            store.save_run_status(RunStatus(account, changes=n + 1))

    threads = [threading.Thread(target=work, args=(account,)) for account in accounts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(store.audit()) == 8 * 15 and len(store.artifacts()) == 8 * 15
    assert {store.run_status(account).changes for account in accounts} == {15}
    with psycopg.connect(postgres_state.url) as connection:
        row = connection.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name = 'callplan'"
        ).fetchone()
    assert row is not None and 1 <= row[0] <= 3
    store.close()


# -- the command line ------------------------------------------------------------------------------


def test_the_command_line_runs_on_a_postgresql_state(
    tmp_path: Path, caldav_harness: CaldavHarness, seller_state: PostgresState
) -> None:
    config = write_config(tmp_path, caldav_harness)
    config.write_text(
        config.read_text().replace(
            'state = "state.db"',
            f'state = "{seller_state.url}"\nstate_password_file = "{seller_state.password_file}"',
        )
    )
    caldav_harness.add_meeting(
        "Globex discovery", datetime(2030, 3, 18, 10, tzinfo=ZONE), description="Intro"
    )
    with time_machine.travel(datetime(2030, 3, 18, 7, tzinfo=ZONE), tick=False):
        check = cli(config, "config", "check")
        assert check.exit_code == 0 and f"state in {seller_state.where}\n" in check.output
        assert PASSWORD not in check.output and seller_state.url not in check.output
        assert "3 changes applied" in cli(config, "sync", "--once").output
        assert cli(config, "sync", "--once").output.startswith("Nothing to do: ")
        status = cli(config, "status")
        assert status.exit_code == 0 and "callplan run: not running" in status.output
    assert not (tmp_path / "state.db").exists()
    with closing(PostgresStore(seller_state)) as store:
        assert {a.kind for a in store.artifacts()} == {"prep", "debrief", "agenda"}
