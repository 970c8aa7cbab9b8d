"""The interface every provider's server offers to benchmarks and fault tests.

A Target is a running server (Radicale, or a faithful fake of Google Calendar or Graph) plus what a
provider-neutral test needs to know about it: how to get a fresh calendar for a new seller (a
scenario harness, see tests/support/harness/base.py), how to build the agent's connector with its
network knobs set by the test (timeout, sleep, jitter), which config keys (and environment) make the
`callplan` command reach that calendar, how the provider says that an incremental-sync cursor has
expired, and how a broken client leaves an event the agent cannot read. Everything else (the proxy
that fails or delays requests, the scenarios, the checks) is shared. servers/targets.py lists the
targets.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from connectors.base import Connector
from tests.support.harness.base import Harness
from tests.support.servers.proxy import Plan, Reply, Request


class Target(ABC):
    """A provider's running server, as the benchmarks and the fault tests use it."""

    name: str  # the provider, as in the config ("caldav", "google", "outlook")
    upstream: str  # the server's base URL; a proxy in front of it forwards here
    page: int | None  # events per page of a listing, as the connector asks (None: never paged)

    @abstractmethod
    def new_calendar(self, base: str) -> Harness:
        """A fresh, empty calendar of a new seller; people and the agent reach the server at
        `base` (the upstream URL itself, or a proxy in front of it)."""

    @abstractmethod
    def connector(
        self,
        harness: Harness,
        *,
        timeout: float,
        sleep: Callable[[float], None],
        random: Callable[[], float],
    ) -> Connector:
        """The agent's connector for the harness's seller, with the test's network knobs."""

    @abstractmethod
    def account_options(self, harness: Harness, folder: Path) -> dict[str, Any]:
        """The [[accounts]] keys (besides name, provider, email, calendars) that make the
        `callplan` command reach the harness's calendar; secrets go in files under `folder`."""

    @abstractmethod
    def put_malformed(self, harness: Harness, problem: str, title: str, start: datetime) -> None:
        """Put on the calendar, as a broken client could, a meeting with `problem` (one of
        MALFORMED) that the provider stores but the agent cannot read correctly."""

    @abstractmethod
    def expire_cursor(self, request: Request) -> Reply | None:
        """The provider's answer to a request that uses a sync cursor it no longer knows;
        None for requests that use none."""

    @abstractmethod
    def expire_cursor_mid_paging(self) -> Plan | None:
        """A plan that lets an incremental read's first page through and refuses a later page
        of it as an expired cursor (None: the provider never pages an incremental read)."""

    @abstractmethod
    def limit_pages(self, items: int) -> None:
        """From now on, listings come in pages of at most `items` (on calendars made after the
        call), so that reads page even on a small calendar. Providers may always send less than
        asked; a server that never pages ignores this."""

    def environment(self) -> dict[str, str]:
        """Environment variables a `callplan` process needs to reach the server."""
        return {}


MALFORMED = ("unknown time zone", "ends before it starts")
