"""Debriefs as sellers really write them, each with exactly what its agenda may share.

Every case is a debrief a seller could plausibly type (or paste, or have Outlook store), with
private words marked the way people mark them: in a heading, in a heading's parenthesis, at
the start of a line, in brackets, mid-sentence, in a nested bullet, in other languages, with
emoji. Each one states the exact shared part the next agenda must show (the purpose and the
commitments, as the agenda words them) and words that must never reach it. Ordinary debriefs
that share everything are here too, so the table proves that the shared part does arrive.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import pytest

from agent.text.body import html_to_text
from agent.text.debrief import carryover, parse
from agent.text.render import MeetingContext, Person, Preview, Renderer, agenda_items
from tests.support.helpers import BERLIN

DAY = date(2030, 3, 19)  # a Tuesday: "by Fri" is Fri 22 Mar 2030
RENDERER = Renderer()
FRI, MON, THU = "Fri 22 Mar 2030", "Mon 25 Mar 2030", "Thu 28 Mar 2030"


@dataclass(frozen=True)
class Case:
    text: str
    objective: str = ""
    theirs: tuple[str, ...] = ()  # as the agenda shows them: "send the data (by Fri 22 Mar 2030)"
    ours: tuple[str, ...] = ()
    hidden: tuple[str, ...] = ()  # words that must not reach the agenda
    html: bool = False  # an HTML body (Outlook)
    # lines the prep lists as held back (checked when given)
    kept: tuple[str, ...] = field(default=())


CASES: dict[str, Case] = {
    # -- the two cases of the report ----------------------------------------------------------
    "a private line right after the objective": Case(
        "Primary objective of the next meeting:\nAgree the pilot scope\nPrivate: upsell the "
        "enterprise tier\n",
        objective="Agree the pilot scope",
        hidden=("upsell", "enterprise"),
        kept=("Private: upsell the enterprise tier",),
    ),
    "internal notes in a commitment heading's parenthesis": Case(
        "Commitment, us (internal notes):\n- push the enterprise tier hard\n- margin is thin, "
        "floor 40k\nCommitment, customer:\n- send the usage data by Fri\n",
        theirs=(f"send the usage data (by {FRI})",),
        hidden=("enterprise", "margin", "40k"),
        kept=("push the enterprise tier hard", "margin is thin, floor 40k"),
    ),
    # -- marks in headings ----------------------------------------------------------------------
    "a private heading inside the commitments": Case(
        "Commitment, us:\n- send pricing by 25 Mar\nPrivate notes:\n- they will never pay list "
        "price\n",
        ours=(f"send pricing (by {MON})",),
        hidden=("list price",),
    ),
    "a confidential hint on the customer's commitments": Case(
        "Commitment, customer (confidential):\n- Raj to leave the company\nCommitment, us:\n- "
        "send the deck by Fri\n",
        ours=(f"send the deck (by {FRI})",),
        hidden=("Raj", "leave"),
    ),
    "a bracketed hint on the objective": Case(
        "Primary objective [internal]:\nget the CFO to commit\n\nCommitment, us:\n- book the demo "
        "by 28 Mar\n",
        ours=(f"book the demo (by {THU})",),
        hidden=("CFO",),
    ),
    "a markdown heading with a mark": Case(
        "## Our commitments\n- send the SOW by Fri\n## Internal\n- they are shopping around\n",
        ours=(f"send the SOW (by {FRI})",),
        hidden=("shopping",),
    ),
    "a mark on the heading's line instead of an answer": Case(
        "Commitment, us: internal only\n- discount up to 20%\nPrimary objective: agree the "
        "rollout order\n",
        objective="agree the rollout order",
        hidden=("discount", "20%"),
    ),
    # -- marks at the start of a line -----------------------------------------------------------
    "an INTERNAL line inside the commitments": Case(
        "Commitment, us:\n- send pricing by Fri\nINTERNAL - they are price sensitive, hold the "
        "discount\n- upsell later\n",
        ours=(f"send pricing (by {FRI})",),
        hidden=("price sensitive", "discount", "upsell"),
    ),
    "a line that is only a mark": Case(
        "Commitment, customer:\n- send the usage data by Fri\nPRIVATE\nthey have no budget until "
        "Q3\n\nPrimary objective of the next meeting:\nAgree the pilot scope\n",
        objective="Agree the pilot scope",
        theirs=(f"send the usage data (by {FRI})",),
        hidden=("budget", "Q3"),
    ),
    "a ruled-off internal part": Case(
        "Commitment, us:\n- send pricing by Fri\n--- internal ---\n- margin is 12%\n- push for a "
        "3-year deal\n",
        ours=(f"send pricing (by {FRI})",),
        hidden=("margin", "3-year"),
    ),
    "a lock emoji after the objective": Case(
        "Primary objective of the next meeting:\nSign the pilot agreement\n🔒 margin is thin, do "
        "not go below 40k\n",
        objective="Sign the pilot agreement",
        hidden=("margin", "40k"),
    ),
    "a note to self among plain commitments": Case(
        "Commitment, us:\nSend the pricing by Fri\nNote to self: chase Raj about the budget\nBook "
        "the demo\n",
        ours=(f"send the pricing (by {FRI})",),
        hidden=("chase", "budget", "demo"),
    ),
    "NTS and 'only for us' in the commitments": Case(
        "Commitment, us:\n- send pricing by Fri\n- NTS: chase Raj about the budget\n- hold the "
        "demo slot (only for us, they will not sign before Q3)\n- book the kickoff\n",
        ours=(f"send pricing (by {FRI})", "book the kickoff"),
        hidden=("chase", "budget", "demo", "sign", "Q3"),
    ),
    "a bracketed mark at the start of a plain line": Case(
        "Commitment, customer:\nShare the org chart by Monday\n(private) Dana hates their CIO\n",
        theirs=(f"share the org chart (by {MON})",),
        hidden=("hates", "CIO"),
    ),
    "markdown emphasis around the mark": Case(
        "Commitment, us:\n- send the SOW by Fri\n**Confidential:** legal wants a 90-day exit "
        "clause\n",
        ours=(f"send the SOW (by {FRI})",),
        hidden=("legal", "90-day"),
    ),
    "a bulleted private sub-heading": Case(
        "Commitment, us:\n- send the SOW by Fri\n- Note to self:\n- call their CFO directly\n- "
        "book the demo by 28 Mar\n",
        ours=(f"send the SOW (by {FRI})",),
        hidden=("CFO", "demo"),
    ),
    "a mark starting the objective itself": Case(
        "Primary objective: Private – make them sign before they see the competitor\n"
        "Commitment, customer:\n- send the usage data by Fri\n",
        theirs=(f"send the usage data (by {FRI})",),
        hidden=("competitor",),
    ),
    # -- marks inside an item -------------------------------------------------------------------
    "a bracketed mark at the start of a bullet": Case(
        "Commitment, us:\n- [private] we can go to 20% off\n- send pricing by Fri\n",
        ours=(f"send pricing (by {FRI})",),
        hidden=("20%",),
        kept=("[private] we can go to 20% off",),
    ),
    "a parenthesised mark at the end of a bullet": Case(
        "Commitment, us:\n- send pricing by Fri\n- discount up to 20% (internal)\n- book the demo "
        "by 28 Mar\n",
        ours=(f"send pricing (by {FRI})", f"book the demo (by {THU})"),
        hidden=("20%",),
    ),
    "a mark in the middle of an item: privacy wins": Case(
        "Commitment, us:\n- send the internal benchmark by Fri\n- send the public benchmark by "
        "Fri\n",
        ours=(f"send the public benchmark (by {FRI})",),
        hidden=("internal",),
        kept=("send the internal benchmark by Fri",),
    ),
    "a lock emoji at the end of an item": Case(
        "Commitment, us:\n- send pricing by Fri\n- mention the price rise in June 🔒\n",
        ours=(f"send pricing (by {FRI})",),
        hidden=("June", "rise"),
    ),
    "a marked objective": Case(
        "Primary objective of the next meeting:\nClose before Q2 (between us: we need it for the "
        "quarter)\nCommitment, us:\n- send the contract draft by Fri\n",
        ours=(f"send the contract draft (by {FRI})",),
        hidden=("Q2", "quarter"),
    ),
    # -- nested lists, continuation lines, pasted bullets -----------------------------------------
    "a nested bullet under a shared item": Case(
        "Commitment, us:\n- send pricing by Fri\n  - our floor is 40k\n- book the demo by 28 Mar\n",
        ours=(f"send pricing (by {FRI})", f"book the demo (by {THU})"),
        hidden=("40k",),
        kept=("our floor is 40k",),
    ),
    "a nested private bullet": Case(
        "Commitment, customer:\n- send the usage data by Fri\n    - private: they have not "
        "started yet\n",
        theirs=(f"send the usage data (by {FRI})",),
        hidden=("started",),
    ),
    "nested with tabs": Case(
        "Commitment, customer:\n\t- send the usage data by Fri\n\t\t- Raj is slow, chase him\n\t- "
        "name a sponsor by 25 Mar\n",
        theirs=(f"send the usage data (by {FRI})", f"name a sponsor (by {MON})"),
        hidden=("chase", "slow"),
    ),
    "a continuation line under an item": Case(
        "Commitment, us:\n- send the pilot proposal by Fri\n  two options, the cheap one is a "
        "decoy\n",
        ours=(f"send the pilot proposal (by {FRI})",),
        hidden=("decoy",),
    ),
    "pasted Word bullets with a second level": Case(
        "Commitment, us:\n• send pricing by Fri\n◦ keep the 10% in reserve\n• book the demo by 28 "
        "Mar\n",
        ours=(f"send pricing (by {FRI})", f"book the demo (by {THU})"),
        hidden=("reserve", "10%"),
    ),
    "pasted dash bullets": Case(
        "Commitment, customer:\n– send the usage data by Fri\n– name a sponsor by 25 Mar\n",
        theirs=(f"send the usage data (by {FRI})", f"name a sponsor (by {MON})"),
    ),
    "a numbered list with a sub-point": Case(
        "Commitment, us:\n1. send pricing by Fri\n2. book the demo by 28 Mar\n   2.1 only their "
        "IT, not procurement\n",
        ours=(f"send pricing (by {FRI})", f"book the demo (by {THU})"),
        hidden=("procurement",),
    ),
    "checkboxes carried over and ticked": Case(
        "Commitment, customer:\n- [x] send the usage data, by Fri\n- [ ] name a sponsor, by 25 "
        "Mar\n  - [ ] they keep delaying this\nCommitment, us:\n[ ] send pricing by Fri\n",
        theirs=(f"name a sponsor (by {MON})",),
        ours=(f"send pricing (by {FRI})",),
        hidden=("delaying",),
    ),
    "text after the list is unclear, so it stays out": Case(
        "Commitment, us:\n- send pricing by Fri\nthey will try to push us to 25% off\n",
        ours=(f"send pricing (by {FRI})",),
        hidden=("25%",),
    ),
    "the objective's second line": Case(
        "Primary objective of the next meeting:\nAgree the pilot scope\nand get them to drop the "
        "competitor\n",
        objective="Agree the pilot scope",
        hidden=("competitor",),
    ),
    "a bulleted objective with a note under it": Case(
        "Primary objective of the next meeting:\n- Agree the rollout order\n  - they want EU "
        "first, we want US\n",
        objective="Agree the rollout order",
        hidden=("EU first",),
    ),
    # -- casing, emoji, other phrases -------------------------------------------------------------
    "odd casing": Case(
        "Commitment, us:\n- send pricing by Fri\npRiVaTe: they are bluffing\nCONFIDENTIAL\n- real "
        "price is lower\n",
        ours=(f"send pricing (by {FRI})",),
        hidden=("bluffing", "real price"),
    ),
    "shushing emoji": Case(
        "Commitment, customer:\n- send the usage data by Fri\n"
        "🤫 they are talking to a competitor\n",
        theirs=(f"send the usage data (by {FRI})",),
        hidden=("competitor",),
    ),
    "the secret ideograph with a variation selector": Case(
        "Commitment, us:\n- send the SOW by Fri\n- ㊙️ legal will redline everything\n",
        ours=(f"send the SOW (by {FRI})",),
        hidden=("legal", "redline"),
    ),
    "don't tell them, with a typographic apostrophe": Case(
        "Commitment, us:\n- send pricing by Fri\n- don’t tell them the price goes up in June\n",
        ours=(f"send pricing (by {FRI})",),
        hidden=("June",),
    ),
    "off the record and between you and me": Case(
        "Primary objective of the next meeting:\nAgree the pilot scope\n\nCommitment, customer:\n"
        "- send the data by Fri\n- off the record: Raj wants our job offer\n- between you and me, "
        "the CFO is leaving\n",
        objective="Agree the pilot scope",
        theirs=(f"send the data (by {FRI})",),
        hidden=("Raj", "CFO", "offer"),
    ),
    "for my eyes only and dont share": Case(
        "Commitment, us:\n- send pricing by Fri\n- for my eyes only: check their credit rating\n- "
        "dont share: our roadmap slips\n",
        ours=(f"send pricing (by {FRI})",),
        hidden=("credit", "roadmap"),
    ),
    "not for the customer": Case(
        "Commitment, us:\n- send pricing by Fri\n- not for the customer: escalate to our VP\n",
        ours=(f"send pricing (by {FRI})",),
        hidden=("VP", "escalate"),
    ),
    # -- other languages --------------------------------------------------------------------------
    "German: intern and vertraulich": Case(
        "Commitment, customer:\n- send the usage data by Fri\nIntern: Budget ist knapp\n"
        "Commitment, us:\n- send pricing by Fri\n- vertraulich: Rabatt bis 15%\n",
        theirs=(f"send the usage data (by {FRI})",),
        ours=(f"send pricing (by {FRI})",),
        hidden=("Budget", "Rabatt"),
    ),
    "German: nur intern and unter uns": Case(
        "Primary objective of the next meeting:\nPilotumfang vereinbaren\nNur intern: Abschluss "
        "vor Q2\nCommitment, us:\n- Angebot schicken by Fri\n- unter uns: Preis ist verhandelbar\n",
        objective="Pilotumfang vereinbaren",
        ours=(f"Angebot schicken (by {FRI})",),
        hidden=("Abschluss", "verhandelbar"),
    ),
    "German: privat with an umlaut heading": Case(
        "Commitment, us (privat, nur für mich):\n- Rabatt nicht erwähnen\nCommitment, customer:\n"
        "- Daten schicken by Fri\n",
        theirs=(f"Daten schicken (by {FRI})",),
        hidden=("Rabatt",),
    ),
    "French: interne and confidentiel": Case(
        "Commitment, us:\n- send pricing by Fri\nInterne : ils n'ont pas de budget\n"
        "Commitment, customer:\n- send the data by Fri\n- confidentiel : le DSI part en juin\n",
        ours=(f"send pricing (by {FRI})",),
        theirs=(f"send the data (by {FRI})",),
        hidden=("budget", "DSI", "juin"),
    ),
    "French: privé and entre nous": Case(
        "Primary objective of the next meeting:\nValider le périmètre du pilote\nPRIVÉ – viser le "
        "contrat de 3 ans\nCommitment, us:\n- envoyer le devis by Fri\n- entre nous, on peut "
        "baisser de 10%\n",
        objective="Valider le périmètre du pilote",
        ours=(f"envoyer le devis (by {FRI})",),
        hidden=("3 ans", "10%"),
    ),
    "Spanish: privado and no compartir": Case(
        "Commitment, us:\n- send pricing by Fri\n- privado: el margen es bajo\n- no compartir: "
        "fecha de lanzamiento\n",
        ours=(f"send pricing (by {FRI})",),
        hidden=("margen", "lanzamiento"),
    ),
    "Italian: riservato and privato": Case(
        "Commitment, customer:\n- send the data by Fri\nRiservato: il CFO decide da solo\n\n"
        "Primary objective of the next meeting:\nAgree the pilot scope\n(privato) spingere il "
        "contratto triennale\n",
        objective="Agree the pilot scope",
        theirs=(f"send the data (by {FRI})",),
        hidden=("CFO", "triennale"),
    ),
    # -- words that only look like marks ----------------------------------------------------------
    "international, internet and internship are not marks": Case(
        "Commitment, us:\n- send the international rollout plan by Fri\n- check their internet "
        "uplink by 25 Mar\n- set up the internship programme call by 28 Mar\n",
        ours=(
            f"send the international rollout plan (by {FRI})",
            f"check their internet uplink (by {MON})",
            f"set up the internship programme call (by {THU})",
        ),
    ),
    # -- ordinary debriefs that share everything --------------------------------------------------
    "a plain debrief: everything shared arrives": Case(
        "What I liked about this meeting:\nDana brought the ops lead\n\nCommitment, customer:\n- "
        "send the Q1 usage figures, by Fri\n- invite the CFO to the next meeting, by 25 Mar\n\n"
        "Commitment, us:\n- a pilot proposal with two options, by 28 Mar\n\nPrimary objective of "
        "the next meeting:\nAgree the pilot scope and who signs it off.\n\nNotes:\nparking at the "
        "back\n",
        objective="Agree the pilot scope and who signs it off.",
        theirs=(
            f"send the Q1 usage figures (by {FRI})",
            f"invite the CFO to the next meeting (by {MON})",
        ),
        ours=(f"a pilot proposal with two options (by {THU})",),
        hidden=("ops lead", "parking"),
    ),
    "renamed headings and answers on the heading line": Case(
        "**Objective of the next meeting:** agree the rollout plan\n## Our commitments\n- send "
        "the security questionnaire by Fri\nCustomer commitments: they will share the org chart "
        "(by Monday)\n",
        objective="agree the rollout plan",
        theirs=(f"share the org chart (by {MON})",),
        ours=(f"send the security questionnaire (by {FRI})",),
    ),
    "commitments without list markers": Case(
        "Commitment, customer:\nSend the data by Friday\nIntro to IT\n\nNotes:\nthey seemed keen\n",
        theirs=(f"send the data (by {FRI})", "intro to IT"),
        hidden=("keen",),
    ),
    "a whole form, indented by habit": Case(
        "Commitment, us:\n  - send pricing by Fri\n  - book the demo by 28 Mar\nPrimary "
        "objective:\n  Agree the pilot scope\n",
        objective="Agree the pilot scope",
        ours=(f"send pricing (by {FRI})", f"book the demo (by {THU})"),
    ),
    # -- HTML as Outlook and Google store it -------------------------------------------------------
    "Outlook: MsoNormal paragraphs with a private line": Case(
        '<html><body><div class="WordSection1"><p class="MsoNormal"><b>Primary objective of the '
        "next meeting:</b><o:p></o:p></p>"
        '<p class="MsoNormal">Agree the pilot&nbsp;scope<o:p></o:p></p>'
        '<p class="MsoNormal"><b>Private:</b> upsell the enterprise tier<o:p></o:p></p>'
        '<p class="MsoNormal"><o:p>&nbsp;</o:p></p><p class="MsoNormal"><b>Commitment, us:</b></p>'
        '<p class="MsoNormal">- send pricing by Fri</p></div></body></html>',
        objective="Agree the pilot scope",
        ours=(f"send pricing (by {FRI})",),
        hidden=("upsell", "enterprise"),
        html=True,
    ),
    "Outlook: a pseudo-list with a second level": Case(
        '<html><body><div class="WordSection1"><p class="MsoNormal"><b>Commitment, us '
        "(shared):</b></p>"
        '<p class="MsoListParagraphCxSpFirst" style="text-indent:-18.0pt;mso-list:l0 level1 '
        'lfo1"><![if !supportLists]>'
        '<span style="font-family:Symbol"><span style="mso-list:Ignore">·<span style="font:7.0pt '
        "'Times New Roman'\">&nbsp;&nbsp;&nbsp;&nbsp;</span></span></span><![endif]>send pricing, "
        "by Fri<o:p></o:p></p>"
        '<p class="MsoListParagraphCxSpMiddle" style="margin-left:72.0pt;mso-list:l0 level2 '
        'lfo1"><![if !supportLists]>'
        "<span style=\"font-family:'Courier New'\"><span "
        'style="mso-list:Ignore">o<span>&nbsp;&nbsp;</span></span></span>'
        "<![endif]>our floor is 40k<o:p></o:p></p>"
        '<p class="MsoListParagraphCxSpLast" style="text-indent:-18.0pt;mso-list:l0 level1 '
        'lfo1"><![if !supportLists]>'
        '<span style="mso-list:Ignore">·<span>&nbsp;</span></span><![endif]>book the demo, by 28 '
        "Mar<o:p></o:p></p>"
        "</div></body></html>",
        ours=(f"send pricing (by {FRI})", f"book the demo (by {THU})"),
        hidden=("40k", "floor"),
        html=True,
    ),
    "Outlook: nested ul/li": Case(
        "<html><body><p>Commitment, customer:</p><ul><li>send the usage data by Fri<ul><li>they "
        "have not exported it yet</li></ul></li><li>name a sponsor by 25 "
        "Mar</li></ul><p>Notes:</p><p>fine</p></body></html>",
        theirs=(f"send the usage data (by {FRI})", f"name a sponsor (by {MON})"),
        hidden=("exported",),
        html=True,
    ),
    "Outlook: a line break inside a list item": Case(
        "<html><body><p>Commitment, us:</p><ul><li>send pricing by Fri<br>the 2nd option is a "
        "decoy</li></ul></body></html>",
        ours=(f"send pricing (by {FRI})",),
        hidden=("decoy",),
        html=True,
    ),
    "Outlook: a private parenthesis in a bold heading": Case(
        '<html><body><p class="MsoNormal"><b>Commitment, us (internal notes):</b></p><ul><li>push '
        "the enterprise tier</li></ul>"
        '<p class="MsoNormal"><b>Commitment, customer:</b></p><ul><li>send the usage data by '
        "Fri</li></ul></body></html>",
        theirs=(f"send the usage data (by {FRI})",),
        hidden=("enterprise",),
        html=True,
    ),
    "Outlook: a text body shown as HTML keeps its indentation": Case(
        '<html><head></head><body><div class="PlainText">Commitment, us:<br>\r\n- send pricing by '
        "Fri<br>\r\n"
        "  - our floor is 40k<br>\r\n- book the demo by 28 Mar</div></body></html>",
        ours=(f"send pricing (by {FRI})", f"book the demo (by {THU})"),
        hidden=("40k",),
        html=True,
    ),
    "Outlook: indentation typed as non-breaking spaces": Case(
        '<html><body><p class="MsoNormal">Commitment, us:</p><p class="MsoNormal">- send pricing '
        "by Fri</p>"
        '<p class="MsoNormal">&nbsp;&nbsp;&nbsp; - keep the 10% in reserve</p></body></html>',
        ours=(f"send pricing (by {FRI})",),
        hidden=("reserve",),
        html=True,
    ),
    "a plain-text debrief with a tag in it keeps its nesting": Case(
        "<b>Commitment, us:</b>\n- send pricing by Fri\n  - our floor is 40k\n\tthe cheap option "
        "is a decoy\n- book the demo by 28 Mar\n",
        ours=(f"send pricing (by {FRI})", f"book the demo (by {THU})"),
        hidden=("40k", "decoy"),
    ),
    "Google: a list in a text body": Case(
        "<b>Commitment, us:</b><br><ul><li>send the deck by Fri<ul><li>internal: skip slide "
        "9</li></ul></li><li>book the demo by 28 Mar</li></ul><br>Notes:<br>fine",
        ours=(f"send the deck (by {FRI})", f"book the demo (by {THU})"),
        hidden=("slide",),
    ),
}


def _agenda_context(text: str, html: bool, **settling: Any) -> MeetingContext:
    start = datetime(2030, 3, 26, 10, tzinfo=BERLIN)
    debrief = parse(text, DAY, html=True if html else None)
    carry = carryover(debrief, "Globex: deep dive", DAY, today=date(2030, 3, 25), **settling)
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
        first_meeting=False,
        agenda_items=agenda_items(60, follow_up=True),
        carry=carry,
    )


DEFAULT_PURPOSE = "To build on our last conversation and agree the concrete next steps."


def preview(ctx: MeetingContext) -> str:
    """The preview at the end of the meeting's prep, which says what the agenda carries."""
    return RENDERER.preview(ctx, Preview((), False, agenda=RENDERER.agenda(ctx)))


def shared_part(agenda: str) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """(purpose, what the customer agreed, what we agreed) as an agenda's text shows them."""
    lines = agenda.split("\n")
    purpose = lines[lines.index("Purpose") + 1]
    agreed = [
        line[2:]
        for line in lines
        if line.startswith("- you would ") or line.startswith("- we would ")
    ]
    theirs = tuple(
        line.removeprefix("you would ") for line in agreed if line.startswith("you would ")
    )
    ours = tuple(line.removeprefix("we would ") for line in agreed if line.startswith("we would "))
    return ("" if purpose == DEFAULT_PURPOSE else purpose), theirs, ours


def test_the_table_is_large_enough() -> None:
    assert len(CASES) >= 50


@pytest.mark.parametrize("case", CASES.values(), ids=list(CASES))
def test_each_debrief_shares_exactly_what_the_seller_meant(case: Case) -> None:
    ctx = _agenda_context(case.text, case.html)
    text, html = RENDERER.agenda(ctx), RENDERER.agenda_html(ctx)
    expected = (case.objective, case.theirs, case.ours)
    assert shared_part(text) == expected
    assert shared_part(html_to_text(html)) == expected  # the HTML agenda (Outlook) says the same
    for word in case.hidden:
        assert not re.search(re.escape(word), text + html, re.I), word
    if case.kept:
        assert ctx.carry is not None and set(case.kept) <= set(ctx.carry.withheld)
        # listed for the seller to check
        assert all(f"- {line}\n" in preview(ctx) for line in case.kept)


def prep_part(prep: str, part: str = "now") -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """(purpose, theirs, ours) as the preview's WHAT THE AGENDA CARRIES section states them:
    what the agenda carries `now`, or what it will carry once the change `pending` settles."""
    section = prep.split("WHAT THE AGENDA CARRIES FROM YOUR DEBRIEF\n", 1)[1].split("\n\n", 1)[0]
    section = section.split("\nKept out of the agenda", 1)[0]
    now, _, pending = section.partition("\nChanged in your debrief: ")
    lines = (now if part == "now" else pending.split("\n", 1)[1]).split("\n")
    purpose = next(
        (line.removeprefix("Purpose: ") for line in lines if line.startswith("Purpose: ")), ""
    )
    theirs = tuple(
        line.removeprefix("- you would ") for line in lines if line.startswith("- you would ")
    )
    ours = tuple(
        line.removeprefix("- we would ") for line in lines if line.startswith("- we would ")
    )
    return purpose, theirs, ours


NAMES = list(CASES)


@pytest.mark.parametrize("name", NAMES)
def test_the_prep_shows_exactly_what_the_agenda_carries(name: str) -> None:
    """Rendered from the same data, the prep's account and the agenda cannot disagree: now,
    and while a change waits to settle (here: this case after the one before it)."""
    case, before = CASES[name], CASES[NAMES[NAMES.index(name) - 1]]
    settled = parse(before.text, DAY, html=True if before.html else None).shared
    waiting = _agenda_context(
        case.text,
        case.html,
        settles_at=datetime(2030, 3, 19, 14, 30, tzinfo=BERLIN),
        settled=settled,
    )
    later = _agenda_context(case.text, case.html)
    prep = preview(waiting)
    assert (
        prep_part(prep)
        == shared_part(RENDERER.agenda(waiting))
        == (before.objective, before.theirs, before.ours)
    )
    if "Changed in your debrief" in prep:
        assert "goes into the agenda at 14:30 on Tue 19 Mar if you leave it as it is:" in prep
        assert prep_part(prep, "pending") == shared_part(RENDERER.agenda(later))
    else:  # the change does not touch the shared part
        assert shared_part(RENDERER.agenda(later)) == shared_part(RENDERER.agenda(waiting))
    assert prep_part(preview(later)) == shared_part(RENDERER.agenda(later))
