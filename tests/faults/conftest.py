"""Fixtures of the fault tests: every target server, a proxy per test, and a tally per scenario.

Each scenario adds a Tally (runs, faults injected, duplicates found, text lost); the session
prints one line per scenario at the end, whatever the verbosity, next to the assertions that
make the same numbers fail the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.faults.plays import Outcome, play
from tests.faults.tally import TALLIES, Tally, summary_lines
from tests.support.servers.proxy import FaultProxy
from tests.support.servers.targets import SERVERS, Target

PAGE = 3  # items per page of a listing: every read of the week pages, incremental ones too


@pytest.fixture(scope="session", params=list(SERVERS))
def target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    with SERVERS[request.param](tmp_path_factory.mktemp(f"{request.param}-server")) as served:
        served.limit_pages(PAGE)
        yield served


@pytest.fixture
def proxy(target: Target) -> Iterator[FaultProxy]:
    with FaultProxy(target.upstream).running() as running:
        yield running


@pytest.fixture(scope="session")
def clean_run(target: Target, tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    """The week played in this process without a single fault: what every scenario must end with."""
    with FaultProxy(target.upstream).running() as proxy:
        return play(target, proxy, tmp_path_factory.mktemp("clean"))


@pytest.fixture
def tally(target: Target) -> Callable[[str], Tally]:
    """A tally for a scenario of this test on this target, printed at the end of the session."""

    def make(scenario: str) -> Tally:
        TALLIES.append(Tally(f"{scenario} [{target.name}]"))
        return TALLIES[-1]

    return make


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    lines = summary_lines()
    if lines:
        terminalreporter.section("fault injection")
        for line in lines:
            terminalreporter.write_line(line)
