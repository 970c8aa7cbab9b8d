"""The Google Calendar connector: google-api-python-client, built offline from its static discovery
document.

Reading a calendar, and how it fits the engine's window
-------------------------------------------------------
The engine hands over a `Window` (midnight yesterday to the end of the look-ahead, the same
all day) and a cursor made for that window only; a new day brings cursor=None.

- A full read is `events.list(singleEvents=true, timeMin=<window start>, maxResults=2500)`
  (a second before the start: see EDGE), paged with `pageToken` until the last page, which
  alone carries `nextSyncToken`. The API allows filters on the initial request of a sync
  (Google's sync guide restricts it with timeMin), but not
  `timeMax`/`orderBy`/`q`/extended-property filters together with a syncToken; `timeMin`
  alone keeps the days before the window out and needs no filter later. No `timeMax`: the
  sync guide bounds an initial read by timeMin only, and whatever bounds it had, the token's
  later answers cover all of time; events after the window (and instances of endless series,
  as far as Google expands them) are dropped here. Instances of recurring series arrive one
  by one (`singleEvents`), each with its own id (series id + original start), which is why
  that id is the Event key: it stays the same when one instance is moved.
- An incremental read sends the stored token and `singleEvents=true` and nothing else the
  API forbids with it. It returns every event changed since, wherever it lies in time, so
  the connector keeps what the window holds (`Window.holds`, as for a full read) and reports
  the rest as removed. A quiet calendar costs exactly one request. A 410 (the token expired)
  starts a full read. The token becomes the cursor only after every page was read; the
  engine stores it together with what was read, in one transaction.
- `status: cancelled` means deleted (Google has no cancelled-but-shown meeting; the organiser
  cancels by deleting). A cancelled single event and a cancelled instance of a series (with
  singleEvents, the API reports the instances of a deleted series, not the series itself)
  are both reported as removed refs; the planner then takes their blocks away.

Writing
-------
Blocks are inserted with an id we choose (so a retried insert whose answer was lost comes
back as 409 and is recognised, never doubled), `visibility: private`, `transparency:
opaque`, no attendees, no reminders, and `sendUpdates=none`. Every change of an existing
event is a PATCH of just the fields we own, with `If-Match` on the etag we read: a person's
concurrent edit gives 412 and a ConflictError, and the engine re-reads instead of
overwriting. Agendas set `description` and the agenda tag only; attendees are notified
(`send_updates` of the account: "all" or "externalOnly") only when the planner says so,
that is when the agenda is first inserted or its text really changed. `create_many` sends
new blocks fifty to a batch request (`batch_size`: the engine hands over that many at a time
and records each result on its own right after), sending again only the parts that were
throttled or failed on Google's side.

Every request goes through `connectors.retry.Retrier`, whose module docstring states the
policy: throttling (429, 403 rate/usage limits), server errors, network failures and answers
cut short are retried; every other refusal becomes its agent.core.errors class at once. A 401 is
googleapiclient's own to handle: its transport refreshes the token and sends the request
again, once. Requests are counted at the HTTP layer (`CountingHttp`): retries and re-sends
after a token refresh count, a batch counts once, calls to the token endpoint do not.
"""

from __future__ import annotations

import http.client
import json
import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urljoin
from zoneinfo import ZoneInfo

import google.auth.exceptions
import google_auth_httplib2
import httplib2
from google.auth.credentials import Credentials
from googleapiclient import discovery_cache
from googleapiclient.discovery import build_from_document
from googleapiclient.errors import BatchError, HttpError
from googleapiclient.http import BatchHttpRequest, HttpRequest

from agent.config.settings import Account
from agent.core.errors import (
    AuthError,
    BadDataError,
    ConflictError,
    ConnectorError,
    GoneError,
    SyncExpiredError,
    ThrottledError,
    TransientError,
)
from agent.core.model import AgendaTag, BlockSpec, Delta, Event, Interval, Window
from connectors import google_auth, shared
from connectors.base import CalendarInfo, Connector
from connectors.google_events import (
    OWNED_FILTER,
    agenda_patch,
    block_fields,
    cancelled,
    new_block,
    parse,
    rfc3339,
)
from connectors.retry import Failure, Retrier, slowest

log = logging.getLogger(__name__)

PAGE = 2500  # the largest page events.list gives
FREEBUSY_CALENDARS = 50  # calendars per free/busy query
BATCH = 50  # requests per batch (the Calendar API's limit)
# timeMin is exclusive on an event's end: an event of no length at the window's start would be
# left out. Asking from a second earlier (the API's resolution) lets Window.holds decide.
EDGE = timedelta(seconds=1)
# new_batch_http_request() would ignore api_endpoint
BATCH_URI = "https://www.googleapis.com/batch/calendar/v3"
RATE_REASONS = frozenset(
    {"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded", "dailyLimitExceeded"}
)
SCOPE_REASONS = frozenset({"insufficientPermissions", "ACCESS_TOKEN_SCOPE_INSUFFICIENT"})
NETWORK_FAILURES = (google.auth.exceptions.TransportError, httplib2.HttpLib2Error, OSError)
T = TypeVar("T")


def calendar_api() -> dict[str, Any]:
    """The Calendar API's discovery document (the one googleapiclient ships), parsed once per
    process and shared by every connector (connectors.shared).

    `build()` parses it anew for each service object, half a megabyte each: too much for a
    process that serves a thousand sellers. googleapiclient completes the method descriptions
    in place the first time it builds them; that happens here, once, under the lock, so that
    services built later only ever read the document.
    """

    def parse() -> dict[str, Any]:
        document = json.loads(discovery_cache.get_static_doc("calendar", "v3") or "{}")
        service = build_from_document(document, http=NoHttp())
        service.events(), service.calendarList(), service.freebusy()
        return document  # type: ignore[no-any-return]

    return shared.once("calendar api", parse)


def calendar_service(api_endpoint: str | None) -> Any:
    """The Calendar API's service object for an endpoint, built once per process and shared by
    every connector that talks to it.

    A service object only builds requests (a new object each, from the read-only description);
    each connector sends its own through its own authorised http (`GoogleConnector._own`), so a
    seller's credentials, token refreshes and request count stay theirs. A service object of
    every connector's own held a tree of generated methods per seller, most of what a Google
    account cost a process that serves many."""
    options = {"api_endpoint": api_endpoint} if api_endpoint else None
    return shared.once(
        f"calendar service at {api_endpoint}",
        lambda: build_from_document(calendar_api(), http=NoHttp(), client_options=options),
    )


def calendar_events(api_endpoint: str | None) -> Any:
    """The service's `events` resource, built once per process like the service itself.

    `service.events()` builds a new resource at each call, generating every method of the
    collection and its docstring from the description: more work than the request it is asked
    for. The resource only builds requests, so every connector of the process shares one."""
    return shared.once(
        f"calendar events at {api_endpoint}", lambda: calendar_service(api_endpoint).events()
    )


class NoHttp(httplib2.Http):
    """The http a shared service object is built with: it refuses to send, so that a request
    that was not given its connector's authorised http fails loudly rather than unauthorised."""

    def request(self, uri: str, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"a request to {uri} was sent without its connector's http")


class Unreadable(Exception):
    """An answer to a read that is not what the API sends: cut short on the way."""


class CountingHttp(google_auth_httplib2.AuthorizedHttp):  # type: ignore[misc]  # ships no types
    """The authorised httplib2 transport googleapiclient sends through, counting every request.

    httplib2 is googleapiclient's own transport: batches, 401-refresh-and-resend and timeouts
    work as the library intends, and tests swap the inner `httplib2.Http`, never the library.
    """

    def __init__(self, credentials: Credentials, http: httplib2.Http) -> None:
        super().__init__(credentials, http=http)
        self.sent = 0

    def request(self, uri: str, method: str = "GET", *args: Any, **kwargs: Any) -> Any:
        self.sent += 1
        return super().request(uri, method, *args, **kwargs)


def _error_reason(exc: HttpError) -> tuple[str, str]:
    """The first error reason and the message of a Calendar API error body."""
    try:
        error = json.loads(exc.content.decode("utf-8"))["error"]
        reasons = [entry.get("reason", "") for entry in error.get("errors", [])]
        return (reasons[0] if reasons else error.get("status", "")), str(error.get("message", ""))
    except (ValueError, KeyError, TypeError, AttributeError):
        return "", ""


def _status(exc: HttpError) -> tuple[int, str, str]:
    """The status, the first error reason, and "HTTP 403 forbidden" to say which in a message."""
    # a BatchError may come without a response
    status = exc.resp.status if exc.resp is not None else 0
    reason, _ = _error_reason(exc)
    return status, reason, f"HTTP {status}{f' {reason}' if reason else ''}"


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for index in range(0, len(items), size):
        yield items[index : index + size]


class GoogleConnector(Connector):
    """One seller's Google Calendar (see connectors.base.Connector)."""

    name = "google"
    batch_size = BATCH

    def __init__(
        self,
        self_email: str,
        credentials: Credentials,
        *,
        zone: ZoneInfo = ZoneInfo("UTC"),
        send_updates: str = "all",
        token_store: google_auth.TokenStore | None = None,
        on_refresh_failure: Callable[[google.auth.exceptions.GoogleAuthError], AuthError]
        | None = None,
        reauthorize: str = "run: callplan auth google ACCOUNT",
        transport: httplib2.Http | None = None,
        api_endpoint: str | None = None,
        page_size: int = PAGE,
        where: str = "google",
        **retry: Any,
    ) -> None:
        self.self_email = self_email.strip().lower()
        self.credentials = credentials
        self.zone = zone
        self.send_updates = send_updates
        self.where = where
        self.page_size = page_size
        # Google asks for 1 s, 2 s, 4 s...
        self.retry = Retrier(**{"attempts": 5, "backoff": 1.0, **retry})
        self._tokens = token_store
        self._reauthorize = reauthorize
        self._refresh_failure = on_refresh_failure or (
            lambda exc: AuthError(f"cannot refresh the Google token; {reauthorize}", where=where)
        )
        self._transport = transport or httplib2.Http(
            timeout=30, **shared.Environment().httplib2_settings()
        )
        self.http = CountingHttp(credentials, self._transport)
        self.batch_uri = urljoin(api_endpoint, "/batch/calendar/v3") if api_endpoint else BATCH_URI
        self.service = calendar_service(api_endpoint)  # shared: see _own
        self.events = calendar_events(api_endpoint)  # shared too

    @classmethod
    def from_account(
        cls, account: Account, *, token_uri: str | None = None, **kwargs: Any
    ) -> GoogleConnector:
        """A connector for a configured account; ConfigError/AuthError say which key or what to run.

        The account's `api_endpoint` and `token_uri` options lead to a gateway in front of
        Google; `transport` (an httplib2.Http) is the seam for a test's network knobs."""
        options = google_auth.parse_options(account)
        credentials, store = google_auth.load_credentials(account, options, token_uri)
        service = options.service_account_file is not None
        kwargs.setdefault("api_endpoint", options.api_endpoint)
        return cls(
            account.email,
            credentials,
            zone=account.settings.timezone,
            send_updates=options.send_updates,
            token_store=store,
            on_refresh_failure=lambda exc: google_auth.refresh_failure(exc, account, service),
            reauthorize=google_auth.reauthorize(account),
            where=account.where,
            **kwargs,
        )

    # --- sending requests ---

    def _own(self, request: HttpRequest) -> HttpRequest:
        """The request, to be sent through this connector's authorised http (its credentials
        and counter) rather than the shared service object's, which sends nothing."""
        request.http = self.http
        return request

    def _execute(self, request: HttpRequest, what: str) -> Any:
        """Execute one request: retried when throttled or failing transiently, errors translated.

        An answer that is not a JSON object (googleapiclient hands back the raw text) was cut short
        on the way: a read is tried again; a write went through but cannot be read back
        (BadDataError: the engine skips the change, and the next cycle finds the event by its
        tag)."""

        self._own(request)

        def send() -> Any:
            answer = request.execute(num_retries=0)
            if isinstance(answer, dict) or request.method == "DELETE":  # a deletion answers nothing
                return answer
            if request.method == "GET":
                raise Unreadable(f"{len(answer)} characters that are not a JSON object")
            raise BadDataError(f"{what}: Google's answer could not be read", where=self.where)

        return self._run(send, what)

    def _run(
        self,
        send: Callable[[], T],
        what: str,
        classify: Callable[[Any], Failure | None] | None = None,
    ) -> T:
        """Run `send` through the retrier (classified by `_retryable` unless told otherwise); a
        final refusal, or a token refresh Google refused, becomes its agent.core.errors class."""
        try:
            result = self.retry.run(
                send, classify or (lambda outcome: self._retryable(outcome, what))
            )
        except HttpError as exc:
            raise self._refused(exc, what) from None
        except google.auth.exceptions.RefreshError as exc:  # not retryable: the grant is gone
            raise self._refresh_failure(exc) from None
        if self._tokens is not None:
            self._tokens.save_if_refreshed(self.credentials)  # type: ignore[arg-type]
        return result

    def _retryable(self, outcome: Any, what: str) -> Failure | None:
        """The Failure to retry for, when Google throttles us or failed on its side or on the
        way; None for an outcome that is final (an answer, or an error `_run` translates)."""
        if isinstance(outcome, HttpError):
            status, reason, detail = _status(outcome)
            if status == 429 or (status == 403 and reason in RATE_REASONS):
                wait = self.retry.retry_after(outcome.resp)
                return Failure(
                    ThrottledError,
                    f"{what}: Google asks us to slow down ({detail})",
                    self.where,
                    wait,
                )
            if status >= 500:
                return Failure(TransientError, f"{what}: {detail}", self.where)
            return None
        if isinstance(outcome, google.auth.exceptions.RefreshError):
            return (
                Failure(TransientError, f"{what}: the token endpoint failed", self.where)
                if outcome.retryable
                else None
            )
        if isinstance(outcome, NETWORK_FAILURES):
            return Failure(TransientError, f"{what}: {type(outcome).__name__}", self.where)
        if isinstance(outcome, (http.client.HTTPException, Unreadable)):  # the answer was cut short
            return Failure(
                TransientError, f"{what}: incomplete answer ({type(outcome).__name__})", self.where
            )
        return None

    def _refused(self, exc: HttpError, what: str) -> ConnectorError:
        """The agent.core.errors class of an HTTP refusal that is not worth retrying."""
        status, reason, detail = _status(exc)
        if status == 401 or (status == 403 and reason in SCOPE_REASONS):
            return AuthError(
                f"{what}: Google refused the credentials ({detail}); {self._reauthorize}",
                where=self.where,
            )
        if status == 410 and reason == "fullSyncRequired":
            return SyncExpiredError(f"{what}: the sync token expired", where=self.where)
        if status in (404, 410):
            return GoneError(f"{what}: not found ({detail})", where=self.where)
        if status in (409, 412):
            return ConflictError(f"{what}: changed meanwhile ({detail})", where=self.where)
        message = _error_reason(exc)[1]
        return ConnectorError(
            f"{what}: Google refused the request ({detail}): {message[:200]}", where=self.where
        )

    def _pages(self, calendar: str, what: str, **params: Any) -> Iterator[dict[str, Any]]:
        """events.list pages, following pageToken by hand (list_next cannot repeat some
        parameters)."""
        token: str | None = None
        while True:
            page = self._execute(
                self.events.list(calendarId=calendar, pageToken=token, **params), what
            )
            yield page
            token = page.get("nextPageToken")
            if not token:
                return

    def _event(self, item: dict[str, Any], calendar: str) -> Event:
        return parse(item, calendar, self.self_email, self.zone)

    # --- reads ---

    @property
    def requests_sent(self) -> int:
        return self.http.sent

    def calendars(self) -> list[CalendarInfo]:
        """The calendars on the seller's calendar list; Google marks the primary one."""
        found: list[CalendarInfo] = []
        token: str | None = None
        while True:
            page = self._execute(
                self.service.calendarList().list(pageToken=token), "list calendars"
            )
            for item in page.get("items", []):
                if not item.get("deleted"):
                    name = item.get("summaryOverride") or item.get("summary") or item["id"]
                    found.append(
                        CalendarInfo(id=item["id"], name=name, primary=bool(item.get("primary")))
                    )
            token = page.get("nextPageToken")
            if not token:
                return found

    def changes(self, calendar: str, cursor: str | None, window: Window) -> Delta:
        """What changed since the cursor (the last nextSyncToken); a full read of the window without
        one."""
        before = self.http.sent
        delta = None
        if cursor:
            try:
                delta = self._read(calendar, window, cursor)
            except (SyncExpiredError, GoneError):
                log.info(
                    "calendar %s: the sync token is no longer valid; reading it in full", calendar
                )
        if delta is None:
            try:
                delta = self._read(calendar, window, None)
            except GoneError:
                raise ConnectorError(
                    f"calendar {calendar} not found, or not shared with {self.self_email}",
                    where=self.where,
                ) from None
        return replace(delta, requests=self.http.sent - before)

    def _read(self, calendar: str, window: Window, token: str | None) -> Delta:
        params: dict[str, Any] = {"singleEvents": True, "maxResults": self.page_size}
        if token:
            params["syncToken"] = token
        else:
            params["timeMin"] = rfc3339(window.widened(EDGE).start)
        upserted: dict[str, Event] = {}
        removed: set[str] = set()
        skipped: list[str] = []
        cursor: str | None = None
        for page in self._pages(calendar, f"read {calendar}", **params):
            for item in page.get("items", []):
                ident = item.get("id")
                if cancelled(item) and isinstance(ident, str):
                    upserted.pop(ident, None)
                    removed.add(ident)
                    continue
                try:
                    event = self._event(item, calendar)
                except BadDataError as exc:  # not reported removed either: we cannot tell
                    skipped.append(str(exc))
                    continue
                if window.holds(event.span):
                    upserted[event.ref] = event
                    removed.discard(event.ref)
                else:
                    upserted.pop(event.ref, None)
                    removed.add(event.ref)
            cursor = page.get("nextSyncToken") or cursor
        if not cursor:
            raise TransientError(
                f"read {calendar}: the last page carried no nextSyncToken", where=self.where
            )
        return Delta(
            upserted=tuple(upserted.values()),
            removed_refs=() if token is None else tuple(sorted(removed)),
            cursor=cursor,
            full=token is None,
            skipped=tuple(skipped),
        )

    def busy(self, calendars: list[str], window: Window) -> list[Interval]:
        """Busy times of other calendars from one free/busy query per 50 calendars."""
        spans: list[Interval] = []
        for chunk in _chunks(list(calendars), FREEBUSY_CALENDARS):
            body = {
                "timeMin": rfc3339(window.start),
                "timeMax": rfc3339(window.end),
                "items": [{"id": c} for c in chunk],
            }
            answer = self._execute(self.service.freebusy().query(body=body), "free/busy query")
            for calendar in chunk:
                entry = answer.get("calendars", {}).get(calendar, {})
                for error in entry.get("errors", []):
                    log.warning(
                        "busy calendar %s: Google reports %s",
                        calendar,
                        error.get("reason", "an error"),
                    )
                for period in entry.get("busy", []):
                    try:
                        start = datetime.fromisoformat(period["start"]).astimezone(self.zone)
                        end = datetime.fromisoformat(period["end"]).astimezone(self.zone)
                    except (KeyError, ValueError, TypeError):
                        log.warning("busy calendar %s: skipped a malformed busy period", calendar)
                        continue
                    spans.append(Interval(start, end))
        return sorted(spans)

    def find_owned(self, calendar: str) -> list[Event]:
        """Every event carrying one of our tags, at any date: one filtered list, paged by hand."""
        owned: list[Event] = []
        for page in self._pages(
            calendar,
            f"find tagged events in {calendar}",
            privateExtendedProperty=OWNED_FILTER,
            singleEvents=True,
            maxResults=self.page_size,
        ):
            for item in page.get("items", []):
                if cancelled(item):
                    continue
                try:
                    event = self._event(item, calendar)
                except BadDataError as exc:
                    log.warning("%s", exc)
                    continue
                if event.block_tag or event.agenda_tag:
                    owned.append(event)
        return owned

    def get(self, calendar: str, ref: str, key: str | None = None) -> Event | None:
        """Re-read one event (one request); None if it was deleted."""
        try:
            item = self._execute(
                self.events.get(calendarId=calendar, eventId=ref), f"read event {ref}"
            )
        except GoneError:
            return None
        return None if cancelled(item) else self._event(item, calendar)

    # --- writes ---

    def _conditional(self, request: HttpRequest, etag: str | None) -> HttpRequest:
        if etag:
            request.headers["If-Match"] = etag
        return request

    def create(self, calendar: str, block: BlockSpec) -> Event:
        """Insert a block under an id chosen here, without notifying anyone."""
        event_id = f"callplan{uuid.uuid4().hex}"  # base32hex, as the API requires of ids
        request = self.events.insert(
            calendarId=calendar, body=new_block(event_id, block), sendUpdates="none"
        )
        try:
            return self._event(self._execute(request, "create block"), calendar)
        # a retry after an answer that got lost: the first attempt went through
        except ConflictError as exc:
            recovered = self._recovered(calendar, event_id, block, exc)
            if isinstance(recovered, ConnectorError):
                raise recovered from None
            return recovered

    def create_many(self, calendar: str, blocks: list[BlockSpec]) -> list[Event | ConnectorError]:
        """Insert many blocks in batch requests of up to 50: one round trip per 50 blocks.

        Each block gets its own result, in order: the Event as stored, or the error of that
        insert. Inserts that were throttled or failed on the server's side are sent again, in
        a smaller batch, after the same backoff as a single request.
        """
        results: list[Event | ConnectorError] = []
        for start in range(0, len(blocks), BATCH):
            results += self._create_batch(calendar, blocks[start : start + BATCH])
        return results

    def _create_batch(self, calendar: str, blocks: list[BlockSpec]) -> list[Event | ConnectorError]:
        results: dict[int, Event | ConnectorError] = {}
        pending: dict[str, tuple[str, BlockSpec]] = {}
        for index, block in enumerate(blocks):
            try:
                pending[str(index)] = (f"callplan{uuid.uuid4().hex}", block)
                new_block(*pending[str(index)])  # refuse an oversized tag here, like create()
            except ConnectorError as exc:
                results[index] = exc
                del pending[str(index)]

        def send() -> list[Failure]:
            """One round: the inserts still pending; results kept, the failures to retry for
            returned."""
            answers: dict[str, tuple[Any, HttpError | None]] = {}
            batch = BatchHttpRequest(
                callback=lambda rid, item, exc: answers.__setitem__(rid, (item, exc)),
                batch_uri=self.batch_uri,
            )
            for rid, (event_id, block) in pending.items():
                batch.add(
                    self._own(
                        self.events.insert(
                            calendarId=calendar, body=new_block(event_id, block), sendUpdates="none"
                        )
                    ),
                    request_id=rid,
                )
            try:
                batch.execute(http=self.http)
            # parts missing: cut short; sent again (409 tells what went through)
            except (
                KeyError,
                BatchError,
            ) as error:
                raise Unreadable(
                    f"a batch answer without all its parts ({type(error).__name__})"
                ) from None
            failures: list[Failure] = []
            for rid, (item, exc) in answers.items():
                event_id, block = pending[rid]
                if exc is None and not isinstance(item, dict):
                    results[int(rid)] = BadDataError(
                        "create block: Google's answer could not be read", where=self.where
                    )
                elif exc is None:
                    results[int(rid)] = self._event(item, calendar)
                elif (failure := self._retryable(exc, "create block")) is not None:
                    # throttled or a server error: stays pending for the next round
                    failures.append(failure)
                    continue
                else:
                    results[int(rid)] = self._recovered(
                        calendar, event_id, block, self._refused(exc, "create block")
                    )
                del pending[rid]
            return failures

        what = f"create {len(pending)} blocks"
        if pending:
            try:
                self._run(
                    send,
                    what,
                    lambda outcome: (
                        slowest(outcome)
                        if isinstance(outcome, list)
                        else self._retryable(outcome, what)
                    ),
                )
            except ConnectorError as exc:
                results.update({int(rid): exc for rid in pending})
        return [results[index] for index in range(len(blocks))]

    def _recovered(
        self, calendar: str, event_id: str, block: BlockSpec, failure: ConnectorError
    ) -> Event | ConnectorError:
        """A failed insert: a 409 means an earlier attempt whose answer got lost went through."""
        if isinstance(failure, ConflictError):
            existing = self.get(calendar, event_id)
            if existing is not None and existing.block_tag == block.tag:
                return existing
        return failure

    def update(self, calendar: str, current: Event, block: BlockSpec) -> Event:
        """PATCH the title, text, times and tag of a block, if nobody changed it since it was
        read."""
        request = self.events.patch(
            calendarId=calendar, eventId=current.ref, body=block_fields(block), sendUpdates="none"
        )
        return self._event(
            self._execute(self._conditional(request, current.etag), f"update block {current.ref}"),
            calendar,
        )

    def delete(self, calendar: str, current: Event) -> None:
        """Delete a block if unchanged; ConflictError if someone edited it, GoneError if it is
        gone."""
        request = self.events.delete(calendarId=calendar, eventId=current.ref, sendUpdates="none")
        self._execute(self._conditional(request, current.etag), f"delete block {current.ref}")

    def set_description(
        self, calendar: str, meeting: Event, text: str, agenda: AgendaTag | None, notify: bool
    ) -> Event:
        """PATCH a meeting's description and agenda tag, notifying attendees only when asked to."""
        request = self.events.patch(
            calendarId=calendar,
            eventId=meeting.ref,
            body=agenda_patch(text, agenda),
            sendUpdates=self.send_updates if notify else "none",
        )
        return self._event(
            self._execute(
                self._conditional(request, meeting.etag), f"write the agenda of {meeting.ref}"
            ),
            calendar,
        )

    def close(self) -> None:
        """Close the HTTP connections."""
        self._transport.close()
