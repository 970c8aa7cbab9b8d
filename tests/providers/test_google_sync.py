"""Whole cycles of the engine on the Google fake: what they cost in requests, and batched creates.

The request counts here are the figures the connector promises: one request for a quiet
calendar, one read plus the writes for changed meetings, blocks created fifty to a request.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tests.loop.test_invariants import Agent, at
from tests.support.harness.google import GoogleHarness


@pytest.fixture
def harness(google_harness: GoogleHarness) -> GoogleHarness:
    return google_harness


def cost(harness: GoogleHarness, agent: Agent) -> tuple[int, list[str]]:
    """Requests to the Calendar API one cycle made (batches count once), and what it did."""
    before = harness.fake.requests
    done = agent.cycle()
    return harness.fake.requests - before, done


def test_requests_per_cycle_first_sync_quiet_and_changed(
    harness: GoogleHarness, tmp_path: Path
) -> None:
    keys = [harness.add_meeting(f"Customer {n}", at(harness, n % 10, 9 + n % 8)) for n in range(30)]
    for n in range(100):
        harness.add_meeting(
            f"Internal {n}", at(harness, n % 12, 8), minutes=30, guests=["bo@northpeak.example"]
        )
    agent = Agent(harness, tmp_path, at(harness, 0, 7))
    requests, done = cost(harness, agent)
    agendas = done.count("write agenda")
    assert done.count("create") == 60 and agendas > 0
    assert requests == 1 + 2 + agendas  # the read, 60 blocks in two batches, one PATCH per agenda
    requests, done = cost(harness, agent)  # reads back its own writes, changes nothing
    assert (requests, done) == (1, [])
    assert cost(harness, agent) == (1, [])  # a quiet calendar: one request
    for key in keys[:3]:
        # three meetings get longer: debriefs and agendas follow
        harness.edit_meeting(key, minutes=90)
    requests, done = cost(harness, agent)
    assert requests == 1 + len(done) and sorted(set(done)) == ["update", "write agenda"]


def test_a_first_sync_of_2000_events_reads_in_one_request(
    harness: GoogleHarness, tmp_path: Path
) -> None:
    for n in range(2000):
        guests = ["dana@globex.example"] if n % 40 == 0 else ["bo@northpeak.example"]
        harness.add_meeting(
            f"Event {n}",
            at(harness, n % 15, 8) + timedelta(minutes=5 * (n % 100)),
            minutes=5,
            guests=guests,
        )
    agent = Agent(harness, tmp_path, at(harness, 0, 7))
    before = harness.fake.requests
    report = agent.sync.cycle()
    assert not report.error and len(report.calendars[0].meetings) == 2000
    assert report.calendars[0].read_requests == 1  # 2,000 events fit one page of 2,500
    creates = sum(
        1 for change, _ in report.calendars[0].applied if type(change).__name__ == "CreateBlock"
    )
    writes = len(report.calendars[0].applied)
    assert (
        harness.fake.requests - before
        == 1 + -(-creates // 50) + (writes - creates)
        == report.calendars[0].requests
    )


def test_a_batch_retries_only_the_throttled_inserts(harness: GoogleHarness, tmp_path: Path) -> None:
    for n in range(3):
        harness.add_meeting(f"Customer {n}", at(harness, n + 1, 10))
    # two of the six inserts in the batch are refused
    harness.fake.fail(429, times=2, method="POST")
    agent = Agent(harness, tmp_path, at(harness, 0, 7))
    done = agent.cycle()
    assert done.count("create") == 6 and len(harness.blocks()) == 6
    inserts = [entry for entry in harness.fake.log if entry.in_batch and entry.method == "POST"]
    assert len(inserts) == 8  # six, then the two refused ones again
    assert agent.cycle() == []


def test_an_insert_throttled_for_good_stops_the_cycle_and_the_others_are_adopted(
    harness: GoogleHarness, tmp_path: Path
) -> None:
    for n in range(3):
        harness.add_meeting(f"Customer {n}", at(harness, n + 1, 10))
    # its two blocks, five times each
    harness.fake.fail(429, times=10, method="POST", body="Customer 1")
    agent = Agent(harness, tmp_path, at(harness, 0, 7))
    report = agent.sync.cycle()
    assert (
        "Google asks us to slow down (HTTP 429 rateLimitExceeded); gave up after 5 attempts"
        in report.error
    )
    # the blocks of Customer 0 were recorded, those of Customer 2 created but not recorded: the
    # cycle stopped at the first failed insert, in plan order
    assert len(harness.blocks()) == 4
    assert sorted(agent.cycle()) == ["adopt"] * 2 + ["create"] * 2 + ["write agenda"] * 3
    assert len(harness.blocks()) == 6 and agent.cycle() == []


def test_a_description_written_in_the_web_ui_gets_an_html_agenda(
    harness: GoogleHarness, tmp_path: Path
) -> None:
    """Google's editor stores rich text as HTML and renders it so: the agenda follows suit,
    and the person's HTML stays byte for byte."""
    html = 'Agenda from Dana:<br><b>Q3 numbers</b><br><a href="https://docs.example/x">deck</a>'
    key = harness.add_meeting("Globex", at(harness, 0, 10), description=html)
    agent = Agent(harness, tmp_path, at(harness, 0, 7))
    assert sorted(agent.cycle()) == ["create", "create", "write agenda"]
    text = harness.meeting(key).description
    assert text.startswith(html) and "<li>" in text and "What we hope to decide" in text
    assert agent.cycle() == [] and agent.cycle() == []
    harness.edit_meeting(key, minutes=90)  # longer: the agenda's timings change
    agent.cycle()
    assert (
        harness.meeting(key).description.startswith(html)
        and "(37 min)" in harness.meeting(key).description
    )
    assert harness.notifications()["dana@globex.example"] == 2
