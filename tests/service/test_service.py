"""`callplan run` as systemd runs it: a real subprocess against real Radicale servers.

Each test reads the notify datagrams on a socket it bound itself, so it waits on what the
service says (READY=1, a STATUS= line after each cycle, STOPPING=1) rather than on time.
"""

from __future__ import annotations

import re
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from agent.cli.demo_server import RadicaleServer
from agent.state.sqlite import SqliteStore
from connectors.caldav import CaldavConnector
from tests.support.servers.proxy import FaultProxy
from tests.support.servers.radicale import make_calendar, send
from tests.support.service_process import account, check_consistent, config, running, seed

LOGFMT = re.compile(
    r'^ts=\S+ level=(debug|info|warning|error) (event|logger)=\S+( [a-z_]+=("([^"\\]|\\.)*"|\S+))*$'
)


def artifact_refs(state: Path) -> list[str]:
    connection = check_consistent(state)
    try:
        return [row[0] for row in connection.execute("SELECT ref FROM artifacts")]
    finally:
        connection.close()


def exists(ref: str) -> bool:
    return send("GET", ref)[0] == 200


def test_the_service_gets_ready_enriches_a_new_meeting_within_an_interval_and_runs_alone(
    radicale: RadicaleServer, user: str, calendar_url: str, tmp_secret: Path, tmp_path: Path
) -> None:
    state = tmp_path / "state.db"
    settings = config(state, [account("alex", radicale.url, user, calendar_url, tmp_secret)])
    with running(tmp_path, settings, {"WATCHDOG_USEC": "300000"}) as service:
        ready = service.notify.wait(lambda message: message.get("READY") == "1", what="READY=1")
        assert ready["STATUS"] == "watching 1 account; first cycles scheduled"
        service.notify.status("last: alex ok, 0 changes")
        service.notify.wait(lambda message: message.get("WATCHDOG") == "1", what="WATCHDOG=1")

        seed(calendar_url, 1)  # as another client would: the service learns of it by polling
        seeded = time.monotonic()
        # the interval, and room for a busy machine
        service.notify.status("last: alex ok, 3 changes", timeout=1 + 10)
        assert time.monotonic() - seeded < 1 + 10
        refs = artifact_refs(state)
        assert len(refs) == 3 and all(exists(ref) for ref in refs)

        for command in (["run"], ["sync", "--once"]):
            second = service.cli(*command)
            assert second.returncode == 1
            assert second.stderr.strip() == (
                f"callplan: {state}: in use by another callplan process "
                f"(pid {service.process.pid}); only one may use "  # type: ignore[union-attr]
                "a state database at a time: stop the other one first (the service: systemctl stop "
                "callplan)"
            )
        # reading is fine while it runs
        assert service.cli("sync", "--once", "--dry-run").returncode == 0
        status = service.cli("status")
        assert (f"callplan run: running (pid {service.process.pid})") in status.stdout  # type: ignore[union-attr]

        service.signal(signal.SIGTERM)
        assert service.wait(10) == 0
    log = service.log()
    assert "event=cycle account=alex outcome=ok changes=3" in log
    assert all(LOGFMT.match(line) for line in log.splitlines()), log
    assert "s3cret-Pa55" not in log and "Agenda" not in log  # no secret, no meeting body
    assert "callplan run: not running" in service.cli("status").stdout


def test_a_server_that_goes_away_fails_its_account_alone_and_is_picked_up_again_when_it_returns(
    radicale: RadicaleServer, user: str, calendar_url: str, tmp_secret: Path, tmp_path: Path
) -> None:
    with RadicaleServer(tmp_path / "away") as away:
        away_calendar = make_calendar(away.url, "bo")
        settings = config(
            tmp_path / "state.db",
            [
                account("gone", away.url, "bo", away_calendar, tmp_secret),
                account("steady", radicale.url, user, calendar_url, tmp_secret),
            ],
        )
        with running(tmp_path, settings) as service:
            service.notify.status("last: gone ok")
            away.stop()
            service.notify.status("last: gone failed (1 in a row)")
            failing = service.notify.status("last: gone failed (2 in a row)")
            assert failing["STATUS"].startswith("2 accounts, 1 failing (gone);")
            for _ in range(2):  # the other account keeps its pace meanwhile
                service.notify.status("last: steady ok")
            assert service.alive
            store = SqliteStore(tmp_path / "state.db")
            gone = store.run_status("gone")
            store.close()
            assert (
                gone.failures >= 2
                and "gave up after" in gone.last_error
                and str(away.port) in gone.last_error
            )

            away.restart()
            seed(away_calendar, 1)
            # backoff cap, interval, room
            service.notify.status("last: gone ok, 3 changes", timeout=2 + 1 + 10)
            service.notify.status("2 accounts, none failing")
            service.signal(signal.SIGTERM)
            assert service.wait(10) == 0
    failed = [
        line
        for line in service.log().splitlines()
        if "event=cycle account=gone outcome=failed" in line
    ]
    assert [re.search((r" failures=(\d+) "), line).group(1) for line in failed[:2]] == ["1", "2"]  # type: ignore[union-attr]
    ends = [
        datetime.fromisoformat(line.split()[0].removeprefix("ts=").replace("Z", "+00:00"))
        for line in failed[:2]
    ]
    # the backoff never runs a failing account early
    assert (ends[1] - ends[0]).total_seconds() >= 1


@pytest.fixture
def held_put() -> tuple[threading.Event, threading.Event, list[str]]:
    """(entered, release, paths): the front holds a chosen PUT until the test releases it."""
    return threading.Event(), threading.Event(), []


def hold(
    front: FaultProxy,
    nth: int,
    entered: threading.Event,
    release: threading.Event,
    paths: list[str],
) -> None:
    seen = 0

    def before_forward(method: str, path: str) -> None:
        nonlocal seen
        if method == "PUT":
            seen += 1
            if seen == nth:
                paths.append(path)
                entered.set()
                release.wait(30)

    front.before_forward = before_forward


def test_sigterm_finishes_the_change_in_flight_stops_in_time_and_the_next_start_does_the_rest(
    radicale: RadicaleServer,
    user: str,
    calendar_url: str,
    tmp_secret: Path,
    tmp_path: Path,
    held_put: tuple[threading.Event, threading.Event, list[str]],
) -> None:
    entered, release, _ = held_put
    state = tmp_path / "state.db"
    seed(calendar_url, 4)  # 12 changes: a prep, a debrief and an agenda each
    with FaultProxy(radicale.url).running() as front:
        hold(front, 3, entered, release, [])
        through_front = calendar_url.replace(radicale.url, front.url)
        settings = config(
            state,
            [account("alex", front.url, user, through_front, tmp_secret)],
            stop_timeout_seconds=5,
        )
        with running(tmp_path, settings) as service:
            assert entered.wait(30), service.log()
            service.signal(signal.SIGTERM)
            stopping = service.notify.wait(
                lambda message: message.get("STOPPING") == "1", what="STOPPING=1"
            )
            assert stopping["STATUS"] == "stopping: letting alex finish the current change"
            asked = time.monotonic()
            release.set()
            assert service.wait(10) == 0
            assert time.monotonic() - asked < 5
        log = service.log()
        # 2 reads, 3 writes
        assert "event=cycle account=alex outcome=stopped changes=3 requests=5 backlog=9" in log
        assert "event=stop outcome=clean" in log
        refs = artifact_refs(state)
        # the change in flight was finished and recorded
        assert len(refs) == 3 and all(exists(ref) for ref in refs)
        store = SqliteStore(state)
        assert store.run_status("alex").backlog == 9
        store.close()
        assert re.search(r"│ alex .*│ 9 ", service.cli("status").stdout)

        finished = service.cli("sync", "--once")
        assert finished.returncode == 0 and "9 changes applied" in finished.stdout
        refs = artifact_refs(state)
        assert len(refs) == 12 and all(exists(ref) for ref in refs)


def test_a_change_that_cannot_finish_within_the_bound_is_abandoned_safely(
    radicale: RadicaleServer,
    user: str,
    calendar_url: str,
    tmp_secret: Path,
    tmp_path: Path,
    held_put: tuple[threading.Event, threading.Event, list[str]],
    connect: Callable[[str, str], CaldavConnector],
) -> None:
    entered, release, paths = held_put
    state = tmp_path / "state.db"
    seed(calendar_url, 2)
    with FaultProxy(radicale.url).running() as front:
        hold(front, 1, entered, release, paths)
        through_front = calendar_url.replace(radicale.url, front.url)
        settings = config(
            state,
            [account("alex", front.url, user, through_front, tmp_secret)],
            stop_timeout_seconds=1,
        )
        with running(tmp_path, settings) as service:
            assert entered.wait(30), service.log()
            service.signal(signal.SIGTERM)
            service.notify.wait(lambda message: message.get("STOPPING") == "1", what="STOPPING=1")
            asked = time.monotonic()
            assert service.wait(10) == 0
            assert time.monotonic() - asked < 1 + 2
            assert "event=stop outcome=abandoned accounts=alex timeout=1" in service.log()
            assert artifact_refs(state) == []  # nothing half-written: the write was never recorded
            # the abandoned write reaches the server after all, as a request already sent might
            release.set()
            block = front.url.rstrip("/") + paths[0]
            deadline = time.monotonic() + 10
            while not exists(block) and time.monotonic() < deadline:
                time.sleep(0.02)
            assert exists(block)
        assert service.cli("sync", "--once").returncode == 0
        refs = artifact_refs(state)
        assert len(refs) == 6 and block in refs  # adopted by its tag, not written twice
    tags = Counter(
        (event.block_tag.kind, event.block_tag.meeting_key)
        for event in connect(radicale.url, user).find_owned(calendar_url)
        if event.block_tag
    )
    # two meetings, a prep and a debrief each, none twice
    assert sorted(tags.values()) == [
        1,
        1,
        1,
        1,
    ]


def test_sighup_reloads_the_configuration_and_keeps_running_on_a_bad_one(
    radicale: RadicaleServer, user: str, calendar_url: str, tmp_secret: Path, tmp_path: Path
) -> None:
    alex = account("alex", radicale.url, user, calendar_url, tmp_secret)
    bob_calendar = make_calendar(radicale.url, user + "b")
    bob = account("bob", radicale.url, user + "b", bob_calendar, tmp_secret)
    seed(bob_calendar, 1)
    settings = config(tmp_path / "state.db", [alex])
    with running(tmp_path, settings) as service:
        service.notify.status("last: alex ok")

        service.write_config(config(tmp_path / "state.db", [alex, bob]))
        service.signal(signal.SIGHUP)
        service.notify.wait(lambda message: message.get("RELOADING") == "1", what="RELOADING=1")
        reloaded = service.notify.wait(lambda message: message.get("READY") == "1", what="READY=1")
        assert reloaded["STATUS"] == "reloaded: 2 accounts (added bob)"
        service.notify.status("last: bob ok, 3 changes")

        broken = config(tmp_path / "state.db", [alex, bob], interval_seconds=0)
        service.write_config(broken)
        service.signal(signal.SIGHUP)
        refused = service.notify.wait(lambda message: message.get("READY") == "1", what="READY=1")
        assert refused["STATUS"] == (
            "reload failed, still running the previous configuration: "
            "config.toml: service.interval_seconds: Input should be greater than or equal to 1"
        )
        service.notify.status("last: bob ok")
        service.notify.status("last: alex ok")

        service.write_config(config(tmp_path / "state.db", [alex]))
        service.signal(signal.SIGHUP)
        dropped = service.notify.wait(lambda message: message.get("READY") == "1", what="READY=1")
        assert dropped["STATUS"] == "reloaded: 1 account (removed bob)"
        service.notify.status("last: alex ok")
        service.notify.status("last: alex ok")
        after = len(service.notify.received)
        service.notify.status("last: alex ok")
        assert not any(
            "last: bob" in message.get("STATUS", "") for message in service.notify.received[after:]
        )
        service.signal(signal.SIGTERM)
        assert service.wait(10) == 0
    assert "event=reload outcome=failed" in service.log()
