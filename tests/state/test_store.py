"""The state store: one contract, proven on SQLite and on PostgreSQL, then what only SQLite has
(a private file in WAL mode, migrations on open, flock, corrupt and full files)."""

from __future__ import annotations

import json
import os
import random
import socket
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
import sqlite_utils

from agent.config.settings import PostgresState
from agent.core.callplan import CallPlan, PlanRecord, PlanShared, Topic
from agent.core.clock import Deadline, Rule
from agent.core.errors import StateError
from agent.core.held import Held
from agent.core.model import Delta, Kind, Source, Window
from agent.core.readiness import AgendaWritten
from agent.state.codec import dump_event, load_event
from agent.state.sqlite import MIGRATIONS, SqliteStore
from agent.state.store import (
    Artifact,
    CalendarKey,
    Inputs,
    Planning,
    PlanState,
    RunStatus,
    Store,
)
from agent.text.debrief import parse
from agent.text.form import fill_in
from tests.support.helpers import World, at, meeting

WINDOW = Window(at(0, 0), at(14, 0))
CAL, OTHER = CalendarKey("bo", "cal"), CalendarKey("bo", "other")
WORK = CalendarKey("bo", "work")


class Backend:
    """A state on one backend: stores opened on it share it, as two processes would."""

    def __init__(self, name: str, tmp_path: Path, state: PostgresState | None) -> None:
        self.name = name
        self.path = tmp_path / "state.db"
        self.state = state
        self.opened: list[Store] = []

    def open(self, clock: Callable[[], datetime] | None = None) -> Store:
        if self.state is not None:
            from agent.state.postgres import PostgresStore

            store: Store = (
                PostgresStore(self.state, clock=clock) if clock else PostgresStore(self.state)
            )
        else:
            store = SqliteStore(self.path, clock=clock) if clock else SqliteStore(self.path)
        self.opened.append(store)
        return store

    @property
    def where(self) -> str:
        return self.state.where if self.state is not None else str(self.path)

    @property
    def holder(self) -> str:
        """How the lock's holder (this process) is named."""
        return f"pid {os.getpid()}" + (
            f" on {socket.gethostname()}" if self.state is not None else ""
        )

    def execute(self, sql: str) -> None:
        """A statement run behind the store's back."""
        if self.state is not None:
            with psycopg.connect(self.state.url, autocommit=True) as connection:
                connection.execute(sql.encode())
        else:
            with sqlite3.connect(self.path) as connection:
                connection.execute(sql)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    state = request.getfixturevalue("postgres_state") if request.param == "postgresql" else None
    backend = Backend(request.param, tmp_path, state)
    yield backend
    for store in backend.opened:
        store.close()


def artifact(
    key: str = "m1",
    kind: Kind = Kind.PREP,
    calendar: CalendarKey = CalendarKey("alex", "work"),
    **fields: object,
) -> Artifact:
    values: dict[str, object] = dict(
        account=calendar.account,
        calendar=calendar.calendar,
        kind=kind,
        meeting_key=key,
        ref=f"ref-{kind}-{key}",
        etag="e1",
        start=at(0, 9, 45),
        end=at(0, 10),
        meeting_start=at(0, 10),
        meeting_end=at(0, 11),
        customer="globex.example",
        title="Globex",
    )
    values.update(fields)
    return Artifact(**values)  # type: ignore[arg-type]


def tombstone(store: Store, key: CalendarKey) -> None:
    """A person deleted the prep block of meeting k1 in calendar `key`."""
    store.record(
        key=key,
        action="tombstone",
        kind=Kind.PREP,
        meeting_key="k1",
        reason="deleted by a person",
        before=None,
        after=None,
        artifact=None,
        forget=True,
        tombstone="deleted by a person",
    )


class TestContract:
    """What every backend of the Store interface promises."""

    def test_a_store_opens_again_on_the_same_state(self, backend: Backend) -> None:
        backend.open().close()
        store = backend.open()
        store.save_run_status(RunStatus("alex", changes=1))
        store.close()
        assert backend.open().run_status("alex").changes == 1

    def test_every_applied_change_is_in_the_audit_log_with_before_and_after(
        self, backend: Backend
    ) -> None:
        world = World(store=backend.open)
        demo = world.add(meeting("Globex", at(0, 10), description="Intro"))
        world.cycle()
        entries = world.store.audit()
        actions = sorted(entry.action for entry in entries)
        assert actions == ["create", "create", "write agenda"]
        agenda = next(entry for entry in entries if entry.action == "write agenda")
        assert agenda.before is not None and agenda.after is not None
        assert agenda.before["description"] == "Intro"
        assert agenda.after["description"].startswith("Intro\n\n")
        assert agenda.meeting_key == demo.key and agenda.at == world.now
        assert {a.kind for a in world.store.artifacts()} == {"prep", "debrief", "agenda"}
        assert world.applied() == []  # what it recorded is what the next cycle finds

    def test_the_mirror_keeps_the_text_a_connector_read_and_the_audit_log_leaves_it_out(
        self, backend: Backend
    ) -> None:
        """A connector's `source` comes back from the mirror (so a write needs no read first),
        also from rows written before it existed (none then); the audit log keeps what the
        event said, not the provider's text of it."""
        store = backend.open()
        read = replace(
            meeting("Globex", at(0, 10)),
            key="k1",
            ref="r1",
            etag="e1",
            source=Source("e1", "BEGIN:VCALENDAR\r\n..."),
        )
        store.apply_delta(CAL, Delta(upserted=(read,), cursor="c1", full=True), WINDOW)
        (mirrored,) = store.events(CAL)
        assert mirrored == read and mirrored.source == read.source
        written = replace(
            read,
            description="Agenda",
            etag="e2",
            source=Source("e2", "BEGIN:VCALENDAR\r\n...agenda"),
        )
        store.record(
            key=CAL,
            action="write agenda",
            kind=Kind.AGENDA,
            meeting_key=read.key,
            reason="agenda inserted",
            before=read,
            after=written,
            artifact=None,
        )
        assert store.events(CAL)[0].source == written.source
        (entry,) = store.audit()
        assert entry.before is not None and entry.after is not None
        assert (entry.before["source"], entry.after["source"], entry.after["description"]) == (
            None,
            None,
            "Agenda",
        )
        older = {key: value for key, value in dump_event(read).items() if key != "source"}
        assert load_event(older) == read and load_event(older).source is None

    def test_the_cursor_belongs_to_its_window_and_deltas_merge_into_the_mirror(
        self, backend: Backend
    ) -> None:
        store = backend.open()
        one, two, three = (
            replace(meeting(f"M{n}", at(n, 10)), key=f"k{n}", ref=f"r{n}") for n in (1, 2, 3)
        )
        store.apply_delta(CAL, Delta(upserted=(one, two), cursor="c1", full=True), WINDOW)
        assert store.cursor(CAL, WINDOW) == "c1" and store.cursor(OTHER, WINDOW) is None
        # a new day: a full read is due
        assert store.cursor(CAL, Window(at(1, 0), at(15, 0))) is None
        moved = replace(two, title="M2 moved")
        store.apply_delta(
            CAL, Delta(upserted=(moved, three), removed_refs=("r1",), cursor="c2"), WINDOW
        )
        assert [e.title for e in store.events(CAL)] == ["M2 moved", "M3"] and store.cursor(
            CAL, WINDOW
        ) == "c2"
        store.apply_delta(CAL, Delta(upserted=(one,), cursor="c3", full=True), WINDOW)
        assert store.events(CAL) == [one]

    def test_a_failure_inside_record_leaves_nothing_half_written(self, backend: Backend) -> None:
        store = backend.open()
        event = replace(meeting("Globex", at(0, 10)), key="k1", ref="r1")
        store.apply_delta(CAL, Delta(upserted=(event,), cursor="c1", full=True), WINDOW)
        # the artifact row cannot be written (title NOT NULL)
        broken = artifact("k1", calendar=CAL, title=None)
        with pytest.raises(StateError) as caught:
            store.record(
                key=CAL,
                action="write agenda",
                kind=Kind.PREP,
                meeting_key="k1",
                reason="r",
                before=event,
                after=replace(event, description="new"),
                artifact=broken,
                tombstone="why",
            )
        assert str(caught.value).startswith(
            f"{backend.where}: cannot record a change: "
        ) and "\n" not in str(caught.value)
        assert (
            store.audit() == [] and store.artifacts() == [] and store.tombstones(CAL) == frozenset()
        )
        assert store.events(CAL) == [event]  # the mirror too is as it was

    def test_tombstones_replace_the_record_and_stay_per_calendar(self, backend: Backend) -> None:
        store = backend.open()
        for kind in (Kind.PREP, Kind.DEBRIEF):
            store.record(
                key=CAL,
                action="create",
                kind=kind,
                meeting_key="k1",
                reason="r",
                before=None,
                after=None,
                artifact=artifact("k1", kind, calendar=CAL),
            )
        for _ in range(2):  # a second tombstone for the same block replaces the first
            tombstone(store, CAL)
        assert (
            store.tombstones(CAL) == frozenset({(Kind.PREP, "k1")})
            and store.tombstones(OTHER) == frozenset()
        )
        assert [(a.kind, a.meeting_key) for a in store.artifacts(CAL)] == [(Kind.DEBRIEF, "k1")]

    def test_artifacts_come_back_as_recorded_in_one_order(self, backend: Backend) -> None:
        store = backend.open()
        written = [
            artifact("b", Kind.PREP, calendar=WORK, meeting_start=at(1, 10)),
            artifact("a", Kind.DEBRIEF, calendar=WORK, meeting_start=at(1, 10)),
            artifact(
                "Z",
                Kind.AGENDA,
                calendar=WORK,
                start=None,
                end=None,
                meeting_start=None,
                meeting_end=None,
            ),
            artifact(
                "c",
                Kind.PREP,
                calendar=CalendarKey("alex", "work"),
                customer="",
                title="Réunion \u00e9t\u00e9 — 会议",
            ),
        ]
        for row in written:
            store.record(
                key=row.key,
                action="create",
                kind=row.kind,
                meeting_key=row.meeting_key,
                reason="r",
                before=None,
                after=None,
                artifact=row,
            )
        # by account, calendar, meeting, kind
        assert store.artifacts() == [
            written[3],
            written[2],
            written[1],
            written[0],
        ]
        assert store.artifacts(WORK) == [written[2], written[1], written[0]]
        store.record(
            key=WORK,
            action="update",
            kind=Kind.PREP,
            meeting_key="b",
            reason="r",
            before=None,
            after=None,
            artifact=replace(written[0], etag="e2", start=at(1, 9)),
        )
        assert store.artifacts(WORK)[-1] == replace(written[0], etag="e2", start=at(1, 9))

    def test_held_meetings_keep_their_debriefs(self, backend: Backend) -> None:
        store = backend.open()
        form = fill_in(
            "Commitment, us:\n- \nPrimary objective of the next meeting:\n",
            {
                "Commitment, us": "- send the pricing, by 22 Mar",
                "Primary objective": "Agree the pilot",
            },
        )
        debrief = parse(form, at(0, 10).date())
        first = Held(
            "work",
            "m1",
            "alex",
            "globex.example",
            "Globex",
            at(0, 10),
            at(0, 11),
            externals=("dana@globex.example",),
            next_scheduled=True,
            debrief=debrief,
            debrief_content="f1",
            debriefed_at=at(0, 12),
            checked_at=at(0, 13),
            changed_at=at(0, 12, 30),
            settled=parse(
                "Primary objective of the next meeting:\nAgree the scope\n", at(0, 10).date()
            ).shared,
            we_ready=True,
            they_ready=False,
        )
        earlier = Held("work", "m0", "bo", "initech.example", "Initech", at(-1, 10), at(-1, 11))
        store.save_held(first)
        store.save_held(earlier)
        assert store.held() == [earlier, first]  # oldest first
        assert store.held(account="alex") == [first] and store.held(WORK) == [earlier]
        assert store.held()[1].debrief == debrief and debrief.written
        assert (
            store.held()[1].settled == first.settled
            and first.settled is not None
            and first.settled.objective
        )
        assert store.held()[1].changed_at == at(0, 12, 30)
        # readiness: yes, no and unknown, each as it was saved
        assert [(row.we_ready, row.they_ready) for row in store.held()] == [
            (None, None),
            (True, False),
        ]
        store.save_held(replace(first, debrief=None, debrief_content="", next_scheduled=False))
        assert store.held(account="alex") == [
            replace(first, debrief=None, debrief_content="", next_scheduled=False)
        ]

    def test_the_audit_log_is_newest_first(self, backend: Backend) -> None:
        world = World(store=backend.open)
        for n, name in enumerate(("Globex", "Initech", "Umbrella")):
            world.now = at(0, 7, n)
            world.add(meeting(name, at(n, 10), guests=(f"dana@{name.lower()}.example",)))
            world.cycle()
        entries = world.store.audit()
        assert [entry.at for entry in entries] == sorted(
            (entry.at for entry in entries), reverse=True
        )
        assert [entry.id for entry in entries] == sorted(
            (entry.id for entry in entries), reverse=True
        )
        assert (
            world.store.audit(limit=2) == entries[:2]
            and world.store.audit(account="alex") == entries
        )
        assert world.store.audit(account="nobody") == []

    def test_call_plans_keep_their_versions_and_what_settled(self, backend: Backend) -> None:
        store = backend.open()
        plan = CallPlan(
            PlanShared("Agree the pilot scope", topics=(Topic("Scope", 20), Topic("Timeline"))),
            risks="Raj",
            withheld=("Private: floor",),
        )
        first = PlanRecord("alex", "work", "m1", at(3, 10), plan, "c1", at(0, 12), PlanShared("x"))
        untouched = PlanRecord("alex", "work", "m2", at(4, 10))
        elsewhere = PlanRecord("bo", "work", "m1", at(3, 10), CallPlan(), "c9", at(0, 9))
        for row in (first, untouched, elsewhere):
            store.save_call_plan(row)
        assert store.plans(CalendarKey("alex", "work")) == {"m1": first, "m2": untouched}
        store.save_call_plan(replace(first, content="c2", changed_at=at(0, 13)))
        assert store.plans(CalendarKey("alex", "work"))["m1"].content == "c2"
        store.forget_plans(CalendarKey("alex", "work"), at(4, 0))
        assert store.plans(CalendarKey("alex", "work")) == {"m2": untouched}
        assert store.plans(WORK) == {"m1": elsewhere}

    def test_the_previews_written_into_preps_are_remembered(self, backend: Backend) -> None:
        world = World(store=backend.open)
        globex = world.add(meeting("Globex", at(1, 10)))
        world.cycle()
        prep = world.block_for("prep", globex)
        key = CalendarKey("alex", "memory")
        for number, fingerprint in enumerate(("p1", "p2", "p2")):
            tag = replace(prep.block_tag, preview=fingerprint)  # type: ignore[type-var]
            written = replace(prep, block_tag=tag, etag=f"e{number}")
            world.store.record(
                key=key,
                action="update",
                kind=Kind.PREP,
                meeting_key=globex.key,
                reason="preview",
                before=prep,
                after=written,
                artifact=None,
            )
        assert prep.block_tag is not None
        first = prep.block_tag.preview  # when callplan created it
        assert world.store.previews(key) == {globex.key: frozenset({first, "p1", "p2"})}
        world.store.forget_plans(key, at(1, 10, 1))
        assert world.store.previews(key) == {}

    def test_agenda_rewrites_are_counted_from_the_audit_log(self, backend: Backend) -> None:
        world = World(store=backend.open)
        globex = world.add(meeting("Globex", at(0, 10)))
        world.add(meeting("Initech", at(1, 10), guests=("eli@initech.example",)))
        world.cycle()  # two agendas inserted: not rewrites
        key = CalendarKey("alex", "memory")
        assert world.store.agenda_rewrites(key, at(0, 0)) == {}
        world.now = at(0, 8)
        world.calendar.person_edit(globex.ref, end=at(0, 11, 30))
        world.cycle()
        world.now = at(0, 9)
        world.calendar.person_edit(globex.ref, end=at(0, 12))
        world.cycle()
        assert world.store.agenda_rewrites(key, at(0, 0)) == {globex.key: 2}
        assert world.store.agenda_rewrites(key, at(0, 8, 30)) == {globex.key: 1}
        assert world.store.calendars("alex") == ["memory"] and world.store.calendars("bo") == []
        (agenda,) = [
            a
            for a in world.store.artifacts()
            if a.key == key and a.meeting_key == globex.key and a.kind is Kind.AGENDA
        ]
        store = world.store
        store.record(
            key=key,
            action="adopt",
            kind=Kind.AGENDA,
            meeting_key=globex.key,
            reason="kept as it is",
            before=None,
            after=None,
            artifact=replace(agenda, inputs="i1"),
        )
        written = [a.inputs for a in store.artifacts(key) if a.kind is Kind.AGENDA]
        assert written[0] == "i1" and len(written[1]) == 16  # from the tag callplan wrote
        assert [a.record().inputs for a in store.artifacts(key) if a.kind is Kind.AGENDA] == written

    def test_when_an_agenda_was_first_written_comes_from_the_audit_log(
        self, backend: Backend
    ) -> None:
        world = World(store=backend.open, now=at(0, 7))
        ours = world.add(meeting("Globex", at(1, 10)))
        eli = "eli@initech.example"
        theirs = world.add(meeting("Initech", at(2, 10), guests=(eli,), organizer=eli))
        key = CalendarKey("alex", "memory")
        assert world.store.agenda_written(key, ours.key) == AgendaWritten(None, None)
        world.cycle()  # our agenda goes out; theirs is a draft in the prep
        world.now = at(0, 9)
        world.calendar.person_edit(ours.ref, end=at(1, 11, 30))
        world.cycle()  # a rewrite: the agenda was first written at 7:00 all the same
        sent = world.store.agenda_written(key, ours.key)
        assert sent == AgendaWritten(at(0, 7), at(0, 7))
        assert world.store.agenda_written(key, theirs.key) == AgendaWritten(None, at(0, 7))
        assert world.store.agenda_written(CalendarKey("bo", "memory"), ours.key) == (None, None)

    def test_run_status_round_trips(self, backend: Backend) -> None:
        store = backend.open()
        assert store.run_status("alex") == RunStatus("alex")
        status = RunStatus(
            "alex",
            at(0, 7),
            at(0, 7, 1),
            "boom: one line",
            at(0, 8),
            changes=3,
            requests=5,
            failures=2,
            backlog=9,
            planning="skipped: nothing changed; next check at 09:45, when the prep of 'X' starts",
        )
        store.save_run_status(status)
        store.save_run_status(RunStatus("bo"))
        assert store.run_status("alex") == status and store.run_status("bo") == RunStatus("bo")
        store.save_run_status(replace(status, failures=0, last_error=""))
        assert backend.open().run_status("alex") == replace(status, failures=0, last_error="")

    def test_run_statuses_are_written_together(self, backend: Backend) -> None:
        store = backend.open()
        store.save_run_status(RunStatus("alex", changes=1))
        store.save_run_statuses([RunStatus("alex", changes=2), RunStatus("bo", requests=3)])
        assert store.run_status("alex") == RunStatus("alex", changes=2)
        assert backend.open().run_status("bo") == RunStatus("bo", requests=3)

    def test_a_calendar_keeps_its_last_plan_beside_its_cursor(self, backend: Backend) -> None:
        store = backend.open()
        assert store.planning(CAL) == Planning(None, 0)  # never read, never planned
        store.apply_delta(CAL, Delta(cursor="c1", full=True), WINDOW)
        generation = store.planning(CAL).generation
        assert store.planning(CAL).last is None
        state = PlanState(
            at(0, 7),
            generation,
            Inputs("0.1.0", "config-digest", "templates-digest", "busy-digest"),
            0,
            Deadline(at(0, 9, 45), Rule.PREP_STARTS, "Globex review"),
        )
        store.save_plan(CAL, state)
        # a quiet read: the cursor only; what it answers is the last plan, as a read of it is
        assert store.apply_delta(CAL, Delta(cursor="c2"), WINDOW) == Planning(state, generation)
        assert store.planning(CAL) == Planning(state, generation)
        # a read that brought a change answers the generation it made
        changed = store.apply_delta(
            CAL, Delta(upserted=(meeting("Globex", at(0, 10)),), cursor="c2"), WINDOW
        )
        assert changed == store.planning(CAL) and changed.generation > generation
        generation = changed.generation
        assert store.cursor(CAL, WINDOW) == "c2"
        endless = replace(state, changes=3, deadline=None)
        store.save_plan(CAL, endless)
        assert backend.open().planning(CAL) == Planning(endless, generation)
        assert store.planning(OTHER) == Planning(None, 0)

    def test_every_write_of_what_plans_read_moves_the_generation_of_the_account(
        self, backend: Backend
    ) -> None:
        """A plan reads its calendar's mirror, records and tombstones and the account's held
        meetings and debrief records: a write of any of them, by anyone, makes every plan of the
        account made before it stale. A read that brought nothing, a saved plan and a run
        status do not."""
        store = backend.open()
        elsewhere = CalendarKey("alex", "cal")
        for key in (CAL, OTHER, elsewhere):
            store.apply_delta(key, Delta(cursor="c1", full=True), WINDOW)

        def generations() -> list[int]:
            return [store.planning(key).generation for key in (CAL, OTHER, elsewhere)]

        start = generations()
        event = replace(meeting("Globex", at(0, 10)), key="k1", ref="r1")

        def moved(*writes: Callable[[], object]) -> list[bool]:
            before = generations()
            for write in writes:
                write()
            return [after != was for after, was in zip(generations(), before)]

        quiet = (
            lambda: store.apply_delta(CAL, Delta(cursor="c2"), WINDOW),
            lambda: store.save_plan(
                CAL, PlanState(at(0, 7), start[0], Inputs("", "", "", ""), 0, None)
            ),
            lambda: store.save_run_status(RunStatus("bo", changes=1)),
        )
        assert moved(*quiet) == [False, False, False]
        assert moved(
            lambda: store.apply_delta(CAL, Delta(upserted=(event,), cursor="c3"), WINDOW)
        ) == [True, True, False]
        assert moved(lambda: store.apply_delta(OTHER, Delta(cursor="c2", full=True), WINDOW)) == [
            True,
            True,
            False,
        ]
        assert moved(lambda: tombstone(store, OTHER)) == [True, True, False]
        held = Held("cal", "m1", "alex", "globex.example", "Globex", at(0, 10), at(0, 11))
        assert moved(lambda: store.save_held(held)) == [False, False, True]

    def test_a_last_plan_whose_rule_this_callplan_does_not_know_is_no_last_plan(
        self, backend: Backend
    ) -> None:
        """A newer callplan may name rules this one does not know: its plan is then planned
        again, not misread."""
        store = backend.open()
        store.apply_delta(CAL, Delta(cursor="c1", full=True), WINDOW)
        deadline = Deadline(at(0, 9, 45), Rule.PREP_STARTS, "Globex")
        store.save_plan(CAL, PlanState(at(0, 7), 1, Inputs("", "", "", ""), 0, deadline))
        backend.execute("UPDATE calendars SET deadline_rule = 'a-rule-from-the-future'")
        assert store.planning(CAL).last is None

    def test_a_hostile_title_with_a_nul_is_kept_in_the_mirror(self, backend: Backend) -> None:
        world = World(store=backend.open)
        world.add(meeting("Globex\x00 review", at(0, 10)))
        world.cycle()
        assert {a.kind for a in world.store.artifacts()} == {"prep", "debrief", "agenda"}
        assert [
            e.title for e in world.store.events(world.store.artifacts()[0].key) if not e.is_block
        ] == ["Globex\x00 review"]
        assert world.applied() == []

    def test_one_process_at_a_time_holds_the_state_and_the_error_names_it(
        self, backend: Backend
    ) -> None:
        first, second = backend.open(), backend.open()
        assert first.locked_by() is None
        with first.lock():
            assert second.locked_by() == backend.holder
            with pytest.raises(StateError) as caught, second.lock():
                pass
            assert str(caught.value) == (
                f"{backend.where}: in use by another callplan process ({backend.holder}); only one "
                "may use a state database at a time: stop the other one first (the service: "
                "systemctl stop callplan)"
            )
        assert second.locked_by() is None
        with second.lock():  # released for good when the holder's context ends
            assert first.locked_by() == backend.holder
        first.close()
        second.close()

    def test_damage_inside_a_row_is_a_one_line_error(self, backend: Backend) -> None:
        world = World(store=backend.open)
        globex = world.add(meeting("Globex", at(0, 10)))
        world.cycle()
        world.cycle()  # reads back its own writes: from now on the mirror is not re-read
        # neither database can see this
        backend.execute('UPDATE events SET data = \'{"key": "half an event"}\'')
        world.calendar.person_edit(globex.ref, location="Room 4")  # a cycle that plans reads it
        error = world.sync.cycle().error
        assert error.startswith(
            f"{backend.where}: cannot read the calendar mirror: corrupt state database"
        )
        assert "\n" not in error


# -- the split of "account|calendar" keys (SQLite migration 5, PostgreSQL migration 3) ------------

OLD_EVENT = replace(meeting("Globex", at(0, 10)), key="k1", ref="r1", calendar="team|cal")


def old_rows() -> list[str]:
    """Rows as the schema before the split wrote them: every calendar's rows under one
    "account|calendar" string (a calendar id may hold a "|" itself; an account name never does)."""
    data = json.dumps(dump_event(OLD_EVENT)).replace("'", "''")
    start, end, now = at(0, 10).isoformat(), at(0, 11).isoformat(), at(0, 7).isoformat()
    return [
        "INSERT INTO calendars (id, account, cursor, window_start, window_end, synced_at) VALUES "
        f"('alex|team|cal', 'alex', 'c1', '{WINDOW.start.isoformat()}', "
        f"'{WINDOW.end.isoformat()}', '{now}')",
        "INSERT INTO events (calendar, key, ref, data) VALUES ('alex|team|cal', 'k1', 'r1', "
        f"'{data}')",
        'INSERT INTO artifacts (calendar, kind, meeting_key, ref, etag, start, "end", '
        "meeting_start, meeting_end, customer, title, created_at, updated_at) VALUES "
        f"('alex|team|cal', 'debrief', 'k1', 'b1', 'e1', '{end}', '{end}', '{start}', '{end}', "
        f"'globex.example', 'Globex', '{now}', '{now}')",
        "INSERT INTO tombstones (calendar, kind, meeting_key, ref, reason, at) "
        f"VALUES ('alex|team|cal', 'prep', 'k1', 'p1', 'deleted by a person', '{now}')",
        'INSERT INTO held (calendar, meeting_key, account, customer, start, "end") '
        f"VALUES ('alex|team|cal', 'k1', 'alex', 'globex.example', '{start}', '{end}')",
        "INSERT INTO audit (at, account, calendar, action, kind, meeting_key, ref, reason) "
        f"VALUES ('{now}', 'alex', 'alex|team|cal', 'create', 'debrief', 'k1', 'b1', 'r')",
    ]


def assert_split(store: Store) -> None:
    """What old_rows() reads as once the keys are split: all of it, under the account and the
    calendar."""
    key = CalendarKey("alex", "team|cal")
    assert store.cursor(key, WINDOW) == "c1" and store.events(key) == [OLD_EVENT]
    (artifact,) = store.artifacts()
    assert (artifact.account, artifact.calendar, artifact.ref) == ("alex", "team|cal", "b1")
    assert (
        store.artifacts(key) == store.artifacts(account="alex") == [artifact]
        and store.artifacts(account="bo") == []
    )
    assert store.tombstones(key) == frozenset({(Kind.PREP, "k1")})
    (held,) = store.held(key)
    assert (held.account, held.calendar, held.meeting_key) == ("alex", "team|cal", "k1")
    (entry,) = store.audit()
    assert (entry.account, entry.calendar, entry.meeting_key) == ("alex", "team|cal", "k1")
    # and the split rows take new writes under the same key
    store.record(
        key=key,
        action="update",
        kind=Kind.DEBRIEF,
        meeting_key="k1",
        reason="r",
        before=None,
        after=None,
        artifact=replace(artifact, etag="e2"),
    )
    assert store.artifacts() == [replace(artifact, etag="e2")]


# -- SQLite only ---------------------------------------------------------------------------------


def test_new_database_is_private_in_wal_mode_and_migrated(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "sub" / "state.db")
    assert (tmp_path / "sub" / "state.db").stat().st_mode & 0o777 == 0o600
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert store.migration == (0, len(MIGRATIONS))
    store.close()
    again = SqliteStore(tmp_path / "sub" / "state.db")  # reopening runs no migration twice
    assert again.migration == (len(MIGRATIONS), len(MIGRATIONS))
    again.close()


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    connection = sqlite3.connect(path)
    connection.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    connection.close()
    with pytest.raises(StateError, match="newer callplan"):
        SqliteStore(path)


def test_a_corrupt_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(
        StateError, match=r"state.db: cannot open: corrupt state database"
    ) as caught:
        SqliteStore(path)
    assert "\n" not in str(caught.value)


def test_full_disk_aborts_the_cycle_cleanly_and_nothing_is_half_written(tmp_path: Path) -> None:
    world = World(store_path=tmp_path / "state.db")
    demo = world.add(meeting("Globex", at(0, 10), description="x" * 20000))
    assert isinstance(world.store, SqliteStore)
    pages = world.store.db.execute("PRAGMA page_count").fetchone()[0]
    world.store.db.execute(f"PRAGMA max_page_count = {pages + 2}")  # the disk fills up now
    report = world.sync.cycle()
    assert report.error.startswith(f"{tmp_path / 'state.db'}: cannot ")
    assert "disk full" in report.error
    audit = world.store.audit()
    # what was written to the calendar is either recorded or findable by its tag next time
    world.store.db.execute("PRAGMA max_page_count = 1073741823")
    world.cycle()
    assert len(world.blocks("prep")) == 1 and len(world.blocks("debrief")) == 1
    assert world.get(demo).description.count("──── Agenda") == 1
    assert len(world.store.audit()) > len(audit)


def test_the_lock_file_is_private(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "state.db")
    with store.lock():
        pass
    assert (tmp_path / "state.db.lock").stat().st_mode & 0o777 == 0o600
    store.close()


def migrated_from(path: Path, version: int, *rows: tuple[str, list[object]]) -> SqliteStore:
    """The store on a SQLite file that an earlier callplan left at schema `version`, holding
    `rows` (each a statement and its parameters), opened (and so migrated) by this one."""
    old = sqlite_utils.Database(sqlite3.connect(path))
    for number in range(version):
        MIGRATIONS[number](old)
    old.execute(f"PRAGMA user_version = {version}")
    for statement, parameters in rows:
        old.execute(statement, parameters)
    old.conn.commit()
    old.close()
    store = SqliteStore(path)
    assert store.migration == (version, len(MIGRATIONS))
    return store


def test_a_calendar_from_before_plans_were_kept_has_no_last_plan(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = migrated_from(
        path,
        5,
        ("INSERT INTO calendars (account, calendar, cursor) VALUES ('bo', 'cal', 'c1')", []),
        ("INSERT INTO runs (account, changes) VALUES ('bo', 2)", []),
    )
    assert store.planning(CAL) == Planning(None, 0)
    assert store.run_status("bo") == RunStatus("bo", changes=2, planning="")
    store.close()


def test_run_status_keeps_the_backlog_and_an_old_database_gains_the_column(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = migrated_from(
        path, 1, ("INSERT INTO runs (account, last_error, failures) VALUES ('alex', 'boom', 2)", [])
    )
    assert store.run_status("alex") == RunStatus("alex", last_error="boom", failures=2, backlog=0)
    store.save_run_status(RunStatus("alex", changes=3, backlog=9))
    assert store.run_status("alex").backlog == 9
    store.close()


def test_damage_sqlite_cannot_see_inside_a_value_is_a_one_line_error_too(tmp_path: Path) -> None:
    world = World(store_path=tmp_path / "state.db")
    globex = world.add(meeting("Globex", at(0, 10)))
    world.cycle()
    world.cycle()
    assert isinstance(world.store, SqliteStore)
    # no longer JSON, and SQLite cannot tell
    world.store.db.execute("UPDATE events SET data = substr(data, 1, 40)")
    world.calendar.person_edit(globex.ref, location="Room 4")  # a cycle that plans reads it
    error = world.sync.cycle().error
    assert error.startswith(
        f"{tmp_path / 'state.db'}: cannot read the calendar mirror: corrupt state database"
    )
    assert "\n" not in error


def test_a_damaged_audit_row_is_a_one_line_error(tmp_path: Path) -> None:
    """No command reads the audit log yet; whatever reads it gets the state error the other tables
    give."""
    world = World(store_path=tmp_path / "state.db")
    world.add(meeting("Globex", at(0, 10), description="Intro"))
    world.cycle()
    assert isinstance(world.store, SqliteStore)
    world.store.db.execute("UPDATE audit SET after = substr(after, 1, 40)")
    with pytest.raises(StateError) as caught:
        world.store.audit()
    message = str(caught.value)
    assert message.startswith(
        f"{tmp_path / 'state.db'}: cannot read the audit log: corrupt state database (a row cannot "
        "be read"
    )
    assert "\n" not in message


def test_an_integrity_check_that_fails_on_several_lines_is_reported_on_one(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    world = World(store_path=path)
    world.add(meeting("Globex", at(0, 10), description="x" * 50000))
    world.cycle()
    assert isinstance(world.store, SqliteStore)
    world.store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    world.store.close()
    data = bytearray(path.read_bytes())
    # scramble one b-tree page
    data[4096 * 2 + 8 : 4096 * 2 + 1000] = random.Random(7).randbytes(992)
    path.write_bytes(bytes(data))
    with pytest.raises(StateError, match="corrupt state database") as caught:
        SqliteStore(path)
    assert "\n" not in str(caught.value)


def test_held_meetings_from_before_settling_still_read_and_count_as_settled(tmp_path: Path) -> None:
    """A schema-3 database (no settling columns) gains them; its debriefs count as settled."""
    path = tmp_path / "state.db"
    written = parse("Commitment, us:\n- send pricing by Fri", date(2030, 3, 18))
    store = migrated_from(
        path,
        3,
        (
            'INSERT INTO held (calendar, meeting_key, account, customer, start, "end", debrief, '
            "debrief_content, debriefed_at) VALUES ('alex|cal', 'm1', 'alex', 'globex.example', "
            "?, ?, ?, 'abc', ?)",
            [
                at(0, 10).isoformat(),
                at(0, 11).isoformat(),
                written.to_json(),
                at(0, 12).isoformat(),
            ],
        ),
    )
    (row,) = store.held()
    assert row.debrief == written and row.changed_at is None and row.settled is None
    assert row.settled_by(at(0, 12), timedelta(minutes=30))
    newer = row.reread(
        parse("Commitment, us:\n- send the deck by Fri", date(2030, 3, 18)),
        "def",
        at(0, 13),
        timedelta(minutes=30),
    )
    assert newer.settled == written.shared and newer.changed_at == at(0, 13)
    store.save_held(newer)
    assert store.held() == [newer]
    store.close()


def test_a_damaged_settled_part_is_a_one_line_error(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "state.db")
    store.db.execute(
        'INSERT INTO held (calendar, meeting_key, account, customer, start, "end", settled) '
        "VALUES ('cal', 'm1', 'alex', 'globex.example', ?, ?, '{\"theirs\": [')",
        [at(0, 10).isoformat(), at(0, 11).isoformat()],
    )
    with pytest.raises(
        StateError, match="cannot read held meetings: corrupt state database"
    ) as caught:
        store.held()
    assert "\n" not in str(caught.value)
    store.close()


def test_a_database_keyed_by_joined_strings_is_split_into_account_and_calendar(
    tmp_path: Path,
) -> None:
    """A schema-4 database, its calendars keyed by "account|calendar", migrates on open."""
    path = tmp_path / "state.db"
    store = migrated_from(path, 4, *((statement, []) for statement in old_rows()))
    assert_split(store)
    store.close()


def test_a_database_from_before_call_plans_gains_them_and_keeps_its_agendas(
    tmp_path: Path,
) -> None:
    """A schema-5 database gains the call plans, the previews and the agenda's inputs column:
    its agenda records say nothing of what they carry (an earlier callplan wrote them)."""
    path = tmp_path / "state.db"
    store = migrated_from(
        path,
        5,
        (
            "INSERT INTO artifacts (account, calendar, kind, meeting_key, ref, created_at, "
            "updated_at) VALUES ('alex', 'cal', 'agenda', 'm1', 'r1', ?, ?)",
            [at(0, 9).isoformat(), at(0, 9).isoformat()],
        ),
    )
    (agenda,) = store.artifacts()
    assert agenda.inputs == "" and agenda.record().inputs == ""
    assert store.plans(CalendarKey("alex", "cal")) == {} and store.previews(CAL) == {}
    store.close()


def test_meetings_held_before_readiness_was_judged_have_it_unknown(tmp_path: Path) -> None:
    """A schema-7 database gains the readiness columns; its held meetings have them unknown."""
    path = tmp_path / "state.db"
    store = migrated_from(
        path,
        7,
        (
            'INSERT INTO held (account, calendar, meeting_key, customer, start, "end") VALUES '
            "('alex', 'cal', 'm1', 'globex.example', ?, ?)",
            [at(0, 10).isoformat(), at(0, 11).isoformat()],
        ),
    )
    (row,) = store.held()
    assert (row.we_ready, row.they_ready) == (None, None)
    store.save_held(replace(row, we_ready=False, they_ready=True))
    assert [(row.we_ready, row.they_ready) for row in store.held()] == [(False, True)]
    store.close()
