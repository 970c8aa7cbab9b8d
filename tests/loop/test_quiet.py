"""Quiet cycles: a cycle whose read brought nothing, with nothing else changed since a plan
that found nothing to do and before that plan's deadline, skips planning, the harvest and the
loading of the mirror; anything else, and it plans, saying why."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from agent.config.settings import Config
from agent.core.clock import Deadline, Rule
from agent.core.held import Held
from agent.core.model import Interval
from agent.plan import planner
from agent.sync import engine
from agent.sync.engine import CalendarReport
from agent.sync.quiet import Outcome, summary
from agent.sync.session import Session
from agent.sync.undo import undo
from agent.text.render import Renderer, default_templates_dir
from tests.loop.test_loop import ANSWERS, write_debrief
from tests.support.helpers import World, account, at, meeting
from tests.support.memory_calendar import MemoryConnector


def one(world: World) -> CalendarReport:
    """One cycle of the world; its calendar's report."""
    (calendar,) = world.cycle().calendars
    return calendar


def said(world: World) -> str:
    """One cycle; whether its calendar planned or skipped, and why, as a seller reads it."""
    outcome = one(world).outcome
    assert outcome is not None
    return outcome.describe(world.account.settings.timezone, world.now)


@contextmanager
def watching(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """What the world's engine does meanwhile: the store reads and writes it makes, and plans."""
    done: list[str] = []
    store = world.store

    def spy(name: str, call: Callable[..., Any]) -> Callable[..., Any]:
        def recorded(*args: Any, **kwargs: Any) -> Any:
            done.append(name)
            return call(*args, **kwargs)

        return recorded

    for name in ("events", "held", "artifacts", "tombstones", "apply_delta", "record"):
        monkeypatch.setattr(store, name, spy(name, getattr(store, name)))
    for name in ("save_held", "save_plan", "planning", "cursor"):
        monkeypatch.setattr(store, name, spy(name, getattr(store, name)))
    monkeypatch.setattr(engine, "plan", spy("plan", planner.plan))
    yield done
    monkeypatch.undo()


def settled() -> tuple[World, Any]:
    """A world with one customer meeting at 10:00 whose cycles have nothing left to do."""
    world = World()
    globex = world.add(meeting("Globex review", at(0, 10)))
    world.cycle()
    world.cycle()  # the agent's own writes come back in this read
    return world, globex


def test_a_quiet_cycle_reads_one_small_row_writes_the_cursor_and_plans_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world, _ = settled()
    requests = world.calendar.requests
    with watching(world, monkeypatch) as done:
        assert said(world) == (
            "skipped: nothing changed; next check at 09:45, when the prep of 'Globex review' starts"
        )
    assert done == ["cursor", "apply_delta"]  # which reads the last plan, in its transaction
    assert world.calendar.requests == requests + 1  # the read


def test_planning_every_cycle_plans_what_skipping_would_not_change(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world, _ = settled()
    world.sync.always_plan = True
    with watching(world, monkeypatch) as done:
        assert said(world) == "planned: nothing changed, planned anyway"
    assert "plan" in done and "events" in done


def test_the_deadline_is_when_it_plans_again_and_it_says_what_happened() -> None:
    world, globex = settled()
    world.now = at(0, 9, 45) - timedelta(seconds=1)
    assert said(world).startswith("skipped: nothing changed; next check at 09:45")
    world.now = at(0, 9, 45)
    assert said(world) == "planned: the prep of 'Globex review' started"
    world.now = at(0, 10, 30)
    assert said(world) == "planned: 'Globex review' started"  # its agenda is frozen
    world.now = at(0, 10, 59)
    assert said(world) == (
        "skipped: nothing changed; next check at 11:00, when 'Globex review' ends"
    )
    write_debrief(world, globex, ANSWERS)
    world.now = at(0, 11, 20)
    assert said(world) == "planned: 1 event changed"
    # it was recorded as held and its debrief read back: what callplan knows changed since
    assert said(world).startswith("planned: what callplan knows changed since")
    assert said(world) == (
        "skipped: nothing changed; next check at 11:50, when your debrief of 'Globex review' "
        "goes into the agenda"
    )
    world.now = at(1, 9)
    assert said(world) == "planned: the calendar was read in full"  # the window moved


def test_every_other_input_of_a_plan_makes_it_plan_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    busy: list[Interval] = []

    class Busy(MemoryConnector):
        def busy(self, calendars: list[str], window: Any) -> list[Interval]:
            return list(busy)

    world, _ = settled()
    world.sync.connector = Busy(world.calendar)
    world.sync.account = world.account.model_copy(update={"busy_calendars": ("team",)})
    assert said(world) == "planned: the configuration changed"
    assert said(world).startswith("skipped")
    busy.append(Interval(at(0, 9, 30), at(0, 10)))
    assert said(world) == "planned: the busy time in other calendars changed"
    assert said(world) == "planned: 1 event changed"  # the prep moved: the read brings it back
    assert said(world).startswith("skipped")
    (tmp_path / "prep.txt.j2").write_text(
        (default_templates_dir() / "prep.txt.j2").read_text() + "\nOne more line.\n"
    )
    world.sync.renderer = Renderer(tmp_path)
    assert said(world) == "planned: the templates changed"
    world.cycle()
    world.cycle()
    assert said(world).startswith("skipped")
    monkeypatch.setattr(engine, "VERSION", "99.0")
    assert said(world) == "planned: callplan was updated"


def test_what_another_calendar_or_undo_changed_makes_it_plan_again() -> None:
    """The history a plan reads is the account's: a debrief another calendar of the account
    read back changes it, and so does undo (or a sync) run while the service was stopped."""
    world, _ = settled()
    elsewhere = Held(
        "team", "m9", world.account.name, "initech.example", "Initech", at(0, 8), at(0, 9)
    )
    world.store.save_held(elsewhere)
    assert said(world) == (
        "planned: what callplan knows changed since (a debrief, another calendar, undo or a sync)"
    )
    assert said(world).startswith("skipped")
    undo(world.sync)
    assert said(world).startswith("planned: ")
    world.cycle()
    assert said(world).startswith("skipped")


def test_a_plan_whose_changes_were_not_all_made_plans_again() -> None:
    """A cycle stopped before it made its changes (or one whose changes conflicted) leaves them
    to the next, even when that one reads nothing."""
    world, globex = settled()
    world.calendar.person_edit(globex.ref, start=at(0, 11), end=at(0, 12))

    class StopOnceReadAndPlanned(threading.Event):
        """A stop that comes after the cycle started its calendar, before its first change."""

        def is_set(self) -> bool:
            self.asked = getattr(self, "asked", 0) + 1
            return self.asked > 1

    (calendar,) = world.sync.cycle(stop=StopOnceReadAndPlanned()).calendars
    # the two blocks follow the meeting (its agenda carries no time: it stays)
    assert calendar.stopped and calendar.backlog == 2
    assert said(world) == "planned: the last plan had 2 changes to make"


def test_a_restart_keeps_what_lets_it_skip(tmp_path: Path) -> None:
    world = World(store_path=tmp_path / "state.db")
    world.add(meeting("Globex review", at(0, 10)))
    world.cycle()
    world.cycle()
    world.store.close()
    again = World(store_path=tmp_path / "state.db")
    again.calendar, again.connector.cal = world.calendar, world.calendar
    again.sync.connector = again.connector
    assert said(again).startswith("skipped: nothing changed; next check at 09:45")


def test_a_dry_run_always_plans_and_keeps_no_plan() -> None:
    world, _ = settled()
    report = world.sync.cycle(dry_run=True)
    (calendar,) = report.calendars
    assert calendar.outcome is not None and calendar.outcome.planned
    assert calendar.planned == []
    assert said(world).startswith("skipped")


def test_the_run_status_says_what_the_last_cycle_did(tmp_path: Path) -> None:
    world, _ = settled()
    config = Config(
        path=tmp_path / "config.toml", state=tmp_path / "state.db", accounts=(world.account,)
    )
    session = Session(
        config, store=world.store, connect=lambda account: world.connector, clock=world.clock
    )
    _, status = session.run(world.account)
    assert status.planning == (
        "skipped: nothing changed; next check at 09:45, when the prep of 'Globex review' starts"
    )
    assert world.store.run_status(world.account.name).planning == status.planning


def test_the_cycle_of_an_account_with_several_calendars_sums_them_up() -> None:
    prep = Deadline(at(0, 9, 45), Rule.PREP_STARTS, "Globex review")
    later = Deadline(at(0, 14), Rule.MEETING_ENDS, "Initech")
    skipped = [Outcome(False, "nothing changed", later), Outcome(False, "nothing changed", prep)]
    zone = account().settings.timezone
    assert summary(skipped, zone, at(0, 7)) == (
        "skipped: nothing changed; next check at 09:45, when the prep of 'Globex review' starts"
    )
    mixed = [Outcome(True, "2 events changed", None), *skipped]
    assert summary(mixed, zone, at(0, 7)) == (
        "planned: 2 events changed (skipped 2 other calendars: nothing changed)"
    )
    tomorrow = Outcome(False, "nothing changed", Deadline(at(1, 0), Rule.WINDOW_MOVES))
    assert summary([tomorrow], zone, at(0, 7)) == (
        "skipped: nothing changed; next check at 00:00 on Tue 19 Mar, when the calendar window "
        "moves to the next day"
    )
    assert summary([], zone, at(0, 7)) == ""
