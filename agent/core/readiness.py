"""Readiness: were we ready for a customer meeting, and could the customer be?

Measured, not asked, and judged once, when the meeting is recorded as held, from what callplan
saw before it started:
- we were ready when the seller had written a call plan in the prep before the meeting started
  (callplan reads a prep's plan only until then, so the version it last read is the one the
  seller went in with; an emptied form is no plan);
- the customer could be ready when the agenda reached them at least `review.customer_ready_hours`
  before the meeting started, counting from when callplan first wrote it into the invitation
  (a later rewrite or an edit by someone does not reset it);
- a meeting the customer organised gets no agenda from callplan: it counts as ready on their
  side when the seller had the draft in the prep at least as long before, to send themselves.
A meeting of the seller's whose agenda stayed a draft (too many guests, agenda.send = "never")
or never went out is not ready on the customer's side. Pure: the loop hands in the facts.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import NamedTuple

from agent.core.callplan import PlanRecord


class AgendaWritten(NamedTuple):
    """When callplan first wrote a meeting's agenda into its invitation, and first wrote a
    preview of it (the agenda, or the draft to send) into its prep; None where it never did."""

    sent: datetime | None = None
    drafted: datetime | None = None


def we_were_ready(start: datetime, plan: PlanRecord | None) -> bool:
    """Had the seller written a call plan in the prep before the meeting started?"""
    return (
        plan is not None
        and plan.plan is not None
        and plan.plan.written
        and plan.changed_at is not None
        and plan.changed_at < start
    )


def customer_could_be_ready(
    start: datetime, they_organise: bool, agenda: AgendaWritten, lead: timedelta
) -> bool:
    """Did the agenda reach the customer (or, for their own meeting, the seller the draft) at
    least `lead` before the meeting started?"""
    written = agenda.drafted if they_organise else agenda.sent
    return written is not None and written <= start - lead
