"""The store on PostgreSQL: one database that the agents of an organisation share.

The same queries as the SQLite store (agent/state/sql.py), through psycopg 3 and a connection
pool, since the service runs its cycles on worker threads: each call borrows a connection
for one statement or one transaction and gives it back.

- **Schema.** Versioned migrations, recorded in a `schema_version` table and applied by
  `callplan db migrate` (an advisory lock serialises migrators, so many machines may run it
  at once). A store opened on an older schema refuses to work and says to run that command;
  on a newer one it says a newer callplan wrote it. A new column is a new migration.
- **Reconnection.** A borrowed connection is checked first (one empty query). A dead one
  means the server went away (a restart, a failover): the pool drops all its connections,
  one direct attempt tells whether the server is back (if not, the call fails at once with
  the reason) and the call goes on with a new connection. A call cut off mid-way fails with
  a one-line StateError and its transaction is void; the next call reconnects.
- **Single instance.** `lock()` is a session advisory lock held on a connection of its own,
  whose application_name names the holder ("pid 1234 on host"); the server drops it when
  that session ends, however it ends. After a server restart the store takes it again,
  or refuses to go on if another callplan took it meanwhile.
- **Secrets.** The password comes from `state_password_file` or libpq's own means, never
  from the URL; errors name the database as host:port/dbname and never the URL or password.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import psycopg
from psycopg.types.string import TextLoader
from psycopg_pool import ConnectionPool, PoolTimeout

from agent.config.secrets import read_secret
from agent.config.settings import PostgresState
from agent.core.errors import StateError
from agent.state.sql import DISK_FULL, SqlStore, Statements, in_use, undecodable

LOCKS = 0x63706C6E  # "cpln": the advisory-lock key space of callplan (its first half)
# held by the one process that may use the state (the service, a sync, an undo)
SERVICE_LOCK = (
    LOCKS,
    1,
)
MIGRATION_LOCK = (LOCKS, 2)  # held by a migration while it runs
APPLY_LOCK = (LOCKS, 3)  # held by `callplan accounts apply` while it writes

# The pool's own warnings (a failed reconnection attempt, a dead connection put back) repeat
# what the store's one-line errors say, on several lines each: only its errors are logged.
logging.getLogger("psycopg.pool").setLevel(logging.ERROR)

# Before migration 3, a calendar's rows were keyed by "account|calendar" (account names hold no
# "|").
_ACCOUNT = "split_part({0}, '|', 1)"
_CALENDAR = "substr({0}, strpos({0}, '|') + 1)"

# Ordered text columns collate as SQLite compares ("C": by code point), so rows come back
# in the same order from both backends; JSON is kept as the text the store wrote (`json`,
# not `jsonb`, which cannot hold an escaped NUL a hostile event may bring).
# Append only: migration i (from 1) brings a database at version i - 1 to version i.
MIGRATIONS: list[tuple[str, tuple[str, ...]]] = [
    (
        "calendars and their mirror, artifacts, tombstones, the audit log, run status, held "
        "meetings",
        (
            """CREATE TABLE calendars (
                id text COLLATE "C" PRIMARY KEY, account text NOT NULL, cursor text,
                window_start timestamptz, window_end timestamptz, synced_at timestamptz)""",
            """CREATE TABLE events (
                calendar text COLLATE "C" NOT NULL, key text COLLATE "C" NOT NULL,
                ref text NOT NULL, data json NOT NULL, PRIMARY KEY (calendar, key))""",
            "CREATE INDEX events_ref ON events (calendar, ref)",
            """CREATE TABLE artifacts (
                calendar text COLLATE "C" NOT NULL, kind text COLLATE "C" NOT NULL,
                meeting_key text COLLATE "C" NOT NULL, ref text NOT NULL, etag text,
                start timestamptz, "end" timestamptz, meeting_start timestamptz,
                meeting_end timestamptz, customer text NOT NULL DEFAULT '',
                title text NOT NULL DEFAULT '', created_at timestamptz NOT NULL,
                updated_at timestamptz NOT NULL, PRIMARY KEY (calendar, kind, meeting_key))""",
            """CREATE TABLE tombstones (
                calendar text COLLATE "C" NOT NULL, kind text COLLATE "C" NOT NULL,
                meeting_key text COLLATE "C" NOT NULL, ref text, reason text NOT NULL,
                at timestamptz NOT NULL, PRIMARY KEY (calendar, kind, meeting_key))""",
            """CREATE TABLE audit (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at timestamptz NOT NULL,
                account text NOT NULL, calendar text NOT NULL, action text NOT NULL,
                kind text NOT NULL, meeting_key text NOT NULL, ref text NOT NULL,
                reason text NOT NULL, before json, after json)""",
            "CREATE INDEX audit_account ON audit (account, id)",
            """CREATE TABLE runs (
                account text PRIMARY KEY, last_start timestamptz, last_end timestamptz,
                last_error text NOT NULL DEFAULT '', next_at timestamptz,
                changes integer NOT NULL DEFAULT 0, requests integer NOT NULL DEFAULT 0,
                failures integer NOT NULL DEFAULT 0, backlog integer NOT NULL DEFAULT 0)""",
            """CREATE TABLE held (
                calendar text COLLATE "C" NOT NULL, meeting_key text COLLATE "C" NOT NULL,
                account text NOT NULL, customer text NOT NULL, externals json NOT NULL DEFAULT '[]',
                title text NOT NULL DEFAULT '', start timestamptz NOT NULL,
                "end" timestamptz NOT NULL, next_scheduled boolean NOT NULL DEFAULT false,
                debrief json, debrief_content text NOT NULL DEFAULT '', debriefed_at timestamptz,
                checked_at timestamptz, PRIMARY KEY (calendar, meeting_key))""",
            "CREATE INDEX held_account ON held (account, start)",
        ),
    ),
    (
        "settling: when each debrief version was first read, and the last settled shared part",
        (
            "ALTER TABLE held ADD COLUMN changed_at timestamptz",
            "ALTER TABLE held ADD COLUMN settled json",
        ),
    ),
    (
        "an account column beside each calendar: rows keyed by account and calendar, not by one "
        "joined string",
        (
            # calendars: the joined id becomes the account (already a column) and the calendar
            'ALTER TABLE calendars ADD COLUMN calendar text COLLATE "C"',
            f"UPDATE calendars SET account = {_ACCOUNT.format('id')}, calendar = "
            f"{_CALENDAR.format('id')}",
            'ALTER TABLE calendars ALTER COLUMN account TYPE text COLLATE "C", ALTER COLUMN '
            "calendar SET NOT NULL",
            "ALTER TABLE calendars DROP COLUMN id",
            "ALTER TABLE calendars ADD PRIMARY KEY (account, calendar)",
            *(
                statement
                for table, key in (
                    ("events", "key"),
                    ("artifacts", "kind, meeting_key"),
                    ("tombstones", "kind, meeting_key"),
                )
                for statement in (
                    f'ALTER TABLE {table} ADD COLUMN account text COLLATE "C"',
                    f"UPDATE {table} SET account = {_ACCOUNT.format('calendar')}, calendar = "
                    f"{_CALENDAR.format('calendar')}",
                    f"ALTER TABLE {table} ALTER COLUMN account SET NOT NULL",
                    f"ALTER TABLE {table} DROP CONSTRAINT {table}_pkey",
                    f"ALTER TABLE {table} ADD PRIMARY KEY (account, calendar, {key})",
                )
            ),
            "DROP INDEX events_ref",
            "CREATE INDEX events_ref ON events (account, calendar, ref)",
            # held and audit had an account column already: the calendar loses its prefix
            f"UPDATE held SET calendar = {_CALENDAR.format('calendar')}",
            'ALTER TABLE held ALTER COLUMN account TYPE text COLLATE "C"',
            "ALTER TABLE held DROP CONSTRAINT held_pkey",
            "ALTER TABLE held ADD PRIMARY KEY (account, calendar, meeting_key)",
            f"UPDATE audit SET calendar = {_CALENDAR.format('calendar')}",
        ),
    ),
    (
        "beside each calendar's cursor, its last plan and the generation of what plans read; "
        "whether the last cycle planned or skipped",
        (
            """ALTER TABLE calendars ADD COLUMN generation bigint NOT NULL DEFAULT 0,
                ADD COLUMN planned_at timestamptz, ADD COLUMN plan_generation bigint,
                ADD COLUMN plan_changes integer, ADD COLUMN plan_version text,
                ADD COLUMN plan_config text, ADD COLUMN plan_templates text,
                ADD COLUMN plan_busy text, ADD COLUMN deadline timestamptz,
                ADD COLUMN deadline_rule text, ADD COLUMN deadline_subject text""",
            "ALTER TABLE runs ADD COLUMN planning text NOT NULL DEFAULT ''",
        ),
    ),
    (
        "the call plan: what sellers wrote in each prep and what has settled, the previews "
        "callplan wrote into preps, and what an agenda written by an earlier callplan says",
        (
            """CREATE TABLE plans (
                account text COLLATE "C" NOT NULL, calendar text COLLATE "C" NOT NULL,
                meeting_key text COLLATE "C" NOT NULL, meeting_start timestamptz NOT NULL,
                plan json, content text NOT NULL DEFAULT '', changed_at timestamptz,
                settled json, PRIMARY KEY (account, calendar, meeting_key))""",
            """CREATE TABLE previews (
                account text COLLATE "C" NOT NULL, calendar text COLLATE "C" NOT NULL,
                meeting_key text COLLATE "C" NOT NULL, fingerprint text COLLATE "C" NOT NULL,
                meeting_start timestamptz NOT NULL, at timestamptz NOT NULL,
                PRIMARY KEY (account, calendar, meeting_key, fingerprint))""",
            "ALTER TABLE artifacts ADD COLUMN inputs text NOT NULL DEFAULT ''",
        ),
    ),
    (
        "the cluster: the accounts and shared settings every worker serves with; due times",
        (
            # each account as `callplan accounts apply` validated it (secrets by reference only)
            """CREATE TABLE accounts (
                name text COLLATE "C" PRIMARY KEY, account json NOT NULL, digest text NOT NULL,
                applied_at timestamptz NOT NULL)""",
            # one row: the pace ([service]), the [cluster] timing and the template sources
            """CREATE TABLE cluster_settings (
                id boolean PRIMARY KEY DEFAULT true CHECK (id), service json NOT NULL,
                cluster json NOT NULL, templates json NOT NULL, digest text NOT NULL,
                applied_at timestamptz NOT NULL)""",
            "CREATE INDEX runs_due ON runs (next_at)",
        ),
    ),
    (
        "the review's readiness of each held meeting (unknown for meetings held before)",
        ("ALTER TABLE held ADD COLUMN we_ready boolean, ADD COLUMN they_ready boolean",),
    ),
]

SCHEMA_VERSION = """CREATE TABLE IF NOT EXISTS schema_version (
    version integer PRIMARY KEY, description text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now())"""


@contextmanager
def migrating(database: Database, what: str) -> Iterator[psycopg.Connection[Any]]:
    """A connection inside one transaction that holds the migration lock: many machines may
    migrate at once, one at a time."""
    with database.errors(what), database.connect() as connection, connection.transaction():
        connection.execute("SELECT pg_advisory_xact_lock(%s, %s)", MIGRATION_LOCK)
        yield connection


def migrate(state: PostgresState) -> tuple[int, int]:
    """Apply the migrations the database lacks, all in one transaction; the version before and
    after."""
    database = Database(state)
    with migrating(database, "migrate the schema") as connection:
        connection.execute(SCHEMA_VERSION)
        before = _version(connection)
        if before > len(MIGRATIONS):
            raise _newer(before, database.where)
        for number in range(before, len(MIGRATIONS)):
            description, statements = MIGRATIONS[number]
            for statement in statements:
                connection.execute(statement)
            connection.execute(
                "INSERT INTO schema_version (version, description) VALUES (%s, %s)",
                (number + 1, description),
            )
    return before, len(MIGRATIONS)


def _version(connection: psycopg.Connection[Any]) -> int:
    row = connection.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()
    if not row or not row[0]:
        return 0
    row = connection.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
    return int(row[0]) if row else 0


def _newer(version: int, where: str) -> StateError:
    return StateError(
        f"written by a newer callplan (schema {version}, this one knows {len(MIGRATIONS)})",
        where=where,
    )


@lru_cache(maxsize=256)
def _placeholders(sql: str) -> str:
    """The store's statements use `?`; psycopg spells a placeholder `%s` (none has a literal `?` or
    `%`)."""
    return sql.replace("?", "%s")


def _value(value: Any) -> Any:
    """PostgreSQL text cannot hold NUL, which only a hostile event's title would bring: it becomes
    U+FFFD in the plain-text columns (the mirror and the audit log keep the event exactly, as
    escaped JSON)."""
    return value.replace("\x00", "\ufffd") if isinstance(value, str) and "\x00" in value else value


def _configure(connection: psycopg.Connection[Any]) -> None:
    """JSON columns come back as the text the store wrote, as they do from SQLite."""
    connection.adapters.register_loader("json", TextLoader)


class Database:
    """How to reach one PostgreSQL database, and how its failures read: one line, naming
    the database as host:port/dbname, never the URL or the password."""

    def __init__(self, state: PostgresState, *, connect_timeout: float = 10.0) -> None:
        self.state = state
        self.where = state.where
        password = (
            read_secret(state.password_file, "state_password_file") if state.password_file else None
        )
        self._password = password
        self.kwargs: dict[str, Any] = {
            # a transaction only where a write needs one: a read costs one round trip
            "autocommit": True,
            "application_name": "callplan",
            "connect_timeout": max(1, round(connect_timeout)),
            **({"password": password} if password else {}),
        }
        try:
            psycopg.conninfo.conninfo_to_dict(state.url)
        except psycopg.ProgrammingError:
            raise StateError(
                "not a valid PostgreSQL URL (postgresql://user@host:port/dbname)", where=self.where
            ) from None

    def connect(self, **extra: Any) -> psycopg.Connection[Any]:
        """A connection of its own, outside any pool."""
        connection = psycopg.connect(self.state.url, **{**self.kwargs, **extra})
        _configure(connection)
        return connection

    def unreachable(self) -> str | None:
        """Why the server cannot be reached now (from one direct attempt), or None if it can."""
        try:
            self.connect().close()
        except psycopg.Error as exc:
            return self.text(exc)
        return None

    def cannot_reach(self, doing: str, reason: str) -> StateError:
        return StateError(f"cannot {doing}: cannot reach the database: {reason}", where=self.where)

    def text(self, exc: BaseException) -> str:
        """An error's message on one line, with the password masked should a library ever echo
        it."""
        text = " ".join(str(exc).split()) or type(exc).__name__
        return text.replace(self._password, "***") if self._password else text

    @contextmanager
    def errors(self, doing: str, *, busy: Callable[[], str] = lambda: "") -> Iterator[None]:
        """psycopg's failures as one-line StateErrors that say what the store was `doing`;
        `busy` explains a pool that had no connection to give in time."""
        try:
            yield
        except PoolTimeout:
            reason = self.unreachable()
            raise (
                self.cannot_reach(doing, reason)
                if reason
                else StateError(f"cannot {doing}: {busy()}", where=self.where)
            ) from None
        except psycopg.errors.DiskFull:
            raise StateError(f"cannot {doing}: {DISK_FULL}", where=self.where) from None
        except psycopg.Error as exc:
            raise StateError(f"cannot {doing}: {self.text(exc)}", where=self.where) from None


class PostgresStore(SqlStore):
    """The store on a PostgreSQL database (15 or newer) that `callplan db migrate` prepared.

    `pool_size` bounds the connections the pool opens (the service's workers each borrow one
    for a call); a call waits at most `timeout` seconds for one before it fails.
    """

    def __init__(
        self,
        state: PostgresState,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        pool_size: int = 8,
        timeout: float = 10.0,
    ) -> None:
        self._database = Database(state, connect_timeout=timeout)
        self.where = self._database.where
        self._clock = clock
        self._timeout = timeout
        self._holder: psycopg.Connection[Any] | None = (
            None  # the lock's own connection, while we hold it
        )
        self._relocking = threading.Lock()
        self._dropped = (
            False  # the server dropped a connection: check the lock's session before going on
        )
        self._lost: StateError | None = (
            None  # the lock, lost to another callplan while the server restarted
        )
        with self._database.errors("open"), self._database.connect() as connection:
            version = _version(connection)
        if version > len(MIGRATIONS):
            raise _newer(version, self.where)
        if version < len(MIGRATIONS):
            found = f"schema version {version}" if version else "no callplan schema yet"
            raise StateError(
                f"{found}, this callplan needs version {len(MIGRATIONS)}: run callplan db migrate",
                where=self.where,
            )
        self._pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            state.url,
            kwargs=self._database.kwargs,
            min_size=1,
            max_size=max(1, pool_size),
            timeout=timeout,
            configure=_configure,
            name="callplan",
            open=True,
        )

    # -- connections ---------------------------------------------------------------------------

    def _borrow(self, doing: str) -> psycopg.Connection[Any]:
        if self._lost is not None:
            raise self._lost
        connection = self._pool.getconn()
        try:
            ConnectionPool.check_connection(connection)
        except psycopg.Error:
            self._pool.putconn(connection)  # broken: the pool replaces it
            self._dropped = True
            # its siblings died with it (a server restart): renew them all, if the server is back
            self._pool.drain()
            if reason := self._database.unreachable():
                raise self._database.cannot_reach(doing, reason) from None
            connection = self._pool.getconn()
        if self._dropped:
            try:
                self._relock()
            except BaseException:
                self._pool.putconn(connection)
                raise
        return connection

    @contextmanager
    def _connection(self, doing: str) -> Iterator[psycopg.Connection[Any]]:
        with self._database.errors(doing, busy=self._busy):
            connection = self._borrow(doing)
            try:
                yield connection
            except psycopg.OperationalError:
                self._dropped = True  # the server may have dropped the lock's session too
                raise
            finally:
                self._pool.putconn(connection)

    def _busy(self) -> str:
        return (
            f"all {self._pool.max_size} connections of the pool stayed busy for {self._timeout:g} s"
        )

    @contextmanager
    def reading(self, doing: str) -> Iterator[Statements]:
        with self._connection(doing) as connection:
            try:
                yield Statements(connection, _placeholders, _value)
            except (ValueError, KeyError, TypeError) as exc:
                raise undecodable(doing, exc, self.where) from None

    @contextmanager
    def writing(self, doing: str) -> Iterator[Statements]:
        with self._connection(doing) as connection, connection.transaction():
            yield Statements(connection, _placeholders, _value)

    # -- single instance -----------------------------------------------------------------------

    def lock(self) -> AbstractContextManager[None]:
        return self._locked()

    @contextmanager
    def _locked(self) -> Iterator[None]:
        connection = self._take_lock()
        with self._relocking:
            self._holder = connection
        try:
            yield
        finally:
            with self._relocking:
                holder, self._holder, self._lost = self._holder, None, None
            if holder is not None:
                _release(holder)

    def _take_lock(self) -> psycopg.Connection[Any]:
        """A connection of its own that holds the service lock; its name says who holds it."""
        # what locked_by shows others
        name = f"callplan pid {os.getpid()} on {socket.gethostname()}"[:63]
        with self._database.errors("take the state lock"):
            connection = self._database.connect(application_name=name)
            try:
                row = connection.execute(
                    "SELECT pg_try_advisory_lock(%s, %s)", SERVICE_LOCK
                ).fetchone()
                if row and row[0]:
                    return connection
                holder = self._holding(connection)
            except BaseException:
                connection.close()
                raise
            connection.close()
        raise in_use(holder or "holder unknown", self.where)

    def _relock(self) -> None:
        """After the server dropped connections, make sure we still hold the lock if we held it
        (its session may have gone too); if another callplan took it meanwhile, every call
        refuses from then on, naming that one."""
        with self._relocking:
            if not self._dropped:
                return
            if self._holder is not None:
                try:
                    ConnectionPool.check_connection(self._holder)
                except psycopg.Error:
                    self._holder.close()
                    try:
                        self._holder = self._take_lock()
                    except StateError as exc:
                        self._lost = exc
                        raise
            self._dropped = False

    def locked_by(self) -> str | None:
        with self._connection("see who holds the state lock") as connection:
            return self._holding(connection)

    @staticmethod
    def _holding(connection: psycopg.Connection[Any]) -> str | None:
        row = connection.execute(
            "SELECT a.application_name, l.pid FROM pg_locks l LEFT JOIN pg_stat_activity a ON "
            "a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s::oid "
            "AND l.objid = %s::oid AND l.objsubid = 2 AND l.database = (SELECT oid FROM "
            "pg_database WHERE datname = current_database())",
            SERVICE_LOCK,
        ).fetchone()
        if row is None:
            return None
        name, backend = row
        return (
            name.removeprefix("callplan ")
            if name and name.startswith("callplan ")
            else f"database session {backend}"
        )

    def close(self) -> None:
        with self._relocking:
            holder, self._holder = self._holder, None
        if holder is not None:
            _release(holder)
        self._pool.close()


def _release(holder: psycopg.Connection[Any]) -> None:
    """Give the lock up at once: the server would drop it with the session, but only once that
    session's process has noticed the connection close, a moment after."""
    with suppress(psycopg.Error):
        holder.execute("SELECT pg_advisory_unlock(%s, %s)", SERVICE_LOCK)
    holder.close()
