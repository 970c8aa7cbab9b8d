"""The Outlook / Microsoft 365 connector: Microsoft Graph over HTTP, MSAL for tokens.

Reads. Graph's `calendarView/delta` cannot `$expand` (nor `$select` or `$filter`), so it never
returns `singleValueExtendedProperties`, where our ownership tags live. The read is therefore:
- **incremental** (a deltaLink): one GET of the deltaLink, following `@odata.nextLink`
  pages. A quiet calendar costs exactly **one request**. Each changed event is then read
  again with its tags by `GET /events/{id}?$expand=singleValueExtendedProperties(...)`,
  packed into JSON batches of 20: **1 + ceil(k/20)** requests for k changed events
  (+ more delta pages when k exceeds the page size). Removed events come as `@removed`.
- **full** (no cursor, a new window, or a 410 / syncStateNotFound reset): the delta round
  first, only to obtain the deltaLink (whatever changes after it is reported by the next
  read), then a `calendarView` of the window with the tags expanded: ceil(n/page) + ceil(n/page)
  requests for n events (2 for a small calendar; 40 for 2,000 events at the default 100).
Every request asks for `Prefer: outlook.timezone` (the seller's zone), `odata.maxpagesize`
and `IdType="ImmutableId"` (ids that survive moves between folders).

Keys and refs. `Event.ref` is the Graph id (an occurrence of a series has its own id, and
writing to it makes it an exception). `Event.key` is the id of a single event, and
`seriesMasterId#originalStart` for an instance of a series, stable when it is rescheduled.

Writes are one request each and guarded by If-Match with the `@odata.etag` read (412/409 →
ConflictError, never an overwrite; 404 → GoneError, which the engine turns into a tombstone).
Blocks are private (`sensitivity: private`), busy (`showAs: busy`), invite no one, and have
no reminder: the meeting's own reminder fires at the prep block's start, and a second pop-up
for each block would be noise. Their body is plain text (the prep and debrief forms), or HTML
where callplan spliced its preview into a prep the seller wrote in as HTML. Writes
are not batched: the engine records each applied change before the next (crash safety).

Agendas: a meeting body is spliced as text or HTML according to its `contentType`
(agent.text.splice). Graph offers no way to PATCH an organizer's meeting
without Exchange sending attendees an update, so `notify=False` cannot be honoured; the
planner only writes an agenda when its content changes, and undo's strip costs each
attendee one update (docs/outlook.md).

Tags are three single-value extended properties in one GUID namespace: `callplan-tag`
(BlockTag), `callplan-agenda` (AgendaTag) and `callplan-owner` (a constant that `find_owned`
filters on server-side). Graph cannot delete an extended property, so removing the agenda
tag writes empty values.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from agent.config.settings import Account
from agent.core.errors import (
    AuthError,
    BadDataError,
    ConflictError,
    ConnectorError,
    GoneError,
    SyncExpiredError,
    TransientError,
)
from agent.core.model import (
    AgendaTag,
    Attendee,
    BlockSpec,
    BlockTag,
    BodyFormat,
    Delta,
    Event,
    Interval,
    Response,
    Status,
    Window,
)
from connectors.base import CalendarInfo, Connector
from connectors.graph_http import Answer, GraphSession
from connectors.outlook_auth import GraphTokens, parse_options

log = logging.getLogger(__name__)

NAMESPACE = "{4f0b2c6e-8a3d-4c1e-9b57-2d6a1e3c9f80}"  # callplan's property set; never change it
TAG_PROPERTY = (
    f"String {NAMESPACE} Name callplan-tag"  # BlockTag.encode() on prep and debrief blocks
)
AGENDA_PROPERTY = (
    f"String {NAMESPACE} Name callplan-agenda"  # AgendaTag.encode() on meetings with our agenda
)
OWNER_PROPERTY = f"String {NAMESPACE} Name callplan-owner"  # "callplan" on everything we own
OWNER = "callplan"
EXPAND = (
    "singleValueExtendedProperties($filter="
    + " or ".join(f"id eq '{name}'" for name in (TAG_PROPERTY, AGENDA_PROPERTY))
    + ")"
)
EDGE = timedelta(seconds=1)  # asked for beyond each end of the window (see _window_query)
OWNED_FILTER = (
    f"singleValueExtendedProperties/Any(ep: ep/id eq '{OWNER_PROPERTY}' and ep/value eq '{OWNER}')"
)
RESPONSES = {
    "accepted": Response.ACCEPTED,
    "organizer": Response.ACCEPTED,
    "none": Response.ACCEPTED,  # an event without attendees: nobody was asked
    "declined": Response.DECLINED,
    "tentativelyaccepted": Response.TENTATIVE,
    "notresponded": Response.NEEDS_ACTION,
}


def _stamp(when: datetime) -> dict[str, str]:
    return {"dateTime": when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}


def _instant(value: Any, what: str) -> datetime:
    """A Graph dateTimeTimeZone as an aware datetime (zones are IANA names: we ask for one)."""
    if not isinstance(value, dict) or not value.get("dateTime"):
        raise BadDataError(f"no {what} time")
    name = str(value.get("timeZone") or "UTC")
    try:
        zone = UTC if name.upper() in ("UTC", "Z") else ZoneInfo(name)
        return datetime.fromisoformat(str(value["dateTime"])[:26]).replace(tzinfo=zone)
    except (ValueError, ZoneInfoNotFoundError):
        raise BadDataError(
            f"unreadable {what} time {value.get('dateTime')!r} in zone {name!r}"
        ) from None


def _rid(value: str) -> str:
    """originalStart (an ISO DateTimeOffset) in the UTC basic form CalDAV keys use too."""
    return (
        datetime.fromisoformat(value.replace("Z", "+00:00")[:32])
        .astimezone(UTC)
        .strftime("%Y%m%dT%H%M%SZ")
    )


class OutlookConnector(Connector):
    """One seller's Microsoft 365 calendars through Microsoft Graph (see
    connectors.base.Connector)."""

    name = "outlook"
    silent_updates = (
        False  # Exchange tells attendees of every change to an organizer's meeting body
    )

    def __init__(
        self,
        self_email: str,
        session: GraphSession,
        *,
        graph_url: str,
        mailbox: str | None = None,
        zone: ZoneInfo = ZoneInfo("UTC"),
        page_size: int = 100,
        where: str = "",
    ) -> None:
        self.self_email = self_email.strip().lower()
        self.session = session
        self.graph_url = graph_url.rstrip("/")
        # delegated tokens read /me; app-only tokens must name the mailbox
        self.prefix = f"/users/{quote(mailbox, safe='@')}" if mailbox else "/me"
        self.zone = zone
        self.page_size = page_size
        self.where = where or self.graph_url
        self.prefer = (
            f'outlook.timezone="{zone.key}", odata.maxpagesize={page_size}, IdType="ImmutableId"'
        )

    @classmethod
    def from_account(
        cls, account: Account, *, session: GraphSession | None = None, http_client: Any = None
    ) -> OutlookConnector:
        """A connector for a configured account; ConfigError names a bad key. No network yet."""
        options = parse_options(account)
        session = session or GraphSession()
        session.token = GraphTokens(account, options, http_client=http_client)
        mailbox = (options.mailbox or account.email) if options.mode == "app" else None
        return cls(
            account.email,
            session,
            graph_url=options.graph_url,
            mailbox=mailbox,
            zone=account.settings.timezone,
            page_size=options.page_size,
            where=account.where,
        )

    # --- HTTP ---

    def _url(self, path: str, query: dict[str, str] | None = None) -> str:
        url = f"{self.graph_url}{self.prefix}{path}"
        return f"{url}?{_query(query)}" if query else url

    def _send(self, method: str, url: str, *, etag: str | None = None, body: Any = None) -> Answer:
        headers = {"Prefer": self.prefer}
        if etag:
            headers["If-Match"] = etag
        response = self.session.request(method, url, headers=headers, body=body)
        try:
            answer = _json(response)
        except BadDataError as exc:  # cut short on the way: a read is tried again next cycle
            if response.status_code < 400 and method == "GET":
                raise TransientError(f"{method}: {exc}", where=url.split("?")[0]) from None
            if response.status_code < 400:
                raise BadDataError(
                    f"{method}: {exc}; the write went through", where=url.split("?")[0]
                ) from None
            answer = {}
        self._check(method, url, response.status_code, answer)
        return response

    def _check(self, method: str, url: str, status: int, body: Any) -> None:
        """Raise the agent.core.errors class for a failed answer (a batch part's too)."""
        if status < 400:
            return
        error = body.get("error", {}) if isinstance(body, dict) else {}
        code = str(error.get("code", "")) if isinstance(error, dict) else str(error)
        message = (
            " ".join(str(error.get("message", "")).split())[:200] if isinstance(error, dict) else ""
        )
        where = url.split("?")[0]
        if status == 404:
            raise GoneError(f"{method}: the event is gone", where=where)
        if status in (409, 412):
            raise ConflictError(
                f"{method}: the event changed since it was read ({code})", where=where
            )
        if status == 410 or code.lower() in (
            "syncstatenotfound",
            "resyncrequired",
            "syncstateinvalid",
        ):
            raise SyncExpiredError(f"{method}: the delta token expired ({code})", where=where)
        if status == 401:
            raise AuthError(
                f"Graph refused the token ({code}); run `callplan auth outlook` for this account",
                where=self.where,
            )
        if status == 403:
            raise AuthError(
                f"Graph denied access to the calendar ({code}: {message}); the app registration "
                "needs the Calendars.ReadWrite permission with consent",
                where=self.where,
            )
        raise ConnectorError(f"{method}: HTTP {status} {code}: {message}", where=where)

    def _pages(self, url: str) -> Iterator[dict[str, Any]]:
        """Every page of a collection, following @odata.nextLink verbatim."""
        next_url: str | None = url
        while next_url:
            page = _json(self._send("GET", next_url))
            yield page
            next_url = page.get("@odata.nextLink")

    # --- reads ---

    @property
    def requests_sent(self) -> int:
        return self.session.sent

    def calendars(self) -> list[CalendarInfo]:
        """The mailbox's calendars; Outlook's default calendar is the primary."""
        found = [
            item for page in self._pages(self._url("/calendars")) for item in page.get("value", [])
        ]
        return [
            CalendarInfo(
                id=c["id"], name=c.get("name") or c["id"], primary=bool(c.get("isDefaultCalendar"))
            )
            for c in found
        ]

    def _window_query(self, window: Window) -> dict[str, str]:
        """The range to ask Graph for: a second more on each side, since Graph does not document
        what it does with events at its edges; `Window.holds` decides."""
        wide = window.widened(EDGE)
        return {
            "startDateTime": wide.start.astimezone(UTC).isoformat(),
            "endDateTime": wide.end.astimezone(UTC).isoformat(),
        }

    def changes(self, calendar: str, cursor: str | None, window: Window) -> Delta:
        """The delta since the cursor (a deltaLink), or a full read; see the module docstring."""
        before = self.session.sent
        delta = None
        if cursor:
            try:
                delta = self._incremental(calendar, cursor, window)
            except SyncExpiredError as exc:
                log.info("%s: %s; reading the window afresh", calendar, exc)
        if delta is None:
            delta = self._full(calendar, window)
        return replace(delta, requests=self.session.sent - before)

    def _delta_round(self, url: str) -> tuple[list[dict[str, Any]], str]:
        items: list[dict[str, Any]] = []
        for page in self._pages(url):
            items += page.get("value", [])
            if "@odata.deltaLink" in page:
                return items, str(page["@odata.deltaLink"])
        raise ConnectorError("the delta round ended without a deltaLink", where=url.split("?")[0])

    def _full(self, calendar: str, window: Window) -> Delta:
        _, link = self._delta_round(
            self._url(
                f"/calendars/{quote(calendar)}/calendarView/delta", self._window_query(window)
            )
        )
        view = self._url(
            f"/calendars/{quote(calendar)}/calendarView",
            {**self._window_query(window), "$expand": EXPAND},
        )
        items = [item for page in self._pages(view) for item in page.get("value", [])]
        events, skipped = self._events(calendar, items, window)
        return Delta(
            upserted=tuple(events),
            cursor=link,
            full=True,
            skipped=tuple(line for _, line in skipped),
        )

    def _incremental(self, calendar: str, link: str, window: Window) -> Delta:
        items, next_link = self._delta_round(link)
        removed = {str(item["id"]) for item in items if "@removed" in item}
        changed = list(
            dict.fromkeys(
                str(item["id"])
                for item in items
                if "@removed" not in item and item["id"] not in removed
            )
        )
        fetched, gone = self._get_many(changed)
        events, skipped = self._events(calendar, fetched, window)
        # a malformed one is not "removed"
        kept = {event.ref for event in events} | {ref for ref, _ in skipped}
        return Delta(
            upserted=tuple(events),
            removed_refs=tuple(sorted((removed | gone | set(changed)) - kept)),
            cursor=next_link,
            skipped=tuple(line for _, line in skipped),
        )

    def _get_many(self, ids: list[str]) -> tuple[list[dict[str, Any]], set[str]]:
        """Changed events with their tags, in JSON batches; and the ids found gone meanwhile."""
        if not ids:
            return [], set()
        query = _query({"$expand": EXPAND})
        parts = [
            {
                "id": str(n),
                "method": "GET",
                "url": f"{self.prefix}/events/{quote(event_id)}?{query}",
                "headers": {"Prefer": self.prefer},
            }
            for n, event_id in enumerate(ids)
        ]
        answers = self.session.batch(f"{self.graph_url}/$batch", parts)
        found, gone = [], set()
        for n, event_id in enumerate(ids):
            answer = answers.get(str(n), {"status": 500, "body": {}})
            status = int(answer.get("status", 500))
            if status == 404:
                gone.add(event_id)
                continue
            self._check("GET", self._url(f"/events/{event_id}"), status, answer.get("body"))
            found.append(answer["body"])
        return found, gone

    def _events(
        self, calendar: str, items: list[dict[str, Any]], window: Window
    ) -> tuple[list[Event], list[tuple[str, str]]]:
        """Events the window holds, and (id, reason) per malformed item."""
        events: list[Event] = []
        skipped: list[tuple[str, str]] = []
        for item in items:
            try:
                event = self.event(calendar, item)
            except BadDataError as exc:
                ref = str(item.get("id", "?"))
                skipped.append((ref, f"{self.where}: event {ref}: skipped malformed event: {exc}"))
                continue
            if window.holds(event.span):
                events.append(event)
        return events, skipped

    def event(self, calendar: str, item: dict[str, Any]) -> Event:
        """One Graph event as an Event; BadDataError when it cannot be read correctly."""
        if not isinstance(item, dict) or not item.get("id"):
            raise BadDataError("no id")
        start, end = _instant(item.get("start"), "start"), _instant(item.get("end"), "end")
        if end < start:
            raise BadDataError("ends before it starts")
        kind = str(item.get("type") or "singleInstance")
        key = str(item["id"])
        if kind in ("occurrence", "exception") and item.get("seriesMasterId"):
            try:
                original = str(item.get("originalStart") or start.isoformat())
                key = f"{item['seriesMasterId']}#{_rid(original)}"
            except ValueError:
                raise BadDataError(
                    f"unreadable originalStart {item.get('originalStart')!r}"
                ) from None
        organizer = str(
            ((item.get("organizer") or {}).get("emailAddress") or {}).get("address") or ""
        ).lower()
        attendees = tuple(
            _attendee(entry)
            for entry in item.get("attendees") or []
            if (entry.get("emailAddress") or {}).get("address")
        )
        response = str((item.get("responseStatus") or {}).get("response") or "none").lower()
        body = item.get("body") or {}
        properties = {
            p.get("id", "").lower(): p.get("value") or ""
            for p in item.get("singleValueExtendedProperties") or []
        }
        tag, agenda = (
            properties.get(TAG_PROPERTY.lower(), ""),
            properties.get(AGENDA_PROPERTY.lower(), ""),
        )
        online = (item.get("onlineMeeting") or {}).get("joinUrl") or ""
        return Event(
            key=key,
            ref=str(item["id"]),
            calendar=calendar,
            title=str(item.get("subject") or ""),
            start=start.astimezone(self.zone),
            end=end.astimezone(self.zone),
            etag=item.get("@odata.etag"),
            all_day=bool(item.get("isAllDay")),
            status=Status.CANCELLED if item.get("isCancelled") else Status.CONFIRMED,
            organizer=organizer,
            self_email=self.self_email,
            self_is_organizer=bool(item.get("isOrganizer", organizer in ("", self.self_email))),
            self_response=RESPONSES.get(response, Response.NEEDS_ACTION),
            attendees=attendees,
            description=str(body.get("content") or ""),
            body_format=BodyFormat.HTML
            if str(body.get("contentType", "")).lower() == "html"
            else BodyFormat.TEXT,
            transparent=item.get("showAs") == "free",
            private=item.get("sensitivity") in ("private", "confidential"),
            recurring=kind != "singleInstance",
            location=str((item.get("location") or {}).get("displayName") or "") or str(online),
            block_tag=BlockTag.decode(tag) if tag else None,
            agenda_tag=AgendaTag.decode(agenda) if agenda else None,
        )

    def busy(self, calendars: list[str], window: Window) -> list[Interval]:
        """Busy times from a calendarView of each calendar, with only the fields needed."""
        spans = []
        for calendar in calendars:
            query = {
                **self._window_query(window),
                "$select": "start,end,showAs,isCancelled,isAllDay,responseStatus",
            }
            for page in self._pages(self._url(f"/calendars/{quote(calendar)}/calendarView", query)):
                for item in page.get("value", []):
                    try:
                        event = self.event(calendar, item)
                    except BadDataError as exc:
                        log.warning("%s: busy calendar %s: %s", self.where, calendar, exc)
                        continue
                    if event.busy and window.holds(event.span):
                        spans.append(event.span)
        return sorted(spans)

    def find_owned(self, calendar: str) -> list[Event]:
        """Single events and series carrying our owner property, at any date (server-side filter).

        Graph's /events lists single events and series masters, not the instances of a
        series: an agenda on one instance is found through the store's record instead
        (agent/sync/undo.py reads every recorded ref).
        """
        url = self._url(
            f"/calendars/{quote(calendar)}/events", {"$filter": OWNED_FILTER, "$expand": EXPAND}
        )
        owned = []
        for page in self._pages(url):
            for item in page.get("value", []):
                try:
                    owned.append(self.event(calendar, item))
                except BadDataError as exc:
                    log.warning("%s: %s", self.where, exc)
        return [event for event in owned if event.block_tag or event.agenda_tag]

    def get(self, calendar: str, ref: str, key: str | None = None) -> Event | None:
        """Re-read one event with its tags (one GET); None if it is gone."""
        try:
            response = self._send("GET", self._url(f"/events/{quote(ref)}", {"$expand": EXPAND}))
        except GoneError:
            return None
        return self.event(calendar, _json(response))

    # --- writes ---

    def _written(self, calendar: str, response: Answer, **tags: Any) -> Event:
        """The event as Graph stored it; write responses do not expand the tags we just set.
        BadDataError if it cannot be read: the write went through, the engine skips the change
        and the next cycle finds the event by its tag."""
        try:
            return replace(self.event(calendar, _json(response)), **tags)
        except BadDataError as exc:
            raise BadDataError(
                f"Graph returned an unreadable event after a write: {exc}", where=self.where
            ) from None

    def _block_body(self, block: BlockSpec) -> dict[str, Any]:
        return {
            "subject": block.title,
            "body": {"contentType": block.body_format.value, "content": block.description},
            "start": _stamp(block.start),
            "end": _stamp(block.end),
            "singleValueExtendedProperties": [
                {"id": TAG_PROPERTY, "value": block.tag.encode()},
                {"id": OWNER_PROPERTY, "value": OWNER},
            ],
        }

    def create(self, calendar: str, block: BlockSpec) -> Event:
        """POST a private, busy block with no attendees and no reminder."""
        body = {
            **self._block_body(block),
            "showAs": "busy",
            "sensitivity": "private",
            "isReminderOn": False,
            "attendees": [],
            "responseRequested": False,
        }
        response = self._send("POST", self._url(f"/calendars/{quote(calendar)}/events"), body=body)
        return self._written(calendar, response, block_tag=block.tag)

    def update(self, calendar: str, current: Event, block: BlockSpec) -> Event:
        """PATCH the subject, body, times and tag of a block, if its etag still matches.

        A body that is not changing is not sent: Exchange hands bodies back as HTML, and a
        person's formatted notes in a block that only moves must not be flattened to text.
        """
        fields = self._block_body(block)
        if block.description == current.description:
            del fields["body"]
        response = self._send(
            "PATCH", self._url(f"/events/{quote(current.ref)}"), etag=current.etag, body=fields
        )
        return self._written(calendar, response, block_tag=block.tag)

    def delete(self, calendar: str, current: Event) -> None:
        """DELETE with If-Match: ConflictError if it changed, GoneError if it is already gone."""
        self._send("DELETE", self._url(f"/events/{quote(current.ref)}"), etag=current.etag)

    def set_description(
        self, calendar: str, meeting: Event, text: str, agenda: AgendaTag | None, notify: bool
    ) -> Event:
        """PATCH the body (in the meeting's own format) and the agenda tag, if the etag matches.

        `notify` cannot be honoured: Exchange sends attendees an update for any change of an
        organizer's meeting body, and Graph has no parameter to prevent it.
        """
        body = {
            "body": {"contentType": meeting.body_format.value, "content": text},
            "singleValueExtendedProperties": [
                {"id": AGENDA_PROPERTY, "value": agenda.encode() if agenda else ""},
                {"id": OWNER_PROPERTY, "value": OWNER if agenda else ""},
            ],
        }
        response = self._send(
            "PATCH", self._url(f"/events/{quote(meeting.ref)}"), etag=meeting.etag, body=body
        )
        return self._written(calendar, response, agenda_tag=agenda, block_tag=meeting.block_tag)


def _attendee(entry: dict[str, Any]) -> Attendee:
    address = entry.get("emailAddress") or {}
    kind = str(entry.get("type") or "required").lower()
    response = str((entry.get("status") or {}).get("response") or "none").lower()
    return Attendee(
        email=str(address.get("address", "")).strip().lower(),
        name=str(address.get("name") or ""),
        response=RESPONSES.get(response, Response.NEEDS_ACTION)
        if response != "none"
        else Response.NEEDS_ACTION,
        optional=kind == "optional",
        resource=kind == "resource",
    )


def _json(response: Answer) -> Any:
    """The JSON of an answer ({} for none); BadDataError when it is not JSON (cut short)."""
    if not response.content:
        return {}
    try:
        return response.json()
    except ValueError:
        raise BadDataError(f"the answer is not JSON ({len(response.content)} bytes)") from None


def _query(params: dict[str, str]) -> str:
    """A query string that keeps OData's $, quotes, parentheses and colons readable."""
    return urlencode(params, quote_via=quote, safe="$'(),:/")
