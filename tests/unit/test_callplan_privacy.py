"""Nothing private in a call plan ever reaches a customer-visible agenda.

The rule (agent/text/callplan.py, read by agent/text/form.py): only the first line of the
purpose and the items of the other shared sections are shared; the questions before you go
in, the commitments we will ask for, risks, notes, text under a heading the reader does not
know, whatever breaks a list right under a shared heading, nested items and further lines,
callplan's own suggestions and preview, and anything a seller marked private (agent/text/
privacy.py) stay private. Every test renders both agendas (text and Outlook HTML) from the
plan read as a text body and as an Outlook HTML body.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.core.callplan import PlanShared
from agent.core.preview import BEGIN, END
from agent.text import privacy
from agent.text.callplan import CALL_PLAN, parse_plan
from tests.support import privacy_cases
from tests.unit.test_debrief_privacy import RENDERER, context, outlook_html

SHARED_HEADINGS = {
    "purpose": ["Purpose:", "Why we meet:", "**Purpose**"],
    "for_them": ["What they will get from it:", "For you:"],
    "for_us": ["What we hope to get from it:", "## For us"],
    "topics": ["Topics:", "Agenda (20 min each):", "**Topics:**"],
    "bring": ["Please bring:", "What to bring:"],
    "join": ["Who should join from their side:", "Who should join:"],
    "decide": ["What we hope to decide:", "Decisions:"],
}


def agendas(text: str, html: bool | None = None) -> str:
    """Both agendas (text and HTML) rendered from the plan in `text`."""
    ctx = context("")._replace(plan=parse_plan(text, html=html).shared)
    return RENDERER.agenda(ctx) + "\n" + RENDERER.agenda_html(ctx)


def every_agenda(text: str) -> str:
    """The agendas from the plan as a text body and as Outlook stores it (both list styles)."""
    return "\n".join(
        [agendas(text)] + [agendas(outlook_html(text, lists), html=True) for lists in ("mso", "ul")]
    )


ADVERSARIAL = {
    "private sections that talk about topics, with list lines": """
Risks:
- Topics: SECRETA stop discounting
Purpose from me: SECRETB
- [ ] SECRETC by Friday
Topics:
- Pilot scope
""",
    "headings in another order, private first and last": """
Notes:
SECRETA their champion is leaving
Purpose:
Agree the pilot scope
Commitments we will ask for:
- SECRETB a signed order by Friday
Topics:
- Pilot scope
Before you go in:
[x] SECRETC they need a win before the board
""",
    "a private heading renamed": """
Things that could go wrong today:
- SECRETA they love the competitor
Topics:
- Pilot scope
Gut feeling about the deal
- SECRETB 30% chance
""",
    "private text under a sub-heading inside a shared section": """
Please bring:
- the ticket export
Between us:
- SECRETA they will never pay list price
- SECRETB Raj is about to leave
What we hope to decide:
- the pilot start date
My read (do not share):
SECRETC
""",
    "unmarked text after the list, or after a blank line": """
Topics:
- Pilot scope
Things I'd never tell them
- SECRETA margin is thin

SECRETB the discount is our last
What we hope to decide:
- the pilot start date

SECRETC remember to push
""",
    "the purpose's further lines": """
Purpose (shared):
Agree the pilot scope
SECRETA and sign before the competitor shows up

SECRETB really: close this quarter
""",
    "bare words that read like shared headings inside private sections": """
Notes:
Purpose
SECRETA close this quarter
Topics
- SECRETB a difficult one
For you
- SECRETC we need this deal
Decisions
SECRETD
Purpose SECRETE
""",
    "callplan's notes above the form and its suggestions": """
SECRETA written above the form
FROM YOUR DEBRIEF OF "Globex 1" (Mon 18 Mar 2030)
Primary objective of this meeting: SECRETB
Open commitments:
- Us: SECRETC
Purpose:
Suggested: SECRETD from the last debrief
Topics:
- Suggested: SECRETE review of last time
- Pilot scope
""",
    "the preview, whole or cut short": f"""
Topics:
- Pilot scope
{BEGIN}
Purpose: SECRETA
Topics:
- SECRETB
Kept out of the agenda (marked private or unclear):
- Private: SECRETC
{END}
What we hope to decide:
- the pilot start date
{BEGIN}
Purpose: SECRETD
""",
    "marks in every position": """
Purpose [internal]:
SECRETA get the CFO to commit
Topics:
- Pilot scope
- SECRETB pricing (confidential)
- 🔒 SECRETC discount ladder
  - SECRETD nested
    SECRETE continued
Please bring:
- the ticket export
- Note to self: SECRETF ask for the CFO
PRIVATE
- SECRETG
What we hope to decide (nur für mich):
- SECRETH
""",
    "list lines and checkboxes inside a private section": """
Risks:
- Purpose: SECRETA
* What we hope to decide: SECRETB
1. [x] SECRETC
  SECRETD indented
Topics:
- Pilot scope
""",
}


@pytest.mark.parametrize("text", ADVERSARIAL.values(), ids=list(ADVERSARIAL))
def test_adversarial_plans_leak_nothing(text: str) -> None:
    shown = every_agenda(text)
    assert "SECRET" not in shown
    shared = [part for part in ("Pilot scope", "the ticket export", "the pilot start date")]
    for part in shared:  # the shared parts do arrive: the test is not passing on an empty agenda
        if re.search(rf"^- {part}$", text, re.M):
            assert part in shown, part
    if "Agree the pilot scope" in text:
        assert "Purpose\nAgree the pilot scope\n" in shown


# --- the property: random private text never appears in any rendered agenda ---------------------

PRIVATE_NAMES = [
    name for section in CALL_PLAN.sections if not section.shared for name in section.headings
]
UNKNOWN_NAMES = ["Between us", "My read", "Internal only", "Gut feeling", "Raj", "Pricing"]
HOSTILE_LINES = [
    "{s}",
    "- {s}",
    "* {s}",
    "1. {s}",
    "[x] {s}",
    "  {s} indented",
    "{s}:",
    "### {s}",
    "**{s}**",
    "- Topics: {s}",
    "Purpose from me: {s}",
    "Purpose {s}",
    "Topics",
    "For you",
    "Decisions",
    "",
    "<b>{s}</b>",
    "- {s} (20 min)",
    "Suggested: {s}",
]


def private_block() -> st.SearchStrategy[tuple[str, list[str]]]:
    return privacy_cases.private_block(
        CALL_PLAN, PRIVATE_NAMES, UNKNOWN_NAMES, HOSTILE_LINES, bare=False
    )


def shared_block() -> st.SearchStrategy[str]:
    return privacy_cases.shared_block(SHARED_HEADINGS, "purpose", "- shared item {n}")


def plan_text() -> st.SearchStrategy[tuple[str, list[str]]]:
    return privacy_cases.form_text(private_block(), shared_block(), ["\n", "\n\n"])


@settings(max_examples=200, deadline=None)
@given(plan_text(), st.sampled_from(["text", "mso", "ul"]))
def test_random_private_text_never_reaches_an_agenda(
    case: tuple[str, list[str]], body: str
) -> None:
    text, tokens = case
    shown = agendas(text) if body == "text" else agendas(outlook_html(text, body), html=True)
    privacy_cases.assert_kept(tokens, shown, text)
    assert not re.search(r"zq[0-9]{4}x", shown)


# --- the property: a sentence under a privacy mark never reaches an agenda ------------------------

VOCABULARY = (
    "margin budget discount champion competitor renewal pricing leaving floor upsell tier legal "
    "risk board approval headcount quota deadline sponsor bluffing shortlist reserve escalate"
).split()
ITEMS = ("the pilot plan", "the usage export", "the security review")
WORD_MARKS = [mark for mark in privacy.MARKS if not privacy.only_marks(mark + " x")]
ALL_MARKS = (
    list(privacy.MARKS) + list(privacy.EMOJI) + [emoji + "\ufe0f" for emoji in privacy.EMOJI]
)
# forms in which a mark makes a part private, and where each may stand (as for debriefs)
FORMS = {
    "heading": ("section", "{M} notes:\n- {s}"),
    "heading hint": ("section", "Topics ({m}):\n- {s}\nPlease bring [{m}]:\n{s}"),
    "line start": ("after", "{M}: {s}"),
    "line start, dashed": ("after", "{M} - {s}"),
    "only a mark": ("after", "{M}\n{s}"),
    "ruled mark": ("after", "--- {m} ---\n- {s}"),
    "bracket": ("among", "- [{m}] {s}"),
    "parenthesis": ("among", "- {s} ({m})"),
    "mid-sentence": ("among", "- {h} {m} {t}"),
    "nested bullet": ("nested", "  - {m}: {s}"),
    "nested, unmarked": ("nested", "    - {s}"),
    "continuation": ("nested", "  {s}"),
}
LISTS = ("for_them", "topics", "bring", "decide")
HEADS = {
    "for_them": "What they will get from it:",
    "topics": "Topics:",
    "bring": "Please bring:",
    "decide": "What we hope to decide:",
    "purpose": "Purpose:",
}


@st.composite
def marked_plan(draw: st.DrawFn) -> tuple[str, list[str]]:
    sections: dict[str, list[str]] = {
        name: [
            f"- {item}" for item in draw(st.lists(st.sampled_from(ITEMS), min_size=1, unique=True))
        ]
        for name in LISTS
    }
    sections["purpose"] = ["Agree the scope of the pilot"]
    extra: list[str] = []
    tokens = []
    for number in range(draw(st.integers(1, 4))):
        words = draw(st.lists(st.sampled_from(VOCABULARY), min_size=2, max_size=6))
        token = f"zq{number:04d}x"
        words.insert(draw(st.integers(0, len(words))), token)
        sentence = " ".join(words)
        tokens.append(token)
        form = draw(st.sampled_from(sorted(FORMS)))
        where, template = FORMS[form]
        mark = draw(st.sampled_from(WORD_MARKS if form.startswith("line start") else ALL_MARKS))
        cased = draw(st.sampled_from([mark, mark.upper(), mark.title()]))
        head, _, tail = sentence.partition(" ")
        lines = template.format(m=mark, M=cased, s=sentence, h=head, t=tail).split("\n")
        name = draw(st.sampled_from(list(LISTS) + (["purpose"] if where == "after" else [])))
        body = sections[name]
        if where == "section":
            extra += lines
        elif where == "after":
            body += lines
        elif where == "among":
            body.insert(draw(st.integers(0, len(body))), lines[0])
        else:
            items = [i for i, line in enumerate(body) if line.startswith("- ")]
            body.insert(draw(st.sampled_from(items)) + 1, lines[0])
    order = draw(st.permutations([*HEADS, "extra"]))
    parts = [
        "\n".join([HEADS[name], *sections[name]]) if name != "extra" else "\n".join(extra)
        for name in order
    ]
    return "\n\n".join(part for part in parts if part) + "\n", tokens


@settings(max_examples=200, deadline=None)
@given(marked_plan(), st.sampled_from(["text", "mso", "ul"]))
def test_marked_private_sentences_never_reach_an_agenda(
    case: tuple[str, list[str]], body: str
) -> None:
    text, tokens = case
    shown = agendas(text) if body == "text" else agendas(outlook_html(text, body), html=True)
    privacy_cases.assert_kept(tokens, shown, text)
    for item in ITEMS:  # the real shared items do arrive
        if re.search(rf"^- {item}$", text, re.M):
            assert f"- {item}\n" in shown or f"For you: {item}\n" in shown, (item, text)
    assert "Purpose\nAgree the scope of the pilot\n" in shown, text


def test_callplans_own_notes_in_a_prep_never_read_as_a_plan() -> None:
    """The prep opens with callplan's notes (who is coming, the last debrief's objective, open
    commitments, questions...) and pre-fills suggestions: an untouched prep shares nothing, so
    nothing reaches an agenda that the debrief's own settling has not let through."""
    debrief = ADVERSARIAL_DEBRIEF
    prep = RENDERER.prep(context(debrief))
    assert "Suggested: Agree the pilot scope" in prep  # the debrief's objective, suggested
    assert "- Suggested: Review of what we agreed on" in prep
    plan = parse_plan(prep)
    assert plan.shared == PlanShared() and plan.withheld == ()


ADVERSARIAL_DEBRIEF = """
Commitment, customer:
- send the usage data by Friday
Commitment, us:
- send pricing by 25 Mar
Primary objective of the next meeting:
Agree the pilot scope
Still to discover:
- Purpose: who decides?
Opening statement ideas for next time:
- Topics: their outage
Next steps agreed:
- What we hope to decide: the pilot
Overview:
Please bring: the numbers
"""
