"""The privacy marks: the words and symbols sellers use to keep something from the customer."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.text import privacy
from agent.text.debrief import HEADINGS


@pytest.mark.parametrize(
    "text",
    [
        "Private: upsell the enterprise tier",
        "PRIVATE",
        "privately held",
        "(internal notes)",
        "Internal only",
        "nur intern",
        "Confidential",
        "confidentially",
        "a secret",
        "sensitive",
        "Note to self: chase Raj",
        "NTS: chase Raj",
        "FYI only for us: margin is thin",
        "just for us",
        "notes-to-self",
        "memo to self",
        "Reminder to self",
        "self note",
        "personal notes",
        "between us",
        "Between you and me",
        "do not share",
        "Don't share",
        "don’t share",
        "dont share",
        "not to be shared",
        "not for sharing",
        "do not forward",
        "don't forward",
        "don’t tell them",
        "do not tell",
        "don't mention",
        "do not mention",
        "not for them",
        "not for the customer",
        "not for the client",
        "not for customers",
        "for my eyes only",
        "eyes only",
        "just for me",
        "only for me",
        "for me only",
        "for us only",
        "our side only",
        "off the record",
        "off-the-record",
        "off record",
        "keep to ourselves",
        "unter uns",
        "entre nous",
        "ne pas partager",
        "no compartir",
        "non condividere",
        "nicht teilen",
        "privat",
        "Privé",
        "PRIVÉE",
        "privado",
        "privata",
        "privato",
        "intern",
        "interne",
        "internes",
        "interno",
        "interna",
        "vertraulich",
        "confidentiel",
        "Confidentielle",
        "confidencial",
        "riservato",
        "vertrouwelijk",
        "nur für mich",
        "Notiz für mich",
        "(not shared)",
        "not for the agenda",
        "Mental note: call Raj",
        "nota per me",
        "🔒",
        "🔐",
        "🤫",
        "🙊",
        "㊙",
        "㊙️",
        "🔒️ margin",
        "ｐｒｉｖａｔｅ",
        "pri\u200bvate",
        "_private_",
    ],
)
def test_marks_are_found(text: str) -> None:
    assert privacy.is_marked(text), text


@pytest.mark.parametrize(
    "text",
    [
        "international rollout",
        "internet uplink",
        "internship",
        "internals",
        "privatise",
        "privacy policy",
        "secretary",
        "secretariat",
        "sensitivity analysis",
        "confidence",
        "share the deck",
        "between the two teams",
        "note the date",
        "for the record",
        "the customer",
        "tell them the date",
        "interesting",
        "Primaria",
        "we will send the pilot proposal",
        "Commitment, us",
        "",
    ],
)
def test_words_that_only_contain_a_mark_are_not_marks(text: str) -> None:
    assert not privacy.is_marked(text), privacy.marks_in(text)


def test_the_forms_own_headings_and_hints_carry_no_mark() -> None:
    """A seller who leaves the form's headings as they are shares what they write under them."""
    from tests.support.helpers import World, at, meeting

    world = World()
    event = world.add(meeting("Globex: deep dive", at(1, 10)))
    world.cycle()
    form = world.block_for("debrief", event).description
    headings = [line for line in form.split("\n") if line.endswith(":") or line.endswith("when):")]
    assert any(line.startswith("Commitment, us (shared") for line in headings)
    for line in headings + [name for names in HEADINGS.values() for name in names]:
        assert not privacy.is_marked(line), line


def test_spans_point_into_the_original_text() -> None:
    text = "Straße: send the VERTRAULICHE deck, don’t share it"
    assert [text[start:end] for start, end in privacy.marks_in(text)] == [
        "VERTRAULICHE",
        "don’t share",
    ]
    assert privacy.mark_span("no mark here") is None


@pytest.mark.parametrize(
    "text, starts, only, stripped",
    [
        ("Private: upsell the enterprise tier", True, False, "upsell the enterprise tier"),
        ("INTERNAL - they are price sensitive", True, False, "they are price"),
        ("🔒 margin is thin", True, False, "margin is thin"),
        ("[confidential] floor is 40k", True, False, "floor is 40k"),
        ("**Note to self:** chase Raj", True, False, "chase Raj"),
        ("--- internal ---", True, True, ""),
        ("PRIVATE", True, True, ""),
        ("send the internal benchmark by Fri", False, False, "send the benchmark by Fri"),
        ("send pricing (confidential)", False, False, "send pricing"),
        ("send pricing", False, False, "send pricing"),
    ],
)
def test_positions_and_stripping(text: str, starts: bool, only: bool, stripped: str) -> None:
    assert privacy.starts_with_mark(text) is starts
    assert privacy.only_marks(text) is only
    assert privacy.strip_marks(text) == stripped


@given(st.text(max_size=40), st.sampled_from(privacy.MARKS), st.text(max_size=40))
def test_a_mark_standing_apart_is_found_anywhere(before: str, mark: str, after: str) -> None:
    text = f"{before} {mark.upper()}, {after}"
    assert privacy.is_marked(text)
    assert any(
        text[start:end].casefold() == mark.casefold() for start, end in privacy.marks_in(text)
    )


def test_the_documentation_lists_exactly_the_marks_read() -> None:
    loop = (Path(__file__).resolve().parents[2] / "docs" / "loop.md").read_text()
    listed = loop.split("<!-- privacy marks -->\n", 1)[1].split("<!-- end privacy marks -->", 1)[0]
    words, _, symbols = listed.rpartition(";")
    phrases = {" ".join(privacy.fold(phrase).split()) for phrase in re.split(r"[,;]", words)}
    assert phrases == set(privacy.MARKS)
    assert symbols.split() == list(privacy.EMOJI)


def test_the_readme_names_only_marks_the_parser_reads() -> None:
    """The README shows a sample of the marks; every one of them must be read as a mark."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    listed = readme.split("<!-- readme privacy marks -->\n", 1)[1]
    listed = listed.split("<!-- end readme privacy marks -->", 1)[0]
    named = [" ".join(phrase.split()) for phrase in listed.split(",")]
    assert len(named) >= 20
    for phrase in named:
        assert privacy.only_marks(phrase) and privacy.starts_with_mark(f"{phrase}: upsell"), phrase
