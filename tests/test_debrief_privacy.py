"""Nothing private in a debrief ever reaches a customer-visible agenda.

The rule (agent/debrief.py): only the items of the two commitment sections and the first
paragraph of the primary objective are shared; every other section, text under a heading the
parser does not know, and whatever breaks the list right under a shared heading stay private.
"""

from __future__ import annotations

import re
from datetime import date, datetime

import pytest
from helpers import BERLIN
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.debrief import HEADINGS, SHARED_SECTIONS, carryover, heading, parse
from agent.render import MeetingContext, Person, Renderer, agenda_items

DAY = date(2030, 3, 19)
RENDERER = Renderer()


def context(text: str, first: bool = False) -> MeetingContext:
    """The next meeting's context, carrying what the debrief `text` says."""
    start = datetime(2030, 3, 26, 10, tzinfo=BERLIN)
    carry = carryover(parse(text, DAY), "Globex: deep dive", DAY, today=date(2030, 3, 25))
    return MeetingContext(
        title="Globex: follow-up", start=start, end=start.replace(hour=11), timezone="Europe/Berlin", location="",
        customer="globex.example", customer_label="Globex", seller="alex@acme.example", seller_organizes=True,
        customers=(Person("Dana", "dana@globex.example", "Globex"),), colleagues=(), first_meeting=first,
        agenda_items=agenda_items(60, follow_up=not first), carry=carry,
    )  # fmt: skip


def agendas(text: str) -> str:
    """Every customer-visible rendering of the debrief read as a text body and as an HTML body:
    the text agenda and the HTML agenda (Outlook)."""
    shown = []
    for html in (None, True):
        carry = carryover(parse(text, DAY, html=html), "Globex: deep dive", DAY, today=date(2030, 3, 25))
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
    shared = [part for part in ("send the usage data", "send pricing", "Agree the pilot scope") if part in text]
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
    late = ctx._replace(carry=carryover(parse(text, DAY), "Globex: deep dive", DAY, today=date(2030, 4, 30)))
    assert RENDERER.agenda(ctx) == RENDERER.agenda(late)
    assert "OVERDUE" not in RENDERER.prep(ctx) and "OVERDUE" in RENDERER.prep(late)


# --- the property: random private text never appears in any rendered agenda ---------------------

PRIVATE_NAMES = [name for section, names in HEADINGS.items() if section not in SHARED_SECTIONS for name in names]
UNKNOWN_NAMES = ["Between us", "My read", "Internal only", "Gut feeling", "Do not share", "Risks", "Raj", "Pricing"]
SHARED_FORMS = {
    "theirs": ["Commitment, customer:", "Customer commitments (what they do):", "**Commitment, customer:**"],
    "ours": ["Commitment, us:", "Our commitments:", "## Our commitments"],
    "objective": ["Primary objective of the next meeting:", "Objective of the next meeting (shared):"],
}
HOSTILE_LINES = [
    "{s}", "- {s}", "* {s}", "1. {s}", "[x] {s}", "- [ ] {s} by Friday", "  {s} indented", "{s}:", "### {s}",
    "**{s}**", "- Commitment, us: {s}", "Commitment from me: {s}", "Commitment, customer {s}", "Customer", "Us",
    "Goal", "Objective", "Primary objective {s}", "", "<b>{s}</b>", "- send {s} by 22 Mar", "{s} by 2030-03-25",
]  # fmt: skip

secrets = st.from_regex(r"zq[0-9]{4}x", fullmatch=True)


@st.composite
def private_block(draw: st.DrawFn) -> tuple[str, list[str]]:
    name = draw(st.sampled_from(PRIVATE_NAMES + UNKNOWN_NAMES))
    style = draw(st.sampled_from(["{n}:", "{n} (notes):", "**{n}:**", "{n}:" if name in UNKNOWN_NAMES else "{n}"]))
    lines, tokens = [style.format(n=name)], []
    for template in draw(st.lists(st.sampled_from(HOSTILE_LINES), min_size=1, max_size=6)):
        token = draw(secrets)
        line = template.format(s=token)
        if (found := heading(line)) is not None and found[0] in SHARED_SECTIONS:
            continue  # a real shared heading is the seller sharing on purpose, not private text
        lines.append(line)
        tokens.append(token)
    return "\n".join(lines), tokens


@st.composite
def shared_block(draw: st.DrawFn) -> str:
    section = draw(st.sampled_from(sorted(SHARED_FORMS)))
    head = draw(st.sampled_from(SHARED_FORMS[section]))
    if section == "objective":
        return f"{head}\nagree the next step"
    count = draw(st.integers(min_value=1, max_value=3))
    return head + "".join(f"\n- deliver item {n} by 22 Mar" for n in range(count))


@st.composite
def debrief_text(draw: st.DrawFn) -> tuple[str, list[str]]:
    privates = draw(st.lists(private_block(), min_size=1, max_size=5))
    shared = draw(st.lists(shared_block(), max_size=3))
    blocks = [text for text, _ in privates] + shared
    order = draw(st.permutations(range(len(blocks))))
    separators = draw(st.lists(st.sampled_from(["\n", "\n\n", "\r\n"]), min_size=len(blocks), max_size=len(blocks)))
    text = "".join(blocks[i] + sep for i, sep in zip(order, separators))
    return text, [token for _, tokens in privates for token in tokens]


@settings(max_examples=300, deadline=None)
@given(debrief_text())
def test_random_private_text_never_reaches_an_agenda(case: tuple[str, list[str]]) -> None:
    text, tokens = case
    shown = agendas(text)
    leaked = [token for token in tokens if token in shown]
    assert not leaked, (leaked, text)
    assert not re.search(r"zq[0-9]{4}x", shown)
