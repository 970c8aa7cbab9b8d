"""Splicing the agenda into a meeting description without touching a person's text.

markers.py decides which marked agenda is ours; text.py and html.py splice it into plain-text
and HTML descriptions. They never import each other: this module picks one for a meeting.
"""

from __future__ import annotations

from agent.core.model import BodyFormat, Event
from agent.text.splice.html import HTML
from agent.text.splice.markers import BEGIN, END, AgendaState, Found, Splicer, neutralise
from agent.text.splice.text import TEXT

__all__ = [
    "BEGIN",
    "END",
    "HTML",
    "TEXT",
    "AgendaState",
    "Found",
    "Splicer",
    "for_meeting",
    "neutralise",
    "splicer",
]


def for_meeting(meeting: Event) -> Splicer:
    """The splicer for a meeting's agenda: the one it was written with (its tag says), else the
    one for the meeting's body format."""
    return splicer(meeting.agenda_tag.body_format if meeting.agenda_tag else meeting.body_format)


def splicer(body_format: BodyFormat) -> Splicer:
    """The splicer for a description in `body_format`."""
    if body_format is BodyFormat.HTML:
        return HTML
    return TEXT
