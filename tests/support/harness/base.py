"""A provider under test, for the scenario tests every provider must pass.

A harness gives the agent its connector, and lets a test act as the people around the
agent do, by other means than that connector: the seller adding, moving and editing
events in their calendar app, a customer cancelling. Each provider (CalDAV on Radicale,
the Google and Graph fakes) implements it; tests/loop/test_invariants.py runs the same
scenarios on all of them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import TypeVar
from zoneinfo import ZoneInfo

from agent.core.model import Event
from connectors.base import Connector

C = TypeVar("C", bound=Connector)


class Harness(ABC):
    name: str  # the provider, as in the config ("caldav", "google", "outlook")
    seller: str  # the seller's address; their domain is internal
    zone: ZoneInfo  # the seller's time zone
    calendar: str  # the calendar the agent works on

    @abstractmethod
    def connector(self) -> Connector:
        """A new connector for the agent, as the seller's account."""

    def handed_out(self, connector: C) -> C:
        """Remember a connector given to the agent, so that close() closes it."""
        self.__dict__.setdefault("_handed_out", []).append(connector)
        return connector

    def close(self) -> None:
        for connector in self.__dict__.get("_handed_out", []):
            connector.close()

    @abstractmethod
    def add_meeting(
        self,
        title: str,
        start: datetime,
        minutes: int = 60,
        guests: Iterable[str] = ("dana@globex.example",),
        organizer: str | None = None,
        description: str = "",
    ) -> str:
        """A meeting appears (the seller or a customer creates it); returns its key."""

    @abstractmethod
    def add_series(
        self,
        title: str,
        start: datetime,
        minutes: int,
        weeks: int,
        guests: Iterable[str] = ("dana@globex.example",),
    ) -> None:
        """A weekly meeting the seller organizes: `weeks` instances from `start`, all at its
        wall-clock time in the seller's zone (summer time or not)."""

    @abstractmethod
    def add_broken_event(self, start: datetime) -> str:
        """An event no connector can read correctly, at `start`: what a broken client or an import
        leaves behind. Returns its ref, as the connector names it."""

    @abstractmethod
    def edit_meeting(
        self,
        key: str,
        *,
        title: str | None = None,
        start: datetime | None = None,
        minutes: int | None = None,
        description: str | None = None,
        guests: Iterable[str] | None = None,
        cancel: bool = False,
        decline: bool = False,
    ) -> None:
        """A person changes a meeting in their calendar app."""

    @abstractmethod
    def delete(self, event: Event) -> None:
        """A person deletes an event (a meeting or one of the agent's blocks)."""

    @abstractmethod
    def move(self, event: Event, start: datetime, end: datetime) -> None:
        """A person drags an event to another time."""

    @abstractmethod
    def write_description(self, event: Event, description: str) -> None:
        """A person rewrites an event's description (notes in a block, an edit of the agenda)."""

    @abstractmethod
    def events(self) -> list[Event]:
        """Everything the server now holds in the calendar, read afresh."""

    @abstractmethod
    def versions(self) -> dict[str, str]:
        """A version (etag) per stored event: equal maps mean nothing was written."""

    @abstractmethod
    def notifications(self) -> Counter[str]:
        """How many update notifications each attendee has received from the agent's writes."""

    # -- conveniences built on the above ------------------------------------------------------

    def meeting(self, key: str) -> Event:
        found = [event for event in self.events() if event.key == key]
        assert len(found) == 1, f"{len(found)} events with key {key}"
        return found[0]

    def blocks(self, kind: str | None = None) -> list[Event]:
        found = [
            e for e in self.events() if e.block_tag and (kind is None or e.block_tag.kind == kind)
        ]
        return sorted(found, key=lambda e: e.start)

    def block_for(self, kind: str, key: str) -> Event:
        found = [b for b in self.blocks(kind) if b.block_tag.meeting_key == key]  # type: ignore[union-attr]
        assert len(found) == 1, f"{len(found)} {kind} blocks for {key}"
        return found[0]
