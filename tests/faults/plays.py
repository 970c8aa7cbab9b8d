"""Playing the week in this process, with faults from the proxy and hooks between acts.

Every in-process scenario (server faults, bad state) plays the same two acts and ends with
the same checks, so their outcomes compare with one fault-free play of the week.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.faults.agents import Agent
from tests.faults.scenario import Week, inspect, snapshot
from tests.faults.tally import Tally
from tests.support.helpers import MONDAY
from tests.support.servers.proxy import FaultProxy, Plan
from tests.support.servers.targets import Target

SEED = 20300318
TIMEOUT = 0.3  # the client's timeout in these scenarios; a hang lasts longer
CYCLES = 12  # cycles allowed to converge in each act, faults included

# called at the start of each act (0, 1), before people change anything, with the agent;
# returns the agent to go on with (a new one after a restart), its state possibly damaged
BeforeAct = Callable[[int, Agent], Agent]


@dataclass
class Outcome:
    snapshot: dict
    requests: int
    cycles: int
    full_read: int  # requests of the costliest full read of the calendar in the play


def play(
    target: Target,
    proxy: FaultProxy,
    folder: Path,
    plan: Plan | None = None,
    tally: Tally | None = None,
    before_act: BeforeAct | None = None,
) -> Outcome:
    """The week on a fresh calendar, each act converged under `plan`, checked after each act."""
    harness = target.new_calendar(proxy.url)
    week = Week(harness, MONDAY.replace(hour=0))
    week.seed()
    agent = Agent(target, harness, folder, MONDAY, timeout=TIMEOUT, seed=SEED)
    requests = cycles = full_read = 0
    try:
        for act in range(2):
            if before_act is not None:
                agent = before_act(act, agent)
            if act:
                week.act()
            with proxy.injecting(plan) as seen:
                reports = agent.converge(CYCLES)
            requests, cycles = requests + len(seen), cycles + len(reports)
            full_read = max(
                [full_read] + [c.requests for r in reports for c in r.calendars if c.full]
            )
            findings = inspect(harness.events(), week.written, agent.store, agent.calendar)
            if tally is not None:
                tally.runs += len(reports)
                tally.faults += sum(1 for s in seen if s.fault is not None)
                tally.add(findings)
            assert findings.clean, f"act {act}: {findings}"
        return Outcome(
            snapshot(harness.events(), agent.store.tombstones(agent.calendar)),
            requests,
            cycles,
            full_read,
        )
    finally:
        agent.close()
