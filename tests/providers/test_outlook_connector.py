"""The Outlook connector against the fake Graph: delta reads and their cost, resets, throttling,
etags, extended properties, HTML bodies and notifications."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

from agent.config.settings import parse
from agent.core.errors import BadDataError, ThrottledError, TransientError
from agent.core.model import BlockSpec, BlockTag, BodyFormat, Interval, Kind, Response, Status
from agent.state.sqlite import SqliteStore
from agent.sync.engine import AccountSync, window_for
from agent.sync.undo import undo
from agent.text.render import Renderer
from agent.text.splice import BEGIN, AgendaState
from agent.text.splice.html import HTML
from connectors.graph_http import GraphSession
from connectors.outlook import OutlookConnector
from tests.providers.connector_contract import ConnectorContract
from tests.support.fakes.graph import GraphFake
from tests.support.harness.outlook import SELLER, ZONE, OutlookHarness, graph_time, person
from tests.support.helpers import AUTO
from tests.support.servers.proxy import FaultProxy, Truncate

MONDAY = datetime(2030, 3, 18, 7, 0, tzinfo=ZONE)
WINDOW = window_for(MONDAY, 14, ZONE)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2030, 3, 18, hour, minute, tzinfo=ZONE) + timedelta(days=day)


def connect(
    harness: OutlookHarness, sleeps: list[float] | None = None, **options: object
) -> OutlookConnector:
    account = harness.account.model_copy(update={"options": {**harness.account.options, **options}})
    session = GraphSession(sleep=(sleeps if sleeps is not None else []).append, random=lambda: 0.5)
    return OutlookConnector.from_account(
        account, session=session, http_client=harness.authority.http_client()
    )


def block(start: datetime, text: str = "notes") -> BlockSpec:
    meeting = Interval(start + timedelta(minutes=15), start + timedelta(minutes=75))
    tag = BlockTag(Kind.PREP, "m1", Interval(start, start + timedelta(minutes=15)), meeting, "c")
    return BlockSpec("Prep: Globex", start, start + timedelta(minutes=15), text, tag)


def test_a_quiet_calendar_costs_one_request_and_k_changes_cost_one_batch_per_twenty(
    outlook_harness: OutlookHarness,
) -> None:
    harness = outlook_harness
    keys = [harness.add_meeting(f"Meeting {n}", at(n % 5, 9 + n % 8)) for n in range(30)]
    connector = connect(harness)
    first = connector.changes(harness.calendar, None, WINDOW)
    # delta round + calendarView
    assert first.full and len(first.upserted) == 30 and first.requests == 2
    quiet = connector.changes(harness.calendar, first.cursor, WINDOW)
    assert (quiet.requests, quiet.upserted, quiet.removed_refs, quiet.full) == (1, (), (), False)
    for key in keys[:3]:
        harness.edit_meeting(key, title="moved on")
    three = connector.changes(harness.calendar, quiet.cursor, WINDOW)
    assert three.requests == 2 and sorted(e.ref for e in three.upserted) == sorted(keys[:3])
    for key in keys[:25]:
        harness.edit_meeting(key, title="again")
    harness.delete(harness.meeting(keys[29]))
    many = connector.changes(harness.calendar, three.cursor, WINDOW)
    assert many.requests == 3 and len(many.upserted) == 25 and many.removed_refs == (keys[29],)


def test_delta_pages_follow_next_links_with_the_preferred_page_size(
    outlook_harness: OutlookHarness, graph: GraphFake
) -> None:
    harness = outlook_harness
    for n in range(5):
        harness.add_meeting(f"Meeting {n}", at(n, 10))
    connector = connect(harness, page_size=2)
    first = connector.changes(harness.calendar, None, WINDOW)
    assert len(first.upserted) == 5 and first.requests == 6  # 3 delta pages + 3 calendarView pages
    assert all(e.start.tzinfo == ZONE for e in first.upserted)  # asked for in the seller's zone
    assert connector.changes(harness.calendar, first.cursor, WINDOW).requests == 1


def test_an_expired_delta_token_means_a_full_read(
    outlook_harness: OutlookHarness, graph: GraphFake
) -> None:
    harness = outlook_harness
    key = harness.add_meeting("Globex", at(0, 10))
    connector = connect(harness)
    cursor = connector.changes(harness.calendar, None, WINDOW).cursor
    graph.expire_delta_tokens()
    again = connector.changes(harness.calendar, cursor, WINDOW)
    # 410, then 2
    assert again.full and [e.key for e in again.upserted] == [key] and again.requests == 3
    assert connector.changes(harness.calendar, again.cursor, WINDOW).requests == 1


def test_throttling_honours_retry_after_then_gives_up(
    outlook_harness: OutlookHarness, graph: GraphFake
) -> None:
    harness = outlook_harness
    sleeps: list[float] = []
    connector = connect(harness, sleeps)
    graph.throttle(2, 429, "7")
    assert connector.calendars()
    graph.throttle(1, 503, "2")
    graph.throttle(1, 504, "1")
    assert connector.calendars()
    assert sleeps == [7.0, 7.0, 2.0, 1.0]
    graph.throttle(5, 429, "30")  # as many as the attempts: the last one gives up
    with pytest.raises(ThrottledError) as failure:
        connector.calendars()
    assert failure.value.retry_after == 30.0 and "gave up after 5 attempts" in str(failure.value)
    assert sleeps[4:] == [30.0] * 4 and connector.calendars()


def test_an_answer_cut_short_is_read_again_and_never_taken_for_an_empty_page(
    outlook_harness: OutlookHarness, graph: GraphFake
) -> None:
    """A dropped connection mid-body is retried; a body that is not JSON ends a read (the next
    cycle reads again) instead of passing for a page without events; the unreadable answer to
    a write skips that change (BadDataError), though the write went through."""
    harness = outlook_harness
    key = harness.add_meeting("Globex", at(0, 10), description="Intro")
    sleeps: list[float] = []
    with FaultProxy(graph.url.removesuffix("v1.0")).running() as proxy:
        connector = connect(harness, sleeps, graph_url=proxy.url + "v1.0")
        proxy.queue.append(Truncate(0.5, dropped=True))
        delta = connector.changes(harness.calendar, None, WINDOW)
        assert [e.key for e in delta.upserted] == [key] and sleeps == [0.25]
        proxy.queue.append(Truncate(0.5, dropped=False))
        with pytest.raises(TransientError, match="the answer is not JSON"):
            connector.changes(harness.calendar, None, WINDOW)
        proxy.queue.append(Truncate(0.5, dropped=False))
        with pytest.raises(BadDataError, match="the write went through"):
            connector.set_description(
                harness.calendar, delta.upserted[0], "Intro\n\nAGENDA", None, notify=False
            )
    assert "AGENDA" in graph.raw(harness.seller, key).data["body"]["content"]


def test_throttled_parts_of_a_batch_are_sent_again_after_their_retry_after(
    outlook_harness: OutlookHarness, graph: GraphFake
) -> None:
    harness = outlook_harness
    keys = [harness.add_meeting(f"Meeting {n}", at(0, 9 + n)) for n in range(4)]
    sleeps: list[float] = []
    connector = connect(harness, sleeps)
    cursor = connector.changes(harness.calendar, None, WINDOW).cursor
    for key in keys:
        harness.edit_meeting(key, title="renamed")
    graph.throttle_parts(2, "4")
    delta = connector.changes(harness.calendar, cursor, WINDOW)
    assert sorted(e.ref for e in delta.upserted) == sorted(keys) and all(
        e.title == "renamed" for e in delta.upserted
    )
    assert sleeps == [4.0] and delta.requests == 3  # delta, batch, batch of the two throttled parts


def test_a_batch_part_throttled_for_good_is_reported_under_its_own_method_and_address(
    outlook_harness: OutlookHarness, graph: GraphFake
) -> None:
    """Giving up names the part that stayed throttled, a PATCH here, by its own method and
    address: neither the batch's POST nor a GET."""
    harness = outlook_harness
    first, second = (
        harness.add_meeting("Globex", at(0, 10)),
        harness.add_meeting("Initech", at(0, 14)),
    )
    sleeps: list[float] = []
    session = connect(harness, sleeps).session
    parts: list[dict[str, Any]] = [
        {
            "id": "rename",
            "method": "PATCH",
            "url": f"/me/events/{first}",
            "body": {"subject": "renamed"},
            "headers": {"Content-Type": "application/json"},
        },
        {"id": "read", "method": "GET", "url": f"/me/events/{second}?$select=subject"},
    ]
    # in each of the five batches; the GET is answered in the first
    graph.throttle_parts(5, "4", method="PATCH")
    before = session.sent
    with pytest.raises(ThrottledError) as raised:
        session.batch(f"{graph.url}/$batch", parts)
    where = f"{graph.url}/me/events/{first}"
    assert str(raised.value) == (
        f"{where}: PATCH: Graph asks us to slow down (HTTP 429, Retry-After 4 s); gave up after 5 "
        "attempts"
    )
    assert raised.value.retry_after == 4.0 and sleeps == [4.0] * 4 and session.sent - before == 5
    assert graph.raw(SELLER, first).data["subject"] == "Globex"


def test_retry_after_as_an_http_date_is_honoured(
    outlook_harness: OutlookHarness, graph: GraphFake
) -> None:
    harness = outlook_harness
    now = datetime(2030, 3, 18, 8, 0, tzinfo=UTC)
    sleeps: list[float] = []
    session = GraphSession(sleep=sleeps.append, random=lambda: 0.5, clock=lambda: now)
    connector = harness.connector(session)
    graph.throttle(1, 429, format_datetime(now + timedelta(seconds=7), usegmt=True))
    # already past: at once
    graph.throttle(1, 503, format_datetime(now - timedelta(hours=1), usegmt=True))
    assert connector.calendars() and sleeps == [7.0, 0.0]
    cursor = connector.changes(harness.calendar, None, WINDOW).cursor
    key = harness.add_meeting("Globex", at(0, 10))
    graph.throttle_parts(1, format_datetime(now + timedelta(seconds=3), usegmt=True))
    assert [e.ref for e in connector.changes(harness.calendar, cursor, WINDOW).upserted] == [
        key
    ] and sleeps[2:] == [3.0]


def test_a_401_gets_one_fresh_token_whatever_the_retries_after_it(
    outlook_harness: OutlookHarness, graph: GraphFake
) -> None:
    """The re-send with a fresh token is part of the same attempt; a retry after it uses the
    token MSAL now holds, rather than asking the identity platform again."""
    harness = outlook_harness
    sleeps: list[float] = []
    connector = connect(harness, sleeps)
    tokens, asked = connector.session.token, []
    assert tokens is not None and connector.calendars()

    def token(fresh: bool) -> str:
        asked.append(fresh)
        if fresh:
            graph.throttle(1, 429, "3")  # the re-sent request is throttled
        return tokens(fresh)

    connector.session.token = token
    harness.authority.tokens.clear()  # Graph no longer accepts the cached access token
    before, grants = connector.requests_sent, len(harness.authority.grants)
    assert connector.calendars()
    # 401, 429, 200
    assert (
        asked == [False, True, False] and sleeps == [3.0] and connector.requests_sent - before == 3
    )
    assert harness.authority.grants[grants:] == ["refresh_token"]


def test_blocks_are_private_busy_silent_and_tagged_under_our_namespace(
    outlook_harness: OutlookHarness, graph: GraphFake
) -> None:
    harness = outlook_harness
    connector = connect(harness)
    created = connector.create(harness.calendar, block(at(0, 9, 45)))
    raw = graph.raw(SELLER, created.ref)
    assert (
        raw.data["showAs"] == "busy"
        and raw.data["sensitivity"] == "private"
        and raw.data["attendees"] == []
    )
    assert raw.data["isReminderOn"] is False and raw.data["body"]["contentType"] == "text"
    assert (
        created.block_tag == block(at(0, 9, 45)).tag and created.private and not created.transparent
    )
    read = connector.get(harness.calendar, created.ref)
    assert read is not None and read.block_tag == created.block_tag  # read back with $expand
    # $filter on the owner property
    assert [e.ref for e in connector.find_owned(harness.calendar)] == [created.ref]
    assert graph.notifications == {}


def test_graph_fields_become_the_event_the_planner_needs(
    outlook_harness: OutlookHarness, graph: GraphFake
) -> None:
    harness = outlook_harness
    item = {
        "subject": "Globex",
        "start": graph_time(at(0, 10)),
        "end": graph_time(at(0, 11)),
        "organizer": {"emailAddress": {"address": "eli@globex.example"}},
        "attendees": [
            person("eli@globex.example"),
            person("room@seller.example", "accepted", "resource"),
            person("raj@globex.example", "tentativelyAccepted", "optional"),
            person(SELLER, "declined"),
        ],
        "responseStatus": {"response": "declined"},
        "showAs": "free",
        "sensitivity": "confidential",
        "isOnlineMeeting": True,
        "onlineMeeting": {"joinUrl": "https://teams.example/join/1"},
    }
    ref = graph.add_event(SELLER, harness.calendar, item)
    event = connect(harness).get(harness.calendar, ref)
    assert event is not None
    assert (event.organizer, event.self_is_organizer, event.self_response) == (
        "eli@globex.example",
        False,
        Response.DECLINED,
    )
    assert event.transparent and event.private and event.location == "https://teams.example/join/1"
    room, raj = event.attendees[1], event.attendees[2]
    assert room.resource and raj.optional and raj.response is Response.TENTATIVE
    graph.edit(SELLER, ref, {"isCancelled": True})
    assert connect(harness).get(harness.calendar, ref).status is Status.CANCELLED  # type: ignore[union-attr]


def test_instances_of_a_series_keep_their_key_when_rescheduled(
    outlook_harness: OutlookHarness,
) -> None:
    connector = connect(outlook_harness)
    item = {
        "id": "occ-1",
        "type": "occurrence",
        "seriesMasterId": "master-9",
        "originalStart": "2030-03-18T09:00:00Z",
        "start": graph_time(at(0, 10)),
        "end": graph_time(at(0, 11)),
    }
    moved = {
        **item,
        "type": "exception",
        "start": graph_time(at(1, 15)),
        "end": graph_time(at(1, 16)),
    }
    first, later = connector.event("c", item), connector.event("c", moved)
    assert (
        first.key == later.key == "master-9#20300318T090000Z"
        and first.ref == "occ-1"
        and first.recurring
    )


def _html_agent(harness: OutlookHarness, folder: Path) -> AccountSync:
    raw = {
        "defaults": {
            "timezone": str(ZONE),
            "rules": {"internal_domains": ["seller.example"]},
            "agenda": AUTO,
        },
        "accounts": [
            {
                "name": "seller",
                "provider": "outlook",
                "email": SELLER,
                "calendars": [harness.calendar],
            }
        ],
    }
    account = parse(raw, folder / "config.toml").accounts[0]
    store = SqliteStore(folder / "state.db", clock=lambda: MONDAY)
    return AccountSync(account, connect(harness), store, Renderer(), clock=lambda: MONDAY)


def test_an_html_invitation_gets_the_agenda_through_outlook_rewriting_and_keeps_the_seller_html(
    outlook_harness: OutlookHarness, graph: GraphFake, tmp_path: Path
) -> None:
    harness = outlook_harness
    seller_html = (
        '<div style="font-family:Calibri"><p>Hi Dana,</p><p>Join  here: <a '
        'href="https://teams.example/j">Teams</a></p></div>'
    )
    key = harness.add_meeting("Globex", at(0, 10))
    graph.edit(SELLER, key, {"body": {"contentType": "html", "content": seller_html}})
    stored = graph.raw(SELLER, key).data["body"]["content"]  # as Exchange keeps it
    assert stored != seller_html and "<body>" in stored
    sync = _html_agent(harness, tmp_path)
    sync.cycle()
    body = graph.raw(SELLER, key).data["body"]["content"]
    assert (
        'class="MsoNormal"' in body
        and BEGIN in body
        and body.index("Teams") < body.index(BEGIN) < body.index("</body>")
    )
    meeting = harness.meeting(key)
    assert (
        meeting.body_format is BodyFormat.HTML
        and HTML.find(meeting.description, meeting.agenda_tag).state is AgendaState.OURS
    )
    versions = harness.versions()
    assert (
        sum(len(c.applied) for c in sync.cycle().calendars) == 0 and harness.versions() == versions
    )
    assert harness.notifications() == {"dana@globex.example": 1}
    # the seller adds a line after the agenda in Outlook; a real change (a longer meeting) rewrites
    # only our part
    graph.edit(
        SELLER,
        key,
        {
            "body": {
                "contentType": "html",
                "content": body.replace("</body>", "<p>PS: parking at gate 2</p></body>"),
            }
        },
    )
    harness.edit_meeting(key, minutes=90)
    sync.cycle()
    after = graph.raw(SELLER, key).data["body"]["content"]
    assert "(37 min)" in after and "PS: parking at gate 2" in after
    assert harness.notifications() == {"dana@globex.example": 2}
    report = undo(sync)
    assert report.restored and report.errors == []
    assert graph.raw(SELLER, key).data["body"]["content"] == stored.replace(
        "</body>", '<p class="MsoNormal">PS: parking at gate 2</p></body>'
    )
    # Graph cannot strip an agenda silently
    assert harness.notifications() == {"dana@globex.example": 3}


def test_an_edit_inside_an_html_agenda_stops_rewrites(
    outlook_harness: OutlookHarness, graph: GraphFake, tmp_path: Path
) -> None:
    harness = outlook_harness
    key = harness.add_meeting("Globex", at(0, 10))
    graph.edit(SELLER, key, {"body": {"contentType": "html", "content": "<p>Hello</p>"}})
    sync = _html_agent(harness, tmp_path)
    sync.cycle()
    edited = (
        graph.raw(SELLER, key)
        .data["body"]["content"]
        .replace("Helpful to bring", "Helpful to bring (Dana: Q3 numbers)")
    )
    graph.edit(SELLER, key, {"body": {"contentType": "html", "content": edited}})
    harness.edit_meeting(key, start=at(0, 11))
    sync.cycle()
    assert graph.raw(SELLER, key).data["body"]["content"] == edited and harness.notifications() == {
        "dana@globex.example": 1
    }


def test_request_cost_of_a_first_sync_of_two_thousand_events(
    outlook_harness: OutlookHarness, graph: GraphFake
) -> None:
    """The figures in the connector's docstring and docs/outlook.md, measured at the HTTP layer."""
    harness = outlook_harness
    refs = [
        harness.add_meeting(f"Meeting {n}", at(n % 14, 8 + n % 10, (n * 7) % 60), guests=())
        for n in range(2000)
    ]
    connector = connect(harness)
    first = connector.changes(harness.calendar, None, WINDOW)
    # 20 delta pages + 20 calendarView pages
    assert len(first.upserted) == 2000 and first.requests == 40
    assert connector.session.sent == len(graph.requests)  # counted honestly, at the HTTP layer
    for ref in refs[:50]:
        harness.edit_meeting(ref, title="changed")
    # delta + 3 batches of 20
    assert connector.changes(harness.calendar, first.cursor, WINDOW).requests == 1 + 3


# --- the connector contract ------------------------------------------------------------------


class TestContract(ConnectorContract):
    """The contract on the Graph fake, signed in through the fake identity platform."""

    @pytest.fixture
    def harness(self, outlook_harness: OutlookHarness) -> OutlookHarness:
        return outlook_harness

    @pytest.fixture
    def served(self, graph: GraphFake) -> Callable[[], int]:
        return lambda: len(graph.requests)

    @pytest.fixture
    def refuse(self, graph: GraphFake) -> Callable[[str], None]:
        return graph.refuse
