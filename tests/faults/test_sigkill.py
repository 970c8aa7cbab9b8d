"""SIGKILL at any request of a cycle: after restarts the calendar is what a clean run makes.

The agent runs in a child process and is killed at a request chosen by a seeded RNG
(stratified over the requests a clean cycle makes, so early, middle and late points are all
hit), either before the server sees the request or right after the server applied it and
before the agent hears back: the crash between a provider write and the database write.
Then it is restarted until it has nothing left to do, and the calendar and the state
database are checked: no duplicate blocks or agendas, no lost description text, no orphan
blocks, every artifact recorded where it is and audited, and the same calendar (and the
same tombstones) as a run that was never killed.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from agent.state.sqlite import SqliteStore
from tests.faults.agents import Child, kill_at
from tests.faults.scenario import Week, inspect, snapshot
from tests.faults.tally import Tally
from tests.support.helpers import MONDAY
from tests.support.servers.proxy import FaultProxy
from tests.support.servers.targets import Target

SEED = 20300318
TRIALS = 6  # each kills the agent once per act: 12 kills in all
RESTARTS = 3  # a killed cycle is finished by this many clean ones at most


@dataclass
class Played:
    """What one play of the week left: a snapshot after each act, and the requests each act's
    first cycle made."""

    snapshots: list[dict]
    requests: list[int]


def play(
    target: Target, proxy: FaultProxy, folder: Path, kills: list[tuple[int, bool]], tally: Tally
) -> Played:
    """The week on a fresh calendar; in act i the first cycle is killed at kills[i] (if given)."""
    harness = target.new_calendar(proxy.url)
    week = Week(harness, MONDAY.replace(hour=0))
    week.seed()
    child = Child(target, harness, folder, MONDAY)
    played = Played([], [])
    for act in range(2):
        if act:
            week.act()
        first = child.run(proxy, kill_at(*kills[act]) if kills else None)
        played.requests.append(len(first.seen))
        if kills:
            assert first.killed, f"act {act}: the child was not killed at request {kills[act]}"
            tally.runs += 1
            tally.faults += 1
        restarts = 0
        while child.pending():
            restarts += 1
            assert restarts <= RESTARTS, f"act {act}: not converged after {RESTARTS} restarts"
            run = child.run(proxy)
            assert run.exitcode == 0 and not run.errors, run.errors
        # at rest: one more cycle reads the agent's own writes back, so the next act's first
        # cycle reads what people did, and as many pages of it, whatever this act went through
        rest = child.run(proxy)
        assert rest.exitcode == 0 and not rest.errors and rest.changes == 0, (
            rest.errors,
            rest.changes,
        )
        events = harness.events()
        store = SqliteStore(child.state)
        try:
            findings = inspect(events, week.written, store, child.calendar)
            tombstones = store.tombstones(child.calendar)
        finally:
            store.close()
        tally.add(findings)
        assert findings.clean, f"act {act}, kill at {kills[act] if kills else None}: {findings}"
        played.snapshots.append(snapshot(events, tombstones))
    return played


def test_sigkill_at_any_request_then_restarts_end_as_a_clean_run(
    target: Target, proxy: FaultProxy, tmp_path: Path, tally: Callable[[str], Tally]
) -> None:
    reference = play(target, proxy, tmp_path / "clean", [], Tally("clean run"))
    rng = random.Random(SEED)
    kills = tally("SIGKILL mid-cycle, then restart")
    for trial in range(TRIALS):
        points = [
            (1 + int((trial + rng.random()) * requests / TRIALS), rng.random() < 0.5)  # stratified
            for requests in reference.requests
        ]
        played = play(target, proxy, tmp_path / f"trial{trial}", points, kills)
        for act, (expected, actual) in enumerate(zip(reference.snapshots, played.snapshots)):
            assert actual == expected, (
                f"trial {trial}, act {act}, kills at {points}: the calendar differs from a clean "
                "run"
            )
