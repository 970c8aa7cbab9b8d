"""Splicing the agenda into a plain-text description (CalDAV, Google, Outlook text bodies).

What the agent inserted is exactly ``sep + BEGIN + "\\n" + body + "\\n" + END``, appended at
the end of the description; everything before and after that chunk belongs to people and is
never rewritten.
"""

from __future__ import annotations

from agent.core.fingerprint import fingerprint
from agent.core.model import AgendaTag
from agent.text.splice.markers import BEGIN, END, SEPARATOR, Found, locate


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


def chunk(body: str, sep: str) -> str:
    return f"{sep}{BEGIN}\n{body}\n{END}"


def insert(description: str, body: str) -> tuple[str, str]:
    """Append an agenda; returns the new description and the separator used."""
    sep = SEPARATOR if description else ""
    return description + chunk(body, sep), sep


def replace(description: str, found: Found, body: str, sep: str) -> str:
    """Swap the body of our agenda, keeping the text around it byte for byte."""
    kept_sep = description[found.start : description.find(BEGIN, found.start)]
    return (
        description[: found.start]
        + chunk(body, kept_sep if kept_sep else sep)
        + description[found.end :]
    )


def strip(description: str, found: Found) -> str:
    """Remove our agenda chunk (separator included): the description as the person left it."""
    return description[: found.start] + description[found.end :]


class TextSplicer:
    """Plain-text descriptions (CalDAV, Google, Outlook text bodies): the functions above."""

    find = staticmethod(find)
    insert = staticmethod(insert)
    replace = staticmethod(replace)
    strip = staticmethod(strip)
    fingerprint = staticmethod(fingerprint)


TEXT = TextSplicer()
