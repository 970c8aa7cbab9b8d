"""`callplan run` as a real subprocess, with the systemd notify socket on the test's side.

The test binds the AF_UNIX datagram socket that systemd would (NOTIFY_SOCKET), so it reads
READY=1, STATUS=, RELOADING=1, STOPPING=1 and WATCHDOG=1 exactly as systemd does, and waits
on those rather than on the wall clock. Meetings are seeded relative to the current time
(the daemon reads the real clock), in UTC with working hours around the clock, so what the
agent does never depends on the date or the weekday the suite runs on.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import tomli_w

from tests.support.helpers import AUTO
from tests.support.servers.radicale import SELLER, put_ics

FIELD = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)')  # a logfmt pair


def cycle_lines(log: str) -> list[dict[str, str]]:
    """A service's or a worker's `event=cycle` log lines, as dicts of their fields."""
    found = []
    for line in log.splitlines():
        fields = {key: value.strip('"') for key, value in FIELD.findall(line)}
        if fields.get("event") == "cycle":
            found.append(fields)
    return found


ROOT = Path(__file__).resolve().parents[2]
CUSTOMER = "carla@customer.example"


def meeting_ics(uid: str, start: datetime, title: str, minutes: int = 60) -> str:
    """A customer meeting the seller organises, as any CalDAV client would store it."""
    stamp = "%Y%m%dT%H%M%SZ"
    end = start + timedelta(minutes=minutes)
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20300101T000000Z\r\nDTSTART:{start.astimezone(UTC):{stamp}}\r\n"
        f"DTEND:{end.astimezone(UTC):{stamp}}\r\nSUMMARY:{title}\r\nORGANIZER;CN=Ana:mailto:{SELLER}\r\n"
        f"ATTENDEE;CN=Carla;PARTSTAT=ACCEPTED:mailto:{CUSTOMER}\r\n"
        f"ATTENDEE;CN=Ana;PARTSTAT=ACCEPTED:mailto:{SELLER}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def seed(calendar_url: str, count: int, prefix: str = "m", days: int = 1) -> list[str]:
    """`count` one-hour customer meetings, two hours apart, starting `days` from now (whole
    hours)."""
    first = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=days)
    uids = [f"{prefix}{index}" for index in range(count)]
    for index, uid in enumerate(uids):
        put_ics(
            calendar_url,
            f"{uid}.ics",
            meeting_ics(uid, first + timedelta(hours=2 * index), f"Call {uid}"),
        )
    return uids


def account(
    name: str, server_url: str, user: str, calendar_url: str, password_file: Path
) -> dict[str, Any]:
    return {
        "name": name,
        "provider": "caldav",
        "email": SELLER,
        "url": server_url,
        "username": user,
        "password_file": str(password_file),
        "calendars": [calendar_url],
    }


def config(state: Path, accounts: list[dict[str, Any]], **service: Any) -> dict[str, Any]:
    """A service configuration: one-second cycles, no jitter, backoff capped at two seconds."""
    return {
        "state": str(state),
        "service": {
            "interval_seconds": 1,
            "jitter_seconds": 0,
            "backoff_max_seconds": 2,
            "stop_timeout_seconds": 5,
            **service,
        },
        "defaults": {
            "timezone": "UTC",
            "working_hours": {
                "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                "start": "00:00",
                "end": "23:59",
            },
            "rules": {"internal_domains": ["seller.example"]},
            "agenda": AUTO,  # the agenda goes in at once: the service's tests count its writes
        },
        "accounts": accounts,
    }


class NotifySocket:
    """What systemd would receive: every datagram, in order, as a dict of its KEY=value lines."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.socket.bind(str(path))
        self.received: list[dict[str, str]] = []
        self._seen = 0  # wait() looks only at what came after its last match

    def _receive(self, timeout: float) -> None:
        self.socket.settimeout(max(timeout, 0.001))
        try:
            data = self.socket.recv(65536)
        except TimeoutError:
            return
        self.received.append(
            dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
        )

    def wait(
        self, predicate: Callable[[dict[str, str]], bool], timeout: float = 15.0, what: str = ""
    ) -> dict[str, str]:
        """The next notification that satisfies `predicate`, received within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            while self._seen < len(self.received):
                message = self.received[self._seen]
                self._seen += 1
                if predicate(message):
                    return message
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    f"no notification {what} within {timeout} s; last ones: {self.received[-8:]}"
                )
            self._receive(left)

    def status(self, text: str, timeout: float = 15.0) -> dict[str, str]:
        """The next notification whose STATUS= contains `text`."""
        return self.wait(
            lambda message: text in message.get("STATUS", ""),
            timeout,
            f"with STATUS containing {text!r}",
        )

    def close(self) -> None:
        self.socket.close()


class Service:
    """`python -m agent.cli --config FILE run` (or another long-running command: `worker`) with
    its own notify socket; stderr goes to a file."""

    def __init__(
        self,
        folder: Path,
        settings: dict[str, Any],
        environ: dict[str, str] | None = None,
        preexec: Callable[[], None] | None = None,
        serve: tuple[str, ...] = ("run",),
    ) -> None:
        self.folder = folder
        self.serve = serve
        self.preexec = preexec  # run in the child before it starts (a sandbox to load)
        self.config_path = folder / "config.toml"
        self.write_config(settings)
        self.notify = NotifySocket(folder / "notify.sock")
        self.log_path = folder / "service.log"
        self.environ = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("NOTIFY_", "WATCHDOG_", "JOURNAL_"))
        }
        self.environ.update(
            {"NOTIFY_SOCKET": str(self.notify.path), "PYTHONPATH": str(ROOT), **(environ or {})}
        )
        self.process: subprocess.Popen[bytes] | None = None

    def write_config(self, settings: dict[str, Any]) -> None:
        self.config_path.write_text(tomli_w.dumps(settings))

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "agent.cli", "--config", str(self.config_path), *args]

    def start(self) -> Service:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(*self.serve),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=self.environ,
                preexec_fn=self.preexec,
            )
        return self

    def signal(self, number: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(number)

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text()

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Another callplan command on the same configuration (and state), as a person would run
        it."""
        env = {key: value for key, value in self.environ.items() if key != "NOTIFY_SOCKET"}
        return subprocess.run(
            self.command(*args), capture_output=True, text=True, env=env, timeout=60
        )

    def stop(self) -> None:
        if self.alive:
            self.signal(signal.SIGKILL)
            # a process with thousands of connections open (the benchmark's) takes a while to
            # close them all: minutes, while the server's thousands of threads (one for each of
            # those connections) wake up on the two CPUs as they close
            self.wait(600)
        self.notify.close()


@contextmanager
def running(
    folder: Path,
    settings: dict[str, Any],
    environ: dict[str, str] | None = None,
    preexec: Callable[[], None] | None = None,
) -> Iterator[Service]:
    service = Service(folder, settings, environ, preexec).start()
    try:
        yield service
    finally:
        service.stop()


def check_consistent(state: Path) -> sqlite3.Connection:
    """The state database passes SQLite's integrity check and every artifact row has its audit
    line."""
    connection = sqlite3.connect(state)
    assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    orphans = connection.execute(
        "SELECT count(*) FROM artifacts a WHERE NOT EXISTS (SELECT 1 FROM audit u WHERE u.calendar "
        "= a.calendar AND u.kind = a.kind AND u.meeting_key = a.meeting_key)"
    ).fetchone()[0]
    assert orphans == 0, f"{orphans} artifacts without an audit line"
    return connection
