"""What a meeting wants of the agent, and what it means when something the agent owns is gone.

The planner asks when it removes what a meeting no longer wants and when a recorded artifact
is missing from the calendar; the engine asks when a write finds a block gone. One rule
serves them all, so a vanished block is never a person's deletion to one and the agent's own
to the other.
"""

from __future__ import annotations

from agent.core.model import Event, Kind
from agent.plan.changes import Forget, Tombstone
from agent.plan.classify import Classifier


def unwanted(kind: Kind, meeting: Event | None, rules: Classifier) -> str:
    """Why `meeting` does not want the agent's artifact of `kind`, in words; "" when it does."""
    if meeting is None:
        return "its meeting is gone"
    verdict = rules.classify(meeting)
    if not verdict.customer:
        return verdict.reason
    settings = rules.settings
    if kind is Kind.AGENDA:
        if not settings.agenda.enabled:
            return "agenda disabled"
        if not meeting.self_is_organizer:
            return "the seller no longer organises the meeting"
        return ""
    enabled = settings.prep.enabled if kind is Kind.PREP else settings.debrief.enabled
    return "" if enabled else f"{kind} blocks are disabled"


def vanished(kind: Kind, key: str, ref: str, why_unwanted: str) -> Tombstone | Forget:
    """What to remember of a recorded artifact that is gone from the calendar.

    If its meeting still wants it, a person deleted it and it must not come back (tombstone).
    If not, the agent may well have removed it itself (just before a crash, or a person beat
    it to it), so the record is dropped and nobody is blamed: should the meeting want it
    again, it comes back.
    """
    if why_unwanted:
        return Forget(kind, key, ref, f"gone, and no longer needed: {why_unwanted}")
    removed = "agenda removed" if kind is Kind.AGENDA else "deleted"
    return Tombstone(kind, key, ref, f"{removed} by a person")
