"""The service's scheduling, in-process and fast: backoff per account, crashes, reloads, and
the cooperative stop of a cycle. (tests/service/test_service.py runs the real process.)

Accounts here use memory calendars; the interval is an hour and first cycles wait out the
jitter, so the scheduler never runs a cycle on its own while a test calls `run_cycle` itself.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from agent.config import settings as config_module
from agent.config.settings import Account
from agent.core.errors import StateError, TransientError
from agent.core.model import Delta, Window
from agent.service.daemon import Daemon
from agent.service.notify import Notifier
from agent.state.backend import open_store
from agent.state.store import CalendarKey, RunStatus
from agent.sync.session import Session
from connectors import open_connector
from connectors.base import Connector as BaseConnector
from tests.support.cluster import eventually
from tests.support.harness.caldav import CaldavHarness
from tests.support.helpers import AUTO, MONDAY, SELLER, World, at, meeting
from tests.support.memory_calendar import CALENDAR, MemoryCalendar, MemoryConnector
from tests.support.servers.radicale import SELLER as DAV_SELLER

HOUR = 3600
DAY = 24 * HOUR
JITTER = 60


class Connector(MemoryConnector):
    """A memory connector that knows when it was closed, and can be made to fail."""

    def __init__(self, failure: Exception | None = None) -> None:
        super().__init__(MemoryCalendar(SELLER))
        self.failure = failure
        self.closed = False

    def changes(self, calendar: str, cursor: str | None, window: Window) -> Delta:
        if self.failure is not None:
            raise self.failure
        return super().changes(calendar, cursor, window)

    def close(self) -> None:
        self.closed = True


class Harness:
    """A daemon on a config file, its connectors by account, and what it told systemd."""

    def __init__(self, folder: Path, failures: dict[str, Exception]) -> None:
        self.path = folder / "config.toml"
        self.failures = failures
        self.opened: dict[str, list[Connector]] = {}
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.socket.bind(str(folder / "notify.sock"))
        self.socket.settimeout(5)
        self.folder = folder

    def write(
        self, names: list[str], own: dict[str, dict[str, Any]] | None = None, **service: Any
    ) -> None:
        """The config file: these accounts (with their `own` keys), hourly cycles, a minute of
        jitter."""
        raw = {
            "state": str(self.folder / "state.db"),
            "service": {
                "interval_seconds": HOUR,
                "jitter_seconds": JITTER,
                "backoff_max_seconds": 4 * HOUR,
                **service,
            },
            "defaults": {"timezone": "UTC", "agenda": AUTO},
            "accounts": [
                {"name": name, "provider": "caldav", "email": SELLER, **(own or {}).get(name, {})}
                for name in names
            ],
        }
        self.path.write_text(tomli_w.dumps(raw))

    def connect(self, account: Account) -> Connector:
        connector = Connector(self.failures.get(account.name))
        self.opened.setdefault(account.name, []).append(connector)
        return connector

    def daemon(
        self,
        connect: Callable[[Account], BaseConnector] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> Daemon:
        """The daemon on the config file, with memory connectors unless told otherwise."""
        config = config_module.load(self.path)
        options: dict[str, Any] = {"clock": clock} if clock else {}
        session = Session(config, open_store(config), connect=connect or self.connect, **options)
        notifier = Notifier({"NOTIFY_SOCKET": self.socket.getsockname()})
        # the jitter is always its maximum
        return Daemon(session, self.path, notifier, uniform=lambda low, high: high)

    def notification(self) -> dict[str, str]:
        data = self.socket.recv(65536).decode()
        return dict(line.split("=", 1) for line in data.splitlines())

    def until(self, key: str, text: str) -> dict[str, str]:
        """Notifications are read until one whose `key` holds `text` (a cycle may run meanwhile)."""
        while text not in (message := self.notification()).get(key, ""):
            pass
        return message


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(
        tmp_path,
        {"bad": TransientError("HTTP 503; gave up after 4 attempts", where="https://dav.example/")},
    )
    yield harness
    harness.socket.close()


def seconds_until(daemon: Daemon, name: str) -> float:
    due = daemon.next_run(name)
    assert due is not None
    return (due - datetime.now(UTC)).total_seconds()


def test_a_failing_account_backs_off_alone_while_the_others_keep_their_pace(
    harness: Harness,
) -> None:
    harness.write(["good", "bad"])
    daemon = harness.daemon()
    daemon.start()
    assert harness.notification() == {
        "READY": "1",
        "STATUS": "watching 2 accounts; first cycles scheduled",
    }
    good_next = daemon.next_run("good")
    for failures in (1, 2, 3, 4):
        daemon.run_cycle("bad")
        expected = min(HOUR * 2 ** (failures - 1), 4 * HOUR) + JITTER
        assert expected - 5 < seconds_until(daemon, "bad") <= expected
        status = harness.notification()["STATUS"]
        assert status.startswith(
            f"2 accounts, 1 failing (bad); last: bad failed ({failures} in a row): calendar "
            "memory: https://dav.example/: HTTP 503"
        )
    stored = daemon.session.store.run_status("bad")
    assert (
        stored.failures == 4
        and stored.last_error
        == "calendar memory: https://dav.example/: HTTP 503; gave up after 4 attempts"
    )
    assert stored.next_at == daemon.next_run("bad")

    # untouched by the other's trouble
    assert daemon.next_run("good") == good_next
    daemon.run_cycle("good")
    # its pace: an interval (and the jitter) after the cycle started
    assert HOUR - 5 < seconds_until(daemon, "good") <= HOUR + JITTER
    # its first cycle: the look-up of its calendar, then the read
    assert harness.notification()["STATUS"].startswith(
        "2 accounts, 1 failing (bad); last: good ok, 0 changes, 2 requests;"
    )
    assert daemon.session.store.run_status("good").failures == 0
    assert daemon.stop()
    assert harness.notification() == {"STOPPING": "1", "STATUS": "stopping: nothing in flight"}


def test_a_crash_inside_a_cycle_is_that_accounts_error_and_the_service_goes_on(
    harness: Harness,
) -> None:
    harness.failures["buggy"] = RuntimeError("boom")
    harness.write(["buggy", "good"])
    daemon = harness.daemon()
    daemon.start()
    daemon.run_cycle("buggy")
    daemon.run_cycle("good")
    buggy = daemon.session.store.run_status("buggy")
    assert (buggy.last_error, buggy.failures) == ("internal error: RuntimeError: boom", 1)
    assert daemon.next_run("buggy") is not None
    assert daemon.session.store.run_status("good").last_error == ""
    assert daemon.stop()


def test_the_run_statuses_of_a_batch_of_cycles_are_written_together_after_its_last(
    harness: Harness,
) -> None:
    harness.write(["alex", "bo", "cy"])
    daemon = harness.daemon()
    store = daemon.session.store
    batches: list[list[str]] = []
    write = store.save_run_statuses

    def counted(statuses: Sequence[RunStatus]) -> None:
        batches.append([status.account for status in statuses])
        write(statuses)

    store.save_run_statuses = counted  # type: ignore[method-assign]
    daemon.start()
    daemon._dispatch(["alex", "bo", "cy"])  # as a slot hands over the accounts due in it
    harness.until("STATUS", "last: cy ok")
    eventually(lambda: batches, 10, "the batch's statuses written")
    assert batches == [["alex", "bo", "cy"]]
    assert all(store.run_status(name).last_end is not None for name in ("alex", "bo", "cy"))
    daemon.run_cycle("bo")  # a cycle on its own is written at once
    assert batches[1:] == [["bo"]]
    assert daemon.stop()


def test_run_statuses_that_cannot_be_written_are_named_in_one_line_and_the_service_goes_on(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    harness.write(["alex", "bo"])
    daemon = harness.daemon()
    store = daemon.session.store

    def full(statuses: Sequence[RunStatus]) -> None:
        raise StateError("cannot save run status: the disk is full", where="state.db")

    write, store.save_run_statuses = store.save_run_statuses, full  # type: ignore[method-assign]
    daemon.start()
    daemon.run_cycle("alex")
    (record,) = [record for record in caplog.records if record.msg == "status_not_saved"]
    assert record.fields == {  # type: ignore[attr-defined]
        "accounts": ["alex"],
        "error": "state.db: cannot save run status: the disk is full",
    }
    assert harness.until("STATUS", "last: alex ok")
    store.save_run_statuses = write  # type: ignore[method-assign]
    daemon.run_cycle("bo")
    assert store.run_status("bo").last_end is not None
    assert daemon.stop()


def test_a_reload_adds_removes_and_reruns_changed_accounts_and_leaves_the_others_be(
    harness: Harness,
) -> None:
    harness.write(["same", "moved", "gone"])
    daemon = harness.daemon()
    daemon.start()
    for name in ("same", "moved", "gone"):
        daemon.run_cycle(name)
    same_next = daemon.next_run("same")
    old = daemon.session

    harness.write(["same", "moved", "new"], {"moved": {"timezone": "Europe/Berlin"}})
    daemon.reload()

    assert daemon.session is not old and daemon.session.store is old.store
    assert daemon.next_run("same") == same_next
    assert JITTER - 5 < seconds_until(daemon, "new") <= JITTER
    assert daemon.next_run("gone") is None
    assert all(harness.opened[name][0].closed for name in ("same", "moved", "gone"))
    # changed: it ran at once, with its new settings (its cycle may end before the reload's
    # READY=1 goes out, or after; the lines before RELOADING=1 are the cycles above)
    harness.until("RELOADING", "1")
    seen: list[str] = []
    while not all(any(text in line for line in seen) for text in ("reloaded", "last: moved ok")):
        seen.append(harness.notification().get("STATUS", ""))
    assert "reloaded: 3 accounts (added new, removed gone, changed moved)" in seen
    # then the interval, and its jitter
    assert HOUR - 5 < seconds_until(daemon, "moved") <= HOUR + JITTER

    daemon.run_cycle("same")  # the new session opens its own connector
    assert len(harness.opened["same"]) == 2 and not harness.opened["same"][1].closed
    assert daemon.stop()


class Held(Connector):
    """A memory connector whose first read waits until the test lets it go: a cycle in flight."""

    def __init__(self, entered: threading.Event, go: threading.Event) -> None:
        super().__init__()
        self.entered, self.go = entered, go

    def changes(self, calendar: str, cursor: str | None, window: Window) -> Delta:
        if not self.entered.is_set():
            self.entered.set()
            assert self.go.wait(10)
        return super().changes(calendar, cursor, window)


def test_an_account_a_reload_changes_while_it_cycles_runs_again_with_its_new_settings_after(
    harness: Harness,
) -> None:
    entered, go = threading.Event(), threading.Event()
    opened: list[Held] = []

    def connect(account: Account) -> Held:
        opened.append(Held(entered, go))
        return opened[-1]

    # a day's interval: a slot is 86 s wide, so the second cycle cannot come from its slot in time
    daily: dict[str, Any] = {"interval_seconds": DAY, "backoff_max_seconds": DAY}
    harness.write(["alex"], **daily)
    daemon = harness.daemon(connect=connect)
    daemon.start()
    harness.write(["alex"], {"alex": {"timezone": "Europe/Berlin"}}, **daily)
    daemon.reload()  # changed: its cycle starts at once, and is held in its read
    assert entered.wait(10)
    harness.write(["alex"], {"alex": {"timezone": "Europe/Paris"}}, **daily)
    daemon.reload()  # changed again while that cycle runs
    go.set()
    harness.until("STATUS", "last: alex ok")
    harness.until("STATUS", "last: alex ok")  # the second cycle, at once, not a third
    assert len(opened) == 2 and opened[0].closed and not opened[1].closed
    assert DAY - 5 < seconds_until(daemon, "alex") <= DAY + JITTER
    assert daemon.stop()


def test_a_bad_reload_keeps_the_running_configuration_and_a_new_interval_reschedules(
    harness: Harness,
) -> None:
    harness.write(["alex"])
    daemon = harness.daemon()
    daemon.start()
    harness.notification()
    session = daemon.session
    harness.path.write_text("nonsense = 1\n" + harness.path.read_text())
    daemon.reload()
    assert daemon.session is session
    assert harness.until("RELOADING", "1")
    assert harness.notification() == {
        "READY": "1",
        "STATUS": (
            "reload failed, still running the previous configuration: config.toml: nonsense: "
            "unknown key"
        ),
    }

    harness.write(["alex"], interval_seconds=2 * HOUR)
    daemon.reload()
    # due the new interval (and its jitter) from the reload
    assert 2 * HOUR - 5 < seconds_until(daemon, "alex") <= 2 * HOUR + JITTER
    assert daemon.stop()


def test_a_calendar_that_fails_alone_is_named_and_the_accounts_other_calendars_keep_their_pace(
    harness: Harness,
    caldav_harness: CaldavHarness,
    tmp_secret: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A CalDAV account on Radicale with a good calendar and one whose URL does not exist (deleted
    on the server): the good one is enriched and counted, the missing one is named in the error,
    and the account is not backed off. An account whose every calendar fails is."""
    missing = caldav_harness.calendar.replace("/work/", "/retired/")
    caldav_harness.add_meeting("Globex", at(1, 10))
    dav = {
        "email": DAV_SELLER,
        "url": caldav_harness.server_url,
        "username": caldav_harness.user,
        "password_file": str(tmp_secret),
    }
    harness.write(
        ["alex", "bo"],
        {
            "alex": {**dav, "calendars": [caldav_harness.calendar, missing]},
            "bo": {**dav, "calendars": [missing]},
        },
    )
    daemon = harness.daemon(connect=open_connector, clock=lambda: MONDAY)
    daemon.start()
    harness.notification()
    for cycle in (1, 2):
        daemon.run_cycle("alex")
        alex_next = daemon.next_run("alex")
        assert alex_next is not None
        assert HOUR - 5 < seconds_until(daemon, "alex") <= HOUR + JITTER  # not backed off
        alex = daemon.session.store.run_status("alex")
        assert (alex.changes, alex.failures, alex.backlog) == (
            (3, 0, 0) if cycle == 1 else (0, 0, 0)
        )
        assert alex.requests > 0 and alex.last_end == MONDAY
        assert (
            alex.last_error.startswith(f"calendar {missing}: ")
            and "not found" in alex.last_error
            and "\n" not in alex.last_error
        )
        assert (
            harness.notification()["STATUS"]
            == f"2 accounts, none failing, 1 partly failing (alex); last: alex partly failed: "
            f"{alex.last_error}; {alex.changes} changes, {alex.requests} requests; next at "
            f"{alex_next.astimezone():%H:%M:%S}"
        )
    assert len(caldav_harness.blocks()) == 2
    # emit() hands its fields to the record as an extra attribute, which logging does not declare
    cycles = [(r.levelname, r.__dict__["fields"]) for r in caplog.records if r.msg == "cycle"]
    ((level, fields),) = [(level, f) for level, f in cycles if f["account"] == "alex"][-1:]
    assert (level, fields["outcome"], fields["error"], fields["failures"]) == (
        "WARNING",
        "partial",
        alex.last_error,
        None,
    )
    # the calendar that was read says why it planned: its own writes came back in the read
    assert fields["planning"] == alex.planning == "planned: 3 events changed"

    daemon.run_cycle("bo")
    bo = daemon.session.store.run_status("bo")
    assert (bo.changes, bo.failures) == (0, 1) and bo.last_error.startswith(f"calendar {missing}: ")
    assert seconds_until(daemon, "bo") > HOUR  # its only calendar failed: backed off
    assert harness.notification()["STATUS"].startswith(
        "2 accounts, 1 failing (bo), 1 partly failing (alex); last: bo failed (1 in a row)"
    )
    assert daemon.stop()


class StopAfterWrites(MemoryConnector):
    """Sets `stop` once it has created `writes` blocks: a SIGTERM arriving mid-cycle."""

    def __init__(self, calendar: MemoryCalendar, stop: threading.Event, writes: int) -> None:
        super().__init__(calendar)
        self.stop, self.writes = stop, writes

    def create(self, calendar: str, block):  # type: ignore[no-untyped-def]
        created = super().create(calendar, block)
        self.writes -= 1
        if self.writes == 0:
            self.stop.set()
        return created


def test_a_stopped_cycle_finishes_its_change_leaves_a_backlog_and_the_next_one_completes_it() -> (
    None
):
    world = World()
    for day in (1, 2):
        world.add(meeting(f"Globex {day}", at(day, 10)))
    stop = threading.Event()
    world.sync.connector = StopAfterWrites(world.calendar, stop, writes=1)
    stopped = world.sync.cycle(stop=stop)
    assert stopped.stopped and stopped.changes == 1 and stopped.backlog == 5
    assert len(world.blocks()) == 1
    stop.clear()
    assert len(world.applied()) == 5
    assert len(world.blocks()) == 4 and world.applied() == []


class BatchesThenStops(MemoryConnector):
    """Creates blocks three to a request, and sets `stop` after its first request: a SIGTERM
    arriving while the first chunk of new blocks is in flight."""

    batch_size = 3

    def __init__(self, calendar: MemoryCalendar, stop: threading.Event) -> None:
        super().__init__(calendar)
        self.stop = stop
        self.chunks: list[int] = []

    def create_many(self, calendar, blocks):  # type: ignore[no-untyped-def]
        self.chunks.append(len(blocks))
        self.stop.set()
        return super().create_many(calendar, blocks)


def test_new_blocks_go_in_batch_size_chunks_and_a_stop_finishes_only_the_chunk_in_flight() -> None:
    world = World()
    for day in (1, 2, 3):
        world.add(meeting(f"Globex {day}", at(day, 10)))
    stop = threading.Event()
    world.sync.connector = connector = BatchesThenStops(world.calendar, stop)
    stopped = world.sync.cycle(stop=stop)
    assert connector.chunks == [3] and stopped.stopped
    assert [type(change).__name__ for change, _ in stopped.calendars[0].applied] == [
        "CreateBlock"
    ] * 3
    # each one recorded
    assert (
        len(world.blocks()) == 3 and len(world.store.artifacts(CalendarKey("alex", CALENDAR))) == 3
    )
    stop.clear()
    world.sync.connector = MemoryConnector(world.calendar)
    assert sorted(world.applied()) == ["create"] * 3 + ["write agenda"] * 3
    assert len(world.blocks()) == 6 and world.applied() == []
