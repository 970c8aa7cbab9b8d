"""The review as people read it: terminal tables, CSV and JSON for export, and an HTML page
that leads with readiness ("Are we ready? Is the customer ready?") and charts the weekly trends.
Presentation only: the figures come from agent.review.report.

The practice's questions are shown as "yes of known (share)": "3 of 4 (75%)" in a period of six
meetings says two were not answered, and "—" that none was.

The HTML page is self-contained (inline SVG chart, inline CSS, no script, nothing fetched
when it is opened), rendered by an autoescaping Jinja2 environment, since customer names
and meeting titles come from outside.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from rich.console import Console
from rich.table import Table

from agent.review.report import Figures, Line, Review, Tally, Week
from agent.text.render import default_templates_dir

COLUMNS = (  # short headers: the tables should fit a normal terminal
    ("meetings", "Meetings"),
    ("debriefed", "Debriefed"),
    ("dated_next_steps", "Dated next steps"),
    ("next_scheduled", "Next booked"),
    ("open", "Open (them/us)"),
    ("overdue", "Overdue"),
    ("customers", "Customers"),
    ("meetings_per_customer", "Per customer"),
)


# the practice's questions: (Figures' tally, short header, the question)
PRACTICE = (
    (
        "both_goals",
        "Both goals met",
        "In what share did both we and the customer reach our goals?",
    ),
    ("more", "Could do more", "In what share could we have achieved more?"),
    (
        "better",
        "Ask/handle better",
        "In what share did we leave thinking we should have asked or handled something better?",
    ),
    (
        "learned",
        "They learned",
        "In what share did the customer learn something that mattered to them?",
    ),
    (
        "closed",
        "Steps + next booked",
        "In what share were next steps written down and the next meeting booked?",
    ),
    ("we_ready", "We ready", "In what share were we ready (a call plan written before)?"),
    (
        "they_ready",
        "They could be ready",
        "In what share could the customer be ready (the agenda in time)?",
    ),
)


def percent(share: float | None) -> str:
    return "—" if share is None else f"{share:.0%}"


def of_known(tally: Tally) -> str:
    """A question's answer over a group of meetings: "3 of 4 (75%)", or "—" when none knows."""
    return f"{tally.yes} of {tally.known} ({percent(tally.share)})" if tally.known else "—"


def practice_cells(figures: Figures) -> list[str]:
    """A row's meetings and the practice's questions, as text."""
    return [str(figures.meetings)] + [of_known(getattr(figures, name)) for name, _, _ in PRACTICE]


def _readiness(line: Line) -> list[str]:
    """A customer's readiness row: meetings, we ready, they could be ready, met unprepared."""
    figures = line.figures
    return [
        str(figures.meetings),
        of_known(figures.we_ready),
        of_known(figures.they_ready),
        str(figures.they_ready.no),
    ]


def least_ready(review: Review) -> list[Line]:
    """The customers, those who most often met us unprepared first."""
    return sorted(
        review.customers, key=lambda line: (-line.figures.they_ready.no, line.name.casefold())
    )


def _cells(figures: Figures) -> list[str]:
    """A row's figures as text: counts with their share of the meetings."""

    def counted(count: int) -> str:
        return f"{count} ({percent(figures.share(count))})" if figures.meetings else "0"

    per = figures.meetings_per_customer
    return [
        str(figures.meetings),
        counted(figures.debriefed),
        counted(figures.dated_next_steps),
        counted(figures.next_scheduled),
        f"{figures.open} ({figures.open_theirs}/{figures.open_ours})",
        str(figures.overdue),
        str(figures.customers),
        "—" if per is None else f"{per:.1f}",
    ]


def _period(review: Review) -> str:
    zone = review.zone
    # an end at midnight belongs to the day before
    last = (review.end - timedelta(microseconds=1)).astimezone(zone)
    return f"{review.start.astimezone(zone):%a %d %b %Y} – {last:%a %d %b %Y} ({review.days} days)"


def tables(review: Review) -> list[Table]:
    """Per seller (with the total), the practice's questions per seller and week by week, per
    customer, and readiness per customer."""
    sellers = Table(title=f"Customer meetings per seller, {_period(review)}")
    sellers.add_column("Seller")
    for _, header in COLUMNS:
        sellers.add_column(header, justify="right")
    for line in review.sellers:
        sellers.add_row(line.name, *_cells(line.figures))
    sellers.add_row("All", *_cells(review.total), style="bold")
    customers = Table(title="Per customer")
    customers.add_column("Customer")
    customers.add_column("Sellers")
    for _, header in COLUMNS[:6]:
        customers.add_column(header, justify="right")
    customers.add_column("Last met")
    for line in review.customers:
        last = f"{line.last_met.astimezone(review.zone):%d %b %Y}" if line.last_met else ""
        customers.add_row(line.name, ", ".join(line.sellers), *_cells(line.figures)[:6], last)
    practice = _practice_table("The practice's questions per seller (yes of known)", "Seller")
    for line in review.sellers:
        practice.add_row(line.name, *practice_cells(line.figures))
    practice.add_row("All", *practice_cells(review.total), style="bold")
    weekly = _practice_table("Week by week", "Week of")
    for week in review.weeks:
        weekly.add_row(f"{week.start:%d %b %Y}", *practice_cells(week.figures))
    ready = Table(title="Readiness per customer (most often unprepared first)")
    ready.add_column("Customer")
    for header in ("Meetings", "We ready", "They could be ready", "Met unprepared"):
        ready.add_column(header, justify="right")
    for line in least_ready(review):
        ready.add_row(line.name, *_readiness(line))
    return [sellers, practice, weekly, customers, ready]


def _practice_table(title: str, first: str) -> Table:
    table = Table(title=title)
    table.add_column(first)
    table.add_column("Meetings", justify="right")
    for _, header, _ in PRACTICE:
        table.add_column(header, justify="right")
    return table


def to_text(review: Review) -> str:
    """The tables as plain text, for a file."""
    console = Console(record=True, width=180, file=io.StringIO())
    for table in tables(review):
        console.print(table)
    return console.export_text()


def _record(scope: str, line: Line | None, figures: Figures) -> dict[str, Any]:
    return {
        "scope": scope,
        "name": line.name if line else "",
        "sellers": list(line.sellers) if line else [],
        "meetings": figures.meetings,
        "debriefed": figures.debriefed,
        "debriefed_share": figures.share(figures.debriefed),
        "dated_next_steps": figures.dated_next_steps,
        "dated_next_steps_share": figures.share(figures.dated_next_steps),
        "next_scheduled": figures.next_scheduled,
        "next_scheduled_share": figures.share(figures.next_scheduled),
        "open_commitments_theirs": figures.open_theirs,
        "open_commitments_ours": figures.open_ours,
        "overdue_commitments": figures.overdue,
        "customers": figures.customers,
        "meetings_per_customer": figures.meetings_per_customer,
        **{
            field: value
            for name, _, _ in PRACTICE
            for field, value in (
                (name, getattr(figures, name).yes),
                (f"{name}_known", getattr(figures, name).known),
                (f"{name}_share", getattr(figures, name).share),
            )
        },
    }


def records(review: Review) -> list[dict[str, Any]]:
    """One flat record per seller, per customer, the total, and one per week (named by its
    Monday)."""
    return (
        [_record("seller", line, line.figures) for line in review.sellers]
        + [_record("customer", line, line.figures) for line in review.customers]
        + [_record("total", None, review.total)]
        + [
            {**_record("week", None, week.figures), "name": week.start.isoformat()}
            for week in review.weeks
        ]
    )


def to_csv(review: Review) -> str:
    out = io.StringIO()
    rows = records(review)
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({**row, "sellers": " ".join(row["sellers"])})
    return out.getvalue()


def to_json(review: Review) -> str:
    week_rows = [
        {"week": week.start.isoformat(), **_record("week", None, week.figures)}
        for week in review.weeks
    ]
    for row in week_rows:
        del row["scope"], row["name"], row["sellers"]
    data = {
        "period": {
            "start": review.start.isoformat(),
            "end": review.end.isoformat(),
            "days": review.days,
        },
        "sellers": [_record("seller", line, line.figures) for line in review.sellers],
        "customers": [_record("customer", line, line.figures) for line in review.customers],
        "total": _record("total", None, review.total),
        "weeks": week_rows,
    }
    return json.dumps(data, indent=2)


# --- the chart ----------------------------------------------------------------------------------

Share = Callable[[Figures], float | None]
# (label, colour, dash pattern, the week's share): dashes keep lines that coincide apart
SERIES: tuple[tuple[str, str, str, Share], ...] = (
    ("Debriefed", "#1f77b4", "", lambda f: f.share(f.debriefed)),
    ("Next steps with dates", "#2ca02c", "7 4", lambda f: f.share(f.dated_next_steps)),
    ("Next meeting booked", "#d62728", "2 3", lambda f: f.share(f.next_scheduled)),
)
READY: tuple[tuple[str, str, str, Share], ...] = (
    ("We were ready", "#2ca02c", "", lambda f: f.we_ready.share),
    ("The customer could be ready", "#9467bd", "7 4", lambda f: f.they_ready.share),
)


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    title: str


@dataclass(frozen=True)
class Series:
    name: str
    colour: str
    dash: str
    points: str  # "x,y x,y ..." for an SVG polyline
    dots: tuple[tuple[float, float, str], ...]


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: int
    top: int
    plot_width: float
    plot_height: float
    bars: tuple[Bar, ...]
    series: tuple[Series, ...]
    most: int  # meetings at the top of the bar scale


def chart(
    weeks: tuple[Week, ...],
    series_of: tuple[tuple[str, str, str, Share], ...] = SERIES,
    width: int = 760,
    height: int = 280,
) -> Chart:
    """Geometry of a weekly trend: bars for meetings held (left scale), a line for each share
    (right scale, 0-100 %). A week without meetings, or whose share is known for none of them,
    has no point."""
    left, right, top, bottom = 48, 56, 16, 44
    plot_width, plot_height = width - left - right, height - top - bottom
    slot = plot_width / max(1, len(weeks))
    most = max([week.figures.meetings for week in weeks] + [1])
    bars: list[Bar] = []
    lines: dict[str, list[tuple[float, float, str]]] = {label: [] for label, _, _, _ in series_of}
    for index, week in enumerate(weeks):
        figures, centre = week.figures, left + slot * (index + 0.5)
        bar_height = plot_height * figures.meetings / most
        bars.append(
            Bar(
                centre - slot * 0.3,
                top + plot_height - bar_height,
                slot * 0.6,
                bar_height,
                f"{week.start:%d %b}",
                f"Week of {week.start:%d %b %Y}: {figures.meetings} meetings",
            )
        )
        for label, _, _, share_of in series_of:
            share = share_of(figures)
            if share is not None:
                lines[label].append(
                    (centre, top + plot_height * (1 - share), f"{label}: {share:.0%}")
                )
    series = tuple(
        Series(
            label,
            colour,
            dash,
            " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in lines[label]),
            tuple(lines[label]),
        )
        for label, colour, dash, _ in series_of
    )
    return Chart(width, height, left, top, plot_width, plot_height, tuple(bars), series, most)


def to_html(review: Review) -> str:
    environment = Environment(
        loader=FileSystemLoader(str(default_templates_dir())),
        autoescape=select_autoescape(enabled_extensions=("html.j2",)),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    template = environment.get_template("report.html.j2")
    return template.render(
        review=review,
        period=_period(review),
        chart=chart(review.weeks),
        ready_chart=chart(review.weeks, READY),
        columns=COLUMNS,
        cells=_cells,
        percent=percent,
        practice=PRACTICE,
        practice_cells=practice_cells,
        of_known=of_known,
        least_ready=least_ready(review),
        readiness=_readiness,
    )
