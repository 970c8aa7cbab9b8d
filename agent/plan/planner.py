"""The planner: a pure reconciler from what the calendar holds to what it should hold.

Like a Kubernetes controller it never reacts to "what just happened". It derives the desired
artifacts from the meetings, compares them with the artifacts the agent owns (found on the
calendar by their tags) and returns the smallest list of changes that closes the gap.
Applying those changes and planning again yields nothing. No I/O, no clock, no randomness:
`now` and everything else arrive as arguments. Every comparison with `now` is asked of a
`Clock` (agent.core.clock), so the plan comes with its deadline: the first instant at which
its answer could change with the same inputs.

The rules it enforces (docs/architecture.md, the invariants: never lose a person's text, never
spam customers, respect people's choices):
- a block is never placed twice for one meeting, and duplicates found on the calendar go;
- a block that has started is history: never moved, rewritten or deleted;
- a block the seller moved stays where they put it (it follows its meeting if that moves);
- a block or agenda a person edited keeps their words: times may follow the meeting, text
  is never rewritten, and an edited block is never deleted;
- a block or agenda a person deleted is not recreated (tombstone);
- the agenda is written when first due and rewritten only when its rendered text changes.
"""

from __future__ import annotations

import bisect
import functools
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import date, datetime, timedelta, tzinfo
from typing import NamedTuple

from agent.config.settings import Settings
from agent.core.callplan import PlanState
from agent.core.clock import Clock, Deadline, Rule, elapsed
from agent.core.fingerprint import block_edited
from agent.core.history import History, Owned, Record
from agent.core.model import (
    AgendaTag,
    Attendee,
    BlockSpec,
    BlockTag,
    BodyFormat,
    Event,
    Interval,
    Kind,
    Response,
    Status,
    Window,
)
from agent.plan import blocks
from agent.plan.agenda import AgendaDecision, AgendaRules, agenda_inputs
from agent.plan.changes import (
    Adopt,
    Change,
    CreateBlock,
    DeleteBlock,
    Tombstone,
    UpdateBlock,
    WriteAgenda,
    in_order,
)
from agent.plan.classify import Classifier
from agent.plan.placement import ONE_DAY, Placer, Timeline
from agent.plan.wanted import unwanted, vanished
from agent.plan.words import WordsMemo
from agent.text import splice
from agent.text.render import (
    MeetingContext,
    Person,
    Preview,
    Renderer,
    agenda_items,
    debrief_title,
    prep_title,
)

BLOCK_KINDS = (Kind.PREP, Kind.DEBRIEF)
NO_PLAN = PlanState()
# why a new block is created, by kind
NEW_BLOCK_REASONS = {kind: f"{kind} for a customer meeting" for kind in BLOCK_KINDS}
# what starts when an artifact's time comes: a block, or the meeting an agenda is in
STARTS = {
    Kind.PREP: Rule.PREP_STARTS,
    Kind.DEBRIEF: Rule.DEBRIEF_STARTS,
    Kind.AGENDA: Rule.MEETING_STARTS,
}


class Plan(NamedTuple):
    """What a plan returns: the changes, and the first instant at which they could be other
    with the same inputs (None: no rule that reads the clock could change them)."""

    changes: list[Change]
    deadline: Deadline | None


class _Spans(NamedTuple):
    """A block kind's length, and how far from its meeting a search for a slot goes: back
    from a prep's meeting, on from where a debrief could start."""

    length: timedelta
    search: timedelta


# A block placed by this plan that is not on the calendar yet; its text comes later: its kind,
# meeting, meeting's context, title, slot, and (a prep's, when agendas are on) preview. A plain
# tuple, made for every block and read once, by position
_NewBlock = tuple[Kind, Event, MeetingContext, str, Interval, blocks.Preview | None]


class _Preview:
    """A prep's preview (blocks.Preview): its fingerprint, set once the plan has it, and its text,
    rendered when first asked for (for that fingerprint, or for the block it goes into) and then
    kept: a plan renders it once at most. One object a prep, not also a tuple around it."""

    __slots__ = ("fingerprint", "_renderer", "_context", "_latest", "_preview", "_text")

    fingerprint: str

    def __init__(
        self, renderer: Renderer, context: MeetingContext, latest: MeetingContext, preview: Preview
    ) -> None:
        self._renderer = renderer
        self._context = context
        self._latest = latest
        self._preview = preview
        self._text: str | None = None

    def text(self) -> str:
        if self._text is None:
            # the agenda is the last of Preview's fields: the others are taken as they are, by
            # position (`_replace` goes through its fields by name, in Python)
            preview = Preview(*self._preview[:-1], self._renderer.agenda(self._latest))
            self._text = self._renderer.preview(self._context, preview)
        return self._text


def plan(
    now: datetime,
    meetings: Iterable[Event],
    owned: Owned,
    busy: Iterable[Interval],
    settings: Settings,
    renderer: Renderer,
    window: Window,
    history: History | None = None,
    rules: Classifier | None = None,
    plans: Mapping[str, PlanState] | None = None,
    verdicts: dict[str, MeetingVerdict] | None = None,
) -> Plan:
    """The changes that bring the calendar to what it should hold at `now`, and until when
    they hold.

    `rules` classify the meetings: the cycle's, shared with the loop and the engine, or a
    fresh set for `settings`. `plans` are the call plans sellers wrote in their preps, by
    meeting. `verdicts`, when given, receives what the plan decided for each meeting and why
    (dry runs and `callplan status` show it).
    """
    rules = rules or Classifier(settings)
    assert rules.settings is settings, "the rules must be the plan's own settings"
    clock = Clock(now)
    planner = _Planner(
        clock,
        list(meetings),
        owned,
        list(busy),
        rules,
        renderer,
        window,
        history or History(),
        plans or {},
    )
    changes = planner.run()
    if verdicts is not None:
        verdicts.update(planner.verdicts())
    return Plan(changes, clock.deadline)


class MeetingVerdict(NamedTuple):
    """What callplan does with one meeting of the window, and why."""

    meeting: Event
    verdict: str  # one line: "customer meeting; agenda: waits for a purpose (...)"
    agenda: AgendaDecision | None = None  # for a customer meeting to come, agendas on


class _Planner:
    def __init__(
        self,
        clock: Clock,
        meetings: list[Event],
        owned: Owned,
        busy: list[Interval],
        rules: Classifier,
        renderer: Renderer,
        window: Window,
        history: History,
        plans: Mapping[str, PlanState],
    ) -> None:
        self.clock = clock
        self.plans = plans
        self.settings = settings = rules.settings
        self.renderer = renderer
        # a block's text by its kind: the debrief form, or a prep's form part (its preview comes
        # apart); the renderer's own methods, looked up once a plan, not through a call a block
        self.texts = {Kind.PREP: renderer.prep, Kind.DEBRIEF: renderer.debrief}
        self.window = window
        self.history = history
        self.owned = owned
        # not `is_block`, a property: the field it reads, read directly for every event
        self.meetings = {meeting.key: meeting for meeting in meetings if meeting.block_tag is None}
        self.busy = busy
        self.changes: list[Change] = []
        self.deleting: set[tuple[Kind, str]] = set()
        self.tombstones = set(owned.tombstones)  # grows with the tombstones this plan adds
        self._edits: dict[str, bool] = {}
        self._previews: dict[str, splice.Found] = {}  # by prep block: its preview
        self._memo = WordsMemo()
        self._preview_fingerprints: dict[str, str] = {}  # by preview text
        self._new: list[_NewBlock] = []  # placed, to be written once all are placed
        self.rules = rules
        self.blocks = self._canonical_blocks()
        self.customer_keys = {
            key for key, meeting in self.meetings.items() if self.rules.classify(meeting).customer
        }
        self.eligible = self._eligible()
        # each eligible meeting's customer, and its start in the seller's time zone (its context
        # shows it, and its day is named from it)
        self.customers: dict[str, tuple[str, datetime]] = {}
        # each customer's meeting starts, in order (eligible is sorted): neighbours by bisection;
        # and the day each starts on, as a meeting's context names its neighbours' (named once
        # a meeting, not once for each neighbour it is)
        self.starts: dict[str, list[datetime]] = defaultdict(list)
        self.days: dict[str, list[str]] = defaultdict(list)
        zone = settings.timezone
        for key in self.eligible:
            meeting = self.meetings[key]
            customer = self.rules.customer_of(meeting)
            start = meeting.start.astimezone(zone)
            self.customers[key] = (customer, start)
            if customer:  # "": a meeting with nobody else in it has no neighbours
                self.starts[customer].append(meeting.start)
                self.days[customer].append(_date_label(start.date()))
        self.placer = Placer(settings.working_hours, settings.timezone, clock)
        # the kinds of block the settings want, in the order they are placed
        self.kinds = tuple(
            kind
            for kind, enabled in zip(BLOCK_KINDS, (settings.prep.enabled, settings.debrief.enabled))
            if enabled
        )
        # each kind's length and how far from its meeting its search goes (made once a plan,
        # not once a block)
        self.spans = {
            Kind.PREP: _Spans(
                timedelta(minutes=settings.prep.minutes),
                timedelta(hours=settings.prep.search_hours),
            ),
            Kind.DEBRIEF: _Spans(
                timedelta(minutes=settings.debrief.minutes),
                timedelta(minutes=settings.debrief.window_minutes),
            ),
        }
        self.horizon = timedelta(days=settings.debrief.next_meeting_horizon_days)
        # what every meeting's context reads of the settings, read once: a settings model
        # answers each attribute read through its own look-up hook
        self.zone, self.zone_name = settings.timezone, str(settings.timezone)
        self.agendas_on = settings.agenda.enabled
        self.notify = settings.agenda.notify == "changes"  # attendees hear of agenda writes
        self.agendas = AgendaRules(settings, self.rules, clock)
        # guests as contexts show them, by all that is shown of them (see _people)
        self._persons: dict[tuple[str, str, bool, bool, Response, bool], Person] = {}
        self.decisions: dict[str, AgendaDecision] = {}  # by meeting: what its agenda does
        self._agenda_adopts: dict[str, Event] = {}  # agendas found by their tag, not recorded

    def verdicts(self) -> dict[str, MeetingVerdict]:
        """Each meeting's verdict, once the plan has run: why it is not a customer meeting, or
        what its agenda does."""
        eligible = set(self.eligible)
        found = {}
        for key, meeting in self.meetings.items():
            verdict = self.rules.classify(meeting)
            decision = self.decisions.get(key)
            if not verdict.customer:
                line = f"left alone: {verdict.reason}"
            elif key not in eligible:
                line = f"{verdict.reason}: " + (
                    "over" if meeting.end <= self.clock.now else "beyond the look-ahead"
                )
            elif decision is None:
                line = f"{verdict.reason}; agendas are off"
            else:
                line = f"{verdict.reason}; agenda: {decision.verdict}"
            found[key] = MeetingVerdict(meeting, line, decision)
        return found

    # -- the steps -------------------------------------------------------------------------

    def run(self) -> list[Change]:
        self._reconcile_records()
        self._remove_unwanted()
        self._place_and_write()
        self._write_new_blocks()
        for key, meeting in self._agenda_adopts.items():  # agendas this plan did not look at
            self.changes.append(
                Adopt(Kind.AGENDA, key, meeting, "agenda found on the calendar by its tag")
            )
        return in_order(self.changes)

    def _canonical_blocks(self) -> dict[tuple[Kind, str], Event]:
        """One block per (kind, meeting); any duplicate on the calendar is deleted."""
        groups: dict[tuple[Kind, str], list[Event]] = defaultdict(list)
        for block in self.owned.blocks:
            assert block.block_tag is not None
            groups[(block.block_tag.kind, block.block_tag.meeting_key)].append(block)
        chosen = {}
        for ident, group in groups.items():
            if len(group) > 1:  # the recorded one is kept, else the first by reference
                record = self.owned.records.get(ident)
                group.sort(key=lambda block: (record is None or block.ref != record.ref, block.ref))
            chosen[ident] = group[0]
            for extra in group[1:]:
                if self._before_start(extra, ident) and not self._edited(extra):
                    self.changes.append(DeleteBlock(extra, "duplicate block", surplus=True))
        return chosen

    def _eligible(self) -> list[str]:
        """Customer meetings still to come (or under way) inside the look-ahead, by start."""
        clock, back = self.clock, -timedelta(days=self.settings.lookahead_days)
        # (start, key) pairs, sorted as they are: no key function called for each meeting
        found = []
        for key in self.customer_keys:
            meeting = self.meetings[key]
            if clock.before(meeting.end, Rule.MEETING_ENDS, meeting.title) and clock.past(
                elapsed(meeting.start, back), Rule.LOOKAHEAD, meeting.title
            ):
                found.append((meeting.start, key))
        found.sort()
        return [key for _, key in found]

    def _reconcile_records(self) -> None:
        """Adopt what the calendar has that the store forgot; tombstone what a person deleted."""
        for ident, block in self.blocks.items():
            if ident not in self.owned.records:
                self.changes.append(
                    Adopt(ident[0], ident[1], block, "found on the calendar by its tag")
                )
        for key, meeting in self.meetings.items():
            if (
                meeting.agenda_tag is not None
                and (Kind.AGENDA, key) not in self.owned.records
                and not self._agenda_gone(meeting)
            ):
                self._agenda_adopts[key] = meeting  # recorded with what it says, if it is looked at
        for (kind, key), record in self.owned.records.items():
            if kind is Kind.AGENDA:
                self._reconcile_agenda_record(key, record)
            elif (kind, key) not in self.blocks and self._observable(record):
                self._gone(kind, key, record.ref)

    def _gone(self, kind: Kind, key: str, ref: str) -> None:
        """A recorded artifact is missing: a tombstone if a person deleted it, else the record
        goes (`vanished`, the rule the engine follows when a write finds a block gone)."""
        change = vanished(kind, key, ref, unwanted(kind, self.meetings.get(key), self.rules))
        if isinstance(change, Tombstone):
            self.tombstones.add((kind, key))
        self.changes.append(change)

    def _reconcile_agenda_record(self, key: str, record: Record) -> None:
        meeting = self.meetings.get(key)
        if meeting is None:
            # a read would have seen it: the meeting, agenda and all, is gone
            if self._observable(record):
                self._gone(Kind.AGENDA, key, record.ref)
            return  # else out of the window: nothing to protect
        if self._agenda_gone(meeting):
            self._gone(Kind.AGENDA, key, record.ref)

    @staticmethod
    def _agenda_gone(meeting: Event) -> bool:
        """Has a person removed our agenda's text? The tag stays behind on providers that keep
        it apart from the description: that is no agenda to adopt, only one to forget."""
        found = splice.for_meeting(meeting).find(meeting.description, meeting.agenda_tag)
        return found.state in (splice.AgendaState.ABSENT, splice.AgendaState.REMOVED)

    def _observable(self, record: Record) -> bool:
        """Would this block be in what we read? Only then does its absence mean deletion."""
        if record.start is None or record.end is None:
            return False
        return (
            record.start >= self.window.start
            and record.end <= self.window.end
            and self.clock.before(
                record.start, STARTS[record.kind], self._title(record.meeting_key)
            )
        )

    def _title(self, key: str) -> str:
        """The title of a meeting, for what a deadline says ("" when it is not in the calendar)."""
        meeting = self.meetings.get(key)
        return meeting.title if meeting is not None else ""

    def _started(self, block: Event, ident: tuple[Kind, str]) -> bool:
        """Has the block started (and become history)?"""
        return self.clock.reached(block.start, STARTS[ident[0]], self._title(ident[1]))

    def _before_start(self, block: Event, ident: tuple[Kind, str]) -> bool:
        return not self._started(block, ident)

    def _remove_unwanted(self) -> None:
        """Blocks and agendas whose meeting no longer wants them: cancelled, declined, internal,
        gone."""
        for (kind, key), block in self.blocks.items():
            if self._started(block, (kind, key)):
                continue  # history: leave it
            meeting = self.meetings.get(key)
            if meeting is None:
                assert block.block_tag is not None
                tagged = block.block_tag.meeting
                if not (tagged.start >= self.window.start and tagged.end <= self.window.end):
                    continue  # its meeting is outside what we read, not gone
            why = unwanted(kind, meeting, self.rules)
            if not why:
                continue
            reason = (
                "meeting removed from the calendar"
                if meeting is None
                else f"no longer needed: {why}"
            )
            if self._edited(block):
                continue  # a person wrote in it: their words stay
            self.deleting.add((kind, key))
            self.changes.append(DeleteBlock(block, reason))
        for meeting in self.meetings.values():
            if (
                meeting.agenda_tag is None
                or self.clock.reached(meeting.start, Rule.MEETING_STARTS, meeting.title)
                or meeting.status is Status.CANCELLED
            ):
                continue
            reason = unwanted(Kind.AGENDA, meeting, self.rules)
            if not reason:
                continue
            splicer = splice.for_meeting(meeting)
            found = splicer.find(meeting.description, meeting.agenda_tag)
            if found.state is splice.AgendaState.OURS:
                text = splicer.strip(meeting.description, found)
                self.changes.append(
                    WriteAgenda(meeting, text, None, False, f"agenda removed: {reason}")
                )

    def _place_and_write(self) -> None:
        fixed = self._fixed_positions()
        taken = Timeline(
            [
                *fixed.values(),
                *[meeting.span for meeting in self.meetings.values() if meeting.busy],
                *self.busy,
            ]
        )
        agents = Timeline(fixed.values())
        chain_end = self._chain_ends()
        tombstones = self.tombstones
        for key in self.eligible:
            meeting = self.meetings[key]
            state = self.plans.get(key, NO_PLAN)
            context = self._context(meeting, state)
            decision = self._agenda(meeting, context, state)
            for kind in self.kinds:
                if (kind, key) not in tombstones:
                    preview = (
                        self._preview(meeting, context, decision, state)
                        if kind is Kind.PREP
                        else None
                    )
                    self._block(
                        kind, meeting, context, fixed, taken, agents, chain_end[key], preview
                    )

    def _fixed_positions(self) -> dict[tuple[Kind, str], Interval]:
        """Blocks the planner may not re-place: started ones, ones the seller moved, and ones
        it keeps without planning (the meeting is over, or a person wrote in them)."""
        fixed = {}
        eligible = set(self.eligible)
        for ident, block in self.blocks.items():
            tag = block.block_tag
            assert tag is not None
            if ident in self.deleting:
                continue
            if self._started(block, ident) or ident[1] not in eligible:
                fixed[ident] = block.span
            elif _pinned(block):  # an eligible block's meeting is in the calendar
                meeting = self.meetings[ident[1]]
                moved = meeting.span != tag.meeting
                target = (
                    block.span.shifted(meeting.start - tag.meeting.start) if moved else block.span
                )
                later = self.clock.before(target.start, STARTS[ident[0]], meeting.title)
                fixed[ident] = target if later else block.span
        return fixed

    def _chain_ends(self) -> dict[str, datetime]:
        """For back-to-back customer meetings, debriefs go after the whole chain."""
        gap = timedelta(minutes=self.settings.debrief.minutes)
        ends: dict[str, datetime] = {}
        chain: list[str] = []
        end: datetime | None = None
        for key in self.eligible:
            meeting = self.meetings[key]
            if end is not None and meeting.start - end < gap:
                chain.append(key)
                end = max(end, meeting.end)
            else:
                if end is not None:  # a chain closes: each of its meetings gets its end
                    ends.update(dict.fromkeys(chain, end))
                chain, end = [key], meeting.end
        if end is not None:
            ends.update(dict.fromkeys(chain, end))
        return ends

    # -- one meeting -------------------------------------------------------------------------

    def _slot(
        self, kind: Kind, meeting: Event, taken: Timeline, agents: Timeline, chain_end: datetime
    ) -> Interval | None:
        """The ideal slot if free; else free time in working hours, then free time at all,
        within the search span; and only then a slot that overlaps a meeting but no block.
        (The last search's bound is worked out only when it comes to that search.)"""
        placer, rule, title = self.placer, STARTS[kind], meeting.title
        why = (rule, title)
        length, search = self.spans[kind]
        if kind is Kind.PREP:
            start = meeting.start
            ideal = Interval(start - length, start)
            if self.clock.before(ideal.start, rule, title) and taken.is_free(ideal):
                return ideal
            earliest = start - search
            return (
                placer.latest_before(taken, length, start, earliest, True, why)
                or placer.latest_before(taken, length, start, earliest, False, why)
                or placer.latest_before(agents, length, start, start - ONE_DAY, False, why)
            )
        ideal = Interval(chain_end, chain_end + length)
        if self.clock.before(chain_end, rule, title) and taken.is_free(ideal):
            return ideal
        latest = chain_end + search
        return (
            placer.first_after(taken, length, chain_end, latest, True, why)
            or placer.first_after(taken, length, chain_end, latest, False, why)
            or placer.first_after(agents, length, chain_end, chain_end + ONE_DAY, False, why)
        )

    def _block(
        self,
        kind: Kind,
        meeting: Event,
        context: MeetingContext,
        fixed: Mapping[tuple[Kind, str], Interval],
        taken: Timeline,
        agents: Timeline,
        chain_end: datetime,
        preview: blocks.Preview | None,
    ) -> None:
        ident = (kind, meeting.key)
        existing = self.blocks.get(ident)
        if existing is not None and self._started(existing, ident):
            return  # under way or over: the seller may be writing in it
        target = fixed.get(ident)
        if target is None:
            target = self._slot(kind, meeting, taken, agents, chain_end)
            if target is None:
                return  # too late for this block (the meeting is about to start)
            taken.add(target)
            agents.add(target)
        title = prep_title(meeting.title) if kind is Kind.PREP else debrief_title(meeting.title)
        if existing is None:
            self._new.append((kind, meeting, context, title, target, preview))
            return
        old = existing.block_tag
        assert old is not None
        # the text is rendered only if it changed (its fingerprint is remembered by input)
        content = self.renderer.remember(
            (kind, title, context),
            lambda: self._memo.fingerprint(title, self.texts[kind](context)),
        )
        tag = BlockTag(
            kind,
            meeting.key,
            target,
            meeting.span,
            content,
            pinned=_pinned(existing),
            preview=preview.fingerprint if preview is not None else "",
        )
        spec = blocks.updated(
            existing,
            title,
            target,
            tag,
            lambda: self.texts[kind](context),
            preview,
            self._preview_found(existing),
            self._form_edited(existing),
        )
        if spec is not None:
            self.changes.append(UpdateBlock(existing, spec, _why(existing, target, meeting)))

    def _write_new_blocks(self) -> None:
        """Render and fingerprint the texts of the blocks this plan places, once all are placed.

        The changes are the ones writing each block as it is placed would give. Rendering them
        all in one run, then fingerprinting them all, keeps each step's code and data in the
        processor's caches rather than taking turns with slot search and context building, which
        a large first sync feels (`python -m tests.bench` measures it). A prep's fingerprint is
        of its form; its preview has one of its own.
        """
        render = self.texts
        texts = [render[kind](context) for kind, _, context, _, _, _ in self._new]
        fingerprints = [
            self._memo.fingerprint(title, text)
            for (_, _, _, title, _, _), text in zip(self._new, texts)
        ]
        for (kind, meeting, _, title, slot, preview), text, fingerprint in zip(
            self._new, texts, fingerprints
        ):
            # positional, in the order of BlockTag's fields (keywords are packed into a dictionary)
            tag = BlockTag(
                kind,
                meeting.key,
                slot,
                meeting.span,
                fingerprint,
                False,
                preview.fingerprint if preview is not None else "",
            )
            self.changes.append(
                CreateBlock(
                    BlockSpec(title, slot.start, slot.end, blocks.whole(text, preview), tag),
                    NEW_BLOCK_REASONS[kind],
                )
            )

    def _preview(
        self,
        meeting: Event,
        context: MeetingContext,
        decision: AgendaDecision | None,
        state: PlanState,
    ) -> blocks.Preview | None:
        """The preview the meeting's prep should end with (None when agendas are off): what
        happens to the agenda, what it carries, what was kept out, and the agenda as the
        customer will see it once what the seller last wrote has settled (or the draft)."""
        if decision is None:
            return None
        carry = context.carry
        if carry is not None and carry.pending is not None:
            carry = carry.carrying(carry.pending)
        latest = (
            context
            if (state.latest, carry) == (context.plan, context.carry)
            else context._replace(plan=state.latest, carry=carry)
        )
        # nothing is pending without an instant it settles at (`pending` is a property)
        settles = state.settles_at
        if settles is not None and state.pending is None:
            settles = None
        preview = Preview(
            decision.status,
            decision.draft,
            settles.astimezone(self.zone)
            if settles is not None and not (decision.draft or decision.waiting)
            else None,
            state.withheld,
        )
        ending = _Preview(self.renderer, context, latest, preview)
        # the latest context is the meeting's own unless the plan or debrief changed since: then
        # the key holds it once (None for "the same"), not twice, as hashing it costs
        ending.fingerprint = self.renderer.remember(
            ("preview", context, None if latest is context else latest, preview),
            lambda: self._preview_fingerprint(ending.text()),
        )
        return ending

    def _preview_fingerprint(self, text: str) -> str:
        """`splice.preview_fingerprint(text)`, once per distinct text a plan renders: the
        previews of many meetings read alike (the renderer hands back the text it remembers)."""
        found = self._preview_fingerprints.get(text)
        if found is None:
            found = self._preview_fingerprints[text] = splice.preview_fingerprint(
                text, self._memo.words_fingerprint
            )
        return found

    def _preview_found(self, block: Event) -> splice.Found:
        """A prep's preview, once per block and plan (a debrief has none: ABSENT)."""
        tag = block.block_tag
        assert tag is not None
        if tag.kind is not Kind.PREP:
            return splice.Found(splice.AgendaState.ABSENT)
        if block.ref not in self._previews:
            known = self.plans.get(tag.meeting_key, NO_PLAN).previews
            self._previews[block.ref] = splice.preview_of(block, known)
        return self._previews[block.ref]

    def _form_edited(self, block: Event) -> bool:
        """block_edited(block), once per block and plan: fingerprinting a text is not free."""
        if block.ref not in self._edits:
            self._edits[block.ref] = block_edited(block)
        return self._edits[block.ref]

    def _edited(self, block: Event) -> bool:
        """Did a person write in a block: in its text, or (a prep) in callplan's preview? Their
        words are kept, and the block is never deleted."""
        return self._form_edited(block) or blocks.typed_in(self._preview_found(block))

    def _agenda(
        self, meeting: Event, context: MeetingContext, state: PlanState
    ) -> AgendaDecision | None:
        """Decide the meeting's agenda (agent.plan.agenda) and plan the write it needs; None
        when agendas are off."""
        if not self.agendas_on:
            return None
        tag = meeting.agenda_tag
        body_format = tag.body_format if tag else meeting.body_format
        splicer = splice.splicer(body_format)
        # an empty description without our tag holds no agenda: nothing to look for (as most
        # invitations are, at a first sync)
        found = (
            splicer.find(meeting.description, tag)
            if tag is not None or meeting.description
            else blocks.NONE_FOUND
        )
        record = self.owned.records.get((Kind.AGENDA, meeting.key))
        html = body_format is BodyFormat.HTML

        def body() -> str:
            return self.renderer.agenda_html(context) if html else self.renderer.agenda(context)

        def changed() -> bool:
            assert tag is not None
            fingerprint = self.renderer.remember(
                (Kind.AGENDA, body_format, context), lambda: splicer.fingerprint(body())
            )
            return fingerprint != tag.content

        decision = self.agendas.decide(
            meeting,
            context,
            state,
            found,
            (Kind.AGENDA, meeting.key) in self.tombstones,
            (tag.inputs if tag else "") or (record.inputs if record else ""),
            changed,
        )
        self.decisions[meeting.key] = decision
        notify = self.notify
        adopted = self._agenda_adopts.pop(meeting.key, None)
        if decision.action == "insert":
            text, sep = splicer.insert(meeting.description, rendered := body())
            new = AgendaTag(
                meeting.key, splicer.fingerprint(rendered), sep, body_format, agenda_inputs(context)
            )
            self.changes.append(WriteAgenda(meeting, text, new, notify, "agenda inserted"))
        elif decision.action == "rewrite":
            assert tag is not None
            text = splicer.replace(meeting.description, found, rendered := body(), tag.sep)
            new = replace(tag, content=splicer.fingerprint(rendered), inputs=agenda_inputs(context))
            self.changes.append(WriteAgenda(meeting, text, new, notify, "agenda content changed"))
        elif decision.action == "adopt":
            self.changes.append(
                Adopt(
                    Kind.AGENDA,
                    meeting.key,
                    meeting,
                    "agenda written by an earlier callplan: kept as it is until what it says "
                    "changes",
                    inputs=agenda_inputs(context),
                )
            )
        elif adopted is not None:
            self.changes.append(
                Adopt(Kind.AGENDA, meeting.key, adopted, "agenda found on the calendar by its tag")
            )
        return decision

    def _context(self, meeting: Event, state: PlanState) -> MeetingContext:
        zone, agendas_on = self.zone, self.agendas_on
        customer, start = self.customers[meeting.key]
        # the classifier sorted the guests from inside when it sorted those from outside
        outside, inside = self.rules.guests(meeting)
        customers = self._people(outside, meeting.organizer, True)
        colleagues = self._people(inside, meeting.organizer, False)
        first, previous, upcoming = self._neighbours(meeting, customer)
        carry = self.history.carry_before(customer, meeting.start)
        if carry is not None and not agendas_on:  # no agenda carries anything
            carry = replace(carry, agreed=None, pending=None, settles_at=None, withheld=())
        end = meeting.end.astimezone(zone)
        # positional, in the order of MeetingContext's fields: a call with keywords first packs
        # them into a dictionary, for every meeting
        context = MeetingContext(
            meeting.title,
            start,
            end,
            self.zone_name,
            meeting.location,
            customer,
            self.rules.label(customer),
            meeting.self_email,
            meeting.self_is_organizer,
            customers,
            colleagues,
            first,
            previous,
            upcoming,
            agenda_items(
                max(1, int((meeting.end - meeting.start).total_seconds() // 60)), not first
            ),
            carry,
            state.agreed if agendas_on else None,
            agendas_on,
        )
        return context

    def _people(
        self, attendees: tuple[Attendee, ...], organizer: str, outside: bool
    ) -> tuple[Person, ...]:
        """Guests as a meeting's context shows them, those from `outside` with their company's
        label. The same people come to many meetings: each is made once a plan for all that it
        shows of them, and looked up by that after."""
        people, label = self._persons, self.rules.customer_label
        found = []
        for a in attendees:
            key = (a.name, a.email, a.address == organizer, a.optional, a.response, outside)
            person = people.get(key)
            if person is None:
                # an answer's text is read as `_value_`, the member's own attribute: `.value` is
                # a property, which Python runs on every read
                person = people[key] = Person(
                    a.name, a.email, label(a) if outside else "", key[2], a.optional, key[4]._value_
                )
            found.append(person)
        return tuple(found)

    def _neighbours(self, meeting: Event, customer: str) -> tuple[bool, str, str]:
        """Whether this is the first meeting with the customer, the day their meeting before it
        started (in the window or before it), and the day their next one within the horizon
        starts ("": none): both from their starts (which hold this meeting's own), the second
        bisection going on from where the first stopped, and their days named once a plan."""
        starts = self.starts[customer]
        start = meeting.start
        index = bisect.bisect_left(starts, start)
        previous = starts[index - 1] if index else None
        previous_day = self.days[customer][index - 1] if index else ""
        past = self.history.last_before(customer, start)
        if past is not None and (previous is None or past.start > previous):
            previous, previous_day = past.start, _day(past.start, self.zone)
        index = bisect.bisect_right(starts, start, index)
        upcoming_day = ""
        if index < len(starts) and starts[index] <= meeting.end + self.horizon:
            upcoming_day = self.days[customer][index]
        return previous is None, previous_day, upcoming_day


def _day(when: datetime | None, zone: tzinfo) -> str:
    return _date_label(when.astimezone(zone).date()) if when else ""


@functools.lru_cache(maxsize=4096)
def _date_label(day: date) -> str:
    return day.strftime("%a %d %b %Y")


def _pinned(block: Event) -> bool:
    """Did the seller move the block (now, or at some point before)?"""
    tag = block.block_tag
    return tag is not None and (tag.pinned or block.span != tag.placed)


def _why(existing: Event, target: Interval, meeting: Event) -> str:
    tag = existing.block_tag
    assert tag is not None
    if meeting.span != tag.meeting:
        return "meeting rescheduled"
    if existing.span != target:
        return "slot no longer free" if not _pinned(existing) else "follows its meeting"
    if _pinned(existing) and not tag.pinned:
        return "moved by the seller: keep it there"
    return "content changed"
