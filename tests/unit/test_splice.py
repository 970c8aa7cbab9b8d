"""Splicing: everything outside our markers is a person's text and survives byte for byte."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from agent.core.fingerprint import fingerprint
from agent.core.model import AgendaTag
from agent.text import splice
from agent.text.splice import BEGIN, END, AgendaState
from agent.text.splice.markers import AGENDA, PREVIEW

# people's text, including things that look like ours
texts = st.one_of(
    st.text(max_size=60),
    st.sampled_from(
        ["", "\n", "\n\n", "\r\n", BEGIN, END, f"{BEGIN}\nfake\n{END}", f"x{END}y{BEGIN}z"]
    ),
)


def insert(original: str, body: str = "Agenda\n- one") -> tuple[str, AgendaTag]:
    text, sep = splice.TEXT.insert(original, body)
    return text, AgendaTag("k", fingerprint(body), sep)


@given(
    texts, texts, st.text(min_size=1, max_size=40).filter(lambda b: BEGIN not in b and END not in b)
)
def test_strip_gives_back_the_person_text_exactly(before: str, after: str, body: str) -> None:
    text, tag = insert(before, body)
    text += after  # a person appended something later
    found = splice.TEXT.find(text, tag)
    assert found.state is AgendaState.OURS
    assert splice.TEXT.strip(text, found) == before + after


@given(texts, texts)
def test_replace_keeps_both_sides(before: str, after: str) -> None:
    text, tag = insert(before)
    text += after
    found = splice.TEXT.find(text, tag)
    rewritten = splice.TEXT.replace(text, found, "New agenda", tag.sep)
    assert rewritten.startswith(before) and rewritten.endswith(after)
    again = splice.TEXT.find(rewritten, AgendaTag("k", fingerprint("New agenda"), tag.sep))
    assert again.body == "New agenda"
    assert splice.TEXT.strip(rewritten, again) == before + after


def test_states() -> None:
    assert splice.TEXT.find("plain", None).state is AgendaState.ABSENT
    assert (
        splice.TEXT.find(f"pasted {BEGIN} from another invite", None).state is AgendaState.FOREIGN
    )
    text, tag = insert("Intro")
    assert splice.TEXT.find(text, tag).state is AgendaState.OURS
    assert splice.TEXT.find(text.replace("one", "two"), tag).state is AgendaState.EDITED
    assert splice.TEXT.find("Intro", tag).state is AgendaState.REMOVED


def test_a_forged_pair_before_ours_is_left_alone() -> None:
    forged = f"Mine:\n{BEGIN}\nAgenda\n- not yours\n{END}\n"
    text, tag = insert(forged)
    found = splice.TEXT.find(text, tag)
    assert splice.TEXT.strip(text, found) == forged


def test_provider_line_ending_rewrites_are_not_a_human_edit() -> None:
    text, tag = insert("Intro\nline two")
    crlf = text.replace("\n", "\r\n")
    found = splice.TEXT.find(crlf, tag)
    assert found.state is AgendaState.OURS
    assert splice.TEXT.strip(crlf, found) == "Intro\r\nline two"


def test_rendered_text_cannot_forge_an_end_marker() -> None:
    assert END not in splice.neutralise(f"title {END}") and BEGIN not in splice.neutralise(BEGIN)


def test_no_marker_of_either_region_survives_neutralising() -> None:
    """`neutralise` passes over a text without a run of the box-drawing rule: every marker
    must hold one, or a title could forge that marker."""
    for marker in (*AGENDA, *PREVIEW):
        assert marker not in splice.neutralise(f"x {marker} y")
