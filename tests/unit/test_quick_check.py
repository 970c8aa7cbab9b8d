"""The debrief's quick check: one-word answers in every form a seller gives them, read by the
debrief form's reader, and never shown in a prep or an agenda."""

from __future__ import annotations

from datetime import date

import pytest

from agent.core.debrief import Debrief
from agent.text.answers import YES_NO, YES_NO_UNSURE, YES_PARTLY_NO, Answer, answer
from agent.text.debrief import parse
from agent.text.form import fill_in
from tests.unit.test_debrief_privacy import RENDERER, agendas, context, outlook_html

DAY = date(2030, 3, 19)


@pytest.mark.parametrize(
    ("text", "options", "expected"),
    [
        ("yes / partly / no", YES_PARTLY_NO, ""),  # the line as the form offers it
        ("", YES_PARTLY_NO, ""),
        ("yes", YES_PARTLY_NO, "yes"),
        ("Y", YES_PARTLY_NO, "yes"),
        ("Yes!", YES_PARTLY_NO, "yes"),
        ("✓", YES_PARTLY_NO, "yes"),
        ("x", YES_PARTLY_NO, "yes"),  # a lone x is a tick
        ("[x]", YES_NO, "yes"),
        ("✗", YES_NO, "no"),
        ("n", YES_PARTLY_NO, "no"),
        ("No", YES_PARTLY_NO, "no"),
        ("not really", YES_NO, "no"),
        ("partly", YES_PARTLY_NO, "partly"),
        ("Partially, they want a pilot first", YES_PARTLY_NO, "partly"),
        ("partly", YES_NO, ""),  # not an answer this question offers
        ("they want a pilot first", YES_PARTLY_NO, ""),
        ("[x] yes [ ] partly [ ] no", YES_PARTLY_NO, "yes"),
        ("[ ] yes [x] partly [ ] no", YES_PARTLY_NO, "partly"),
        ("[ ] yes [ ] partly [X] no", YES_PARTLY_NO, "no"),
        ("☐ yes ☒ partly ☐ no", YES_PARTLY_NO, "partly"),
        ("yes / partly x / no", YES_PARTLY_NO, "partly"),
        ("x no / yes", YES_NO, "no"),
        ("yes ✓ / no", YES_NO, "yes"),
        ("yes / no / don't know ✓", YES_NO_UNSURE, "unsure"),
        ("don’t know", YES_NO_UNSURE, "unsure"),
        ("no idea", YES_NO_UNSURE, "unsure"),
        ("yes / no", YES_PARTLY_NO, ""),  # two kept: no answer
        ("[x] yes [x] no", YES_NO, ""),  # two ticked: no answer
        ("n/a", YES_NO, ""),
    ],
)
def test_a_one_word_answer(text: str, options: tuple[Answer, ...], expected: Answer) -> None:
    assert answer(text, options) == expected


def debrief_form() -> str:
    """The debrief form exactly as callplan writes it."""
    return RENDERER.debrief(context(""))


def answered(form: str, lines: dict[str, str]) -> str:
    """The form with whole quick-check lines replaced, as a seller edits them in place."""
    for start, line in lines.items():
        old = next(entry for entry in form.split("\n") if entry.startswith(start))
        form = form.replace(old, line, 1)
    return form


SAME_LINE = {
    "Our goals met": "Our goals met: partly",
    "Their goals met": "Their goals met: [x] yes [ ] partly [ ] no",
    "Could we have achieved more": "Could we have achieved more: yes / no x",
    "Did they learn": "Did they learn something that mattered to them: y",
}


def test_the_form_as_written_answers_nothing_and_counts_as_no_debrief() -> None:
    debrief = parse(debrief_form(), DAY)
    assert (debrief.our_goals, debrief.their_goals, debrief.more, debrief.learned) == ("",) * 4
    assert debrief.both_goals is None and debrief.handle_better is None
    assert not debrief.written


@pytest.mark.parametrize("html", [False, True], ids=["text", "outlook-html"])
def test_answers_on_the_line_or_under_it_in_text_and_outlook_html(html: bool) -> None:
    on_line = answered(debrief_form(), SAME_LINE)
    under = fill_in(
        answered(
            debrief_form(),
            {
                "Our goals met": "Our goals met:",
                "Their goals met": "Their goals met:",
                "Could we have achieved more": "Could we have achieved more:",
                "Did they learn": "Did they learn something that mattered to them:",
            },
        ),
        {
            "Our goals met": "partly",
            "Their goals met": "✓",
            "Could we have achieved more": "nope",
            "Did they learn": "yes",
        },
    )
    for text in (on_line, under):
        body = outlook_html(text, "mso") if html else text
        debrief = parse(body, DAY, html=True if html else None)
        assert (debrief.our_goals, debrief.their_goals, debrief.more, debrief.learned) == (
            "partly",
            "yes",
            "no",
            "yes",
        )
        assert debrief.written and debrief.both_goals is False
        assert debrief.could_do_more is False and debrief.they_learned is True
        assert debrief.handle_better is False  # answered, nothing to do differently


def test_what_i_would_do_differently_counts_as_should_have_handled_better() -> None:
    text = fill_in(debrief_form(), {"What I would do differently": "ask who signs"})
    debrief = parse(text, DAY)
    assert debrief.handle_better is True
    assert debrief.both_goals is None and debrief.they_learned is None


def test_both_goals_is_known_once_one_side_fell_short() -> None:
    assert Debrief(our_goals="yes", their_goals="yes").both_goals is True
    assert Debrief(our_goals="yes").both_goals is None
    assert Debrief(their_goals="no").both_goals is False
    assert Debrief(our_goals="partly", their_goals="yes").both_goals is False
    assert Debrief(learned="unsure").they_learned is None


def test_the_answers_survive_the_store_json() -> None:
    debrief = parse(answered(debrief_form(), SAME_LINE), DAY)
    assert Debrief.from_json(debrief.to_json()) == debrief


QUICK_SECRETS = {
    "Our goals met": "Our goals met: partly QUICK-1 they would not commit to a date",
    "Their goals met": "Their goals met: no QUICK-2 Raj left unhappy",
    "Could we have achieved more": "Could we have achieved more: yes QUICK-3 I talked too much",
    "Did they learn": "Did they learn something that mattered to them: no QUICK-4",
}


@pytest.mark.parametrize("html", [False, True], ids=["text", "outlook-html"])
def test_the_quick_check_never_reaches_a_prep_or_an_agenda(html: bool) -> None:
    text = fill_in(
        answered(debrief_form(), QUICK_SECRETS),
        {
            "Quick check": "QUICK-5 a line of my own under the quick check",
            "Commitment, customer": "- send the usage data by Friday",
            "Primary objective": "Agree the pilot scope",
        },
    )
    body = outlook_html(text, "mso") if html else text
    debrief = parse(body, DAY, html=True if html else None)
    assert (debrief.our_goals, debrief.their_goals, debrief.more, debrief.learned) == (
        "partly",
        "no",
        "yes",
        "no",
    )
    prep = RENDERER.prep(context(text))
    shown = agendas(text)
    assert "send the usage data" in shown and "Agree the pilot scope" in prep
    for rendered in (prep, shown):
        assert "QUICK-" not in rendered
        assert "goals met" not in rendered.lower() and "achieved more" not in rendered.lower()
