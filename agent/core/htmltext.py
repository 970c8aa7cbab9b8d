"""HTML as the text a person reads in it.

Outlook bodies are HTML that the provider re-serialises at will; whether a person changed
what callplan wrote is decided on the text a person reads, line by line, white space
collapsed. The HTML splicer uses the same scan to find its marker paragraphs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser

from agent.core.model import BodyFormat

# Elements that start a new line of text; inline ones (span, b, a...) do not.
BLOCKS = frozenset(
    "address article aside blockquote body br dd div dl dt fieldset figure footer form h1 h2 h3 h4 "
    "h5 h6 "
    "header hr html li main nav ol p pre section table tbody td tfoot th thead tr ul".split()
)
VOID = frozenset("area base br col embed hr img input link meta source track wbr".split())
INVISIBLE = frozenset({"head", "script", "style", "title", "template"})


def normal_text(text: str) -> str:
    """Lines with white space (non-breaking included) collapsed, blank lines dropped."""
    lines = (" ".join(line.replace("\xa0", " ").split()) for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


@dataclass
class _Open:
    tag: str
    start: int
    text_from: int  # index into the scanner's text pieces


class Scan(HTMLParser):
    """One pass over an HTML document: the source span and text of every element."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.source = source
        self.pieces: list[str] = []
        self.spans: list[tuple[int, int, str]] = []  # (start, end, normalised text) per element
        self._stack: list[_Open] = []
        self._lines = [0] + [match.end() for match in re.finditer("\n", source)]
        self._hidden = 0
        self.feed(source)
        self.close()
        while self._stack:
            self._finish(self._stack.pop(), len(source))

    def _offset(self) -> int:
        line, column = self.getpos()
        return self._lines[line - 1] + column

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        start = self._offset()
        if tag in BLOCKS:
            self.pieces.append("\n")
        if tag in VOID:
            self.spans.append((start, start + len(self.get_starttag_text() or ""), ""))
            return
        self._hidden += tag in INVISIBLE
        self._stack.append(_Open(tag, start, len(self.pieces)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in BLOCKS:
            self.pieces.append("\n")
        start = self._offset()
        self.spans.append((start, start + len(self.get_starttag_text() or ""), ""))

    def handle_endtag(self, tag: str) -> None:
        if not any(element.tag == tag for element in self._stack):
            return  # a stray end tag closes nothing
        start = self._offset()
        end = self.source.find(">", start) + 1 or len(self.source)
        while self._stack:
            element = self._stack.pop()
            if element.tag == tag:
                self._finish(element, end)
                return
            self._finish(element, start)  # closed implicitly by an ancestor's end tag

    def _finish(self, element: _Open, end: int) -> None:
        self._hidden -= element.tag in INVISIBLE
        if element.tag in BLOCKS:
            self.pieces.append("\n")
        self.spans.append(
            (element.start, end, normal_text("".join(self.pieces[element.text_from :])))
        )

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.pieces.append(data)

    def text(self) -> str:
        return normal_text("".join(self.pieces))

    def markers(self, marker: str) -> list[tuple[int, int]]:
        """The outermost elements whose whole text is `marker`, in document order."""
        found = sorted((start, -end) for start, end, text in self.spans if text == marker)
        outermost: list[tuple[int, int]] = []
        for start, negative_end in found:
            if not outermost or start >= outermost[-1][1]:
                outermost.append((start, -negative_end))
        return outermost


def text_of(fragment: str) -> str:
    """The normalised text a person reads in an HTML fragment."""
    return Scan(fragment).text()


def plain_text(description: str, body_format: BodyFormat) -> str:
    """What a person reads in a description: HTML as its text, text as it is."""
    if body_format is BodyFormat.HTML:
        return text_of(description)
    return description
