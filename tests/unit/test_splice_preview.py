"""The prep's preview: callplan's region at the end of a prep, spliced without touching the rest.

The form above it is the seller's once they write in it; callplan updates the preview by
splicing, every byte outside its markers kept, in plain text, in text with an editor's tags in
it (Google) and in the HTML Exchange hands a text body back as. Which preview is ours is decided
by the fingerprints callplan wrote: the current one and recent ones (a calendar app may save an
older copy back), never by marker text alone.
"""

from __future__ import annotations

import html
from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from agent.core.fingerprint import observed_fingerprint
from agent.core.model import BlockTag, BodyFormat, Event, Interval, Kind
from agent.core.preview import BEGIN, END, form_part
from agent.text import splice
from agent.text.splice import AgendaState, preview_fingerprint, preview_splicer
from agent.text.splice.html import from_text
from tests.support.fakes.graph import HTML_OF_TEXT
from tests.support.fakes.outlook_html import outlook_rewrite
from tests.support.helpers import at

PREVIEW = (
    "Agenda: in the invitation.\n\nTHE AGENDA AS THE CUSTOMER WILL SEE IT\nPurpose\nAgree the scope"
)
NEWER = (
    "Agenda: in the invitation.\n\nTHE AGENDA AS THE CUSTOMER WILL SEE IT\nPurpose\nAgree it all"
)
FORM = "PREP · Globex\n\nPurpose (shared):\nAgree the scope\nTopics:\n- Scope (20 min)"

people = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="─"), max_size=60
)


def prep_text(form: str = FORM, preview: str = PREVIEW) -> str:
    return splice.PREVIEW_TEXT.insert(form, preview)[0]


def exchange(text: str) -> str:
    """A text body as Exchange hands it back: HTML, its lines apart by <br>."""
    lines = "<br>\r\n".join(html.escape(line, quote=False) for line in text.splitlines())
    return HTML_OF_TEXT.format(lines)


def test_a_new_prep_is_its_form_and_the_preview_below_it() -> None:
    text = prep_text()
    assert text == f"{FORM}\n\n{BEGIN}\n{PREVIEW}\n{END}"
    assert form_part(text).rstrip() == FORM
    found = preview_splicer(BodyFormat.TEXT).locate(text, {preview_fingerprint(PREVIEW)})
    assert found.state is AgendaState.OURS


@given(people, people)
def test_updating_the_preview_keeps_every_byte_around_it(before: str, after: str) -> None:
    text = before + prep_text(form="") + after
    splicer = preview_splicer(BodyFormat.TEXT)
    found = splicer.locate(text, {preview_fingerprint(PREVIEW)})
    assert found.state is AgendaState.OURS
    updated = splicer.replace(text, found, NEWER, "")
    assert updated == before + f"{BEGIN}\n{NEWER}\n{END}" + after
    assert splicer.locate(updated, {preview_fingerprint(NEWER)}).state is AgendaState.OURS


def test_an_older_copy_of_the_preview_is_still_ours_and_a_persons_words_are_not() -> None:
    splicer = preview_splicer(BodyFormat.TEXT)
    stale = prep_text()  # the seller's app saved the preview callplan wrote before the last one
    recent = {preview_fingerprint(NEWER), preview_fingerprint(PREVIEW)}
    assert splicer.locate(stale, recent).state is AgendaState.OURS
    assert splicer.locate(stale, {preview_fingerprint(NEWER)}).state is AgendaState.EDITED
    typed = stale.replace("Agree the scope\n" + END, "Agree the scope\nmy own note\n" + END)
    assert splicer.locate(typed, recent).state is AgendaState.EDITED
    cut = stale.replace(END, "")  # a person deleted the end marker
    assert splicer.locate(cut, recent).state is AgendaState.EDITED
    assert splicer.locate(FORM, recent).state is AgendaState.REMOVED
    assert splicer.locate(stale, set()).state is AgendaState.FOREIGN  # never wrote one here


def test_exchanges_html_of_a_text_prep_is_spliced_by_its_lines() -> None:
    """Exchange hands a text body back as HTML whose lines are apart by <br>: the markers are
    lines, not elements. The preview is found there, replaced, and the rest kept exactly."""
    body = outlook_rewrite(
        exchange(prep_text().replace("Agree the scope\nTopics", "Agree it\nTopics"))
    )
    splicer = preview_splicer(BodyFormat.HTML)
    found = splicer.locate(body, {preview_fingerprint(PREVIEW)})
    assert found.state is AgendaState.OURS
    updated = splicer.replace(body, found, from_text(NEWER), "")
    assert updated[: found.start] == body[: found.start] and updated.endswith(body[found.end :])
    assert body[found.start : found.end].startswith(BEGIN) and body[: found.end].endswith(END)
    assert splicer.locate(updated, {preview_fingerprint(NEWER)}).state is AgendaState.OURS
    assert "Agree it" in updated and "Agree the scope" not in updated.split(BEGIN)[1]


def test_the_preview_reads_the_same_wherever_it_is_kept() -> None:
    """Its fingerprint is of the words a person reads: as written, as Exchange's HTML, and as
    Google's editor leaves a text it touched."""
    expected = preview_fingerprint(PREVIEW)
    tagged = PREVIEW.replace("\n", "<br>").replace("Purpose", "<b>Purpose</b>")
    assert preview_fingerprint(tagged) == expected
    assert preview_fingerprint(from_text(PREVIEW)) == expected
    assert preview_fingerprint(PREVIEW.replace("\n", "\r\n") + "  \n") == expected
    assert preview_fingerprint(PREVIEW + " more") != expected


def test_a_text_body_with_tags_keeps_its_preview_in_place() -> None:
    """Google's editor joins the lines with <br>: the preview is still found, and spliced."""
    text = prep_text().replace("\n", "<br>")
    splicer = preview_splicer(BodyFormat.TEXT)
    found = splicer.locate(text, {preview_fingerprint(PREVIEW)})
    assert found.state is AgendaState.OURS
    updated = splicer.replace(text, found, NEWER, "")
    assert updated.startswith(text[: found.start]) and NEWER in updated


def block(description: str, tag: BlockTag, body_format: BodyFormat = BodyFormat.TEXT) -> Event:
    return Event(
        key="b",
        ref="b",
        calendar="c",
        title="Prep: Globex",
        start=at(0, 9, 45),
        end=at(0, 10),
        description=description,
        body_format=body_format,
        block_tag=tag,
    )


def test_only_the_form_tells_whether_a_person_wrote_in_a_prep() -> None:
    slot = Interval(at(0, 9, 45), at(0, 10))
    meeting = Interval(at(0, 10), at(0, 11))
    plain = block(prep_text(), BlockTag(Kind.PREP, "m", slot, meeting, "x"))
    content = observed_fingerprint(plain)
    tag = BlockTag(Kind.PREP, "m", slot, meeting, content, preview=preview_fingerprint(PREVIEW))
    assert observed_fingerprint(block(prep_text(preview=NEWER), tag)) == content
    assert observed_fingerprint(
        block(exchange(prep_text(preview=NEWER)), tag, BodyFormat.HTML)
    ) == (content)
    assert observed_fingerprint(block(prep_text(FORM + "\nmy plan"), tag)) != content
    # a debrief has no preview: all of it is the seller's
    debrief = BlockTag(Kind.DEBRIEF, "m", slot.shifted(timedelta(hours=2)), meeting, content)
    assert observed_fingerprint(block(prep_text(), debrief)) != content


def test_the_prep_tag_keeps_its_preview_fingerprint() -> None:
    slot = Interval(at(0, 9, 45), at(0, 10))
    tag = BlockTag(Kind.PREP, "m", slot, Interval(at(0, 10), at(0, 11)), "c", preview="p1")
    assert BlockTag.decode(tag.encode()) == tag
    old = BlockTag(Kind.PREP, "m", slot, Interval(at(0, 10), at(0, 11)), "c")
    assert "preview" not in old.fields() and BlockTag.decode(old.encode()) == old


def test_marker_text_in_a_title_cannot_forge_a_preview() -> None:
    assert BEGIN not in splice.neutralise(f"Globex {BEGIN} x {END}")
    assert END not in splice.neutralise(f"Globex {END}")
