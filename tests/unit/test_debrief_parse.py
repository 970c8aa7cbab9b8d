"""Reading debriefs back: the form as shipped, as sellers really fill it in, and as Outlook returns
it."""

from __future__ import annotations

from datetime import date

import pytest

from agent.core.debrief import Debrief, Item
from agent.text.body import html_to_text
from agent.text.debrief import carryover, parse, parse_date, parse_item
from agent.text.form import fill_in
from tests.support.helpers import World, at, meeting

DAY = date(2030, 3, 19)  # a Tuesday: the meeting the debrief is about


def form() -> str:
    """The debrief form exactly as the shipped template renders it."""
    world = World()
    event = world.add(meeting("Globex: deep dive", at(1, 10)))
    world.cycle()
    return world.block_for("debrief", event).description


def test_the_untouched_form_is_not_a_debrief() -> None:
    parsed = parse(form(), DAY)
    assert parsed == Debrief() and not parsed.written


def test_a_form_filled_in_as_intended() -> None:
    text = fill_in(
        form(),
        {
            "What I liked": "Dana brought the ops lead.",
            "What I would do": "Ask about budget earlier.",
            "Authority": "Raj signs up to 50k; above that the CFO.",
            "Commitment, customer": (
                "- send the Q1 usage figures, by Fri 22 Mar\n- invite the CFO to the next meeting, "
                "by 2030-03-26"
            ),
            "Commitment, us": "- a pilot proposal with two options, by 25.03.2030",
            "Primary objective": "Agree the pilot scope and who signs it off.",
            "Time": "They want a decision before their Q2 planning.",
            "Interest": "Cut month-end close from 9 to 4 days.",
            "Still to discover": (
                "- Who else was on their shortlist?\n- What did the last project cost?"
            ),
            "Overview": "Pilot makes sense if IT agrees.",
            "Next steps agreed": "- book a demo for IT by 28 Mar",
            "Next meeting scheduled": "yes, Thu 28 Mar",
            "Opening statement ideas": "- You said close takes 9 days; here is what 4 looks like.",
            "Notes": "Parking is at the back.",
        },
    )
    parsed = parse(text, DAY)
    assert parsed.liked == "Dana brought the ops lead."
    assert parsed.differently == "Ask about budget earlier."
    assert parsed.authority == "Raj signs up to 50k; above that the CFO."
    assert parsed.theirs == (
        Item("send the Q1 usage figures", date(2030, 3, 22), "Fri 22 Mar"),
        Item("invite the CFO to the next meeting", date(2030, 3, 26), "2030-03-26"),
    )
    assert parsed.ours == (
        Item("a pilot proposal with two options", date(2030, 3, 25), "25.03.2030"),
    )
    assert parsed.objective == "Agree the pilot scope and who signs it off."
    assert parsed.time == "They want a decision before their Q2 planning."
    assert parsed.interest == "Cut month-end close from 9 to 4 days."
    assert parsed.questions == (
        "Who else was on their shortlist?",
        "What did the last project cost?",
    )
    assert parsed.overview == "Pilot makes sense if IT agrees."
    assert parsed.next_steps == (Item("book a demo for IT", date(2030, 3, 28), "28 Mar"),)
    assert parsed.next_meeting == "yes, Thu 28 Mar"
    assert parsed.openers == ("You said close takes 9 days; here is what 4 looks like.",)
    assert parsed.notes == "Parking is at the back."
    assert parsed.other == () and parsed.written and parsed.dated_next_steps


def test_edited_headings_any_order_and_text_on_the_heading_line() -> None:
    text = """**Objective of the next meeting:** agree the rollout plan
## Our commitments
- send the security questionnaire by 1 April

C - Commitment, customer: they will share the org chart (by Monday)
Customer commitments (continued):
- Dana will book the room

liked: quick rapport
What I'd do differently:
bring a second engineer
Questions:
* what is their renewal date?
1. who runs procurement?
"""
    parsed = parse(text, DAY)
    assert parsed.objective == "agree the rollout plan"
    assert parsed.ours == (Item("send the security questionnaire", date(2030, 4, 1), "1 April"),)
    assert parsed.theirs == (
        Item("share the org chart", date(2030, 3, 25), "Monday"),
        Item("book the room"),
    )
    assert parsed.liked == "quick rapport" and parsed.differently == "bring a second engineer"
    assert parsed.questions == ("what is their renewal date?", "who runs procurement?")


def test_empty_fields_bullets_without_text_and_crlf() -> None:
    text = "Commitment, customer:\r\n- \r\n-\r\n[ ]\r\nCommitment, us:\r\n\r\nNotes:\r\n   \r\n"
    parsed = parse(text, DAY)
    assert parsed == Debrief() and not parsed.written


def test_commitments_written_without_list_markers() -> None:
    parsed = parse(
        "Commitment, customer (with a date):\n- \nSend the data by Friday\nIntro to IT\n\nNotes:\n"
        "x",
        DAY,
    )
    assert [item.what for item in parsed.theirs] == ["send the data", "intro to IT"]
    assert parsed.theirs[0].due == date(2030, 3, 22)


def test_done_marks_close_commitments_and_further_lines_stay_private() -> None:
    """Only an item's own line is shared: a line indented under it is a private note."""
    text = (
        "Commitment, us:\n- [x] send the deck\n- ✓ call Raj\n- [ ] draft the SOW, by 2 Apr\n  with "
        "both options\n- book travel (done)"
    )
    parsed = parse(text, DAY)
    assert [(item.what, item.done) for item in parsed.ours] == [
        ("send the deck", True),
        ("call Raj", True),
        ("draft the SOW", False),
        ("book travel", True),
    ]
    assert parsed.ours[2].due == date(2030, 4, 2)
    assert parsed.steps() == (parsed.ours[2],)
    assert parsed.withheld == ("with both options",) and parsed.other == ("with both options",)


@pytest.mark.parametrize(
    "written, expected",
    [
        ("2030-04-02", date(2030, 4, 2)),
        ("Friday", date(2030, 3, 22)),
        ("Tue", date(2030, 3, 26)),  # the meeting was a Tuesday: "by Tuesday" is the next one
        ("tomorrow", date(2030, 3, 20)),
        ("22 Mar", date(2030, 3, 22)),
        ("March 22nd", date(2030, 3, 22)),
        ("Apr 3, 2030", date(2030, 4, 3)),
        ("3/4", date(2030, 4, 3)),
        ("03.04.", date(2030, 4, 3)),
        ("10 Jan", date(2031, 1, 10)),  # no year and already past: next year's
        ("end of Q2", None),
        ("2 people", None),
        ("1", None),
    ],
)
def test_due_dates_as_sellers_write_them(written: str, expected: date | None) -> None:
    assert parse_date(written, DAY) == expected


def test_month_first_order_is_configurable() -> None:
    assert parse_date("4/3", DAY, "month-first") == date(2030, 4, 3)
    # March 4 has passed: next year's
    assert parse_date("3/4", DAY, "month-first") == date(2031, 3, 4)


@pytest.mark.parametrize(
    "line, what, due",
    [
        ("They will send the figures by Friday", "send the figures", date(2030, 3, 22)),
        ("we'll share references (22 Mar)", "share references", date(2030, 3, 22)),
        ("Raj will loop in security, due 2030-03-29.", "loop in security", date(2030, 3, 29)),
        (
            "Talk to procurement before the board meeting",
            "talk to procurement before the board meeting",
            None,
        ),
        ("Send to IT: the architecture deck", "send to IT: the architecture deck", None),
        ("SOW draft by 5 Apr", "SOW draft", date(2030, 4, 5)),
        ("ship the kit by truck, by Friday", "ship the kit by truck", date(2030, 3, 22)),
        ("call Raj on 25 Mar", "call Raj", date(2030, 3, 25)),
        # a commitment's capital goes only from the words that open one, never from a name or
        # a noun in a language that capitalises nouns
        (
            "Maria sends the signed contract by Friday",
            "Maria sends the signed contract",
            date(2030, 3, 22),
        ),
        ("Angebot schicken bis Freitag", "Angebot schicken bis Freitag", None),
        ("Confirm the room", "confirm the room", None),
    ],
)
def test_one_commitment_line(line: str, what: str, due: date | None) -> None:
    item = parse_item(line, DAY)
    assert item is not None and (item.what, item.due) == (what, due)


OUTLOOK = """<html xmlns:o="urn:schemas-microsoft-com:office:office"><head>
<meta http-equiv="Content-Type" content="text/html; charset=utf-8">
<style><!-- p.MsoNormal {margin:0cm; font-family:"Calibri"} Commitment, us: never this --></style></head>
<body lang="DE" link="#0563C1"><div class="WordSection1">
<p class="MsoNormal">DEBRIEF · Globex<o:p></o:p></p>
<p class="MsoNormal"><o:p>&nbsp;</o:p></p>
<p class="MsoNormal"><b>What I liked about this meeting:<o:p></o:p></b></p>
<p class="MsoNormal">Raj&#8217;s candour &amp; the whiteboard session<o:p></o:p></p>
<p class="MsoNormal"><b>Commitment, customer (shared: what they will do):</b><o:p></o:p></p>
<p class="MsoListParagraph" style="text-indent:-18.0pt;mso-list:l0 level1 lfo1"><![if !supportLists]>
<span style="font-family:Symbol"><span style="mso-list:Ignore">·<span style="font:7.0pt &quot;Times New Roman&quot;">&nbsp;&nbsp;&nbsp;&nbsp;</span></span></span><![endif]>send
the usage export, by Fri 22 Mar<o:p></o:p></p>
<ul><li>confirm the pilot sponsor&nbsp;by&nbsp;26.03.2030</li></ul>
<p class="MsoNormal">Commitment, us:<br>- pricing for 200 seats, by 25 Mar</p>
<p class="MsoNormal">Primary objective of the next meeting:</p>
<p class="MsoNormal">Sign the pilot agreement</p>
<!--[if gte mso 9]><xml>Notes: hidden</xml><![endif]-->
</div></body></html>"""  # noqa: E501 (Word's own HTML, as Outlook stores it)


def test_html_from_outlook() -> None:
    parsed = parse(OUTLOOK, DAY, html=True)
    assert parsed.liked == "Raj’s candour & the whiteboard session"
    assert parsed.theirs == (
        Item("send the usage export", date(2030, 3, 22), "Fri 22 Mar"),
        Item("confirm the pilot sponsor", date(2030, 3, 26), "26.03.2030"),
    )
    assert parsed.ours == (Item("pricing for 200 seats", date(2030, 3, 25), "25 Mar"),)
    assert parsed.objective == "Sign the pilot agreement"
    assert parsed.notes == ""


def test_html_as_google_calendar_stores_it() -> None:
    """A text body with tags (Google's editor): each line is read on its own, tags dropped."""
    text = (
        "<b>Commitment, us:</b><br><ul><li>send the deck by 21 Mar</li><li>book the "
        "demo</li></ul><br>Notes:<br>fine"
    )
    parsed = parse(text, DAY)
    assert [i.what for i in parsed.ours] == [
        "send the deck",
        "book the demo",
    ] and parsed.notes == "fine"
    assert (
        parse("Notes:\n<b>x</b>\nPrimary objective:\nagree &amp; sign", DAY).objective
        == "agree & sign"
    )


def test_outlook_paragraphs_one_commitment_each() -> None:
    text = (
        "<p>Commitment, us:</p><p>send pricing by 25 Mar</p><p>book the "
        "demo</p><p>&nbsp;</p><p>Notes:</p><p>x</p>"
    )
    assert [i.what for i in parse(text, DAY, html=True).ours] == ["send pricing", "book the demo"]


def test_html_to_text_keeps_lines_and_drops_styles() -> None:
    assert (
        html_to_text("<style>x{}</style><p>a&nbsp;b</p><p>c<br>d</p><p>&nbsp;</p><div>e\nf</div>")
        == "a b\nc\nd\n\ne f"
    )


def test_the_stored_form_round_trips() -> None:
    parsed = parse(fill_in(form(), {"Commitment, us": "- x by 22 Mar", "Notes": "y"}), DAY)
    assert Debrief.from_json(parsed.to_json()) == parsed


def test_carryover_flags_overdue_and_drops_done_items() -> None:
    parsed = parse(
        "Commitment, customer:\n- data by 20 Mar\n- [x] intro\nCommitment, us:\n- deck by 25 Mar",
        DAY,
    )
    carry = carryover(parsed, "Globex", DAY, today=date(2030, 3, 22))
    assert [(c.who, c.what, c.due, c.overdue) for c in carry.commitments] == [
        ("customer", "data", "Wed 20 Mar 2030", True),
        ("us", "deck", "Mon 25 Mar 2030", False),
    ]
    assert carry.meeting_date == "Tue 19 Mar 2030"
