"""A form's body as the lines a person sees: plain text as it is, HTML as its text.

Sellers fill in callplan's forms (the debrief, the call plan in the prep) in whatever client
they use, and Outlook hands the text back as HTML. The form reader (agent.text.form) works on
lines; this module turns a body into them, keeping nesting as indentation, because nesting
decides what is shared: a nested bullet or a further line under a shared item is private.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import NamedTuple

from agent.core.htmltext import looks_like_html

BLOCK_TAG = re.compile(r"<(?:p|div|br|li|tr|h[1-6])\b", re.I)

MSO_LEVEL = re.compile(r"mso-list:\s*l\d+\s+level(\d+)", re.I)
MARGIN_LEFT = re.compile(r"margin-left:\s*(-?[\d.]+)\s*(pt|px|cm|mm|in|em)?", re.I)
POINTS = {"pt": 1.0, "px": 0.75, "cm": 28.35, "mm": 2.835, "in": 72.0, "em": 12.0, None: 0.75}
INDENT_STEP = 36.0  # points: one step of Outlook's "Increase indent", and of a list level


def _indent_steps(style: str) -> int:
    """How many indentation steps a block's inline margin-left amounts to (0 if none)."""
    found = MARGIN_LEFT.search(style)
    if not found:
        return 0
    points = float(found.group(1)) * POINTS[found.group(2) and found.group(2).lower()]
    return max(0, round(points / INDENT_STEP)) if points >= INDENT_STEP / 2 else 0


class _Text(HTMLParser):
    """The lines of an HTML body as a person sees them, nesting kept as indentation.

    A block (paragraph, div, list item) or a <br> ends a line, and an empty paragraph is a
    blank line. A list item starts with "- ", indented two spaces per enclosing list, and a
    further line inside it (after a <br>, or a paragraph of its own) is indented under it.
    Outlook's pseudo-lists (paragraphs styled `mso-list:l0 level2`, whose bullet is a span
    styled mso-list:Ignore) are indented by their level; a block indented with margin-left,
    a blockquote, a text body Exchange wrapped in a PlainText div (leading spaces kept) and
    leading non-breaking spaces are indented too. Indentation matters: a nested bullet or a
    further line of a shared item is private (see parse). Newlines in the source are spaces,
    as in any browser.
    """

    BLOCKS = frozenset(
        "p div li tr h1 h2 h3 h4 h5 h6 ul ol table blockquote pre dt dd hr section".split()
    )
    HIDDEN = frozenset({"style", "script", "head", "title", "xml"})

    def __init__(self, text_body: bool = False) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.current: list[str] = []
        # a text body with tags in it: its leading spaces are the seller's, as in plain text
        self.opened: list[_Block] = [_Block("", 0, 0, True)] if text_body else []
        self.hidden = 0
        self.ignored_spans = 0  # depth inside an mso-list:Ignore span
        self.bullet: int | None = None  # the indentation of the bullet that starts the next line

    @property
    def indent(self) -> int:
        return sum(block.indent for block in self.opened)

    def _end_line(self, blank: bool = False) -> None:
        raw = "".join(self.current)
        self.current = []
        text = " ".join(raw.replace("\xa0", " ").split())
        if not text:
            if blank:
                self.lines.append("")
            return
        if self.bullet is not None:
            prefix = " " * self.bullet + "- "
            self.bullet = None
        else:
            prefix = " " * (self.indent + self._leading(raw))
        self.lines.append(prefix + text)

    def _leading(self, raw: str) -> int:
        """Indentation typed as spaces: leading non-breaking spaces, or any leading spaces in
        a text body shown as HTML (a PlainText div or <pre>), where they are the seller's."""
        lead = raw[: len(raw) - len(raw.lstrip())].rsplit("\n", 1)[-1]
        if "\xa0" in lead or any(block.verbatim for block in self.opened):
            return len(lead.replace("\t", "    "))
        return 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        style = (found.get("style") or "").lower()
        if tag in self.HIDDEN:
            self.hidden += 1
        elif self.ignored_spans and tag == "span":
            self.ignored_spans += 1
        elif tag == "span" and "mso-list:ignore" in style.replace(" ", ""):
            self.ignored_spans = 1
            if self.bullet is None:
                self.bullet = max(self.indent - 2, 0)
        elif tag == "br":
            self._end_line(blank=True)
        elif tag in self.BLOCKS:
            self._end_line()
            classes = (found.get("class") or "").lower().split()
            verbatim = tag == "pre" or "plaintext" in classes
            self.opened.append(
                _Block(tag, len(self.lines), self._block_indent(tag, classes, style), verbatim)
            )

    def _block_indent(self, tag: str, classes: list[str], style: str) -> int:
        """The indentation a block adds to the lines inside it (and the bullet it starts)."""
        if tag in ("ul", "ol", "blockquote"):
            return 2
        if tag == "li":
            self.bullet = max(self.indent - 2, 0)
            return 0
        if tag == "p" and (level := MSO_LEVEL.search(style)):
            depth = 2 * int(level.group(1))
            self.bullet = max(self.indent + depth - 2, 0)
            return depth
        if tag == "p" and any(name.startswith("msolistparagraph") for name in classes):
            return 2  # a list paragraph without its bullet: a further line of the item above
        return 2 * _indent_steps(style)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif self.ignored_spans and tag == "span":
            self.ignored_spans -= 1
        elif tag in self.BLOCKS:
            # the innermost open block of this kind; blocks left open inside it close with it
            index = next(
                (i for i in range(len(self.opened) - 1, -1, -1) if self.opened[i].tag == tag), None
            )
            started = self.opened[index].started if index is not None else -1
            empty = not "".join(self.current).replace("\xa0", " ").strip()
            self._end_line(blank=empty and started == len(self.lines) and tag in ("p", "div"))
            if index is not None:
                del self.opened[index:]
            self.bullet = None  # an empty item or paragraph starts nothing

    def handle_data(self, data: str) -> None:
        if not (self.hidden or self.ignored_spans):
            self.current.append(data)


class _Block(NamedTuple):
    """An open block of an HTML body: where it started and how it indents its lines."""

    tag: str
    started: int  # len(lines) when it opened
    indent: int
    verbatim: bool  # leading spaces are the seller's (a text body shown as HTML)


def html_to_text(html: str, *, text_body: bool = False) -> str:
    """Plain text with one line per paragraph, line break or list item, nesting as indentation.

    `text_body`: plain text with tags in it (as Google's editor writes a description), in
    which a line break is a line break and leading spaces indent, so that no line is ever
    joined to another and a nested line stays nested.
    """
    reader = _Text(text_body)
    reader.feed(html.replace("\n", "<br>") if text_body else html)
    reader.close()
    reader._end_line()
    return "\n".join(reader.lines)


def body_lines(text: str, *, html: bool | None = None) -> list[str]:
    """The lines of a form's body. `html` True: an HTML body (Outlook); None: plain text, in
    which HTML tags are tolerated."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if html and BLOCK_TAG.search(text):
        text = html_to_text(text)
    elif html or looks_like_html(text):
        # Tags in a text body, or "HTML" without a single paragraph or line break: its lines
        # stay lines (joining one to another could pull private text into a shared section)
        text = html_to_text(text, text_body=True)
    return text.split("\n")
