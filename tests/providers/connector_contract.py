"""The connector contract: what every connector must do, proven on each provider's server.

`ConnectorContract` holds the tests; each provider's test module subclasses it with the
fixtures that build its world (CalDAV on Radicale, Google and Graph on their fakes):

- `harness`: the provider's scenario harness (tests/support/harness/base.py), whose connector
  is the one under test and through which people act on the calendar by other means;
- `connector`: the connector under test (by default the harness's);
- `served`: how many requests the provider's server has received so far (a batch counts once);
- `refuse`: makes the server refuse the next write whose body holds a text, once, with an
  error that is not worth retrying.

What a provider cannot do is said by the connector itself (`Connector.silent_updates`), and
the contract checks that claim both ways. Times are in the scenario week of March 2030; the
window runs over the switch to summer time (31 March).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

import pytest

from agent.core.errors import ConflictError, ConnectorError, GoneError
from agent.core.model import AgendaTag, BlockSpec, BlockTag, Event, Interval, Kind, Window
from connectors.base import Connector
from tests.support.harness.base import Harness

HOUR = timedelta(hours=1)
T = TypeVar("T")


def at(harness: Harness, day: int, hour: int, minute: int = 0) -> datetime:
    """A time of the scenario week in the seller's zone: day 0 is Monday 18 March 2030."""
    return datetime(2030, 3, 18, hour, minute, tzinfo=harness.zone) + timedelta(days=day)


def window(harness: Harness) -> Window:
    """From Sunday 17 March to Monday 8 April, local midnights, as the engine aligns windows."""
    return Window(at(harness, -1, 0), at(harness, 21, 0))


def block(
    harness: Harness,
    title: str = "Prep: Globex",
    start: datetime | None = None,
    meeting_key: str = "m1",
) -> BlockSpec:
    start = start or at(harness, 2, 9, 45)
    tag = BlockTag(
        Kind.PREP,
        meeting_key,
        Interval(start, start + timedelta(minutes=15)),
        Interval(start + timedelta(minutes=15), start + HOUR),
        "f00d",
    )
    return BlockSpec(
        title, start, start + timedelta(minutes=15), "Read the notes of the last call", tag
    )


class ConnectorContract:
    """The tests every connector passes; see the module docstring for the fixtures."""

    @pytest.fixture
    def harness(self) -> Harness:
        raise NotImplementedError("each provider's subclass builds its harness")

    @pytest.fixture
    def connector(self, harness: Harness) -> Connector:
        return harness.connector()

    @pytest.fixture
    def served(self) -> Callable[[], int]:
        raise NotImplementedError("each provider's subclass counts what its server received")

    @pytest.fixture
    def refuse(self) -> Callable[[str], None]:
        raise NotImplementedError("each provider's subclass makes its server refuse a write")

    def _read(self, connector: Connector, harness: Harness) -> dict[str, Event]:
        """A full read of the window, by key."""
        return {
            event.key: event
            for event in connector.changes(harness.calendar, None, window(harness)).upserted
        }

    # -- calendars ---------------------------------------------------------------------------

    def test_the_calendar_the_agent_works_on_is_the_one_primary_calendar(
        self, connector: Connector, harness: Harness
    ) -> None:
        assert [info.id for info in connector.calendars() if info.primary] == [harness.calendar]

    # -- changes -----------------------------------------------------------------------------

    def test_a_full_read_brings_the_window_and_a_quiet_read_costs_one_request(
        self, connector: Connector, harness: Harness
    ) -> None:
        ours = harness.add_meeting("Globex", at(harness, 2, 10), description="Dial-in 555")
        theirs = harness.add_meeting(
            "Initech",
            at(harness, 3, 14),
            guests=["eli@initech.example"],
            organizer="eli@initech.example",
        )
        harness.add_meeting("Last month", at(harness, -30, 10))
        harness.add_meeting("Next year", at(harness, 300, 10))
        full = connector.changes(harness.calendar, None, window(harness))
        assert full.full and full.cursor and (full.removed_refs, full.skipped) == ((), ())
        events = {event.key: event for event in full.upserted}
        assert set(events) == {ours, theirs}
        globex = events[ours]
        assert (globex.title, globex.start, globex.end, globex.organizer) == (
            "Globex",
            at(harness, 2, 10),
            at(harness, 2, 11),
            harness.seller,
        )
        assert (
            "Dial-in 555" in globex.description
            and globex.etag
            and globex.self_is_organizer
            and not globex.recurring
        )
        assert "dana@globex.example" in {attendee.email for attendee in globex.attendees}
        assert (
            not events[theirs].self_is_organizer
            and events[theirs].organizer == "eli@initech.example"
        )
        quiet = connector.changes(harness.calendar, full.cursor, window(harness))
        assert (quiet.requests, quiet.upserted, quiet.removed_refs, quiet.full, quiet.skipped) == (
            1,
            (),
            (),
            False,
            (),
        )

    def test_an_incremental_read_brings_what_was_added_edited_or_removed_since_its_cursor(
        self, connector: Connector, harness: Harness
    ) -> None:
        kept = harness.add_meeting("Kept", at(harness, 1, 10))
        edited = harness.add_meeting("Edited", at(harness, 2, 10))
        deleted = harness.add_meeting("Deleted", at(harness, 3, 10))
        leaving = harness.add_meeting("Leaving", at(harness, 4, 10))
        full = connector.changes(harness.calendar, None, window(harness))
        before = {event.key: event for event in full.upserted}
        assert set(before) == {kept, edited, deleted, leaving}
        added = harness.add_meeting("Added", at(harness, 5, 10))
        harness.edit_meeting(edited, title="Edited (moved)", start=at(harness, 2, 15))
        harness.delete(before[deleted])
        harness.edit_meeting(leaving, start=at(harness, 60, 10))  # out of the window
        delta = connector.changes(harness.calendar, full.cursor, window(harness))
        assert not delta.full and delta.skipped == ()
        assert {(e.key, e.title, e.start) for e in delta.upserted} == {
            (added, "Added", at(harness, 5, 10)),
            (edited, "Edited (moved)", at(harness, 2, 15)),
        }
        assert set(delta.removed_refs) == {before[deleted].ref, before[leaving].ref}
        after = connector.changes(harness.calendar, delta.cursor, window(harness))
        assert (after.upserted, after.removed_refs) == ((), ())

    def test_a_recurring_meeting_comes_back_one_event_per_instance_in_the_window(
        self, connector: Connector, harness: Harness
    ) -> None:
        # 13 March to 10 April
        harness.add_series("Weekly with Globex", at(harness, -5, 10), minutes=60, weeks=5)
        instances = sorted(
            (e for e in self._read(connector, harness).values() if e.title == "Weekly with Globex"),
            key=lambda e: e.start,
        )
        # 20 and 27 March, 3 April (summer time, same wall clock); 13 March and 10 April are outside
        assert [e.start for e in instances] == [
            at(harness, 2, 10),
            at(harness, 9, 10),
            at(harness, 16, 10),
        ]
        assert all(e.recurring and e.end - e.start == HOUR for e in instances)
        assert len({e.key for e in instances}) == 3
        # keys are stable from read to read
        assert {e.key for e in instances} <= set(self._read(connector, harness))
        assert connector.get(harness.calendar, instances[1].ref, instances[1].key) == instances[1]

    def test_a_malformed_event_is_skipped_with_a_one_line_reason_and_never_taken_for_removed(
        self, connector: Connector, harness: Harness
    ) -> None:
        good = harness.add_meeting("Globex", at(harness, 2, 10))
        broken = harness.add_broken_event(at(harness, 3, 10))
        full = connector.changes(harness.calendar, None, window(harness))
        assert [event.key for event in full.upserted] == [good]
        [reason] = full.skipped
        assert broken in reason and "malformed" in reason and "\n" not in reason
        later = harness.add_broken_event(at(harness, 4, 10))
        delta = connector.changes(harness.calendar, full.cursor, window(harness))
        assert (delta.upserted, delta.removed_refs) == ((), ())
        [reason] = delta.skipped
        assert later in reason and "\n" not in reason

    def test_the_window_holds_what_overlaps_it_and_an_instant_at_its_start(
        self, connector: Connector, harness: Harness
    ) -> None:
        """Window.holds at each edge, on a full read and on an incremental one alike."""
        start, end = window(harness).start, window(harness).end
        outside = [
            harness.add_meeting("Ends as the window starts", start - HOUR, minutes=60),
            harness.add_meeting("Starts as it ends", end, minutes=60),
            harness.add_meeting("An instant at its end", end, minutes=0),
        ]
        inside = {
            harness.add_meeting("An instant at its start", start, minutes=0),
            harness.add_meeting(
                "Spans it",
                start - timedelta(days=1),
                minutes=int((end - start).total_seconds()) // 60 + 2 * 24 * 60,
            ),
        }
        full = connector.changes(harness.calendar, None, window(harness))
        assert {event.key for event in full.upserted} == inside
        refs = {key: harness.meeting(key).ref for key in outside}
        for key in [*outside, *inside]:
            harness.edit_meeting(key, title="Renamed")
        delta = connector.changes(harness.calendar, full.cursor, window(harness))
        assert {event.key for event in delta.upserted} == inside and all(
            event.title == "Renamed" for event in delta.upserted
        )
        assert set(delta.removed_refs) == set(refs.values())

    # -- get ---------------------------------------------------------------------------------

    def test_get_reads_an_event_again_and_none_once_it_is_gone(
        self, connector: Connector, harness: Harness
    ) -> None:
        key = harness.add_meeting("Globex", at(harness, 2, 10))
        event = self._read(connector, harness)[key]
        assert connector.get(harness.calendar, event.ref) == event
        harness.delete(event)
        assert connector.get(harness.calendar, event.ref) is None

    # -- writing blocks ----------------------------------------------------------------------

    def test_create_makes_a_private_busy_block_without_attendees_that_carries_its_tag(
        self, connector: Connector, harness: Harness
    ) -> None:
        spec = block(harness)
        created = connector.create(harness.calendar, spec)
        assert (created.title, created.start, created.end, created.block_tag) == (
            spec.title,
            spec.start,
            spec.end,
            spec.tag,
        )
        assert spec.description in created.description and created.etag
        assert (
            created.private and created.busy and not created.transparent and created.attendees == ()
        )
        assert connector.get(harness.calendar, created.ref) == created
        assert [(e.ref, e.block_tag) for e in connector.find_owned(harness.calendar)] == [
            (created.ref, spec.tag)
        ]
        [stored] = harness.events()  # as the seller's calendar app sees it
        assert (
            stored.private
            and stored.busy
            and stored.attendees == ()
            and stored.block_tag == spec.tag
        )
        assert harness.notifications() == {}

    def test_update_rewrites_a_block_whose_etag_still_matches(
        self, connector: Connector, harness: Harness
    ) -> None:
        created = connector.create(harness.calendar, block(harness))
        spec = block(harness, "Prep: Globex (moved)", at(harness, 2, 9))
        moved = connector.update(harness.calendar, created, spec)
        assert (moved.ref, moved.title, moved.start, moved.end, moved.block_tag) == (
            created.ref,
            spec.title,
            spec.start,
            spec.end,
            spec.tag,
        )
        assert moved.etag != created.etag
        assert connector.get(harness.calendar, created.ref) == moved

    def test_writes_with_a_stale_etag_are_refused_and_leave_the_persons_edit(
        self, connector: Connector, harness: Harness
    ) -> None:
        created = connector.create(harness.calendar, block(harness))
        harness.write_description(created, "My own notes")
        with pytest.raises(ConflictError):
            connector.update(harness.calendar, created, block(harness, start=at(harness, 2, 9)))
        with pytest.raises(ConflictError):
            connector.delete(harness.calendar, created)
        with pytest.raises(ConflictError):
            connector.set_description(harness.calendar, created, "Ours", None, notify=False)
        fresh = connector.get(harness.calendar, created.ref)
        assert (
            fresh is not None
            and "My own notes" in fresh.description
            and fresh.start == created.start
        )

    def test_a_deleted_block_is_gone_for_every_write(
        self, connector: Connector, harness: Harness
    ) -> None:
        ours = connector.create(harness.calendar, block(harness))
        connector.delete(harness.calendar, ours)
        assert connector.get(harness.calendar, ours.ref) is None
        theirs = connector.create(harness.calendar, block(harness, start=at(harness, 3, 9)))
        harness.delete(theirs)  # the seller deletes it
        for gone in (ours, theirs):
            with pytest.raises(GoneError):
                connector.update(harness.calendar, gone, block(harness, start=at(harness, 2, 9)))
            with pytest.raises(GoneError):
                connector.set_description(harness.calendar, gone, "Ours", None, notify=False)
            with pytest.raises(GoneError):
                connector.delete(harness.calendar, gone)
        assert harness.events() == []

    def test_create_many_gives_one_result_per_block_in_order_and_an_error_for_a_refused_one(
        self, connector: Connector, harness: Harness, refuse: Callable[[str], None]
    ) -> None:
        specs = [
            block(harness, f"Prep: {name}", at(harness, 1, 8 + n), f"m{n}")
            for n, name in enumerate(["Globex", "Initech", "Umbrella", "Hooli"])
        ]
        refuse("Prep: Umbrella")
        sent = connector.requests_sent
        results = connector.create_many(harness.calendar, specs)
        assert connector.batch_size >= 1 and connector.requests_sent - sent == -(
            -len(specs) // connector.batch_size
        )
        assert isinstance(results[2], ConnectorError) and "\n" not in str(results[2])
        made = [result for result in results if isinstance(result, Event)]
        assert [(event.title, event.block_tag) for event in made] == [
            (spec.title, spec.tag) for spec in specs if spec is not specs[2]
        ]
        assert sorted(event.ref for event in connector.find_owned(harness.calendar)) == sorted(
            event.ref for event in made
        )

    # -- agendas -----------------------------------------------------------------------------

    def test_the_agenda_is_written_with_its_tag_and_taking_the_tag_away_gives_the_meeting_back(
        self, connector: Connector, harness: Harness
    ) -> None:
        key = harness.add_meeting(
            "Globex",
            at(harness, 2, 10),
            guests=["dana@globex.example", "raj@globex.example"],
            description="Intro",
        )
        meeting = self._read(connector, harness)[key]
        tag = AgendaTag(key, "c0ffee", "\n\n")
        written = connector.set_description(
            harness.calendar, meeting, "Intro\n\nWhat we hope to decide", tag, notify=True
        )
        assert (written.key, written.agenda_tag, written.start) == (
            key,
            tag,
            meeting.start,
        ) and "What we hope to decide" in written.description
        assert connector.get(harness.calendar, meeting.ref) == written
        assert [(e.key, e.agenda_tag) for e in connector.find_owned(harness.calendar)] == [
            (key, tag)
        ]
        assert harness.notifications() == {"dana@globex.example": 1, "raj@globex.example": 1}
        stripped = connector.set_description(harness.calendar, written, "Intro", None, notify=False)
        assert stripped.agenda_tag is None and "What we hope to decide" not in stripped.description
        again = connector.get(harness.calendar, meeting.ref)
        assert (
            again is not None
            and again.agenda_tag is None
            and connector.find_owned(harness.calendar) == []
        )
        # a provider that cannot keep quiet says so, and then its attendees do hear of it
        heard = 1 if connector.silent_updates else 2
        assert harness.notifications() == {
            "dana@globex.example": heard,
            "raj@globex.example": heard,
        }

    # -- busy --------------------------------------------------------------------------------

    def test_busy_times_are_what_makes_the_seller_unavailable(
        self, connector: Connector, harness: Harness
    ) -> None:
        harness.add_meeting("Globex", at(harness, 2, 10))
        declined = harness.add_meeting(
            "Declined",
            at(harness, 3, 10),
            guests=["eli@initech.example"],
            organizer="eli@initech.example",
        )
        harness.edit_meeting(declined, decline=True)
        harness.add_meeting("Next year", at(harness, 300, 10))
        assert connector.busy([harness.calendar], window(harness)) == [
            Interval(at(harness, 2, 10), at(harness, 2, 11))
        ]

    # -- counting ----------------------------------------------------------------------------

    def test_requests_sent_counts_every_request_the_server_received(
        self, connector: Connector, harness: Harness, served: Callable[[], int]
    ) -> None:
        key = harness.add_meeting("Globex", at(harness, 2, 10))
        # (requests_sent, requests the server received) of each call
        counted: list[tuple[int, int]] = []

        def cost(action: Callable[[], T]) -> T:
            sent, received = connector.requests_sent, served()
            result = action()
            counted.append((connector.requests_sent - sent, served() - received))
            return result

        cost(connector.calendars)
        full = cost(lambda: connector.changes(harness.calendar, None, window(harness)))
        quiet = cost(lambda: connector.changes(harness.calendar, full.cursor, window(harness)))
        meeting = {event.key: event for event in full.upserted}[key]
        cost(lambda: connector.get(harness.calendar, meeting.ref))
        created = cost(lambda: connector.create(harness.calendar, block(harness)))
        updated = cost(
            lambda: connector.update(
                harness.calendar, created, block(harness, start=at(harness, 2, 9))
            )
        )
        cost(lambda: connector.find_owned(harness.calendar))
        cost(lambda: connector.busy([harness.calendar], window(harness)))
        cost(
            lambda: connector.set_description(
                harness.calendar, meeting, "Agenda", AgendaTag(key, "1", ""), notify=False
            )
        )
        cost(
            lambda: connector.create_many(
                harness.calendar, [block(harness, start=at(harness, 4, 9))]
            )
        )
        cost(lambda: connector.delete(harness.calendar, updated))
        assert all(sent == received > 0 for sent, received in counted), counted
        assert (full.requests, quiet.requests) == (
            counted[1][0],
            counted[2][0],
        ) and quiet.requests == 1
