"""Server and network faults: the agent ends where a fault-free run ends, for a bounded price.

The week is played against the server through the proxy, which fails requests as a seeded plan says:
random 5xx, storms of 429 with Retry-After, timeouts (the connection hangs past the client's
timeout, before or after the server applied the request), connection resets (likewise), truncated
and cut-short bodies, an expired sync cursor, and a cursor that expires while an incremental read
pages (Google's 410 fullSyncRequired on a later page of a list with a sync token, Graph's 410
syncStateNotFound on a nextLink of a delta round). The agent runs in this process with a short
timeout and recorded sleeps, cycle after cycle until it has nothing left to do. Then the calendar
must equal the one a fault-free run of the same week made, with nothing duplicated or lost, and the
faults may have cost only a bounded number of extra requests.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from agent.plan.changes import verb
from tests.faults.agents import Agent
from tests.faults.plays import SEED, TIMEOUT, Outcome, play
from tests.faults.tally import Tally
from tests.support.helpers import MONDAY
from tests.support.servers.proxy import (
    Fault,
    FaultProxy,
    Hang,
    Plan,
    Reply,
    Request,
    Reset,
    Truncate,
)
from tests.support.servers.targets import Target


def server_errors(rng: random.Random, request: Request) -> Fault | None:
    return Reply(rng.choice([500, 502, 503, 504])) if rng.random() < 0.3 else None


def throttling_storms(rng: random.Random) -> Callable[[Request], Fault | None]:
    """Now and then a storm: the next few requests (sometimes more than the client retries) get
    429."""
    storm = 0

    def plan(request: Request) -> Fault | None:
        nonlocal storm
        if storm == 0 and rng.random() < 0.12:
            storm = rng.randint(2, 6)
        if storm:
            storm -= 1
            return Reply(429, {"Retry-After": str(rng.randint(1, 5))}, label="429 Retry-After")
        return None

    return plan


def timeouts(rng: random.Random, request: Request) -> Fault | None:
    return Hang(TIMEOUT * 4, after_forward=rng.random() < 0.5) if rng.random() < 0.15 else None


def resets(rng: random.Random, request: Request) -> Fault | None:
    return Reset(after_forward=rng.random() < 0.5) if rng.random() < 0.25 else None


def truncated(rng: random.Random, request: Request) -> Fault | None:
    return (
        Truncate(rng.uniform(0.1, 0.9), dropped=rng.random() < 0.5) if rng.random() < 0.2 else None
    )


@dataclass(frozen=True)
class Scenario:
    name: str
    plan: Callable[[random.Random, Target], Plan | None]
    resyncs: bool = False  # each fault costs a full read of the calendar, not a retry


SCENARIOS = [
    Scenario("random 5xx", lambda rng, target: lambda request: server_errors(rng, request)),
    Scenario("429 storms", lambda rng, target: throttling_storms(rng)),
    Scenario("timeouts", lambda rng, target: lambda request: timeouts(rng, request)),
    Scenario("connection resets", lambda rng, target: lambda request: resets(rng, request)),
    Scenario("truncated responses", lambda rng, target: lambda request: truncated(rng, request)),
    Scenario("expired sync cursor", lambda rng, target: target.expire_cursor, resyncs=True),
    Scenario(
        "410 on a sync token mid-paging",
        lambda rng, target: target.expire_cursor_mid_paging(),
        resyncs=True,
    ),
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda scenario: scenario.name)
def test_server_faults_end_where_a_fault_free_run_ends(
    scenario: Scenario,
    target: Target,
    proxy: FaultProxy,
    clean_run: Outcome,
    tmp_path: Path,
    tally: Callable[[str], Tally],
) -> None:
    plan = scenario.plan(random.Random(f"{SEED}:{scenario.name}"), target)
    if plan is None:
        pytest.skip(f"{target.name}: the server never pages an incremental read")
    counts = tally(scenario.name)
    outcome = play(target, proxy, tmp_path, plan, counts)
    counts.extra_requests = outcome.requests - clean_run.requests
    assert counts.faults > 0, "the plan injected nothing: the test would prove nothing"
    assert outcome.snapshot == clean_run.snapshot
    # each fault costs its retry (or, when the cursor expired, a full read of the calendar),
    # and a cycle it cut short costs at most a new full read
    # the calendar grows as the agent writes
    full_read = max(clean_run.full_read, outcome.full_read)
    per_fault = full_read + 1 if scenario.resyncs else 3
    assert counts.extra_requests <= per_fault * counts.faults + full_read * (
        outcome.cycles - clean_run.cycles
    ), counts.line()


def test_an_unreadable_answer_to_a_write_skips_that_change_only(
    target: Target, proxy: FaultProxy, tmp_path: Path
) -> None:
    """A Google or Graph write gets the edited event back; when that answer is unreadable,
    the cycle skips the one change and goes on with the others. The next cycle writes the
    agenda, or adopts it if the write had gone through."""
    if target.name == "caldav":
        pytest.skip(
            "a CalDAV write reads nothing back but an etag; a series instance's re-read is in "
            "test_caldav_connector.py"
        )
    harness = target.new_calendar(proxy.url)
    harness.add_meeting("Globex", MONDAY.replace(hour=10), description="Intro")
    agent = Agent(target, harness, tmp_path, MONDAY, timeout=TIMEOUT)

    def cut_answers_about_one_event(request: Request) -> Fault | None:
        path = urlsplit(request.path).path
        one = request.method == "GET" and "/events/" in path
        return Truncate(0.5, dropped=False) if one or request.method == "PATCH" else None

    try:
        with proxy.injecting(cut_answers_about_one_event):
            report = agent.cycle()
        assert not report.error
        outcomes = {verb(change): outcome for change, outcome in report.calendars[0].applied}
        assert outcomes["create"] == "done" and outcomes["write agenda"].startswith(
            "skipped: the event could not be read"
        )
        assert [verb(change) for change, _ in agent.converge()[0].calendars[0].applied] in (
            ["write agenda"],
            ["adopt"],
        )
    finally:
        agent.close()
