"""The small interface every calendar connector implements.

Modelled on vdirsyncer's storage interface: a handful of verbs, and an etag on every write so
that optimistic concurrency is part of the contract. A connector is thin: it translates
between a provider and `agent.model`, and raises the classes of `agent.errors`; it decides
nothing. Retries with backoff for throttling and transient failures happen inside the
connector (the provider's rules differ), bounded, before a ThrottledError/TransientError
escapes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from agent.errors import ConnectorError
from agent.model import AgendaTag, BlockSpec, Delta, Event, Interval, Window


@dataclass(frozen=True)
class CalendarInfo:
    id: str
    name: str
    primary: bool = False


@runtime_checkable
class Connector(Protocol):
    """One account at one provider."""

    name: str  # provider name for messages: "caldav", "google", "outlook"

    @property
    def requests_sent(self) -> int:
        """Requests sent to the provider so far, every attempt counted (retries too): what a
        cycle cost is the difference across it, reads and writes alike."""
        ...

    def calendars(self) -> list[CalendarInfo]:
        """The calendars the account can see."""
        ...

    def changes(self, calendar: str, cursor: str | None, window: Window) -> Delta:
        """What changed since `cursor` (everything in `window` when `cursor` is None).

        An expired cursor is not an error for the caller: the connector starts over and
        returns a full Delta. Recurring events come back expanded, one Event per instance in
        the window. Malformed events are left out with a reason in `Delta.skipped`.
        """
        ...

    def busy(self, calendars: list[str], window: Window) -> list[Interval]:
        """Busy times on other calendars of the seller (free/busy), for placement."""
        ...

    def find_owned(self, calendar: str) -> list[Event]:
        """Every event in the calendar that carries one of our tags, at any date.

        Used by undo and to rebuild state: looks the tag up server-side where the provider
        can filter on it.
        """
        ...

    def get(self, calendar: str, ref: str, key: str | None = None) -> Event | None:
        """Re-read one event (the instance `key` of a recurring series); None if it is gone."""
        ...

    def create(self, calendar: str, block: BlockSpec) -> Event:
        """Create a private, busy block with no attendees; returns it as stored."""
        ...

    def update(self, calendar: str, current: Event, block: BlockSpec) -> Event:
        """Rewrite a block the agent owns, if its etag still matches (else ConflictError)."""
        ...

    def delete(self, calendar: str, current: Event) -> None:
        """Delete a block the agent owns, if its etag still matches; GoneError if already gone."""
        ...

    def set_description(
        self,
        calendar: str,
        meeting: Event,
        description: str,
        agenda: AgendaTag | None,
        notify: bool,
    ) -> Event:
        """Replace a meeting's description and its agenda tag (None removes the tag).

        Only the description and the tag change; `notify` says whether attendees should get
        an update (the organizer's client sends it). Etag-guarded like every write.
        """
        ...

    def close(self) -> None:
        """Release sessions and sockets."""
        ...


@runtime_checkable
class BatchCreates(Protocol):
    """A connector that can create many blocks in fewer round trips (optional, Google's batches)."""

    def create_many(self, calendar: str, blocks: list[BlockSpec]) -> list[Event | ConnectorError]:
        """Create the blocks; one result per block, in order: the Event as stored, or its error."""
        ...
