"""HTML splicing (Outlook bodies): the properties of tests/unit/test_splice.py, for HTML, through
Exchange's rewriting of what we store."""

from __future__ import annotations

import html

from hypothesis import given
from hypothesis import strategies as st

from agent.core.htmltext import text_of
from agent.core.model import AgendaTag, BodyFormat
from agent.text import splice
from agent.text.splice import BEGIN, END, AgendaState
from agent.text.splice.html import HTML
from tests.support.fakes.outlook_html import outlook_rewrite

words = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=30)
imitations = st.sampled_from(
    [
        f"<p>{BEGIN}</p><p>fake</p><p>{END}</p>",
        f"<div>{END}</div>",
        f"<p>x {BEGIN} y</p>",
        f"<p>{BEGIN}</p>",
    ]
)
elements = st.one_of(
    st.builds(
        lambda tag, text: f"<{tag}>{html.escape(text)}</{tag}>",
        st.sampled_from(["p", "div", "span", "b", "li"]),
        words,
    ),
    st.builds(html.escape, words),
    st.sampled_from(
        [
            "<br>",
            "<!-- note -->",
            "<p>&nbsp;</p>",
            "<img src=x alt=y>",
            "<table><tr><td>1</td></tr></table>",
        ]
    ),
    imitations,
)
fragments = st.lists(elements, max_size=6).map("".join)
documents = st.one_of(
    fragments,
    fragments.map(lambda f: f"<html><head><style>p {{}}</style></head><body>{f}</body></html>"),
)
bodies = st.sampled_from(
    [
        "<div><p><strong>Globex</strong><br>Tue 19 Mar</p><ul><li>Intro (10 min)</li></ul></div>",
        "<p>Agenda</p>\n<ul>\n<li>one</li>\n<li>two &amp; three</li>\n</ul>",
    ]
)


def insert(original: str, body: str) -> tuple[str, AgendaTag]:
    text, sep = HTML.insert(original, body)
    return text, AgendaTag("k", HTML.fingerprint(body), sep)


@given(documents, fragments, bodies)
def test_strip_gives_back_the_person_html_exactly(before: str, after: str, body: str) -> None:
    text, tag = insert(before, body)
    cut = text.lower().rfind("</body>")
    # a person added more later
    text = text + after if cut == -1 else text[:cut] + after + text[cut:]
    found = HTML.find(text, tag)
    assert found.state is AgendaState.OURS
    expected = (
        before + after
        if cut == -1
        else before[: before.lower().rfind("</body>")]
        + after
        + before[before.lower().rfind("</body>") :]
    )
    assert HTML.strip(text, found) == expected


@given(documents, bodies)
def test_markers_survive_outlook_rewriting_and_strip_gives_back_what_was_read(
    person: str, body: str
) -> None:
    stored = outlook_rewrite(person)  # what we read from Outlook
    written, tag = insert(stored, body)
    back = outlook_rewrite(written)  # what Outlook keeps of our write
    found = HTML.find(back, tag)
    assert found.state is AgendaState.OURS, back
    assert HTML.strip(back, found) == stored


@given(documents, bodies)
def test_replace_keeps_both_sides_through_rewriting(person: str, body: str) -> None:
    stored = outlook_rewrite(person)
    back = outlook_rewrite(insert(stored, body)[0])
    tag = AgendaTag("k", HTML.fingerprint(body), "")
    found = HTML.find(back, tag)
    rewritten = outlook_rewrite(HTML.replace(back, found, "<p>New agenda</p>", tag.sep))
    again = HTML.find(rewritten, AgendaTag("k", HTML.fingerprint("<p>New agenda</p>"), ""))
    assert again.state is AgendaState.OURS and text_of(again.body) == "New agenda"
    assert HTML.strip(rewritten, again) == stored


def test_states() -> None:
    assert HTML.find("<p>plain</p>", None).state is AgendaState.ABSENT
    assert (
        HTML.find(f"<p>pasted {BEGIN} from another invite</p>", None).state is AgendaState.FOREIGN
    )
    text, tag = insert("<p>Intro</p>", "<ul><li>one</li></ul>")
    assert HTML.find(text, tag).state is AgendaState.OURS
    assert HTML.find(text.replace("one", "two"), tag).state is AgendaState.EDITED
    assert HTML.find("<p>Intro</p>", tag).state is AgendaState.REMOVED


def test_a_forged_pair_before_ours_is_left_alone() -> None:
    forged = (
        f"<html><body><p>Mine:</p><p>{BEGIN}</p><ul><li>one</li></ul><p>{END}</p></body></html>"
    )
    text, tag = insert(forged, "<ul><li>one</li></ul>")
    found = HTML.find(text, tag)
    assert found.state is AgendaState.OURS and HTML.strip(text, found) == forged


def test_outlook_reformatting_is_not_an_edit_but_changed_words_are() -> None:
    body = "<div><p><b>Globex</b><br>Tue</p><ul><li>Intro  (10 min)</li></ul></div>"
    assert HTML.fingerprint(body) == HTML.fingerprint(outlook_rewrite(body))
    assert HTML.fingerprint(body) == HTML.fingerprint(
        body.replace("<b>", '<b style="x">').replace("<ul>", "<ul>\n")
    )
    assert HTML.fingerprint(body) != HTML.fingerprint(
        body.replace("Intro", "Intro, and the Q3 numbers")
    )
    # a line joined is an edit
    assert HTML.fingerprint(body) != HTML.fingerprint(body.replace("<br>", " "))


def test_markers_are_found_by_their_text_inside_wrappers_outlook_adds() -> None:
    text, tag = insert("<p>Hi</p>", "<p>one</p>")
    wrapped = text.replace(
        f'<p style="color:#666666">{BEGIN}</p>',
        f'<div class="x"><p class="MsoNormal"><span>{BEGIN}</span></p></div>',
    )
    found = HTML.find(wrapped, tag)
    assert found.state is AgendaState.OURS and HTML.strip(wrapped, found) == "<p>Hi</p>"


def test_the_splicer_is_chosen_by_body_format() -> None:
    assert (
        splice.splicer(BodyFormat.HTML) is HTML and splice.splicer(BodyFormat.TEXT) is splice.TEXT
    )
