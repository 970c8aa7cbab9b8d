"""The store's queries, written once in the SQL that SQLite and PostgreSQL have in common."""

from __future__ import annotations

import functools
import json
from abc import abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import fields
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar, Unpack

from agent.core.callplan import CallPlan, PlanRecord, PlanShared
from agent.core.clock import Deadline, Rule
from agent.core.debrief import Debrief, Shared
from agent.core.errors import StateError
from agent.core.held import Held
from agent.core.model import AgendaTag, Delta, Event, Kind, Window
from agent.core.readiness import AgendaWritten
from agent.state.codec import dump_event, load_event
from agent.state.store import (
    Applied,
    Artifact,
    AuditEntry,
    CalendarKey,
    Inputs,
    Planning,
    PlanState,
    RunStatus,
    Store,
)

if TYPE_CHECKING:
    from _typeshed import DataclassInstance


def stamp(value: datetime | None) -> str | None:
    """A time as the store writes it: ISO 8601 in UTC (PostgreSQL reads it into a timestamptz)."""
    return value.astimezone(UTC).isoformat() if value else None


def unstamp(value: str | datetime | None) -> datetime | None:
    """A time as a backend returns it: ISO text from SQLite, a datetime from PostgreSQL."""
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.fromisoformat(value) if value else None


R = TypeVar("R", bound="DataclassInstance")


@functools.cache
def _names(record: type[DataclassInstance]) -> tuple[str, ...]:
    return tuple(f.name for f in fields(record))


def loaded(
    record: type[R], row: Mapping[str, Any], times: Sequence[str] = (), **converted: Any
) -> R:
    """A `record` from a row whose columns are named as its fields: each as the row has it,
    the `times` as datetimes (`unstamp`), and what `converted` gives (enums, JSON) as given."""
    values = {name: row[name] for name in _names(record)}
    values.update({name: unstamp(row[name]) for name in times}, **converted)
    return record(**values)


def upsert(
    table: str,
    columns: Sequence[str],
    key: Sequence[str],
    *,
    keep: Sequence[str] = (),
    newer: str = "",
) -> str:
    """An INSERT that updates the row with the same key instead (all columns but `keep`); with
    `newer`, a condition on the row there (`table`) and the one offered (`excluded`), only then."""
    names = ", ".join(f'"{column}"' for column in columns)
    updates = ", ".join(
        f'"{column}" = excluded."{column}"' for column in columns if column not in (*key, *keep)
    )
    values = ", ".join("?" * len(columns))
    sql = (
        f"INSERT INTO {table} ({names}) VALUES ({values}) ON CONFLICT ({', '.join(key)}) DO UPDATE "
        f"SET {updates}"
    )
    return f"{sql} WHERE {newer}" if newer else sql


IN_CALENDAR = "account = ? AND calendar = ?"  # a CalendarKey's rows
CALENDAR_COLUMNS = ("account", "calendar", "cursor", "window_start", "window_end", "synced_at")
# beside a calendar's cursor: its last plan (and `generation`, what a plan of it reads now)
PLAN_COLUMNS = (
    "planned_at",
    "plan_generation",
    "plan_changes",
    "plan_version",
    "plan_config",
    "plan_templates",
    "plan_busy",
    "deadline",
    "deadline_rule",
    "deadline_subject",
)
EVENT_COLUMNS = ("account", "calendar", "key", "ref", "data")
ARTIFACT_COLUMNS = (
    "account",
    "calendar",
    "kind",
    "meeting_key",
    "ref",
    "etag",
    "start",
    "end",
    "meeting_start",
    "meeting_end",
    "customer",
    "title",
    "created_at",
    "updated_at",
    "inputs",
)
TOMBSTONE_COLUMNS = ("account", "calendar", "kind", "meeting_key", "ref", "reason", "at")
HELD_COLUMNS = (
    "account",
    "calendar",
    "meeting_key",
    "customer",
    "externals",
    "title",
    "start",
    "end",
    "next_scheduled",
    "debrief",
    "debrief_content",
    "debriefed_at",
    "checked_at",
    "changed_at",
    "settled",
    "we_ready",
    "they_ready",
)
CALL_PLAN_COLUMNS = (
    "account",
    "calendar",
    "meeting_key",
    "meeting_start",
    "plan",
    "content",
    "changed_at",
    "settled",
)
PREVIEW_COLUMNS = ("account", "calendar", "meeting_key", "fingerprint", "meeting_start", "at")
RUN_COLUMNS = (
    "account",
    "last_start",
    "last_end",
    "last_error",
    "next_at",
    "changes",
    "requests",
    "failures",
    "backlog",
    "planning",
)
AUDIT_COLUMNS = (
    "at",
    "account",
    "calendar",
    "action",
    "kind",
    "meeting_key",
    "ref",
    "reason",
    "before",
    "after",
)

PUT_EVENT = upsert("events", EVENT_COLUMNS, ("account", "calendar", "key"))
PUT_ARTIFACT = upsert(
    "artifacts",
    ARTIFACT_COLUMNS,
    ("account", "calendar", "kind", "meeting_key"),
    keep=("created_at",),
)
PUT_TOMBSTONE = upsert(
    "tombstones", TOMBSTONE_COLUMNS, ("account", "calendar", "kind", "meeting_key")
)
PUT_HELD = upsert("held", HELD_COLUMNS, ("account", "calendar", "meeting_key"))
PUT_CALL_PLAN = upsert("plans", CALL_PLAN_COLUMNS, ("account", "calendar", "meeting_key"))
ADD_PREVIEW = (
    f"INSERT INTO previews ({', '.join(PREVIEW_COLUMNS)}) VALUES "
    f"({', '.join('?' * len(PREVIEW_COLUMNS))}) ON CONFLICT DO NOTHING"
)
PUT_RUN = upsert("runs", RUN_COLUMNS, ("account",))
PUT_CALENDAR = upsert("calendars", CALENDAR_COLUMNS, ("account", "calendar"))
ADD_AUDIT = (
    f"INSERT INTO audit ({', '.join(AUDIT_COLUMNS)}) VALUES ({', '.join('?' * len(AUDIT_COLUMNS))})"
)
# a write of what plans read: every plan of the account made before it is stale
NEW_GENERATION = "UPDATE calendars SET generation = generation + 1 WHERE account = ?"
SAVE_PLAN = (
    f"UPDATE calendars SET {', '.join(f'{column} = ?' for column in PLAN_COLUMNS)} "
    "WHERE account = ? AND calendar = ?"
)


DISK_FULL = "disk full: the change was not recorded and the cycle stops here"
REBUILD = "move it aside and run again to rebuild from the calendars"


def _which(key: CalendarKey | None, account: str | None) -> tuple[str, list[str]]:
    """The WHERE clause and its parameters for one calendar's rows, one account's, or all."""
    if key is not None:
        return f" WHERE {IN_CALENDAR}", list(key)
    if account is not None:
        return " WHERE account = ?", [account]
    return "", []


def undecodable(doing: str, exc: Exception, where: str) -> StateError:
    """A row that cannot be turned back into what the agent wrote: corruption no backend can see."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
    return StateError(
        f"cannot {doing}: corrupt state database (a row cannot be read: {text}); {REBUILD}",
        where=where,
    )


def in_use(holder: str, where: str) -> StateError:
    """The refusal of a second callplan on the same state, naming the one that holds it."""
    return StateError(
        f"in use by another callplan process ({holder}); only one may use a state database at a "
        "time: stop the other one first (the service: systemctl stop callplan)",
        where=where,
    )


class Statements:
    """The store's SQL on one open connection of either backend (sqlite3 or psycopg), rows as dicts.

    Statements are written once, with `?` placeholders; `dialect` rewrites them for a backend
    that spells placeholders otherwise, and `value` adapts each parameter on its way in.
    """

    def __init__(
        self,
        connection: Any,
        dialect: Callable[[str], str] = str,
        value: Callable[[Any], Any] = lambda v: v,
    ) -> None:
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
        """Statements for reads; failures, and rows that cannot be decoded, become one-line
        StateErrors saying what the store was `doing` (a decoding failure is corruption: no backend
        sees inside a value)."""

    @abstractmethod
    def writing(self, doing: str) -> AbstractContextManager[Statements]:
        """Statements inside one transaction: all of them take effect, or none."""

    # -- mirror and cursor -----------------------------------------------------------------------

    def cursor(self, key: CalendarKey, window: Window) -> str | None:
        with self.reading("read the sync cursor") as sql:
            rows = sql.rows(
                f"SELECT cursor, window_start, window_end FROM calendars WHERE {IN_CALENDAR}", key
            )
            if not rows or (unstamp(rows[0]["window_start"]), unstamp(rows[0]["window_end"])) != (
                window.start,
                window.end,
            ):
                return None
            cursor: str | None = rows[0]["cursor"]
            return cursor

    def events(self, key: CalendarKey) -> list[Event]:
        with self.reading("read the calendar mirror") as sql:
            rows = sql.rows(f"SELECT data FROM events WHERE {IN_CALENDAR} ORDER BY key", key)
            return [load_event(json.loads(row["data"])) for row in rows]

    def apply_delta(self, key: CalendarKey, delta: Delta, window: Window) -> Planning:
        with self.writing("save what was read") as sql:
            if delta.full:
                sql.run(f"DELETE FROM events WHERE {IN_CALENDAR}", key)
            refs = set(delta.removed_refs) | {event.ref for event in delta.upserted}
            sql.run_many(
                f"DELETE FROM events WHERE {IN_CALENDAR} AND ref = ?",
                [(*key, ref) for ref in sorted(refs)],
            )
            self._put_events(sql, key, delta.upserted)
            sql.run(
                PUT_CALENDAR,
                [*key, delta.cursor, stamp(window.start), stamp(window.end), stamp(self._clock())],
            )
            if delta.full or refs:  # not a quiet read, which moved the cursor only
                sql.run(NEW_GENERATION, [key.account])
            return _planning(sql, key)

    # -- the last plan -------------------------------------------------------------------------

    def planning(self, key: CalendarKey) -> Planning:
        with self.reading("read the last plan") as sql:
            return _planning(sql, key)

    def save_plan(self, key: CalendarKey, state: PlanState) -> None:
        deadline = state.deadline
        with self.writing("save the last plan") as sql:
            sql.run(
                SAVE_PLAN,
                [
                    stamp(state.at),
                    state.generation,
                    state.changes,
                    *state.inputs,
                    stamp(deadline.at) if deadline else None,
                    deadline.rule.value if deadline else None,
                    deadline.subject if deadline else None,
                    *key,
                ],
            )

    @staticmethod
    def _put_events(sql: Statements, key: CalendarKey, events: Iterable[Event]) -> None:
        sql.run_many(
            PUT_EVENT,
            [(*key, event.key, event.ref, json.dumps(dump_event(event))) for event in events],
        )

    # -- ownership -----------------------------------------------------------------------------

    def artifacts(
        self, key: CalendarKey | None = None, *, account: str | None = None
    ) -> list[Artifact]:
        condition, params = _which(key, account)
        order = "account, calendar, meeting_start NULLS FIRST, kind"
        with self.reading("read artifacts") as sql:
            rows = sql.rows(f"SELECT * FROM artifacts{condition} ORDER BY {order}", params)
            times = ("start", "end", "meeting_start", "meeting_end")
            return [loaded(Artifact, row, times, kind=Kind(row["kind"])) for row in rows]

    def tombstones(self, key: CalendarKey) -> frozenset[tuple[Kind, str]]:
        with self.reading("read tombstones") as sql:
            rows = sql.rows(f"SELECT kind, meeting_key FROM tombstones WHERE {IN_CALENDAR}", key)
            return frozenset((Kind(row["kind"]), row["meeting_key"]) for row in rows)

    def record(self, **change: Unpack[Applied]) -> None:
        key, kind, meeting_key = change["key"], change["kind"], change["meeting_key"]
        before, after, artifact = change["before"], change["after"], change["artifact"]
        tombstone = change.get("tombstone")
        now = stamp(self._clock())
        event = after or before
        ref = event.ref if event else (artifact.ref if artifact else change.get("ref", ""))
        with self.writing("record a change") as sql:
            sql.run(
                ADD_AUDIT,
                [
                    now,
                    *key,
                    change["action"],
                    kind.value,
                    meeting_key,
                    ref,
                    change["reason"],
                    json.dumps(dump_event(before, source=False)) if before else None,
                    json.dumps(dump_event(after, source=False)) if after else None,
                ],
            )
            if change.get("forget", False):
                sql.run(
                    f"DELETE FROM artifacts WHERE {IN_CALENDAR} AND kind = ? AND meeting_key = ?",
                    [*key, kind.value, meeting_key],
                )
            elif artifact is not None:
                sql.run(
                    PUT_ARTIFACT,
                    [
                        artifact.account,
                        artifact.calendar,
                        artifact.kind.value,
                        artifact.meeting_key,
                        artifact.ref,
                        artifact.etag,
                        stamp(artifact.start),
                        stamp(artifact.end),
                        stamp(artifact.meeting_start),
                        stamp(artifact.meeting_end),
                        artifact.customer,
                        artifact.title,
                        now,
                        now,
                        artifact.inputs,
                    ],
                )
            if tombstone is not None:
                sql.run(PUT_TOMBSTONE, [*key, kind.value, meeting_key, ref, tombstone, now])
            if before is not None and (after is None or after.ref != before.ref):
                sql.run(f"DELETE FROM events WHERE {IN_CALENDAR} AND key = ?", [*key, before.key])
            if after is not None:
                self._put_events(sql, key, [after])
                tag = after.block_tag
                if tag is not None and tag.kind is Kind.PREP and tag.preview:
                    sql.run(
                        ADD_PREVIEW,
                        [*key, tag.meeting_key, tag.preview, stamp(tag.meeting.start), now],
                    )
            sql.run(NEW_GENERATION, [key.account])

    # -- held meetings and debriefs ------------------------------------------------------------

    def held(self, key: CalendarKey | None = None, *, account: str | None = None) -> list[Held]:
        condition, params = _which(key, account)
        with self.reading("read held meetings") as sql:
            rows = sql.rows(
                f"SELECT * FROM held{condition} ORDER BY start, account, calendar, meeting_key",
                params,
            )
            times = ("start", "end", "debriefed_at", "checked_at", "changed_at")
            return [
                loaded(
                    Held,
                    row,
                    times,
                    externals=tuple(json.loads(row["externals"])),
                    next_scheduled=bool(row["next_scheduled"]),
                    we_ready=_flag(row["we_ready"]),
                    they_ready=_flag(row["they_ready"]),
                    debrief=Debrief.from_json(row["debrief"]) if row["debrief"] else None,
                    settled=Shared.from_json(row["settled"]) if row["settled"] else None,
                )
                for row in rows
            ]

    def save_held(self, held: Held) -> None:
        with self.writing("record a held meeting") as sql:
            sql.run(
                PUT_HELD,
                [
                    held.account,
                    held.calendar,
                    held.meeting_key,
                    held.customer,
                    json.dumps(list(held.externals)),
                    held.title,
                    stamp(held.start),
                    stamp(held.end),
                    held.next_scheduled,
                    held.debrief.to_json() if held.debrief else None,
                    held.debrief_content,
                    stamp(held.debriefed_at),
                    stamp(held.checked_at),
                    stamp(held.changed_at),
                    held.settled.to_json() if held.settled else None,
                    held.we_ready,
                    held.they_ready,
                ],
            )
            sql.run(NEW_GENERATION, [held.account])

    # -- call plans and previews -----------------------------------------------------------------

    def plans(self, key: CalendarKey) -> dict[str, PlanRecord]:
        with self.reading("read call plans") as sql:
            rows = sql.rows(f"SELECT * FROM plans WHERE {IN_CALENDAR}", key)
            return {
                row["meeting_key"]: PlanRecord(
                    account=row["account"],
                    calendar=row["calendar"],
                    meeting_key=row["meeting_key"],
                    meeting_start=unstamp(row["meeting_start"]),  # type: ignore[arg-type]
                    plan=CallPlan.from_json(row["plan"]) if row["plan"] else None,
                    content=row["content"],
                    changed_at=unstamp(row["changed_at"]),
                    settled=PlanShared.from_json(row["settled"]) if row["settled"] else None,
                )
                for row in rows
            }

    def save_call_plan(self, plan: PlanRecord) -> None:
        with self.writing("record a call plan") as sql:
            sql.run(
                PUT_CALL_PLAN,
                [
                    plan.account,
                    plan.calendar,
                    plan.meeting_key,
                    stamp(plan.meeting_start),
                    plan.plan.to_json() if plan.plan else None,
                    plan.content,
                    stamp(plan.changed_at),
                    plan.settled.to_json() if plan.settled else None,
                ],
            )
            sql.run(NEW_GENERATION, [plan.account])

    def previews(self, key: CalendarKey) -> dict[str, frozenset[str]]:
        with self.reading("read preview fingerprints") as sql:
            rows = sql.rows(
                f"SELECT meeting_key, fingerprint FROM previews WHERE {IN_CALENDAR}", key
            )
        found: dict[str, set[str]] = {}
        for row in rows:
            found.setdefault(row["meeting_key"], set()).add(row["fingerprint"])
        return {meeting: frozenset(fingerprints) for meeting, fingerprints in found.items()}

    def forget_plans(self, key: CalendarKey, before: datetime) -> None:
        with self.writing("forget old call plans") as sql:
            sql.run(
                f"DELETE FROM previews WHERE {IN_CALENDAR} AND meeting_start < ?",
                [*key, stamp(before)],
            )
            sql.run(
                f"DELETE FROM plans WHERE {IN_CALENDAR} AND meeting_start < ?",
                [*key, stamp(before)],
            )

    def agenda_rewrites(self, key: CalendarKey, since: datetime) -> dict[str, int]:
        with self.reading("count agenda rewrites") as sql:
            rows = sql.rows(
                f"SELECT meeting_key, before FROM audit WHERE {IN_CALENDAR} AND kind = ? AND "
                "action = 'write agenda' AND at >= ?",
                [*key, Kind.AGENDA.value, stamp(since)],
            )
            counts: dict[str, int] = {}
            for row in rows:
                before = json.loads(row["before"]) if row["before"] else {}
                if AgendaTag.decode(before.get("agenda_tag") or "") is not None:
                    counts[row["meeting_key"]] = counts.get(row["meeting_key"], 0) + 1
            return counts

    def agenda_written(self, key: CalendarKey, meeting_key: str) -> AgendaWritten:
        with self.reading("read when the agenda was written") as sql:
            sent = sql.rows(
                f"SELECT min(at) AS at FROM audit WHERE {IN_CALENDAR} AND kind = ? AND "
                "meeting_key = ? AND action = 'write agenda'",
                [*key, Kind.AGENDA.value, meeting_key],
            )
            drafted = sql.rows(
                f"SELECT min(at) AS at FROM previews WHERE {IN_CALENDAR} AND meeting_key = ?",
                [*key, meeting_key],
            )
            return AgendaWritten(unstamp(sent[0]["at"]), unstamp(drafted[0]["at"]))

    def calendars(self, account: str) -> list[str]:
        with self.reading("read the calendars") as sql:
            rows = sql.rows(
                "SELECT calendar FROM calendars WHERE account = ? ORDER BY calendar", [account]
            )
            return [row["calendar"] for row in rows]

    def audit(self, account: str | None = None, limit: int | None = None) -> list[AuditEntry]:
        query = (
            "SELECT * FROM audit" + (" WHERE account = ?" if account else "") + " ORDER BY id DESC"
        )
        if limit:
            query += f" LIMIT {int(limit)}"
        with self.reading("read the audit log") as sql:
            rows = sql.rows(query, [account] if account else [])
            return [
                loaded(
                    AuditEntry,
                    row,
                    ("at",),
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
            return loaded(RunStatus, rows[0], ("last_start", "last_end", "next_at"))

    def save_run_statuses(self, statuses: Sequence[RunStatus]) -> None:
        with self.writing("save run status") as sql:
            for status in statuses:
                sql.run(
                    PUT_RUN,
                    [
                        status.account,
                        stamp(status.last_start),
                        stamp(status.last_end),
                        status.last_error,
                        stamp(status.next_at),
                        status.changes,
                        status.requests,
                        status.failures,
                        status.backlog,
                        status.planning,
                    ],
                )


def _flag(value: int | bool | None) -> bool | None:
    """A yes/no/unknown column: SQLite keeps it as 0, 1 or NULL, PostgreSQL as a boolean."""
    return None if value is None else bool(value)


def _planning(sql: Statements, key: CalendarKey) -> Planning:
    """The calendar's last plan and the generation now, from its row."""
    columns = ", ".join(PLAN_COLUMNS)
    rows = sql.rows(f"SELECT generation, {columns} FROM calendars WHERE {IN_CALENDAR}", key)
    if not rows:
        return Planning(None, 0)
    return Planning(_plan_state(rows[0]), rows[0]["generation"])


def _plan_state(row: dict[str, Any]) -> PlanState | None:
    """The last plan in a calendar's row; None when there is none, or when it names a rule this
    callplan does not know (a newer one kept it): then the next cycle plans, as it would."""
    if row["planned_at"] is None:
        return None
    deadline = None
    if row["deadline"] is not None:
        try:
            rule = Rule.named(row["deadline_rule"])
        except ValueError:
            return None
        deadline = Deadline(unstamp(row["deadline"]), rule, row["deadline_subject"] or "")  # type: ignore[arg-type]
    return PlanState(
        at=unstamp(row["planned_at"]),  # type: ignore[arg-type]
        generation=row["plan_generation"],
        inputs=Inputs(
            row["plan_version"], row["plan_config"], row["plan_templates"], row["plan_busy"]
        ),
        changes=row["plan_changes"],
        deadline=deadline,
    )
