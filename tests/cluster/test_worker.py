"""`callplan worker` as systemd runs it: real worker processes on one PostgreSQL database, serving
CalDAV accounts on a real Radicale.

The workers' pace is compressed (a cycle every two seconds, heartbeats every half second, a worker
silent for three seconds taken for dead). Tests wait on what the workers and the servers say,
never for a fixed time.
"""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
import pytest
import tomli_w

from agent.cli.demo_server import RadicaleServer
from agent.config.settings import PostgresState
from agent.state.postgres import PostgresStore
from connectors.caldav import CaldavConnector
from tests.support.cluster import (
    apply,
    cli,
    cluster_document,
    eventually,
    kill,
    migrated,
    owner,
    seconds,
    worker_settings,
    workers,
)
from tests.support.servers.postgres import PostgresServer
from tests.support.servers.proxy import FaultProxy, Hold, Kill, Request
from tests.support.servers.radicale import make_calendar
from tests.support.service_process import account, cycle_lines, seed

INTERVAL, HEARTBEAT, STALLED = 2.0, 0.5, 3.0
WRITES = ("PUT", "DELETE")


@pytest.fixture
def state(postgres: PostgresServer) -> PostgresState:
    return migrated(postgres)


def document(state: PostgresState, accounts: list[dict[str, Any]]) -> dict[str, Any]:
    return cluster_document(
        state.url, accounts, interval=INTERVAL, heartbeat=HEARTBEAT, stalled_after=STALLED
    )


def has(state: PostgresState, name: str, count: int) -> bool:
    return owned(state, name) == count


def owned(state: PostgresState, name: str) -> int:
    store = PostgresStore(state, pool_size=1)
    try:
        return len(store.artifacts(account=name))
    finally:
        store.close()


def test_a_worker_needs_a_migrated_postgresql_state_and_a_stop_bound_within_the_clusters(
    tmp_path: Path, postgres: PostgresServer
) -> None:
    config = tmp_path / "worker.toml"
    config.write_text(tomli_w.dumps(worker_settings(str(tmp_path / "state.db"))))
    refused = cli("--config", str(config), "worker")
    assert (refused.returncode, refused.stderr) == (
        1,
        "callplan: worker.toml: state: a worker serves a cluster, whose state is a PostgreSQL "
        'database: set state = "postgresql://..."\n',
    )
    bare = PostgresState(url=postgres.create_database())
    config.write_text(tomli_w.dumps(worker_settings(bare.url)))
    refused = cli("--config", str(config), "worker")
    assert refused.returncode == 1 and refused.stderr.endswith("run callplan db migrate\n")

    state = migrated(postgres)
    apply(tmp_path, document(state, []))
    config.write_text(tomli_w.dumps(worker_settings(state.url, stop_timeout_seconds=2.5)))
    refused = cli("--config", str(config), "worker")
    assert (refused.returncode, refused.stderr) == (
        1,
        "callplan: worker.toml: service.stop_timeout_seconds: stop_timeout_seconds (2.5) must be "
        "less than the cluster's stalled_after_seconds (3) less two heartbeats (1): a worker cut "
        "off from the database must have stopped its cycles before the others run them again\n",
    )


def test_workers_serve_the_applied_accounts_and_an_apply_adds_and_removes_without_a_restart(
    tmp_path: Path,
    state: PostgresState,
    radicale: RadicaleServer,
    tmp_secret: Path,
) -> None:
    entries = {}
    for name in ("alex", "bo", "cy", "dee"):
        calendar = make_calendar(radicale.url, f"{name}-{tmp_path.name}"[-40:])
        seed(calendar, 1)
        user = calendar.removeprefix(radicale.url).strip("/").split("/")[0]
        entries[name] = account(name, radicale.url, user, calendar, tmp_secret)
    apply(tmp_path, document(state, [entries["alex"], entries["bo"], entries["cy"]]))
    settings = worker_settings(state.url, stop_timeout_seconds=1)
    with workers(tmp_path, ["w1", "w2"], settings) as running:
        for name in ("alex", "bo", "cy"):
            eventually(partial(has, state, name, 3), 30, f"{name}'s three blocks")

        applied = apply(tmp_path, document(state, [entries["alex"], entries["cy"], entries["dee"]]))
        assert applied.stdout.splitlines()[:2] == ["added: dee", "removed: bo"]
        removed_at = time.time()
        eventually(lambda: owned(state, "dee") == 3, 30, "dee served, with no restart")
        # two more intervals: bo is not served again, the others keep going
        eventually(
            lambda: all(
                sum(
                    1
                    for worker in running.values()
                    for line in cycle_lines(worker.log())
                    if line["account"] == name and seconds(line["ts"]) > removed_at + INTERVAL
                )
                >= 2
                for name in ("alex", "cy", "dee")
            ),
            30,
            "two more cycles of each account",
        )
        late = [
            line
            for worker in running.values()
            for line in cycle_lines(worker.log())
            if line["account"] == "bo" and seconds(line["ts"]) > removed_at + 1
        ]
        assert late == []

        # a quiet calendar is the cluster's to skip: after its first plan, the next cycles skip
        # planning whichever worker runs them, and its plan state is in PostgreSQL
        planning = [
            line.get("planning", "")
            for line in sorted(
                (line for worker in running.values() for line in cycle_lines(worker.log())),
                key=lambda line: line["ts"],
            )
            if line["account"] == "alex"
        ]
        assert planning[0].startswith("planned") and planning[-1].startswith("skipped"), planning
        with psycopg.connect(state.url) as connection:
            planned = connection.execute(
                "SELECT planned_at FROM calendars WHERE account = 'alex'"
            ).fetchall()
        assert len(planned) == 1 and planned[0][0] is not None

        status = cli(
            "--config", str(tmp_path / "w1" / "config.toml"), "status", environ={"COLUMNS": "200"}
        )
        assert status.returncode == 0, status.stderr
        rows = [line for line in status.stdout.splitlines() if line.startswith("│")]
        named = [row.split("│")[1].strip() for row in rows]  # a wrapped row continues unnamed
        assert [name for name in named if name] == ["alex", "cy", "dee"]
        assert "callplan worker: 2 alive (w1, w2); queue: " in status.stdout

        for worker in running.values():
            worker.signal(signal.SIGTERM)
        assert [worker.wait(10) for worker in running.values()] == [0, 0]
    for worker in running.values():
        assert "event=stop worker=" in worker.log() and "outcome=clean" in worker.log()


def one_account_through(
    tmp_path: Path,
    state: PostgresState,
    radicale: RadicaleServer,
    tmp_secret: Path,
    proxy: FaultProxy,
    meetings: int,
) -> str:
    calendar = make_calendar(radicale.url, f"u{tmp_path.name}"[-40:])
    seed(calendar, meetings)
    user = calendar.removeprefix(radicale.url).strip("/").split("/")[0]
    via = calendar.replace(radicale.url, proxy.url)
    apply(tmp_path, document(state, [account("alex", proxy.url, user, via, tmp_secret)]))
    return calendar


def tags(calendar: str, radicale: RadicaleServer, user: str) -> Counter[tuple[str, str]]:
    from tests.support.servers.radicale import PASSWORD, SELLER, ZONE

    connector = CaldavConnector(SELLER, radicale.url, user, PASSWORD, zone=ZONE)
    try:
        return Counter(
            (str(event.block_tag.kind), event.block_tag.meeting_key)
            for event in connector.find_owned(calendar)
            if event.block_tag
        )
    finally:
        connector.close()


def test_sigterm_finishes_the_change_in_flight_and_another_worker_takes_the_account_at_once(
    tmp_path: Path, state: PostgresState, radicale: RadicaleServer, tmp_secret: Path
) -> None:
    pids: dict[int, str] = {}
    release, held = threading.Event(), threading.Event()
    seen_writes: list[Request] = []

    def plan(request: Request) -> Hold | None:
        if request.method in WRITES:
            seen_writes.append(request)
            if len(seen_writes) == 3:
                held.set()
                return Hold(release)
        return None

    with FaultProxy(radicale.url, identify=owner(lambda: pids)).running() as proxy:
        calendar = one_account_through(tmp_path, state, radicale, tmp_secret, proxy, 4)
        settings = worker_settings(state.url, stop_timeout_seconds=1)
        with workers(tmp_path, ["w1", "w2"], settings, registry=pids) as running:
            proxy.plan = plan
            assert held.wait(30)
            busy = running[seen_writes[2].client]
            other = next(worker for worker in running.values() if worker is not busy)
            busy.signal(signal.SIGTERM)
            stopping = busy.notify.wait(lambda m: m.get("STOPPING") == "1", what="STOPPING=1")
            assert stopping["STATUS"] == "stopping: letting alex finish the current change"
            release.set()
            assert busy.wait(10) == 0
            stopped = [line for line in cycle_lines(busy.log()) if line["outcome"] == "stopped"]
            assert [(line["account"], line["changes"]) for line in stopped] == [("alex", "3")]
            assert "outcome=clean" in busy.log()  # within its stop bound, else "abandoned"
            eventually(lambda: owned(state, "alex") == 12, 30, "the other worker did the rest")
            # its cycle line is logged after the cycle's commit, so wait for the line itself
            finished = eventually(
                lambda: [line for line in cycle_lines(other.log()) if int(line["changes"])],
                10,
                "the other worker's cycle line with the changes",
            )
            began = seconds(finished[-1]["ts"]) - int(finished[-1]["ms"]) / 1000
            # due again at once: taken at the next tick, not an interval later
            assert began - seconds(stopped[0]["ts"]) < INTERVAL
    user = calendar.removeprefix(radicale.url).strip("/").split("/")[0]
    assert sorted(tags(calendar, radicale, user).values()) == [1] * 8  # 4 preps, 4 debriefs


def test_a_killed_workers_cycle_runs_again_elsewhere_within_the_bound_and_writes_nothing_twice(
    tmp_path: Path, state: PostgresState, radicale: RadicaleServer, tmp_secret: Path
) -> None:
    pids: dict[int, str] = {}
    killed: list[tuple[str, float]] = []
    running: dict[str, Any] = {}

    def plan(request: Request) -> Kill | None:
        if request.method in WRITES and not killed and request.client:
            victim = running[request.client]

            def die() -> None:
                kill(victim)
                killed.append((request.client, time.monotonic()))

            return Kill(die, after_forward=True)  # the server applied it; the worker never knew
        return None

    with FaultProxy(radicale.url, identify=owner(lambda: pids)).running() as proxy:
        calendar = one_account_through(tmp_path, state, radicale, tmp_secret, proxy, 3)
        settings = worker_settings(state.url, stop_timeout_seconds=1)
        with workers(tmp_path, ["w1", "w2"], settings, registry=pids) as started:
            running.update(started)
            proxy.plan = plan
            eventually(lambda: killed, 30, "a worker killed in the middle of a write")
            eventually(lambda: owned(state, "alex") == 9, 30, "the cycle finished elsewhere")
            dead, at = killed[0]
            after = [seen for seen in proxy.seen if seen.arrived > at]
            assert after and {seen.request.client for seen in after} == {
                name for name in started if name != dead
            }
            # re-run once the dead worker's heartbeat was STALLED old: within a second or two more
            assert after[0].arrived - at < STALLED + 3
    user = calendar.removeprefix(radicale.url).strip("/").split("/")[0]
    assert sorted(tags(calendar, radicale, user).values()) == [1] * 6  # adopted, not written twice
