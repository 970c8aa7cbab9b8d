"""The state store: migrations, atomic records, and clear errors for corrupt or full databases."""

from __future__ import annotations

import os
import random
import sqlite3
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlite_utils
from helpers import World, at, meeting

from agent.codec import dump_event, load_event
from agent.debrief import parse
from agent.errors import StateError
from agent.model import Delta, Kind, Source, Window
from agent.store import MIGRATIONS, RunStatus, SqliteStore


def test_new_database_is_private_in_wal_mode_and_migrated(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "sub" / "state.db")
    assert (tmp_path / "sub" / "state.db").stat().st_mode & 0o777 == 0o600
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    store.close()
    SqliteStore(tmp_path / "sub" / "state.db").close()  # reopening runs no migration twice


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
    with pytest.raises(StateError, match=r"state.db: cannot open: corrupt state database") as caught:
        SqliteStore(path)
    assert "\n" not in str(caught.value)


def test_full_disk_aborts_the_cycle_cleanly_and_nothing_is_half_written(tmp_path: Path) -> None:
    world = World(store_path=tmp_path / "state.db")
    demo = world.add(meeting("Globex", at(0, 10), description="x" * 20000))
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


def test_every_applied_change_is_in_the_audit_log_with_before_and_after() -> None:
    world = World()
    demo = world.add(meeting("Globex", at(0, 10), description="Intro"))
    world.cycle()
    entries = world.store.audit()
    actions = sorted(entry.action for entry in entries)
    assert actions == ["create", "create", "write agenda"]
    agenda = next(entry for entry in entries if entry.action == "write agenda")
    assert agenda.before["description"] == "Intro"
    assert agenda.after["description"].startswith("Intro\n\n")
    assert agenda.meeting_key == demo.key
    assert {a.kind for a in world.store.artifacts()} == {"prep", "debrief", "agenda"}


def test_the_mirror_keeps_the_text_a_connector_read_and_the_audit_log_leaves_it_out(tmp_path: Path) -> None:
    """A connector's `source` comes back from the mirror (so a write needs no read first),
    also from rows written before it existed (none then); the audit log keeps what the
    event said, not the provider's text of it."""
    store = SqliteStore(tmp_path / "state.db")
    read = replace(meeting("Globex", at(0, 10)), etag="e1", source=Source("e1", "BEGIN:VCALENDAR\r\n..."))
    window = Window(at(0, 0), at(14, 0))
    store.apply_delta("cal", "bo", Delta(upserted=(read,), cursor="c1", full=True), window)
    (mirrored,) = store.events("cal")
    assert mirrored == read and mirrored.source == read.source
    written = replace(read, description="Agenda", etag="e2", source=Source("e2", "BEGIN:VCALENDAR\r\n...agenda"))
    store.record(account="bo", calendar="cal", action="write agenda", kind=Kind.AGENDA, meeting_key=read.key,
                 reason="agenda inserted", before=read, after=written, artifact=None)  # fmt: skip
    assert store.events("cal")[0].source == written.source
    (entry,) = store.audit()
    assert entry.before is not None and entry.after is not None
    assert (entry.before["source"], entry.after["source"], entry.after["description"]) == (None, None, "Agenda")
    older = {key: value for key, value in dump_event(read).items() if key != "source"}
    assert load_event(older) == read and load_event(older).source is None


def test_one_process_at_a_time_holds_the_state_and_the_error_names_it(tmp_path: Path) -> None:
    first, second = SqliteStore(tmp_path / "state.db"), SqliteStore(tmp_path / "state.db")
    assert first.locked_by() is None
    with first.lock():
        assert second.locked_by() == f"pid {os.getpid()}"
        with pytest.raises(StateError) as caught, second.lock():
            pass
        assert str(caught.value) == (
            f"{tmp_path / 'state.db'}: in use by another callplan process (pid {os.getpid()}); only one may use a "
            "state database at a time: stop the other one first (the service: systemctl stop callplan)"
        )
    assert second.locked_by() is None
    with second.lock():  # released for good when the holder's context ends
        pass
    assert (tmp_path / "state.db.lock").stat().st_mode & 0o777 == 0o600
    first.close()
    second.close()


def test_run_status_keeps_the_backlog_and_an_old_database_gains_the_column(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    old = sqlite_utils.Database(sqlite3.connect(path))
    MIGRATIONS[0](old)
    old.execute("PRAGMA user_version = 1")
    old.execute("INSERT INTO runs (account, last_error, failures) VALUES ('alex', 'boom', 2)")
    old.conn.commit()
    old.close()
    store = SqliteStore(path)
    assert store.run_status("alex") == RunStatus("alex", last_error="boom", failures=2, backlog=0)
    store.save_run_status(RunStatus("alex", changes=3, backlog=9))
    assert store.run_status("alex").backlog == 9
    store.close()


def test_damage_inside_a_row_is_a_one_line_error_too(tmp_path: Path) -> None:
    world = World(store_path=tmp_path / "state.db")
    world.add(meeting("Globex", at(0, 10)))
    world.cycle()
    world.cycle()  # reads back its own writes: from now on the mirror is not re-read
    world.store.db.execute("UPDATE events SET data = substr(data, 1, 40)")  # SQLite cannot see this
    error = world.sync.cycle().error
    assert error.startswith(f"{tmp_path / 'state.db'}: cannot read the calendar mirror: corrupt state database")
    assert "\n" not in error


def test_a_damaged_audit_row_is_a_one_line_error(tmp_path: Path) -> None:
    """No command reads the audit log yet; whatever reads it gets the state error the other tables give."""
    world = World(store_path=tmp_path / "state.db")
    world.add(meeting("Globex", at(0, 10), description="Intro"))
    world.cycle()
    world.store.db.execute("UPDATE audit SET after = substr(after, 1, 40)")
    with pytest.raises(StateError) as caught:
        world.store.audit()
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'state.db'}: cannot read the audit log: corrupt state database (a row cannot be read")
    assert "\n" not in message


def test_an_integrity_check_that_fails_on_several_lines_is_reported_on_one(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    world = World(store_path=path)
    world.add(meeting("Globex", at(0, 10), description="x" * 50000))
    world.cycle()
    world.store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    world.store.close()
    data = bytearray(path.read_bytes())
    data[4096 * 2 + 8 : 4096 * 2 + 1000] = random.Random(7).randbytes(992)  # scramble one b-tree page
    path.write_bytes(bytes(data))
    with pytest.raises(StateError, match="corrupt state database") as caught:
        SqliteStore(path)
    assert "\n" not in str(caught.value)


def test_held_meetings_from_before_settling_still_read_and_count_as_settled(tmp_path: Path) -> None:
    """A schema-3 database (no settling columns) gains them; its debriefs count as settled."""
    path = tmp_path / "state.db"
    old = sqlite_utils.Database(sqlite3.connect(path))
    for number in range(3):
        MIGRATIONS[number](old)
    old.execute("PRAGMA user_version = 3")
    written = parse("Commitment, us:\n- send pricing by Fri", date(2030, 3, 18))
    old.execute(
        "INSERT INTO held (calendar, meeting_key, account, customer, start, \"end\", debrief, debrief_content, debriefed_at) "
        "VALUES ('alex|cal', 'm1', 'alex', 'globex.example', ?, ?, ?, 'abc', ?)",
        [at(0, 10).isoformat(), at(0, 11).isoformat(), written.to_json(), at(0, 12).isoformat()],
    )
    old.conn.commit()
    old.close()
    store = SqliteStore(path)
    (row,) = store.held()
    assert row.debrief == written and row.changed_at is None and row.settled is None
    assert row.settled_by(at(0, 12), timedelta(minutes=30))
    newer = row.reread(parse("Commitment, us:\n- send the deck by Fri", date(2030, 3, 18)), "def", at(0, 13), timedelta(minutes=30))
    assert newer.settled == written.shared and newer.changed_at == at(0, 13)
    store.save_held(newer)
    assert store.held() == [newer]
    store.close()


def test_a_damaged_settled_part_is_a_one_line_error(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "state.db")
    store.db.execute(
        "INSERT INTO held (calendar, meeting_key, account, customer, start, \"end\", settled) "
        "VALUES ('alex|cal', 'm1', 'alex', 'globex.example', ?, ?, '{\"theirs\": [')",
        [at(0, 10).isoformat(), at(0, 11).isoformat()],
    )
    with pytest.raises(StateError, match="cannot read held meetings: corrupt state database") as caught:
        store.held()
    assert "\n" not in str(caught.value)
    store.close()
