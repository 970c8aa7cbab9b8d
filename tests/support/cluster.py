"""A cluster under test: `callplan worker` processes on one PostgreSQL database, and a way to tell
from a server's request log which worker sent each request.

Workers run as real subprocesses (tests/support/service_process.py's Service, serving
`worker --name NAME`), each with its notify socket and log. A FaultProxy in front of a server
names the client of each connection with `owner`, which looks the connection up in /proc: the
client's socket belongs to exactly one process, so the request log says which worker made every
request, without the workers knowing they are watched.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import tomli_w

from agent.cluster import queue_schema
from agent.config.settings import PostgresState
from agent.state.postgres import migrate
from tests.support.servers.postgres import PostgresServer
from tests.support.service_process import ROOT, NotifySocket, Service

FIELD = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)')

SELLER_DOMAIN = "seller.example"
WORKING_ALL_DAY = {
    "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
    "start": "00:00",
    "end": "23:59",
}


def cluster_document(
    url: str,
    accounts: list[dict[str, Any]],
    *,
    interval: float,
    heartbeat: float,
    stalled_after: float,
    **service: Any,
) -> dict[str, Any]:
    """What `callplan accounts apply` reads: the accounts, a compressed pace (no backoff beyond
    two intervals) and the [cluster] timing, in UTC with working hours around the clock, so what
    the workers do never depends on the day the suite runs."""
    return {
        "state": url,
        "service": {
            "interval_seconds": interval,
            "jitter_seconds": interval / 10,
            "backoff_max_seconds": 2 * interval,
            **service,
        },
        "cluster": {"heartbeat_seconds": heartbeat, "stalled_after_seconds": stalled_after},
        "defaults": {
            "timezone": "UTC",
            "working_hours": WORKING_ALL_DAY,
            "rules": {"internal_domains": [SELLER_DOMAIN]},
        },
        "accounts": accounts,
    }


def worker_settings(url: str, **service: Any) -> dict[str, Any]:
    """A worker's own configuration: the database, and how it runs."""
    return {"state": url, "service": {"stop_timeout_seconds": 2, **service}}


def cli(*args: str, environ: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """A callplan command, as a person runs it."""
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(environ or {})},
        timeout=120,
    )


def apply(folder: Path, document: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    """`callplan accounts apply` on the document, written to folder/cluster.toml."""
    path = folder / "cluster.toml"
    path.write_text(tomli_w.dumps(document))
    done = cli("accounts", "apply", str(path))
    assert done.returncode == 0, done.stderr
    return done


class Worker(Service):
    """One `callplan worker --name NAME` process."""

    def __init__(
        self, folder: Path, name: str, settings: dict[str, Any], environ: dict[str, str]
    ) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        super().__init__(folder, settings, environ, serve=("worker", "--name", name))
        self.name = name

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def restart(self) -> Worker:
        """Start it again, as systemd would after it died or was stopped; waits for READY=1."""
        self.notify.close()
        self.notify.path.unlink()
        self.notify = NotifySocket(self.notify.path)
        self.start()
        self.notify.wait(lambda message: message.get("READY") == "1", 60, "READY=1")
        return self


@contextmanager
def workers(
    folder: Path, names: list[str], settings: dict[str, Any], environ: dict[str, str] | None = None
) -> Iterator[dict[str, Worker]]:
    """Workers started together, each waited for until it says READY=1; SIGKILLed at the end if
    still running."""
    started = {name: Worker(folder / name, name, settings, environ or {}).start() for name in names}
    try:
        for worker in started.values():
            worker.notify.wait(lambda message: message.get("READY") == "1", 60, "READY=1")
        yield started
    finally:
        for worker in started.values():
            worker.stop()


def _inode(host: str, port: int) -> str | None:
    """The inode of the TCP socket whose local address is host:port (IPv4 loopback)."""
    packed = "".join(f"{int(part):02X}" for part in reversed(host.split(".")))
    local = f"{packed}:{port:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == local:
            return fields[9]
    return None


def owner(pids: Callable[[], dict[int, str]]) -> Callable[[str, int], str]:
    """For FaultProxy(identify=...): the name of the process (among `pids()`, pid -> name) whose
    socket is the client end of a connection; "" for any other."""

    def identify(host: str, port: int) -> str:
        inode = _inode(host, port)
        if inode is None:
            return ""
        target = f"socket:[{inode}]"
        for pid, name in pids().items():
            try:
                descriptors = os.listdir(f"/proc/{pid}/fd")
            except OSError:
                continue
            for descriptor in descriptors:
                try:
                    if os.readlink(f"/proc/{pid}/fd/{descriptor}") == target:
                        return name
                except OSError:
                    continue
        return ""

    return identify


def kill(worker: Worker) -> None:
    """SIGKILL, and wait until it is gone."""
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(30)


def eventually(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """Wait until `check()` returns something true, looking every tenth of a second; fail the test
    after `timeout` seconds, saying what did not happen."""
    deadline = time.monotonic() + timeout
    while not (found := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.1)
    return found


def cycle_lines(log: str) -> list[dict[str, str]]:
    """A worker's `event=cycle` log lines, as dicts of their fields."""
    found = []
    for line in log.splitlines():
        fields = {key: value.strip('"') for key, value in FIELD.findall(line)}
        if fields.get("event") == "cycle":
            found.append(fields)
    return found


def migrated(postgres: PostgresServer) -> PostgresState:
    """A new database with the state's schema and the task queue's, as `callplan db migrate`
    leaves it."""
    state = PostgresState(url=postgres.create_database())
    migrate(state)
    queue_schema.migrate(state)
    return state
