"""Nothing private in a debrief ever reaches a customer-visible agenda.

The rule (agent/text/debrief.py): only the commitment items and the first line of the primary
objective are shared; every other section, text under a heading the parser does not know,
whatever breaks the list right under a shared heading, nested items and further lines under
an item, and anything a seller marked private (agent/text/privacy.py) stay private.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from html import escape

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.text import privacy
from agent.text.debrief import DEBRIEF, carryover, parse
from agent.text.render import MeetingContext, Person, Renderer, agenda_items
from tests.support import privacy_cases
from tests.support.fakes.outlook_html import outlook_rewrite
from tests.support.helpers import BERLIN

DAY = date(2030, 3, 19)
RENDERER = Renderer()


def context(text: str, first: bool = False) -> MeetingContext:
    """The next meeting's context, carrying what the debrief `text` says."""
    start = datetime(2030, 3, 26, 10, tzinfo=BERLIN)
    carry = carryover(parse(text, DAY), "Globex: deep dive", DAY, today=date(2030, 3, 25))
    return MeetingContext(
        title="Globex: follow-up",
        start=start,
        end=start.replace(hour=11),
        timezone="Europe/Berlin",
        location="",
        customer="globex.example",
        customer_label="Globex",
        seller="alex@acme.example",
        seller_organizes=True,
        customers=(Person("Dana", "dana@globex.example", "Globex"),),
        colleagues=(),
        first_meeting=first,
        agenda_items=agenda_items(60, follow_up=not first),
        carry=carry,
    )


def agendas(text: str) -> str:
    """Every customer-visible rendering of the debrief read as a text body and as an HTML body:
    the text agenda and the HTML agenda (Outlook)."""
    shown = []
    for html in (None, True):
        carry = carryover(
            parse(text, DAY, html=html), "Globex: deep dive", DAY, today=date(2030, 3, 25)
        )
        ctx = context("")._replace(carry=carry)
        shown += [RENDERER.agenda(ctx), RENDERER.agenda_html(ctx)]
    return "\n".join(shown)


ADVERSARIAL = {
    "private sections that talk about commitments, with list lines": """
What I would do differently next time:
- Commitment, us: SECRETA stop discounting
Commitment from me: SECRETB
- [ ] SECRETC by Friday
Commitment, customer:
- send the usage data by Friday
""",
    "headings in another order, private first and last": """
Notes:
SECRETA their champion is leaving
Primary objective of the next meeting:
Agree the pilot scope
Authority (who decides):
SECRETB the CFO decides, not Raj
Commitment, us:
- send pricing by 25 Mar
What I liked about this meeting:
SECRETC
""",
    "a private heading renamed": """
Things that went really well today:
- SECRETA they love us
Commitment, customer:
- send the usage data by Friday
Gut feeling about the deal
- SECRETB 30% chance
""",
    "private text under a sub-heading inside a commitment section": """
Commitment, customer:
- send the usage data by Friday
Between us:
- SECRETA they will never pay list price
- SECRETB Raj is about to leave
Commitment, us:
- send pricing by 25 Mar
My read (do not share):
SECRETC
""",
    "unmarked text after the list, or after a blank line": """
Commitment, us:
- send pricing by 25 Mar
Things I'd never tell them
- SECRETA margin is thin

SECRETB the discount is our last
Commitment, customer:
- send the usage data by Friday

SECRETC remember to push
""",
    "the objective's second paragraph": """
Primary objective of the next meeting (shared):
Agree the pilot scope

SECRETA get them to sign before they see the competitor
""",
    "bare words that read like shared headings inside private sections": """
Notes:
Goal
SECRETA close this quarter
Customer
- SECRETB a difficult one
Us
- SECRETC we need this deal
Objective
SECRETD
Commitment, customer SECRETE
""",
    "the form's header, questions, openers, overview, time and interest": """
SECRETA written above the form
Still to discover:
- SECRETB is their budget approved?
Opening statement ideas for next time:
- SECRETC open with the outage
Overview:
SECRETD they agreed it is a fit
Time:
SECRETE decision in Q3
Interest (their reasons):
SECRETF cost cutting
Next steps agreed:
- SECRETG internal sync by Friday
Commitment, customer:
- send the usage data by Friday
""",
    "HTML with a private sub-heading inside the commitments": """<p><b>Commitment, customer:</b></p>
<ul><li>send the usage data by Friday</li></ul>
<p><b>My read:</b></p><ul><li>SECRETA they are bluffing</li></ul>
<p>Authority:</p><p>SECRETB the board</p>
<style>SECRETC</style>""",
    "list lines and checkboxes inside a private section": """
What I liked about this meeting:
- Commitment, customer: SECRETA
* Primary objective of the next meeting: SECRETB
1. [x] SECRETC
  SECRETD indented
Commitment, us:
- send pricing by 25 Mar
""",
}


@pytest.mark.parametrize("text", ADVERSARIAL.values(), ids=list(ADVERSARIAL))
def test_adversarial_debriefs_leak_nothing(text: str) -> None:
    shown = agendas(text)
    assert "SECRET" not in shown
    shared = [
        part
        for part in ("send the usage data", "send pricing", "Agree the pilot scope")
        if part in text
    ]
    for part in shared:  # the shared parts do arrive: the test is not passing on an empty agenda
        assert part.lower() in shown.lower(), part


def test_the_prep_keeps_what_the_agenda_must_not_show() -> None:
    text = ADVERSARIAL["the form's header, questions, openers, overview, time and interest"]
    prep = RENDERER.prep(context(text))
    for secret in ("SECRETB", "SECRETC", "SECRETD", "SECRETG"):
        assert secret in prep
    assert "SECRET" not in agendas(text)


def test_the_agenda_does_not_depend_on_the_day_it_is_rendered() -> None:
    """Overdue is the prep's business: the agenda text is the same before and after a due date."""
    text = "Commitment, customer:\n- send the data by 25 Mar\n"
    ctx = context(text)
    late = ctx._replace(
        carry=carryover(parse(text, DAY), "Globex: deep dive", DAY, today=date(2030, 4, 30))
    )
    assert RENDERER.agenda(ctx) == RENDERER.agenda(late)
    assert "OVERDUE" not in RENDERER.prep(ctx) and "OVERDUE" in RENDERER.prep(late)


# --- the property: random private text never appears in any rendered agenda ---------------------

PRIVATE_NAMES = [
    name for section in DEBRIEF.sections if not section.shared for name in section.headings
]
UNKNOWN_NAMES = [
    "Between us",
    "My read",
    "Internal only",
    "Gut feeling",
    "Do not share",
    "Risks",
    "Raj",
    "Pricing",
]
SHARED_FORMS = {
    "theirs": [
        "Commitment, customer:",
        "Customer commitments (what they do):",
        "**Commitment, customer:**",
    ],
    "ours": ["Commitment, us:", "Our commitments:", "## Our commitments"],
    "objective": [
        "Primary objective of the next meeting:",
        "Objective of the next meeting (shared):",
    ],
}
HOSTILE_LINES = [
    "{s}",
    "- {s}",
    "* {s}",
    "1. {s}",
    "[x] {s}",
    "- [ ] {s} by Friday",
    "  {s} indented",
    "{s}:",
    "### {s}",
    "**{s}**",
    "- Commitment, us: {s}",
    "Commitment from me: {s}",
    "Commitment, customer {s}",
    "Customer",
    "Us",
    "Goal",
    "Objective",
    "Primary objective {s}",
    "",
    "<b>{s}</b>",
    "- send {s} by 22 Mar",
    "{s} by 2030-03-25",
]


def private_block() -> st.SearchStrategy[tuple[str, list[str]]]:
    return privacy_cases.private_block(
        DEBRIEF, PRIVATE_NAMES, UNKNOWN_NAMES, HOSTILE_LINES, bare=True
    )


def shared_block() -> st.SearchStrategy[str]:
    return privacy_cases.shared_block(SHARED_FORMS, "objective", "- deliver item {n} by 22 Mar")


def debrief_text() -> st.SearchStrategy[tuple[str, list[str]]]:
    return privacy_cases.form_text(private_block(), shared_block(), ["\n", "\n\n", "\r\n"])


@settings(max_examples=300, deadline=None)
@given(debrief_text())
def test_random_private_text_never_reaches_an_agenda(case: tuple[str, list[str]]) -> None:
    text, tokens = case
    shown = agendas(text)
    leaked = [token for token in tokens if token in shown]
    assert not leaked, (leaked, text)
    assert not re.search(r"zq[0-9]{4}x", shown)


# --- the property: a sentence under a privacy mark never reaches an agenda ------------------------

VOCABULARY = (
    "margin budget discount champion competitor renewal pricing leaving floor upsell tier legal "
    "risk board approval headcount quota deadline sponsor bluffing shortlist reserve escalate "
    "layoffs merger"
).split()
SHARED_ITEMS = (
    "deliver the pilot plan by 22 Mar",
    "send the usage export by 25 Mar",
    "book the security review by 28 Mar",
)
SHOWN_ITEMS = (
    "deliver the pilot plan (by Fri 22 Mar 2030)",
    "send the usage export (by Mon 25 Mar 2030)",
    "book the security review (by Thu 28 Mar 2030)",
)
OBJECTIVE = "Agree the scope of the pilot"
WORD_MARKS = [mark for mark in privacy.MARKS if not privacy.only_marks(mark + " x")] or list(
    privacy.MARKS
)
ALL_MARKS = (
    list(privacy.MARKS) + list(privacy.EMOJI) + [emoji + "\ufe0f" for emoji in privacy.EMOJI]
)
# forms in which a mark makes a part private, and where in the debrief each may stand:
# "section" (a section of its own between the others), "after" (after a shared section's
# items), "among" (between a commitment section's items), "nested" (under one of its items)
FORMS = {
    "heading": ("section", "{M} notes:\n- {s}"),
    "heading hint": ("section", "Commitment, us ({m}):\n- {s}\nCommitment, customer [{m}]:\n{s}"),
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


def _cased(draw: st.DrawFn, mark: str) -> str:
    return draw(st.sampled_from([mark, mark.upper(), mark.title(), mark.capitalize()]))


@st.composite
def private_sentence(draw: st.DrawFn, number: int) -> tuple[str, str]:
    """(a sentence of vocabulary words, its unique token); the token is one of its words."""
    words = draw(st.lists(st.sampled_from(VOCABULARY), min_size=2, max_size=6))
    token = f"zq{number:04d}x"
    words.insert(draw(st.integers(0, len(words))), token)
    return " ".join(words), token


@st.composite
def marked_debrief(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A debrief with real shared items and 1-4 private sentences, each under a mark in a
    random form and position."""
    theirs = list(
        draw(st.lists(st.sampled_from(SHARED_ITEMS), min_size=1, max_size=3, unique=True))
    )
    ours = list(draw(st.lists(st.sampled_from(SHARED_ITEMS), min_size=1, max_size=3, unique=True)))
    sections = {
        "theirs": [f"- {item}" for item in theirs],
        "ours": [f"- {item}" for item in ours],
        "objective": [OBJECTIVE],
    }
    extra: list[str] = []
    tokens = []
    for number in range(draw(st.integers(1, 4))):
        sentence, token = draw(private_sentence(number))
        tokens.append(token)
        form = draw(st.sampled_from(sorted(FORMS)))
        where, template = FORMS[form]
        mark = draw(
            st.sampled_from(
                WORD_MARKS if form in ("line start", "line start, dashed") else ALL_MARKS
            )
        )
        head, _, tail = sentence.partition(" ")
        lines = template.format(m=mark, M=_cased(draw, mark), s=sentence, h=head, t=tail).split(
            "\n"
        )
        name = draw(
            st.sampled_from(["theirs", "ours"] + (["objective"] if where == "after" else []))
        )
        body = sections[name]
        if where == "section":
            extra += lines
        elif where == "after":
            body += lines
        elif where == "among":
            body.insert(draw(st.integers(0, len(body))), lines[0])
        else:  # under an item of the list: right after one of its first-level lines
            items = [
                index
                for index, line in enumerate(body)
                if line.startswith("- ") and not privacy.is_marked(line)
            ]
            body.insert(draw(st.sampled_from(items)) + 1, lines[0])
    headings = {
        "theirs": "Commitment, customer:",
        "ours": "Commitment, us:",
        "objective": "Primary objective of the next meeting:",
    }
    order = draw(st.permutations(["theirs", "ours", "objective", "extra"]))
    parts = [
        "\n".join([headings[name], *sections[name]]) if name != "extra" else "\n".join(extra)
        for name in order
    ]
    return "\n\n".join(part for part in parts if part) + "\n", tokens


def outlook_html(text: str, lists: str) -> str:
    """A plain debrief as Outlook stores it once the seller edits it there: paragraphs, and
    its bullets as Word's pseudo-lists ("mso") or as nested <ul> ("ul"), levels kept."""
    body: list[str] = []
    depth = 0
    for line in text.split("\n"):
        item = re.match(r"^( *)- (.*)$", line)
        level = len(item.group(1)) // 2 + 1 if item else 0
        if lists == "ul":
            body += ["</ul>"] * max(depth - level, 0) + ["<ul>"] * max(level - depth, 0)
            depth = level
        escaped = escape(item.group(2) if item else line.strip())
        if item and lists == "ul":
            body.append(f"<li>{escaped}</li>")
        elif item:
            body.append(
                f'<p class="MsoListParagraph" style="margin-left:{36 * level}.0pt;'
                f'text-indent:-18.0pt;mso-list:l0 level{level} lfo1"><span '
                'style="mso-list:Ignore">·<span>&nbsp;&nbsp;</span></span>'
                f"{escaped}</p>"
            )
        else:
            indent = "&nbsp;" * (len(line) - len(line.lstrip()))
            body.append(f'<p class="MsoNormal">{indent}{escaped or "<o:p>&nbsp;</o:p>"}</p>')
    body += ["</ul>"] * depth
    return outlook_rewrite('<div class="WordSection1">' + "".join(body) + "</div>")


def stored(text: str, body: str) -> str:
    """A debrief as a provider stores it: plain text, plain text with a tag in it (as Google's
    editor leaves it), or Outlook HTML with Word's pseudo-lists ("mso") or nested <ul> ("ul")."""
    if body == "text":
        return text
    if body == "tagged":
        return text + "<b>Notes:</b> see the <i>deal desk</i>\n"
    return outlook_html(text, body)


@settings(max_examples=300, deadline=None)
@given(marked_debrief(), st.sampled_from(["text", "tagged", "mso", "ul"]))
def test_marked_private_sentences_never_reach_an_agenda(
    case: tuple[str, list[str]], body: str
) -> None:
    text, tokens = case
    source = stored(text, body)
    html = body in ("mso", "ul") or None
    carry = carryover(
        parse(source, DAY, html=html), "Globex: deep dive", DAY, today=date(2030, 3, 25)
    )
    ctx = context("")._replace(carry=carry)
    shown = RENDERER.agenda(ctx) + RENDERER.agenda_html(ctx)
    leaked = [token for token in tokens if token in shown]
    assert not leaked, (leaked, source)
    for item, label in zip(SHARED_ITEMS, SHOWN_ITEMS):  # the real shared items do arrive
        if re.search(rf"^- {item}$", text, re.M):
            assert label in RENDERER.agenda(ctx), (label, source)
    if OBJECTIVE in text:
        assert f"Purpose\n{OBJECTIVE}\n" in RENDERER.agenda(ctx), source
