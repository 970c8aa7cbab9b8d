"""Markers, and which marked region is ours, whatever the body format.

callplan splices two kinds of region into text that people own: the agenda at the end of a
meeting's description, and the preview at the end of a prep block. Each sits between two
marker lines. Which marked region is ours is decided by fingerprints callplan recorded when it
wrote one (the agenda tag, a provider property the customer cannot write; the prep's tag and
the store for a preview), which must match the region's body: text that merely imitates the
markers is treated as a person's text. The text and HTML splicers find marker pairs each in
their own way and leave the decision to `locate`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from agent.core import preview
from agent.core.model import AgendaTag


class Markers(NamedTuple):
    begin: str
    end: str


AGENDA = Markers("──── Agenda · shared by callplan ────", "──── End of agenda ────")
PREVIEW = Markers(preview.BEGIN, preview.END)
BEGIN, END = AGENDA
SEPARATOR = "\n\n"
_RULE = "─"  # the box-drawing rule every marker is drawn with
# the run of it every marker starts with: a search for a run goes through a text in strides,
# one for a single character looks at every character
_RULES = _RULE * 4


class AgendaState(enum.Enum):
    """The state of a marked region of ours (the agenda's names, which the preview shares)."""

    ABSENT = "absent"  # none of ours, and no marker text at all
    OURS = "ours"  # ours, exactly as we wrote it
    EDITED = "edited"  # we wrote one, a person changed the text between the markers
    REMOVED = "removed"  # we wrote one, a person deleted it
    FOREIGN = "foreign"  # marker text we cannot vouch for (pasted, imitated): hands off


@dataclass(frozen=True)
class Found:
    state: AgendaState
    start: int = 0  # where our chunk starts (its separator included)
    end: int = 0  # just past the END marker
    body: str = ""


def locate(
    description: str,
    pairs: Sequence[tuple[int, int, str]],
    has_marker_text: bool,
    known: Collection[str] | None,
    sep: str,
    fingerprint_of: Callable[[str], str],
) -> Found:
    """The state of our region among marker pairs (begin, end, body) of any body format.

    Only a pair whose body's fingerprint is one we `known`ly wrote is ours; marker text when we
    know of none, or that no longer matches, belongs to people.
    """
    if not known:
        return Found(AgendaState.FOREIGN if has_marker_text else AgendaState.ABSENT)
    for begin, end, body in reversed(pairs):  # ours was appended last; prefer the latest match
        if fingerprint_of(body) in known:
            return Found(AgendaState.OURS, _chunk_start(description, begin, sep), end, body)
    return Found(AgendaState.EDITED if has_marker_text else AgendaState.REMOVED)


def _chunk_start(description: str, begin: int, sep: str) -> int:
    """Include the separator we put before BEGIN, if it is still there unchanged."""
    for candidate in (sep, sep.replace("\n", "\r\n")):
        if candidate and description[:begin].endswith(candidate):
            return begin - len(candidate)
    return begin


def neutralise(text: str) -> str:
    """Make outside text unable to forge our markers inside content we render.

    Names and titles from customers end up inside agendas and preps; if one contained an END
    marker, a region would look cut short. Replacing the box-drawing rule keeps it readable.
    """
    if _RULES not in text:  # every marker holds it: one scan tells most texts apart
        return text
    for marker in (*AGENDA, *PREVIEW):
        if marker in text:
            text = text.replace(marker, marker.replace(_RULE, "-"))
    return text


class Splicer:
    """Splicing for one body format and one pair of markers: find our region, insert, replace
    or strip it. The planner and undo pick one by the meeting's BodyFormat."""

    def __init__(self, markers: Markers, fingerprint: Callable[[str], str]) -> None:
        self.markers = markers
        self.fingerprint = fingerprint  # what a tag records of a body, and what find compares

    def pairs(self, description: str) -> tuple[list[tuple[int, int, str]], bool]:
        """Every BEGIN with the first END after it, as (begin, end, body), and whether any
        marker text is there at all."""
        raise NotImplementedError

    def locate(self, description: str, known: Collection[str] | None, sep: str = "") -> Found:
        """Our region among the marked ones: the one whose body we `known`ly wrote."""
        pairs, marked = self.pairs(description)
        return locate(description, pairs, marked, known, sep, self.fingerprint)

    def find(self, description: str, tag: AgendaTag | None) -> Found:
        """Our agenda, trusting only a pair that matches the tag."""
        if tag is None:
            return self.locate(description, None)
        return self.locate(description, {tag.content}, tag.sep)

    def insert(self, description: str, body: str) -> tuple[str, str]:
        """Append a region; the new description and the separator used."""
        raise NotImplementedError

    def replace(self, description: str, found: Found, body: str, sep: str) -> str:
        """Swap our region for a new one; the text around it stays as it was read."""
        raise NotImplementedError

    def strip(self, description: str, found: Found) -> str:
        """Remove our region: the description as the person left it."""
        return description[: found.start] + description[found.end :]
