"""The state store: one small interface, with SQLite (via sqlite-utils) behind it.

The store keeps a mirror of each calendar's window (so a quiet calendar costs one request),
the sync cursor, what the agent owns, tombstones, the debriefs sellers wrote, per-account
run status and an audit log of every change applied (so `callplan undo` can revert it all).

Nothing outside this module may assume SQLite, one process, or a local file: an organisation
that outgrows one machine runs agent replicas against another implementation of `Store`.
Every method that writes is one transaction, so a crash leaves the state as it was before
the call or after it, never in between. `lock()` keeps a second agent off the same state
(a scheduler per state database, PROVIDER-NOTES), each store in its own way.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from agent.codec import dump_event, load_event
from agent.debrief import Debrief, Shared
from agent.errors import StateError
from agent.held import Held
from agent.model import Delta, Event, Kind, Window
from agent.planner import Record


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


def _stamp(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


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


def _migration_4(db: sqlite_utils.Database) -> None:
    """Settling: when each debrief version was first read, and the last settled shared part.
    Rows from before have neither, and count as settled."""
    db.executescript("ALTER TABLE held ADD COLUMN changed_at TEXT; ALTER TABLE held ADD COLUMN settled TEXT;")


# Numbered migrations: index i upgrades a database at user_version i to i + 1. Append only.
MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_migration_1, _migration_2, _migration_3, _migration_4]


class SqliteStore(Store):
    """The store on one SQLite file in WAL mode.

    The service's worker threads share its one connection; a lock makes each method (each
    transaction) exclusive, so one account's write can never land inside another's.
    """

    def __init__(self, path: Path | str, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.path = Path(path)
        self._clock = clock
        self._serial = threading.RLock()
        with self._errors("open"):
            self._open()

    def _open(self) -> None:
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
        self._migrate()

    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise StateError(
                f"written by a newer callplan (schema {version}, this one knows {len(MIGRATIONS)})", where=str(self.path)
            )
        for number in range(version, len(MIGRATIONS)):
            with self.db.atomic():
                MIGRATIONS[number](self.db)
                self.db.execute(f"PRAGMA user_version = {number + 1}")

    @contextmanager
    def _errors(self, doing: str, decoding: bool = False) -> Iterator[None]:
        """Turn SQLite failures into one-line StateErrors that name the file. With `decoding`,
        a row that cannot be turned back into what the agent wrote is corruption too (SQLite
        cannot see damage inside a value)."""
        rebuild = "move it aside and run again to rebuild from the calendars"
        try:
            with self._serial:
                yield
        except sqlite3.DatabaseError as exc:
            text = " ".join(str(exc).split())  # integrity checks report on several lines
            if "full" in text:
                text = "disk full: the change was not recorded and the cycle stops here"
            elif "not a database" in text or "malformed" in text or "integrity" in text:
                text = f"corrupt state database ({text}); {rebuild}"
            raise StateError(f"cannot {doing}: {text}", where=str(self.path)) from None
        except (ValueError, KeyError, TypeError) as exc:
            if not decoding:
                raise
            text = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
            raise StateError(f"cannot {doing}: corrupt state database (a row cannot be read: {text}); {rebuild}",
                             where=str(self.path)) from None  # fmt: skip

    # -- mirror and cursor -----------------------------------------------------------------------

    def cursor(self, calendar: str, window: Window) -> str | None:
        with self._errors("read the sync cursor"):
            row = self.db.execute(
                "SELECT cursor, window_start, window_end FROM calendars WHERE id = ?", [calendar]
            ).fetchone()
        if row is None or (row[1], row[2]) != (_stamp(window.start), _stamp(window.end)):
            return None
        return row[0]

    def events(self, calendar: str) -> list[Event]:
        with self._errors("read the calendar mirror", decoding=True):
            rows = self.db.execute("SELECT data FROM events WHERE calendar = ? ORDER BY key", [calendar]).fetchall()
            return [load_event(json.loads(row[0])) for row in rows]

    def apply_delta(self, calendar: str, account: str, delta: Delta, window: Window) -> None:
        with self._errors("save what was read"), self.db.atomic():
            if delta.full:
                self.db.execute("DELETE FROM events WHERE calendar = ?", [calendar])
            refs = set(delta.removed_refs) | {event.ref for event in delta.upserted}
            for ref in refs:
                self.db.execute("DELETE FROM events WHERE calendar = ? AND ref = ?", [calendar, ref])
            self._put_events(calendar, delta.upserted)
            self.db.execute(
                "INSERT INTO calendars (id, account, cursor, window_start, window_end, synced_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET cursor = excluded.cursor, "
                "window_start = excluded.window_start, window_end = excluded.window_end, "
                "synced_at = excluded.synced_at, account = excluded.account",
                [calendar, account, delta.cursor, _stamp(window.start), _stamp(window.end), _stamp(self._clock())],
            )

    def _put_events(self, calendar: str, events: Iterable[Event]) -> None:
        self.db.conn.executemany(
            "INSERT OR REPLACE INTO events (calendar, key, ref, data) VALUES (?, ?, ?, ?)",
            [(calendar, event.key, event.ref, json.dumps(dump_event(event))) for event in events],
        )

    # -- ownership -----------------------------------------------------------------------------

    def artifacts(self, calendar: str | None = None) -> list[Artifact]:
        sql = "SELECT * FROM artifacts" + (" WHERE calendar = ?" if calendar else "") + " ORDER BY calendar, meeting_start, kind"
        with self._errors("read artifacts", decoding=True):
            rows = list(self.db.query(sql, [calendar] if calendar else []))
            return [
                Artifact(
                    calendar=row["calendar"],
                    kind=Kind(row["kind"]),
                    meeting_key=row["meeting_key"],
                    ref=row["ref"],
                    etag=row["etag"],
                    start=_time(row["start"]),
                    end=_time(row["end"]),
                    meeting_start=_time(row["meeting_start"]),
                    meeting_end=_time(row["meeting_end"]),
                    customer=row["customer"],
                    title=row["title"],
                )
                for row in rows
            ]

    def tombstones(self, calendar: str) -> frozenset[tuple[Kind, str]]:
        with self._errors("read tombstones", decoding=True):
            rows = self.db.execute("SELECT kind, meeting_key FROM tombstones WHERE calendar = ?", [calendar]).fetchall()
            return frozenset((Kind(kind), key) for kind, key in rows)

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
        now = _stamp(self._clock())
        ref = (after or before).ref if (after or before) else (artifact.ref if artifact else "")
        with self._errors("record a change"), self.db.atomic():
            self.db.execute(
                "INSERT INTO audit (at, account, calendar, action, kind, meeting_key, ref, reason, before, after) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    now, account, calendar, action, kind.value, meeting_key, ref, reason,
                    json.dumps(dump_event(before, source=False)) if before else None,
                    json.dumps(dump_event(after, source=False)) if after else None,
                ],
            )  # fmt: skip
            if forget:
                self.db.execute(
                    "DELETE FROM artifacts WHERE calendar = ? AND kind = ? AND meeting_key = ?",
                    [calendar, kind.value, meeting_key],
                )
            elif artifact is not None:
                self._put_artifact(artifact, now)
            if tombstone is not None:
                self.db.execute(
                    "INSERT OR REPLACE INTO tombstones (calendar, kind, meeting_key, ref, reason, at) VALUES (?, ?, ?, ?, ?, ?)",
                    [calendar, kind.value, meeting_key, ref, tombstone, now],
                )
            if before is not None and (after is None or after.ref != before.ref):
                self.db.execute("DELETE FROM events WHERE calendar = ? AND key = ?", [calendar, before.key])
            if after is not None:
                self._put_events(calendar, [after])

    def _put_artifact(self, artifact: Artifact, now: str | None) -> None:
        self.db.execute(
            'INSERT INTO artifacts (calendar, kind, meeting_key, ref, etag, start, "end", meeting_start, meeting_end, '
            "customer, title, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(calendar, kind, meeting_key) DO UPDATE SET ref = excluded.ref, etag = excluded.etag, "
            'start = excluded.start, "end" = excluded."end", meeting_start = excluded.meeting_start, '
            "meeting_end = excluded.meeting_end, customer = excluded.customer, title = excluded.title, "
            "updated_at = excluded.updated_at",
            [
                artifact.calendar, artifact.kind.value, artifact.meeting_key, artifact.ref, artifact.etag,
                _stamp(artifact.start), _stamp(artifact.end), _stamp(artifact.meeting_start),
                _stamp(artifact.meeting_end), artifact.customer, artifact.title, now, now,
            ],
        )  # fmt: skip

    # -- held meetings and debriefs ------------------------------------------------------------

    def held(self, *, account: str | None = None, calendar: str | None = None) -> list[Held]:
        where = [(name, value) for name, value in (("account", account), ("calendar", calendar)) if value is not None]
        sql = "SELECT * FROM held" + (" WHERE " + " AND ".join(f"{name} = ?" for name, _ in where) if where else "")
        with self._errors("read held meetings", decoding=True):
            rows = list(self.db.query(sql + " ORDER BY start, calendar, meeting_key", [value for _, value in where]))
            return [
                Held(
                    calendar=row["calendar"],
                    meeting_key=row["meeting_key"],
                    account=row["account"],
                    customer=row["customer"],
                    title=row["title"],
                    start=datetime.fromisoformat(row["start"]),
                    end=datetime.fromisoformat(row["end"]),
                    externals=tuple(json.loads(row["externals"])),
                    next_scheduled=bool(row["next_scheduled"]),
                    debrief=Debrief.from_json(row["debrief"]) if row["debrief"] else None,
                    debrief_content=row["debrief_content"],
                    debriefed_at=_time(row["debriefed_at"]),
                    checked_at=_time(row["checked_at"]),
                    changed_at=_time(row["changed_at"]),
                    settled=Shared.from_json(row["settled"]) if row["settled"] else None,
                )
                for row in rows
            ]

    def save_held(self, held: Held) -> None:
        with self._errors("record a held meeting"), self.db.atomic():
            self.db.execute(
                'INSERT OR REPLACE INTO held (calendar, meeting_key, account, customer, externals, title, start, "end", '
                "next_scheduled, debrief, debrief_content, debriefed_at, checked_at, changed_at, settled) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    held.calendar, held.meeting_key, held.account, held.customer, json.dumps(list(held.externals)),
                    held.title, _stamp(held.start), _stamp(held.end), int(held.next_scheduled),
                    held.debrief.to_json() if held.debrief else None, held.debrief_content,
                    _stamp(held.debriefed_at), _stamp(held.checked_at), _stamp(held.changed_at),
                    held.settled.to_json() if held.settled else None,
                ],
            )  # fmt: skip

    def audit(self, account: str | None = None, limit: int | None = None) -> list[AuditEntry]:
        sql = "SELECT * FROM audit" + (" WHERE account = ?" if account else "") + " ORDER BY id DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        with self._errors("read the audit log", decoding=True):
            rows = list(self.db.query(sql, [account] if account else []))
            return [
                AuditEntry(
                    id=row["id"],
                    at=datetime.fromisoformat(row["at"]),
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
        with self._errors("read run status", decoding=True):
            rows = list(self.db.query("SELECT * FROM runs WHERE account = ?", [account]))
            if not rows:
                return RunStatus(account)
            row = rows[0]
            return RunStatus(
                account=account,
                last_start=_time(row["last_start"]),
                last_end=_time(row["last_end"]),
                last_error=row["last_error"],
                next_at=_time(row["next_at"]),
                changes=row["changes"],
                requests=row["requests"],
                failures=row["failures"],
                backlog=row["backlog"],
            )

    def save_run_status(self, status: RunStatus) -> None:
        with self._errors("save run status"), self.db.atomic():
            self.db.execute(
                "INSERT OR REPLACE INTO runs (account, last_start, last_end, last_error, next_at, changes, requests, "
                "failures, backlog) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    status.account, _stamp(status.last_start), _stamp(status.last_end), status.last_error,
                    _stamp(status.next_at), status.changes, status.requests, status.failures, status.backlog,
                ],
            )  # fmt: skip

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
                        raise StateError(
                            f"in use by another callplan process ({_holder(fd)}); only one may use a state "
                            "database at a time: stop the other one first (the service: systemctl stop callplan)",
                            where=str(self.path),
                        ) from None
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
