"""`callplan migrate-state`: a one-machine install moves to PostgreSQL with everything it
remembers, and running it again changes nothing."""

from __future__ import annotations

import os
from contextlib import closing
from dataclasses import replace
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from agent.cli.main import main
from agent.config.settings import PostgresState
from agent.core.model import Kind
from agent.state.postgres import PostgresStore
from agent.state.sqlite import SqliteStore
from agent.state.store import RunStatus, Store
from agent.sync.engine import AccountSync, window_for
from tests.loop.test_loop import ANSWERS, write_debrief
from tests.support.helpers import World, at, meeting


def migrate_state(source: Path, target: PostgresState) -> Any:
    return CliRunner().invoke(
        main, ["migrate-state", "--from", str(source), "--to", target.url], catch_exceptions=False
    )


def one_machine(path: Path) -> World:
    """A SQLite state built by real cycles: blocks and agendas, a block the seller deleted, a
    debrief read back into the next meeting, held meetings, and the service's run status."""
    world = World(store_path=path)
    first = world.add(meeting("Globex discovery", at(0, 10)))
    world.add(meeting("Globex deep dive", at(3, 10)))
    initech = world.add(meeting("Initech intro", at(1, 14), guests=("ron@initech.example",)))
    world.add(meeting("Umbrella review", at(2, 9), guests=("ada@umbrella.example",)))
    world.cycle()
    world.calendar.person_delete(world.block_for("prep", initech).ref)
    write_debrief(world, first, ANSWERS)
    world.now = at(0, 12)
    world.cycle()
    world.now = at(1, 16)
    world.cycle()
    world.cycle()  # its own writes read back: the last plan had nothing to do
    world.store.save_run_status(
        RunStatus("alex", at(1, 16), at(1, 16, 1), "", at(1, 16, 2), changes=3, requests=4)
    )
    return world


def snapshot(store: Store, world: World) -> dict[str, Any]:
    """Everything the store says, through its interface (audit ids aside: each database numbers its
    own)."""
    settings = world.account.settings
    window = window_for(world.now, settings.lookahead_days, settings.timezone)
    calendars = sorted({artifact.key for artifact in store.artifacts()})
    return {
        "calendars": calendars,
        "cursors": [store.cursor(calendar, window) for calendar in calendars],
        "plans": [store.planning(calendar).last for calendar in calendars],
        "events": [store.events(calendar) for calendar in calendars],
        "artifacts": store.artifacts(),
        "tombstones": [store.tombstones(calendar) for calendar in calendars],
        "held": store.held(),
        "audit": [replace(entry, id=0) for entry in store.audit()],
        "runs": store.run_status("alex"),
    }


def test_a_one_machine_state_moves_whole_and_a_second_run_changes_nothing(
    tmp_path: Path, postgres_state: PostgresState
) -> None:
    path = tmp_path / "state.db"
    world = one_machine(path)
    before = snapshot(world.store, world)
    assert before["tombstones"] != [frozenset()] and any(row.debriefed for row in before["held"])

    result = migrate_state(path, postgres_state)
    assert result.exit_code == 0, result.output
    counts = (
        f"copied 1 calendar ({len(before['events'][0])} events), {len(before['artifacts'])} "
        f"records, 1 tombstone, {len(before['held'])} held meetings, 1 run status, "
        f"{len(before['audit'])} audit entries; skipped nothing"
    )
    assert (
        result.output
        == f"{path} -> {postgres_state.where}: {counts} (already there, or newer there)\n"
    )
    with closing(PostgresStore(postgres_state, clock=world.clock)) as store:
        assert snapshot(store, world) == before
        # the agent carries on from PostgreSQL: nothing duplicated, nothing forgotten
        sync = AccountSync(world.account, world.connector, store, world.renderer, clock=world.clock)
        report = sync.cycle()
        assert not report.error and [(c.planned, c.applied) for c in report.calendars] == [([], [])]
        # held meetings merged: the last plan may be stale, so the first cycle plans
        assert report.planning.startswith("planned: what callplan knows changed since")
        # an incremental read: the cursor came along
        assert [c.full for c in report.calendars] == [False]

    again = migrate_state(path, postgres_state)
    assert again.exit_code == 0 and again.output.endswith(
        f"copied nothing; skipped 1 calendar, {len(before['artifacts'])} records, 1 tombstone, "
        f"{len(before['held'])} held meetings, 1 run status, {len(before['audit'])} audit entries "
        "(already there, or newer there)\n"
    )


def test_what_the_target_did_since_is_not_undone_by_running_it_again(
    tmp_path: Path, postgres_state: PostgresState
) -> None:
    path = tmp_path / "state.db"
    world = one_machine(path)
    migrate_state(path, postgres_state)
    with closing(PostgresStore(postgres_state, clock=world.clock)) as store:
        world.store = store
        world.sync = AccountSync(
            world.account, world.connector, store, world.renderer, clock=world.clock
        )
        world.now = at(1, 17)
        umbrella = next(e for e in world.calendar.events.values() if e.title == "Umbrella review")
        # the seller deletes another block
        world.calendar.person_delete(world.block_for("debrief", umbrella).ref)
        assert world.applied() == ["tombstone"]
        store.save_run_status(RunStatus("alex", at(1, 17), at(1, 17, 1), changes=1, requests=1))
        after = snapshot(store, world)
        migrate_state(path, postgres_state)
        # the forgotten block stays forgotten, the newer status stays
        assert snapshot(store, world) == after
        assert (Kind.DEBRIEF, umbrella.key) in store.tombstones(after["calendars"][0])
        assert world.applied() == []


def test_it_refuses_while_a_callplan_uses_the_state(
    tmp_path: Path, postgres_state: PostgresState
) -> None:
    path = tmp_path / "state.db"
    one_machine(path).store.close()
    with closing(SqliteStore(path)) as running, running.lock():
        refused = migrate_state(path, postgres_state)
    assert refused.exit_code == 1
    assert refused.output == (
        f"callplan: {path}: in use by another callplan process (pid {os.getpid()}); only one may "
        "use a state database at a time: stop the other one first (the service: systemctl stop "
        "callplan)\n"
    )
    with closing(PostgresStore(postgres_state)) as store:
        assert store.artifacts() == [] and store.audit() == []
    wrong = CliRunner().invoke(
        main, ["migrate-state", "--from", str(path), "--to", "postgresql://u:hunter2@h/db"]
    )
    assert (
        wrong.exit_code == 1
        and "hunter2" not in wrong.output
        and "a password does not belong in the URL" in wrong.output
    )
