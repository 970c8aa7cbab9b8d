"""The Calendar v3 fake refuses what the real API refuses, so connector tests on it mean something.

Driven through the real googleapiclient, like the connector.
"""

from __future__ import annotations

from typing import Any

import pytest
from googleapiclient.discovery import build_from_document
from googleapiclient.errors import HttpError
from googleapiclient.http import BatchHttpRequest, HttpRequest

from connectors.google import calendar_api
from tests.providers.test_google_connector import at
from tests.support.harness.google import SELLER, GoogleHarness, when


class Api:
    """googleapiclient's service object for the fake, sending through the seller's authorised
    http (the connectors' shared one sends only through the http a connector gives each
    request)."""

    def __init__(self, harness: GoogleHarness) -> None:
        connector = harness.connector()
        self.http, self.batch_uri = connector.http, connector.batch_uri
        options = {"api_endpoint": harness.api}
        self.service = build_from_document(calendar_api(), http=self.http, client_options=options)


@pytest.fixture
def api(google_harness: GoogleHarness) -> Api:
    return Api(google_harness)


def refused(request: HttpRequest) -> tuple[int, str]:
    with pytest.raises(HttpError) as raised:
        request.execute()
    error = raised.value
    return error.resp.status, error.error_details[0]["reason"] if error.error_details else ""


def event(**extra: Any) -> dict[str, Any]:
    return {"summary": "Call", "start": when(at(20, 10)), "end": when(at(20, 11)), **extra}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (event(colour="red"), "badRequest"),  # not a field of Event
        # not a field of EventAttendee
        (
            event(attendees=[{"email": "a@b.example", "rsvp": True}]),
            "badRequest",
        ),
        (event(guestsCanModify="yes"), "invalid"),  # a boolean
        (event(sequence=1.5), "invalid"),  # an int32
        (event(visibility="secret"), "invalid"),  # not a documented value
        (event(extendedProperties={"private": {"k": 1}}), "invalid"),  # values are strings
        (event(start={"dateTime": "2030-03-20T10:00:00"}), "invalid"),  # no offset and no timeZone
        ({"summary": "No times"}, "required"),
        (event(end=when(at(20, 9))), "timeRangeEmpty"),
        (event(id="Upper_Case"), "invalid"),  # ids are base32hex
    ],
)
def test_bodies_the_api_would_refuse_are_refused(
    api: Api, body: dict[str, Any], reason: str
) -> None:
    assert refused(api.service.events().insert(calendarId=SELLER, body=body)) == (400, reason)


def test_a_sync_token_takes_none_of_the_filters_the_reference_forbids(api: Api) -> None:
    token = (
        api.service.events().list(calendarId=SELLER, singleEvents=True).execute()["nextSyncToken"]
    )
    for forbidden in (
        {"timeMin": "2030-03-01T00:00:00Z"},
        {"timeMax": "2030-03-01T00:00:00Z"},
        {"orderBy": "updated"},
        {"q": "x"},
        {"privateExtendedProperty": "a=b"},
        {"showDeleted": False},
    ):
        request = api.service.events().list(
            calendarId=SELLER, singleEvents=True, syncToken=token, **forbidden
        )
        assert refused(request) == (400, "invalid")
    # not the initial singleEvents
    assert refused(api.service.events().list(calendarId=SELLER, syncToken=token)) == (
        400,
        "invalid",
    )


def test_conditional_writes_duplicate_ids_and_deleted_events(
    api: Api, google_harness: GoogleHarness
) -> None:
    created = (
        api.service.events().insert(calendarId=SELLER, body=event(id="callplan0001")).execute()
    )
    assert refused(
        api.service.events().insert(calendarId=SELLER, body=event(id="callplan0001"))
    ) == (409, "duplicate")
    google_harness.fake.patch(SELLER, "callplan0001", {"summary": "A person renamed it"})
    stale = api.service.events().patch(
        calendarId=SELLER, eventId="callplan0001", body={"summary": "Ours"}
    )
    stale.headers["If-Match"] = created["etag"]
    assert refused(stale) == (412, "conditionNotMet")
    api.service.events().delete(calendarId=SELLER, eventId="callplan0001").execute()
    assert refused(api.service.events().delete(calendarId=SELLER, eventId="callplan0001")) == (
        410,
        "deleted",
    )
    assert (
        api.service.events().get(calendarId=SELLER, eventId="callplan0001").execute()["status"]
        == "cancelled"
    )


def test_private_properties_filter_and_obey_the_documented_limits(api: Api) -> None:
    long_key, long_value = "k" * 45, "v" * 1100
    properties = {"callplan_agent": "callplan", long_key: "dropped", "long": long_value}
    api.service.events().insert(
        calendarId=SELLER, body=event(extendedProperties={"private": properties})
    ).execute()
    api.service.events().insert(calendarId=SELLER, body=event(summary="Other")).execute()
    found = (
        api.service.events()
        .list(calendarId=SELLER, privateExtendedProperty="callplan_agent=callplan")
        .execute()["items"]
    )
    assert [item["summary"] for item in found] == ["Call"]
    stored = found[0]["extendedProperties"]["private"]
    assert long_key not in stored and stored["long"] == long_value[:1024]


def test_a_batch_answers_each_part_and_holds_at_most_fifty(
    api: Api, google_harness: GoogleHarness
) -> None:
    answers: dict[str, tuple[Any, Any]] = {}
    batch = BatchHttpRequest(
        callback=lambda rid, item, exc: answers.__setitem__(rid, (item, exc)),
        batch_uri=api.batch_uri,
    )
    batch.add(api.service.events().insert(calendarId=SELLER, body=event()), request_id="good")
    batch.add(
        api.service.events().insert(calendarId=SELLER, body=event(colour="red")), request_id="bad"
    )
    batch.add(api.service.events().get(calendarId=SELLER, eventId="nothere"), request_id="missing")
    before = google_harness.fake.requests
    batch.execute(http=api.http)
    assert google_harness.fake.requests == before + 1
    assert answers["good"][0]["summary"] == "Call" and answers["good"][1] is None
    assert answers["bad"][1].resp.status == 400 and answers["missing"][1].resp.status == 404
    too_big = BatchHttpRequest(batch_uri=api.batch_uri)
    for _ in range(51):
        too_big.add(api.service.events().get(calendarId=SELLER, eventId="nothere"))
    with pytest.raises(HttpError):
        too_big.execute(http=api.http)


def test_calendars_others_own_need_access(api: Api, google_harness: GoogleHarness) -> None:
    other = google_harness.fake.add_calendar("eli@initech.example")
    assert refused(api.service.events().list(calendarId=other)) == (404, "notFound")
    google_harness.fake.share(other, SELLER, "reader")
    api.service.events().list(calendarId=other).execute()
    assert refused(api.service.events().insert(calendarId=other, body=event())) == (
        403,
        "requiredAccessLevel",
    )
