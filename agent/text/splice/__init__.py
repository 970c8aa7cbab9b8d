"""Splicing callplan's regions into text people own, without touching a person's text.

markers.py decides which marked region is ours; text.py and html.py splice it into plain-text
and HTML descriptions. They never import each other: this module picks one for a meeting's
agenda, or for a prep's preview.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from agent.core.fingerprint import words_fingerprint
from agent.core.htmltext import looks_like_html, text_of
from agent.core.model import BodyFormat, Event
from agent.text.splice.html import HTML, HtmlSplicer, from_text
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
    "preview_of",
    "preview_splicer",
    "splicer",
    "with_preview",
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


def preview_fingerprint(body: str, fingerprint: Callable[[str], str] = words_fingerprint) -> str:
    """What a prep's tag records of its preview: the words a person reads in it, so that a
    provider handing the text back as HTML (Exchange), or an editor adding tags to it (Google's),
    does not make it look like someone else's. (`fingerprint`: how to take it of the text, as
    `words_fingerprint` does.)"""
    return fingerprint(text_of(body) if looks_like_html(body) else body)


PREVIEW_TEXT = TextSplicer(PREVIEW, preview_fingerprint)
PREVIEW_HTML = HtmlSplicer(PREVIEW, preview_fingerprint)


def preview_splicer(body_format: BodyFormat) -> Splicer:
    """The preview's splicer for a prep block's body in `body_format`."""
    return PREVIEW_HTML if body_format is BodyFormat.HTML else PREVIEW_TEXT


def preview_of(block: Event, known: Collection[str] = ()) -> Found:
    """The preview at the end of a prep block: ours when its fingerprint is one callplan wrote
    (the block's tag names the last; `known` adds recent ones, which a calendar app may save
    back), a person's when they typed in it."""
    tag = block.block_tag
    fingerprints = {*known, *((tag.preview,) if tag is not None and tag.preview else ())}
    return preview_splicer(block.body_format).locate(block.description, fingerprints)


def with_preview(description: str, body_format: BodyFormat, found: Found, preview: str) -> str:
    """A prep's description with `preview` (text) in place of the one `found` (or appended when
    none of ours is there): every byte outside the preview's markers is kept."""
    splicer = preview_splicer(body_format)
    body = from_text(preview) if body_format is BodyFormat.HTML else preview
    if found.state is AgendaState.OURS:
        return splicer.replace(description, found, body, "")
    return splicer.insert(description, body)[0]
