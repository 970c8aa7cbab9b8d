"""The provider-neutral model: events, ownership tags, intervals and windows.

Connectors translate provider payloads into these frozen dataclasses and back; no provider
dict ever travels past a connector. Everything here is plain data so the planner can be
tested without a network.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlencode

AGENT = "callplan"


class Kind(enum.StrEnum):
    """What an artifact is. Prep and debrief are blocks (events); the agenda is text in a
    meeting."""

    PREP = "prep"
    DEBRIEF = "debrief"
    AGENDA = "agenda"


class Response(enum.StrEnum):
    """An attendee's answer to an invitation (iCalendar PARTSTAT, Google/Graph response)."""

    ACCEPTED = "accepted"
    DECLINED = "declined"
    TENTATIVE = "tentative"
    NEEDS_ACTION = "needs-action"


class Status(enum.StrEnum):
    CONFIRMED = "confirmed"
    TENTATIVE = "tentative"
    CANCELLED = "cancelled"


class BodyFormat(enum.StrEnum):
    TEXT = "text"
    HTML = "html"


def _require_aware(*stamps: datetime | None) -> None:
    for stamp in stamps:
        if stamp is not None and stamp.tzinfo is None:
            raise ValueError(f"naive datetime {stamp.isoformat()}: every time must carry a zone")


class Interval(NamedTuple):
    """A half-open span of time [start, end).

    A named tuple, not a dataclass: placement makes tens of thousands of them per plan. Its
    times come from events, windows and blocks, which check that every time carries a zone.
    """

    start: datetime
    end: datetime

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    def overlaps(self, other: Interval) -> bool:
        return self.start < other.end and other.start < self.end

    def shifted(self, delta: timedelta) -> Interval:
        return Interval(self.start + delta, self.end + delta)


@dataclass(frozen=True)
class Attendee:
    email: str
    name: str = ""
    response: Response = Response.NEEDS_ACTION
    optional: bool = False
    resource: bool = False  # rooms and equipment are attendees in every provider

    @cached_property
    def address(self) -> str:
        """The e-mail address as rules compare it (lower case)."""
        return self.email.strip().lower()

    @cached_property
    def domain(self) -> str:
        return self.address.rpartition("@")[2]


def _ours(kind: Kind, meeting_key: str, **rest: str) -> dict[str, str]:
    """A tag's fields: what every tag of ours starts with (who wrote it, the tag format's
    version, what it is and for which meeting), then the `rest` of its kind."""
    return {"agent": AGENT, "v": "1", "kind": kind.value, "meeting": meeting_key, **rest}


def _encode(fields: dict[str, str]) -> str:
    return urlencode(sorted(fields.items()))


def _decode(text: str) -> dict[str, str]:
    return dict(parse_qsl(text, keep_blank_values=True, strict_parsing=False))


def _stamp(value: datetime | None) -> str:
    return "" if value is None else value.isoformat()


def _parse_stamp(value: str) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value)
    _require_aware(parsed)
    return parsed


@dataclass(frozen=True, init=False)
class BlockTag:
    """The ownership tag every agent-created block carries on the provider.

    It names the agent, the kind and the meeting, and records where the agent placed the
    block, the meeting's time when it did, and a fingerprint of the description it wrote.
    With these the state can be rebuilt from the calendar alone: a moved block (placed !=
    actual), a rescheduled meeting (meeting time != tagged) and an edited description
    (fingerprint != actual) are all visible without the database.
    """

    kind: Kind
    meeting_key: str
    placed: Interval
    meeting: Interval
    content: str  # fingerprint of the description the agent wrote (of a prep: its form)
    pinned: bool = False  # the seller moved it; it follows its meeting but is never re-placed
    preview: str = ""  # of a prep: fingerprint of the preview the agent last wrote at its end

    def __init__(
        self,
        kind: Kind,
        meeting_key: str,
        placed: Interval,
        meeting: Interval,
        content: str,
        pinned: bool = False,
        preview: str = "",
    ) -> None:
        # written out, as a plan makes one for every block it writes: the generated __init__ of
        # a frozen dataclass sets each field through a call of object.__setattr__ (its own
        # __setattr__ refuses), this one puts them in the instance's dictionary; the instance
        # is as frozen after either
        fields = self.__dict__
        fields["kind"] = kind
        fields["meeting_key"] = meeting_key
        fields["placed"] = placed
        fields["meeting"] = meeting
        fields["content"] = content
        fields["pinned"] = pinned
        fields["preview"] = preview

    def fields(self) -> dict[str, str]:
        fields = _ours(
            self.kind,
            self.meeting_key,
            placed=f"{_stamp(self.placed.start)}/{_stamp(self.placed.end)}",
            at=f"{_stamp(self.meeting.start)}/{_stamp(self.meeting.end)}",
            content=self.content,
            pinned="1" if self.pinned else "0",
        )
        return fields | {"preview": self.preview} if self.preview else fields

    def encode(self) -> str:
        return _encode(self.fields())

    @classmethod
    def from_fields(cls, fields: dict[str, str]) -> BlockTag | None:
        """Parse a tag; None when the fields are not a tag of ours or are malformed."""
        try:
            if fields.get("agent") != AGENT:
                return None
            kind = Kind(fields["kind"])
            if kind is Kind.AGENDA:
                return None
            placed = _interval(fields["placed"])
            meeting = _interval(fields["at"])
            return cls(
                kind=kind,
                meeting_key=fields["meeting"],
                placed=placed,
                meeting=meeting,
                content=fields.get("content", ""),
                pinned=fields.get("pinned") == "1",
                preview=fields.get("preview", ""),
            )
        except (KeyError, ValueError):
            return None

    @classmethod
    def decode(cls, text: str) -> BlockTag | None:
        return cls.from_fields(_decode(text))


def _interval(text: str) -> Interval:
    start, _, end = text.partition("/")
    begin, finish = _parse_stamp(start), _parse_stamp(end)
    if begin is None or finish is None:
        raise ValueError(f"bad interval {text!r}")
    return Interval(begin, finish)


@dataclass(frozen=True)
class AgendaTag:
    """The tag on a meeting whose description holds an agenda the agent inserted.

    `content` is the fingerprint of the agenda text between the markers and `sep` is the
    exact separator the agent put before the opening marker, so stripping the agenda gives
    back the original description byte for byte. `body_format` is how it was spliced (text
    lines or HTML paragraphs): later cycles and undo use the same splicer, whatever the
    description looks like after our own write. The tag lives in a provider property the
    customer cannot write; text that merely looks like our markers is never trusted.
    """

    meeting_key: str
    content: str
    sep: str
    body_format: BodyFormat = BodyFormat.TEXT
    # the fingerprint of what the agenda says (its plan and debrief parts, the meeting's length,
    # first or follow-up): it is rewritten when that changes, never for a new template; empty
    # in a tag an earlier callplan wrote
    inputs: str = ""

    def fields(self) -> dict[str, str]:
        fields = _ours(
            Kind.AGENDA,
            self.meeting_key,
            content=self.content,
            sep=self.sep,
            format=self.body_format.value,
        )
        return fields | {"inputs": self.inputs} if self.inputs else fields

    def encode(self) -> str:
        return _encode(self.fields())

    @classmethod
    def from_fields(cls, fields: dict[str, str]) -> AgendaTag | None:
        if fields.get("agent") != AGENT or fields.get("kind") != Kind.AGENDA.value:
            return None
        try:
            return cls(
                meeting_key=fields["meeting"],
                content=fields["content"],
                sep=fields.get("sep", ""),
                body_format=BodyFormat(fields.get("format", BodyFormat.TEXT.value)),
                inputs=fields.get("inputs", ""),
            )
        except (KeyError, ValueError):
            return None

    @classmethod
    def decode(cls, text: str) -> AgendaTag | None:
        return cls.from_fields(_decode(text))


class Source(NamedTuple):
    """A resource's text as a connector read it, with the etag it had then.

    A connector that can only write whole resources (CalDAV) edits this text instead of
    reading the resource again, and sends it conditional on the etag: a resource that
    changed in between is refused by the server, exactly as a fresh read would have shown.
    """

    etag: str
    text: str


@dataclass(frozen=True)
class Event:
    """One event (or one instance of a recurring event) as a connector sees it.

    `key` is stable for the life of the meeting within its calendar, even when it is
    rescheduled (provider id plus the original start of a recurring instance); it is what
    ownership tags point at. `ref` is whatever the connector needs to write the event back
    (an href, an id); `etag` guards writes against concurrent edits.
    """

    key: str
    ref: str
    calendar: str
    title: str
    start: datetime
    end: datetime
    etag: str | None = None
    all_day: bool = False
    status: Status = Status.CONFIRMED
    organizer: str = ""
    self_email: str = ""
    self_is_organizer: bool = False
    self_response: Response = Response.ACCEPTED
    attendees: tuple[Attendee, ...] = ()
    description: str = ""
    body_format: BodyFormat = BodyFormat.TEXT
    transparent: bool = False
    private: bool = False
    recurring: bool = False
    location: str = ""
    block_tag: BlockTag | None = None
    agenda_tag: AgendaTag | None = None
    # what the connector read, for writing it back without another read; not part of what
    # the event says, so two reads of the same event compare equal with or without it
    source: Source | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        _require_aware(self.start, self.end)

    @cached_property
    def span(self) -> Interval:
        return Interval(self.start, self.end)

    @property
    def is_block(self) -> bool:
        """True for prep and debrief blocks the agent created."""
        return self.block_tag is not None

    @property
    def busy(self) -> bool:
        """Does this event make the seller unavailable?"""
        return not (
            self.all_day
            or self.transparent
            or self.status is Status.CANCELLED
            or self.self_response is Response.DECLINED
        )

    def with_changes(self, **changes: Any) -> Event:
        return replace(self, **changes)


@dataclass(frozen=True)
class Window:
    """The span of time the agent looks at: a little of the past, the look-ahead ahead.

    Which events are in it is decided by `holds`, the one rule every connector applies
    after its server's own time-range query, so that all providers, and full and
    incremental reads of one provider, agree at the edges.
    """

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        _require_aware(self.start, self.end)

    @property
    def span(self) -> Interval:
        return Interval(self.start, self.end)

    def contains(self, when: datetime) -> bool:
        """Is the instant `when` in the window (which includes its start, not its end)?"""
        return self.start <= when < self.end

    def holds(self, span: Interval) -> bool:
        """Is an event taking `span` in the window?

        An event with a length is in it when the two overlap: one that ends exactly when
        the window starts, or starts exactly when it ends, is not. An event of no length is
        an instant, in the window when `contains` says so: at the window's start it is in,
        at its end it is out. That is the rule of CalDAV's time-range (RFC 4791, 9.9: an
        event matches when start < DTEND and end > DTSTART, one without duration when
        start <= DTSTART < end); Graph's calendarView and Google's events.list also select
        the events that overlap their range, but their edges differ (Google's timeMin is
        exclusive on an event's end, so it leaves out an instant at timeMin; Graph does not
        document its edges). So connectors ask their server for a little more (`widened`)
        and decide here, and full and incremental reads agree.
        """
        if span.start == span.end:
            return self.contains(span.start)
        return span.overlaps(self.span)

    def widened(self, margin: timedelta) -> Window:
        """The window with `margin` more on each side: what to ask a server for before `holds`
        decides."""
        return Window(self.start - margin, self.end + margin)


@dataclass(frozen=True, init=False)
class BlockSpec:
    """What a prep or debrief block should look like on the calendar."""

    title: str
    start: datetime
    end: datetime
    description: str
    tag: BlockTag
    # HTML when callplan spliced its preview into a prep a person wrote in as HTML (Outlook)
    body_format: BodyFormat = BodyFormat.TEXT

    def __init__(
        self,
        title: str,
        start: datetime,
        end: datetime,
        description: str,
        tag: BlockTag,
        body_format: BodyFormat = BodyFormat.TEXT,
    ) -> None:
        # written out, as BlockTag's is (and the zones checked without a call when they are there)
        if start.tzinfo is None or end.tzinfo is None:
            _require_aware(start, end)
        fields = self.__dict__
        fields["title"] = title
        fields["start"] = start
        fields["end"] = end
        fields["description"] = description
        fields["tag"] = tag
        fields["body_format"] = body_format


@dataclass(frozen=True)
class Delta:
    """What changed in a calendar since a cursor.

    `full` means the connector could not go on from the cursor (or had none) and `upserted`
    is the whole window: the caller replaces what it knew instead of merging.
    """

    upserted: tuple[Event, ...] = ()  # all events now under each ref named here (a recurring
    # series is one ref with many instances): they replace whatever was known under that ref
    removed_refs: tuple[str, ...] = ()  # refs that left the calendar (or the window)
    cursor: str | None = None
    full: bool = False
    requests: int = 0  # API requests the read cost, for benchmarks and status
    skipped: tuple[str, ...] = field(default=())  # one line per malformed event that was left out
