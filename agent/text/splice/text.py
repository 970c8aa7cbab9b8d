"""Splicing a region into a plain-text description (CalDAV, Google, Outlook text bodies).

What the agent inserted is exactly ``sep + BEGIN + "\\n" + body + "\\n" + END``, appended at
the end of the description; everything before and after that chunk belongs to people and is
never rewritten.
"""

from __future__ import annotations

from agent.core.fingerprint import fingerprint
from agent.text.splice.markers import AGENDA, SEPARATOR, Found, Splicer


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


class TextSplicer(Splicer):
    """Plain-text descriptions."""

    def pairs(self, description: str) -> tuple[list[tuple[int, int, str]], bool]:
        begin, end = self.markers
        pairs = []
        position = description.find(begin)
        while position != -1:
            body_start = position + len(begin)
            closing = description.find(end, body_start)
            if closing == -1:
                break
            pairs.append((position, closing + len(end), _inner(description[body_start:closing])))
            position = description.find(begin, position + 1)
        return pairs, begin in description or end in description

    def chunk(self, body: str, sep: str) -> str:
        begin, end = self.markers
        return f"{sep}{begin}\n{body}\n{end}"

    def insert(self, description: str, body: str) -> tuple[str, str]:
        sep = SEPARATOR if description else ""
        return description + self.chunk(body, sep), sep

    def replace(self, description: str, found: Found, body: str, sep: str) -> str:
        """Swap the body of our region, keeping the text around it byte for byte."""
        kept_sep = description[found.start : description.find(self.markers.begin, found.start)]
        return (
            description[: found.start]
            + self.chunk(body, kept_sep if kept_sep else sep)
            + description[found.end :]
        )


TEXT = TextSplicer(AGENDA, fingerprint)
