"""The CalDAV connector: the `caldav` client library for the protocol, `icalendar` for the data.

Reads are cheap by construction. A full read is two requests whatever the calendar holds
(PROPFIND of the collection's sync-token, then one calendar-query REPORT for the window);
an incremental read is one sync-collection REPORT, plus one calendar-multiget REPORT when
something changed. Recurring events are expanded per instance with `recurring-ical-events`.

Writes are conditional PUT/DELETE requests (If-Match with the etag the caller read,
If-None-Match: * to create). They edit the stored text in place: only the properties we own
are rewritten, and every other line of the resource, including other components, stays
byte for byte, since a person's text must never be lost or re-encoded. The text to edit is
the one the event was read (or last written) with, kept in `Event.source` for the agent's
blocks and the seller's own invitations, so such a write is one request; a series, whose
instances all edit one text, is read again first.

Every request goes through `RetryingSession` (connectors.caldav_http), which gives it a
timeout, counts it (for `Delta.requests`) and retries throttled and transient failures
through `connectors.retry.Retrier` (the policy is stated there).
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import icalendar
import recurring_ical_events
from caldav.collection import Calendar
from caldav.davclient import DAVClient
from caldav.elements import dav
from caldav.lib import error as dav_error
from caldav.lib.url import URL
from lxml import etree
from pydantic import field_validator, model_validator

from agent.config.secrets import read_secret
from agent.config.settings import Account, Model, options_parser
from agent.core.errors import (
    AuthError,
    BadDataError,
    ConflictError,
    ConnectorError,
    GoneError,
    TransientError,
)
from agent.core.logfmt import emit
from agent.core.model import (
    AgendaTag,
    Attendee,
    BlockSpec,
    BlockTag,
    Delta,
    Event,
    Interval,
    Response,
    Source,
    Status,
    Window,
)
from connectors.base import CalendarInfo, Connector
from connectors.caldav_html import describe
from connectors.caldav_http import RetryingSession

log = logging.getLogger(__name__)

TAG_PROPERTY = "X-CALLPLAN-TAG"  # BlockTag.encode() on prep and debrief blocks
AGENDA_PROPERTY = "X-CALLPLAN-AGENDA"  # AgendaTag.encode() on meetings that hold our agenda
PRODID = "-//callplan//callplan//EN"
CALENDAR_DATA = {"Content-Type": "text/calendar; charset=utf-8"}
# Floating times and all-day dates are matched on the server in its own zone (usually UTC);
# asking for a day more on each side and deciding here (Window.holds) makes the window exact.
SERVER_SLACK = timedelta(days=1)
BLOCK_PROPERTIES = ("SUMMARY", "DTSTART", "DTEND", "DURATION", "DESCRIPTION", TAG_PROPERTY)


# --- configuration -------------------------------------------------------------------------


class CaldavOptions(Model):
    """The provider keys of a caldav account in config.toml."""

    url: str
    username: str | None = None
    password_file: str | None = None

    @field_validator("url")
    @classmethod
    def _plain_http_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("expected an http:// or https:// URL")
        if parts.username or parts.password:
            raise ValueError("credentials do not belong in the URL: use username and password_file")
        return url

    @model_validator(mode="after")
    def _password_needs_user(self) -> CaldavOptions:
        if self.password_file and not self.username:
            raise ValueError("password_file needs a username")
        return self


parse_options = options_parser(CaldavOptions)


# --- reading iCalendar ---------------------------------------------------------------------


@dataclass(frozen=True)
class Resource:
    """One calendar object resource: its URL, etag and iCalendar text as the server sent them."""

    href: str
    etag: str | None
    text: str


def href_of(url: str | URL) -> str:
    """The canonical form of a resource URL, so refs from every kind of read compare equal."""
    return str(URL.objectify(url).canonical())


def rid_text(value: date, zone: ZoneInfo) -> str:
    """A RECURRENCE-ID as it appears in Event.key: UTC basic format, or the date of an all-day
    one."""
    if not isinstance(value, datetime):
        return value.strftime("%Y%m%d")
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _rid_anchor(text: str, zone: ZoneInfo) -> datetime:
    """The instant a rid_text() names (midnight in `zone` for a date)."""
    if "T" in text:
        return datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return datetime.combine(datetime.strptime(text, "%Y%m%d").date(), clock_time(), zone)


def _text(component: icalendar.Component, name: str) -> str:
    value = component.get(name)
    if isinstance(value, list):  # a property that should appear once but appears repeatedly
        value = value[0]
    return "" if value is None else str(value)


def _address(value: Any) -> str:
    """The e-mail address of an ORGANIZER or ATTENDEE (EMAIL= wins over a urn: value)."""
    email = value.params.get("EMAIL") or str(value)
    if email.lower().startswith("mailto:"):
        email = email[len("mailto:") :]
    return email.strip().lower()


def _values(component: icalendar.Component, name: str) -> list[Any]:
    value = component.get(name, [])
    return value if isinstance(value, list) else [value]


# A broken value of one of these makes the event unreadable; of any other property, not.
RELIED_ON = frozenset(
    {"UID", "DTSTART", "DTEND", "DURATION", "RECURRENCE-ID", "RRULE", "RDATE", "EXDATE"}
)
RESPONSES = {
    "ACCEPTED": Response.ACCEPTED,
    "DECLINED": Response.DECLINED,
    "TENTATIVE": Response.TENTATIVE,
}
STATUSES = {"CANCELLED": Status.CANCELLED, "TENTATIVE": Status.TENTATIVE}


@dataclass(frozen=True)
class Parsed:
    """A resource that passed validation, with its calendar and whether it is a series."""

    resource: Resource
    calendar: icalendar.Calendar
    uid: str
    series: bool

    def vevents(self) -> list[tuple[int, icalendar.Component]]:
        """The VEVENTs with their positions among the calendar's top-level components."""
        return [
            (index, c) for index, c in enumerate(self.calendar.subcomponents) if c.name == "VEVENT"
        ]

    def override(self, key: str, zone: ZoneInfo) -> tuple[int, icalendar.Component] | None:
        for index, component in self.vevents():
            if "RECURRENCE-ID" in component and self.key(component, zone) == key:
                return index, component
        return None

    def master(self) -> tuple[int, icalendar.Component]:
        """The series master, or the one VEVENT of a single event (an orphan override if that is
        all)."""
        vevents = self.vevents()
        if not vevents:
            raise BadDataError("not an event (no VEVENT)", where=self.resource.href)
        return next(((i, c) for i, c in vevents if "RECURRENCE-ID" not in c), vevents[0])

    def key(self, component: icalendar.Component, zone: ZoneInfo) -> str:
        """Event.key of a component: UID, or UID#RECURRENCE-ID (DTSTART for a series master)."""
        if not self.series:
            return self.uid
        # both checked by EventReader: there, and a date or a time
        moment = (component.get("RECURRENCE-ID") or component.get("DTSTART")).dt
        return f"{self.uid}#{rid_text(moment, zone)}"


class EventReader:
    """Turns the iCalendar text of one resource into Events of one calendar, as the seller sees
    them.

    Floating times and all-day dates are taken in the seller's `zone`. A resource that
    cannot be read correctly raises BadDataError naming the resource and the reason, so
    the caller can skip it and go on with the others.
    """

    def __init__(self, calendar: str, self_email: str, zone: ZoneInfo) -> None:
        self.calendar = calendar
        self.self_email = self_email.strip().lower()
        self.zone = zone

    def parse(self, resource: Resource) -> Parsed:
        """Parse and check a resource. One without a VEVENT (a task, a journal) has no events."""
        try:
            calendar = icalendar.Calendar.from_ical(resource.text)
            vevents = calendar.walk("VEVENT")
            for component in vevents:
                self._check(component)
        except (ValueError, KeyError) as exc:  # icalendar's and our errors are ValueErrors
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise BadDataError(
                f"skipped malformed event: {reason[:200]}", where=resource.href
            ) from None
        series = any(name in c for c in vevents for name in ("RRULE", "RDATE", "RECURRENCE-ID"))
        return Parsed(resource, calendar, str(vevents[0]["UID"]) if vevents else "", series)

    def _check(self, component: icalendar.Component) -> None:
        if not _text(component, "UID"):
            raise ValueError("no UID")
        for name, message in component.errors:  # icalendar keeps going past a bad value
            if name in RELIED_ON:
                raise ValueError(f"{name}: {message}")
        for name in ("DTSTART", "DTEND", "RECURRENCE-ID"):
            prop = component.get(name)
            if isinstance(prop, list):
                raise ValueError(f"{name} appears more than once")
            if prop is not None and not isinstance(prop.dt, date):
                raise ValueError(f"{name} is neither a date nor a time")
            if (
                prop is not None
                and isinstance(prop.dt, datetime)
                and prop.dt.tzinfo is None
                and "TZID" in prop.params
            ):
                raise ValueError(f"{name} has an unknown time zone {prop.params['TZID']!r}")
        start, end, _ = self._span(component)
        if end < start:
            raise ValueError("DTEND is before DTSTART")

    def _span(self, component: icalendar.Component) -> tuple[datetime, datetime, bool]:
        """Start, end and all-day flag, with the RFC 5545 defaults for a missing DTEND."""
        if not isinstance(component, icalendar.Event):  # what icalendar parses a VEVENT into
            raise ValueError(f"{component.name} is not an event")
        start, end = component.start, component.end  # icalendar applies DURATION and the defaults
        all_day = not isinstance(start, datetime)
        return self._moment(start), self._moment(end), all_day

    def _moment(self, value: date) -> datetime:
        if not isinstance(value, datetime):
            return datetime.combine(value, clock_time(), self.zone)
        if value.tzinfo is None:
            return value.replace(tzinfo=self.zone)
        return value.astimezone(self.zone)

    def _expand(self, parsed: Parsed, window: Window) -> list[icalendar.Component]:
        """The instances of the resource's events in the window, give or take a day."""
        try:
            query = recurring_ical_events.of(parsed.calendar, components=["VEVENT"])
            wide = window.widened(SERVER_SLACK)
            return list(query.between(wide.start, wide.end))
        except ValueError as exc:  # what expansion finds wrong (rie's errors are ValueErrors)
            raise BadDataError(
                f"skipped malformed event: {exc}", where=parsed.resource.href
            ) from None

    def in_window(self, parsed: Parsed, window: Window) -> list[Event]:
        """The resource's events (one per instance of a series) that the window holds."""
        events = [self.event(parsed, component) for component in self._expand(parsed, window)]
        return [event for event in events if window.holds(event.span)]

    def instance(
        self, parsed: Parsed, key: str | None
    ) -> tuple[int | None, icalendar.Component] | None:
        """The component of the event `key` (None: the resource's first or only event).

        Returns its position when it is stored as its own VEVENT; a plain instance of a
        series is computed from the master (position None). None when there is no such
        instance (an EXDATE removed it, or the key belongs to another event).
        """
        if not parsed.vevents():
            return None
        if not parsed.series:
            index, component = parsed.master()
            return (index, component) if key in (None, parsed.uid) else None
        key = key or parsed.key(parsed.master()[1], self.zone)
        if stored := parsed.override(key, self.zone):
            return stored
        uid, _, rid = key.rpartition("#")
        if uid != parsed.uid or not rid:
            return None
        anchor = _rid_anchor(rid, self.zone)
        expanded = self._expand(parsed, Window(anchor, anchor))
        return next(((None, c) for c in expanded if parsed.key(c, self.zone) == key), None)

    def event(self, parsed: Parsed, component: icalendar.Component) -> Event:
        start, end, all_day = self._span(component)
        organizer = next((_address(value) for value in _values(component, "ORGANIZER")), "")
        attendees = tuple(
            Attendee(
                email=_address(value),
                name=str(value.params.get("CN", "")),
                response=RESPONSES.get(
                    str(value.params.get("PARTSTAT", "")).upper(), Response.NEEDS_ACTION
                ),
                # NON-PARTICIPANT is "for information only": not needed at the meeting either
                optional=str(value.params.get("ROLE", "")).upper()
                in ("OPT-PARTICIPANT", "NON-PARTICIPANT"),
                resource=str(value.params.get("CUTYPE", "")).upper() in ("ROOM", "RESOURCE"),
            )
            for value in _values(component, "ATTENDEE")
        )
        me = next((a for a in attendees if a.email == self.self_email), None)
        tag, agenda = _text(component, TAG_PROPERTY), _text(component, AGENDA_PROPERTY)
        self_is_organizer = organizer in ("", self.self_email)
        return Event(
            key=parsed.key(component, self.zone),
            ref=parsed.resource.href,
            calendar=self.calendar,
            title=_text(component, "SUMMARY"),
            start=start,
            end=end,
            etag=parsed.resource.etag,
            all_day=all_day,
            status=STATUSES.get(_text(component, "STATUS").upper(), Status.CONFIRMED),
            organizer=organizer,
            self_email=self.self_email,
            self_is_organizer=self_is_organizer,
            self_response=me.response if me else Response.ACCEPTED,
            attendees=attendees,
            description=_text(component, "DESCRIPTION"),
            transparent=_text(component, "TRANSP").upper() == "TRANSPARENT",
            private=_text(component, "CLASS").upper() in ("PRIVATE", "CONFIDENTIAL"),
            recurring=parsed.series,
            location=_text(component, "LOCATION"),
            block_tag=BlockTag.decode(tag) if tag else None,
            agenda_tag=AgendaTag.decode(agenda) if agenda else None,
            source=_source(parsed.resource)
            if _writable(parsed, tag, self_is_organizer and bool(attendees))
            else None,
        )


def _writable(parsed: Parsed, tag: str, invitation: bool) -> bool:
    """Might the agent write this resource: one of its blocks, or an invitation the seller
    sent (its agenda)? Only those keep their text for a write without reading it first; a
    series is read again, since each of its instances edits the same text."""
    return not parsed.series and (bool(tag) or invitation)


def _source(resource: Resource) -> Source | None:
    """The text to write back from, when its etag can guard that write: a weak etag never
    matches a conditional PUT, so such a resource is read again before each write."""
    if not resource.etag or resource.etag.startswith("W/"):
        return None
    return Source(resource.etag, resource.text)


# --- editing iCalendar text in place -------------------------------------------------------


def _content_lines(text: str) -> list[str]:
    """Content lines of iCalendar text, each with its folded continuations and line ending."""
    lines: list[str] = []
    for physical in re.findall(r"[^\n]*\n|[^\n]+$", text):
        if physical[:1] in (" ", "\t") and lines:
            lines[-1] += physical
        else:
            lines.append(physical)
    return lines


def _line_name(line: str) -> str:
    return re.split(r"[;:]", line, maxsplit=1)[0].strip().upper()


def _component_spans(lines: list[str], expected: int) -> list[tuple[int, int]]:
    """[begin, end) line ranges of the top-level components inside VCALENDAR, in order.

    `expected` is how many icalendar found: the text is only edited when both agree on
    which lines make up which component.
    """
    spans: list[tuple[int, int]] = []
    depth, begin = 0, 0
    for number, line in enumerate(lines):
        name = _line_name(line)
        if name == "BEGIN":
            depth += 1
            if depth == 2:
                begin = number
        elif name == "END":
            if depth == 2:
                spans.append((begin, number + 1))
            depth -= 1
    if len(spans) != expected:
        raise BadDataError(
            f"cannot edit: found {len(spans)} components where icalendar sees {expected}"
        )
    return spans


def _serialized(component: icalendar.Component, ending: str) -> list[str]:
    """A component's content lines as icalendar writes them, with the resource's line ending."""
    text = component.to_ical(sorted=False).decode("utf-8")
    return [line.replace("\r\n", "\n").replace("\n", ending) for line in _content_lines(text)]


def _ending(lines: list[str]) -> str:
    return "\r\n" if lines and lines[0].endswith("\r\n") else "\n"


def replace_properties(
    parsed: Parsed, index: int, names: Iterable[str], properties: icalendar.Component
) -> str:
    """Rewrite the top-level component at `index`: its own properties called `names` (not
    those of its alarms) give way to `properties`, placed where the first of them was.

    Every other line of the resource stays as it was, byte for byte.
    """
    lines = _content_lines(parsed.resource.text)
    begin, end = _component_spans(lines, len(parsed.calendar.subcomponents))[index]
    drop = {name.upper() for name in names}
    kept: list[str] = []
    at: int | None = None
    depth = 0
    for line in lines[begin:end]:
        name = _line_name(line)
        depth += name == "BEGIN"
        if depth == 1 and name in drop:
            at = len(kept) if at is None else at
            continue
        if at is None and ((name == "BEGIN" and depth == 2) or (name == "END" and depth == 1)):
            at = len(kept)  # properties come before the first alarm (RFC 5545), else at the end
        kept.append(line)
        depth -= name == "END"
    assert at is not None, "the END line of the component always sets the position"
    kept[at:at] = _serialized(properties, _ending(lines))[1:-1]  # without BEGIN and END
    return "".join(lines[:begin] + kept + lines[end:])


def append_component(text: str, component: icalendar.Component) -> str:
    """Add a component just before END:VCALENDAR, leaving the rest of the text untouched."""
    lines = _content_lines(text)
    last = max(i for i, line in enumerate(lines) if _line_name(line) == "END")
    return "".join(lines[:last] + _serialized(component, _ending(lines)) + lines[last:])


def _block_properties(block: BlockSpec) -> icalendar.Event:
    """The properties of a block the agent owns (in UTC, so no VTIMEZONE is needed)."""
    properties = icalendar.Event()
    properties.add("SUMMARY", block.title)
    properties.add("DTSTART", block.start.astimezone(UTC))
    properties.add("DTEND", block.end.astimezone(UTC))
    if block.description:
        properties.add("DESCRIPTION", block.description)
    properties.add(TAG_PROPERTY, block.tag.encode())
    return properties


def block_ics(uid: str, block: BlockSpec, stamp: datetime) -> str:
    """A new private, busy block with no organizer or attendees."""
    event = _block_properties(block)
    event.add("UID", uid)
    event.add("DTSTAMP", stamp.astimezone(UTC))
    event.add("CLASS", "PRIVATE")
    event.add("TRANSP", "OPAQUE")
    calendar = icalendar.Calendar()
    calendar.add("VERSION", "2.0")
    calendar.add("PRODID", PRODID)
    calendar.add_component(event)
    text: bytes = calendar.to_ical()
    return text.decode("utf-8")


def _reasons(errors: list[BadDataError]) -> tuple[str, ...]:
    return tuple(str(exc) for exc in errors)


@dataclass(frozen=True)
class Synced:
    """What a sync-collection REPORT reported since a token: the URLs of the members changed,
    the refs of those deleted, and the new token."""

    changed: list[URL]
    deleted: set[str]
    token: str | None


def sync_query(token: str) -> str:
    """The body of a sync-collection REPORT from `token`, asking for each member's etag."""
    query = dav.SyncCollection() + [
        dav.SyncToken(value=token),
        dav.SyncLevel(value="1"),
        dav.Prop() + [dav.GetEtag()],
    ]
    return etree.tostring(query.xmlelement(), encoding="utf-8", xml_declaration=True).decode()


def _sync_expired(exc: dav_error.DAVError) -> bool:
    """RFC 6578: an unknown sync token is refused with the DAV:valid-sync-token precondition."""
    return dav.ValidSyncToken.tag in exc.preconditions or exc.status in (409, 410, 412)


# --- the connector -------------------------------------------------------------------------


class CaldavConnector(Connector):
    """One seller's account on a CalDAV server (see connectors.base.Connector)."""

    name = "caldav"

    def __init__(
        self,
        self_email: str,
        url: str,
        username: str | None = None,
        password: str | None = None,
        *,
        zone: ZoneInfo = ZoneInfo("UTC"),
        session: RetryingSession | None = None,
        where: str = "",
    ) -> None:
        self.self_email = self_email.strip().lower()
        self.url = str(URL.objectify(url).unauth())  # for messages: never with credentials
        self.username = username
        self.zone = zone
        self.where = where or self.url
        self.session = session or RetryingSession()
        # by calendar: the sync token last read from and its REPORT's body, which a quiet
        # calendar sends again every cycle
        self._queries: dict[str, tuple[str, str]] = {}
        self._client = DAVClient(
            url=url, username=username, password=password, enable_rfc6764=False
        )
        # DAVClient builds its own session; ours is the documented attribute it sends through.
        self._client.session.close()
        self._client.session = self.session

    @classmethod
    def from_account(
        cls, account: Account, *, session: RetryingSession | None = None
    ) -> CaldavConnector:
        """A connector for a configured account; ConfigError names the bad key."""
        options = parse_options(account)
        password = None
        if options.password_file:
            password = read_secret(options.password_file, f"{account.where}.password_file")
        return cls(
            account.email,
            options.url,
            options.username,
            password,
            zone=account.settings.timezone,
            session=session,
            where=account.where,
        )

    # --- errors ---

    @contextmanager
    def _translate(self) -> Iterator[None]:
        """Turn the caldav library's errors into agent.core.errors (the session raises its own)."""
        try:
            yield
        except dav_error.AuthorizationError as exc:
            raise AuthError(
                f"{self.url} refused access for user {self.username!r} (HTTP {exc.status or 401}); "
                "check username and password_file",
                where=self.where,
            ) from None
        except dav_error.NotFoundError as exc:
            # one line
            raise GoneError(
                f"not found: {' '.join(str(exc.url).split())}", where=self.where
            ) from None
        except dav_error.DAVError as exc:
            raise ConnectorError(" ".join(str(exc).split())[:300], where=self.where) from None
        except etree.XMLSyntaxError as exc:  # a multistatus cut short by the server or on the way
            raise TransientError(
                f"the server's answer is not well-formed XML ({exc}); try again", where=self.where
            ) from None

    def _status(self, response: Any, href: str, method: str) -> None:
        """Raise for the status of a GET/PUT/DELETE we sent ourselves.

        Some servers (Radicale) answer 412 rather than 404 to a conditional write on a
        resource that was deleted; the caller re-reads after a ConflictError and finds it gone.
        """
        if response.status == 404:
            raise GoneError(f"{method}: the event is gone", where=href)
        if response.status == 412:
            raise ConflictError(f"{method}: the event changed since it was read", where=href)
        if response.status >= 400:
            raise ConnectorError(f"{method}: HTTP {response.status} {response.reason}", where=href)

    # --- reads ---

    def _reader(self, calendar: str) -> EventReader:
        return EventReader(calendar, self.self_email, self.zone)

    def _resources(self, objects: Iterable[Any]) -> list[Resource]:
        resources = []
        for obj in objects:
            text = obj.raw_data or obj.data
            if text:  # a multiget lists a resource deleted in the meantime without data
                text = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
                resources.append(Resource(href_of(obj.url), obj.props.get(dav.GetEtag.tag), text))
        return resources

    @property
    def requests_sent(self) -> int:
        return self.session.sent

    def calendars(self) -> list[CalendarInfo]:
        """The principal's calendars; the first one the server lists counts as the primary."""
        with self._translate():
            found = self._client.principal().get_calendars()
            return [
                CalendarInfo(
                    id=href_of(c.url), name=c.get_display_name() or href_of(c.url), primary=i == 0
                )
                for i, c in enumerate(found)
            ]

    def changes(self, calendar: str, cursor: str | None, window: Window) -> Delta:
        """Sync-collection from the cursor (the server's sync token); a full read without one.

        Recurring series come back one Event per instance in the window.
        """
        before = self.session.sent
        with self._translate():
            delta = self._incremental(calendar, cursor, window) if cursor else None
            if delta is None:
                delta = self._full(calendar, window)
        return replace(delta, requests=self.session.sent - before)

    def _full(self, calendar: str, window: Window) -> Delta:
        collection = self._client.calendar(url=calendar)
        # The token first: whatever changes after it is reported by the next incremental read.
        token = collection.get_property(dav.SyncToken())
        events, bad = self._read(calendar, self._search(collection, window), window)
        return Delta(upserted=tuple(events), cursor=token, full=True, skipped=_reasons(bad))

    def _incremental(self, calendar: str, token: str, window: Window) -> Delta | None:
        """What changed since `token`; None when the server no longer knows the token."""
        try:
            synced = self._sync(calendar, token)
        except dav_error.DAVError as exc:
            if _sync_expired(exc):
                return None
            raise
        changed = synced.changed
        if not changed and not synced.deleted:  # a quiet calendar: most cycles, most calendars
            return Delta(cursor=synced.token)
        resources = (
            self._resources(self._client.calendar(url=calendar).multiget(changed))
            if changed
            else []
        )
        events, bad = self._read(calendar, resources, window)
        # Changed but without events in the window: moved out of it, or deleted meanwhile.
        # A resource that became malformed is not reported removed: we cannot tell.
        touched = synced.deleted | {href_of(url) for url in changed}
        kept = {event.ref for event in events} | {exc.where for exc in bad}
        return Delta(
            upserted=tuple(events),
            removed_refs=tuple(sorted(touched - kept)),
            cursor=synced.token,
            skipped=_reasons(bad),
        )

    def _sync(self, calendar: str, token: str) -> Synced:
        """The members changed and deleted since `token`, and the token now.

        One sync-collection REPORT, sent with the client's `report` (its session, auth and
        errors) and read with its parser: a quiet calendar, the common case, costs no more than
        that. A reply the server cut short (RFC 6578 3.6) is left to the library, which reads
        it page by page from `token`.
        """
        known = self._queries.get(calendar)
        if known is None or known[0] != token:
            known = self._queries[calendar] = (token, sync_query(token))
        answer = self._client.report(calendar, known[1], depth=1)
        if answer.status == 404:
            raise dav_error.error_from_response(dav_error.NotFoundError, answer)
        if answer.status >= 400:
            raise dav_error.error_from_response(dav_error.ReportError, answer)
        found = answer.parse_sync_collection()
        if found.truncated:
            paged = self._client.calendar(url=calendar).get_objects_by_sync_token(
                token, load_objects=False, disable_fallback=True
            )
            deleted = {href_of(url) for url in paged.deleted_urls}
            changed = [obj.url for obj in paged if href_of(obj.url) not in deleted]
            return Synced(changed, deleted, paged.sync_token)
        base = URL.objectify(calendar)
        # a member listed both as removed and with an etag (Cyrus) was changed
        members = {href_of(url): url for url in (base.join(item.href) for item in found.changed)}
        deleted = {href_of(base.join(href)) for href in found.deleted} - members.keys()
        return Synced(list(members.values()), deleted, found.sync_token)

    def _search(self, collection: Calendar, window: Window) -> list[Resource]:
        wide = window.widened(SERVER_SLACK)
        found: object = collection.search(
            start=wide.start, end=wide.end, event=True, post_filter=False
        )
        assert isinstance(found, list), "a DAVClient answers at once (an async client would not)"
        return self._resources(found)

    def _read(
        self, calendar: str, resources: list[Resource], window: Window
    ) -> tuple[list[Event], list[BadDataError]]:
        """The events of `resources` inside the window, and the error of each malformed one."""
        reader = self._reader(calendar)
        events: list[Event] = []
        bad: list[BadDataError] = []
        for resource in resources:
            try:
                events += reader.in_window(reader.parse(resource), window)
            except BadDataError as exc:
                bad.append(exc)
        return events, bad

    def busy(self, calendars: list[str], window: Window) -> list[Interval]:
        """Busy times from a time-range search of each calendar (one request per calendar)."""
        spans: list[Interval] = []
        with self._translate():
            for calendar in calendars:
                resources = self._search(self._client.calendar(url=calendar), window)
                events, bad = self._read(calendar, resources, window)
                for line in _reasons(bad):
                    log.warning("%s", line)
                spans += (event.span for event in events if event.busy)
        return sorted(spans)

    def find_owned(self, calendar: str) -> list[Event]:
        """Every event carrying one of our tags, at any date.

        CalDAV can filter on a property being defined, but not on one property OR another,
        and servers differ in what they support, so this scans the whole calendar in one
        calendar-query REPORT and filters here. It runs for undo and state rebuilds, not
        every cycle. Tags sit on single events and on stored instances of a series, so the
        stored components are read as they are, without expansion.
        """
        reader = self._reader(calendar)
        owned: list[Event] = []
        with self._translate():
            objects = self._client.calendar(url=calendar).search(event=True, post_filter=False)
        for resource in self._resources(objects):
            try:
                parsed = reader.parse(resource)
            except BadDataError as exc:
                log.warning("%s", exc)
                continue
            owned += (
                reader.event(parsed, component)
                for _, component in parsed.vevents()
                if TAG_PROPERTY in component or AGENDA_PROPERTY in component
            )
        return owned

    def _fetch(self, href: str) -> Resource | None:
        with self._translate():
            response = self._client.request(href)
            if response.status == 404:
                return None
            self._status(response, href, "GET")
        return Resource(href_of(href), response.headers.get("ETag"), response.raw)

    def get(self, calendar: str, ref: str, key: str | None = None) -> Event | None:
        """Re-read one resource (one GET) and return the instance `key`.

        None if the resource or that instance is gone; BadDataError if it became malformed.
        """
        resource = self._fetch(ref)
        if resource is None:
            return None
        reader = self._reader(calendar)
        parsed = reader.parse(resource)
        found = reader.instance(parsed, key)
        return reader.event(parsed, found[1]) if found else None

    # --- writes ---

    def _put(self, href: str, text: str, condition: dict[str, str]) -> str | None:
        with self._translate():
            response = self._client.put(href, text, {**CALENDAR_DATA, **condition})
            self._status(response, href, "PUT")
        etag = response.headers.get("ETag")
        # a weak etag cannot guard a write
        return etag if etag and not etag.startswith("W/") else None

    def _rewrite(self, resource: Resource, text: str) -> str | None:
        """PUT `text` over a resource, conditional on the etag it was read with.

        A refused PUT is told apart by one read: a deleted resource (to which Radicale also
        answers 412) is GoneError, a changed one ConflictError, as a read before the write
        would have said.
        """
        try:
            return self._put(resource.href, text, {"If-Match": resource.etag or "*"})
        except ConflictError:
            if self._fetch(resource.href) is None:
                raise GoneError("the event is gone", where=resource.href) from None
            raise

    def _stored(
        self, calendar: str, href: str, text: str, etag: str | None, key: str | None
    ) -> Event:
        """The event as stored: parsed from what we wrote, or re-read when the PUT gave no etag."""
        if etag is None:
            event = self.get(calendar, href, key)
            if event is None:
                raise GoneError("the event vanished right after it was written", where=href)
            return event
        reader = self._reader(calendar)
        parsed = reader.parse(Resource(href_of(href), etag, text))
        found = reader.instance(parsed, key)
        assert found is not None, "the instance we just wrote is in the text we wrote"
        return reader.event(parsed, found[1])

    def _current(self, current: Event) -> Resource:
        """What a write will edit, refusing when it changed since the caller read it.

        That is the text read with the event when it came with it (and with the etag the
        caller holds): the conditional PUT is then refused if the resource changed, one
        request instead of a GET and a PUT. Otherwise the resource is read again.
        """
        source = current.source
        if source is not None and source.etag == current.etag:
            return Resource(current.ref, source.etag, source.text)
        resource = self._fetch(current.ref)
        if resource is None:
            raise GoneError("the event is gone", where=current.ref)
        if current.etag and resource.etag != current.etag:
            raise ConflictError("the event changed since it was read", where=current.ref)
        return resource

    def create(self, calendar: str, block: BlockSpec) -> Event:
        """PUT a new block under a fresh UID, with If-None-Match: * so nothing is overwritten."""
        uid = f"callplan-{uuid.uuid4()}"
        href = href_of(URL.objectify(calendar.rstrip("/") + "/").join(f"{uid}.ics"))
        text = block_ics(uid, block, datetime.now(UTC))
        etag = self._put(href, text, {"If-None-Match": "*"})
        return self._stored(calendar, href, text, etag, None)

    def update(self, calendar: str, current: Event, block: BlockSpec) -> Event:
        """Rewrite the summary, times, description and tag of a block; keep everything else."""
        resource = self._current(current)
        parsed = self._reader(calendar).parse(resource)
        index, _ = parsed.master()
        text = replace_properties(parsed, index, BLOCK_PROPERTIES, _block_properties(block))
        etag = self._rewrite(resource, text)
        return self._stored(calendar, resource.href, text, etag, None)

    def delete(self, calendar: str, current: Event) -> None:
        """DELETE with If-Match: ConflictError if it changed, GoneError if it is already gone."""
        condition = {"If-Match": current.etag} if current.etag else {}
        with self._translate():
            response = self._client.delete(current.ref, condition)
            self._status(response, current.ref, "DELETE")

    def set_description(
        self, calendar: str, meeting: Event, text: str, agenda: AgendaTag | None, notify: bool
    ) -> Event:
        """Replace the DESCRIPTION and agenda tag of one meeting (one instance of a series), and
        put the same agenda change in the description's HTML copies (connectors.caldav_html).

        An instance that is not yet stored on its own becomes an overridden VEVENT with its
        RECURRENCE-ID, a copy of the instance as the series defines it. CalDAV servers
        without scheduling send no e-mail at all; on servers that do (RFC 6638), clients
        and servers treat a higher SEQUENCE as a revision attendees must hear about (RFC
        5546), so SEQUENCE goes up only when `notify` asks for it.
        """
        resource = self._current(meeting)
        reader = self._reader(calendar)
        parsed = reader.parse(resource)
        found = reader.instance(parsed, meeting.key)
        if found is None:
            raise GoneError(
                f"the instance {meeting.key} is no longer in the series", where=resource.href
            )
        index, component = found
        tag = _text(component, AGENDA_PROPERTY)
        written = describe(
            component,
            _text(component, "DESCRIPTION"),
            AgendaTag.decode(tag) if tag else None,
            text,
            agenda,
        )
        changes = written.properties
        if agenda is not None:
            changes.add(AGENDA_PROPERTY, agenda.encode())
        names = [*written.names, AGENDA_PROPERTY]
        if notify:
            changes.add("SEQUENCE", int(component.get("SEQUENCE", 0)) + 1)
            names.append("SEQUENCE")
        if index is None:
            for name in names:
                component.pop(name, None)
            component.update(changes)
            text = append_component(resource.text, component)
        else:
            text = replace_properties(parsed, index, names, changes)
        etag = self._rewrite(resource, text)
        if written.kept:
            emit(
                log,
                logging.WARNING,
                "html_description_kept",
                meeting=meeting.title,
                reason="; ".join(written.kept) + "; the agenda is in the text description only",
            )
        return self._stored(calendar, resource.href, text, etag, meeting.key)

    def close(self) -> None:
        """Close the HTTP session and its sockets."""
        self._client.close()
