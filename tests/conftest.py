"""Fixtures: one real Radicale server per test session, and a fresh calendar per test.

Each test gets its own Radicale user (who owns /<user>/), so tests never see each other's
events and may run in any order.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import settings

from agent.cli.demo_server import RadicaleServer
from agent.config.settings import PostgresState
from connectors.caldav import CaldavConnector
from connectors.caldav_http import RetryingSession
from tests.support.fakes.authority import Authority
from tests.support.fakes.google_calendar import GoogleCalendarFake
from tests.support.fakes.graph import GraphFake
from tests.support.harness.base import Harness
from tests.support.harness.caldav import CaldavHarness
from tests.support.harness.google import GoogleHarness
from tests.support.harness.outlook import OutlookHarness
from tests.support.servers.postgres import PostgresServer
from tests.support.servers.radicale import PASSWORD, SELLER, ZONE, make_calendar

# Property tests try the same examples at every run, on every machine (derandomize), and take
# as long as a busy machine makes them (no deadline): the suite never fails on timing or luck.
settings.register_profile("callplan", deadline=None, derandomize=True)
settings.load_profile("callplan")


@pytest.fixture(scope="session")
def radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RadicaleServer]:
    with RadicaleServer(tmp_path_factory.mktemp("radicale")) as server:
        yield server


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One PostgreSQL cluster per test session, started by the test run itself; tests make their own
    databases.

    Without the server binaries the tests that need it fail, saying what to install: they
    must run everywhere the suite runs (.ci/run installs PostgreSQL where it is missing)."""
    try:
        server = PostgresServer().start()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield server
    server.close()


@pytest.fixture
def postgres_state(postgres: PostgresServer) -> PostgresState:
    """A new database of that cluster, migrated to the current schema."""
    from agent.state.postgres import migrate

    state = PostgresState(url=postgres.create_database())
    migrate(state)
    return state


@pytest.fixture
def user() -> str:
    return f"u{uuid.uuid4().hex[:12]}"


@pytest.fixture
def calendar_url(radicale: RadicaleServer, user: str) -> str:
    return make_calendar(radicale.url, user)


@pytest.fixture
def sleeps() -> list[float]:
    """What the connectors of a test would have slept: retries never wait on the wall clock."""
    return []


@pytest.fixture
def connect(sleeps: list[float]) -> Iterator[Callable[[str, str], CaldavConnector]]:
    """Make connectors for the seller (server URL, user), with sleeps recorded and jitter fixed
    at one half; they are closed after the test."""
    made: list[CaldavConnector] = []

    def connect(url: str, user: str) -> CaldavConnector:
        session = RetryingSession(sleep=sleeps.append, random=lambda: 0.5)
        made.append(CaldavConnector(SELLER, url, user, PASSWORD, zone=ZONE, session=session))
        return made[-1]

    yield connect
    for connector in made:
        connector.close()


@pytest.fixture
def connector(
    connect: Callable[[str, str], CaldavConnector],
    radicale: RadicaleServer,
    user: str,
    calendar_url: str,
) -> CaldavConnector:
    return connect(radicale.url, user)


@pytest.fixture
def tmp_secret(tmp_path: Path) -> Path:
    """A password file with owner-only permissions."""
    path = tmp_path / "password"
    path.write_text("s3cret-Pa55\n")
    path.chmod(0o600)
    return path


# -- scenario harnesses: every provider runs tests/loop/test_invariants.py
# -----------------------------

HARNESSES = ["caldav", "outlook", "google"]


@pytest.fixture
def caldav_harness(
    radicale: RadicaleServer, user: str, calendar_url: str
) -> Iterator[CaldavHarness]:
    harness = CaldavHarness(radicale.url, user, calendar_url)
    yield harness
    harness.close()


@pytest.fixture
def authority() -> Iterator[Authority]:
    """A fake Microsoft identity platform for MSAL (see tests/support/fakes/authority.py)."""
    with Authority() as fake:
        yield fake


@pytest.fixture
def graph(authority: Authority) -> Iterator[GraphFake]:
    """A fake Microsoft Graph that accepts the authority's tokens (see
    tests/support/fakes/graph.py)."""
    with GraphFake(authority.tokens) as fake:
        yield fake


@pytest.fixture
def outlook_harness(
    graph: GraphFake, authority: Authority, tmp_path: Path
) -> Iterator[OutlookHarness]:
    harness = OutlookHarness(graph, authority, tmp_path / "outlook")
    yield harness
    harness.close()


@pytest.fixture
def google_fake() -> Iterator[GoogleCalendarFake]:
    """A Google Calendar v3 fake on a free loopback port; its clock is the scenario week's
    Monday."""
    with GoogleCalendarFake(datetime(2030, 3, 18, 7, tzinfo=ZONE)) as fake:
        yield fake
    assert not fake.crashes, fake.crashes


@pytest.fixture
def google_harness(google_fake: GoogleCalendarFake) -> Iterator[GoogleHarness]:
    harness = GoogleHarness(google_fake)
    yield harness
    harness.close()


@pytest.fixture(params=HARNESSES)
def harness(request: pytest.FixtureRequest) -> Harness:
    return request.getfixturevalue(f"{request.param}_harness")
