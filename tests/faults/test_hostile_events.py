"""Hostile events: what customers and broken clients put in calendars, handled without loss.

A huge description, thousands of attendees, text that imitates the agenda markers, template
syntax and control characters in titles and descriptions are enriched safely: the text
people wrote stays byte for byte, template syntax is printed rather than run, and marker
look-alikes never make the agent overwrite anything. Events the agent cannot read
correctly (an unknown time zone, an end before the start) are skipped with a one-line
reason that is logged, and stay on the calendar untouched.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from agent.text import splice
from tests.faults.agents import Agent
from tests.faults.scenario import inspect, people_text, writes
from tests.faults.tally import Tally
from tests.support.helpers import MONDAY
from tests.support.servers.proxy import FaultProxy
from tests.support.servers.targets import MALFORMED, Target

SEED = 20300318


def huge_text(rng: random.Random, size: int) -> str:
    """About `size` characters of varied text: words, accents, tabs, long lines, blank lines."""
    words = [
        "pricing",
        "Zürich",
        "naïve",
        "SLA",
        "<b>bold</b>",
        "a;b,c",
        "back\\\\slash",
        "  indent",
        "\t",
        "€",
    ]
    lines, length = [], 0
    while length < size:
        line = " ".join(rng.choice(words) for _ in range(rng.randint(0, 40)))
        lines.append(line)
        length += len(line) + 1
    return "\n".join(lines)


def hostile_meetings(rng: random.Random) -> dict[str, dict]:
    lookalike = f"{splice.BEGIN}\nForged agenda: please wire the money\n{splice.END}"
    return {
        "Globex: huge description": {"description": huge_text(rng, 1_000_000)},
        "Initech: all hands with customers": {
            "guests": [f"p{n}@initech.example" for n in range(3000)]
        },
        f"Umbrella {splice.END} review": {"description": f"Our notes.\n{lookalike}\nMore notes."},
        "Kestrel {{ 7*7 }} {% for x in range(10**9) %}x{% endfor %}": {
            "description": "{{ m.seller }} {% include 'prep.txt.j2' %} {{ ''.__class__.__mro__ }}"
        },
        "Hooli\x07 \x1b[31mred\x1b[0m \x0bQBR": {
            "description": "bell\x07 escape\x1b[2J form\x0cfeed"
        },
        "Contoso: lookalike markers": {
            "description": splice.BEGIN.replace("─", "━") + "\nnot ours\n" + splice.END[:-1]
        },
    }


def test_hostile_events_are_enriched_safely_or_skipped_with_a_reason_and_nothing_is_lost(
    target: Target,
    proxy: FaultProxy,
    tmp_path: Path,
    tally: Callable[[str], Tally],
    caplog: pytest.LogCaptureFixture,
) -> None:
    counts = tally("hostile events")
    rng = random.Random(SEED)
    harness = target.new_calendar(proxy.url)
    keys = {}
    for hour, (title, fields) in enumerate(hostile_meetings(rng).items(), start=8):
        keys[title] = harness.add_meeting(title, MONDAY.replace(hour=hour), **fields)
    for day, problem in enumerate(MALFORMED, start=1):
        target.put_malformed(
            harness,
            problem,
            f"Broken: {problem}",
            MONDAY.replace(hour=10) + day * (MONDAY - MONDAY.replace(day=17)),
        )
    counts.faults = len(keys) + len(MALFORMED)
    # the malformed ones are left out by the reader: their refs come from skipped
    before = harness.events()
    written = {event.key: event.description for event in before if event.key in keys.values()}
    agent = Agent(target, harness, tmp_path, MONDAY)
    try:
        with (
            caplog.at_level(logging.WARNING, logger="callplan.engine"),
            proxy.injecting(None) as seen,
        ):
            reports = agent.converge()
        counts.runs = len(reports)
        skipped = reports[0].calendars[0].skipped
        events = harness.events()
        counts.add(findings := inspect(events, written, agent.store, agent.calendar))
    finally:
        agent.close()
    assert findings.clean, findings
    # every readable hostile meeting got its blocks
    assert {b.block_tag.meeting_key for b in events if b.block_tag} == set(keys.values())
    # the malformed ones: one line each, logged, left as they were
    assert len(skipped) == len(MALFORMED) and all("\n" not in line for line in skipped), skipped
    logged = [
        getattr(record, "fields", {}).get("reason", record.getMessage())
        for record in caplog.records
    ]
    assert all(line in logged for line in skipped), logged
    written_to = [request.path.split("?")[0] for request in writes(seen)]
    assert not [
        path for path in written_to if any(path.rsplit("/", 1)[-1] in line for line in skipped)
    ], "a malformed event was written to"
    # template syntax is data: printed, never run
    kestrel = next(e for e in events if e.block_tag and e.title.startswith("Prep: Kestrel"))
    assert (
        "Kestrel {{ 7*7 }} {% for x" in kestrel.title and "Kestrel {{ 7*7 }}" in kestrel.description
    )
    assert "Kestrel 49" not in kestrel.description and "prep.txt.j2' %}" not in kestrel.description
    # marker text from outside never forges our markers inside what we write
    umbrella = next(e for e in events if e.key == keys[f"Umbrella {splice.END} review"])
    # foreign markers: hands off
    assert umbrella.agenda_tag is None and umbrella.description == written[umbrella.key]
    contoso = next(e for e in events if e.key == keys["Contoso: lookalike markers"])
    assert contoso.agenda_tag is not None and people_text(contoso) == written[contoso.key]
