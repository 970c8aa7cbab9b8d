"""Synthetic calendars for the planner benchmark: realistic mixes at a constant density.

Ten events per working day, as a busy seller has: most with customers (organised by the
seller or by the customer, some back to back), the rest internal, declined, cancelled or
all-day. A calendar of N events spans N/10 working days, so every size has the same
density and the benchmark measures how planning grows with the calendar, not with crowding.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from agent.core.model import Event, Response, Status
from tests.support.helpers import MONDAY, SELLER, meeting

PER_DAY = 10
COMPANIES = [f"customer{number}.example" for number in range(60)]


def working_day(index: int) -> datetime:
    """The index-th working day from the benchmark's Monday, at midnight."""
    weeks, day = divmod(index, 5)
    return MONDAY.replace(hour=0) + timedelta(days=7 * weeks + day)


def calendar(size: int, seed: int = 20300318) -> list[Event]:
    rng = random.Random(seed)
    events = []
    for number in range(size):
        day, slot = divmod(number, PER_DAY)
        start = working_day(day).replace(hour=8) + timedelta(
            minutes=55 * slot + rng.choice([0, 0, 5])
        )
        kind = rng.random()
        company = rng.choice(COMPANIES)
        guests = [
            f"{name}@{company}"
            for name in rng.sample(["dana", "raj", "eli", "kim"], rng.randint(1, 3))
        ]
        organizer = SELLER if rng.random() < 0.6 else guests[0]
        status, response, all_day = Status.CONFIRMED, Response.ACCEPTED, False
        if kind < 0.2:
            guests, organizer = ["bo@acme.example", "cy@acme.example"], SELLER  # internal
        elif kind < 0.25:
            response, organizer = Response.DECLINED, guests[0]
        elif kind < 0.3:
            status = Status.CANCELLED
        elif kind < 0.33:
            all_day = True
        event = meeting(
            f"Meeting {number} with {company}",
            start,
            rng.choice([30, 45, 50]),
            guests,
            organizer,
            rng.choice(["", "Dial-in: 555-0100", "Agenda draft:\n1. pricing\n2. timeline"]),
            status,
            response,
            all_day,
        )
        events.append(
            event.with_changes(key=f"m{number}", ref=f"/cal/m{number}.ics", calendar="/cal/")
        )
    return events


def lookahead_days(size: int) -> int:
    """Calendar days the look-ahead must span to hold `size` events (beyond what the config
    allows for large sizes: the benchmark measures the planner, not the config)."""
    return (size // PER_DAY // 5 + 1) * 7 + 7
