"""A faithful fake of the Google Calendar API v3 endpoints callplan uses, served on 127.0.0.1.

Tests drive the real googleapiclient against it (`client_options={"api_endpoint": fake.api}`).
It keeps calendars in memory and behaves as the API reference and the sync guide describe:

- events.list: `singleEvents` expansion of recurring series (dateutil rrule, in the series'
  time zone; instance ids are `<series id>_<original start in UTC>`), paging with
  `maxResults`/`pageToken` (`nextSyncToken` on the last page only; a page token can be sent
  again, and `page_limit` makes pages smaller than asked, as the API may), `timeMin`/`timeMax`,
  `privateExtendedProperty` (repeated: all must match), `showDeleted`, `orderBy`;
- incremental sync: a syncToken returns everything changed since it, deletions as
  `status: cancelled` with only id (and recurringEventId/originalStartTime for instances);
  the filters the reference forbids with a syncToken are refused with 400; a token from
  before `expire_sync_tokens()` is answered with 410 fullSyncRequired;
- insert/patch/update/delete with etags: `If-Match` mismatch is 412; a client-chosen id must
  be base32hex and unique (409); PATCH merges objects, replaces arrays, and null removes;
  only the organiser may change what attendees see (403 forbiddenForNonOrganizer);
- every request body is checked against the discovery document's schema (google_schema);
- access tokens and their scopes against each method's scopes from the discovery document;
- freeBusy.query, calendarList.list, multipart/mixed batches (at most 50 parts);
- injected failures (429, 403 rateLimitExceeded, 5xx) with optional Retry-After;
- an e-mail counter: how many invitations/updates each attendee would get, from `sendUpdates`.

People act through the admin methods (`insert`, `patch`, `delete` with `person=True`), which
never send e-mail and need no token.
"""

from __future__ import annotations

import base64
import copy
import itertools
import json
import re
import secrets
import threading
import zlib
from collections import Counter, OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from email.message import Message
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil import rrule

from tests.support.fakes.google_oauth import OAuth
from tests.support.fakes.google_schema import Invalid, check_body, check_query, method, moment

ID_PATTERN = re.compile(r"^[a-v0-9]{5,1024}$")
SYNC_FORBIDDEN = (
    "iCalUID",
    "orderBy",
    "privateExtendedProperty",
    "q",
    "sharedExtendedProperty",
    "timeMin",
    "timeMax",
    "updatedMin",
)
READ_ONLY = (
    "kind",
    "etag",
    "created",
    "updated",
    "creator",
    "organizer",
    "htmlLink",
    "hangoutLink",
    "iCalUID",
    "recurringEventId",
    "originalStartTime",
    "locked",
)
ORGANIZER_ONLY = ("summary", "description", "location", "start", "end", "recurrence", "attendees")
MAX_PROPERTY_KEY, MAX_PROPERTY_VALUE, MAX_PROPERTIES = 44, 1024, 300
BATCH_LIMIT = 50
PAGES_KEPT = 10_000  # page tokens remembered (the oldest are forgotten first)
REASONS = {
    200: "OK",
    204: "No Content",
    302: "Found",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    410: "Gone",
    412: "Precondition Failed",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        reason: str,
        message: str,
        domain: str = "global",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.reason, self.message, self.domain = status, reason, message, domain
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "errors": [{"domain": self.domain, "reason": self.reason, "message": self.message}],
                "code": self.status,
                "message": self.message,
            }
        }


@dataclass
class Fault:
    status: int
    reason: str
    times: int
    retry_after: float | str | None = None  # seconds, or the header's text as it is (an HTTP date)
    path: str = ""  # only requests whose path contains this
    after: bool = (
        False  # the request is carried out, then its answer is lost (the error is sent instead)
    )
    method: str = ""  # only requests with this HTTP method
    body: str = ""  # only requests whose body contains this


@dataclass
class Logged:
    method: str
    path: str
    query: dict[str, list[str]]
    in_batch: bool = False


@dataclass
class Calendar:
    id: str
    owner: str
    zone: ZoneInfo
    summary: str
    # single events, series, exceptions
    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    stamps: dict[str, int] = field(default_factory=dict)  # id -> version of its last change
    # instances a series change removed
    vanished: dict[str, dict[str, Any]] = field(default_factory=dict)
    # user -> owner | writer | reader | freeBusyReader
    access: dict[str, str] = field(default_factory=dict)
    valid_from: int = 0  # sync tokens older than this are expired


ROLES = {"freeBusyReader": 1, "reader": 2, "writer": 3, "owner": 4}


def _error(status: int, reason: str, message: str) -> ApiError:
    return ApiError(status, reason, message)


def _stamp(moment_: datetime) -> str:
    return (
        moment_.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{moment_.microsecond // 1000:03d}Z"
    )


def _merge(current: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """PATCH semantics: objects merge key by key, arrays and values replace, null removes."""
    merged = copy.deepcopy(current)
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


class GoogleCalendarFake:
    """The fake API, its state, and the server that serves it (a context manager)."""

    def __init__(
        self, now: datetime, *, horizon_days: int = 400, google_domains: tuple[str, ...] = ()
    ) -> None:
        self.now = now
        self.horizon = timedelta(days=horizon_days)
        # guests on Google Calendar ("externalOnly" skips them)
        self.google_domains = set(google_domains)
        self.oauth = OAuth()
        self.calendars: dict[str, Calendar] = {}
        self.emails: Counter[str] = Counter()
        self.log: list[Logged] = []
        self.faults: list[Fault] = []
        self.crashes: list[str] = []  # requests the fake itself could not handle
        self.version = 0
        self._etags = itertools.count(3181161784712000, 1000)
        self._pages: OrderedDict[str, tuple[str, list[dict[str, Any]], str, str]] = OrderedDict()
        self.page_limit: int | None = (
            None  # at most this many items per page, whatever maxResults says
        )
        self.lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None

    # -- the server ------------------------------------------------------------------------------

    def __enter__(self) -> GoogleCalendarFake:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # one response, one segment: no delayed-ACK stalls

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {key.lower(): value for key, value in self.headers.items()}
                status, extra, payload = fake.handle(self.command, self.path, headers, body)
                self.send_response(status, REASONS.get(status))
                for key, value in extra.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_port}"

    @property
    def api(self) -> str:
        return f"{self.url}/calendar/v3/"

    @property
    def batch_uri(self) -> str:
        return f"{self.url}/batch/calendar/v3"

    @property
    def token_uri(self) -> str:
        return f"{self.url}/token"

    @property
    def auth_uri(self) -> str:
        return f"{self.url}/o/oauth2/auth"

    @property
    def requests(self) -> int:
        """HTTP round trips to the Calendar API (a batch is one; token requests are not counted)."""
        return sum(1 for entry in self.log if not entry.in_batch)

    # -- the admin API: how people and tests act
    # -----------------------------------------------------

    def add_calendar(
        self,
        owner: str,
        zone: str = "Europe/Berlin",
        calendar_id: str | None = None,
        summary: str = "",
    ) -> str:
        """A calendar; a user's primary calendar has their address as its id."""
        ident = calendar_id or owner
        self.calendars[ident] = Calendar(
            ident, owner, ZoneInfo(zone), summary or ident, access={owner: "owner"}
        )
        self.oauth.users.add(owner)
        return ident

    def share(self, calendar_id: str, user: str, role: str) -> None:
        self.calendars[calendar_id].access[user] = role

    def insert(self, calendar_id: str, event: dict[str, Any]) -> dict[str, Any]:
        """A person creates an event (any field, organizer included); returns it as stored."""
        with self.lock:
            calendar = self.calendars[calendar_id]
            return self._render(calendar, self._insert(calendar, event, person=True))

    def patch(self, calendar_id: str, event_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """A person edits an event (or one instance of a series) in their calendar app."""
        with self.lock:
            calendar = self.calendars[calendar_id]
            return self._render(calendar, self._change(calendar, event_id, changes, person=True))

    def delete(self, calendar_id: str, event_id: str) -> None:
        """A person deletes an event (or one instance of a series)."""
        with self.lock:
            self._remove(self.calendars[calendar_id], event_id, etag=None)

    def get(self, calendar_id: str, event_id: str) -> dict[str, Any]:
        with self.lock:
            calendar = self.calendars[calendar_id]
            return self._render(calendar, self._find(calendar, event_id))

    def events(self, calendar_id: str) -> list[dict[str, Any]]:
        """Everything a calendar app shows: single events and instances, none deleted."""
        with self.lock:
            calendar = self.calendars[calendar_id]
            until = self.now + self.horizon
            return [
                self._render(calendar, item)
                for item, _ in self._view(calendar, True, until)
                if item.get("status") != "cancelled"
            ]

    def expire_sync_tokens(self, calendar_id: str) -> None:
        """The server forgets the change history: every sync token of the calendar gets 410."""
        with self.lock:
            self.version += 1
            self.calendars[calendar_id].valid_from = self.version

    def fail(
        self,
        status: int,
        reason: str = "",
        times: int = 1,
        retry_after: float | str | None = None,
        path: str = "",
        after: bool = False,
        method: str = "",
        body: str = "",
    ) -> None:
        """The next `times` API requests (whose path contains `path`, of `method`, whose body
        contains `body`) fail with this status; with `after`, each is carried out first and only
        its answer is lost."""
        self.faults.append(Fault(status, reason, times, retry_after, path, after, method, body))

    def put_raw(self, calendar_id: str, item: dict[str, Any]) -> None:
        """Store an item as it is, unchecked: what a provider bug or an old client may leave
        behind."""
        with self.lock:
            calendar = self.calendars[calendar_id]
            calendar.items[item["id"]] = {
                "kind": "calendar#event",
                "etag": self._etag(),
                "status": "confirmed",
                **item,
            }
            self._bump(calendar, item["id"])

    # -- storing events
    # --------------------------------------------------------------------------------

    def _bump(self, calendar: Calendar, ident: str) -> None:
        self.version += 1
        calendar.stamps[ident] = self.version

    def _etag(self) -> str:
        return f'"{next(self._etags)}"'

    def _insert(self, calendar: Calendar, body: dict[str, Any], person: bool) -> dict[str, Any]:
        item = copy.deepcopy(body)
        if not person:
            for key in READ_ONLY:
                item.pop(key, None)
        ident = item.setdefault("id", secrets.token_hex(13))
        if not isinstance(ident, str) or not ID_PATTERN.match(ident):
            raise _error(400, "invalid", "Invalid resource id value.")
        if ident in calendar.items:
            raise _error(409, "duplicate", "The requested identifier already exists.")
        item.update(
            kind="calendar#event",
            etag=self._etag(),
            created=_stamp(self.now),
            updated=_stamp(self.now),
        )
        item.setdefault("status", "confirmed")
        item.setdefault("sequence", 0)
        item.setdefault("eventType", "default")
        item.setdefault("reminders", {"useDefault": True})
        item.setdefault("organizer", {"email": calendar.owner})
        item["creator"] = {"email": calendar.owner}
        item["iCalUID"] = f"{ident}@google.com"
        item["htmlLink"] = f"https://www.google.com/calendar/event?eid={ident}"
        self._check_event(calendar, item)
        calendar.items[ident] = item
        self._bump(calendar, ident)
        return item

    def _check_event(self, calendar: Calendar, item: dict[str, Any]) -> None:
        """What the API checks beyond the schema: times, time zones, extended property limits."""
        for name in ("start", "end"):
            value = item.get(name)
            if not isinstance(value, dict) or not (value.get("date") or value.get("dateTime")):
                raise _error(400, "required", f"Missing {name} time.")
            if value.get("dateTime"):
                moment(value["dateTime"], name, need_zone=not value.get("timeZone"))
            if "recurrence" in item and not value.get("timeZone"):
                raise _error(400, "invalid", f"Missing time zone definition for {name} time.")
        try:
            start, end = self._when(calendar, item["start"]), self._when(calendar, item["end"])
        except ValueError as exc:
            raise _error(400, "invalid", str(exc)) from None
        if end < start:
            raise _error(400, "timeRangeEmpty", "The specified time range is empty.")
        properties = (item.get("extendedProperties") or {}).get("private")
        # the documented limits: long keys dropped, long values cut
        if isinstance(properties, dict):
            kept = {
                k: v[:MAX_PROPERTY_VALUE]
                for k, v in properties.items()
                if len(k) <= MAX_PROPERTY_KEY
            }
            if len(kept) > MAX_PROPERTIES:
                raise _error(400, "invalid", "Too many extended properties.")
            item["extendedProperties"]["private"] = kept

    def _when(self, calendar: Calendar, value: dict[str, Any], lenient: bool = False) -> datetime:
        """An EventDateTime as an aware datetime; an unknown zone name is a ValueError, or
        (`lenient`, to place a stored item in time) the calendar's zone."""
        if value.get("dateTime"):
            parsed = datetime.fromisoformat(value["dateTime"])
            if parsed.tzinfo:
                return parsed
            name = value.get("timeZone") or str(calendar.zone)
            try:
                zone = ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                if not lenient:
                    raise ValueError(f"Invalid time zone definition: {name}") from None
                zone = calendar.zone
            return parsed.replace(tzinfo=zone)
        return datetime.combine(date.fromisoformat(value["date"]), time(), calendar.zone)

    def _span(self, calendar: Calendar, item: dict[str, Any]) -> tuple[datetime, datetime] | None:
        try:
            return self._when(calendar, item["start"], lenient=True), self._when(
                calendar, item["end"], lenient=True
            )
        except (KeyError, TypeError, ValueError):
            return None

    def _find(self, calendar: Calendar, ident: str) -> dict[str, Any]:
        """A stored resource, or the instance of a series (computed) it names."""
        if ident in calendar.items:
            return calendar.items[ident]
        series, _, _ = ident.rpartition("_")
        master = calendar.items.get(series)
        if master is not None and "recurrence" in master:
            for item, _ in self._instances(calendar, master, self.now + self.horizon):
                if item["id"] == ident:
                    return item
        raise _error(404, "notFound", "Not Found")

    def _change(
        self,
        calendar: Calendar,
        ident: str,
        changes: dict[str, Any],
        person: bool,
        etag: str | None = None,
        replace: bool = False,
    ) -> dict[str, Any]:
        current = self._find(calendar, ident)
        if current.get("status") == "cancelled" and not person:
            raise _error(410, "deleted", "Resource has been deleted")
        if etag is not None and etag != current["etag"]:
            raise _error(412, "conditionNotMet", "Precondition Failed")
        if not person:
            changes = {key: value for key, value in changes.items() if key not in READ_ONLY}
        if replace:
            kept = {key: current[key] for key in READ_ONLY if key in current}
            updated = {**kept, **copy.deepcopy(changes), "id": current["id"]}
        else:
            updated = _merge(current, changes)
        organizer = (current.get("organizer") or {}).get("email", calendar.owner)
        if not person and organizer != calendar.owner and not current.get("guestsCanModify"):
            touched = [key for key in ORGANIZER_ONLY if updated.get(key) != current.get(key)]
            if touched:
                raise _error(
                    403,
                    "forbiddenForNonOrganizer",
                    "The operation can only be performed by the event organizer.",
                )
        self._check_event(calendar, updated)
        updated.update(etag=self._etag(), updated=_stamp(self.now))
        if updated.get("start") != current.get("start") or updated.get("end") != current.get("end"):
            updated["sequence"] = int(current.get("sequence", 0)) + 1
        if "recurrence" in current:
            self._forget_instances(calendar, current, updated)
        calendar.items[updated["id"]] = updated
        self._bump(calendar, updated["id"])
        return updated

    def _forget_instances(
        self, calendar: Calendar, before: dict[str, Any], after: dict[str, Any]
    ) -> None:
        """Instances a series change removed are reported deleted by the next incremental sync."""
        until = self.now + self.horizon
        kept = {item["id"] for item, _ in self._instances(calendar, after, until)}
        for item, _ in self._instances(calendar, before, until):
            if item["id"] not in kept:
                calendar.vanished[item["id"]] = {
                    key: item[key] for key in ("id", "recurringEventId", "originalStartTime")
                }
                self._bump(calendar, item["id"])

    def _remove(self, calendar: Calendar, ident: str, etag: str | None) -> dict[str, Any]:
        current = self._find(calendar, ident)
        if current.get("status") == "cancelled":
            raise _error(410, "deleted", "Resource has been deleted")
        if etag is not None and etag != current["etag"]:
            raise _error(412, "conditionNotMet", "Precondition Failed")
        removed = {
            **current,
            "status": "cancelled",
            "etag": self._etag(),
            "updated": _stamp(self.now),
        }
        calendar.items[ident] = removed
        self._bump(calendar, ident)
        return current

    # -- reading
    # -----------------------------------------------------------------------------------------

    def _occurrences(
        self, calendar: Calendar, master: dict[str, Any], until: datetime
    ) -> Iterator[datetime | date]:
        start = master["start"]
        all_day = "date" in start
        zone = ZoneInfo(start.get("timeZone") or str(calendar.zone))
        first = (
            datetime.combine(date.fromisoformat(start["date"]), time())
            if all_day
            else datetime.fromisoformat(start["dateTime"]).astimezone(zone).replace(tzinfo=None)
        )
        rules = rrule.rrulestr(
            "\n".join(master.get("recurrence", [])), dtstart=first, forceset=True, ignoretz=True
        )
        for occurrence in rules:
            local = occurrence.replace(tzinfo=zone)
            if local >= until:
                return
            yield occurrence.date() if all_day else local

    def _instances(
        self, calendar: Calendar, master: dict[str, Any], until: datetime
    ) -> Iterator[tuple[dict[str, Any], int]]:
        """The instances of a series with the version each last changed at."""
        base = calendar.stamps.get(master["id"], 0)
        start, end = master["start"], master["end"]
        length = self._when(calendar, end) - self._when(calendar, start)
        for occurrence in self._occurrences(calendar, master, until):
            if isinstance(occurrence, datetime):
                suffix = occurrence.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
                original = {"dateTime": occurrence.isoformat(), "timeZone": start["timeZone"]}
                times = {
                    "start": original,
                    "end": {
                        "dateTime": (occurrence + length).isoformat(),
                        "timeZone": start["timeZone"],
                    },
                }
            else:
                suffix = occurrence.strftime("%Y%m%d")
                original = {"date": occurrence.isoformat()}
                times = {"start": original, "end": {"date": (occurrence + length).isoformat()}}
            ident = f"{master['id']}_{suffix}"
            stored = calendar.items.get(ident)
            if stored is not None:
                yield stored, max(base, calendar.stamps.get(ident, 0))
                continue
            instance = {
                key: value
                for key, value in master.items()
                if key not in ("recurrence", "id", "etag")
            }
            instance.update(
                times, id=ident, recurringEventId=master["id"], originalStartTime=original
            )
            instance["etag"] = (
                f'"{master["etag"].strip(chr(34))}{zlib.crc32(ident.encode()) % 1000:03d}"'
            )
            yield instance, base

    def _view(
        self, calendar: Calendar, single: bool, until: datetime
    ) -> Iterator[tuple[dict[str, Any], int]]:
        """Every item a list can return (cancelled ones included), with its version."""
        for ident, item in list(calendar.items.items()):
            stamp = calendar.stamps.get(ident, 0)
            if single and "recurrence" in item:
                yield from self._instances(calendar, item, until)
            elif single and item.get("recurringEventId") in calendar.items:
                continue  # an exception: yielded with its series
            else:
                yield item, stamp
        if single:
            for ident, item in calendar.vanished.items():
                yield {**item, "status": "cancelled"}, calendar.stamps.get(ident, 0)

    def _render(
        self, calendar: Calendar, item: dict[str, Any], brief: bool = False
    ) -> dict[str, Any]:
        """An item as the API shows it in this calendar: `self` flags, times in the calendar's zone.

        A deleted item in a list shows only what the reference guarantees (`brief`).
        """
        if item.get("status") == "cancelled" and brief:
            shown = {
                "kind": "calendar#event",
                "etag": item.get("etag", self._etag()),
                "id": item["id"],
                "status": "cancelled",
            }
            shown.update(
                {key: item[key] for key in ("recurringEventId", "originalStartTime") if key in item}
            )
            return shown
        shown = copy.deepcopy(item)
        organizer = shown.get("organizer") or {}
        organizer["self"] = organizer.get("email") == calendar.owner
        for attendee in shown.get("attendees") or []:
            if attendee.get("email") == calendar.owner:
                attendee["self"] = True
            if attendee.get("email") == organizer.get("email"):
                attendee["organizer"] = True
        for name in ("start", "end"):
            value = shown.get(name)
            if isinstance(value, dict) and value.get("dateTime"):
                try:
                    value["dateTime"] = (
                        self._when(calendar, value).astimezone(calendar.zone).isoformat()
                    )
                except ValueError:
                    pass  # stored unreadable (put_raw): shown as it is
        return shown

    def _list(self, calendar: Calendar, query: dict[str, list[str]], role: str) -> dict[str, Any]:
        one = {key: values[-1] for key, values in query.items()}
        token = one.get("pageToken")
        if token:
            if token not in self._pages or self._pages[token][0] != calendar.id:
                raise _error(400, "invalid", "Invalid page token value.")
            _, items, sync_token, signature = self._pages[token]  # a page token can be used again
            if signature != self._signature(query):
                raise _error(400, "invalid", "Invalid page token value.")
        else:
            items, sync_token = self._select(calendar, query, one)
        size = min(int(one.get("maxResults", 250)), 2500, self.page_limit or 2500)
        page, rest = items[:size], items[size:]
        answer: dict[str, Any] = {
            "kind": "calendar#events",
            "etag": f'"p{self.version}"',
            "summary": calendar.summary,
            "description": "",
            "updated": _stamp(self.now),
            "timeZone": str(calendar.zone),
            "accessRole": role,
            "defaultReminders": [{"method": "popup", "minutes": 10}],
            "items": page,
        }
        if rest:
            following = secrets.token_urlsafe(12)
            self._pages[following] = (calendar.id, rest, sync_token, self._signature(query))
            while len(self._pages) > PAGES_KEPT:
                self._pages.popitem(last=False)
            answer["nextPageToken"] = following
        else:
            answer["nextSyncToken"] = sync_token
        return answer

    @staticmethod
    def _signature(query: dict[str, list[str]]) -> str:
        return json.dumps(sorted((k, v) for k, v in query.items() if k != "pageToken"))

    def _sync_token(self, calendar: Calendar, single: bool) -> str:
        data = json.dumps({"c": calendar.id, "v": self.version, "s": single}).encode()
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    def _select(
        self, calendar: Calendar, query: dict[str, list[str]], one: dict[str, str]
    ) -> tuple[list[dict[str, Any]], str]:
        """The whole result of a list request, and the sync token its last page will carry."""
        single = one.get("singleEvents") == "true"
        sync = one.get("syncToken")
        if sync:
            if any(name in query for name in SYNC_FORBIDDEN) or one.get("showDeleted") == "false":
                raise _error(
                    400, "invalid", "Sync token cannot be used with other request restrictions."
                )
            try:
                state = json.loads(base64.urlsafe_b64decode(sync + "=" * (-len(sync) % 4)))
                since, same = int(state["v"]), state["c"] == calendar.id and state["s"] == single
            except (ValueError, KeyError, TypeError):
                raise _error(400, "invalid", "Invalid sync token value.") from None
            if not same:
                raise _error(400, "invalid", "Invalid sync token value.")
            if since < calendar.valid_from:
                raise ApiError(
                    410,
                    "fullSyncRequired",
                    "Sync token is no longer valid, a full sync is required.",
                )
            changed = [
                item
                for item, stamp in self._view(calendar, single, self.now + self.horizon)
                if stamp > since
            ]
            return [self._render(calendar, item, brief=True) for item in changed], self._sync_token(
                calendar, single
            )
        low = moment(one["timeMin"], "timeMin") if "timeMin" in one else None
        high = moment(one["timeMax"], "timeMax") if "timeMax" in one else None
        if low and high and high <= low:
            raise _error(400, "timeRangeEmpty", "The specified time range is empty.")
        if one.get("orderBy") == "startTime" and not single:
            raise _error(
                400, "invalid", "The requested ordering is not available for the particular query."
            )
        until = max(self.now + self.horizon, high or self.now)
        wanted = [p.split("=", 1) for p in query.get("privateExtendedProperty", [])]
        if any(len(pair) != 2 for pair in wanted):
            raise _error(400, "invalid", "Invalid extended property constraint.")
        show_deleted = one.get("showDeleted") == "true"
        found = []
        for item, _ in self._view(calendar, single, until):
            if item.get("status") == "cancelled":
                if show_deleted and not (low or high):
                    found.append(self._render(calendar, item, brief=True))
                continue
            private = (item.get("extendedProperties") or {}).get("private") or {}
            if any(private.get(key) != value for key, value in wanted):
                continue
            if (
                "q" in one
                and one["q"].lower()
                not in json.dumps(
                    [item.get(k) for k in ("summary", "description", "location")]
                ).lower()
            ):
                continue
            span = self._span(calendar, item)
            if (low or high) and span is None:
                continue  # an item without readable times matches no time range
            if span and ((low and span[1] <= low) or (high and span[0] >= high)):
                continue
            found.append(item)
        if one.get("orderBy") == "startTime":
            found.sort(key=lambda item: (self._span(calendar, item) or (low or self.now,))[0])
        elif one.get("orderBy") == "updated":
            found.sort(key=lambda item: item["updated"])
        return [self._render(calendar, item) for item in found], self._sync_token(calendar, single)

    def _busy(self, calendar: Calendar, low: datetime, high: datetime) -> list[dict[str, str]]:
        spans: list[tuple[datetime, datetime]] = []
        for item, _ in self._view(calendar, True, high):
            span = self._span(calendar, item)
            if (
                span is None
                or item.get("status") == "cancelled"
                or item.get("transparency") == "transparent"
                or "date" in item["start"]
            ):
                continue
            me = next(
                (a for a in item.get("attendees") or [] if a.get("email") == calendar.owner), None
            )
            if me and me.get("responseStatus") == "declined":
                continue
            start, end = max(span[0], low), min(span[1], high)
            if start < end:
                spans.append((start, end))
        merged: list[list[datetime]] = []
        for start, end in sorted(spans):
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        return [
            {"start": _stamp(s).replace(".000", ""), "end": _stamp(e).replace(".000", "")}
            for s, e in merged
        ]

    # -- HTTP
    # ------------------------------------------------------------------------------------------

    def handle(
        self, verb: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """One HTTP request: OAuth endpoints, the batch endpoint, or a Calendar API call."""
        parts = urlsplit(target)
        query = parse_qs(parts.query, keep_blank_values=True)
        if parts.path == "/token" and verb == "POST":
            form = {key: values[-1] for key, values in parse_qs(body.decode()).items()}
            status, answer = self.oauth.token(form, headers.get("authorization", ""))
            return status, {"Content-Type": "application/json"}, json.dumps(answer).encode()
        if parts.path == "/o/oauth2/auth" and verb == "GET":
            status, extra, answer = self.oauth.authorize(
                {key: values[-1] for key, values in query.items()}
            )
            return status, extra, json.dumps(answer).encode() if answer else b""
        if parts.path == "/batch/calendar/v3" and verb == "POST":
            return self._batch(headers, body)
        status, extra, payload = self._call(verb, parts.path, query, headers, body, in_batch=False)
        return status, {"Content-Type": "application/json; charset=UTF-8", **extra}, payload

    def _call(
        self,
        verb: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: bytes,
        in_batch: bool,
    ) -> tuple[int, dict[str, str], bytes]:
        with self.lock:
            self.log.append(Logged(verb, path, query, in_batch))
            try:
                status, answer = self._api(verb, path, query, headers, body)
            except ApiError as exc:
                return exc.status, exc.headers, json.dumps(exc.body()).encode()
            except Invalid as exc:
                return 400, {}, json.dumps(ApiError(400, exc.reason, str(exc)).body()).encode()
            # a bug of the fake: answered as 500, and the fixture fails the test
            except Exception as exc:
                self.crashes.append(f"{verb} {path}: {type(exc).__name__}: {exc}")
                return (
                    500,
                    {},
                    json.dumps(ApiError(500, "backendError", "Backend Error").body()).encode(),
                )
        return status, {}, b"" if answer is None else json.dumps(answer).encode()

    def _fault(self, verb: str, path: str, body: bytes, after: bool) -> None:
        for fault in self.faults:
            matches = (
                fault.path in path and fault.method in ("", verb) and fault.body.encode() in body
            )
            if fault.times > 0 and matches and fault.after == after:
                fault.times -= 1
                wait = fault.retry_after
                headers = (
                    {}
                    if wait is None
                    else {"Retry-After": wait if isinstance(wait, str) else f"{wait:g}"}
                )
                domain = "usageLimits" if fault.status in (403, 429) else "global"
                reason = fault.reason or {429: "rateLimitExceeded", 403: "rateLimitExceeded"}.get(
                    fault.status, "backendError"
                )
                raise ApiError(
                    fault.status,
                    reason,
                    "Rate Limit Exceeded" if domain == "usageLimits" else "Backend Error",
                    domain,
                    headers,
                )

    def _api(
        self, verb: str, path: str, query: dict[str, list[str]], headers: dict[str, str], raw: bytes
    ) -> tuple[int, Any]:
        grant = self.oauth.who(headers.get("authorization", ""))
        if grant is None:
            raise ApiError(
                401,
                "authError",
                "Request had invalid authentication credentials.",
                headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'},
            )
        self._fault(verb, path, raw, after=False)
        route = self._route(verb, path)
        if route is None:
            raise _error(404, "notFound", "Not Found")
        resource, name, calendar_id, event_id = route
        spec = method(resource, name)
        if not grant.scopes & set(spec["scopes"]):
            raise ApiError(
                403, "insufficientPermissions", "Request had insufficient authentication scopes."
            )
        check_query(resource, name, query)
        one = {key: values[-1] for key, values in query.items()}
        body: Any = json.loads(raw) if raw else None  # JSON; required where the method has one
        if "request" in spec:
            if body is None:
                raise _error(400, "required", "Required request body missing.")
            check_body(spec["request"]["$ref"], body, patch=name == "patch")
        if resource == "calendarList":
            return 200, self._calendar_list(grant.user)
        if resource == "freebusy":
            return 200, self._freebusy(grant.user, body)
        calendar, role = self._calendar(grant.user, calendar_id, writing=verb != "GET")
        if name == "list":
            return 200, self._list(calendar, query, role)
        if name == "get":
            return 200, self._render(calendar, self._find(calendar, event_id))
        etag = headers.get("if-match")
        if name == "insert":
            item = self._insert(calendar, body, person=False)
        elif name in ("patch", "update"):
            item = self._change(
                calendar, event_id, body, person=False, etag=etag, replace=name == "update"
            )
        else:  # delete
            item = self._remove(calendar, event_id, etag)
        self._notify(calendar, item, one.get("sendUpdates", "none"))
        self._fault(verb, path, raw, after=True)
        return (
            (204, None)
            if name == "delete"
            else (200, self._render(calendar, calendar.items[item["id"]]))
        )

    @staticmethod
    def _route(verb: str, path: str) -> tuple[str, str, str, str] | None:
        if path == "/calendar/v3/users/me/calendarList" and verb == "GET":
            return "calendarList", "list", "", ""
        if path == "/calendar/v3/freeBusy" and verb == "POST":
            return "freebusy", "query", "", ""
        found = re.fullmatch(r"/calendar/v3/calendars/([^/]+)/events(?:/([^/]+))?", path)
        if found is None:
            return None
        calendar_id, event_id = unquote(found.group(1)), unquote(found.group(2) or "")
        names = {
            ("GET", False): "list",
            ("POST", False): "insert",
            ("GET", True): "get",
            ("PATCH", True): "patch",
            ("PUT", True): "update",
            ("DELETE", True): "delete",
        }
        name = names.get((verb, bool(event_id)))
        return None if name is None else ("events", name, calendar_id, event_id)

    def _calendar(self, user: str, ident: str, writing: bool) -> tuple[Calendar, str]:
        if ident == "primary":
            ident = user
        calendar = self.calendars.get(ident)
        role = calendar.access.get(user, "") if calendar else ""
        if calendar is None or not role:
            raise _error(404, "notFound", "Not Found")
        needed = "writer" if writing else "reader"
        if ROLES[role] < ROLES[needed]:
            raise _error(
                403, "requiredAccessLevel", f"You need to have {needed} access to this calendar."
            )
        return calendar, role

    def _notify(self, calendar: Calendar, item: dict[str, Any], send: str) -> None:
        """The e-mails Google would send for a write by the organiser, per `sendUpdates`."""
        organizer = (item.get("organizer") or {}).get("email", calendar.owner)
        if send == "none" or organizer != calendar.owner:
            return
        for attendee in item.get("attendees") or []:
            email = attendee.get("email", "")
            if attendee.get("resource") or email in (calendar.owner, organizer):
                continue
            if send == "externalOnly" and email.rpartition("@")[2] in self.google_domains:
                continue
            self.emails[email] += 1

    def _calendar_list(self, user: str) -> dict[str, Any]:
        items = [
            {
                "kind": "calendar#calendarListEntry",
                "etag": f'"{self.version}"',
                "id": c.id,
                "summary": c.summary,
                "timeZone": str(c.zone),
                "accessRole": c.access[user],
                **({"primary": True} if c.id == user else {}),
            }
            for c in self.calendars.values()
            if user in c.access
        ]
        return {
            "kind": "calendar#calendarList",
            "etag": f'"{self.version}"',
            "items": items,
            "nextSyncToken": f"l{self.version}",
        }

    def _freebusy(self, user: str, body: dict[str, Any]) -> dict[str, Any]:
        low, high = moment(body.get("timeMin"), "timeMin"), moment(body.get("timeMax"), "timeMax")
        answer: dict[str, Any] = {}
        for entry in body.get("items", []):
            ident = "primary" if entry.get("id") == "primary" else entry.get("id", "")
            calendar = self.calendars.get(user if ident == "primary" else ident)
            if calendar is None or user not in calendar.access:
                answer[ident] = {"errors": [{"domain": "global", "reason": "notFound"}], "busy": []}
            else:
                answer[ident] = {"busy": self._busy(calendar, low, high)}
        return {
            "kind": "calendar#freeBusy",
            "timeMin": body["timeMin"],
            "timeMax": body["timeMax"],
            "calendars": answer,
        }

    def _batch(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        """multipart/mixed: each part an HTTP request; answered in kind, one round trip."""
        self.log.append(Logged("POST", "/batch/calendar/v3", {}, False))
        message = BytesParser().parsebytes(
            b"Content-Type: " + headers.get("content-type", "").encode() + b"\r\n\r\n" + body
        )
        payload = message.get_payload() if message.is_multipart() else []
        parts = [part for part in payload if isinstance(part, Message)]
        if not parts or len(parts) > BATCH_LIMIT:
            error = ApiError(
                400, "invalid", f"A batch must hold between 1 and {BATCH_LIMIT} requests."
            )
            return 400, {"Content-Type": "application/json"}, json.dumps(error.body()).encode()
        boundary = f"batch_{secrets.token_hex(8)}"
        out = []
        for part in parts:
            request = part.get_payload(decode=True)
            assert isinstance(request, bytes), "each part of a batch is an HTTP request"
            text = request.decode()
            head, _, inner_body = text.replace("\r\n", "\n").partition("\n\n")
            request_line, *header_lines = head.split("\n")
            verb, target, _ = request_line.split(" ", 2)
            inner_headers = {
                k.strip().lower(): v.strip()
                for k, _, v in (line.partition(":") for line in header_lines)
                if k
            }
            inner = urlsplit(target)
            status, extra, answer = self._call(
                verb,
                inner.path,
                parse_qs(inner.query, keep_blank_values=True),
                inner_headers,
                inner_body.encode(),
                in_batch=True,
            )
            response = (
                f"HTTP/1.1 {status} {REASONS.get(status, '')}\r\nContent-Type: application/json; "
                "charset=UTF-8\r\n"
            )
            response += (
                "".join(f"{k}: {v}\r\n" for k, v in extra.items())
                + f"Content-Length: {len(answer)}\r\n\r\n"
            )
            content_id = part.get("Content-ID", "").strip("<>")
            out.append(
                f"--{boundary}\r\nContent-Type: application/http\r\nContent-ID: "
                f"<response-{content_id}>\r\n\r\n" + response + answer.decode() + "\r\n"
            )
        payload = ("".join(out) + f"--{boundary}--\r\n").encode()
        return 200, {"Content-Type": f"multipart/mixed; boundary={boundary}"}, payload
