"""Planner throughput: events planned per second, and how planning time grows with size.

Two cases per size. First sync: nothing is on the calendar yet, every block and agenda is
to be created (each rendered once). Later cycles: everything is in place and the plan is
empty; this is what every cycle of the daemon runs, calendar after calendar.

Times are CPU times (the best of several runs), also given as multiples of a yardstick run
in the same process (tests.bench.yardstick): the same code takes twice as long on a machine
(or a day of a shared machine) that runs Python half as fast, and the multiple is what to
compare between runs. The first sync of the largest size is also counted in instructions
(tests.bench.instructions) against the yardstick's: a ratio a busy machine does not disturb,
and the one its target is judged by.
"""

from __future__ import annotations

import cProfile
import gc
import pstats
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TypeVar

from agent.config.settings import Settings
from agent.core.history import Owned, Record
from agent.core.model import Event, Window
from agent.plan.changes import Change, CreateBlock, WriteAgenda
from agent.plan.planner import plan
from agent.plan.words import WordsMemo
from agent.sync import collection
from agent.sync.engine import window_for
from agent.text.render import MeetingContext, Renderer
from tests.bench import instructions
from tests.bench.report import Row
from tests.bench.workload import calendar, lookahead_days
from tests.bench.yardstick import YARDSTICKS
from tests.support.helpers import MONDAY, account

SIZES = (100, 1_000, 10_000)
GROUP = "Planner throughput"
YARDSTICK = "planner-like"  # the one targets are stated in (tests.bench.yardstick)
T = TypeVar("T")


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


def text_costs(meetings: list[Event], settings: Settings, window: Window, repeat: int) -> list[Row]:
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
    # a renderer that has seen none of them each run (what it remembers within the run counts,
    # as in a plan)
    rendering, _ = timed(
        lambda: [render(fresh, ctx) for fresh in [Renderer()] for render, ctx in renderer.asked],
        repeat,
    )

    def fingerprint_all() -> list[str]:
        memo = WordsMemo()  # one a plan, as the planner keeps
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


def timed(function: Callable[[], T], repeat: int) -> tuple[float, T]:
    """The least CPU time of `repeat` runs (the run least disturbed by the rest of the machine),
    each starting without the previous run's garbage to collect, and what the last returned."""
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        start = time.process_time()
        result = function()
        best = min(best, time.process_time() - start)
    return best, result


def setting(size: int) -> tuple[list[Event], Settings, Window]:
    """A synthetic calendar of `size` events, with the settings and window that plan it whole."""
    meetings = calendar(size)
    settings = account().settings.model_copy(update={"lookahead_days": lookahead_days(size)})
    return meetings, settings, window_for(MONDAY, settings.lookahead_days, settings.timezone)


def first_sync(size: int) -> Callable[[], list[Change]]:
    """A first sync, its data built: nothing on the calendar, a new renderer (nothing
    remembered, its templates compiled) each time, planned as the engine plans (with full
    garbage collections deferred)."""
    meetings, settings, window = setting(size)

    def run() -> list[Change]:
        with collection.deferred():
            return plan(MONDAY, meetings, Owned(), [], settings, Renderer(), window).changes

    return run


def later_cycles(size: int) -> Callable[[], list[Change]]:
    """A later cycle of the calendar a first sync leaves, its data built: the renderer's memo
    filled by a cycle before, as in the daemon."""
    meetings, settings, window = setting(size)
    events, owned = applied(meetings, first_sync(size)())
    renderer = Renderer()
    plan(MONDAY, events, owned, [], settings, renderer, window)

    def run() -> list[Change]:
        with collection.deferred():
            return plan(MONDAY, events, owned, [], settings, renderer, window).changes

    return run


CASES = {"first-sync": first_sync, "later-cycles": later_cycles}


# Where a first sync's time goes, by the planner's functions that do each part (their time
# under cProfile, which slows small calls more than large ones: shares, not times).
PARTS = {
    "rendering texts": ("render.py", "_render"),
    "fingerprinting blocks": ("words.py", "fingerprint"),
    "placing blocks": ("planner.py", "_slot"),
    "building meeting contexts": ("planner.py", "_context"),
}


def profile(first_sync: Callable[[], object]) -> str:
    """The shares of a first sync's time in each of PARTS, and the rest."""
    profiler = cProfile.Profile()
    profiler.runcall(first_sync)
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    total = max(cumulative for _, _, _, cumulative, _ in stats.values())
    shares = {
        part: sum(
            cumulative
            for (path, _, function), (_, _, _, cumulative, _) in stats.items()
            if path.endswith(module) and function == name
        )
        / total
        for part, (module, name) in PARTS.items()
    }
    rest = 1 - sum(shares.values())
    return (
        ", ".join(f"{part} {share:.0%}" for part, share in shares.items())
        + f", the rest {rest:.0%}"
    )


def yardsticks(counting: bool) -> tuple[dict[str, float], dict[str, int], list[Row]]:
    """Both yardsticks' CPU times (and instruction counts), and their rows."""
    seconds = {name: timed(work, 7)[0] for name, work in YARDSTICKS.items()}
    counts = {name: instructions.count(name) for name in YARDSTICKS} if counting else {}
    rows = [
        Row(
            GROUP,
            f"yardstick {name!r}{' (targets count in it)' if name == YARDSTICK else ''}",
            f"{seconds[name] * 1000:.0f} ms CPU"
            + (f"; {counts[name] / 1e6:,.0f} M instructions" if counts else ""),
        )
        for name in YARDSTICKS
    ]
    return seconds, counts, rows


def run(
    quick: bool = False, sizes: tuple[int, ...] | None = None, counting: bool = True
) -> list[Row]:
    sizes = sizes or (SIZES[:2] if quick else SIZES)
    counting = counting and instructions.available()
    seconds: dict[str, dict[int, float]] = {"first-sync": {}, "later-cycles": {}}
    yardstick, counts, rows = yardsticks(counting)
    big = sizes[-1]
    for size in sizes:
        repeat = 5 if size <= 1_000 else 3
        for case, build in CASES.items():
            seconds[case][size], changes = timed(build(size), repeat)
            assert case == "first-sync" or changes == [], (
                f"{size} events: a later plan is not empty ({len(changes)} changes)"
            )
            ratio = seconds[case][size] / yardstick[YARDSTICK]
            result = (
                f"{size / seconds[case][size]:,.0f} events/s ({seconds[case][size]:.3f} s CPU = "
                f"× {ratio:.1f} the yardstick"
            )
            target, ok = "", None
            if size == big:
                old = seconds[case][size] / yardstick["strings"]
                result += f"; × {old:.1f} the first yardstick"
                if counting and case == "first-sync":  # the case with a target (counting is slow)
                    counted = instructions.count(f"{case}:{size}") / counts[YARDSTICK]
                    result += f"; × {counted:.1f} in instructions"
                if case == "first-sync" and size == 10_000:
                    target = "× 10 the yardstick"
                    ok = (counted if counting else ratio) <= 10  # the count, where there is one
            outcome = f"{len(changes):,} changes" if case == "first-sync" else "nothing to do"
            rows.append(
                Row(
                    GROUP,
                    f"{size:,} events, {case.replace('-', ' ')}",
                    f"{result}; {outcome})",
                    target,
                    ok,
                )
            )
        if size == big:
            rows += text_costs(*setting(size), repeat)
            rows.append(
                Row(
                    GROUP,
                    f"{size:,} events, first sync: where the time goes (cProfile)",
                    profile(first_sync(size)),
                )
            )
    small = sizes[-2]
    for case, times in seconds.items():
        ratio = times[big] / times[small]
        rows.append(
            Row(
                GROUP,
                f"growth {small:,} → {big:,} events, {case.replace('-', ' ')}",
                f"time × {ratio:.1f} for events × {big // small}",
                f"~linear (× {big // small})",
                ratio < 1.5 * big / small,
            )
        )
    return rows
