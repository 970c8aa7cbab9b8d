"""The yardsticks planner times are measured against: fixed work that is none of callplan's.

A time alone says as much about the machine (and how busy it is) as about the code. The same
time as a multiple of fixed work run in the same process carries between machines and days,
as far as that work resembles the code measured: a machine (or a Python) that is fast at
string formatting but slow at creating objects moves a yardstick of strings alone one way
and the planner the other. So there are two:

- `strings`, the first one: formatting, splitting and counting strings in a dictionary, then
  sorting. Machines disagreed about it: the same first sync measured very different multiples
  of it on two of them.
- `planner_like`, the one targets are stated in since: the planner's own mix of work on data
  of its own shape, none of its code. Aware datetimes in a time zone and their arithmetic,
  named tuples built and compared, dictionaries of lists, small functions called often,
  texts built line by line with f-strings and %-formatting, sorting by tuple keys, and
  hashing a whitespace-normalised text.

Both run a fixed number of rounds, sized to take about as long as each other on the machine
tests/bench/RESULTS.md was first measured on, so a target stated in the first kept its meaning
when the yardstick changed. Instruction counts (tests.bench.instructions) give ratios without
the noise of a shared machine.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

STRINGS_ROUNDS = 200_000
PLANNER_LIKE_ROUNDS = 6_500  # meetings


def strings() -> None:
    """The first yardstick: formatting, splitting and hashing strings, a dictionary, a sort."""
    counts: dict[str, int] = {}
    for number in range(STRINGS_ROUNDS):
        word = f"customer{number % 997}.example"
        counts[word] = counts.get(word, 0) + len(word.split("."))
    sorted(counts.items(), key=lambda item: (item[1], item[0]))


class _Slot(NamedTuple):
    start: datetime
    end: datetime
    customer: str
    guests: tuple[str, ...]


class _Line(NamedTuple):
    day: date
    text: str
    minutes: int


ZONE = ZoneInfo("Europe/Berlin")
FIRST = datetime(2030, 3, 18, 8, tzinfo=ZONE)
GUESTS = ("dana", "raj", "eli", "kim")
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _slot(number: int) -> _Slot:
    """A meeting of a day of ten, 55 minutes apart, with one to four guests of a customer."""
    day, index = divmod(number, 10)
    start = FIRST + timedelta(days=day, minutes=55 * index)
    end = start + timedelta(minutes=30 + 10 * (number % 3))
    customer = f"customer{number % 61}.example"
    guests = tuple(f"{name}@{customer}" for name in GUESTS[: 1 + number % 4])
    return _Slot(start, end, customer, guests)


def _line(slot: _Slot, previous: datetime | None) -> _Line:
    """What a text says of a meeting: its local time, its guests, the last meeting's date."""
    local, end = slot.start.astimezone(ZONE), slot.end.astimezone(ZONE)
    when = "%s %02d:%02d–%02d:%02d" % (  # noqa: UP031
        DAYS[local.weekday()],
        local.day,
        local.hour,
        end.hour,
        end.minute,
    )
    last = f"last met {previous.astimezone(ZONE).date()}" if previous else "first meeting"
    text = f"{when} with {', '.join(slot.guests)} ({slot.customer}): {last}"
    return _Line(local.date(), text, (slot.end - slot.start) // timedelta(minutes=1))


def planner_like() -> None:
    """The second yardstick: the planner's mix of work (see the module docstring)."""
    by_customer: dict[str, list[_Slot]] = defaultdict(list)
    for number in range(PLANNER_LIKE_ROUNDS):
        slot = _slot(number)
        by_customer[slot.customer].append(slot)
    by_day: dict[date, list[_Line]] = defaultdict(list)
    for slots in by_customer.values():
        slots.sort(key=lambda slot: (slot.start, slot.end))
        previous = None
        for slot in slots:
            line = _line(slot, previous)
            by_day[line.day].append(line)
            previous = slot.start
    for _, lines in sorted(by_day.items()):
        lines.sort(key=lambda line: (line.minutes, line.text))
        text = "\n".join(f"- {line.text} ({line.minutes} min)" for line in lines)
        hashlib.sha256(" ".join(text.split()).encode()).hexdigest()


YARDSTICKS = {"strings": strings, "planner-like": planner_like}
