"""The state store: one small interface, and the SQL behind it, on SQLite or PostgreSQL.

The store keeps a mirror of each calendar's window (so a quiet calendar costs one request),
the sync cursor, what the agent owns, tombstones, the debriefs sellers wrote, per-account
run status and an audit log of every change applied (so `callplan undo` can revert it all).

Nothing outside this module and its backends may assume SQLite, one process, or a local
file: `open_store` picks the backend the configuration names (a SQLite file, the embedded
default, or a PostgreSQL database that many machines share, in agent/pgstore.py). Both run
the same queries (`SqlStore`), written in the SQL the two have in common. Every method that
writes is one transaction, so a crash leaves the state as it was before the call or after
it, never in between. `lock()` keeps a second agent off the same state (a scheduler per
state database), each backend in its own way.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlite_utils

from agent.codec import dump_event, load_event
from agent.debrief import Debrief
from agent.errors import StateError
from agent.held import Held
from agent.model import Delta, Event, Kind, Window
from agent.planner import Record

if TYPE_CHECKING:
    from agent.config import Config, PostgresState

@dataclass(frozen=True)
class Artifact:
    """A row of what the agent owns: a block, or an agenda inside a meeting."""

    calendar: str
    kind: Kind
    meeting_key: str
    ref: str
    etag: str | None
    start: datetime | None
    end: datetime | None
    meeting_start: datetime | None
    meeting_end: datetime | None
    customer: str
    title: str

    def record(self) -> Record:
        if self.kind is Kind.AGENDA:  # where its meeting was: whether a read would have seen it
            return Record(self.kind, self.meeting_key, self.ref, self.meeting_start, self.meeting_end)
        return Record(self.kind, self.meeting_key, self.ref, self.start, self.end)


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    account: str
    calendar: str
    action: str
    kind: str
    meeting_key: str
    ref: str
    reason: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


@dataclass(frozen=True)
class RunStatus:
    """What `callplan status` shows for one account."""

    account: str
    last_start: datetime | None = None
    last_end: datetime | None = None
    last_error: str = ""
    next_at: datetime | None = None
    changes: int = 0
    requests: int = 0
    failures: int = 0  # consecutive failed cycles, for backoff
    backlog: int = 0  # changes the last cycle planned but did not carry out (conflicts, a stop, an error)


class Store(ABC):
    """What the engine, the CLI and the daemon need from state, and nothing more."""

    where: str  # what errors name: the file, or the database as host:port/dbname

    @abstractmethod
    def cursor(self, calendar: str, window: Window) -> str | None:
        """The sync cursor, if it was made for this window (else None: a full read is due)."""

    @abstractmethod
    def events(self, calendar: str) -> list[Event]:
        """The mirror: every event of the calendar's window as last read."""

    @abstractmethod
    def apply_delta(self, calendar: str, account: str, delta: Delta, window: Window) -> None:
        """Merge a delta into the mirror and save its cursor and window, together."""

    @abstractmethod
    def artifacts(self, calendar: str | None = None) -> list[Artifact]: ...

    @abstractmethod
    def tombstones(self, calendar: str) -> frozenset[tuple[Kind, str]]: ...

    @abstractmethod
    def record(
        self,
        *,
        account: str,
        calendar: str,
        action: str,
        kind: Kind,
        meeting_key: str,
        reason: str,
        before: Event | None,
        after: Event | None,
        artifact: Artifact | None,
        forget: bool = False,
        tombstone: str | None = None,
    ) -> None:
        """Record one applied change, in one transaction: the audit line, the artifact row
        (upserted, or removed when `forget`), a tombstone when given, and the mirror (the
        event `after` replaces `before`; `after` None removes it)."""

    @abstractmethod
    def held(self, *, account: str | None = None, calendar: str | None = None) -> list[Held]:
        """Customer meetings that took place (with their debriefs), oldest first."""

    @abstractmethod
    def save_held(self, held: Held) -> None:
        """Insert or replace the record of one held meeting."""

    @abstractmethod
    def audit(self, account: str | None = None, limit: int | None = None) -> list[AuditEntry]: ...

    @abstractmethod
    def run_status(self, account: str) -> RunStatus: ...

    @abstractmethod
    def save_run_status(self, status: RunStatus) -> None: ...

    @abstractmethod
    def lock(self) -> AbstractContextManager[None]:
        """Hold the state for this process alone while the context lasts (the service, a sync,
        an undo); StateError naming the holder when another process has it."""

    @abstractmethod
    def locked_by(self) -> str | None:
        """Who holds the lock ("pid 1234"), or None when nobody does; changes nothing."""

    @abstractmethod
    def close(self) -> None: ...


def open_store(config: Config, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> Store:
    """The store the configuration names: a PostgreSQL database, or a SQLite file (the default)."""
    from agent.config import PostgresState

    if isinstance(config.state, PostgresState):
        from agent.pgstore import PostgresStore  # psycopg is imported only by those who use it

        return PostgresStore(config.state, clock=clock, pool_size=config.service.workers)
    return SqliteStore(config.state, clock=clock)


def migrate(state: Path | PostgresState) -> tuple[str, int, int]:
    """`callplan db migrate`: bring the state's schema to this callplan's; where, the version before and after.

    A SQLite file is migrated whenever it is opened; a PostgreSQL database only by this."""
    from agent.config import PostgresState

    if isinstance(state, PostgresState):
        from agent import pgstore

        return (state.where, *pgstore.migrate(state))
    store = SqliteStore(state)
    store.close()
    return (store.where, *store.migration)


def stamp(value: datetime | None) -> str | None:
    """A time as the store writes it: ISO 8601 in UTC (PostgreSQL reads it into a timestamptz)."""
    return value.astimezone(UTC).isoformat() if value else None


def unstamp(value: str | datetime | None) -> datetime | None:
    """A time as a backend returns it: ISO text from SQLite, a datetime from PostgreSQL."""
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.fromisoformat(value) if value else None


def upsert(table: str, columns: Sequence[str], key: Sequence[str], *, keep: Sequence[str] = (), newer: str = "") -> str:
    """An INSERT that updates the row with the same key instead (all columns but `keep`); with
    `newer`, a condition on the row there (`table`) and the one offered (`excluded`), only then."""
    names = ", ".join(f'"{column}"' for column in columns)
    updates = ", ".join(f'"{column}" = excluded."{column}"' for column in columns if column not in (*key, *keep))
    sql = f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))}) ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"
    return f"{sql} WHERE {newer}" if newer else sql


CALENDAR_COLUMNS = ("id", "account", "cursor", "window_start", "window_end", "synced_at")
EVENT_COLUMNS = ("calendar", "key", "ref", "data")
ARTIFACT_COLUMNS = ("calendar", "kind", "meeting_key", "ref", "etag", "start", "end", "meeting_start", "meeting_end",
                    "customer", "title", "created_at", "updated_at")  # fmt: skip
TOMBSTONE_COLUMNS = ("calendar", "kind", "meeting_key", "ref", "reason", "at")
HELD_COLUMNS = ("calendar", "meeting_key", "account", "customer", "externals", "title", "start", "end", "next_scheduled",
                "debrief", "debrief_content", "debriefed_at", "checked_at")  # fmt: skip
RUN_COLUMNS = ("account", "last_start", "last_end", "last_error", "next_at", "changes", "requests", "failures", "backlog")
AUDIT_COLUMNS = ("at", "account", "calendar", "action", "kind", "meeting_key", "ref", "reason", "before", "after")

PUT_EVENT = upsert("events", EVENT_COLUMNS, ("calendar", "key"))
PUT_ARTIFACT = upsert("artifacts", ARTIFACT_COLUMNS, ("calendar", "kind", "meeting_key"), keep=("created_at",))
PUT_TOMBSTONE = upsert("tombstones", TOMBSTONE_COLUMNS, ("calendar", "kind", "meeting_key"))
PUT_HELD = upsert("held", HELD_COLUMNS, ("calendar", "meeting_key"))
PUT_RUN = upsert("runs", RUN_COLUMNS, ("account",))
PUT_CALENDAR = upsert("calendars", CALENDAR_COLUMNS, ("id",))
ADD_AUDIT = f"INSERT INTO audit ({', '.join(AUDIT_COLUMNS)}) VALUES ({', '.join('?' * len(AUDIT_COLUMNS))})"


DISK_FULL = "disk full: the change was not recorded and the cycle stops here"
REBUILD = "move it aside and run again to rebuild from the calendars"


def undecodable(doing: str, exc: Exception, where: str) -> StateError:
    """A row that cannot be turned back into what the agent wrote: corruption no backend can see."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
    return StateError(f"cannot {doing}: corrupt state database (a row cannot be read: {text}); {REBUILD}", where=where)


def in_use(holder: str, where: str) -> StateError:
    """The refusal of a second callplan on the same state, naming the one that holds it."""
    return StateError(
        f"in use by another callplan process ({holder}); only one may use a state database at a time: "
        "stop the other one first (the service: systemctl stop callplan)",
        where=where,
    )


class Statements:
    """The store's SQL on one open connection of either backend (sqlite3 or psycopg), rows as dicts.

    Statements are written once, with `?` placeholders; `dialect` rewrites them for a backend
    that spells placeholders otherwise, and `value` adapts each parameter on its way in.
    """

    def __init__(self, connection: Any, dialect: Callable[[str], str] = str, value: Callable[[Any], Any] = lambda v: v) -> None:
        self._connection = connection
        self._dialect = dialect
        self._value = value

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cursor = self._connection.cursor()
        cursor.execute(self._dialect(sql), [self._value(v) for v in params])
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; how many rows it inserted, changed or deleted."""
        cursor = self._connection.cursor()
        cursor.execute(self._dialect(sql), [self._value(v) for v in params])
        return int(cursor.rowcount)

    def run_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        batch = [[self._value(v) for v in row] for row in rows]
        if batch:
            self._connection.cursor().executemany(self._dialect(sql), batch)


class SqlStore(Store):
    """The store's queries, the same on both backends; a backend opens the transactions.

    Times go in as ISO text in UTC (`stamp`) and come out as aware datetimes in UTC; JSON goes
    in and comes out as text; rows come out in the same order on both (PostgreSQL's ordered
    columns collate as SQLite compares, and NULLs sort first on both).
    """

    _clock: Callable[[], datetime]

    @abstractmethod
    def reading(self, doing: str) -> AbstractContextManager[Statements]:
        """Statements for reads; failures, and rows that cannot be decoded, become one-line StateErrors
        saying what the store was `doing` (a decoding failure is corruption: no backend sees inside a value)."""

    @abstractmethod
    def writing(self, doing: str) -> AbstractContextManager[Statements]:
        """Statements inside one transaction: all of them take effect, or none."""

    # -- mirror and cursor -----------------------------------------------------------------------

    def cursor(self, calendar: str, window: Window) -> str | None:
        with self.reading("read the sync cursor") as sql:
            rows = sql.rows("SELECT cursor, window_start, window_end FROM calendars WHERE id = ?", [calendar])
            if not rows or (unstamp(rows[0]["window_start"]), unstamp(rows[0]["window_end"])) != (window.start, window.end):
                return None
            return rows[0]["cursor"]

    def events(self, calendar: str) -> list[Event]:
        with self.reading("read the calendar mirror") as sql:
            rows = sql.rows("SELECT data FROM events WHERE calendar = ? ORDER BY key", [calendar])
            return [load_event(json.loads(row["data"])) for row in rows]

    def apply_delta(self, calendar: str, account: str, delta: Delta, window: Window) -> None:
        with self.writing("save what was read") as sql:
            if delta.full:
                sql.run("DELETE FROM events WHERE calendar = ?", [calendar])
            refs = set(delta.removed_refs) | {event.ref for event in delta.upserted}
            sql.run_many("DELETE FROM events WHERE calendar = ? AND ref = ?", [(calendar, ref) for ref in sorted(refs)])
            self._put_events(sql, calendar, delta.upserted)
            sql.run(PUT_CALENDAR, [calendar, account, delta.cursor, stamp(window.start), stamp(window.end), stamp(self._clock())])

    @staticmethod
    def _put_events(sql: Statements, calendar: str, events: Iterable[Event]) -> None:
        sql.run_many(PUT_EVENT, [(calendar, event.key, event.ref, json.dumps(dump_event(event))) for event in events])

    # -- ownership -----------------------------------------------------------------------------

    def artifacts(self, calendar: str | None = None) -> list[Artifact]:
        where = " WHERE calendar = ?" if calendar else ""
        with self.reading("read artifacts") as sql:
            rows = sql.rows(f"SELECT * FROM artifacts{where} ORDER BY calendar, meeting_start NULLS FIRST, kind", [calendar] if calendar else [])
            return [
                Artifact(
                    calendar=row["calendar"],
                    kind=Kind(row["kind"]),
                    meeting_key=row["meeting_key"],
                    ref=row["ref"],
                    etag=row["etag"],
                    start=unstamp(row["start"]),
                    end=unstamp(row["end"]),
                    meeting_start=unstamp(row["meeting_start"]),
                    meeting_end=unstamp(row["meeting_end"]),
                    customer=row["customer"],
                    title=row["title"],
                )
                for row in rows
            ]

    def tombstones(self, calendar: str) -> frozenset[tuple[Kind, str]]:
        with self.reading("read tombstones") as sql:
            rows = sql.rows("SELECT kind, meeting_key FROM tombstones WHERE calendar = ?", [calendar])
            return frozenset((Kind(row["kind"]), row["meeting_key"]) for row in rows)

    def record(
        self,
        *,
        account: str,
        calendar: str,
        action: str,
        kind: Kind,
        meeting_key: str,
        reason: str,
        before: Event | None,
        after: Event | None,
        artifact: Artifact | None,
        forget: bool = False,
        tombstone: str | None = None,
    ) -> None:
        now = stamp(self._clock())
        ref = (after or before).ref if (after or before) else (artifact.ref if artifact else "")
        with self.writing("record a change") as sql:
            sql.run(ADD_AUDIT, [
                now, account, calendar, action, kind.value, meeting_key, ref, reason,
                json.dumps(dump_event(before, source=False)) if before else None,
                json.dumps(dump_event(after, source=False)) if after else None,
            ])  # fmt: skip
            if forget:
                sql.run("DELETE FROM artifacts WHERE calendar = ? AND kind = ? AND meeting_key = ?", [calendar, kind.value, meeting_key])
            elif artifact is not None:
                sql.run(PUT_ARTIFACT, [
                    artifact.calendar, artifact.kind.value, artifact.meeting_key, artifact.ref, artifact.etag,
                    stamp(artifact.start), stamp(artifact.end), stamp(artifact.meeting_start),
                    stamp(artifact.meeting_end), artifact.customer, artifact.title, now, now,
                ])  # fmt: skip
            if tombstone is not None:
                sql.run(PUT_TOMBSTONE, [calendar, kind.value, meeting_key, ref, tombstone, now])
            if before is not None and (after is None or after.ref != before.ref):
                sql.run("DELETE FROM events WHERE calendar = ? AND key = ?", [calendar, before.key])
            if after is not None:
                self._put_events(sql, calendar, [after])

    # -- held meetings and debriefs ------------------------------------------------------------

    def held(self, *, account: str | None = None, calendar: str | None = None) -> list[Held]:
        where = [(name, value) for name, value in (("account", account), ("calendar", calendar)) if value is not None]
        condition = " WHERE " + " AND ".join(f"{name} = ?" for name, _ in where) if where else ""
        with self.reading("read held meetings") as sql:
            rows = sql.rows(f"SELECT * FROM held{condition} ORDER BY start, calendar, meeting_key", [value for _, value in where])
            return [
                Held(
                    calendar=row["calendar"],
                    meeting_key=row["meeting_key"],
                    account=row["account"],
                    customer=row["customer"],
                    title=row["title"],
                    start=unstamp(row["start"]),  # type: ignore[arg-type]  # NOT NULL
                    end=unstamp(row["end"]),  # type: ignore[arg-type]
                    externals=tuple(json.loads(row["externals"])),
                    next_scheduled=bool(row["next_scheduled"]),
                    debrief=Debrief.from_json(row["debrief"]) if row["debrief"] else None,
                    debrief_content=row["debrief_content"],
                    debriefed_at=unstamp(row["debriefed_at"]),
                    checked_at=unstamp(row["checked_at"]),
                )
                for row in rows
            ]

    def save_held(self, held: Held) -> None:
        with self.writing("record a held meeting") as sql:
            sql.run(PUT_HELD, [
                held.calendar, held.meeting_key, held.account, held.customer, json.dumps(list(held.externals)),
                held.title, stamp(held.start), stamp(held.end), held.next_scheduled,
                held.debrief.to_json() if held.debrief else None, held.debrief_content,
                stamp(held.debriefed_at), stamp(held.checked_at),
            ])  # fmt: skip

    def audit(self, account: str | None = None, limit: int | None = None) -> list[AuditEntry]:
        query = "SELECT * FROM audit" + (" WHERE account = ?" if account else "") + " ORDER BY id DESC"
        if limit:
            query += f" LIMIT {int(limit)}"
        with self.reading("read the audit log") as sql:
            rows = sql.rows(query, [account] if account else [])
            return [
                AuditEntry(
                    id=row["id"],
                    at=unstamp(row["at"]),  # type: ignore[arg-type]  # NOT NULL
                    account=row["account"],
                    calendar=row["calendar"],
                    action=row["action"],
                    kind=row["kind"],
                    meeting_key=row["meeting_key"],
                    ref=row["ref"],
                    reason=row["reason"],
                    before=json.loads(row["before"]) if row["before"] else None,
                    after=json.loads(row["after"]) if row["after"] else None,
                )
                for row in rows
            ]

    # -- run status ----------------------------------------------------------------------------

    def run_status(self, account: str) -> RunStatus:
        with self.reading("read run status") as sql:
            rows = sql.rows("SELECT * FROM runs WHERE account = ?", [account])
            if not rows:
                return RunStatus(account)
            row = rows[0]
            return RunStatus(
                account=account,
                last_start=unstamp(row["last_start"]),
                last_end=unstamp(row["last_end"]),
                last_error=row["last_error"],
                next_at=unstamp(row["next_at"]),
                changes=row["changes"],
                requests=row["requests"],
                failures=row["failures"],
                backlog=row["backlog"],
            )

    def save_run_status(self, status: RunStatus) -> None:
        with self.writing("save run status") as sql:
            sql.run(PUT_RUN, [
                status.account, stamp(status.last_start), stamp(status.last_end), status.last_error,
                stamp(status.next_at), status.changes, status.requests, status.failures, status.backlog,
            ])  # fmt: skip


def _migration_1(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE calendars (
            id TEXT PRIMARY KEY, account TEXT NOT NULL, cursor TEXT, window_start TEXT, window_end TEXT,
            synced_at TEXT);
        CREATE TABLE events (
            calendar TEXT NOT NULL, key TEXT NOT NULL, ref TEXT NOT NULL, data TEXT NOT NULL,
            PRIMARY KEY (calendar, key));
        CREATE INDEX events_ref ON events (calendar, ref);
        CREATE TABLE artifacts (
            calendar TEXT NOT NULL, kind TEXT NOT NULL, meeting_key TEXT NOT NULL, ref TEXT NOT NULL,
            etag TEXT, start TEXT, "end" TEXT, meeting_start TEXT, meeting_end TEXT,
            customer TEXT NOT NULL DEFAULT '', title TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
            PRIMARY KEY (calendar, kind, meeting_key));
        CREATE TABLE tombstones (
            calendar TEXT NOT NULL, kind TEXT NOT NULL, meeting_key TEXT NOT NULL, ref TEXT,
            reason TEXT NOT NULL, at TEXT NOT NULL,
            PRIMARY KEY (calendar, kind, meeting_key));
        CREATE TABLE audit (
            id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, account TEXT NOT NULL,
            calendar TEXT NOT NULL, action TEXT NOT NULL, kind TEXT NOT NULL,
            meeting_key TEXT NOT NULL, ref TEXT NOT NULL, reason TEXT NOT NULL,
            before TEXT, after TEXT);
        CREATE INDEX audit_account ON audit (account, id);
        CREATE TABLE runs (
            account TEXT PRIMARY KEY, last_start TEXT, last_end TEXT, last_error TEXT NOT NULL DEFAULT '',
            next_at TEXT, changes INTEGER NOT NULL DEFAULT 0, requests INTEGER NOT NULL DEFAULT 0,
            failures INTEGER NOT NULL DEFAULT 0);
        """
    )


def _migration_2(db: sqlite_utils.Database) -> None:
    db.execute("ALTER TABLE runs ADD COLUMN backlog INTEGER NOT NULL DEFAULT 0")


def _migration_3(db: sqlite_utils.Database) -> None:
    """The loop: held customer meetings and the debriefs sellers wrote about them."""
    db.executescript(
        """
        CREATE TABLE held (
            calendar TEXT NOT NULL, meeting_key TEXT NOT NULL, account TEXT NOT NULL,
            customer TEXT NOT NULL, externals TEXT NOT NULL DEFAULT '[]', title TEXT NOT NULL DEFAULT '',
            start TEXT NOT NULL, "end" TEXT NOT NULL, next_scheduled INTEGER NOT NULL DEFAULT 0,
            debrief TEXT, debrief_content TEXT NOT NULL DEFAULT '', debriefed_at TEXT, checked_at TEXT,
            PRIMARY KEY (calendar, meeting_key));
        CREATE INDEX held_account ON held (account, start);
        """
    )


# Numbered migrations: index i upgrades a database at user_version i to i + 1. Append only.
MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_migration_1, _migration_2, _migration_3]


class SqliteStore(SqlStore):
    """The store on one SQLite file in WAL mode.

    The service's worker threads share its one connection; a lock makes each method (each
    transaction) exclusive, so one account's write can never land inside another's.
    """

    def __init__(self, path: Path | str, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.path = Path(path)
        self.where = str(self.path)
        self._clock = clock
        self._serial = threading.RLock()
        with self._errors("open"):
            self.migration = self._open()

    def _open(self) -> tuple[int, int]:
        if str(self.path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            if not self.path.exists():
                os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        self.db = sqlite_utils.Database(sqlite3.connect(str(self.path), timeout=30, check_same_thread=False))
        self.db.execute("PRAGMA busy_timeout = 30000")
        quick = self.db.execute("PRAGMA quick_check").fetchone()[0]
        if quick != "ok":
            raise sqlite3.DatabaseError(f"integrity check failed: {quick}")
        if str(self.path) != ":memory:":
            self.db.enable_wal()
        return self._migrate()

    def _migrate(self) -> tuple[int, int]:
        """Bring the file to the current schema (one-machine users never run a step for it);
        the schema version before and after."""
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise StateError(
                f"written by a newer callplan (schema {version}, this one knows {len(MIGRATIONS)})", where=str(self.path)
            )
        for number in range(version, len(MIGRATIONS)):
            with self.db.atomic():
                MIGRATIONS[number](self.db)
                self.db.execute(f"PRAGMA user_version = {number + 1}")
        return version, len(MIGRATIONS)

    @contextmanager
    def _errors(self, doing: str, decoding: bool = False) -> Iterator[None]:
        """Turn SQLite failures into one-line StateErrors that name the file. With `decoding`,
        a row that cannot be turned back into what the agent wrote is corruption too (SQLite
        cannot see damage inside a value)."""
        try:
            with self._serial:
                yield
        except sqlite3.DatabaseError as exc:
            text = " ".join(str(exc).split())  # integrity checks report on several lines
            if "full" in text:
                text = DISK_FULL
            elif "not a database" in text or "malformed" in text or "integrity" in text:
                text = f"corrupt state database ({text}); {REBUILD}"
            raise StateError(f"cannot {doing}: {text}", where=self.where) from None
        except (ValueError, KeyError, TypeError) as exc:
            if not decoding:
                raise
            raise undecodable(doing, exc, self.where) from None

    @contextmanager
    def reading(self, doing: str) -> Iterator[Statements]:
        with self._errors(doing, decoding=True):
            yield Statements(self.db.conn)

    @contextmanager
    def writing(self, doing: str) -> Iterator[Statements]:
        with self._errors(doing), self.db.atomic():
            yield Statements(self.db.conn)

    # -- single instance -----------------------------------------------------------------------

    @property
    def lock_path(self) -> Path:
        """A sibling of the database: SQLite's own locks live on the database file and must not be disturbed."""
        return self.path.with_name(self.path.name + ".lock")

    def lock(self) -> AbstractContextManager[None]:
        """An exclusive flock on the lock file, which then names our PID; the kernel releases
        it when the process ends, however it ends, so a crash never leaves a stale lock."""
        return nullcontext() if str(self.path) == ":memory:" else self._flock()

    @contextmanager
    def _flock(self) -> Iterator[None]:
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise StateError(f"cannot open the lock file {self.lock_path}: {exc.strerror}", where=str(self.path)) from None
        try:
            # `callplan status` probes the lock for an instant; a few tries ride that out
            for attempt in range(5):
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if attempt == 4:
                        raise in_use(_holder(fd), self.where) from None
                    time.sleep(0.02)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            yield
            os.ftruncate(fd, 0)
        finally:
            os.close(fd)  # closing the only descriptor releases the flock

    def locked_by(self) -> str | None:
        if str(self.path) == ":memory:":
            return None
        try:
            fd = os.open(self.lock_path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _holder(fd)
        else:
            return None
        finally:
            os.close(fd)

    def close(self) -> None:
        self.db.close()


def _holder(fd: int) -> str:
    """What the lock file says about its holder: "pid 1234"."""
    text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    return f"pid {text}" if text.isdigit() else "pid unknown"
