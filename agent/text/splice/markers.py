"""The agenda's markers, and which marked agenda is ours, whatever the body format.

The agenda sits between two marker lines at the end of the description. Which marker pair is
ours is decided by the agenda tag (a provider property the customer cannot write), whose
fingerprint must match the body: text that merely imitates the markers is treated as a
person's text. The text and HTML splicers find marker pairs each in their own way and leave
the decision to `locate`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from agent.core.model import AgendaTag

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
