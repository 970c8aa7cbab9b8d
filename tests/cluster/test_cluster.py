"""Three workers serving 300 accounts (100 each on Radicale, the Google Calendar fake and the Graph
fake) while one worker is killed with SIGKILL in the middle of a write, another gets SIGTERM with a
write in flight, PostgreSQL restarts, and `callplan accounts apply` adds and removes accounts.

A cycle comes every ten seconds (a worker silent for five is taken for dead). The servers' proxies
record every request with the worker that sent it (the owner of its connection), and afterwards:
- every account kept its cadence: no cycle started two intervals or more after it was due (the
  due time its previous cycle logged);
- no account ever had two cycles at once: its requests came one at a time, and a cycle begun by
  one worker was never carried on by another;
- nothing was duplicated, no byte people wrote was lost, and the database records exactly what
  is on each calendar.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, closing
from functools import partial
from pathlib import Path

import pytest

from agent.state.postgres import PostgresStore
from agent.state.store import CalendarKey
from tests.faults.scenario import Findings, inspect, people_text
from tests.support.cluster import (
    Seller,
    Worker,
    account_of,
    apply,
    calls,
    cluster_document,
    eventually,
    kill,
    lags,
    migrated,
    overlaps,
    owner,
    seconds,
    sellers,
    worker_settings,
    workers,
)
from tests.support.servers.postgres import PostgresServer
from tests.support.servers.proxy import FaultProxy, Hold, Kill, Request
from tests.support.servers.targets import SERVERS, Target
from tests.support.service_process import cycle_lines

INTERVAL, HEARTBEAT, STALLED = 10.0, 1.0, 5.0
RECOVERY = STALLED + HEARTBEAT + 2  # a dead worker's cycles run again elsewhere within this
PER_PROVIDER, CHURN = 100, 5  # accounts per provider; added and removed per provider by an apply
WRITES = ("PUT", "PATCH", "DELETE", "POST")


@pytest.fixture
def database() -> Iterator[PostgresServer]:
    """A PostgreSQL server of this test's own: it is restarted in the middle."""
    with PostgresServer() as server:
        yield server


class Providers:
    """The three servers, a recording proxy in front of each, and their sellers."""

    def __init__(self, stack: ExitStack, folder: Path, pids: dict[int, str]) -> None:
        self.targets: dict[str, Target] = {}
        self.proxies: dict[str, FaultProxy] = {}
        for name, serve in SERVERS.items():
            target = stack.enter_context(serve(folder / f"{name}-server"))
            proxy = FaultProxy(target.upstream, identify=owner(lambda: dict(pids)))
            self.targets[name] = target
            self.proxies[name] = stack.enter_context(proxy.running())
        self.sellers: dict[str, list[Seller]] = {}

    def seat(self, folder: Path, prefix: str, count: int) -> list[Seller]:
        made = []
        for name, target in self.targets.items():
            names = [f"{prefix}-{name}-{number}" for number in range(count)]
            found = sellers(target, self.proxies[name].url, folder, names)
            self.sellers.setdefault(name, []).extend(found)
            made += found
        return made

    def environment(self) -> dict[str, str]:
        return {
            key: value
            for target in self.targets.values()
            for key, value in target.environment().items()
        }

    def plan(self, plan: object) -> None:
        for proxy in self.proxies.values():
            proxy.plan = plan  # type: ignore[assignment]

    def traffic(self) -> dict[str, list]:
        found = {}
        for name, target in self.targets.items():
            found.update(
                calls(self.proxies[name].seen, name, account_of(target, self.sellers[name]))
            )
        return found


def test_three_workers_keep_300_accounts_going_through_a_kill_a_stop_a_restart_and_an_apply(
    tmp_path: Path, database: PostgresServer
) -> None:
    state = migrated(database)
    pids: dict[int, str] = {}
    with ExitStack() as stack:
        providers = Providers(stack, tmp_path, pids)
        serving = providers.seat(tmp_path / "agents", "s", PER_PROVIDER)
        joining = providers.seat(tmp_path / "agents", "j", CHURN)
        leaving = [
            seller for name in providers.targets for seller in providers.sellers[name][:CHURN]
        ]

        def document(present: list[Seller]) -> dict[str, object]:
            return cluster_document(
                state.url,
                [seller.entry for seller in present],
                interval=INTERVAL,
                heartbeat=HEARTBEAT,
                stalled_after=STALLED,
            )

        apply(tmp_path, document(serving))
        store = stack.enter_context(closing(PostgresStore(state, pool_size=4)))
        settings = worker_settings(state.url, workers=8)
        running = stack.enter_context(
            workers(tmp_path, ["w1", "w2", "w3"], settings, providers.environment(), pids)
        )

        def served(present: list[Seller]) -> bool:
            with store.reading("count") as sql:
                rows = sql.rows("SELECT account, count(*) AS n FROM artifacts GROUP BY account")
            counts = {row["account"]: row["n"] for row in rows}
            return all(counts.get(seller.name) == 3 for seller in present)

        eventually(lambda: served(serving), 180, "every account's first cycle")
        start = time.monotonic()
        wall = time.time() - start

        # SIGKILL: a worker dies right after the server applied its write
        people_move(providers, serving[CHURN::20])
        killed: list[tuple[str, float, str | None]] = []
        whose = {
            name: account_of(target, providers.sellers[name])
            for name, target in providers.targets.items()
        }

        def account(request: Request) -> str | None:
            return next(filter(None, (find(request) for find in whose.values())), None)

        def kill_plan(request: Request) -> Kill | None:
            if request.method in WRITES and request.client == "w1" and not killed:

                def die() -> None:
                    kill(running["w1"])
                    killed.append((request.client, time.monotonic(), account(request)))

                return Kill(die, after_forward=True)
            return None

        providers.plan(kill_plan)
        eventually(lambda: killed, 3 * INTERVAL, "w1 killed in the middle of a write")
        providers.plan(None)
        killed_at = killed[0][1]
        eventually(
            lambda: time.monotonic() > killed_at + RECOVERY, RECOVERY + 5, "the recovery bound"
        )
        running["w1"].restart()  # as systemd would

        # SIGTERM: a worker stops with a write in flight
        people_move(providers, serving[CHURN + 1 :: 20])
        release, held = threading.Event(), threading.Event()

        def hold_plan(request: Request) -> Hold | None:
            if request.method in WRITES and request.client == "w2" and not held.is_set():
                held.set()
                return Hold(release)
            return None

        providers.plan(hold_plan)
        assert held.wait(3 * INTERVAL), "w2 wrote nothing"
        providers.plan(None)
        running["w2"].signal(signal.SIGTERM)
        # (its log, not STOPPING=1: a notification socket nobody read for a minute drops them)
        eventually(lambda: "event=signal" in running["w2"].log(), 15, "w2 heard SIGTERM")
        release.set()
        assert running["w2"].wait(10) == 0
        assert "outcome=clean" in running["w2"].log()
        running["w2"].restart()  # a rolling restart

        # PostgreSQL restarts
        restart_at = time.time()
        database.stop()
        database.start()
        restarted = time.time() - restart_at
        for worker in running.values():
            eventually(
                partial(serving_since, worker, restart_at + 1),
                3 * INTERVAL,
                f"{worker.name} serving again after the restart",
            )

        # the accounts change under load
        present = [seller for seller in serving if seller not in leaving] + joining
        applied = apply(tmp_path, document(present))
        assert f"{len(joining)} added, 0 changed, {len(leaving)} removed" in applied.stdout
        applied_at = time.monotonic()
        eventually(lambda: served(joining), 3 * INTERVAL, "the new accounts served")
        eventually(
            lambda: time.monotonic() > applied_at + 2 * INTERVAL, 3 * INTERVAL, "two more intervals"
        )
        end = time.monotonic()

        for worker in running.values():
            worker.signal(signal.SIGTERM)
        assert [worker.wait(15) for worker in running.values()] == [0, 0, 0]
        traffic = providers.traffic()
        logged: dict[str, list[dict[str, str]]] = {}
        for worker in running.values():
            for line in cycle_lines(worker.log()):
                logged.setdefault(line["account"], []).append(line)

        # every account kept its cadence: no cycle started two intervals after it was due
        late = {
            seller.name: max(lateness)
            for seller in present
            if (
                lateness := lags(
                    traffic[seller.name], logged.get(seller.name, []), wall, start, end
                )
            )
            and max(lateness) >= 2 * INTERVAL
        }
        assert late == {}, f"(PostgreSQL was down {restarted:.1f} s while it restarted)"
        after = {
            name
            for name, lines in logged.items()
            if any(seconds(line["ts"]) - wall > applied_at for line in lines)
        }
        assert {seller.name for seller in present} - after == set(), "not served after the apply"
        # never two cycles of an account at once
        dead = {"w1": killed_at}
        assert {
            name: problems for name in traffic if (problems := overlaps(traffic[name], dead))
        } == {}
        gone = [
            call
            for seller in leaving
            for call in traffic[seller.name]
            if call.arrived > applied_at + 1
        ]
        assert gone == []
        # the killed worker's cycles ran again elsewhere, within the bound
        # the cycles w1 was running when it died (no log line of theirs) ran again elsewhere,
        # within the bound: the stall, a heartbeat, the recovery's tick and a fetch
        ended = {
            name: [seconds(line["ts"]) - wall for line in lines if line["worker"] == "w1"]
            for name, lines in logged.items()
        }
        cut_off = {
            name
            for name, account in traffic.items()
            if (sent := [c.arrived for c in account if c.worker == "w1" and c.arrived < killed_at])
            and not any(max(sent) <= end <= killed_at for end in ended.get(name, []))
        }
        assert killed[0][2] in cut_off
        rerun = {
            name: next(c for c in traffic[name] if c.arrived > killed_at and c.opens)
            for name in cut_off
        }
        assert all(call.worker != "w1" for call in rerun.values()), rerun
        assert max(call.arrived for call in rerun.values()) - killed_at < RECOVERY

        # nothing duplicated, nothing lost, the database records what the calendars hold
        def check(seller: Seller) -> tuple[str, Findings]:
            events = seller.harness.events()
            key = CalendarKey(seller.name, seller.harness.calendar)
            return seller.name, inspect(events, seller.written, store, key)

        with ThreadPoolExecutor(8) as pool:
            findings = dict(pool.map(check, present))
        unclean = [f"{name}: {found}" for name, found in findings.items() if not found.clean]
        assert unclean == [], "\n".join(unclean)


def serving_since(worker: Worker, since: float) -> bool:
    """Whether the worker ended a cycle after `since` (time.time()). A worker whose cycle outlived
    its stop bound when it lost the database has exited, leaving the cycle to the others; it is
    started again here, as systemd's Restart= would."""
    if not worker.alive:
        assert "outcome=abandoned" in worker.log(), worker.log()[-2000:]
        worker.restart()
    return any(seconds(line["ts"]) > since for line in cycle_lines(worker.log()))


def people_move(providers: Providers, moved: list[Seller]) -> None:
    """The sellers reschedule their meeting by an hour and a customer adds a line to it: the next
    cycles write (blocks move, the agenda is re-spliced around the new line)."""
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(person, moved))


def person(seller: Seller) -> None:
    harness = seller.harness
    meeting = harness.meeting(seller.meeting)
    # one write, as a calendar app saves an edit (two would let a cycle come in between, and
    # the second would put back the agenda as it was before that cycle rewrote it)
    harness.edit_meeting(
        seller.meeting,
        start=meeting.start.replace(minute=30),
        description=meeting.description + "\nRoom 4 is booked. -- Dana",
    )
    seller.written[seller.meeting] = people_text(harness.meeting(seller.meeting))
