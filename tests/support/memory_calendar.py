"""An in-memory calendar server and a connector for it, for fast property-based tests.

It keeps the provider rules the engine relies on: etags that change on every write, 412 on a
stale etag (ConflictError), 404 on a missing event (GoneError), an incremental change feed
with cursors, and a count of the update notifications each attendee would receive. People
act on it through the `person_*` methods, which bump etags like a real client would.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import replace
from typing import Any

from agent.core.errors import ConflictError, GoneError
from agent.core.model import AgendaTag, BlockSpec, Delta, Event, Interval, Window
from connectors.base import CalendarInfo, Connector

CALENDAR = "memory"


class MemoryCalendar:
    def __init__(self, seller: str) -> None:
        self.seller = seller
        self.events: dict[str, Event] = {}
        self.feed: list[tuple[int, str]] = []  # (sequence, ref) of every write
        self._sequence = itertools.count(1)
        self._ids = itertools.count(1)
        self.notifications: Counter[str] = Counter()
        self.requests = 0

    def _write(self, event: Event) -> Event:
        sequence = next(self._sequence)
        stored = replace(event, etag=f'"{sequence}"')
        self.events[stored.ref] = stored
        self.feed.append((sequence, stored.ref))
        return stored

    def _remove(self, ref: str) -> None:
        del self.events[ref]
        self.feed.append((next(self._sequence), ref))

    @property
    def sequence(self) -> int:
        return self.feed[-1][0] if self.feed else 0

    # -- what people do ------------------------------------------------------------------------

    def person_add(self, event: Event) -> Event:
        ref = event.ref or f"evt-{next(self._ids)}"
        return self._write(
            replace(event, ref=ref, key=event.key or ref, calendar=CALENDAR, self_email=self.seller)
        )

    def person_edit(self, ref: str, **changes: Any) -> Event:
        return self._write(replace(self.events[ref], **changes))

    def person_delete(self, ref: str) -> None:
        self._remove(ref)

    def blocks(self) -> list[Event]:
        return [event for event in self.events.values() if event.is_block]


class MemoryConnector(Connector):
    name = "memory"

    def __init__(self, calendar: MemoryCalendar) -> None:
        self.cal = calendar

    @property
    def requests_sent(self) -> int:
        return self.cal.requests

    def calendars(self) -> list[CalendarInfo]:
        self.cal.requests += 1
        return [CalendarInfo(CALENDAR, "Memory", primary=True)]

    def changes(self, calendar: str, cursor: str | None, window: Window) -> Delta:
        self.cal.requests += 1
        since = int(cursor) if cursor else None
        in_window = {ref: e for ref, e in self.cal.events.items() if window.holds(e.span)}
        if since is None:
            return Delta(
                tuple(in_window.values()), (), str(self.cal.sequence), full=True, requests=1
            )
        touched = {ref for sequence, ref in self.cal.feed if sequence > since}
        upserted = tuple(in_window[ref] for ref in sorted(touched) if ref in in_window)
        removed = tuple(ref for ref in sorted(touched) if ref not in in_window)
        return Delta(upserted, removed, str(self.cal.sequence), requests=1)

    def busy(self, calendars: list[str], window: Window) -> list[Interval]:
        return []

    def find_owned(self, calendar: str) -> list[Event]:
        self.cal.requests += 1
        return [e for e in self.cal.events.values() if e.block_tag or e.agenda_tag]

    def get(self, calendar: str, ref: str, key: str | None = None) -> Event | None:
        self.cal.requests += 1
        return self.cal.events.get(ref)

    def _current(self, event: Event) -> Event:
        stored = self.cal.events.get(event.ref)
        if stored is None:
            raise GoneError(f"{event.ref} is gone")
        if stored.etag != event.etag:
            raise ConflictError(f"{event.ref} changed")
        return stored

    def create(self, calendar: str, block: BlockSpec) -> Event:
        self.cal.requests += 1
        ref = f"blk-{next(self.cal._ids)}"
        event = Event(
            key=ref,
            ref=ref,
            calendar=CALENDAR,
            title=block.title,
            start=block.start,
            end=block.end,
            description=block.description,
            private=True,
            self_email=self.cal.seller,
            self_is_organizer=True,
            block_tag=block.tag,
        )
        return self.cal._write(event)

    def update(self, calendar: str, current: Event, block: BlockSpec) -> Event:
        self.cal.requests += 1
        stored = self._current(current)
        return self.cal._write(
            replace(
                stored,
                title=block.title,
                start=block.start,
                end=block.end,
                description=block.description,
                body_format=block.body_format,
                block_tag=block.tag,
            )
        )

    def delete(self, calendar: str, current: Event) -> None:
        self.cal.requests += 1
        self._current(current)
        self.cal._remove(current.ref)

    def set_description(
        self, calendar: str, meeting: Event, text: str, agenda: AgendaTag | None, notify: bool
    ) -> Event:
        self.cal.requests += 1
        stored = self._current(meeting)
        if notify:
            for attendee in stored.attendees:
                if attendee.email != self.cal.seller:
                    self.cal.notifications[attendee.email] += 1
        return self.cal._write(replace(stored, description=text, agenda_tag=agenda))
