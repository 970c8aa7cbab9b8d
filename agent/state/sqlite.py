"""The store on one SQLite file: the embedded default, for one machine."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path

import sqlite_utils

from agent.core.errors import StateError
from agent.state.sql import DISK_FULL, REBUILD, SqlStore, Statements, in_use, undecodable


def _migration_1(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE calendars (
            id TEXT PRIMARY KEY, account TEXT NOT NULL, cursor TEXT, window_start TEXT,
            window_end TEXT, synced_at TEXT);
        CREATE TABLE events (
            calendar TEXT NOT NULL, key TEXT NOT NULL, ref TEXT NOT NULL, data TEXT NOT NULL,
            PRIMARY KEY (calendar, key));
        CREATE INDEX events_ref ON events (calendar, ref);
        CREATE TABLE artifacts (
            calendar TEXT NOT NULL, kind TEXT NOT NULL, meeting_key TEXT NOT NULL,
            ref TEXT NOT NULL, etag TEXT, start TEXT, "end" TEXT, meeting_start TEXT,
            meeting_end TEXT, customer TEXT NOT NULL DEFAULT '', title TEXT NOT NULL DEFAULT '',
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
            account TEXT PRIMARY KEY, last_start TEXT, last_end TEXT,
            last_error TEXT NOT NULL DEFAULT '', next_at TEXT, changes INTEGER NOT NULL DEFAULT 0,
            requests INTEGER NOT NULL DEFAULT 0, failures INTEGER NOT NULL DEFAULT 0);
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
            customer TEXT NOT NULL, externals TEXT NOT NULL DEFAULT '[]',
            title TEXT NOT NULL DEFAULT '', start TEXT NOT NULL, "end" TEXT NOT NULL,
            next_scheduled INTEGER NOT NULL DEFAULT 0, debrief TEXT,
            debrief_content TEXT NOT NULL DEFAULT '', debriefed_at TEXT, checked_at TEXT,
            PRIMARY KEY (calendar, meeting_key));
        CREATE INDEX held_account ON held (account, start);
        """
    )


def _migration_4(db: sqlite_utils.Database) -> None:
    """Settling: when each debrief version was first read, and the last settled shared part.
    Rows from before have neither, and count as settled."""
    db.executescript(
        "ALTER TABLE held ADD COLUMN changed_at TEXT; ALTER TABLE held ADD COLUMN settled TEXT;"
    )


def _migration_5(db: sqlite_utils.Database) -> None:
    """An account column beside each calendar: rows were keyed by one "account|calendar" string
    (account names hold no "|"). SQLite cannot change a primary key, so each keyed table is
    made anew with its rows split; held and audit had an account column already."""
    account, calendar = "substr({0}, 1, instr({0}, '|') - 1)", "substr({0}, instr({0}, '|') + 1)"
    tables = {
        "calendars": (
            """account TEXT NOT NULL, calendar TEXT NOT NULL, cursor TEXT, window_start TEXT,
            window_end TEXT, synced_at TEXT, PRIMARY KEY (account, calendar)""",
            f"{account.format('id')}, {calendar.format('id')}, cursor, window_start, window_end, "
            "synced_at",
        ),
        "events": (
            """account TEXT NOT NULL, calendar TEXT NOT NULL, key TEXT NOT NULL, ref TEXT NOT NULL,
            data TEXT NOT NULL, PRIMARY KEY (account, calendar, key)""",
            f"{account.format('calendar')}, {calendar.format('calendar')}, key, ref, data",
        ),
        "artifacts": (
            """account TEXT NOT NULL, calendar TEXT NOT NULL, kind TEXT NOT NULL,
            meeting_key TEXT NOT NULL, ref TEXT NOT NULL, etag TEXT, start TEXT, "end" TEXT,
            meeting_start TEXT, meeting_end TEXT, customer TEXT NOT NULL DEFAULT '',
            title TEXT NOT NULL DEFAULT '', created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
            PRIMARY KEY (account, calendar, kind, meeting_key)""",
            f"""{account.format("calendar")}, {calendar.format("calendar")}, kind, meeting_key, ref,
            etag, start, "end", meeting_start, meeting_end, customer, title, created_at,
            updated_at""",
        ),
        "tombstones": (
            """account TEXT NOT NULL, calendar TEXT NOT NULL, kind TEXT NOT NULL,
            meeting_key TEXT NOT NULL, ref TEXT, reason TEXT NOT NULL, at TEXT NOT NULL,
            PRIMARY KEY (account, calendar, kind, meeting_key)""",
            f"{account.format('calendar')}, {calendar.format('calendar')}, kind, meeting_key, "
            "ref, reason, at",
        ),
        "held": (
            """account TEXT NOT NULL, calendar TEXT NOT NULL, meeting_key TEXT NOT NULL,
            customer TEXT NOT NULL, externals TEXT NOT NULL DEFAULT '[]',
            title TEXT NOT NULL DEFAULT '', start TEXT NOT NULL, "end" TEXT NOT NULL,
            next_scheduled INTEGER NOT NULL DEFAULT 0, debrief TEXT,
            debrief_content TEXT NOT NULL DEFAULT '', debriefed_at TEXT, checked_at TEXT,
            changed_at TEXT, settled TEXT, PRIMARY KEY (account, calendar, meeting_key)""",
            f"""account, {calendar.format("calendar")}, meeting_key, customer, externals, title,
            start, "end", next_scheduled, debrief, debrief_content, debriefed_at, checked_at,
            changed_at, settled""",
        ),
    }
    for table, (columns, split) in tables.items():
        db.execute(f"CREATE TABLE {table}_split ({columns})")
        db.execute(f"INSERT INTO {table}_split SELECT {split} FROM {table}")
        db.execute(f"DROP TABLE {table}")
        db.execute(f"ALTER TABLE {table}_split RENAME TO {table}")
    db.execute("CREATE INDEX events_ref ON events (account, calendar, ref)")
    db.execute("CREATE INDEX held_account ON held (account, start)")
    db.execute(f"UPDATE audit SET calendar = {calendar.format('calendar')}")


def _migration_6(db: sqlite_utils.Database) -> None:
    """Beside each calendar's cursor, its last plan and the generation of what plans read; the
    run status says whether the last cycle planned or skipped. A calendar from before has no
    last plan, so its next cycle plans."""
    db.executescript(
        """
        ALTER TABLE calendars ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE calendars ADD COLUMN planned_at TEXT;
        ALTER TABLE calendars ADD COLUMN plan_generation INTEGER;
        ALTER TABLE calendars ADD COLUMN plan_changes INTEGER;
        ALTER TABLE calendars ADD COLUMN plan_version TEXT;
        ALTER TABLE calendars ADD COLUMN plan_config TEXT;
        ALTER TABLE calendars ADD COLUMN plan_templates TEXT;
        ALTER TABLE calendars ADD COLUMN plan_busy TEXT;
        ALTER TABLE calendars ADD COLUMN deadline TEXT;
        ALTER TABLE calendars ADD COLUMN deadline_rule TEXT;
        ALTER TABLE calendars ADD COLUMN deadline_subject TEXT;
        ALTER TABLE runs ADD COLUMN planning TEXT NOT NULL DEFAULT '';
        """
    )


def _migration_7(db: sqlite_utils.Database) -> None:
    """The call plan: what sellers wrote in each prep (its latest version, when that was first
    read, the last one that had settled), the fingerprints of the previews callplan wrote into
    preps, and what an agenda says when its tag, written by an earlier callplan, does not."""
    db.executescript(
        """
        CREATE TABLE plans (
            account TEXT NOT NULL, calendar TEXT NOT NULL, meeting_key TEXT NOT NULL,
            meeting_start TEXT NOT NULL, plan TEXT, content TEXT NOT NULL DEFAULT '',
            changed_at TEXT, settled TEXT, PRIMARY KEY (account, calendar, meeting_key));
        CREATE TABLE previews (
            account TEXT NOT NULL, calendar TEXT NOT NULL, meeting_key TEXT NOT NULL,
            fingerprint TEXT NOT NULL, meeting_start TEXT NOT NULL, at TEXT NOT NULL,
            PRIMARY KEY (account, calendar, meeting_key, fingerprint));
        ALTER TABLE artifacts ADD COLUMN inputs TEXT NOT NULL DEFAULT '';
        """
    )


def _migration_8(db: sqlite_utils.Database) -> None:
    """The review's readiness of each held meeting: whether the seller had written a call plan
    before it, and whether the agenda reached the customer early enough. Meetings held before
    have neither: unknown."""
    db.executescript(
        "ALTER TABLE held ADD COLUMN we_ready INTEGER; ALTER TABLE held ADD COLUMN they_ready "
        "INTEGER;"
    )


# Numbered migrations: index i upgrades a database at user_version i to i + 1. Append only.
MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [
    _migration_1,
    _migration_2,
    _migration_3,
    _migration_4,
    _migration_5,
    _migration_6,
    _migration_7,
    _migration_8,
]


class SqliteStore(SqlStore):
    """The store on one SQLite file in WAL mode.

    The service's worker threads share its one connection; a lock makes each method (each
    transaction) exclusive, so one account's write can never land inside another's.

    Commits are not flushed to the disk one by one (`synchronous = NORMAL`, WAL's own
    setting): a commit is in the file once the transaction ends, and survives the process
    being killed at any instant; only a power loss or a crash of the machine may take the last
    few back, leaving the file consistent as it was a moment earlier. The agent is built for
    exactly that: a write whose record is lost is found by its ownership tag and adopted, and
    a cursor that went back re-reads what came after it. Waiting for the disk at each commit,
    under the lock, would instead bound how many cycles a process can record per second,
    whatever its CPUs.
    """

    def __init__(
        self, path: Path | str, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
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
        self.db = sqlite_utils.Database(
            sqlite3.connect(str(self.path), timeout=30, check_same_thread=False)
        )
        self.db.execute("PRAGMA busy_timeout = 30000")
        quick = self.db.execute("PRAGMA quick_check").fetchone()[0]
        if quick != "ok":
            raise sqlite3.DatabaseError(f"integrity check failed: {quick}")
        if str(self.path) != ":memory:":
            self.db.enable_wal()
            self.db.execute("PRAGMA synchronous = NORMAL")  # see the class docstring
        return self._migrate()

    def _migrate(self) -> tuple[int, int]:
        """Bring the file to the current schema (one-machine users never run a step for it);
        the schema version before and after."""
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise StateError(
                f"written by a newer callplan (schema {version}, this one knows {len(MIGRATIONS)})",
                where=str(self.path),
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
        """A sibling of the database: SQLite's own locks live on the database file and must not be
        disturbed."""
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
            raise StateError(
                f"cannot open the lock file {self.lock_path}: {exc.strerror}", where=str(self.path)
            ) from None
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
