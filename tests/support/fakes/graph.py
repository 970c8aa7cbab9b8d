"""A faithful fake of the Microsoft Graph calendar endpoints callplan uses, on 127.0.0.1.

What it models, as Graph documents and behaves:
- `/me/...` (delegated tokens only) and `/users/{id|address}/...`; bearer tokens issued by
  the fake authority (tests/support/fakes/authority.py), 401 for anything else;
- calendars, `calendarView` (window, `$expand`, `$select`, paging), `events` with the
  extended-property `$filter`, single events GET/POST/PATCH/DELETE with `@odata.etag` and
  If-Match (412 on a stale etag), 404 for a missing event;
- `calendarView/delta`: a snapshot paged with `$skiptoken` nextLinks (`Prefer:
  odata.maxpagesize`; a nextLink can be followed again), a `$deltatoken` deltaLink at the end,
  changes since a token (removed and out-of-window items as `{"id", "@removed": {"reason":
  "deleted"}}`), no `$select` or `$expand`, and expired tokens answered with 410 and a
  `syncStateNotFound` code;
- `singleValueExtendedProperties` stored per event, returned only with `$expand`;
- recurring series (`recurrence` with a daily or weekly pattern, in the zone of the start):
  `calendarView` and its delta show the occurrences (`type`, `seriesMasterId`,
  `originalStart`, an id of their own) in the series' wall-clock time, never the master;
  `/events` lists masters and single events; an occurrence can be read, becomes an
  `exception` when patched, and is cancelled when deleted;
- JSON batching on `/$batch` (at most 20 requests);
- `Prefer: outlook.timezone` for the zone of returned times;
- HTML bodies stored the way Exchange rewrites them (tests/support/fakes/outlook_html.py);
- throttling on demand: 429/503 with Retry-After for the next n requests; a write refused on
  demand (`refuse`);
- update notifications: an organizer's PATCH that changes what attendees see (subject,
  body, times, location, attendees) sends every attendee an update; a PATCH of extended
  properties alone sends nothing, as with Exchange.

Tests act as people through the in-process admin methods (`add_event`, `edit`, `remove`,
`expire_delta_tokens`, `throttle`), which never count as notifications.
"""

from __future__ import annotations

import copy
import html
import json
import re
import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, quote, urlsplit
from zoneinfo import ZoneInfo

from dateutil import rrule

from tests.support.fakes.outlook_html import outlook_rewrite

VISIBLE = ("subject", "body", "start", "end", "location", "attendees", "isAllDay")
WRITABLE = VISIBLE + (
    "showAs",
    "sensitivity",
    "isReminderOn",
    "responseRequested",
    "isCancelled",
    "categories",
)
MAX_BATCH = 20
SERIES_HORIZON = timedelta(days=800)  # how far a series without end is followed when it is deleted
FREQUENCIES: dict[str, Literal[3, 2]] = {"daily": rrule.DAILY, "weekly": rrule.WEEKLY}
WEEKDAYS = {
    name: getattr(rrule, name[:2].upper())
    for name in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
}


class GraphError(Exception):
    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def _utc(value: dict[str, str]) -> datetime:
    stamp = datetime.fromisoformat(value["dateTime"][:26].rstrip("Z"))
    zone = value.get("timeZone") or "UTC"
    return stamp.replace(tzinfo=UTC if zone.upper() == "UTC" else ZoneInfo(zone)).astimezone(UTC)


def _graph_time(when: datetime, zone: str) -> dict[str, str]:
    local = when.astimezone(UTC if zone == "UTC" else ZoneInfo(zone))
    return {"dateTime": local.strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": zone}


@dataclass
class Stored:
    """One event as the mailbox stores it."""

    id: str
    calendar: str
    data: dict[str, Any]  # Graph JSON without start/end, etag and extended properties
    start: datetime
    end: datetime
    # extended property id (lower) -> (id, value)
    properties: dict[str, str] = field(default_factory=dict)
    property_ids: dict[str, str] = field(default_factory=dict)
    version: int = 0
    change: int = 0
    garbled: tuple[dict[str, str], dict[str, str]] | None = (
        None  # start and end shown as stored, unread
    )
    # a series master's deleted occurrences (originalStart)
    cancelled: set[str] = field(default_factory=set)

    @property
    def etag(self) -> str:
        return f'W/"{self.id[:6]}{self.change:08d}"'


@dataclass
class Mailbox:
    address: str
    calendars: dict[str, str]  # id -> name; the first is the default
    events: dict[str, Stored] = field(default_factory=dict)
    removed: dict[str, tuple[str, int]] = field(default_factory=dict)  # id -> (calendar, version)


@dataclass
class DeltaState:
    mailbox: str
    calendar: str
    start: datetime
    end: datetime
    version: int  # changes after this are reported by the deltaLink
    pending: list[dict[str, Any]] = field(default_factory=list)  # items still to page out


class GraphFake:
    """The state of the fake tenant plus its HTTP server."""

    def __init__(self, tokens: dict[str, dict[str, Any]]) -> None:
        # access token -> {"user": address or None, "app": bool}, shared with the authority
        self.tokens = tokens
        self.mailboxes: dict[str, Mailbox] = {}
        self.lock = threading.RLock()
        self.version = 0
        self.deltas: dict[str, DeltaState] = {}
        # (method, path) of every HTTP request, batches counted once
        self.requests: list[tuple[str, str]] = []
        # (mailbox, attendee) -> updates sent by API writes
        self.notifications: Counter[tuple[str, str]] = Counter()
        self._throttle: list[tuple[int, str]] = []  # (status, Retry-After) for the next requests
        # (method or "" for any, Retry-After) for the next parts of batches
        self._throttle_parts: list[tuple[str, str]] = []
        # (text in the body, status, code) of writes to refuse
        self._refusals: list[tuple[str, int, str]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1.0"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self) -> GraphFake:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- admin: tests act as people and as the service ------------------------------------------

    def mailbox(self, address: str, calendars: tuple[str, ...] = ("Calendar",)) -> Mailbox:
        with self.lock:
            if address not in self.mailboxes:
                ids = {f"cal-{uuid.uuid4().hex[:10]}": name for name in calendars}
                self.mailboxes[address] = Mailbox(address, ids)
            return self.mailboxes[address]

    def add_event(self, address: str, calendar: str, event: dict[str, Any]) -> str:
        """A person (or their client) creates an event; returns its id."""
        with self.lock:
            return self._create(self.mailboxes[address], calendar, copy.deepcopy(event)).id

    def edit(self, address: str, event_id: str, changes: dict[str, Any]) -> None:
        """A person edits an event in Outlook (no notification is counted for the agent)."""
        with self.lock:
            stored = self.mailboxes[address].events[event_id]
            self._apply(stored, copy.deepcopy(changes))

    def remove(self, address: str, event_id: str) -> None:
        with self.lock:
            self._delete(self.mailboxes[address], event_id)

    def raw(self, address: str, event_id: str) -> Stored:
        return self.mailboxes[address].events[event_id]

    def garble(
        self, address: str, event_id: str, start: dict[str, str], end: dict[str, str]
    ) -> None:
        """Make an event's times read back as given: what an import or a broken client can leave
        in a mailbox (a zone nobody knows, an end before the start). Its window stays as it was."""
        with self.lock:
            stored = self.mailboxes[address].events[event_id]
            stored.garbled = (start, end)
            self._bump(stored)

    def expire_delta_tokens(self) -> None:
        """The service forgets every sync state (as after a long pause): 410 on the next use."""
        with self.lock:
            self.deltas.clear()

    def throttle(self, count: int, status: int = 429, retry_after: str = "3") -> None:
        """The next `count` requests are refused with `status` and a Retry-After header."""
        with self.lock:
            self._throttle += [(status, retry_after)] * count

    def refuse(self, text: str, status: int = 400, code: str = "ErrorInvalidRequest") -> None:
        """The next write whose body contains `text` is refused with `status` and `code`, once:
        what Exchange answers an item it will not store."""
        with self.lock:
            self._refusals.append((text, status, code))

    def throttle_parts(self, count: int, retry_after: str = "2", method: str = "") -> None:
        """The next `count` requests inside batches (of `method` only, if given) are answered 429
        (the batch itself succeeds)."""
        with self.lock:
            self._throttle_parts += [(method, retry_after)] * count

    # -- the model --------------------------------------------------------------------------------

    def _bump(self, stored: Stored) -> None:
        self.version += 1
        stored.version = self.version
        stored.change += 1

    def _create(self, mailbox: Mailbox, calendar: str, event: dict[str, Any]) -> Stored:
        event_id = "AAMk" + uuid.uuid4().hex
        organizer = event.pop("organizer", None) or {
            "emailAddress": {"name": "", "address": mailbox.address}
        }
        is_organizer = organizer["emailAddress"]["address"].lower() == mailbox.address.lower()
        data: dict[str, Any] = {
            "id": event_id,
            "subject": "",
            "body": {"contentType": "text", "content": ""},
            "isAllDay": False,
            "isCancelled": False,
            "isOrganizer": is_organizer,
            "organizer": organizer,
            "attendees": [],
            "responseStatus": {
                "response": "organizer" if is_organizer else "notResponded",
                "time": "0001-01-01T00:00:00Z",
            },
            "showAs": "busy",
            "sensitivity": "normal",
            "location": {"displayName": ""},
            "type": "singleInstance",
            "seriesMasterId": None,
            "isReminderOn": True,
            "isOnlineMeeting": False,
            "onlineMeeting": None,
            "iCalUId": uuid.uuid4().hex.upper(),
        }
        if "recurrence" in event:
            data.update(
                type="seriesMaster", originalStartTimeZone=event["start"].get("timeZone") or "UTC"
            )
        stored = Stored(
            event_id,
            calendar,
            data,
            datetime.min.replace(tzinfo=UTC),
            datetime.min.replace(tzinfo=UTC),
        )
        self._apply(stored, event)
        mailbox.events[event_id] = stored
        return stored

    def _apply(self, stored: Stored, changes: dict[str, Any]) -> list[str]:
        """Apply a PATCH body; returns the names of the properties whose value changed."""
        changed = []
        for prop in changes.pop("singleValueExtendedProperties", None) or []:
            key = prop["id"].lower()
            if stored.properties.get(key) != prop["value"]:
                stored.properties[key] = prop["value"]
                stored.property_ids[key] = prop["id"]
                changed.append("singleValueExtendedProperties")
        for name in ("start", "end"):
            if name in changes:
                when = _utc(changes.pop(name))
                if when != getattr(stored, name):
                    setattr(stored, name, when)
                    changed.append(name)
        if "body" in changes:
            body = dict(changes.pop("body"))
            if body.get("contentType", "text").lower() == "html":
                body = {"contentType": "html", "content": outlook_rewrite(body.get("content", ""))}
            else:
                body = {"contentType": "text", "content": body.get("content", "")}
            if body != stored.data["body"]:
                stored.data["body"] = body
                stored.data["bodyPreview"] = body["content"][:255]
                changed.append("body")
        for name, value in changes.items():
            if stored.data.get(name) != value:
                stored.data[name] = value
                changed.append(name)
        if changed:
            self._bump(stored)
        return changed

    def _delete(self, mailbox: Mailbox, event_id: str) -> None:
        """Delete an event: an occurrence is cancelled, a series goes with its occurrences."""
        stored = mailbox.events.pop(event_id, None) or self._occurrence(mailbox, event_id)
        assert stored is not None, f"no event {event_id}"
        if stored.data["type"] in ("occurrence", "exception"):
            mailbox.events[stored.data["seriesMasterId"]].cancelled.add(
                stored.data["originalStart"]
            )
        gone = [stored]
        if stored.data["type"] == "seriesMaster":
            gone += self._occurrences(mailbox, stored, stored.start + SERIES_HORIZON)
            gone += [s for s in mailbox.events.values() if s.data.get("seriesMasterId") == event_id]
            for exception in gone[1:]:
                mailbox.events.pop(exception.id, None)
        self.version += 1
        for item in gone:
            mailbox.removed[item.id] = (stored.calendar, self.version)

    def _occurrences(self, mailbox: Mailbox, master: Stored, until: datetime) -> list[Stored]:
        """The occurrences of a series that start before `until`, but those that became
        exceptions or were cancelled: copies of the master at each start of its pattern."""
        recurrence = master.data["recurrence"]
        pattern, bounds = recurrence["pattern"], recurrence["range"]
        zone = (
            ZoneInfo(master.data["originalStartTimeZone"])
            if master.data["originalStartTimeZone"] != "UTC"
            else UTC
        )
        first = master.start.astimezone(zone).replace(tzinfo=None)
        last = None
        if bounds["type"] == "endDate":
            last = datetime.combine(date.fromisoformat(bounds["endDate"]), time.max)
        rule = rrule.rrule(
            FREQUENCIES[pattern["type"]],
            dtstart=first,
            interval=int(pattern.get("interval") or 1),
            byweekday=[WEEKDAYS[day.lower()] for day in pattern.get("daysOfWeek") or []] or None,
            count=int(bounds["numberOfOccurrences"]) if bounds["type"] == "numbered" else None,
            until=last,
        )
        taken = {
            s.data["originalStart"]
            for s in mailbox.events.values()
            if s.data.get("seriesMasterId") == master.id
        }
        found = []
        for wall in rule:
            start = wall.replace(tzinfo=zone).astimezone(UTC)
            if start >= until:
                break
            original = start.strftime("%Y-%m-%dT%H:%M:%SZ")
            if original in taken or original in master.cancelled:
                continue
            ident = f"{master.id}_{start:%Y%m%dT%H%M%S}"
            data = {
                **copy.deepcopy(master.data),
                "id": ident,
                "type": "occurrence",
                "seriesMasterId": master.id,
                "originalStart": original,
            }
            del data["recurrence"]
            found.append(
                replace(
                    master,
                    id=ident,
                    start=start,
                    end=start + (master.end - master.start),
                    data=data,
                    properties=dict(master.properties),
                    property_ids=dict(master.property_ids),
                    cancelled=set(),
                )
            )
        return found

    def _occurrence(self, mailbox: Mailbox, event_id: str) -> Stored | None:
        """The occurrence an id names (a series master's id, then its original start), if any."""
        master_id, _, stamp = event_id.rpartition("_")
        master = mailbox.events.get(master_id)
        if master is None or master.data["type"] != "seriesMaster":
            return None
        try:
            until = datetime.strptime(stamp, "%Y%m%dT%H%M%S").replace(tzinfo=UTC) + timedelta(
                seconds=1
            )
        except ValueError:
            return None
        return next(
            (s for s in self._occurrences(mailbox, master, until) if s.id == event_id), None
        )

    def _shown(self, mailbox: Mailbox, calendar: str, until: datetime) -> list[Stored]:
        """What a calendar view shows, up to `until`: single events, exceptions and occurrences."""
        shown = []
        for stored in mailbox.events.values():
            if stored.calendar != calendar:
                continue
            if stored.data["type"] == "seriesMaster":
                shown += self._occurrences(mailbox, stored, until)
            else:
                shown.append(stored)
        return sorted(shown, key=lambda s: (s.start, s.id))

    def view(self, stored: Stored, shown: Shown, expand: list[str] | None) -> dict[str, Any]:
        """The JSON Graph returns for an event (times and body as asked, properties only if
        expanded)."""
        out = copy.deepcopy(stored.data)
        out["@odata.etag"] = stored.etag
        out["changeKey"] = stored.etag[3:-1]
        out["start"], out["end"] = stored.garbled or (
            _graph_time(stored.start, shown.zone),
            _graph_time(stored.end, shown.zone),
        )
        out["body"] = _body(out["body"], shown.text_bodies)
        if expand is not None:
            out["singleValueExtendedProperties"] = [
                {"id": stored.property_ids[key], "value": value}
                for key, value in stored.properties.items()
                if key in expand
            ]
        return out

    def in_window(self, stored: Stored, start: datetime, end: datetime) -> bool:
        return stored.start < end and stored.end > start

    # -- request handling
    # ---------------------------------------------------------------------------

    def handle(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], Any]:
        """One request (also each part of a batch); returns status, headers and a JSON-able body."""
        with self.lock:
            refusal = next(
                (entry for entry in self._refusals if body and entry[0].encode() in body), None
            )
            if refusal is not None:
                self._refusals.remove(refusal)
                return (
                    refusal[1],
                    {},
                    {"error": {"code": refusal[2], "message": "The request is invalid."}},
                )
            try:
                return self._route(method, target, headers, body)
            except GraphError as exc:
                return (
                    exc.status,
                    exc.headers,
                    {"error": {"code": exc.code, "message": exc.message}},
                )

    def throttled(self) -> tuple[int, str] | None:
        with self.lock:
            return self._throttle.pop(0) if self._throttle else None

    def _route(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], Any]:
        parts = urlsplit(target)
        path = parts.path.removeprefix("/v1.0")
        query = {
            key: values[-1] for key, values in parse_qs(parts.query, keep_blank_values=True).items()
        }
        token = self.tokens.get(headers.get("authorization", "").removeprefix("Bearer "))
        if token is None:
            raise GraphError(401, "InvalidAuthenticationToken", "Access token is empty or invalid.")
        if path == "/$batch" and method == "POST":
            return 200, {}, self._batch(json.loads(body), headers)
        match = re.fullmatch(r"/(me|users/([^/]+))(/.*)", path)
        if not match:
            raise GraphError(400, "BadRequest", f"Resource not found for the segment '{path}'.")
        if match.group(1) == "me":
            if token["app"]:
                raise GraphError(
                    400,
                    "BadRequest",
                    "/me request is only valid with delegated authentication flow.",
                )
            address = token["user"]
        else:
            address = match.group(2).replace("%40", "@")
            if not token["app"] and address.lower() != str(token["user"]).lower():
                raise GraphError(
                    403, "ErrorAccessDenied", "Access is denied. Check credentials and try again."
                )
        mailbox = self.mailboxes.get(address)
        if mailbox is None:
            raise GraphError(404, "ErrorInvalidUser", f"The requested user '{address}' is invalid.")
        prefer = _prefer(headers.get("prefer", ""))
        zone = Shown.of(prefer)
        rest = match.group(3)
        default = next(iter(mailbox.calendars))
        if rest == "/calendars" and method == "GET":
            return (
                200,
                {},
                {
                    "value": [
                        {
                            "id": cid,
                            "name": name,
                            "isDefaultCalendar": cid == default,
                            "canEdit": True,
                            "owner": {"name": "", "address": mailbox.address},
                        }
                        for cid, name in mailbox.calendars.items()
                    ]
                },
            )
        if rest == "/calendar" and method == "GET":
            return (
                200,
                {},
                {"id": default, "name": mailbox.calendars[default], "isDefaultCalendar": True},
            )
        if found := re.fullmatch(r"(?:/calendars/([^/]+))?/calendarView/delta", rest):
            return self._delta(mailbox, found.group(1) or default, query, headers, target)
        if found := re.fullmatch(r"/calendars/([^/]+)/calendarView", rest):
            return self._calendar_view(
                mailbox, self._calendar(mailbox, found.group(1)), query, headers, target
            )
        if found := re.fullmatch(r"/calendars/([^/]+)/events", rest):
            calendar = self._calendar(mailbox, found.group(1))
            if method == "POST":
                created = self._create(mailbox, calendar, json.loads(body))
                return 201, {}, self.view(created, zone, None)
            return self._events(mailbox, calendar, query, zone)
        if found := re.fullmatch(r"/events/([^/]+)", rest):
            return self._event(mailbox, found.group(1), method, query, headers, body, zone)
        raise GraphError(400, "BadRequest", f"Unsupported segment {rest}")

    def _calendar(self, mailbox: Mailbox, calendar: str) -> str:
        if calendar not in mailbox.calendars:
            raise GraphError(
                404, "ErrorItemNotFound", "The specified object was not found in the store."
            )
        return calendar

    def _batch(self, payload: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        requests = payload.get("requests", [])
        if len(requests) > MAX_BATCH:
            raise GraphError(
                400, "BadRequest", f"The number of requests in a batch exceeds {MAX_BATCH}."
            )
        responses = []
        for part in requests:
            if self._throttle_parts and self._throttle_parts[0][0] in ("", part["method"]):
                _, wait = self._throttle_parts.pop(0)
                responses.append(
                    {
                        "id": part["id"],
                        "status": 429,
                        "headers": {"Retry-After": wait},
                        "body": {
                            "error": {
                                "code": "TooManyRequests",
                                "message": "Please retry again later.",
                            }
                        },
                    }
                )
                continue
            part_headers = {"authorization": headers.get("authorization", "")}
            part_headers.update(
                {name.lower(): value for name, value in (part.get("headers") or {}).items()}
            )
            raw = json.dumps(part["body"]).encode() if "body" in part else b""
            status, out_headers, out = self.handle(
                part["method"], "/v1.0" + part["url"], part_headers, raw
            )
            responses.append(
                {"id": part["id"], "status": status, "headers": out_headers, "body": out}
            )
        return {"responses": responses}

    def _expand(self, query: dict[str, str]) -> list[str] | None:
        expand = query.get("$expand")
        if expand is None:
            return None
        if not expand.startswith("singleValueExtendedProperties"):
            raise GraphError(400, "BadRequest", f"Could not find a property named '{expand}'.")
        return [value.lower() for value in re.findall(r"id eq '([^']*)'", expand)]

    def _owned_filter(self, query: dict[str, str]) -> tuple[str, str] | None:
        text = query.get("$filter")
        if text is None:
            return None
        found = re.fullmatch(
            r"singleValueExtendedProperties/Any\(ep: ep/id eq '([^']*)' and ep/value eq "
            r"'([^']*)'\)",
            text,
        )
        if not found:
            raise GraphError(400, "ErrorInvalidUrlQueryFilter", f"Unsupported filter {text}")
        return found.group(1).lower(), found.group(2)

    def _window(self, query: dict[str, str]) -> tuple[datetime, datetime]:
        try:
            start = datetime.fromisoformat(query["startDateTime"])
            end = datetime.fromisoformat(query["endDateTime"])
        except KeyError:
            raise GraphError(
                400,
                "ErrorInvalidParameter",
                "This request requires a time window specified by the query string parameters "
                "StartDateTime and EndDateTime.",
            ) from None
        if start.tzinfo is None or end.tzinfo is None:
            start, end = (
                start.replace(tzinfo=start.tzinfo or UTC),
                end.replace(tzinfo=end.tzinfo or UTC),
            )
        return start, end

    def _page(
        self, items: list[dict[str, Any]], prefer: dict[str, str], default: int
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, str]]:
        size = int(prefer.get("odata.maxpagesize", default))
        applied = (
            {"Preference-Applied": f"odata.maxpagesize={size}"}
            if "odata.maxpagesize" in prefer
            else {}
        )
        return items[:size], items[size:], applied

    def _origin(self, headers: dict[str, str]) -> str:
        """Scheme and host of links in answers: the host the client asked (a proxy in front of
        the fake forwards its own), as Graph names itself in the links it returns."""
        host = headers.get("host")
        return f"http://{host}" if host else self.url.removesuffix("/v1.0")

    def _calendar_view(
        self,
        mailbox: Mailbox,
        calendar: str,
        query: dict[str, str],
        headers: dict[str, str],
        target: str,
    ) -> tuple[int, dict[str, str], Any]:
        prefer = _prefer(headers.get("prefer", ""))
        start, end = self._window(query)
        zone = Shown.of(prefer)
        expand, select = self._expand(query), query.get("$select")
        items = [
            self.view(stored, zone, expand)
            for stored in self._shown(mailbox, calendar, end)
            if self.in_window(stored, start, end)
        ]
        if select:
            keep = {"id", "@odata.etag", *select.split(",")}
            items = [{key: value for key, value in item.items() if key in keep} for item in items]
        skip = int(query.get("$skip", "0"))
        page, rest, applied = self._page(items[skip:], prefer, 10)
        out: dict[str, Any] = {"value": page}
        if rest:
            base = target.split("&$skip=")[0]
            out["@odata.nextLink"] = f"{self._origin(headers)}{base}&$skip={skip + len(page)}"
        return 200, applied, out

    def _events(
        self, mailbox: Mailbox, calendar: str, query: dict[str, str], zone: Shown
    ) -> tuple[int, dict[str, str], Any]:
        owned = self._owned_filter(query)
        expand = self._expand(query)
        items = [
            self.view(stored, zone, expand)
            for stored in mailbox.events.values()
            if stored.calendar == calendar
            and stored.data["type"] in ("singleInstance", "seriesMaster")
            and (owned is None or stored.properties.get(owned[0]) == owned[1])
        ]
        return 200, {}, {"value": items}

    def _event(
        self,
        mailbox: Mailbox,
        event_id: str,
        method: str,
        query: dict[str, str],
        headers: dict[str, str],
        body: bytes,
        zone: Shown,
    ) -> tuple[int, dict[str, str], Any]:
        stored = mailbox.events.get(event_id) or self._occurrence(mailbox, event_id)
        if stored is None:
            raise GraphError(
                404, "ErrorItemNotFound", "The specified object was not found in the store."
            )
        if method == "GET":
            return 200, {}, self.view(stored, zone, self._expand(query))
        expected = headers.get("if-match")
        if expected and expected not in ("*", stored.etag):
            raise GraphError(
                412,
                "ErrorIrresolvableConflict",
                "The send or update operation could not be performed because the change key "
                "passed in the request does not match the current change key for the item.",
            )
        if method == "DELETE":
            self._delete(mailbox, event_id)
            return 204, {}, None
        # it becomes an exception of its series
        if method == "PATCH" and stored.data["type"] == "occurrence":
            stored.data["type"] = "exception"
            mailbox.events[event_id] = stored
        if method == "PATCH":
            changes = json.loads(body)
            unknown = set(changes) - set(WRITABLE) - {"singleValueExtendedProperties"}
            if unknown:
                raise GraphError(400, "ErrorInvalidProperty", f"Cannot write {sorted(unknown)}")
            changed = self._apply(stored, changes)
            if stored.data["isOrganizer"] and set(changed) & set(VISIBLE):
                for attendee in stored.data["attendees"]:
                    self.notifications[
                        (mailbox.address, attendee["emailAddress"]["address"].lower())
                    ] += 1
            return 200, {}, self.view(stored, zone, None)
        raise GraphError(405, "ErrorInvalidRequest", f"{method} is not allowed here")

    def _delta(
        self,
        mailbox: Mailbox,
        calendar: str,
        query: dict[str, str],
        headers: dict[str, str],
        target: str,
    ) -> tuple[int, dict[str, str], Any]:
        prefer = _prefer(headers.get("prefer", ""))
        if "$select" in query or "$expand" in query or "$filter" in query:
            raise GraphError(
                400, "BadRequest", "The query parameter is not supported on delta for calendarView."
            )
        zone = Shown.of(prefer)
        if "$skiptoken" in query or "$deltatoken" in query:
            token = query.get("$skiptoken") or query["$deltatoken"]
            state = self.deltas.get(token)
            if state is None:
                raise GraphError(
                    410,
                    "SyncStateNotFound",
                    "The sync state generation is not found.",
                    {"Location": target.split("?")[0]},
                )
            if "$deltatoken" in query:  # a deltaLink can be used again: its state stays
                state = DeltaState(
                    state.mailbox,
                    state.calendar,
                    state.start,
                    state.end,
                    self.version,
                    self._changes_since(mailbox, state, zone),
                )
            else:
                state = replace(state)  # a page can be asked for again: its token keeps its state
        else:
            start, end = self._window(query)
            self._calendar(mailbox, calendar)
            state = DeltaState(mailbox.address, calendar, start, end, self.version)
            state.pending = [
                self.view(stored, zone, None)
                for stored in self._shown(mailbox, calendar, end)
                if self.in_window(stored, start, end)
            ]
        page, state.pending, applied = self._page(state.pending, prefer, 10)
        token = uuid.uuid4().hex
        self.deltas[token] = state
        base = f"{self._origin(headers)}{target.split('?')[0]}"
        link = "@odata.nextLink" if state.pending else "@odata.deltaLink"
        name = "$skiptoken" if state.pending else "$deltatoken"
        return 200, applied, {"value": page, link: f"{base}?{name}={quote(token)}"}

    def _changes_since(
        self, mailbox: Mailbox, state: DeltaState, zone: Shown
    ) -> list[dict[str, Any]]:
        changed = []
        for stored in sorted(
            self._shown(mailbox, state.calendar, state.end), key=lambda s: (s.version, s.id)
        ):
            if stored.version <= state.version:
                continue
            if self.in_window(stored, state.start, state.end):
                changed.append(self.view(stored, zone, None))
            else:
                changed.append({"id": stored.id, "@removed": {"reason": "deleted"}})
        for event_id, (calendar, version) in mailbox.removed.items():
            if calendar == state.calendar and version > state.version:
                changed.append({"id": event_id, "@removed": {"reason": "deleted"}})
        return changed


@dataclass(frozen=True)
class Shown:
    """How a request asked to see events: times in a zone, bodies as stored-or-HTML or as text."""

    zone: str
    text_bodies: bool

    @classmethod
    def of(cls, prefer: dict[str, str]) -> Shown:
        return cls(
            prefer.get("outlook.timezone", "UTC"), prefer.get("outlook.body-content-type") == "text"
        )


def _body(body: dict[str, str], text_wanted: bool) -> dict[str, str]:
    """A body as Exchange returns it: HTML unless text is preferred (`Prefer:
    outlook.body-content-type`), converting a body stored in the other format."""
    content, stored_html = (
        body.get("content", ""),
        body.get("contentType", "text").lower() == "html",
    )
    if text_wanted and stored_html:
        return {
            "contentType": "text",
            "content": html.unescape(
                re.sub(
                    r"<br\s*/?>|</(?:div|p)>", "\r\n", re.sub(r"(?s)<head>.*?</head>", "", content)
                )
            ).strip(),
        }
    if not text_wanted and not stored_html:
        lines = "<br>\r\n".join(html.escape(line, quote=False) for line in content.splitlines())
        return {"contentType": "html", "content": HTML_OF_TEXT.format(lines)}
    return dict(body)


HTML_OF_TEXT = (
    '<html>\r\n<head>\r\n<meta http-equiv="Content-Type" content="text/html; charset=utf-8">\r\n'
    "</head>\r\n"
    '<body>\r\n<div class="PlainText">{}</div>\r\n</body>\r\n</html>\r\n'
)


def _prefer(header: str) -> dict[str, str]:
    """`Prefer: odata.maxpagesize=50, outlook.timezone="Europe/Berlin"` as a dict."""
    found = {}
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name:
            found[name.strip()] = value.strip().strip('"')
    return found


def _handler(fake: GraphFake) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # one small write per answer: no 40 ms delayed-ACK stalls

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            with fake.lock:
                fake.requests.append((self.command, self.path.split("?")[0]))
            throttled = fake.throttled()
            if throttled is not None:
                status, retry_after = throttled
                code = "TooManyRequests" if status == 429 else "ServiceUnavailable"
                self._reply(
                    status,
                    {"Retry-After": retry_after},
                    {"error": {"code": code, "message": "Please retry again later."}},
                )
                return
            headers = {name.lower(): value for name, value in self.headers.items()}
            status, out_headers, out = fake.handle(self.command, self.path, headers, body)
            self._reply(status, out_headers, out)

        def _reply(self, status: int, headers: dict[str, str], out: Any) -> None:
            data = b"" if out is None else json.dumps(out).encode()
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if data:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_DELETE = _serve

    return Handler
