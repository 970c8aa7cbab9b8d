"""Quiet cycles: when a calendar's cycle may skip planning, and how a cycle says what it did.

A plan depends on the calendar (the mirror), what the store knows (records, tombstones, the
account's held meetings and debriefs), the account's configuration, the templates, the
busy time of other calendars, callplan itself, and the clock. A cycle whose read brought
nothing, when none of the others changed since the last plan, that plan found nothing to
change, and its deadline has not come, would plan exactly what that plan did: nothing. So
it skips the planning, the harvest and the loading of the mirror. Anything else, and it
plans as it always does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from importlib.metadata import PackageNotFoundError, version

from agent.config.settings import Account
from agent.core.clock import Deadline
from agent.core.fingerprint import digest
from agent.core.model import Delta, Interval
from agent.state.store import Inputs, Planning


def _version() -> str:
    try:
        return version("callplan")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


VERSION = _version()  # a new callplan may plan otherwise: its first cycles plan


def config_digest(account: Account) -> str:
    """A digest of the account's configuration (its settings, rules and connector options)."""
    return digest(account.model_dump_json(exclude={"where"}))


NO_BUSY = digest("")  # the busy time of an account that reads no other calendar


def busy_digest(busy: list[Interval]) -> str:
    """A digest of the busy time read from the account's other calendars; none is most
    accounts' case, asked at each of their quiet cycles, so its digest is made once."""
    if not busy:
        return NO_BUSY
    return digest(
        ";".join(
            f"{span.start.astimezone(UTC).isoformat()}/{span.end.astimezone(UTC).isoformat()}"
            for span in sorted(busy)
        )
    )


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def why_plan(planning: Planning, delta: Delta, now: Inputs, at: datetime) -> str | None:
    """Why this cycle must plan, in words a seller understands; None when it may skip.

    `planning` is the calendar's last plan and the generation of the state now, `delta` what
    the read brought, `now` the other inputs as they are, `at` the cycle's time."""
    last = planning.last
    if last is None:
        return "first plan of this calendar"
    if delta.full:
        return "the calendar was read in full"
    refs = {event.ref for event in delta.upserted} | set(delta.removed_refs)
    if refs:
        return f"{_plural(len(refs), 'event')} changed"
    if delta.skipped:
        return f"{_plural(len(delta.skipped), 'event')} could not be read"
    if now.version != last.inputs.version:
        return "callplan was updated"
    if now.config != last.inputs.config:
        return "the configuration changed"
    if now.templates != last.inputs.templates:
        return "the templates changed"
    if now.busy != last.inputs.busy:
        return "the busy time in other calendars changed"
    if last.changes:
        return f"the last plan had {_plural(last.changes, 'change')} to make"
    if last.generation != planning.generation:
        return "what callplan knows changed since (a debrief, another calendar, undo or a sync)"
    if last.deadline is not None and at >= last.deadline.at:
        return last.deadline.came()
    return None


@dataclass(frozen=True)
class Outcome:
    """Whether a calendar's cycle planned or skipped planning, why, and the deadline its state
    now has (the new plan's, or the last one's when it skipped)."""

    planned: bool
    why: str
    deadline: Deadline | None

    def describe(self, zone: tzinfo, now: datetime) -> str:
        """ "planned: 3 events changed", or "skipped: nothing changed; next check at 10:45, when
        the prep of 'Globex review' starts"."""
        if self.planned:
            return f"planned: {self.why}"
        text = f"skipped: {self.why}"
        if self.deadline is not None:
            text += f"; next check at {_time(self.deadline.at, zone, now)}, when "
            text += self.deadline.coming()
        return text


def _time(when: datetime, zone: tzinfo, now: datetime) -> str:
    """A time of day, with its date unless it is on the day of `now`: "10:45", "09:00 on Tue 19
    Mar"."""
    local = when.astimezone(zone)
    if local.date() == now.astimezone(zone).date():
        return f"{local:%H:%M}"
    return f"{local:%H:%M} on {local:%a %d %b}"


def summary(outcomes: list[Outcome], zone: tzinfo, now: datetime) -> str:
    """What an account's cycle did about planning, over its calendars: the reasons of those that
    planned, else the first next check of those that skipped ("" when none got that far)."""
    planned = [outcome for outcome in outcomes if outcome.planned]
    if not planned:
        checks = [outcome for outcome in outcomes if outcome.deadline is not None]
        first = min(checks, key=lambda outcome: outcome.deadline.at) if checks else None  # type: ignore[union-attr]
        return (first or outcomes[0]).describe(zone, now) if outcomes else ""
    text = "planned: " + "; ".join(dict.fromkeys(outcome.why for outcome in planned))
    if skipped := len(outcomes) - len(planned):
        text += f" (skipped {_plural(skipped, 'other calendar')}: nothing changed)"
    return text
