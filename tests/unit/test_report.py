"""`callplan report`: the figures against a seeded history whose answers are worked out by hand."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from datetime import date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from agent.cli.main import main
from agent.cli.report_view import chart, least_ready, to_csv, to_html, to_json, to_text
from agent.config.settings import parse as parse_config
from agent.core.debrief import Debrief, Item
from agent.core.held import Held
from agent.review.report import Figures, Tally, from_store
from agent.state.sqlite import SqliteStore
from tests.support.helpers import BERLIN

NOW = datetime(2030, 6, 17, 12, 0, tzinfo=BERLIN)  # a Monday; the review covers the 28 days before


def row(
    seller: str,
    customer: str,
    when: datetime,
    debrief: Debrief | None = None,
    scheduled: bool = False,
    minutes: int = 60,
    externals: tuple[str, ...] = (),
) -> Held:
    return Held(
        calendar="work",
        meeting_key=f"{customer}-{when:%m%d%H%M}",
        account=seller,
        customer=customer,
        title=f"{customer} call",
        start=when,
        end=when + timedelta(minutes=minutes),
        next_scheduled=scheduled,
        externals=externals or ((customer,) if "@" in customer else (f"x@{customer}",)),
        debrief=debrief,
    )


def day(month: int, dom: int, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(2030, month, dom, hour, minute, tzinfo=BERLIN)


SEEDED = [
    # alex
    # before the period
    row("alex", "globex.example", day(5, 13), Debrief(theirs=(Item("old", date(2030, 5, 15)),))),
    row(
        "alex",
        "globex.example",
        day(5, 21),
        Debrief(
            theirs=(Item("data", date(2030, 5, 24)),), ours=(Item("proposal", date(2030, 5, 28)),)
        ),
        scheduled=True,
    ),
    row(
        "alex",
        "globex-eu.example",
        day(6, 4),
        Debrief(  # mapped to Globex; one step undated
            theirs=(
                Item("data", date(2030, 5, 24), done=True),
                Item("sign the NDA", date(2030, 6, 10)),
            ),
            ours=(Item("pricing"),),
        ),
        externals=("jo@globex-eu.example",),
    ),
    row("alex", "initech.example", day(5, 22, 14), scheduled=True),  # not debriefed
    # debriefed, no next steps
    row("alex", "initech.example", day(6, 12, 14), Debrief(notes="they were late")),
    row(
        "alex",
        "pat@gmail.com",
        day(6, 17, 11),
        Debrief(ours=(Item("a quote", date(2030, 6, 20)),)),
        scheduled=True,
    ),
    row("alex", "initech.example", day(6, 17, 23, 30)),  # not over when the period ends
    # bea
    row(
        "bea",
        "globex.example",
        day(6, 3, 9),
        Debrief(
            theirs=(Item("intro to IT", date(2030, 6, 5)),),
            ours=(Item("send the logo", done=True),),
        ),
        scheduled=True,
    ),
    row("bea", "hooli.example", day(5, 27)),
]

CONFIG = {
    "defaults": {
        "timezone": "Europe/Berlin",
        "rules": {"internal_domains": ["acme.example"]},
        "customers": {"Globex": ["globex.example", "globex-eu.example"]},
    },
    "accounts": [
        {
            "name": "alex",
            "provider": "caldav",
            "email": "alex@acme.example",
            "url": "https://dav.example/",
        },
        {
            "name": "bea",
            "provider": "caldav",
            "email": "bea@acme.example",
            "url": "https://dav.example/",
        },
    ],
}


WEEKS = [  # the Monday of each week of the period, and its meetings (as CSV has them)
    ("2030-05-20", "2"),
    ("2030-05-27", "1"),
    ("2030-06-03", "2"),
    ("2030-06-10", "1"),
    ("2030-06-17", "1"),
]


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    store = SqliteStore(tmp_path / "state.db")
    for held in SEEDED:
        store.save_held(held)
    return store


def test_the_figures_match_the_ones_worked_out_by_hand(store: SqliteStore, tmp_path: Path) -> None:
    accounts = parse_config(CONFIG, tmp_path / "config.toml").accounts
    review = from_store(store, accounts, NOW, 28)
    # alex, in the period: Globex 21 May (debriefed, dated, booked), Globex-EU 4 Jun (debriefed, one
    # step
    # undated), Initech 22 May (booked), Initech 12 Jun (debriefed, no steps), pat 17 Jun (all
    # three).
    # Open commitments from the latest debrief per customer: Globex 4 Jun -> NDA (overdue since 10
    # Jun)
    # and pricing; Initech none; pat -> a quote (due 20 Jun).
    alex = Figures(
        meetings=5,
        debriefed=4,
        dated_next_steps=2,
        next_scheduled=3,
        open_theirs=1,
        open_ours=2,
        overdue=1,
        customers=3,
        closed=Tally(2, 5),  # Globex 21 May and pat: steps written down, next booked
    )
    # bea: Globex 3 Jun (debriefed, dated, booked; intro overdue since 5 Jun, logo done), Hooli 27
    # May (nothing)
    bea = Figures(
        meetings=2,
        debriefed=1,
        dated_next_steps=1,
        next_scheduled=1,
        open_theirs=1,
        open_ours=0,
        overdue=1,
        customers=2,
        closed=Tally(1, 2),
    )
    assert [(line.name, line.figures) for line in review.sellers] == [("alex", alex), ("bea", bea)]
    assert review.total == Figures(7, 5, 3, 4, 2, 2, 2, customers=4, closed=Tally(3, 7))
    customers = {
        line.name: (line.figures, line.sellers, line.last_met) for line in review.customers
    }
    assert customers == {
        "Globex": (Figures(3, 3, 2, 2, 2, 1, 2, 1, closed=Tally(2, 3)), ("alex", "bea"), day(6, 4)),
        "hooli.example": (
            Figures(1, 0, 0, 0, 0, 0, 0, 1, closed=Tally(0, 1)),
            ("bea",),
            day(5, 27),
        ),
        "initech.example": (
            Figures(2, 1, 0, 1, 0, 0, 0, 1, closed=Tally(0, 2)),
            ("alex",),
            day(6, 12, 14),
        ),
        "pat@gmail.com": (
            Figures(1, 1, 1, 1, 0, 1, 0, 1, closed=Tally(1, 1)),
            ("alex",),
            day(6, 17, 11),
        ),
    }
    assert alex.share(alex.debriefed) == 0.8 and alex.meetings_per_customer == pytest.approx(5 / 3)
    weeks = [
        (
            week.start,
            week.figures.meetings,
            week.figures.debriefed,
            week.figures.dated_next_steps,
            week.figures.next_scheduled,
        )
        for week in review.weeks
    ]
    assert weeks == [
        (date(2030, 5, 20), 2, 1, 1, 2),
        (date(2030, 5, 27), 1, 0, 0, 0),
        (date(2030, 6, 3), 2, 2, 1, 1),
        (date(2030, 6, 10), 1, 1, 0, 0),
        (date(2030, 6, 17), 1, 1, 1, 1),
    ]


def test_an_empty_history_reports_zeros_not_errors(tmp_path: Path) -> None:
    accounts = parse_config(CONFIG, tmp_path / "config.toml").accounts
    review = from_store(SqliteStore(":memory:"), accounts, NOW, 90)
    assert review.total == Figures() and review.total.share(0) is None and review.sellers == ()
    assert "<svg" in to_html(review)


def test_the_chart_scales_bars_to_meetings_and_lines_to_shares(
    store: SqliteStore, tmp_path: Path
) -> None:
    review = from_store(store, parse_config(CONFIG, tmp_path / "c.toml").accounts, NOW, 28)
    drawn = chart(review.weeks)
    bottom = drawn.top + drawn.plot_height
    assert drawn.most == 2 and [round(bar.height / drawn.plot_height, 2) for bar in drawn.bars] == [
        1,
        0.5,
        1,
        0.5,
        0.5,
    ]
    debriefed = drawn.series[0]
    assert debriefed.name == "Debriefed"
    assert [round((bottom - y) / drawn.plot_height, 2) for _, y, _ in debriefed.dots] == [
        0.5,
        0,
        1,
        1,
        1,
    ]


@pytest.fixture
def cli(store: SqliteStore, tmp_path: Path) -> tuple[CliRunner, Path]:
    store.close()
    lines = [
        f'state = "{tmp_path / "state.db"}"',
        "[defaults]",
        'timezone = "Europe/Berlin"',
        "[defaults.rules]",
        'internal_domains = ["acme.example"]',
        "[defaults.customers]",
        '"Globex" = ["globex.example", "globex-eu.example"]',
    ]
    for name in ("alex", "bea"):
        lines += [
            "[[accounts]]",
            f'name = "{name}"',
            'provider = "caldav"',
            f'email = "{name}@acme.example"',
            'url = "https://dav.example/"',
        ]
    config = tmp_path / "config.toml"
    config.write_text("\n".join(lines) + "\n")
    return CliRunner(), config


def test_report_command_exports_json_and_csv(cli: tuple[CliRunner, Path]) -> None:
    runner, config = cli
    result = runner.invoke(
        main,
        [
            "--config",
            str(config),
            "report",
            "--days",
            "28",
            "--until",
            "2030-06-17",
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["total"]["meetings"] == 7 and data["total"][
        "next_scheduled_share"
    ] == pytest.approx(4 / 7)
    assert [(s["name"], s["debriefed"], s["overdue_commitments"]) for s in data["sellers"]] == [
        ("alex", 4, 1),
        ("bea", 1, 1),
    ]
    assert [w["meetings"] for w in data["weeks"]] == [2, 1, 2, 1, 1]
    assert (data["total"]["closed"], data["total"]["closed_known"]) == (3, 7)
    assert data["total"]["we_ready_known"] == 0 and data["total"]["we_ready_share"] is None
    result = runner.invoke(
        main,
        [
            "--config",
            str(config),
            "report",
            "--days",
            "28",
            "--until",
            "2030-06-17",
            "--format",
            "csv",
        ],
    )
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert [(r["scope"], r["name"], r["meetings"]) for r in rows] == [
        ("seller", "alex", "5"),
        ("seller", "bea", "2"),
        ("customer", "Globex", "3"),
        ("customer", "hooli.example", "1"),
        ("customer", "initech.example", "2"),
        ("customer", "pat@gmail.com", "1"),
        ("total", "", "7"),
        *(("week", monday, meetings) for monday, meetings in WEEKS),
    ]


def test_report_command_prints_tables_and_writes_a_self_contained_html_page(
    cli: tuple[CliRunner, Path], tmp_path: Path
) -> None:
    runner, config = cli
    result = runner.invoke(
        main, ["--config", str(config), "report", "--days", "28", "--until", "2030-06-17"]
    )
    assert result.exit_code == 0, result.output
    assert (
        "│ alex " in result.output and "(80%)" in result.output and "Per customer" in result.output
    )
    page = tmp_path / "review.html"
    args = [
        "--config",
        str(config),
        "report",
        "--days",
        "28",
        "--until",
        "2030-06-17",
        "--format",
        "html",
        "--output",
        str(page),
    ]
    result = runner.invoke(main, args)
    assert result.exit_code == 0 and "Report written to" in result.output
    html = page.read_text()
    # two charts of five weeks; the readiness lines have no point: unknown for every meeting
    assert (
        html.count("<rect ") == 10
        and html.count("<polyline ") == 3
        and "Next meeting booked" in html
        and html.index("Are we ready? Is the customer ready?") < html.index("<svg")
    )
    # nothing fetched
    assert "<script" not in html and "http" not in html.replace("http://www.w3.org/2000/svg", "")
    assert references(html) == []


class _References(HTMLParser):
    """Every attribute of a page that could make a browser fetch something."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href", "srcset", "action", "data", "poster", "background"):
                self.found.append(f"<{tag} {name}={value}>")
            if name == "style" and value and "url(" in value:
                self.found.append(f"<{tag} style={value}>")
        if tag in ("script", "link", "iframe", "object", "embed", "img", "image", "use"):
            self.found.append(f"<{tag}>")


def references(page: str) -> list[str]:
    parser = _References()
    parser.feed(page)
    styles = page[page.index("<style>") : page.index("</style>")]
    return parser.found + (
        ["a url() or @import in the style"] if "url(" in styles or "@import" in styles else []
    )


def test_report_names_a_bad_output_path_in_one_line(
    cli: tuple[CliRunner, Path], tmp_path: Path
) -> None:
    runner, config = cli
    target = tmp_path / "missing" / "r.csv"
    result = runner.invoke(
        main, ["--config", str(config), "report", "--format", "csv", "--output", str(target)]
    )
    assert result.exit_code == 1
    assert (
        result.output.strip()
        == f"callplan: {target}: cannot write the report: No such file or directory"
    )


def ready(held: Held, we: bool | None, they: bool | None) -> Held:
    return replace(held, we_ready=we, they_ready=they)


PRACTICE_SEEDED = [
    # alex: all answered, both met, nothing to do differently; ready on both sides
    ready(
        row(
            "alex",
            "globex.example",
            day(6, 3),
            Debrief(
                our_goals="yes",
                their_goals="yes",
                more="no",
                learned="yes",
                ours=(Item("pricing", date(2030, 6, 7)),),
            ),
            scheduled=True,
        ),
        True,
        True,
    ),
    # one side partly, could have done more, "don't know", a lesson written; ready on neither
    ready(
        row(
            "alex",
            "globex.example",
            day(6, 10),
            Debrief(
                our_goals="yes",
                their_goals="partly",
                more="yes",
                learned="unsure",
                differently="ask about budget",
            ),
        ),
        False,
        False,
    ),
    ready(row("alex", "initech.example", day(6, 5)), False, False),  # never debriefed
    ready(row("alex", "initech.example", day(6, 11)), True, False),
    row("alex", "initech.example", day(6, 12), Debrief(notes="late")),  # held before: unknown
    # bea: our goals not met, theirs unanswered: not both; nothing learned
    ready(row("bea", "hooli.example", day(6, 4)), False, False),
    ready(
        row(
            "bea",
            "globex.example",
            day(6, 13),
            Debrief(their_goals="yes", next_steps=(Item("demo"),)),
            scheduled=True,
        ),
        True,
        True,
    ),
]
PRACTICE_SEEDED[5] = replace(PRACTICE_SEEDED[5], debrief=Debrief(our_goals="no", learned="no"))


def practice(figures: Figures) -> dict[str, tuple[int, int]]:
    return {
        name: (getattr(figures, name).yes, getattr(figures, name).known)
        for name in ("both_goals", "more", "better", "learned", "closed", "we_ready", "they_ready")
    }


def test_the_practices_questions_count_only_where_the_answer_is_known(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "state.db")
    for held in PRACTICE_SEEDED:
        store.save_held(held)
    review = from_store(store, parse_config(CONFIG, tmp_path / "c.toml").accounts, NOW, 28)
    assert practice(review.total) == {
        "both_goals": (1, 3),  # 3 Jun yes; 10 Jun partly; hooli no (theirs unanswered)
        "more": (1, 2),
        "better": (1, 4),  # the lesson; three quick checks answered without one
        "learned": (1, 2),  # "don't know" is unknown
        "closed": (2, 7),  # known for every meeting
        "we_ready": (3, 6),  # 12 Jun was held before readiness was judged
        "they_ready": (2, 6),
    }
    assert [(line.name, practice(line.figures)["we_ready"]) for line in review.sellers] == [
        ("alex", (2, 4)),
        ("bea", (1, 2)),
    ]
    weeks = {
        week.start: (practice(week.figures)["we_ready"], practice(week.figures)["they_ready"])
        for week in review.weeks
    }
    assert weeks[date(2030, 6, 3)] == ((1, 3), (1, 3))
    assert weeks[date(2030, 6, 10)] == ((2, 3), (1, 3))
    assert weeks[date(2030, 5, 20)] == ((0, 0), (0, 0))
    # who keeps meeting us unprepared: Initech twice, then Globex and Hooli once each
    assert [(line.name, line.figures.they_ready.no) for line in least_ready(review)] == [
        ("initech.example", 2),
        ("Globex", 1),
        ("hooli.example", 1),
    ]
    text = to_text(review)
    assert "1 of 3 (33%)" in text and "3 of 6 (50%)" in text and "Met unprepared" in text
    (total,) = [r for r in csv.DictReader(io.StringIO(to_csv(review))) if r["scope"] == "total"]
    assert (total["they_ready"], total["they_ready_known"]) == ("2", "6")
    assert float(total["they_ready_share"]) == pytest.approx(1 / 3)
    data = json.loads(to_json(review))
    assert data["total"]["learned_share"] == 0.5 and data["weeks"][0]["we_ready_share"] is None
    page = to_html(review)
    lead = page[page.index("Are we ready?") : page.index("<svg")]
    assert "<b>50%</b>3 of the 6 meetings" in lead and "<b>33%</b>2 of the 6 meetings" in lead
    assert page.index("initech.example</td><td>3") < page.index("hooli.example</td><td>1")
    assert references(page) == []
