"""Planner throughput: events planned per second, and how planning time grows with size.

Two cases per size. First sync: nothing is on the calendar yet, every block and agenda is
to be created (each rendered once). Later cycles: everything is in place and the plan is
empty; this is what every cycle of the daemon runs, calendar after calendar.

Times are also given as multiples of a fixed pure-Python workload run in the same process:
the same code takes twice as long on a machine (or a day of a shared machine) that runs
Python half as fast, and the multiple is what to compare between runs.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import replace

from agent.core.history import Owned, Record
from agent.core.model import Event
from agent.plan.changes import CreateBlock, WriteAgenda
from agent.plan.planner import LineMemo, plan
from agent.sync.engine import window_for
from agent.text.render import MeetingContext, Renderer
from tests.bench.report import Row
from tests.bench.workload import calendar, lookahead_days
from tests.support.helpers import MONDAY, account

SIZES = (100, 1_000, 10_000)
GROUP = "Planner throughput"


def applied(meetings: list[Event], changes: list) -> tuple[list[Event], Owned]:
    """The calendar after a first-sync plan is applied (in memory, as a provider would store it)."""
    by_key = {meeting.key: meeting for meeting in meetings}
    blocks, records = [], {}
    for number, change in enumerate(changes):
        if isinstance(change, CreateBlock):
            spec, ref = change.block, f"/cal/b{number}.ics"
            blocks.append(
                Event(
                    key=ref,
                    ref=ref,
                    calendar="/cal/",
                    title=spec.title,
                    start=spec.start,
                    end=spec.end,
                    description=spec.description,
                    private=True,
                    block_tag=spec.tag,
                )
            )
            records[(spec.tag.kind, spec.tag.meeting_key)] = Record(
                spec.tag.kind, spec.tag.meeting_key, ref, spec.start, spec.end
            )
        elif isinstance(change, WriteAgenda):
            by_key[change.meeting.key] = replace(
                by_key[change.meeting.key], description=change.description, agenda_tag=change.tag
            )
            records[(change.kind, change.meeting.key)] = Record(
                change.kind, change.meeting.key, change.meeting.ref
            )
    return list(by_key.values()) + blocks, Owned(tuple(blocks), records)


class Recording(Renderer):
    """A renderer that keeps every context it renders a text from, so that the rendering
    of a plan's texts can be timed alone, on the same contexts and templates."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[tuple[Callable[[Renderer, MeetingContext], str], MeetingContext]] = []

    def _kept(self, render: Callable[[Renderer, MeetingContext], str], ctx: MeetingContext) -> str:
        self.asked.append((render, ctx))
        return render(self, ctx)

    def prep(self, ctx: MeetingContext) -> str:
        return self._kept(Renderer.prep, ctx)

    def debrief(self, ctx: MeetingContext) -> str:
        return self._kept(Renderer.debrief, ctx)

    def agenda(self, ctx: MeetingContext) -> str:
        return self._kept(Renderer.agenda, ctx)

    def agenda_html(self, ctx: MeetingContext) -> str:
        return self._kept(Renderer.agenda_html, ctx)


def text_costs(meetings: list[Event], settings, window, repeat: int) -> list[Row]:  # type: ignore[no-untyped-def]
    """What a first sync's texts cost on their own: rendering every text of the plan, and
    fingerprinting every new block, each in a loop by itself. Together they are the part of
    a first sync that no placement or bookkeeping work can remove."""
    renderer = Recording()
    changes = plan(MONDAY, meetings, Owned(), [], settings, renderer, window).changes
    blocks = [
        (change.block.title, change.block.description)
        for change in changes
        if isinstance(change, CreateBlock)
    ]
    rendering, _ = timed(lambda: [render(renderer, ctx) for render, ctx in renderer.asked], repeat)

    def fingerprint_all() -> list[str]:
        memo = LineMemo()  # one a plan, as the planner keeps
        return [memo.fingerprint(title, text) for title, text in blocks]

    fingerprinting, _ = timed(fingerprint_all, repeat)
    size = f"{len(meetings):,} events, first sync"
    return [
        Row(
            GROUP,
            f"{size}: rendering its texts alone (sandboxed Jinja)",
            f"{len(renderer.asked):,} texts in {rendering:.3f} s "
            f"({rendering / len(renderer.asked) * 1e6:.0f} µs a text)",
        ),
        Row(
            GROUP,
            f"{size}: fingerprinting its new blocks alone",
            f"{len(blocks):,} blocks in {fingerprinting:.3f} s "
            f"({fingerprinting / len(blocks) * 1e6:.0f} µs a block)",
        ),
    ]


def reference() -> None:
    """The yardstick: fixed work of the planner's kind (formatting, splitting and hashing
    strings, dictionaries, sorting tuples), independent of the code under test."""
    counts: dict[str, int] = {}
    for number in range(200_000):
        word = f"customer{number % 997}.example"
        counts[word] = counts.get(word, 0) + len(word.split("."))
    sorted(counts.items(), key=lambda item: (item[1], item[0]))


def timed(function, repeat: int) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    """The best of `repeat` runs (the least disturbed by the rest of the machine), each
    starting without the previous run's garbage to collect."""
    best, result = float("inf"), None
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def run(quick: bool = False, sizes: tuple[int, ...] | None = None) -> list[Row]:
    sizes = sizes or (SIZES[:2] if quick else SIZES)
    cold: dict[int, float] = {}
    warm: dict[int, float] = {}
    yardstick, _ = timed(reference, 5)
    rows = [
        Row(
            GROUP,
            "reference: a fixed pure-Python workload (how fast this machine runs Python)",
            f"{yardstick * 1000:.0f} ms",
        )
    ]
    for size in sizes:
        meetings = calendar(size)
        settings = account().settings.model_copy(update={"lookahead_days": lookahead_days(size)})
        window = window_for(MONDAY, settings.lookahead_days, settings.timezone)
        renderer = Renderer()
        # later cycles: the first run fills the memo, as a second cycle does
        repeat = 5 if size <= 1_000 else 3
        cold[size], changes = timed(
            lambda: plan(MONDAY, meetings, Owned(), [], settings, renderer, window).changes,  # noqa: B023
            repeat,
        )
        events, owned = applied(meetings, changes)  # type: ignore[arg-type]
        warm[size], again = timed(
            lambda: plan(MONDAY, events, owned, [], settings, renderer, window).changes,  # noqa: B023
            repeat,
        )
        assert again == [], f"{size} events: a second plan is not empty ({len(again)} changes)"  # type: ignore[arg-type]
        for name, seconds in (("first sync", cold[size]), ("later cycles", warm[size])):
            ok = seconds < 0.5 if size == 10_000 else None
            outcome = (f"{len(changes):,} changes") if name == "first sync" else "nothing to do"  # type: ignore[arg-type]
            rows.append(
                Row(
                    GROUP,
                    f"{size:,} events, {name}",
                    f"{size / seconds:,.0f} events/s ({seconds:.3f} s = "
                    f"× {seconds / yardstick:.1f} the reference; {outcome})",
                    "10,000 in well under 1 s" if size == 10_000 else "",
                    ok,
                )
            )
        if size == sizes[-1]:
            rows += text_costs(meetings, settings, window, repeat)
    big, small = sizes[-1], sizes[-2]
    for name, times in (("first sync", cold), ("later cycles", warm)):
        ratio = times[big] / times[small]
        rows.append(
            Row(
                GROUP,
                f"growth {small:,} → {big:,} events, {name}",
                f"time × {ratio:.1f} for events × {big // small}",
                f"~linear (× {big // small})",
                ratio < 1.5 * big / small,
            )
        )
    return rows
