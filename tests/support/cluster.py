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
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import tomli_w

from agent.cluster import queue_schema
from agent.config.settings import PostgresState
from agent.state.postgres import migrate
from tests.support.harness.base import Harness
from tests.support.helpers import AUTO
from tests.support.servers.postgres import PostgresServer
from tests.support.servers.proxy import Request, Seen
from tests.support.servers.target import Target
from tests.support.service_process import ROOT, NotifySocket, Service

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
            "agenda": AUTO,  # the agenda goes in at once: the tests count three artifacts
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
    """One `callplan worker --name NAME` process; `registry` (pid -> name) learns its process id
    as soon as it starts, before it can open a connection."""

    def __init__(
        self,
        folder: Path,
        name: str,
        settings: dict[str, Any],
        environ: dict[str, str],
        registry: dict[int, str] | None = None,
    ) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        super().__init__(folder, settings, environ, serve=("worker", "--name", name))
        self.name = name
        self.registry = registry if registry is not None else {}

    def start(self) -> Worker:
        super().start()
        self.registry[self.pid] = self.name
        return self

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
    folder: Path,
    names: list[str],
    settings: dict[str, Any],
    environ: dict[str, str] | None = None,
    registry: dict[int, str] | None = None,
) -> Iterator[dict[str, Worker]]:
    """Workers started together, each waited for until it says READY=1; SIGKILLed at the end if
    still running."""
    started = {
        name: Worker(folder / name, name, settings, environ or {}, registry).start()
        for name in names
    }
    try:
        for worker in started.values():
            worker.notify.wait(lambda message: message.get("READY") == "1", 60, "READY=1")
        yield started
    finally:
        for worker in started.values():
            worker.stop()


def _address(host: str, port: int) -> str:
    """An IPv4 address as /proc/net/tcp writes it."""
    return "".join(f"{int(part):02X}" for part in reversed(host.split("."))) + f":{port:04X}"


def _inode(client: tuple[str, int], server: tuple[str, int]) -> str | None:
    """The inode of the client end of a TCP connection (IPv4 loopback). Both ends are matched:
    the client's port alone may also be the local port of other connections, to elsewhere."""
    local, remote = _address(*client), _address(*server)
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == local and fields[2] == remote and fields[9] != "0":
            return fields[9]
    return None


def owner(pids: Callable[[], dict[int, str]]) -> Callable[[tuple[str, int], tuple[str, int]], str]:
    """For FaultProxy(identify=...): the name of the process (among `pids()`, pid -> name) whose
    socket is the client end of a connection; "" for any other."""

    def identify(client: tuple[str, int], server: tuple[str, int]) -> str:
        # /proc/net/tcp is not read atomically: a socket may be missed while others come and go
        for _attempt in range(3):
            inode = _inode(client, server)
            if inode is not None:
                return _holder(f"socket:[{inode}]", pids())
        return ""

    return identify


def _holder(target: str, pids: dict[int, str]) -> str:
    """The name of the process that holds the file (a socket:[inode]) open."""
    for pid, name in pids.items():
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


def kill(worker: Worker) -> None:
    """SIGKILL, and wait until it is gone."""
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(30)


def eventually(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """Wait until `check()` returns something true, looking every quarter of a second; fail the
    test after `timeout` seconds, saying what did not happen."""
    deadline = time.monotonic() + timeout
    while not (found := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.25)
    return found


def seconds(stamp: str) -> float:
    """A log line's time stamp (ts=...) as seconds since the epoch."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def migrated(postgres: PostgresServer) -> PostgresState:
    """A new database with the state's schema and the task queue's, as `callplan db migrate`
    leaves it."""
    state = PostgresState(url=postgres.create_database())
    migrate(state)
    queue_schema.migrate(state)
    return state


# -- sellers on the providers' servers, and what their servers saw -------------------------------


@dataclass
class Seller:
    """One account of the cluster: a calendar on a provider's server with a customer meeting the
    seller organised, whose description a person wrote."""

    name: str
    harness: Harness
    entry: dict[str, Any]  # the [[accounts]] table
    meeting: str = ""  # its key
    written: dict[str, str] = field(default_factory=dict)  # meeting key -> what people wrote


def sellers(target: Target, base: str, folder: Path, names: list[str]) -> list[Seller]:
    """New sellers on the target, reached at `base` (a proxy in front of it): each with one
    customer meeting tomorrow, at an hour of its own."""
    first = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)

    def one(numbered: tuple[int, str]) -> Seller:
        number, name = numbered
        harness = target.new_calendar(base)
        (folder / name).mkdir(parents=True)
        options = target.account_options(harness, folder / name)
        entry = {
            "name": name,
            "provider": target.name,
            "email": harness.seller,
            "calendars": [harness.calendar],
            **options,
        }
        seller = Seller(name, harness, entry)
        seller.meeting = harness.add_meeting(
            f"Globex call {name}",
            first + timedelta(hours=number % 20),
            description=f"Dial-in: 555-{number:04d}\nDana asked about {name}'s pricing.",
        )
        seller.written = {seller.meeting: harness.meeting(seller.meeting).description}
        return seller

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, enumerate(names)))


def opens_cycle(provider: str, request: Request) -> bool:
    """Whether a request is the first of a cycle: the read of what changed in the calendar
    (an incremental read, or the start of a full one)."""
    parts = urlsplit(request.path)
    match provider:
        case "caldav":
            return (request.method == "REPORT" and b"sync-collection" in request.body) or (
                request.method == "PROPFIND" and b"sync-token" in request.body
            )
        case "google":
            return (
                request.method == "GET"
                and parts.path.endswith("/events")
                and "pageToken" not in parts.query
            )
        case _:
            return (
                request.method == "GET"
                and parts.path.endswith("/calendarView/delta")
                and "skiptoken" not in parts.query
            )


GOOGLE_CALENDAR = re.compile(rb"/calendars/([^/?\s]+)/events")


def account_of(target: Target, found: list[Seller]) -> Callable[[Request], str | None]:
    """Which seller's account a request to the target is for: by the CalDAV user in the path, the
    Google calendar in the path (or in a batch's parts), the Graph mailbox of the bearer token."""
    if target.name == "caldav":
        users = {seller.harness.user: seller.name for seller in found}  # type: ignore[attr-defined]
        return lambda request: users.get(urlsplit(request.path).path.split("/")[1])
    if target.name == "google":
        calendars = {seller.harness.calendar: seller.name for seller in found}

        def google(request: Request) -> str | None:
            match = GOOGLE_CALENDAR.search(request.path.encode() + b" " + request.body)
            return calendars.get(unquote(match.group(1).decode())) if match else None

        return google
    addresses = {seller.harness.seller: seller.name for seller in found}
    tokens = target.authority.tokens  # type: ignore[attr-defined]

    def outlook(request: Request) -> str | None:
        header = {key.lower(): value for key, value in request.headers.items()}
        token = header.get("authorization", "").removeprefix("Bearer ")
        return addresses.get(str((tokens.get(token) or {}).get("user", "")))

    return outlook


@dataclass(frozen=True)
class Call:
    """One request a worker sent for an account, as the server's proxy saw it."""

    account: str
    worker: str
    arrived: float
    answered: float
    opens: bool  # the first request of a cycle
    what: str  # method and path, for messages


def calls(
    seen: list[Seen], provider: str, account: Callable[[Request], str | None]
) -> dict[str, list[Call]]:
    """The workers' requests (not the people's) by account, in the order they arrived."""
    found: dict[str, list[Call]] = defaultdict(list)
    for entry in sorted(seen, key=lambda entry: entry.arrived):
        request = entry.request
        name = account(request)
        if not request.client or name is None:
            continue
        found[name].append(
            Call(
                name,
                request.client,
                entry.arrived,
                entry.answered,
                opens_cycle(provider, request),
                f"{request.method} {request.path[:80]}",
            )
        )
    return found


def overlaps(account: list[Call], killed: dict[str, float] | None = None) -> list[str]:
    """Where one account's requests show two cycles at once: a request sent before the one
    before it was answered (a cycle sends one at a time), or a cycle carried on by one worker
    after another worker had started the next. A request a `killed` worker sent before it was
    killed ends there: its cycle died with it, though the proxy may wait on the server longer."""
    problems = []
    for before, after in zip(account, account[1:]):
        died = (killed or {}).get(before.worker)
        answered = before.answered
        if died is not None and before.arrived < died:
            answered = min(answered, died)
        if after.arrived < answered:
            problems.append(
                f"{after.worker} sent {after.what} at {after.arrived:.3f} while {before.worker}'s "
                f"{before.what} was in flight ({before.arrived:.3f} to {before.answered:.3f})"
            )
        if after.worker != before.worker and not after.opens:
            problems.append(f"{after.worker} sent {after.what} inside {before.worker}'s cycle")
    return problems


def lags(
    account: list[Call], cycles: list[dict[str, str]], wall: float, since: float, until: float
) -> list[float]:
    """How late the account's cycles started: for each of its cycles that ended between `since`
    and `until` (its log line, with the due time it set), from that due time to the first request
    of a cycle its server saw after it ended (or to `until`, if none came by then). Times are
    time.monotonic()'s; `wall` is time.time() less time.monotonic(), for the log's stamps."""
    starts = sorted(call.arrived for call in account if call.opens)
    found = []
    for line in cycles:
        ended, due = seconds(line["ts"]) - wall, seconds(line["next"]) - wall
        if since <= ended <= until and due < until:
            later = [start for start in starts if start > ended]
            found.append(min([*later[:1], until]) - due)
    return found
