"""Bad state: the database deleted, corrupted, or out of disk space.

- Deleted: the agent rebuilds what it owns from the ownership tags on the calendar (it adopts
  everything, creates nothing) and the week ends as a clean run ends.
- Corrupted: a one-line StateError that names the file, and not one write to the calendar.
- Disk full: the cycle stops cleanly at the first write the database refuses; once there is
  space again the next cycles end where a clean run ends, without duplicates.
"""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from agent.config.settings import load
from agent.core.errors import StateError
from agent.plan.changes import verb
from agent.sync.session import Session
from tests.faults.agents import Agent, Child, environment
from tests.faults.plays import SEED, Outcome, play
from tests.faults.scenario import Week, writes
from tests.faults.tally import Tally
from tests.support.helpers import MONDAY
from tests.support.servers.proxy import FaultProxy
from tests.support.servers.targets import Target

ROOT = Path(__file__).resolve().parents[2]


def remove_database(path: Path) -> None:
    for name in (path.name, path.name + "-wal", path.name + "-shm"):
        (path.parent / name).unlink(missing_ok=True)


def test_a_deleted_database_is_rebuilt_from_the_tags_without_duplicates(
    target: Target,
    proxy: FaultProxy,
    clean_run: Outcome,
    tmp_path: Path,
    tally: Callable[[str], Tally],
) -> None:
    counts = tally("state database deleted")
    adopted: list[str] = []
    owned: list[int] = []

    def delete_after_act_one(act: int, agent: Agent) -> Agent:
        if act == 0:
            return agent
        owned.append(len(agent.store.artifacts()))
        agent.close()
        remove_database(tmp_path / "state.db")
        counts.faults += 1
        fresh = Agent(target, agent.harness, tmp_path, agent.now, timeout=agent.timeout, seed=SEED)
        first = fresh.cycle()
        adopted.extend(verb(change) for change, _ in first.calendars[0].applied)
        return fresh

    outcome = play(target, proxy, tmp_path, tally=counts, before_act=delete_after_act_one)
    # every block and agenda found by its tag; nothing created
    assert adopted == ["adopt"] * owned[0]
    assert outcome.snapshot == clean_run.snapshot


def corrupt_header(path: Path, rng: random.Random) -> None:
    path.write_bytes(rng.randbytes(100) + path.read_bytes()[100:])


def truncate_to_half(path: Path, rng: random.Random) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def scramble_a_table_page(path: Path, rng: random.Random) -> None:
    """Overwrite the middle of one page of a table's b-tree that holds rows: not the first (the
    header would say it all), and not a free page, the empty root of an empty table or a page
    of overflowing text, where nothing that is read would change."""
    data = bytearray(path.read_bytes())
    page = 4096
    # interior and leaf pages of tables (the first byte), with their number of cells (bytes 3-4)
    tables = [
        number
        for number in range(1, len(data) // page)
        if data[number * page] in (0x05, 0x0D)
        and int.from_bytes(data[number * page + 3 : number * page + 5], "big")
    ]
    number = rng.choice(tables)
    data[number * page + 8 : number * page + 1000] = rng.randbytes(992)
    path.write_bytes(bytes(data))


def garble_a_mirror_row(path: Path, rng: random.Random) -> None:
    """Damage that SQLite cannot see: rows whose content is no longer what the agent wrote."""
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE events SET data = substr(data, 1, ?)", [rng.randint(2, 200)])
    connection.close()


CORRUPTIONS = [corrupt_header, truncate_to_half, scramble_a_table_page, garble_a_mirror_row]


@pytest.fixture
def enriched(target: Target, proxy: FaultProxy, tmp_path: Path) -> Child:
    """A calendar the agent enriched, with the state database of that run (checkpointed)."""
    harness = target.new_calendar(proxy.url)
    Week(harness, MONDAY.replace(hour=0)).seed()
    child = Child(target, harness, tmp_path / "agent", MONDAY)
    assert child.run(proxy).changes > 0
    with sqlite3.connect(child.state) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    return child


@pytest.mark.parametrize(
    "corrupt", CORRUPTIONS, ids=lambda corrupt: corrupt.__name__.replace("_", " ")
)
def test_a_corrupted_database_is_a_one_line_error_and_the_calendar_is_not_touched(
    enriched: Child,
    proxy: FaultProxy,
    corrupt: Callable[[Path, random.Random], None],
    tally: Callable[[str], Tally],
) -> None:
    counts = tally(f"state database corrupted: {corrupt.__name__.replace('_', ' ')}")
    harness = enriched.harness
    corrupt(enriched.state, random.Random(f"{SEED}:{corrupt.__name__}"))
    counts.faults += 1
    versions = harness.versions()
    with (
        proxy.injecting(None) as seen,
        pytest.raises(StateError) as caught,
        environment(enriched.variables),
    ):
        with Session(load(enriched.config), clock=lambda: MONDAY) as session:
            for report in session.cycle():
                if report.error:
                    raise StateError(report.error)
    counts.runs += 1
    message = str(caught.value)
    assert (
        "\n" not in message
        and str(enriched.state) in message
        and "corrupt state database" in message
    )
    assert writes(seen) == []
    assert harness.versions() == versions


def test_the_command_reports_a_corrupted_database_in_one_line(enriched: Child) -> None:
    """`callplan sync --once` itself: exit status 1 and one line on stderr, no traceback."""
    corrupt_header(enriched.state, random.Random(SEED))
    result = subprocess.run(
        [sys.executable, "-m", "agent.cli", "--config", str(enriched.config), "sync", "--once"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **enriched.variables, "COLUMNS": "200"},
    )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(
        f"callplan: {enriched.state}: cannot open"
    )


@pytest.mark.parametrize("headroom", [0, 3, 12])
def test_a_full_disk_stops_the_cycle_cleanly_and_the_next_one_converges(
    target: Target,
    proxy: FaultProxy,
    clean_run: Outcome,
    tmp_path: Path,
    headroom: int,
    tally: Callable[[str], Tally],
) -> None:
    counts = tally(f"disk full after {headroom} pages")
    errors: list[str] = []

    def fill_the_disk(act: int, agent: Agent) -> Agent:
        db = agent.store.db
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        db.execute(f"PRAGMA max_page_count = {pages + headroom}")
        report = agent.cycle()
        errors.append(report.error)
        counts.faults += bool(report.error)
        db.execute("PRAGMA max_page_count = 1073741823")  # space again
        return agent

    outcome = play(target, proxy, tmp_path, tally=counts, before_act=fill_the_disk)
    full = [error for error in errors if error]
    assert full, "the disk never filled up: the test proved nothing"
    assert all("disk full" in error and "\n" not in error for error in full), full
    assert outcome.snapshot == clean_run.snapshot
