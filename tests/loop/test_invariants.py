"""The invariants of docs/architecture.md, as scenarios every provider must pass (see
tests/support/harness/base.py).

Each test runs the real engine and state store against a real server (Radicale) or a
faithful fake, with people acting on the calendar by other means than the agent.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from agent.config.settings import parse
from agent.core.htmltext import plain_text
from agent.core.model import Event
from agent.plan.changes import verb
from agent.state.sqlite import SqliteStore
from agent.sync.engine import AccountSync
from agent.sync.undo import undo
from agent.text import splice
from agent.text.render import Renderer
from tests.support.harness.base import Harness
from tests.support.helpers import AUTO


class Agent:
    """The agent for one harness: engine, SQLite store in tmp, and a clock the test moves."""

    def __init__(self, harness: Harness, folder: Path, now: datetime, **settings: object) -> None:
        self.harness = harness
        self.now = now
        self.folder = folder
        self.settings = settings
        self.store = SqliteStore(folder / "state.db", clock=lambda: self.now)
        domain = harness.seller.split("@")[1]
        agenda = {**AUTO, **settings.pop("agenda", {})}  # type: ignore[dict-item]
        raw = {
            "defaults": {
                "timezone": str(harness.zone),
                "rules": {"internal_domains": [domain]},
                "agenda": agenda,
                **settings,
            },
            "accounts": [
                {
                    "name": "seller",
                    "provider": harness.name,
                    "email": harness.seller,
                    "calendars": [harness.calendar],
                }
            ],
        }
        self.account = parse(raw, folder / "config.toml").accounts[0]
        self.sync = AccountSync(
            self.account, harness.connector(), self.store, Renderer(), clock=lambda: self.now
        )

    def cycle(self) -> list[str]:
        report = self.sync.cycle()
        assert not report.error, report.error
        assert all(not calendar.error for calendar in report.calendars), [
            c.error for c in report.calendars
        ]
        return [verb(change) for calendar in report.calendars for change, _ in calendar.applied]

    def restart(self, folder: Path) -> Agent:
        """A new process on the same state (or a new state file in another folder)."""
        self.store.close()
        return Agent(self.harness, folder, self.now, **self.settings)


@pytest.fixture
def agent(harness: Harness, tmp_path: Path) -> Agent:
    return Agent(harness, tmp_path, at(harness, 0, 7))


def at(harness: Harness, day: int, hour: int, minute: int = 0) -> datetime:
    """A time in the scenario week (day 0 is Monday 18 March 2030) in the seller's zone."""
    return datetime(2030, 3, 18, hour, minute, tzinfo=harness.zone) + timedelta(days=day)


def people_part(event: Event) -> str:
    """A description without our agenda, exactly as stored: what people wrote.

    Providers store what people write in their own way (Exchange hands text back as HTML),
    so scenarios compare with what the server held before the agent wrote, not with the
    literal a test passed in.
    """
    splicer = splice.for_meeting(event)
    found = splicer.find(event.description, event.agenda_tag)
    return (
        splicer.strip(event.description, found)
        if found.state is splice.AgendaState.OURS
        else event.description
    )


def readable(event: Event) -> str:
    return plain_text(event.description, event.body_format)


def test_a_cycle_enriches_and_the_next_one_writes_nothing(harness: Harness, agent: Agent) -> None:
    ours = harness.add_meeting(
        "Globex discovery", at(harness, 0, 10), description="Dial-in: 555-0100"
    )
    theirs = harness.add_meeting(
        "Initech review",
        at(harness, 1, 15),
        guests=["eli@initech.example"],
        organizer="eli@initech.example",
        description="Their notes",
    )
    harness.add_meeting(
        "Team sync", at(harness, 0, 14), guests=["bo@" + harness.seller.split("@")[1]]
    )
    ours_before, theirs_before = harness.meeting(ours), harness.meeting(theirs)
    assert sorted(agent.cycle()) == ["create"] * 4 + ["write agenda"]
    prep = harness.block_for("prep", ours)
    assert (prep.start, prep.end) == (at(harness, 0, 9, 45), at(harness, 0, 10))
    assert harness.block_for("debrief", ours).start == at(harness, 0, 11)
    assert "DRAFT AGENDA FOR YOU TO SEND" in harness.block_for("prep", theirs).description
    assert harness.meeting(theirs).etag == theirs_before.etag  # not ours to edit
    assert people_part(harness.meeting(ours)) == ours_before.description
    assert "Dial-in: 555-0100" in readable(ours_before) and splice.BEGIN in readable(
        harness.meeting(ours)
    )
    for block in harness.blocks():
        assert block.attendees == () and block.private and not block.transparent
    versions = harness.versions()
    agent.cycle()
    assert agent.cycle() == []
    assert harness.versions() == versions
    assert harness.notifications() == {"dana@globex.example": 1}


def test_a_crash_between_the_server_write_and_the_database_write_leaves_no_duplicate(
    harness: Harness, agent: Agent, tmp_path: Path
) -> None:
    key = harness.add_meeting("Globex", at(harness, 0, 10), description="Intro")
    record = agent.store.record
    done: list[object] = []

    def crash_after_two(**kwargs):  # type: ignore[no-untyped-def]
        if len(done) == 2:
            raise KeyboardInterrupt(
                "killed after the server accepted the write, before the database"
            )
        done.append(kwargs)
        return record(**kwargs)

    agent.store.record = crash_after_two  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        agent.sync.cycle()
    agent = agent.restart(tmp_path)
    assert "adopt" in agent.cycle()
    assert agent.cycle() == []
    assert len(harness.blocks("prep")) == 1 and len(harness.blocks("debrief")) == 1
    assert harness.meeting(key).description.count(splice.BEGIN) == 1
    assert harness.notifications()["dana@globex.example"] == 1


def test_a_lost_state_database_is_rebuilt_from_the_tags(
    harness: Harness, agent: Agent, tmp_path: Path
) -> None:
    key = harness.add_meeting("Globex", at(harness, 0, 10))
    agent.cycle()
    before = harness.versions()
    agent = agent.restart(tmp_path / "new")
    assert sorted(agent.cycle()) == ["adopt"] * 3
    assert agent.cycle() == []
    assert harness.versions() == before
    assert len(harness.blocks()) == 2 and harness.meeting(key).description.count(splice.BEGIN) == 1


def test_text_outside_the_markers_survives_byte_for_byte(harness: Harness, agent: Agent) -> None:
    original = (
        "Agenda draft by Alex:\n  1. Intro  \n\tindented ünïcödé {{ not_a_variable }} <b>bold?</b>"
    )
    key = harness.add_meeting("Globex", at(harness, 0, 10), description=original)
    agent.cycle()
    imitation = f"\nDana's notes:\n{splice.BEGIN}\nmy own words\n{splice.END}\nPS"
    harness.write_description(harness.meeting(key), harness.meeting(key).description + imitation)
    theirs = people_part(harness.meeting(key))  # all people wrote, as the server keeps it
    assert "Agenda draft by Alex" in theirs and "my own words" in theirs
    harness.edit_meeting(key, minutes=90)  # longer: the agenda's timings must be rewritten
    agent.cycle()
    after = harness.meeting(key)
    assert "(37 min)" in readable(after)
    assert people_part(after) == theirs
    undone = undo(agent.sync)
    assert undone.restored and harness.meeting(key).description == theirs


def test_a_person_edit_inside_the_agenda_stops_rewrites(harness: Harness, agent: Agent) -> None:
    key = harness.add_meeting("Globex", at(harness, 0, 10), description="Intro")
    agent.cycle()
    edited = harness.meeting(key).description.replace(
        "Helpful to bring", "Helpful to bring (Dana: the Q3 numbers)"
    )
    harness.write_description(harness.meeting(key), edited)
    stored = harness.meeting(key).description  # the edit, as the server keeps it
    harness.edit_meeting(key, start=at(harness, 0, 11))
    agent.cycle()
    assert harness.meeting(key).description == stored and "Dana: the Q3 numbers" in stored
    assert harness.notifications()["dana@globex.example"] == 1


def test_a_deleted_block_is_not_recreated(harness: Harness, agent: Agent) -> None:
    key = harness.add_meeting("Globex", at(harness, 0, 10))
    agent.cycle()
    harness.delete(harness.block_for("prep", key))
    assert agent.cycle() == ["tombstone"]
    harness.edit_meeting(key, start=at(harness, 0, 14))
    agent.cycle()
    assert harness.blocks("prep") == [] and harness.block_for("debrief", key).start == at(
        harness, 0, 15
    )


def test_a_moved_block_stays_and_follows_a_rescheduled_meeting(
    harness: Harness, agent: Agent
) -> None:
    key = harness.add_meeting("Globex", at(harness, 0, 10))
    agent.cycle()
    harness.move(harness.block_for("prep", key), at(harness, 0, 8), at(harness, 0, 8, 30))
    agent.cycle()
    assert agent.cycle() == []
    assert harness.block_for("prep", key).start == at(harness, 0, 8)
    harness.edit_meeting(key, start=at(harness, 1, 10))  # one day later
    agent.cycle()
    prep, debrief = harness.block_for("prep", key), harness.block_for("debrief", key)
    assert (prep.start, prep.end) == (at(harness, 1, 8), at(harness, 1, 8, 30))
    assert debrief.start == at(harness, 1, 11)
    assert agent.cycle() == []


@pytest.mark.parametrize("how", ["cancel", "decline", "internal", "delete"])
def test_cancel_decline_now_internal_or_deleted_removes_blocks(
    harness: Harness, agent: Agent, how: str
) -> None:
    organizer = "eli@initech.example" if how == "decline" else None
    key = harness.add_meeting(
        "Globex",
        at(harness, 0, 10),
        guests=["eli@initech.example"],
        organizer=organizer,
        description="Intro",
    )
    before = harness.meeting(key).description
    agent.cycle()
    assert len(harness.blocks()) == 2
    if how == "delete":
        harness.delete(harness.meeting(key))
    else:
        colleague = "bo@" + harness.seller.split("@")[1]
        harness.edit_meeting(
            key,
            cancel=how == "cancel",
            decline=how == "decline",
            guests=[colleague] if how == "internal" else None,
        )
    agent.cycle()
    assert harness.blocks() == []
    if how == "internal":
        assert (
            harness.meeting(key).description == before and harness.meeting(key).agenda_tag is None
        )
    assert agent.cycle() == []


def test_each_attendee_gets_one_update_per_real_agenda_change(
    harness: Harness, agent: Agent
) -> None:
    key = harness.add_meeting(
        "Globex", at(harness, 0, 10), guests=["dana@globex.example", "raj@globex.example"]
    )
    for _ in range(3):
        agent.cycle()
    assert harness.notifications() == {"dana@globex.example": 1, "raj@globex.example": 1}
    # not a change of ours
    harness.edit_meeting(key, description=harness.meeting(key).description + "\nroom 4")
    agent.cycle()
    # moved: the invitation carries its own time, and the agenda does not repeat it
    harness.edit_meeting(key, start=at(harness, 0, 11))
    agent.cycle()
    assert harness.notifications() == {"dana@globex.example": 1, "raj@globex.example": 1}
    # longer: the agenda's timings change, one real change
    harness.edit_meeting(key, minutes=90)
    agent.cycle()
    agent.cycle()
    assert harness.notifications() == {"dana@globex.example": 2, "raj@globex.example": 2}


def test_undo_removes_every_block_and_restores_every_description(
    harness: Harness, agent: Agent, tmp_path: Path
) -> None:
    first = harness.add_meeting("Globex", at(harness, 0, 10), description="Original text")
    second = harness.add_meeting("Initech", at(harness, 1, 10), guests=["eli@initech.example"])
    third = harness.add_meeting("Umbrella", at(harness, 2, 10), guests=["pat@umbrella.example"])
    before = {key: harness.meeting(key).description for key in (first, second, third)}
    record = agent.store.record
    calls = []

    def crash_on_the_last(**kwargs):  # type: ignore[no-untyped-def]
        calls.append(kwargs)
        if len(calls) == 9:
            raise KeyboardInterrupt("crash: the last write is on the server, not in the database")
        return record(**kwargs)

    agent.store.record = crash_on_the_last  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        agent.sync.cycle()
    agent = agent.restart(tmp_path)
    debrief = harness.block_for("debrief", second)
    # the seller wrote in it
    harness.write_description(debrief, debrief.description + "\nThey want a pilot.")
    report = undo(agent.sync)
    assert len(report.removed) == 5 and len(report.restored) == 3 and len(report.kept) == 1
    assert [b.key for b in harness.blocks()] == [debrief.key]
    assert {key: harness.meeting(key).description for key in (first, second, third)} == before
    assert "Original text" in before[first]
    assert all(harness.meeting(k).agenda_tag is None for k in (first, second, third))
    assert undo(agent.sync).removed == []
