"""Splicing the agenda into an HTML body (Outlook / Microsoft 365) without touching a person's HTML.

Outlook does not keep HTML as it was sent: it wraps a fragment in ``<html><head><meta ...>
</head><body>``, re-serialises tags and attributes, adds classes and styles, and turns spaces
into ``&nbsp;``. Marker *comments* or ids would not survive that, so the markers are visible
paragraphs whose **text** is the same marker text the plain-text splicer uses, and matching
looks at an element's text only. The agenda chunk is ``<p>BEGIN</p>`` + body + ``<p>END</p>``,
inserted just before ``</body>`` (or at the end of a fragment).

The fingerprint of a body is taken over a normalised text extraction (block elements become
line breaks, runs of white space one space), so Outlook re-serialising our HTML is not mistaken
for a person's edit, while any change of the words is. The safety rules are those of
agent.text.splice: only the pair whose fingerprint matches the agenda tag is ours; imitation markers
are a person's text; stripping removes exactly the chunk found, so the rest of the body comes
back exactly as it was read.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from html.parser import HTMLParser

from agent.core.model import AgendaTag, fingerprint
from agent.text.splice import BEGIN, END, Found, locate

# Elements that start a new line of text; inline ones (span, b, a...) do not.
BLOCKS = frozenset(
    "address article aside blockquote body br dd div dl dt fieldset figure footer form h1 h2 h3 h4 h5 h6 "
    "header hr html li main nav ol p pre section table tbody td tfoot th thead tr ul".split()
)
VOID = frozenset("area base br col embed hr img input link meta source track wbr".split())
INVISIBLE = frozenset({"head", "script", "style", "title", "template"})
MARKER_STYLE = "color:#666666"
BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)


def normal_text(text: str) -> str:
    """Lines with white space (non-breaking included) collapsed, blank lines dropped."""
    lines = (" ".join(line.replace("\xa0", " ").split()) for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


@dataclass
class _Open:
    tag: str
    start: int
    text_from: int  # index into the scanner's text pieces


class _Scan(HTMLParser):
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
        self.spans.append((element.start, end, normal_text("".join(self.pieces[element.text_from :]))))

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
    return _Scan(fragment).text()


def from_text(text: str) -> str:
    """HTML that reads as `text`: a paragraph per run of lines (blank lines part them), its lines
    apart by <br>, everything escaped. `text_of` gives the text back, white space aside."""
    runs = [run for run in re.split(r"\n[ \t]*\n", text.replace("\r\n", "\n")) if run.strip()]
    return "\n".join("<p>" + "<br>\n".join(html.escape(line) for line in run.strip("\n").split("\n")) + "</p>" for run in runs)


def _pairs(description: str) -> tuple[list[tuple[int, int, str]], bool]:
    scan = _Scan(description)
    ends = scan.markers(END)
    pairs = []
    for begin_start, begin_end in scan.markers(BEGIN):
        closing = next(((start, end) for start, end in ends if start >= begin_end), None)
        if closing is not None:
            pairs.append((begin_start, closing[1], description[begin_end : closing[0]]))
    text = scan.text()
    return pairs, BEGIN in text or END in text


def _marker(text: str) -> str:
    return f'<p style="{MARKER_STYLE}">{html.escape(text)}</p>'


class HtmlSplicer:
    """The agent.text.splice.Splicer for HTML bodies."""

    @staticmethod
    def fingerprint(body: str) -> str:
        return fingerprint(text_of(body))

    def find(self, description: str, tag: AgendaTag | None) -> Found:
        pairs, has_marker_text = _pairs(description)
        return locate(description, pairs, has_marker_text, tag, self.fingerprint)

    @staticmethod
    def chunk(body: str, sep: str) -> str:
        return f"{sep}{_marker(BEGIN)}\n{body}\n{_marker(END)}"

    @staticmethod
    def insertion_point(description: str) -> int:
        """Where the agenda goes: just before the end of the body (at the end of a fragment)."""
        ends = list(BODY_END.finditer(description))
        return ends[-1].start() if ends else len(description)

    def insert(self, description: str, body: str) -> tuple[str, str]:
        at = self.insertion_point(description)
        return description[:at] + self.chunk(body, "") + description[at:], ""

    def replace(self, description: str, found: Found, body: str, sep: str) -> str:
        """Swap our chunk for a new one; the HTML around it stays as it was read."""
        return description[: found.start] + self.chunk(body, sep) + description[found.end :]

    @staticmethod
    def strip(description: str, found: Found) -> str:
        return description[: found.start] + description[found.end :]


HTML = HtmlSplicer()
