"""Keeping the HTML copy of a text description in step with the agenda spliced into the text.

Calendar clients that let people format a description keep two versions of it: the text, and
an HTML copy that they show instead (on CalDAV, the ALTREP of DESCRIPTION or X-ALT-DESC). The
agenda is spliced into the text, and its tag's fingerprint is the text agenda's; the HTML copy
gets the same agenda, as the HTML `splice.html.from_text` makes of it, spliced where the HTML
splicer puts an agenda. So a person's formatting stays, byte for byte, and the agenda shows in
it too.

The copy's agenda is found again by the fingerprint of the HTML the agenda now in the text
became: nothing needs storing, and an agenda a person changed in the HTML alone is never
overwritten. The edit is one replacement of a span of the copy, so the caller can make it in
whatever encoding the copy is kept in.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from agent.core.model import AgendaTag, BodyFormat
from agent.text import splice
from agent.text.splice import AgendaState
from agent.text.splice.html import HTML, from_text


@dataclass(frozen=True)
class Edit:
    """Put `text` in place of html[start:end]: our agenda inserted, rewritten or taken out."""

    start: int
    end: int
    text: str

    def apply(self, html: str) -> str:
        return html[: self.start] + self.text + html[self.end :]


NOTHING = Edit(0, 0, "")


def follow(
    html: str, before: str, before_tag: AgendaTag | None, after: str, after_tag: AgendaTag | None
) -> Edit | None:
    """The edit that does to the HTML copy what going from `before` to `after` does to the text:
    insert, rewrite or take out our agenda. None when the copy does not hold our agenda as it
    would have been written (a person changed it there, or it was never put in): then the copy
    must be left as it is."""
    old, new = _agenda(before, before_tag), _agenda(after, after_tag)
    chunk = HTML.chunk(from_text(new), "") if new is not None else ""
    if old is None:
        if new is None:
            return NOTHING
        at = HTML.insertion_point(html)
        return Edit(at, at, chunk)
    assert before_tag is not None  # the old agenda was found by it
    written = replace(
        before_tag, content=HTML.fingerprint(from_text(old)), sep="", body_format=BodyFormat.HTML
    )
    found = HTML.find(html, written)
    if found.state is AgendaState.OURS:
        return Edit(found.start, found.end, chunk)
    if found.state is AgendaState.REMOVED and new is None:
        return NOTHING  # no agenda text in the copy at all: nothing to take out
    return None


def _agenda(text: str, tag: AgendaTag | None) -> str | None:
    """The body of our agenda in a text description, if it holds one as we wrote it."""
    if tag is None:
        return None
    found = splice.TEXT.find(text, tag)
    return found.body if found.state is AgendaState.OURS else None
