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

# Tags that say a text is HTML (a text body with tags in it, as Google's editor leaves one).
HTML_TAG = re.compile(
    r"</?(?:p|br|div|li|ul|ol|span|b|strong|i|em|html|body|font|table|h[1-6])\b[^>]*>", re.I
)

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
    """One pass over an HTML document: the source span and text of every element, and of every
    line (the text between two line breaks, as a person sees it: a plain-text body shown as
    HTML keeps its lines apart with <br>, not in elements of their own)."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.source = source
        self.pieces: list[str] = []
        self.spans: list[tuple[int, int, str]] = []  # (start, end, normalised text) per element
        self.lines: list[tuple[int, int, str]] = []  # (start, end, normalised text) per line
        self._stack: list[_Open] = []
        self._lines = [0] + [match.end() for match in re.finditer("\n", source)]
        self._hidden = 0
        self._line_start: int | None = None  # where the line being read starts in the source
        self._line_text: list[str] = []
        self.feed(source)
        self.close()
        while self._stack:
            self._finish(self._stack.pop(), len(source))
        self._break(len(source))

    def _break(self, at: int) -> None:
        """A line ends at `at`: record it, its span trimmed of the white space around it."""
        text = " ".join("".join(self._line_text).replace("\xa0", " ").split())
        if self._line_start is not None and text:
            raw = self.source[self._line_start : at]
            start = self._line_start + len(raw) - len(raw.lstrip(" \t\r\n"))
            self.lines.append((start, at - len(raw) + len(raw.rstrip(" \t\r\n")), text))
        self._line_start, self._line_text = None, []

    def _inline(self, at: int) -> None:
        if self._line_start is None and not self._hidden:
            self._line_start = at

    def _offset(self) -> int:
        line, column = self.getpos()
        return self._lines[line - 1] + column

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        start = self._offset()
        if tag in BLOCKS:
            self.pieces.append("\n")
            self._break(start)
        else:
            self._inline(start)
        if tag in VOID:
            self.spans.append((start, start + len(self.get_starttag_text() or ""), ""))
            return
        self._hidden += tag in INVISIBLE
        self._stack.append(_Open(tag, start, len(self.pieces)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        start = self._offset()
        if tag in BLOCKS:
            self.pieces.append("\n")
            self._break(start)
        else:
            self._inline(start)
        self.spans.append((start, start + len(self.get_starttag_text() or ""), ""))

    def handle_endtag(self, tag: str) -> None:
        if not any(element.tag == tag for element in self._stack):
            return  # a stray end tag closes nothing
        start = self._offset()
        if tag in BLOCKS:
            self._break(start)
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
            self._inline(self._offset())
            self._line_text.append(data)

    def text(self) -> str:
        return normal_text("".join(self.pieces))

    def markers(self, marker: str) -> list[tuple[int, int]]:
        """Where `marker` stands on its own, in document order: the outermost elements whose
        whole text it is, and lines whose whole text it is outside such an element."""
        found = sorted((start, -end) for start, end, text in self.spans if text == marker)
        outermost: list[tuple[int, int]] = []
        for start, negative_end in found:
            if not outermost or start >= outermost[-1][1]:
                outermost.append((start, -negative_end))
        lines = [
            (start, end)
            for start, end, text in self.lines
            if text == marker and not any(s <= start and end <= e for s, e in outermost)
        ]
        return sorted(outermost + lines)


def text_of(fragment: str) -> str:
    """The normalised text a person reads in an HTML fragment."""
    return Scan(fragment).text()


def looks_like_html(text: str) -> bool:
    return bool(HTML_TAG.search(text))


def plain_text(description: str, body_format: BodyFormat) -> str:
    """What a person reads in a description: HTML as its text, text as it is."""
    if body_format is BodyFormat.HTML:
        return text_of(description)
    return description
