"""Splicing a region into an HTML body (Outlook / Microsoft 365) without touching a person's HTML.

Outlook does not keep HTML as it was sent: it wraps a fragment in ``<html><head><meta ...>
</head><body>``, re-serialises tags and attributes, adds classes and styles, and turns spaces
into ``&nbsp;``. Marker *comments* or ids would not survive that, so the markers are visible
paragraphs whose **text** is the same marker text the plain-text splicer uses, and matching
looks at text only: an element whose whole text is a marker, or a line of it (a text body that
Exchange hands back as HTML keeps its lines apart with <br>). A chunk is ``<p>BEGIN</p>`` +
body + ``<p>END</p>``, inserted just before ``</body>`` (or at the end of a fragment).

The fingerprint of a body is taken over a normalised text extraction (block elements become
line breaks, runs of white space one space), so Outlook re-serialising our HTML is not mistaken
for a person's edit, while any change of the words is. The safety rules are those of
agent.text.splice: only a pair whose fingerprint callplan recorded is ours; imitation markers
are a person's text; stripping removes exactly the chunk found, so the rest of the body comes
back exactly as it was read.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable

from agent.core.fingerprint import fingerprint
from agent.core.htmltext import Scan, text_of
from agent.text.splice.markers import AGENDA, Found, Markers, Splicer

MARKER_STYLE = "color:#666666"
BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)


def from_text(text: str) -> str:
    """HTML that reads as `text`: a paragraph per run of lines (blank lines part them), its lines
    apart by <br>, everything escaped. `text_of` gives the text back, white space aside."""
    runs = [run for run in re.split(r"\n[ \t]*\n", text.replace("\r\n", "\n")) if run.strip()]
    return "\n".join(
        "<p>" + "<br>\n".join(html.escape(line) for line in run.strip("\n").split("\n")) + "</p>"
        for run in runs
    )


def _marker(text: str) -> str:
    return f'<p style="{MARKER_STYLE}">{html.escape(text)}</p>'


def _text_fingerprint(body: str) -> str:
    return fingerprint(text_of(body))


class HtmlSplicer(Splicer):
    """HTML bodies."""

    def __init__(
        self, markers: Markers, fingerprint: Callable[[str], str] = _text_fingerprint
    ) -> None:
        super().__init__(markers, fingerprint)

    def pairs(self, description: str) -> tuple[list[tuple[int, int, str]], bool]:
        begin, end = self.markers
        scan = Scan(description)
        ends = scan.markers(end)
        pairs = []
        for begin_start, begin_end in scan.markers(begin):
            closing = next(((start, stop) for start, stop in ends if start >= begin_end), None)
            if closing is not None:
                pairs.append((begin_start, closing[1], description[begin_end : closing[0]]))
        text = scan.text()
        return pairs, begin in text or end in text

    def chunk(self, body: str, sep: str) -> str:
        begin, end = self.markers
        return f"{sep}{_marker(begin)}\n{body}\n{_marker(end)}"

    @staticmethod
    def insertion_point(description: str) -> int:
        """Where a region goes: just before the end of the body (at the end of a fragment)."""
        ends = list(BODY_END.finditer(description))
        return ends[-1].start() if ends else len(description)

    def insert(self, description: str, body: str) -> tuple[str, str]:
        at = self.insertion_point(description)
        return description[:at] + self.chunk(body, "") + description[at:], ""

    def replace(self, description: str, found: Found, body: str, sep: str) -> str:
        """Swap our chunk for a new one; the HTML around it stays as it was read."""
        return description[: found.start] + self.chunk(body, sep) + description[found.end :]


HTML = HtmlSplicer(AGENDA)
