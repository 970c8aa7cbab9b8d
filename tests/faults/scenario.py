"""The week every fault scenario plays, the people around the agent, and the checks.

A seller's week of customer and internal meetings (organised by the seller and by
customers, back to back, with descriptions people wrote) is put on a fresh calendar; then
people change things (a meeting moves, one is cancelled, one turns internal, the seller
declines one and deletes a block, a customer adds to a description). After each act the
agent must converge, and the checks below compare the calendar with what people wrote and
with a fault-free run of the same week.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from agent.core.htmltext import plain_text
from agent.core.model import BodyFormat, Event, Kind
from agent.state.store import CalendarKey, Store
from agent.text import splice
from tests.support.harness.base import Harness
from tests.support.servers.proxy import Request, Seen

COLLEAGUE = "colleague"  # stands for a colleague of the seller's, at the seller's domain


@dataclass(frozen=True)
class Spec:
    title: str
    day: int  # from the scenario's Monday
    hour: int
    minute: int = 0
    minutes: int = 60
    guests: tuple[str, ...] = ("dana@globex.example",)
    organizer: str | None = None  # None: the seller organises
    description: str = ""


WEEK = (
    Spec(
        "Globex: discovery",
        0,
        10,
        description="Dial-in: 555-0100\nDana asked about data residency.",
    ),
    Spec(
        "Initech: pricing review",
        0,
        14,
        guests=("eli@initech.example",),
        organizer="eli@initech.example",
        description="Eli's notes:\n1. volumes\n2. terms",
    ),
    Spec("Team sync", 1, 9, 30, guests=(COLLEAGUE,)),
    Spec("Umbrella: security review", 1, 11, description="Pat wants sections 3-5."),
    # right after Umbrella
    Spec("Kestrel: weekly check-in", 1, 12, 0, 30, guests=("kim@kestrel.example",)),
    Spec(
        "Hooli: QBR",
        2,
        15,
        guests=("gavin@hooli.example", "raj@hooli.example"),
        description="Ünïcödé and {{ braces }} stay as they are.\r\nSecond line  ",
    ),
    Spec(
        "Contoso: proposal",
        3,
        10,
        30,
        90,
        guests=("mei@contoso.example",),
        organizer="mei@contoso.example",
    ),
)
ADDED_BY_A_CUSTOMER = "\nRoom 4 is booked. -- Gavin"


class Week:
    """The scenario on one harness: it puts the week on the calendar, acts as the people, and
    remembers what people wrote in each description."""

    def __init__(self, harness: Harness, monday: datetime) -> None:
        self.harness = harness
        self.monday = monday
        self.keys: dict[str, str] = {}  # title -> meeting key
        self.written: dict[str, str] = {}  # meeting key -> what people wrote in its description
        self.colleague = "bo@" + harness.seller.partition("@")[2]

    def at(self, day: int, hour: int, minute: int = 0) -> datetime:
        """A time of the week, in UTC: a TZID without its VTIMEZONE costs Radicale a tenth of
        a second per write, and zones are not what these scenarios test."""
        return (self.monday.replace(hour=hour, minute=minute) + timedelta(days=day)).astimezone(UTC)

    def seed(self) -> None:
        for spec in WEEK:
            start = self.at(spec.day, spec.hour, spec.minute)
            guests = [self.colleague if guest == COLLEAGUE else guest for guest in spec.guests]
            key = self.harness.add_meeting(
                spec.title, start, spec.minutes, guests, spec.organizer, spec.description
            )
            self.keys[spec.title] = key
        # what people wrote is what their client stored (it may normalise line breaks)
        self.written = {
            event.key: event.description
            for event in self.harness.events()
            if event.key in self.keys.values()
        }

    def act(self) -> None:
        """What people do during the week, once the agent has enriched it."""
        harness, keys = self.harness, self.keys
        harness.edit_meeting(keys["Globex: discovery"], start=self.at(0, 12))
        harness.edit_meeting(keys["Umbrella: security review"], cancel=True)
        harness.edit_meeting(keys["Kestrel: weekly check-in"], guests=[self.colleague])
        harness.edit_meeting(keys["Contoso: proposal"], decline=True)
        harness.delete(harness.block_for("prep", keys["Initech: pricing review"]))
        hooli = harness.meeting(keys["Hooli: QBR"])
        harness.write_description(hooli, hooli.description + ADDED_BY_A_CUSTOMER)
        # as their client stored it
        self.written[hooli.key] = people_text(harness.meeting(hooli.key))
        if keys["Umbrella: security review"] not in {event.key for event in harness.events()}:
            # cancelling deleted it (Google): a person's doing
            del self.written[keys["Umbrella: security review"]]


READS = ("GET", "PROPFIND", "REPORT")


def writes(seen: list[Seen]) -> list[Request]:
    """The requests that could change the calendar: all but reads, and but JSON batches of
    reads (Graph reads changed events back in `$batch` POSTs)."""
    found = []
    for entry in seen:
        request = entry.request
        if request.method in READS:
            continue
        if request.method == "POST" and request.path.split("?")[0].endswith("/$batch"):
            if all(
                part.get("method") in READS for part in json.loads(request.body).get("requests", [])
            ):
                continue
        found.append(request)
    return found


def ours(meeting: Event) -> splice.Found | None:
    """Where the agent's intact agenda is in a meeting's description (text or HTML), if it is."""
    found = splice.for_meeting(meeting).find(meeting.description, meeting.agenda_tag)
    return found if found.state is splice.AgendaState.OURS else None


def people_text(meeting: Event) -> str:
    """A meeting's description without the agenda the agent inserted (if it is intact)."""
    found = ours(meeting)
    return (
        meeting.description
        if found is None
        else splice.for_meeting(meeting).strip(meeting.description, found)
    )


def kept(meeting: Event, written: str) -> bool:
    """Whether a meeting still holds what people wrote: byte for byte in a text body; in an
    HTML body, the text a person reads (Exchange re-serialises HTML on every write)."""
    if meeting.body_format is BodyFormat.HTML:
        return plain_text(people_text(meeting), BodyFormat.HTML) == plain_text(
            written, BodyFormat.HTML
        )
    return people_text(meeting) == written


@dataclass
class Findings:
    """What the checks found on one calendar: each count is zero when the agent behaved."""

    duplicates: int = (
        0  # blocks beyond one per (kind, meeting), agenda chunks beyond one per meeting
    )
    text_lost: int = 0  # meetings whose description, without our agenda, is not what people wrote
    orphans: int = 0  # blocks whose meeting is gone (blocks a person wrote in excepted)
    audit: list[str] = field(default_factory=list)  # state database and calendar disagree

    @property
    def clean(self) -> bool:
        return not (self.duplicates or self.text_lost or self.orphans or self.audit)


def inspect(
    events: list[Event],
    written: dict[str, str],
    store: Store | None = None,
    calendar: CalendarKey | None = None,
) -> Findings:
    """Check a calendar against what people wrote and, given a store, against its records."""
    findings = Findings()
    meetings = {event.key: event for event in events if not event.is_block}
    blocks = [event for event in events if event.block_tag is not None]
    per_meeting = Counter((block.block_tag.kind, block.block_tag.meeting_key) for block in blocks)  # type: ignore[union-attr]
    findings.duplicates = sum(count - 1 for count in per_meeting.values())
    findings.duplicates += sum(
        max(0, plain_text(m.description, m.body_format).count(splice.BEGIN) - 1)
        for m in meetings.values()
    )
    findings.text_lost = sum(
        1 for key, text in written.items() if key in meetings and not kept(meetings[key], text)
    )
    findings.text_lost += sum(1 for key in written if key not in meetings)
    findings.orphans = sum(
        1 for block in blocks if block.block_tag and block.block_tag.meeting_key not in meetings
    )
    if store is not None and calendar is not None:
        findings.audit = audit_problems(events, store, calendar)
    return findings


OWNING = {"create", "update", "adopt", "write agenda"}


def audit_problems(events: list[Event], store: Store, calendar: CalendarKey) -> list[str]:
    """Where the state database disagrees with the calendar: an artifact recorded at a ref the
    calendar does not have (or holds under another tag), an artifact of ours on the calendar
    that the database does not know, or a recorded artifact whose last audit entry (of its
    ref: deleting a duplicate is another block's entry) does not say the agent owns it."""
    on_calendar: dict[tuple[Kind, str], str] = {}
    for event in events:
        if event.block_tag is not None:
            on_calendar[(event.block_tag.kind, event.block_tag.meeting_key)] = event.ref
        elif event.agenda_tag is not None and ours(event) is not None:
            on_calendar[(Kind.AGENDA, event.key)] = event.ref
    recorded = {(a.kind, a.meeting_key): a.ref for a in store.artifacts(calendar)}
    last: dict[tuple[Kind, str, str], str] = {}
    for entry in reversed(store.audit()):
        if (entry.account, entry.calendar) == calendar:
            last[(Kind(entry.kind), entry.meeting_key, entry.ref)] = entry.action
    problems = [
        f"{kind} of {key}: recorded at {ref}, not on the calendar"
        for (kind, key), ref in recorded.items()
        if on_calendar.get((kind, key)) != ref
    ]
    problems += [
        f"{kind} of {key}: on the calendar, not recorded"
        for kind, key in on_calendar.keys() - recorded.keys()
    ]
    problems += [
        f"{kind} of {key}: recorded, but its last audit entry is {last.get((kind, key, ref))!r}"
        for (kind, key), ref in recorded.items()
        if last.get((kind, key, ref)) not in OWNING
    ]
    return problems


def snapshot(
    events: list[Event], tombstones: frozenset[tuple[Kind, str]] = frozenset()
) -> dict[str, list[tuple]]:
    """The calendar as people see it, by title (keys and refs differ between calendars),
    plus what the agent promised never to recreate: equal snapshots mean the same outcome."""
    titles = {event.key: event.title for event in events if not event.is_block}
    seen: dict[str, list[tuple]] = defaultdict(list)
    for event in events:
        owner = (
            f"{event.block_tag.kind} for {titles.get(event.block_tag.meeting_key)}"
            if event.block_tag
            else event.title
        )
        seen[owner].append(
            (event.title, event.start, event.end, event.description, bool(event.agenda_tag))
        )
    for kind, key in tombstones:
        seen[f"tombstone: {kind} for {titles.get(key)}"].append(())
    return {owner: sorted(versions) for owner, versions in seen.items()}
