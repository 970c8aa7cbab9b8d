"""A call plan's record: what the store keeps of it, and what has settled at a given instant."""

from __future__ import annotations

from datetime import timedelta

from agent.core.callplan import CallPlan, PlanRecord, PlanShared, PlanState, Topic
from agent.core.clock import Clock, Deadline, Rule
from tests.support.helpers import at

SETTLE = timedelta(minutes=30)
FIRST = CallPlan(PlanShared("Agree the pilot scope", topics=(Topic("Scope", 20),)))
SECOND = CallPlan(PlanShared("Agree the pilot scope and budget"), withheld=("Private: floor",))


def record() -> PlanRecord:
    return PlanRecord("alex", "work", "m1", at(3, 10))


def test_a_plan_round_trips_through_its_json() -> None:
    plan = CallPlan(
        PlanShared(
            "Agree the pilot scope",
            for_them=("a plan",),
            for_us=("a go-ahead",),
            topics=(Topic("Scope", 20), Topic("Timeline")),
            bring=("the export",),
            join=("IT",),
            decide=("the start date",),
        ),
        readiness="ready",
        asks=("an order",),
        risks="Raj",
        notes="n",
        other=("x",),
        withheld=("y",),
    )
    assert CallPlan.from_json(plan.to_json()) == plan
    assert PlanShared.from_json(plan.shared.to_json()) == plan.shared


def test_a_version_reaches_the_agenda_only_once_it_has_settled() -> None:
    row = record().reread(FIRST, "c1", at(0, 12), SETTLE)
    clock = Clock(at(0, 12, 29))
    waiting = row.state(clock, SETTLE)
    assert waiting == PlanState(agreed=None, latest=FIRST.shared, settles_at=at(0, 12, 30))
    # the planner's deadline: the instant the version settles
    assert clock.deadline == Deadline(at(0, 12, 30), Rule.PLAN_SETTLES)
    assert waiting.pending == FIRST.shared
    settled = row.state(Clock(at(0, 12, 30)), SETTLE)
    assert (settled.agreed, settled.pending, settled.settles_at) == (FIRST.shared, None, None)


def test_a_new_version_waits_while_the_last_settled_one_stays() -> None:
    row = record().reread(FIRST, "c1", at(0, 12), SETTLE).reread(SECOND, "c2", at(0, 13), SETTLE)
    state = row.state(Clock(at(0, 13, 10)), SETTLE, rewrites_today=1, previews=frozenset({"p"}))
    assert state.agreed == FIRST.shared and state.pending == SECOND.shared
    assert state.settles_at == at(0, 13, 30) and state.withheld == ("Private: floor",)
    assert (state.rewrites_today, state.previews) == (1, frozenset({"p"}))


def test_a_burst_of_edits_keeps_the_version_that_had_settled_before_it() -> None:
    row = record().reread(FIRST, "c1", at(0, 12), SETTLE)
    for minute, content in enumerate(("c2", "c3", "c4")):
        row = row.reread(SECOND, content, at(0, 13, minute), SETTLE)
    assert row.settled == FIRST.shared  # the burst's own versions never settled
    assert row.state(Clock(at(0, 13, 31)), SETTLE).agreed == FIRST.shared
    assert row.state(Clock(at(0, 13, 32)), SETTLE).agreed == SECOND.shared


def test_an_emptied_plan_shares_nothing() -> None:
    row = record().reread(FIRST, "c1", at(0, 12), SETTLE).reread(CallPlan(), "", at(1, 9), SETTLE)
    assert row.settled == FIRST.shared
    later = row.state(Clock(at(1, 9, 30)), SETTLE)
    assert later.agreed is None and later.latest is None
    waiting = row.state(Clock(at(1, 9, 10)), SETTLE)
    assert waiting.agreed == FIRST.shared and waiting.pending == PlanShared()
