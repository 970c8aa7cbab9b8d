"""The HTML copy of a text description follows the agenda in the text, and comes back exactly."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from agent.core.fingerprint import fingerprint
from agent.core.htmltext import text_of
from agent.core.model import AgendaTag
from agent.text import splice
from agent.text.html_copy import NOTHING, follow
from agent.text.splice.html import from_text
from tests.unit.test_splice_html import documents, words

agendas = st.lists(words, min_size=1, max_size=5).map("\n".join)


@given(documents, agendas, agendas)
def test_the_copy_gets_the_agenda_the_text_gets_and_the_persons_html_back_exactly(
    person: str, first: str, second: str
) -> None:
    text, sep = splice.TEXT.insert("Notes", first)
    tag = AgendaTag("k", fingerprint(first), sep)
    edit = follow(person, "Notes", None, text, tag)
    assert edit is not None
    copy = edit.apply(person)
    # the person's HTML around it, untouched
    assert copy[: edit.start] + copy[edit.start + len(edit.text) :] == person
    assert text_of(from_text(first)) in text_of(copy)

    rewritten = splice.TEXT.replace(text, splice.TEXT.find(text, tag), second, sep)
    retagged = replace(tag, content=fingerprint(second))
    edit = follow(copy, text, tag, rewritten, retagged)
    assert edit is not None
    copy = edit.apply(copy)
    assert text_of(from_text(second)) in text_of(copy)

    stripped = splice.TEXT.strip(rewritten, splice.TEXT.find(rewritten, retagged))
    edit = follow(copy, rewritten, retagged, stripped, None)
    assert edit is not None and edit.apply(copy) == person


def test_a_copy_whose_agenda_a_person_changed_is_left_alone() -> None:
    body = "Purpose\nTo agree the next step"
    text, sep = splice.TEXT.insert("Notes", body)
    tag = AgendaTag("k", fingerprint(body), sep)
    copy = follow("<p>Notes</p>", "Notes", None, text, tag).apply("<p>Notes</p>")  # type: ignore[union-attr]
    changed = copy.replace("To agree", "To agree (with pricing)")  # in an HTML editor
    stripped = splice.TEXT.strip(text, splice.TEXT.find(text, tag))
    rewritten = splice.TEXT.replace(
        text, splice.TEXT.find(text, tag), "Purpose\nTo agree the first step", sep
    )
    retagged = replace(tag, content=fingerprint("Purpose\nTo agree the first step"))
    assert follow(changed, text, tag, stripped, None) is None
    assert follow(changed, text, tag, rewritten, retagged) is None
    # the copy never got the agenda
    assert follow("<p>Notes</p>", text, tag, rewritten, retagged) is None
    # nor is there anything to take out
    assert follow("<p>Notes</p>", text, tag, stripped, None) == NOTHING
