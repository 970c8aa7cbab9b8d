"""The agenda's rules: whether a meeting's invitation gets one, when, and when it changes.

Customer time is precious, and a change of an invitation tells every attendee. So:
- the agenda goes into an invitation the seller organises, at `agenda.lead_days` before the
  meeting, and (`agenda.send`) whatever is written ("auto"), only once the seller has written
  its purpose ("when_planned": in the prep's plan, or as the primary objective of the last
  debrief with the customer; the default agenda goes out `agenda.fallback_hours` before the
  meeting if set), or never ("never");
- it is rewritten only when what it says changes (its inputs: the settled shared sections of
  the plan, what the last debrief agreed, the meeting's length, first meeting or follow-up), so
  neither a new template nor a moved meeting costs the attendees an update; and at most
  `agenda.max_updates_per_day` times on the seller's day;
- a meeting the customer organised, one above `agenda.max_external_guests` outside guests, or
  one whose only outsiders write from personal addresses not named in [customers], gets none:
  the seller gets a draft in the prep; an agenda someone edited or removed is left alone.

Every decision says why, for the prep's preview, dry runs and `callplan status`. Every instant
a decision compares with now (the lead time or the fallback arriving, the daily cap lifting at
the seller's midnight, the meeting starting) is asked of the planner's Clock, so the plan's
deadline covers it; a plan settling is noted where its state is read (agent.loop.plans). Pure:
the planner hands in everything.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import NamedTuple

from agent.config.settings import Settings
from agent.core.callplan import PlanState
from agent.core.clock import Clock, Rule, elapsed, next_midnight
from agent.core.fingerprint import digest
from agent.core.model import Attendee, Event
from agent.plan.classify import Classifier
from agent.text.render import MeetingContext, at_label
from agent.text.splice import AgendaState, Found

SEND_YOURSELF = "If it helps, send the agenda below yourself."
INPUTS_VERSION = 1  # bump only with a reason to rewrite every agenda on the calendars


class AgendaDecision(NamedTuple):
    """What callplan does with one meeting's agenda at the instant it plans, and why.

    A named tuple, not a frozen dataclass: a plan makes one for every meeting it plans, and a
    frozen dataclass sets each of its fields through `object.__setattr__`."""

    verdict: str  # one line, for dry runs and status
    status: tuple[str, ...] = ()  # what the prep's preview says about it
    draft: bool = False  # the seller gets it as a draft to send (the preview says so)
    waiting: bool = False  # it waits for the seller to write its purpose
    action: str = ""  # "insert", "rewrite", "adopt" (record what an old agenda says), or ""


def agenda_inputs(ctx: MeetingContext) -> str:
    """The fingerprint of what an agenda says: what it carries of the plan and the last
    debrief, the meeting's length, and whether it is a first meeting. Kept stable across
    versions of callplan (a new template must not re-send every agenda on the calendars)."""
    shared = ctx.shared()
    agreed = shared.carry.agreed if shared.carry is not None else None
    data = {
        "v": INPUTS_VERSION,
        "plan": asdict(shared.plan) if shared.plan is not None else None,
        "agreed": None
        if agreed is None
        else {
            "date": agreed.meeting_date,
            "objective": agreed.objective,
            "commitments": [[c.who, c.what, c.due] for c in agreed.commitments],
        },
        "minutes": ctx.minutes,
        "first": ctx.first_meeting,
    }
    return digest(json.dumps(data, sort_keys=True))


def purpose(ctx: MeetingContext) -> str:
    """The purpose the agenda states from what the seller wrote (settled), if any."""
    shared = ctx.shared()
    if shared.plan is not None and shared.plan.purpose:
        return shared.plan.purpose
    return shared.carry.objective if shared.carry is not None else ""


class AgendaRules:
    """The rules above, for one seller's settings, at one instant."""

    def __init__(self, settings: Settings, classifier: Classifier, clock: Clock) -> None:
        self.settings = settings
        self.agenda = settings.agenda
        self.rules = classifier
        self.clock = clock
        # how long before its meeting an agenda is due, and its default purpose falls due
        self.lead = timedelta(days=self.agenda.lead_days)
        hours = self.agenda.fallback_hours
        self.fallback = timedelta(hours=hours) if hours else None
        # what each meeting's decision reads of the settings, read once: a settings model
        # answers each attribute read through its own look-up hook
        self.zone = settings.timezone
        self.send = self.agenda.send
        self.max_guests = self.agenda.max_external_guests

    def _at(self, when: datetime) -> str:
        return at_label(when.astimezone(self.zone))

    def draft_reason(self, meeting: Event, ctx: MeetingContext) -> tuple[str, str]:
        """(why the invitation gets no agenda and the seller a draft, in a line for the preview
        and in a few words); ("", "") when it may get one."""
        if not meeting.self_is_organizer:
            return (
                f"{ctx.customer_label} organised this meeting, so callplan leaves their "
                "invitation alone.",
                "draft: the customer organises",
            )
        if self.send == "never":
            return (
                'callplan puts no agenda into invitations (agenda.send = "never").',
                "draft: agenda.send is never",
            )
        externals = self.rules.external_attendees(meeting)
        limit = self.max_guests
        if len(externals) > limit:
            return (
                f"{len(externals)} guests from outside, more than {limit} "
                "(agenda.max_external_guests): callplan puts no agenda into an invitation "
                "sent to so many.",
                f"draft: {len(externals)} outside guests, more than {limit}",
            )
        unnamed = self._unnamed_personal(externals)
        if unnamed:
            return (
                f"{', '.join(unnamed)} {'writes' if len(unnamed) == 1 else 'write'} from a "
                "personal address that [customers] does not name, so callplan puts no agenda "
                "into the invitation until it does.",
                "draft: a personal address not named in [customers]",
            )
        return "", ""

    def _unnamed_personal(self, externals: tuple[Attendee, ...]) -> list[str]:
        """The outsiders at personal addresses, when they are all the outsiders there are and
        not all of them are named customers: as likely a candidate, a friend or family."""
        if not externals:
            return []
        for a in externals:  # a plain loop: most meetings' first outsider writes from a company
            if not self.rules.is_personal(a.domain):
                return []
        named = self.settings.customers
        unnamed = [a.address for a in externals if self.rules.customer_name(a) not in named]
        return unnamed

    def decide(
        self,
        meeting: Event,
        ctx: MeetingContext,
        state: PlanState,
        found: Found,
        tombstoned: bool,
        baseline: str,
        rendered_changed: Callable[[], bool],
    ) -> AgendaDecision:
        """The decision for one future customer meeting. `found` is our agenda in its
        description; `baseline` what the agenda there says (its tag's inputs, or the record of an
        earlier callplan's); `rendered_changed()` whether the agenda rendered now reads otherwise
        than the one there (asked only when what it says changed)."""
        if self.clock.reached(meeting.start, Rule.MEETING_STARTS, meeting.title):
            return AgendaDecision(
                "under way: the invitation stays as it is",
                ("The meeting has started: callplan leaves its invitation as it is.",),
            )
        reason, short = self.draft_reason(meeting, ctx)
        if reason:
            kept = (
                ("The agenda callplan put into the invitation earlier stays as it is.",)
                if found.state is AgendaState.OURS
                else ()
            )
            return AgendaDecision(short, (reason, *kept, SEND_YOURSELF), draft=True)
        hands_off = self._hands_off(found, tombstoned)
        if hands_off:
            return AgendaDecision(hands_off[1], (hands_off[0], SEND_YOURSELF), draft=True)
        if found.state is AgendaState.ABSENT:
            return self._insertion(meeting, ctx, state)
        return self._rewrite(meeting, ctx, state, baseline, rendered_changed)

    def _hands_off(self, found: Found, tombstoned: bool) -> tuple[str, str] | None:
        """Why callplan must leave the invitation's agenda alone, if it must."""
        if tombstoned or found.state is AgendaState.REMOVED:
            return (
                "Someone removed the agenda from the invitation, so callplan will not put it back.",
                "removed by someone: not put back",
            )
        if found.state is AgendaState.EDITED:
            return (
                "Someone edited the agenda in the invitation, so callplan no longer updates it: "
                "changes to your plan do not reach it.",
                "edited by someone: no longer updated",
            )
        if found.state is AgendaState.FOREIGN:
            return (
                "The invitation's description holds text that looks like callplan's agenda "
                "markers, so callplan leaves the agenda out.",
                "left out: marker look-alike in the description",
            )
        return None

    def _insertion(
        self,
        meeting: Event,
        ctx: MeetingContext,
        state: PlanState,
    ) -> AgendaDecision:
        clock, title = self.clock, meeting.title
        lead = elapsed(meeting.start, -self.lead)
        due = clock.reached(lead, Rule.AGENDA_DUE, title)
        planned = self.send == "auto" or bool(purpose(ctx))
        if planned and due:
            return AgendaDecision(
                "inserted", ("The agenda below is in the invitation.",), action="insert"
            )
        if planned:
            at = self._at(lead)
            return AgendaDecision(
                f"goes into the invitation at {at}",
                (f"The agenda below goes into the invitation at {at}.",),
            )
        fallback = (
            max(elapsed(meeting.start, -self.fallback), lead) if self.fallback is not None else None
        )
        fell_due = fallback is not None and clock.reached(fallback, Rule.AGENDA_FALLBACK, title)
        written = state.pending is not None and state.pending.purpose
        if written and state.settles_at is not None and not fell_due:
            at = self._at(max(state.settles_at, lead))
            return AgendaDecision(
                f"waits for your plan to settle (at {at})",
                (
                    f"The agenda below goes into the invitation at {at} if you leave your plan as "
                    "it is.",
                ),
                waiting=True,
            )
        if fell_due:
            return AgendaDecision(
                "inserted with the default purpose (agenda.fallback_hours)",
                ("The agenda below is in the invitation.",),
                action="insert",
            )
        wait = (
            "The agenda waits for its purpose: it goes into the invitation once you write one "
            "above, under Purpose" + ("." if due else f", from {self._at(lead)} on.")
        )
        default = self._at(fallback) if fallback is not None else ""
        otherwise = (
            f"Without one, callplan sends the agenda below, with the default purpose, at {default}."
            if fallback is not None
            else "Without one, callplan sends none (agenda.fallback_hours is not set)."
        )
        return AgendaDecision(
            "waits for a purpose"
            + (f" (default agenda at {default})" if fallback else " (none without one)"),
            (wait, otherwise),
            waiting=True,
        )

    def _rewrite(
        self,
        meeting: Event,
        ctx: MeetingContext,
        state: PlanState,
        baseline: str,
        rendered_changed: Callable[[], bool],
    ) -> AgendaDecision:
        there = ("The agenda below is in the invitation.",)
        if not baseline:
            # written by an earlier callplan: kept as it is until what it says changes
            return AgendaDecision("in the invitation", there, action="adopt")
        if baseline == agenda_inputs(ctx) or not rendered_changed():
            return AgendaDecision("in the invitation", there)
        cap = self.agenda.max_updates_per_day
        if state.rewrites_today >= cap:
            # the cap counts the seller's day: it lifts at the next local midnight
            zone = self.settings.timezone
            tomorrow = next_midnight(self.clock.now, zone)
            self.clock.note(tomorrow, Rule.NEW_DAY, meeting.title)
            return AgendaDecision(
                f"a change waits for {self._at(tomorrow)} (agenda.max_updates_per_day)",
                (
                    "The invitation holds an earlier version of the agenda below: callplan "
                    f"updated it {state.rewrites_today} times today, as many as "
                    f"agenda.max_updates_per_day allows. The change goes out at "
                    f"{self._at(tomorrow)}.",
                ),
            )
        return AgendaDecision("rewritten: what it says changed", there, action="rewrite")
