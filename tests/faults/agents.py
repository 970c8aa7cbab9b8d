"""The agent under test, two ways: in this process, and in a child process that can be killed.

In this process the test sets the clock, the connector's timeout and its sleep (retries never
wait on the wall clock). In a child it runs a cycle from a config file, as `callplan sync
--once` does, so it can be killed with SIGKILL at any request. Both talk to the server
through a FaultProxy, which counts and fails requests.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

import tomli_w

from agent.config.settings import Account, load, parse
from agent.state.sqlite import SqliteStore
from agent.state.store import CalendarKey
from agent.sync.engine import AccountReport, AccountSync
from agent.sync.session import Session
from agent.text.render import Renderer
from tests.support.harness.base import Harness
from tests.support.helpers import AUTO
from tests.support.servers.proxy import FaultProxy, Kill, Plan, Seen
from tests.support.servers.targets import Target

ACCOUNT = "seller"
FORKSERVER = multiprocessing.get_context("forkserver")
# the modules children need, imported once by the forkserver: restarts stay fast
FORKSERVER.set_forkserver_preload(
    ["agent.sync.session", "connectors.caldav", "connectors.google", "connectors.outlook"]
)


@contextmanager
def environment(variables: dict[str, str]) -> Iterator[None]:
    """The process environment with `variables` set, for the duration of the block."""
    before = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                del os.environ[name]
            else:
                os.environ[name] = value


def config_for(
    target: Target, harness: Harness, state: Path, options: dict[str, Any], **settings: Any
) -> dict[str, Any]:
    """A config document for one seller account on the harness's calendar."""
    domain = harness.seller.partition("@")[2]
    defaults = {
        "timezone": str(harness.zone),
        "rules": {"internal_domains": [domain]},
        "agenda": AUTO,
        **settings,
    }
    account = {
        "name": ACCOUNT,
        "provider": target.name,
        "email": harness.seller,
        "calendars": [harness.calendar],
    }
    return {"state": str(state), "defaults": defaults, "accounts": [{**account, **options}]}


def converged(report: AccountReport) -> bool:
    """A cycle that ran without error and had nothing left to do."""
    return not report.error and all(not c.error and not c.planned for c in report.calendars)


class Agent:
    """The engine, a SQLite store and the target's connector, in this process."""

    def __init__(
        self,
        target: Target,
        harness: Harness,
        folder: Path,
        now: datetime,
        *,
        timeout: float = 10.0,
        seed: int = 0,
        **settings: Any,
    ) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.harness, self.now, self.timeout = harness, now, timeout
        self.sleeps: list[float] = []
        jitter = random.Random(seed)
        self.connector = target.connector(
            harness, timeout=timeout, sleep=self.sleeps.append, random=jitter.random
        )
        self.store = SqliteStore(folder / "state.db", clock=lambda: self.now)
        config = parse(
            config_for(target, harness, folder / "state.db", {}, **settings), folder / "config.toml"
        )
        self.account: Account = config.accounts[0]
        self.calendar = CalendarKey(self.account.name, harness.calendar)
        self.sync = AccountSync(
            self.account, self.connector, self.store, Renderer(), clock=lambda: self.now
        )

    def cycle(self) -> AccountReport:
        return self.sync.cycle()

    def converge(self, limit: int = 8) -> list[AccountReport]:
        """Cycles until one has nothing to do; fails the test if `limit` cycles are not enough."""
        reports = []
        for _ in range(limit):
            reports.append(self.cycle())
            if converged(reports[-1]):
                return reports
        raise AssertionError(
            f"no convergence in {limit} cycles: {[r.error or r.changes for r in reports]}"
        )

    def close(self) -> None:
        self.connector.close()
        self.store.close()


@dataclass
class Run:
    """One cycle in a child process, and what the proxy saw of it."""

    exitcode: int | None
    changes: int = 0  # changes applied (unknown when killed)
    errors: list[str] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)

    @property
    def killed(self) -> bool:
        return self.exitcode == -signal.SIGKILL


def _child_cycle(config: str, now: str, variables: dict[str, str], results: Connection) -> None:
    """What `callplan sync --once` does with a config file, at a fixed time; runs in the child."""
    os.environ.update(variables)
    with Session(load(Path(config)), clock=lambda: datetime.fromisoformat(now)) as session:
        reports = session.cycle()
    errors = [r.error for r in reports if r.error] + [
        c.error for r in reports for c in r.calendars if c.error
    ]
    results.send((sum(r.changes for r in reports), errors))


class Child:
    """The agent in a child process on a config file for the harness's calendar, through the
    proxy: the process a person or a timer starts, and that a test may SIGKILL at any request.

    `callplan sync --once` runs Session.cycle on a config file; so does the child, with the
    clock fixed, since the command reads the wall clock and tests must not depend on today's
    date. Children are forked from a forkserver that has already imported the agent: each
    starts without importing the client libraries again, as a new interpreter would have to,
    so a test can afford to crash and restart the agent many times.
    """

    def __init__(
        self, target: Target, harness: Harness, folder: Path, now: datetime, **settings: Any
    ) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.harness, self.now = harness, now
        self.variables = target.environment()
        self.state = folder / "state.db"
        self.config = folder / "config.toml"
        self.calendar = CalendarKey(ACCOUNT, harness.calendar)
        document = config_for(
            target, harness, self.state, target.account_options(harness, folder), **settings
        )
        self.config.write_text(tomli_w.dumps(document))

    def run(
        self, proxy: FaultProxy, plan: Callable[[Callable[[], None]], Plan] | None = None
    ) -> Run:
        """Run one cycle; `plan(kill)` may return a proxy plan that calls `kill` (SIGKILL the
        child)."""
        receive, send = FORKSERVER.Pipe(duplex=False)
        child = FORKSERVER.Process(
            target=_child_cycle,
            args=(str(self.config), self.now.isoformat(), self.variables, send),
            daemon=True,
        )
        child.start()
        send.close()

        def kill() -> None:
            assert child.pid is not None
            os.kill(child.pid, signal.SIGKILL)
            wait([child.sentinel], timeout=30)  # gone before the proxy answers anything else

        with proxy.injecting(plan(kill) if plan else None) as seen:
            child.join(timeout=120)
        run = Run(child.exitcode, seen=seen)
        with receive:
            if not run.killed:
                run.changes, run.errors = receive.recv()
        return run

    def pending(self) -> int:
        """How many changes a cycle would make now (a dry run in this process: nothing is
        written)."""
        with (
            environment(self.variables),
            Session(load(self.config), clock=lambda: self.now) as session,
        ):
            reports = session.cycle(dry_run=True)
        assert all(not r.error and not any(c.error for c in r.calendars) for r in reports), [
            r.error for r in reports
        ]
        return sum(len(c.planned) for r in reports for c in r.calendars)


def kill_at(index: int, after_forward: bool) -> Callable[[Callable[[], None]], Plan]:
    """A plan that kills the child at its `index`-th request, before the server sees it or
    after the server applied it."""

    def plan(kill: Callable[[], None]) -> Plan:
        return lambda request: Kill(kill, after_forward) if request.index == index else None

    return plan
