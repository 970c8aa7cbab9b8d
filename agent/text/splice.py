"""Splicing the agenda into a meeting description without touching a person's text.

The agenda sits between two marker lines at the end of the description. What the agent
inserted is exactly ``sep + BEGIN + "\\n" + body + "\\n" + END``; everything before and after
that chunk belongs to people and is never rewritten. Which marker pair is ours is decided by
the agenda tag (a provider property the customer cannot write), whose fingerprint must
match the body: text that merely imitates the markers is treated as a person's text.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from agent.core.fingerprint import fingerprint
from agent.core.model import AgendaTag, BodyFormat, Event

BEGIN = "──── Agenda · shared by callplan ────"
END = "──── End of agenda ────"
SEPARATOR = "\n\n"


class AgendaState(enum.Enum):
    ABSENT = "absent"  # no agenda of ours, and no marker text at all
    OURS = "ours"  # our agenda, exactly as we wrote it
    EDITED = "edited"  # we wrote one, a person changed the text between the markers
    REMOVED = "removed"  # we wrote one, a person deleted it
    FOREIGN = "foreign"  # marker text we cannot vouch for (pasted, imitated): hands off


@dataclass(frozen=True)
class Found:
    state: AgendaState
    start: int = 0  # where our chunk starts (its separator included)
    end: int = 0  # just past the END marker
    body: str = ""


def _pairs(text: str) -> list[tuple[int, int, str]]:
    """Every BEGIN with the first END after it: (begin index, end-marker end index, body)."""
    pairs = []
    position = text.find(BEGIN)
    while position != -1:
        body_start = position + len(BEGIN)
        closing = text.find(END, body_start)
        if closing == -1:
            break
        pairs.append((position, closing + len(END), _inner(text[body_start:closing])))
        position = text.find(BEGIN, position + 1)
    return pairs


def _inner(between: str) -> str:
    """The body between marker lines, without the line breaks that frame it."""
    for newline in ("\r\n", "\n"):
        if between.startswith(newline):
            between = between[len(newline) :]
            break
    for newline in ("\r\n", "\n"):
        if between.endswith(newline):
            return between[: -len(newline)]
    return between


def find(description: str, tag: AgendaTag | None) -> Found:
    """Locate our agenda in a description, trusting only a pair that matches the tag."""
    has_marker_text = BEGIN in description or END in description
    return locate(description, _pairs(description), has_marker_text, tag, fingerprint)


def locate(
    description: str,
    pairs: Sequence[tuple[int, int, str]],
    has_marker_text: bool,
    tag: AgendaTag | None,
    fingerprint_of: Callable[[str], str],
) -> Found:
    """The state of our agenda among marker pairs (begin, end, body) of any body format.

    Only a pair whose body fingerprint matches the tag is ours; marker text without a tag,
    or that no longer matches, belongs to people.
    """
    if tag is None:
        return Found(AgendaState.FOREIGN if has_marker_text else AgendaState.ABSENT)
    for begin, end, body in reversed(pairs):  # ours was appended last; prefer the latest match
        if fingerprint_of(body) == tag.content:
            return Found(AgendaState.OURS, _chunk_start(description, begin, tag.sep), end, body)
    return Found(AgendaState.EDITED if has_marker_text else AgendaState.REMOVED)


def _chunk_start(description: str, begin: int, sep: str) -> int:
    """Include the separator we put before BEGIN, if it is still there unchanged."""
    for candidate in (sep, sep.replace("\n", "\r\n")):
        if candidate and description[:begin].endswith(candidate):
            return begin - len(candidate)
    return begin


def chunk(body: str, sep: str) -> str:
    return f"{sep}{BEGIN}\n{body}\n{END}"


def insert(description: str, body: str) -> tuple[str, str]:
    """Append an agenda; returns the new description and the separator used."""
    sep = SEPARATOR if description else ""
    return description + chunk(body, sep), sep


def replace(description: str, found: Found, body: str, sep: str) -> str:
    """Swap the body of our agenda, keeping the text around it byte for byte."""
    kept_sep = description[found.start : description.find(BEGIN, found.start)]
    return description[: found.start] + chunk(body, kept_sep if kept_sep else sep) + description[found.end :]


def strip(description: str, found: Found) -> str:
    """Remove our agenda chunk (separator included): the description as the person left it."""
    return description[: found.start] + description[found.end :]


def neutralise(text: str) -> str:
    """Make outside text unable to forge our markers inside content we render.

    Names and titles from customers end up inside the agenda body; if one contained the END
    marker, the body would look cut short. Replacing the box-drawing rule keeps it readable.
    """
    return text.replace(BEGIN, BEGIN.replace("─", "-")).replace(END, END.replace("─", "-"))


class Splicer(Protocol):
    """Splicing for one body format: the planner and undo pick one by the meeting's BodyFormat."""

    def find(self, description: str, tag: AgendaTag | None) -> Found: ...

    def insert(self, description: str, body: str) -> tuple[str, str]: ...

    def replace(self, description: str, found: Found, body: str, sep: str) -> str: ...

    def strip(self, description: str, found: Found) -> str: ...

    def fingerprint(self, body: str) -> str:
        """What the agenda tag records of a body, and what find() compares it with."""
        ...


class TextSplicer:
    """Plain-text descriptions (CalDAV, Google, Outlook text bodies): the functions above."""

    find = staticmethod(find)
    insert = staticmethod(insert)
    replace = staticmethod(replace)
    strip = staticmethod(strip)
    fingerprint = staticmethod(fingerprint)


TEXT = TextSplicer()


def for_meeting(meeting: Event) -> Splicer:
    """The splicer for a meeting's agenda: the one it was written with (its tag says), else the
    one for the meeting's body format."""
    return splicer(meeting.agenda_tag.body_format if meeting.agenda_tag else meeting.body_format)


def splicer(body_format: BodyFormat) -> Splicer:
    """The splicer for a description in `body_format`."""
    if body_format is BodyFormat.HTML:
        from agent.text.splice_html import HTML  # it builds on this module

        return HTML
    return TEXT
