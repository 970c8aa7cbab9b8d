"""Call plans as sellers really write them, each with exactly the shared sections it yields.

Every case is a call plan a seller could plausibly type into a prep (or paste, or have Outlook
store), with private words marked the way people mark them, headings renamed and reordered,
bullets of every kind, minutes written every way, callplan's suggestions left in or taken up,
and callplan's own preview below it. Each one states the exact shared sections the agenda is
rendered from, and words that must never reach it. Ordinary plans that share everything are
here too, so the table proves that the shared part does arrive.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest

from agent.core.callplan import PlanShared, Topic
from agent.core.preview import BEGIN, END
from agent.text.callplan import parse_plan, parse_topic
from tests.unit.test_debrief_privacy import outlook_html


@dataclass(frozen=True)
class Case:
    text: str
    shared: PlanShared = PlanShared()
    hidden: tuple[str, ...] = ()  # words that must not be in any shared section
    body: str = "text"  # "text", "mso" / "ul" (Outlook HTML of the text), "html" (as written)
    kept: tuple[str, ...] = field(default=())  # lines listed as held back (checked when given)


FORM = """Purpose (shared, one line: why this meeting is worth their time):
{purpose}
What they will get from it (shared, one per line):
{for_them}
What we hope to get from it (shared, one per line):
{for_us}
Topics (shared, one per line, minutes optional):
{topics}
Please bring (shared, one per line):
{bring}
Who should join from their side (shared, one per line):
{join}
What we hope to decide (shared, one per line):
{decide}
Before you go in (private: answer each in a line or two):
[ ] Why did they agree to this meeting, and why is it worth their time?
{readiness}
Commitments we will ask for (private, one per line):
{asks}
Risks (private: what could derail it, and what you will do):
{risks}
Notes (private):
{notes}
"""


def form(**answers: str) -> str:
    fields = ("purpose for_them for_us topics bring join decide readiness asks risks notes").split()
    return FORM.format(
        **{name: answers.get(name, "- " if name != "purpose" else "") for name in fields}
    )


PILOT = PlanShared(
    purpose="Agree the scope of a four-week pilot",
    for_them=("a pilot plan their IT team can sign off",),
    for_us=("the go-ahead to draft the pilot contract",),
    topics=(Topic("Your goals for the pilot", 15), Topic("Scope and success criteria", 25)),
    bring=("last quarter's ticket volumes",),
    join=("your IT security lead",),
    decide=("pilot scope and start date",),
)
FILLED = dict(
    purpose="Agree the scope of a four-week pilot",
    for_them="- a pilot plan their IT team can sign off",
    for_us="- the go-ahead to draft the pilot contract",
    topics="- Your goals for the pilot (15 min)\n- Scope and success criteria (25 min)",
    bring="- last quarter's ticket volumes",
    join="- your IT security lead",
    decide="- pilot scope and start date",
)

CASES: dict[str, Case] = {
    # -- the form as callplan writes it ----------------------------------------------------
    "the untouched form": Case(form()),
    "every shared section filled in": Case(form(**FILLED), PILOT),
    "private sections filled in too": Case(
        form(
            **FILLED,
            readiness="They need it before the budget freeze",
            asks="- a signed pilot order by 5 Apr",
            risks="- Raj may block it over security",
            notes="they are talking to Initech as well",
        ),
        PILOT,
        hidden=("budget freeze", "signed pilot order", "Raj", "Initech"),
    ),
    "the purpose on the heading's line": Case(
        "Purpose: Agree the scope of a four-week pilot\nTopics:\n- Scope (20 min)\n",
        PlanShared("Agree the scope of a four-week pilot", topics=(Topic("Scope", 20),)),
    ),
    "only the purpose's first line is shared": Case(
        "Purpose:\nAgree the pilot scope\nand get them to sign before the competitor shows up\n",
        PlanShared("Agree the pilot scope"),
        hidden=("competitor",),
        kept=("and get them to sign before the competitor shows up",),
    ),
    "the purpose's second paragraph": Case(
        "Purpose:\nAgree the pilot scope\n\nreally: close this quarter\n",
        PlanShared("Agree the pilot scope"),
        hidden=("quarter",),
    ),
    # -- suggestions ---------------------------------------------------------------------------
    "callplan's suggestions left as they were": Case(
        form(
            purpose="Suggested: Agree the pilot scope",
            topics="- Suggested: Review of what we agreed on Mon 18 Mar\n- ",
            join="Suggested: already invited: Dana Whitfield, Raj Patel",
        ),
    ),
    "a suggestion taken up by deleting the mark": Case(
        form(
            purpose="Agree the pilot scope",
            topics="- Review of what we agreed on Mon 18 Mar (10 min)\n- Pilot scope",
        ),
        PlanShared(
            "Agree the pilot scope",
            topics=(Topic("Review of what we agreed on Mon 18 Mar", 10), Topic("Pilot scope")),
        ),
    ),
    "a suggestion left next to the seller's own line": Case(
        form(purpose="Suggested: Agree the pilot scope\nAgree the pilot scope and its budget"),
        PlanShared("Agree the pilot scope and its budget"),
    ),
    "a suggestion in any case": Case(
        "Purpose:\nSUGGESTED: Agree the pilot scope\nTopics:\n- suggested: a review\n- Scope\n",
        PlanShared(topics=(Topic("Scope"),)),
    ),
    # -- headings renamed, reordered, decorated ------------------------------------------------
    "headings renamed and reordered": Case(
        "Agenda:\n- Intro (5')\n- Demo (30 min)\nWhy we meet:\nSee the product on their data\n"
        "For you:\n- a demo on your own tickets\nDecisions:\n- whether to start a pilot\n",
        PlanShared(
            "See the product on their data",
            for_them=("a demo on your own tickets",),
            topics=(Topic("Intro", 5), Topic("Demo", 30)),
            decide=("whether to start a pilot",),
        ),
    ),
    "markdown and bold headings": Case(
        "## Purpose\nAgree the rollout plan\n**Topics**\n- Rollout waves\n- Training\n"
        "**What to bring:**\n- the list of sites\n",
        PlanShared(
            "Agree the rollout plan",
            topics=(Topic("Rollout waves"), Topic("Training")),
            bring=("the list of sites",),
        ),
    ),
    "a numbered line is an item, a lettered one a heading": Case(
        "1) Purpose: Agree the rollout plan\nB. Who should join: your head of operations\n",
        PlanShared(join=("your head of operations",)),
    ),
    "answers on the heading's line everywhere": Case(
        "Purpose: Agree the rollout plan\nPlease bring: the list of sites\n"
        "What we hope to decide: the first wave\n",
        PlanShared(
            "Agree the rollout plan", bring=("the list of sites",), decide=("the first wave",)
        ),
    ),
    "plain lines instead of bullets, up to the first blank line": Case(
        "What they will get from it:\na tested migration plan\nthe risks named early\n\n"
        "this one is mine\n",
        PlanShared(for_them=("a tested migration plan", "the risks named early")),
        hidden=("mine",),
    ),
    "bullets of every kind": Case(
        "Topics:\n* Goals (10 min)\n• Scope (20 min)\n1. Timeline (15 min)\n2) Next steps\n"
        "– Questions\n",
        PlanShared(
            topics=(
                Topic("Goals", 10),
                Topic("Scope", 20),
                Topic("Timeline", 15),
                Topic("Next steps"),
                Topic("Questions"),
            )
        ),
    ),
    "checkboxes in a shared list": Case(
        "Please bring:\n- [ ] the ticket export\n- [x] the org chart\n",
        PlanShared(bring=("[ ] the ticket export", "[x] the org chart")),
    ),
    # -- minutes ---------------------------------------------------------------------------------
    "minutes written every way": Case(
        "Topics:\n- Goals, 10 min\n- Scope – 20 minutes\n- 15 min: timeline\n- Budget of 5m\n"
        "- Deep dive (1 h)\n- Wrap-up 5'\n- Q&A (1.5 hours)\n",
        PlanShared(
            topics=(
                Topic("Goals", 10),
                Topic("Scope", 20),
                Topic("timeline", 15),
                Topic("Budget of 5m"),
                Topic("Deep dive", 60),
                Topic("Wrap-up", 5),
                Topic("Q&A", 90),
            )
        ),
    ),
    "a topic that is only a time stays as written": Case(
        "Topics:\n- 20 min\n", PlanShared(topics=(Topic("20 min"),))
    ),
    # -- marks in headings ----------------------------------------------------------------------
    "a mark in a shared heading's hint": Case(
        "What we hope to get from it (internal):\n- their budget figure\nPurpose:\nAgree the "
        "pilot scope\n",
        PlanShared("Agree the pilot scope"),
        hidden=("budget",),
    ),
    "a bracketed mark on the purpose": Case(
        "Purpose [confidential]:\nget the CFO to commit\nTopics:\n- Pilot scope\n",
        PlanShared(topics=(Topic("Pilot scope"),)),
        hidden=("CFO",),
    ),
    "a private heading inside the topics": Case(
        "Topics:\n- Pilot scope\nPrivate notes:\n- they will never pay list price\n",
        PlanShared(topics=(Topic("Pilot scope"),)),
        hidden=("list price",),
    ),
    "a heading of the seller's own ends what is shared": Case(
        "What we hope to decide:\n- the pilot start date\nMy read:\n- they are bluffing about "
        "the deadline\n",
        PlanShared(decide=("the pilot start date",)),
        hidden=("bluffing",),
    ),
    # -- marks at the start of a line, in brackets, mid-sentence ---------------------------
    "a private line right after the purpose": Case(
        "Purpose:\nAgree the pilot scope\nPrivate: upsell the enterprise tier\n",
        PlanShared("Agree the pilot scope"),
        hidden=("upsell", "enterprise"),
        kept=("Private: upsell the enterprise tier",),
    ),
    "a private line among the topics starts a private section": Case(
        "Topics:\n- Pilot scope\nInternal - push the three-year deal\n- Pricing\n",
        PlanShared(topics=(Topic("Pilot scope"),)),
        hidden=("three-year", "Pricing"),
    ),
    "a marked item among the topics": Case(
        "Topics:\n- Pilot scope (20 min)\n- [private] our margin\n- Timeline (10 min)\n",
        PlanShared(topics=(Topic("Pilot scope", 20), Topic("Timeline", 10))),
        hidden=("margin",),
        kept=("[private] our margin",),
    ),
    "a mark in parentheses at the end of an item": Case(
        "Please bring:\n- the ticket export\n- their renewal date (confidential)\n",
        PlanShared(bring=("the ticket export",)),
        hidden=("renewal",),
    ),
    "a mark mid-sentence": Case(
        "What we hope to get from it:\n- the go-ahead for a pilot\n- a look at the internal "
        "benchmark\n",
        PlanShared(for_us=("the go-ahead for a pilot",)),
        hidden=("benchmark",),
    ),
    "a mark on its own line": Case(
        "What they will get from it:\n- a pilot plan\n--- internal ---\n- they need a win "
        "before the board\n",
        PlanShared(for_them=("a pilot plan",)),
        hidden=("board",),
    ),
    "a lock emoji": Case(
        "Topics:\n- Pilot scope\n- 🔒 discount ladder\n",
        PlanShared(topics=(Topic("Pilot scope"),)),
        hidden=("discount",),
    ),
    "a note to self as an item": Case(
        "Who should join from their side:\n- your IT security lead\n- Note to self: ask Raj "
        "to bring the CFO\n",
        PlanShared(join=("your IT security lead",)),
        hidden=("CFO",),
    ),
    "German marks": Case(
        "Topics:\n- Pilot\n- Rabatt (vertraulich)\nNur für mich:\n- Budget ist knapp\n",
        PlanShared(topics=(Topic("Pilot"),)),
        hidden=("Rabatt", "knapp"),
    ),
    "French and Spanish marks": Case(
        "Topics:\n- Pilot\n- remise (confidentiel)\n- precio mínimo (privado)\n",
        PlanShared(topics=(Topic("Pilot"),)),
        hidden=("remise", "precio"),
    ),
    # -- nesting ---------------------------------------------------------------------------------
    "a nested bullet under a topic": Case(
        "Topics:\n- Pilot scope (20 min)\n  - they want 500 seats but budget is 200\n- Timeline\n",
        PlanShared(topics=(Topic("Pilot scope", 20), Topic("Timeline"))),
        hidden=("500 seats",),
    ),
    "a further line under an item": Case(
        "What we hope to decide:\n- the pilot start date\n    we need it before quarter end\n",
        PlanShared(decide=("the pilot start date",)),
        hidden=("quarter end",),
    ),
    "a second-level bullet that lost its indentation": Case(
        "Please bring:\n- the ticket export\n◦ remind Dana, she forgets\n",
        PlanShared(bring=("the ticket export",)),
        hidden=("forgets",),
    ),
    # -- private sections and text outside the form -----------------------------------------
    "callplan's notes above the form are never read": Case(
        'PREP · Globex: deep dive\n\nFROM YOUR DEBRIEF OF "Globex 1"\nPrimary objective of '
        "this meeting: close the deal\nOpen commitments:\n- Us: send pricing\n\nYOUR CALL PLAN\n"
        "Purpose:\nAgree the pilot scope\n",
        PlanShared("Agree the pilot scope"),
        hidden=("close the deal", "send pricing"),
    ),
    "readiness answers, asks, risks and notes stay private": Case(
        "Before you go in:\n[x] They need this before the freeze\nCommitments we will ask for:\n"
        "- a signed order\nRisks:\n- Raj blocks it\nNotes:\nthe competitor is cheaper\n",
        hidden=("freeze", "signed order", "Raj", "competitor"),
    ),
    "bare words that read like shared headings inside private sections": Case(
        "Notes:\nPurpose\nSECRET close this quarter\nTopics\n- SECRET a difficult one\n"
        "For you\n- SECRET\n",
        hidden=("SECRET",),
    ),
    "a shared heading typed as a list line inside the notes": Case(
        "Notes:\n- Purpose: SECRET win the renewal\n* Topics: SECRET pricing\n",
        hidden=("SECRET",),
    ),
    # -- the preview is callplan's, never read ---------------------------------------------
    "the preview below the form": Case(
        f"Purpose:\nAgree the pilot scope\n\n{BEGIN}\nPurpose: SECRET from the debrief\n"
        f"Topics:\n- SECRET\nKept out of the agenda:\n- Private: SECRET\n{END}\n",
        PlanShared("Agree the pilot scope"),
        hidden=("SECRET",),
    ),
    "the preview with its end marker deleted": Case(
        f"Topics:\n- Pilot scope\n{BEGIN}\nPurpose: SECRET\nTopics:\n- SECRET\n",
        PlanShared(topics=(Topic("Pilot scope"),)),
        hidden=("SECRET",),
    ),
    "the seller writes below the preview": Case(
        f"Purpose:\nAgree the pilot scope\n{BEGIN}\nSECRET\n{END}\nTopics:\n- Timeline\n",
        PlanShared("Agree the pilot scope", topics=(Topic("Timeline"),)),
        hidden=("SECRET",),
    ),
    # -- Outlook and Google bodies --------------------------------------------------------------
    "Outlook, the form with Word's lists": Case(form(**FILLED), PILOT, body="mso"),
    "Outlook, the form with nested lists": Case(
        "Topics:\n- Pilot scope (20 min)\n  - SECRET 500 seats\n- Timeline\nPurpose:\n"
        "Agree the pilot scope\n",
        PlanShared("Agree the pilot scope", topics=(Topic("Pilot scope", 20), Topic("Timeline"))),
        hidden=("SECRET",),
        body="ul",
    ),
    "Outlook HTML with a private sub-heading and a style": Case(
        "<p><b>Topics:</b></p><ul><li>Pilot scope</li></ul><p><b>My read:</b></p>"
        "<ul><li>SECRET they are bluffing</li></ul><style>SECRET</style>",
        PlanShared(topics=(Topic("Pilot scope"),)),
        hidden=("SECRET",),
        body="html",
    ),
    "a text body with tags, as Google's editor leaves it": Case(
        "Purpose:\nAgree the <b>pilot</b> scope\nTopics:\n- Scope\n  - <i>SECRET</i>\n",
        PlanShared("Agree the pilot scope", topics=(Topic("Scope"),)),
        hidden=("SECRET",),
    ),
}


def body(case: Case) -> tuple[str, bool | None]:
    if case.body in ("mso", "ul"):
        return outlook_html(case.text, case.body), True
    return case.text, True if case.body == "html" else None


def test_the_table_is_large_enough() -> None:
    assert len(CASES) >= 40


@pytest.mark.parametrize("case", CASES.values(), ids=list(CASES))
def test_each_plan_shares_exactly_what_the_seller_meant(case: Case) -> None:
    text, html = body(case)
    plan = parse_plan(text, html=html)
    assert plan.shared == case.shared
    shown = plan.shared.to_json()
    for word in case.hidden:
        assert not re.search(re.escape(word), shown, re.I), word
    if case.kept:
        assert set(case.kept) <= set(plan.withheld)


def test_what_is_not_shared_is_still_the_sellers() -> None:
    text = form(
        **FILLED,
        readiness="They need it before the budget freeze",
        asks="- a signed pilot order by 5 Apr\n- a reference call",
        risks="- Raj may block it over security",
        notes="they are talking to Initech as well",
    )
    plan = parse_plan(text)
    assert plan.asks == ("a signed pilot order by 5 Apr", "a reference call")
    assert "Raj may block it" in plan.risks and "Initech" in plan.notes
    assert "budget freeze" in plan.readiness


def test_an_untouched_form_shares_nothing_and_holds_nothing_back() -> None:
    plan = parse_plan(form())
    assert not plan.shared.written and plan.withheld == () and plan.other == ()


@pytest.mark.parametrize(
    ("line", "topic"),
    [
        ("Pilot scope (20 min)", Topic("Pilot scope", 20)),
        ("Pilot scope, 20'", Topic("Pilot scope", 20)),
        ("Pilot scope [20 mins]", Topic("Pilot scope", 20)),
        ("20 min: pilot scope", Topic("pilot scope", 20)),
        ("(10') Intro", Topic("Intro", 10)),
        ("Rollout - 1 h", Topic("Rollout", 60)),
        ("Rollout 0,5 h", Topic("Rollout", 30)),
        ("Budget of 5m", Topic("Budget of 5m")),
        ("Headcount 2030", Topic("Headcount 2030")),
        ("20 min", Topic("20 min")),
        ("", None),
    ],
)
def test_a_topic_keeps_its_minutes_where_the_seller_gave_them(
    line: str, topic: Topic | None
) -> None:
    assert parse_topic(line) == topic
