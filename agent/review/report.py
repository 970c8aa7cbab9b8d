"""The sales review over the last N days: a pure computation over the held-meeting history.

The figures (docs/review.md defines each one for the reader):
- meetings: customer meetings that started in the period and have ended;
- debriefed: of those, the ones whose debrief the seller wrote in;
- dated next steps: the ones whose debrief records at least one open next step (a commitment
  of either side not ticked done, or a "Next steps agreed" line) and a date on every one;
- next scheduled: the ones for which, by the end of the meeting's day, a later meeting with
  the same customer was on the calendar within the horizon;
- open / overdue commitments: the commitments not ticked done in the latest written debrief
  of each seller with each customer met in the period; overdue when their date is before
  today;
- customers and meetings per customer;
- the practice's questions, each a Tally (yes, of the meetings where it is known: an
  unanswered question is unknown, never "no"): both sides' goals met, could have achieved more,
  should have asked or handled something better, the customer learned something that mattered
  (the debrief's quick check); next steps written down and the next meeting booked, both
  (known for every meeting); we were ready and the customer could be (judged when the meeting
  was recorded as held: agent.core.readiness).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from agent.config.settings import Account
from agent.core.held import Held
from agent.plan.classify import Classifier
from agent.state.store import Store


@dataclass(frozen=True)
class Tally:
    """A yes/no question over meetings: how many say yes, of how many where it is known."""

    yes: int = 0
    known: int = 0

    @property
    def share(self) -> float | None:
        """yes / known, None when it is known for no meeting."""
        return self.yes / self.known if self.known else None

    @property
    def no(self) -> int:
        return self.known - self.yes


@dataclass(frozen=True)
class Figures:
    meetings: int = 0
    debriefed: int = 0
    dated_next_steps: int = 0
    next_scheduled: int = 0
    open_theirs: int = 0
    open_ours: int = 0
    overdue: int = 0
    customers: int = 0
    both_goals: Tally = Tally()
    more: Tally = Tally()
    better: Tally = Tally()
    learned: Tally = Tally()
    closed: Tally = Tally()  # next steps written down and the next meeting booked
    we_ready: Tally = Tally()
    they_ready: Tally = Tally()

    def share(self, count: int) -> float | None:
        """count / meetings, None when there were no meetings."""
        return count / self.meetings if self.meetings else None

    @property
    def open(self) -> int:
        return self.open_theirs + self.open_ours

    @property
    def meetings_per_customer(self) -> float | None:
        return self.meetings / self.customers if self.customers else None


@dataclass(frozen=True)
class Line:
    """One row: a seller (account) or a customer, with its figures."""

    name: str
    figures: Figures
    sellers: tuple[str, ...] = ()  # for a customer: who met them
    last_met: datetime | None = None


@dataclass(frozen=True)
class Week:
    start: date  # the Monday
    figures: Figures


@dataclass(frozen=True)
class Review:
    start: datetime
    end: datetime
    days: int
    zone: tzinfo
    total: Figures
    sellers: tuple[Line, ...] = ()
    customers: tuple[Line, ...] = ()
    weeks: tuple[Week, ...] = field(default=())


Pair = tuple[str, str]  # (seller, customer)


def review(held: Iterable[Held], now: datetime, days: int, zone: tzinfo) -> Review:
    """The figures per seller, per customer, in total and per week, for the `days` before `now`.

    `held` rows carry the customer as it should be counted (mappings already applied).
    """
    start = now - timedelta(days=days)
    rows = sorted(held, key=lambda row: row.start)
    period = [row for row in rows if start <= row.start and row.end <= now]
    commitments = _open_commitments(
        rows, {(row.account, row.customer) for row in period}, now.astimezone(zone).date()
    )
    sellers = _group(period, lambda row: row.account)
    customers = _group(period, lambda row: row.customer)
    return Review(
        start=start,
        end=now,
        days=days,
        zone=zone,
        total=_figures(period, commitments),
        sellers=tuple(Line(name, _figures(group, commitments)) for name, group in sellers.items()),
        customers=tuple(
            Line(
                name,
                _figures(group, commitments),
                tuple(sorted({r.account for r in group})),
                max(r.start for r in group),
            )
            for name, group in customers.items()
        ),
        weeks=_weeks(period, start, now, zone),
    )


def _group(rows: Sequence[Held], key: Callable[[Held], str]) -> dict[str, list[Held]]:
    groups: dict[str, list[Held]] = defaultdict(list)
    for row in rows:
        groups[key(row)].append(row)
    return dict(sorted(groups.items()))


def _open_commitments(
    rows: Sequence[Held], pairs: set[Pair], today: date
) -> dict[Pair, tuple[int, int, int]]:
    """(open theirs, open ours, overdue) from the latest written debrief of each pair."""
    latest: dict[Pair, Held] = {}
    for row in rows:  # by start: later rows replace earlier ones
        if row.debriefed and (row.account, row.customer) in pairs:
            latest[(row.account, row.customer)] = row
    counts = {}
    for pair, row in latest.items():
        assert row.debrief is not None
        theirs = [item for item in row.debrief.theirs if not item.done]
        ours = [item for item in row.debrief.ours if not item.done]
        overdue = sum(1 for item in theirs + ours if item.due is not None and item.due < today)
        counts[pair] = (len(theirs), len(ours), overdue)
    return counts


# each question of the practice, asked of one held meeting: True, False, or None (unknown)
QUESTIONS: dict[str, Callable[[Held], bool | None]] = {
    "both_goals": lambda row: row.debrief.both_goals if row.debrief else None,
    "more": lambda row: row.debrief.could_do_more if row.debrief else None,
    "better": lambda row: row.debrief.handle_better if row.debrief else None,
    "learned": lambda row: row.debrief.they_learned if row.debrief else None,
    "closed": lambda row: row.next_scheduled and bool(row.debrief and row.debrief.steps()),
    "we_ready": lambda row: row.we_ready,
    "they_ready": lambda row: row.they_ready,
}


def _tally(rows: Sequence[Held], question: Callable[[Held], bool | None]) -> Tally:
    answers = [answer for answer in map(question, rows) if answer is not None]
    return Tally(sum(answers), len(answers))


def _figures(rows: Sequence[Held], commitments: dict[Pair, tuple[int, int, int]]) -> Figures:
    pairs = {(row.account, row.customer) for row in rows}
    totals = [commitments.get(pair, (0, 0, 0)) for pair in pairs]
    return Figures(
        meetings=len(rows),
        debriefed=sum(1 for row in rows if row.debriefed),
        dated_next_steps=sum(
            1 for row in rows if row.debrief is not None and row.debrief.dated_next_steps
        ),
        next_scheduled=sum(1 for row in rows if row.next_scheduled),
        open_theirs=sum(t[0] for t in totals),
        open_ours=sum(t[1] for t in totals),
        overdue=sum(t[2] for t in totals),
        customers=len({row.customer for row in rows}),
        **{name: _tally(rows, question) for name, question in QUESTIONS.items()},
    )


def _weeks(
    period: Sequence[Held], start: datetime, now: datetime, zone: tzinfo
) -> tuple[Week, ...]:
    """Monday-to-Sunday weeks (in `zone`) from the one the period starts in to this one."""
    first = start.astimezone(zone).date()
    monday = first - timedelta(days=first.weekday())
    last = now.astimezone(zone).date()
    weeks = []
    while monday <= last:
        end = monday + timedelta(days=7)
        rows = [row for row in period if monday <= row.start.astimezone(zone).date() < end]
        weeks.append(Week(monday, _figures(rows, {})))
        monday = end
    return tuple(weeks)


def zone_of(accounts: Sequence[Account]) -> tzinfo:
    """The report's zone: the first account's (weeks and "today" are counted in it)."""
    return accounts[0].settings.timezone if accounts else UTC


def period_end(accounts: Sequence[Account], until: date | None, now: datetime) -> datetime:
    """The end of the reviewed period: the end of `until` in the report's zone, or `now`."""
    if until is None:
        return now
    return datetime.combine(until + timedelta(days=1), time(0), tzinfo=zone_of(accounts))


def from_store(store: Store, accounts: Sequence[Account], now: datetime, days: int) -> Review:
    """The review of the given accounts from what the store recorded, in the first account's zone.

    Customers are counted under the current configuration of each account (a [customers]
    mapping added later gathers earlier meetings under its name too).
    """
    rows: list[Held] = []
    for account in accounts:
        rules = Classifier(account.settings)
        rows += (
            replace(row, customer=rules.held_customer(row))
            for row in store.held(account=account.name)
        )
    return review(rows, now, days, zone_of(accounts))
