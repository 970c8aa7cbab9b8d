"""Splicing callplan's regions into text people own, without touching a person's text.

markers.py decides which marked region is ours; text.py and html.py splice it into plain-text
and HTML descriptions. They never import each other: this module picks one for a meeting's
agenda, or for a prep's preview.
"""

from __future__ import annotations

from agent.core.fingerprint import words_fingerprint
from agent.core.htmltext import looks_like_html, text_of
from agent.core.model import BodyFormat, Event
from agent.text.splice.html import HTML, HtmlSplicer
from agent.text.splice.markers import (
    AGENDA,
    BEGIN,
    END,
    PREVIEW,
    AgendaState,
    Found,
    Markers,
    Splicer,
    neutralise,
)
from agent.text.splice.text import TEXT, TextSplicer

__all__ = [
    "AGENDA",
    "BEGIN",
    "END",
    "HTML",
    "PREVIEW",
    "TEXT",
    "AgendaState",
    "Found",
    "Markers",
    "Splicer",
    "for_meeting",
    "neutralise",
    "preview_fingerprint",
    "preview_splicer",
    "splicer",
]


def for_meeting(meeting: Event) -> Splicer:
    """The splicer for a meeting's agenda: the one it was written with (its tag says), else the
    one for the meeting's body format."""
    return splicer(meeting.agenda_tag.body_format if meeting.agenda_tag else meeting.body_format)


def splicer(body_format: BodyFormat) -> Splicer:
    """The agenda's splicer for a description in `body_format`."""
    if body_format is BodyFormat.HTML:
        return HTML
    return TEXT


def preview_fingerprint(body: str) -> str:
    """What a prep's tag records of its preview: the words a person reads in it, so that a
    provider handing the text back as HTML (Exchange), or an editor adding tags to it (Google's),
    does not make it look like someone else's."""
    return words_fingerprint(text_of(body) if looks_like_html(body) else body)


PREVIEW_TEXT = TextSplicer(PREVIEW, preview_fingerprint)
PREVIEW_HTML = HtmlSplicer(PREVIEW, preview_fingerprint)


def preview_splicer(body_format: BodyFormat) -> Splicer:
    """The preview's splicer for a prep block's body in `body_format`."""
    return PREVIEW_HTML if body_format is BodyFormat.HTML else PREVIEW_TEXT
