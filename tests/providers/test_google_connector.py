"""The Google connector against the Calendar v3 fake, through the real googleapiclient.

Dates are fixed in March and April 2030 (Berlin switches to summer time on 31 March).
"""

from __future__ import annotations

import gc
import logging
import tracemalloc
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from agent.core.errors import (
    AuthError,
    BadDataError,
    ConnectorError,
    ThrottledError,
    TransientError,
)
from agent.core.model import AgendaTag, BlockSpec, BlockTag, Interval, Kind, Response, Window
from connectors import google_auth
from connectors.google import GoogleConnector
from connectors.google_events import PREFIX
from tests.providers.connector_contract import ConnectorContract
from tests.support.fakes.google_calendar import GoogleCalendarFake
from tests.support.harness.google import SELLER, ZONE, GoogleHarness, when
from tests.support.servers.proxy import FaultProxy, Truncate

WINDOW = Window(datetime(2030, 3, 17, tzinfo=ZONE), datetime(2030, 4, 3, tzinfo=ZONE))


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2030, 3, day, hour, minute, tzinfo=ZONE)


def block(meeting_key: str = "m1", start: datetime | None = None) -> BlockSpec:
    start = start or at(20, 9, 45)
    tag = BlockTag(
        Kind.PREP,
        meeting_key,
        Interval(start, start + timedelta(minutes=15)),
        Interval(at(20, 10), at(20, 11)),
        "f00d",
    )
    return BlockSpec("Prep: Globex", start, start + timedelta(minutes=15), "1. Read the notes", tag)


@pytest.fixture
def harness(google_harness: GoogleHarness) -> GoogleHarness:
    return google_harness


@pytest.fixture
def connector(harness: GoogleHarness, sleeps: list[float]) -> GoogleConnector:
    return harness.connector(sleep=sleeps.append)


def meeting(
    harness: GoogleHarness, title: str = "Globex", start: datetime | None = None, **extra: object
) -> str:
    return harness.add_meeting(title, start or at(20, 10), **extra)  # type: ignore[arg-type]


# --- reading -----------------------------------------------------------------------------------


def test_a_full_read_has_the_window_one_event_per_instance(
    harness: GoogleHarness, connector: GoogleConnector
) -> None:
    key = meeting(harness, description="Dial-in 555")
    harness.add_meeting("Last month", at(1, 10))
    harness.add_meeting("Next year", datetime(2031, 1, 6, 10, tzinfo=ZONE))
    series = harness.fake.insert(
        harness.calendar,
        {
            "summary": "Weekly",
            "start": when(at(18, 12)),
            "end": when(at(18, 12, 30)),
            "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=6"],
        },
    )["id"]
    harness.fake.insert(
        harness.calendar,
        {"summary": "Offsite", "start": {"date": "2030-03-21"}, "end": {"date": "2030-03-22"}},
    )
    delta = connector.changes(harness.calendar, None, WINDOW)
    assert delta.full and delta.cursor and delta.requests == 1 and not delta.skipped
    events = {event.key: event for event in delta.upserted}
    ours = events[key]
    assert (ours.title, ours.start, ours.end, ours.description) == (
        "Globex",
        at(20, 10),
        at(20, 11),
        "Dial-in 555",
    )
    assert ours.self_is_organizer and ours.self_response is Response.ACCEPTED and ours.etag
    assert [a.email for a in ours.attendees] == ["dana@globex.example", SELLER]
    weekly = sorted(e for e in events if e.startswith(f"{series}_"))
    assert len(weekly) == 3  # 18 and 25 March, 1 April: the window ends on 3 April
    assert weekly[-1].endswith("_20300401T100000Z")  # summer time: 12:00 in Berlin is 10:00 UTC
    assert all(events[k].recurring and events[k].start.hour == 12 for k in weekly)
    offsite = next(e for e in events.values() if e.title == "Offsite")
    assert offsite.all_day and offsite.start == at(21, 0)
    assert not {"Last month", "Next year"} & {e.title for e in events.values()}


def test_pages_are_followed_and_only_the_last_one_gives_the_cursor(harness: GoogleHarness) -> None:
    for day in range(18, 25):
        meeting(harness, f"Call {day}", at(day, 10))
    connector = harness.connector(page_size=3)
    delta = connector.changes(harness.calendar, None, WINDOW)
    assert delta.requests == 3 and len(delta.upserted) == 7 and delta.cursor
    assert all("pageToken" in entry.query for entry in harness.fake.log[-2:])


def test_a_quiet_calendar_costs_one_request_and_a_change_comes_back_alone(
    harness: GoogleHarness, connector: GoogleConnector
) -> None:
    first = meeting(harness)
    second = meeting(harness, "Initech", at(21, 10))
    start = connector.changes(harness.calendar, None, WINDOW)
    quiet = connector.changes(harness.calendar, start.cursor, WINDOW)
    assert (quiet.requests, quiet.upserted, quiet.removed_refs, quiet.full) == (1, (), (), False)
    assert quiet.cursor == start.cursor  # nothing changed: Google gives the same token back
    harness.edit_meeting(second, title="Initech (moved)", start=at(22, 10))
    changed = connector.changes(harness.calendar, quiet.cursor, WINDOW)
    assert (
        changed.requests == 1
        and [e.key for e in changed.upserted] == [second]
        and changed.upserted[0].start == at(22, 10)
    )
    query = harness.fake.log[-1].query
    # nothing the API forbids with a token
    assert set(query) == {
        "syncToken",
        "singleEvents",
        "maxResults",
        "alt",
    }
    assert first not in changed.removed_refs


def test_deletions_and_moves_out_of_the_window_are_removals(
    harness: GoogleHarness, connector: GoogleConnector
) -> None:
    gone, away, kept = (
        meeting(harness, "Gone"),
        meeting(harness, "Away", at(21, 10)),
        meeting(harness, "Kept", at(22, 10)),
    )
    series = harness.fake.insert(
        harness.calendar,
        {
            "summary": "Daily",
            "start": when(at(25, 9)),
            "end": when(at(25, 9, 15)),
            "recurrence": ["RRULE:FREQ=DAILY;COUNT=3"],
        },
    )["id"]
    skipped_instance = f"{series}_20300326T080000Z"
    start = connector.changes(harness.calendar, None, WINDOW)
    assert skipped_instance in {e.key for e in start.upserted}
    harness.fake.delete(harness.calendar, gone)
    harness.edit_meeting(away, start=datetime(2030, 5, 1, 10, tzinfo=ZONE))
    harness.fake.delete(harness.calendar, skipped_instance)  # one instance of the series
    delta = connector.changes(harness.calendar, start.cursor, WINDOW)
    assert set(delta.removed_refs) == {gone, away, skipped_instance} and delta.upserted == ()
    harness.fake.delete(harness.calendar, series)  # the whole series: each instance is reported
    delta = connector.changes(harness.calendar, delta.cursor, WINDOW)
    assert set(delta.removed_refs) == {
        f"{series}_20300325T080000Z",
        f"{series}_20300327T080000Z",
    } | {skipped_instance}
    assert (
        connector.get(harness.calendar, gone) is None
        and connector.get(harness.calendar, kept) is not None
    )


def test_an_expired_sync_token_means_a_full_read(
    harness: GoogleHarness, connector: GoogleConnector
) -> None:
    meeting(harness)
    start = connector.changes(harness.calendar, None, WINDOW)
    harness.fake.expire_sync_tokens(harness.calendar)
    delta = connector.changes(harness.calendar, start.cursor, WINDOW)
    # the 410, then the full read
    assert delta.full and len(delta.upserted) == 1 and delta.requests == 2
    assert delta.cursor != start.cursor


def test_a_malformed_event_is_skipped_with_a_reason_and_the_rest_is_read(
    harness: GoogleHarness, connector: GoogleConnector
) -> None:
    start = connector.changes(harness.calendar, None, WINDOW)
    key = meeting(harness)
    harness.fake.put_raw(
        harness.calendar,
        {
            "id": "brokenevent1",
            "summary": "No end",
            "start": {"dateTime": "2030-03-20T09:00:00+01:00"},
        },
    )
    harness.fake.put_raw(
        harness.calendar,
        {"id": "brokenevent2", "start": {"dateTime": "yesterday"}, "end": {"date": "2030-03-20"}},
    )
    delta = connector.changes(harness.calendar, start.cursor, WINDOW)
    assert [e.key for e in delta.upserted] == [key] and delta.removed_refs == ()
    assert sorted(delta.skipped) == [
        f"{SELLER}/brokenevent1: skipped malformed event: end is missing",
        f"{SELLER}/brokenevent2: skipped malformed event: Invalid isoformat string: 'yesterday'",
    ]


def test_a_customer_organised_meeting_and_a_declined_one_read_as_such(
    harness: GoogleHarness, connector: GoogleConnector
) -> None:
    theirs = meeting(harness, organizer="eli@initech.example", guests=["eli@initech.example"])
    declined = meeting(harness, "Declined", at(21, 10))
    harness.edit_meeting(declined, decline=True)
    events = {e.key: e for e in connector.changes(harness.calendar, None, WINDOW).upserted}
    assert (
        not events[theirs].self_is_organizer and events[theirs].organizer == "eli@initech.example"
    )
    assert events[declined].self_response is Response.DECLINED and not events[declined].busy


# --- writing -----------------------------------------------------------------------------------


def test_a_block_is_private_busy_silent_and_carries_its_tag(
    harness: GoogleHarness, connector: GoogleConnector
) -> None:
    created = connector.create(harness.calendar, block())
    stored = harness.fake.get(harness.calendar, created.ref)
    assert (stored["visibility"], stored["transparency"], stored["reminders"]) == (
        "private",
        "opaque",
        {"useDefault": False},
    )
    assert "attendees" not in stored and harness.fake.emails == {}
    assert stored["extendedProperties"]["private"][f"{PREFIX}kind"] == "prep"
    assert created.block_tag == block().tag and created.private and not created.transparent
    assert harness.fake.log[-1].query["sendUpdates"] == ["none"]
    assert [e.ref for e in connector.find_owned(harness.calendar)] == [created.ref]


def test_an_insert_whose_answer_was_lost_is_not_doubled(
    harness: GoogleHarness, connector: GoogleConnector, sleeps: list[float]
) -> None:
    harness.fake.fail(503, times=1, method="POST", after=True)
    created = connector.create(harness.calendar, block())
    assert sleeps == [0.5] and created.block_tag == block().tag
    assert len(connector.find_owned(harness.calendar)) == 1


def test_removing_the_agenda_deletes_its_tag_properties(
    harness: GoogleHarness, connector: GoogleConnector
) -> None:
    """The PATCH sets each of its properties to null, which removes it (an empty value would
    stay)."""
    key = meeting(harness, description="Intro")
    current = connector.get(harness.calendar, key)
    assert current is not None
    written = connector.set_description(
        harness.calendar, current, "Intro\n\nAGENDA", AgendaTag(key, "c0ffee", "\n\n"), notify=True
    )
    connector.set_description(harness.calendar, written, "Intro", None, notify=False)
    assert not any(
        k.startswith(PREFIX)
        for k in harness.fake.get(harness.calendar, key)
        .get("extendedProperties", {})
        .get("private", {})
    )


def test_external_only_notifies_guests_outside_google(google_fake: GoogleCalendarFake) -> None:
    google_fake.google_domains.add("globex.example")
    harness = GoogleHarness(google_fake)
    key = meeting(harness, guests=["dana@globex.example", "pat@umbrella.example"])
    connector = harness.connector(send_updates="externalOnly")
    current = connector.get(harness.calendar, key)
    assert current is not None
    connector.set_description(
        harness.calendar, current, "AGENDA", AgendaTag(key, "1", ""), notify=True
    )
    assert harness.fake.emails == {"pat@umbrella.example": 1}
    harness.close()


def test_a_meeting_someone_else_organises_cannot_be_rewritten(
    harness: GoogleHarness, connector: GoogleConnector
) -> None:
    key = meeting(harness, organizer="eli@initech.example", guests=["eli@initech.example"])
    current = connector.get(harness.calendar, key)
    assert current is not None
    with pytest.raises(ConnectorError, match="forbiddenForNonOrganizer"):
        connector.set_description(
            harness.calendar, current, "ours now", AgendaTag(key, "1", ""), notify=False
        )


def test_an_agenda_on_one_instance_of_a_series_stays_on_that_instance(
    harness: GoogleHarness, connector: GoogleConnector
) -> None:
    series = harness.fake.insert(
        harness.calendar,
        {
            "summary": "Weekly with Globex",
            "start": when(at(18, 10)),
            "end": when(at(18, 11)),
            "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=3"],
            "attendees": [{"email": "dana@globex.example"}, {"email": SELLER}],
        },
    )["id"]
    key = f"{series}_20300325T090000Z"
    instance = connector.get(harness.calendar, key)
    assert instance is not None and instance.recurring
    connector.set_description(
        harness.calendar, instance, "AGENDA", AgendaTag(key, "1", ""), notify=False
    )
    owned = connector.find_owned(harness.calendar)
    assert [(e.key, e.agenda_tag.meeting_key) for e in owned if e.agenda_tag] == [(key, key)]
    delta = connector.changes(harness.calendar, None, WINDOW)
    assert {e.key: e.description for e in delta.upserted} == {
        f"{series}_20300318T090000Z": "",
        key: "AGENDA",
        f"{series}_20300401T080000Z": "",
    }


def test_a_tag_google_would_cut_is_refused_before_sending(
    harness: GoogleHarness, connector: GoogleConnector
) -> None:
    sent = harness.fake.requests
    with pytest.raises(ConnectorError, match="too long"):
        connector.create(harness.calendar, block(meeting_key="x" * 1100))
    assert harness.fake.requests == sent


# --- free/busy ------------------------------------------------------------------------------------


def test_busy_times_come_from_one_free_busy_query(
    harness: GoogleHarness, caplog: pytest.LogCaptureFixture
) -> None:
    personal = harness.fake.add_calendar("alex.private@gmail.example")
    harness.fake.share(personal, SELLER, "freeBusyReader")
    harness.fake.insert(
        personal, {"summary": "Dentist", "start": when(at(20, 8)), "end": when(at(20, 9))}
    )
    harness.fake.insert(
        personal,
        {
            "summary": "Free",
            "start": when(at(20, 12)),
            "end": when(at(20, 13)),
            "transparency": "transparent",
        },
    )
    connector = harness.connector(
        credentials=harness.credentials(
            [google_auth.EVENTS, google_auth.CALENDAR_LIST, google_auth.FREEBUSY]
        )
    )
    sent = harness.fake.requests
    with caplog.at_level(logging.WARNING):
        spans = connector.busy([personal, "nobody@nowhere.example"], WINDOW)
    assert spans == [Interval(at(20, 8), at(20, 9))] and harness.fake.requests == sent + 1
    assert "nobody@nowhere.example: Google reports notFound" in caplog.text


def test_connectors_share_one_parse_of_the_api_description(harness: GoogleHarness) -> None:
    """A process serving many sellers holds one Calendar API description, one service object
    built from it and one events resource, not one per seller (googleapiclient's own build()
    parses half a megabyte for every service object, each holds a tree of generated methods, and
    `service.events()` generates the collection's methods anew at every call)."""
    credentials = harness.credentials()
    # the shared parse, made once
    GoogleConnector(SELLER, credentials, api_endpoint=harness.api).close()
    gc.collect()
    tracemalloc.start()
    try:
        connectors = [
            GoogleConnector(SELLER, credentials, api_endpoint=harness.api) for _ in range(20)
        ]
        for connector in connectors:
            connector.events.list(calendarId=harness.calendar)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert all(connector.service is connectors[0].service for connector in connectors)
    assert all(connector.events is connectors[0].events for connector in connectors)
    assert grown / len(connectors) < 40_000, f"{grown / len(connectors):,.0f} bytes per connector"
    assert len(connectors[0].changes(harness.calendar, None, WINDOW).upserted) == 0


def test_sellers_on_the_shared_service_object_read_with_their_own_credentials(
    harness: GoogleHarness,
) -> None:
    """Each connector sends through its own authorised http: a seller sees their own calendar,
    counts their own requests, and one whose grant is gone fails alone."""
    other = GoogleHarness(harness.fake, "kim@acme.example")
    try:
        harness.add_meeting("Ours", at(20, 10))
        other.add_meeting("Theirs", at(20, 11))
        ours, theirs = harness.connector(), other.connector()
        assert ours.service is theirs.service
        titles = [
            [event.title for event in connector.changes(calendar, None, WINDOW).upserted]
            for connector, calendar in ((ours, harness.calendar), (theirs, other.calendar))
        ]
        assert titles == [["Ours"], ["Theirs"]]
        assert ours.http.sent == theirs.http.sent == 1
        harness.fake.oauth.expire_access_tokens()
        harness.fake.oauth.revoke(ours.credentials.refresh_token)  # type: ignore[attr-defined]
        with pytest.raises(AuthError):
            ours.changes(harness.calendar, None, WINDOW)
        assert len(theirs.changes(other.calendar, None, WINDOW).upserted) == 1  # refreshed
    finally:
        other.close()


# --- errors and retries ---------------------------------------------------------------------------


def test_throttling_is_retried_with_jittered_backoff(
    harness: GoogleHarness, connector: GoogleConnector, sleeps: list[float]
) -> None:
    harness.fake.fail(429, times=1)
    harness.fake.fail(403, "userRateLimitExceeded", times=1)
    harness.fake.fail(503, times=1)
    delta = connector.changes(harness.calendar, None, WINDOW)
    # random() is 0.5: half of 1, 2, 4 seconds
    assert delta.requests == 4 and sleeps == [
        0.5,
        1.0,
        2.0,
    ]


def test_retry_after_is_honoured_and_retries_are_bounded(
    harness: GoogleHarness, connector: GoogleConnector, sleeps: list[float]
) -> None:
    harness.fake.fail(429, times=5, retry_after=7)
    with pytest.raises(ThrottledError) as raised:
        connector.changes(harness.calendar, None, WINDOW)
    assert (
        sleeps == [7, 7, 7, 7]
        and raised.value.retry_after == 7
        and "gave up after 5 attempts" in str(raised.value)
    )
    harness.fake.fail(500, times=5)
    with pytest.raises(TransientError):
        connector.get(harness.calendar, "whatever")


def test_retry_after_as_an_http_date_is_honoured(
    harness: GoogleHarness, sleeps: list[float]
) -> None:
    now = datetime(2030, 3, 17, 8, 0, tzinfo=UTC)
    connector = harness.connector(sleep=sleeps.append, clock=lambda: now)
    harness.fake.fail(
        429, times=2, retry_after=format_datetime(now + timedelta(seconds=7), usegmt=True)
    )
    assert connector.changes(harness.calendar, None, WINDOW).requests == 3 and sleeps == [7.0, 7.0]
    harness.fake.fail(
        429, times=1, retry_after=format_datetime(now + timedelta(hours=1), usegmt=True)
    )
    # longer than we may wait
    with pytest.raises(ThrottledError, match="gave up after 1 attempts") as raised:
        connector.changes(harness.calendar, None, WINDOW)
    assert raised.value.retry_after == 3600.0 and sleeps == [7.0, 7.0]


def test_a_batch_insert_throttled_for_good_fails_alone_under_its_own_name(
    harness: GoogleHarness, connector: GoogleConnector, sleeps: list[float]
) -> None:
    """The other inserts of the batch are stored; the throttled one is sent again, alone, and
    its error names the insert, not the batch."""
    blocks = [replace(block(f"m{n}", at(20, 8 + n)), description=f"notes {n}") for n in range(3)]
    harness.fake.fail(429, times=10, method="POST", body="notes 1")
    created = connector.create_many(harness.calendar, blocks)
    assert [event.block_tag for event in created if not isinstance(event, Exception)] == [
        blocks[0].tag,
        blocks[2].tag,
    ]
    assert isinstance(created[1], ThrottledError)
    assert str(created[1]) == (
        "google: create block: Google asks us to slow down (HTTP 429 rateLimitExceeded); gave up "
        "after 5 attempts"
    )
    assert sleeps == [0.5, 1.0, 2.0, 4.0] and len(harness.fake.events(harness.calendar)) == 2
    assert (
        sum(1 for entry in harness.fake.log if entry.in_batch and entry.method == "POST") == 3 + 4
    )


def test_an_answer_cut_short_is_read_again_and_a_write_whose_answer_is_unreadable_is_skipped(
    harness: GoogleHarness, google_fake: GoogleCalendarFake, sleeps: list[float]
) -> None:
    """A dropped connection mid-body (IncompleteRead) and a body cut short (not JSON) are
    transient for a read; a write went through, but its answer cannot be read (BadDataError)."""
    key = meeting(harness, description="Intro")
    with FaultProxy(google_fake.url).running() as proxy:
        connector = GoogleConnector(
            SELLER,
            harness.credentials(),
            zone=ZONE,
            api_endpoint=proxy.url + "calendar/v3/",
            sleep=sleeps.append,
            random=lambda: 0.5,
        )
        proxy.queue += [Truncate(0.5, dropped=True), Truncate(0.5, dropped=False)]
        delta = connector.changes(harness.calendar, None, WINDOW)
        assert (
            [e.key for e in delta.upserted] == [key]
            and delta.requests == 3
            and sleeps == [0.5, 1.0]
        )
        proxy.queue.append(Truncate(0.5, dropped=False))
        with pytest.raises(BadDataError, match="Google's answer could not be read"):
            connector.set_description(
                harness.calendar,
                delta.upserted[0],
                "Intro\n\nAGENDA",
                AgendaTag(key, "c0ffee", "\n\n"),
                notify=False,
            )
    assert harness.fake.get(harness.calendar, key)["description"] == "Intro\n\nAGENDA"


def test_a_batch_answer_cut_short_is_sent_again_without_doubling_a_block(
    harness: GoogleHarness, google_fake: GoogleCalendarFake
) -> None:
    """The inserts went through but the answer lost parts: the batch is sent again, and each
    insert that had gone through comes back as 409 and is recognised by its id."""
    blocks = [block(f"m{n}", at(20, 8 + n)) for n in range(3)]
    with FaultProxy(google_fake.url).running() as proxy:
        connector = GoogleConnector(
            SELLER,
            harness.credentials(),
            zone=ZONE,
            api_endpoint=proxy.url + "calendar/v3/",
            sleep=lambda seconds: None,
            random=lambda: 0.5,
        )
        proxy.queue.append(Truncate(0.6, dropped=False))
        created = connector.create_many(harness.calendar, blocks)
    assert [getattr(event, "block_tag", event) for event in created] == [b.tag for b in blocks]
    assert len(google_fake.events(harness.calendar)) == 3


def test_other_refusals_are_not_retried(
    harness: GoogleHarness, connector: GoogleConnector, sleeps: list[float]
) -> None:
    harness.fake.fail(403, "forbidden", times=1)
    with pytest.raises(ConnectorError, match="HTTP 403 forbidden"):
        connector.changes(harness.calendar, None, WINDOW)
    assert sleeps == []


def test_an_expired_access_token_is_refreshed_silently(
    harness: GoogleHarness, connector: GoogleConnector
) -> None:
    meeting(harness)
    harness.fake.oauth.expire_access_tokens()
    assert len(connector.changes(harness.calendar, None, WINDOW).upserted) == 1
    assert harness.fake.oauth.token_requests == ["refresh_token"]


def test_a_revoked_authorisation_is_one_line_saying_what_to_run(harness: GoogleHarness) -> None:
    credentials = harness.credentials()
    connector = harness.connector(
        credentials=credentials, reauthorize="run: callplan auth google work"
    )
    harness.fake.oauth.revoke(credentials.refresh_token)
    with pytest.raises(AuthError) as raised:
        connector.changes(harness.calendar, None, WINDOW)
    message = str(raised.value)
    assert "run: callplan auth google work" in message and "\n" not in message
    assert credentials.refresh_token not in message and (credentials.token or "-") not in message


def test_a_missing_scope_is_an_auth_error(harness: GoogleHarness) -> None:
    connector = harness.connector(credentials=harness.credentials([google_auth.CALENDAR_LIST]))
    with pytest.raises(AuthError, match="insufficientPermissions"):
        connector.changes(harness.calendar, None, WINDOW)


# --- the connector contract ------------------------------------------------------------------


class TestContract(ConnectorContract):
    """The contract on the Calendar API fake, with every scope the agent may ask for."""

    @pytest.fixture
    def harness(self, google_harness: GoogleHarness) -> GoogleHarness:
        return google_harness

    @pytest.fixture
    def connector(self, harness: GoogleHarness) -> GoogleConnector:
        return harness.connector(
            credentials=harness.credentials(
                [google_auth.EVENTS, google_auth.CALENDAR_LIST, google_auth.FREEBUSY]
            )
        )

    @pytest.fixture
    def served(self, google_fake: GoogleCalendarFake) -> Callable[[], int]:
        return lambda: google_fake.requests

    @pytest.fixture
    def refuse(self, google_fake: GoogleCalendarFake) -> Callable[[str], None]:
        return lambda text: google_fake.fail(400, "invalid", method="POST", body=text)
