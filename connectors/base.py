"""The small interface every calendar connector implements, and what each verb promises.

Modelled on vdirsyncer's storage interface: a handful of verbs, and an etag on every write so
that optimistic concurrency is part of the contract. A connector is thin: it translates
between a provider and `agent.core.model`, and raises the classes of `agent.core.errors`; it decides
nothing. Retries with backoff for throttling and transient failures happen inside the
connector (the provider's rules differ), bounded, before a ThrottledError/TransientError
escapes.

Every connector subclasses `Connector`; tests/providers/connector_contract.py holds the tests each
one must pass on its server, so the engine can rely on the docstrings below whatever the provider.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

from agent.core.errors import ConnectorError
from agent.core.model import AgendaTag, BlockSpec, Delta, Event, Interval, Window


@dataclass(frozen=True)
class CalendarInfo:
    id: str
    name: str
    primary: bool = False


class Connector(ABC):
    """One account at one provider."""

    name: ClassVar[str]  # provider name for messages: "caldav", "google", "outlook"
    batch_size: ClassVar[int] = 1  # how many blocks one request of `create_many` can create
    # Can `set_description(..., notify=False)` change a meeting without its attendees hearing
    # of it? Not where the provider tells attendees of every change the organizer makes.
    silent_updates: ClassVar[bool] = True

    @property
    @abstractmethod
    def requests_sent(self) -> int:
        """Requests sent to the provider so far, every attempt counted (retries too): what a
        cycle cost is the difference across it, reads and writes alike."""

    @abstractmethod
    def calendars(self) -> list[CalendarInfo]:
        """The calendars the account can see, exactly one of them marked primary."""

    @abstractmethod
    def changes(self, calendar: str, cursor: str | None, window: Window) -> Delta:
        """What changed since `cursor` (everything in `window` when `cursor` is None).

        An event is in the window when `Window.holds` its span. With a cursor, the Delta
        holds the events added or changed in the window since, and the refs of those that
        were deleted or left it; a calendar where nothing changed costs one request. An
        expired cursor is not an error for the caller: the connector starts over and
        returns a full Delta. Recurring events come back expanded, one Event per instance in
        the window, each with a key of its own that stays the same when it is moved.
        Malformed events are left out, each with a one-line reason in `Delta.skipped`, and
        are not reported removed either (we cannot tell).
        """

    @abstractmethod
    def busy(self, calendars: list[str], window: Window) -> list[Interval]:
        """Busy times on other calendars of the seller (free/busy), for placement, sorted.

        Events that do not make the seller unavailable (free, cancelled, declined,
        all-day) leave no busy time.
        """

    @abstractmethod
    def find_owned(self, calendar: str) -> list[Event]:
        """Every event in the calendar that carries one of our tags, at any date.

        Used by undo and to rebuild state: looks the tag up server-side where the provider
        can filter on it.
        """

    @abstractmethod
    def get(self, calendar: str, ref: str, key: str | None = None) -> Event | None:
        """Re-read one event (the instance `key` of a recurring series); None if it is gone."""

    @abstractmethod
    def create(self, calendar: str, block: BlockSpec) -> Event:
        """Create a private, busy block with no attendees, carrying its tag; returns it as
        stored."""

    def create_many(self, calendar: str, blocks: list[BlockSpec]) -> list[Event | ConnectorError]:
        """Create the blocks; one result per block, in order: the Event as stored, or its error.

        One by one here; a provider that can create `batch_size` blocks in one request
        overrides it. A failed block does not stop the others.
        """
        results: list[Event | ConnectorError] = []
        for block in blocks:
            try:
                results.append(self.create(calendar, block))
            except ConnectorError as exc:
                results.append(exc)
        return results

    @abstractmethod
    def update(self, calendar: str, current: Event, block: BlockSpec) -> Event:
        """Rewrite a block the agent owns, if its etag still matches (else ConflictError);
        GoneError if it is gone."""

    @abstractmethod
    def delete(self, calendar: str, current: Event) -> None:
        """Delete a block the agent owns, if its etag still matches (else ConflictError);
        GoneError if it is already gone."""

    @abstractmethod
    def set_description(
        self, calendar: str, meeting: Event, text: str, agenda: AgendaTag | None, notify: bool
    ) -> Event:
        """Replace a meeting's description with `text`, and its agenda tag (None removes it).

        Only the description and the tag change; `notify` says whether attendees should get
        an update (the organizer's client sends it; see `silent_updates`). Etag-guarded
        like every write: ConflictError if the meeting changed, GoneError if it is gone.
        """

    def close(self) -> None:  # noqa: B027 - a connector without sessions has nothing to release
        """Release sessions and sockets."""
