"""Reading back the debrief a seller wrote: a pure, tolerant parser of the debrief form.

Sellers edit the form as they please: they rename or reorder headings, leave fields empty,
write on the heading's line, paste bullets from elsewhere, and Outlook hands the text back
as HTML. The parser finds the sections by their headings (a line that *is* a known heading,
with or without its hint in parentheses and its colon), and reads each one.

The privacy rule (what may ever reach a customer): only the commitment items and the first
line of the primary objective are shared, in the next meeting's agenda. Everything else is
private: the other known sections, any text before the first heading, and the text under
any heading the parser does not know (a short line ending in a colon, so a sub-heading typed
inside a commitment section, "My doubts:", ends what is shared). Shared means the item
itself: a nested item or a further line under it is private, and so is whatever breaks the
list right under a shared heading. Sellers mark what is not for the customer with words
(agent.text.privacy): a mark in a heading makes its section private, a line of a shared section
that starts with one starts a private section, and any other line that carries one is held
back. Held-back lines are listed (`Debrief.withheld`) so that the next prep can show them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from html.parser import HTMLParser
from typing import Literal, NamedTuple

from dateutil import parser as date_parser

from agent.core.debrief import Debrief, Item, Shared
from agent.core.history import Agreed, Carryover, Commitment
from agent.text import privacy

DateOrder = Literal["day-first", "month-first"]

# Each section and the headings that name it (compared after _normal()). The first name of
# each is the form's own heading; the others are what sellers rename it to.
# Each section and the headings that name it (compared after _normal()): the form's own
# heading first, then what sellers rename it to. The names of the shared sections are kept
# specific, so that a stray "Customer:" line in a private note does not open one.
HEADINGS: dict[str, tuple[str, ...]] = {
    "liked": (
        "What I liked about this meeting",
        "What I liked",
        "Liked",
        "What went well",
        "Went well",
        "Good",
    ),
    "differently": (
        "What I would do differently next time",
        "What I would do differently",
        "Do differently",
        "Differently",
        "What to improve",
        "Improve",
        "Lessons",
        "Lessons learned",
    ),
    "authority": (
        "Authority",
        "A",
        "Buying process",
        "Decision process",
        "Who decides",
        "Decision makers",
    ),
    "theirs": (
        "Commitment, customer",
        "Customer commitment",
        "Commitment, them",
        "Commitment, their side",
        "Commitment, theirs",
        "Their commitment",
        "Commitment, client",
        "Client commitment",
    ),
    "ours": (
        "Commitment, us",
        "Our commitment",
        "Commitment, our side",
        "Commitment, ours",
        "Commitment, we",
    ),
    "objective": (
        "Primary objective of the next meeting",
        "Primary objective",
        "Objective of the next meeting",
        "Next meeting objective",
        "Goal of the next meeting",
        "Next meeting goal",
    ),
    "time": ("Time", "T", "Timing", "Dates", "Timeline"),
    "interest": ("Interest", "I", "Interest, need, why", "Need", "Why", "Business reasons"),
    "questions": (
        "Still to discover",
        "Questions",
        "Questions to ask",
        "Open questions",
        "To discover",
        "Questions for next time",
    ),
    "overview": ("Overview", "O", "Summary", "Agreed summary", "Recap"),
    "next_steps": (
        "Next steps agreed",
        "Next steps",
        "Agreed next steps",
        "Action items",
        "Actions",
    ),
    "next_meeting": (
        "Next meeting scheduled?",
        "Next meeting scheduled",
        "Next meeting",
        "Follow-up meeting",
    ),
    "openers": (
        "Opening statement ideas for next time",
        "Opening statement ideas",
        "Opening statements",
        "Opening ideas",
        "Openers",
    ),
    "notes": ("Notes", "N", "Other notes", "Anything else", "Other"),
}
SHARED_SECTIONS = frozenset({"theirs", "ours", "objective"})

LIST_MARK = re.compile(r"^\s*(?:[-*+•·●▪◦○■□▫‣⁃§–—➤►▸]|\d{1,2}[.)])(?=\s|\[|$)\s*")
# Bullets that word processors use for the second and third level of a list: pasted as text,
# a nested item may keep its bullet but lose its indentation.
SUB_BULLETS = {"◦": 2, "○": 2, "▪": 3, "■": 3, "□": 3, "▫": 3, "‣": 3, "⁃": 3, "§": 3}
BOX = re.compile(r"^\[(?P<mark>[ xX✓✔]?)\]\s*")
EMPTY_BOX = re.compile(r"\[\s?\]")
DONE_MARK = re.compile(r"^(?:[✓✔☑✅]|done\s*[:\-–])\s*|\s*[(\[]done[)\]]\s*", re.I)
SUBJECT = re.compile(
    r"^(?:(?:they|we|i|you|the customer|customer|us)\s*(?:will|'ll|’ll|shall|are "
    r"to|to)|[A-Z][a-z]+ will)\s+",
    re.I,
)
DUE_WORD = re.compile(r"\b(?:by|until|till|due(?: on| by)?|before|deadline)\b", re.I)
DUE_TAIL = re.compile(r"[:\s]+(?P<when>[^()]{1,40}?)\s*\)?\s*[.;]?\s*$")
MONTHS = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
WEEKDAYS = r"(?:mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)[a-z]*\.?"
DATE_TOKEN = (
    rf"(?:{WEEKDAYS},?\s+)?(?:\d{{4}}-\d{{2}}-\d{{2}}|\d{{1,2}}[./]\d{{1,2}}(?:[./]\d{{2,4}})?\.?"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+{MONTHS}(?:\s+\d{{4}})?|{MONTHS}\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?)"
)
TRAILING_DATE = re.compile(
    rf"[\s,;:(–—-]*(?:\bon\s+)?\(?(?P<when>{DATE_TOKEN})\)?\s*[.;]?\s*$", re.I
)
DATE_LIKE = re.compile(rf"^(?:{DATE_TOKEN}|{WEEKDAYS})$", re.I)
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
NUMERIC_DATE = re.compile(r"(\d{1,2})[./](\d{1,2})(?:[./](\d{4}|\d{2}))?")
RELATIVE = {"tomorrow": 1}
BLOCK_TAG = re.compile(r"<(?:p|div|br|li|tr|h[1-6])\b", re.I)
HTML_TAG = re.compile(
    r"</?(?:p|br|div|li|ul|ol|span|b|strong|i|em|html|body|font|table|h[1-6])\b[^>]*>", re.I
)


# --- HTML to text ---------------------------------------------------------------------------

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


def looks_like_html(text: str) -> bool:
    return bool(HTML_TAG.search(text))


# --- headings -------------------------------------------------------------------------------


def _normal(label: str) -> str:
    """A heading reduced to comparable words: case, punctuation, plurals and "I'd" do not matter."""
    text = label.lower().replace("’", "'").replace("i'd", "i would")
    words = re.sub(r"[^a-z0-9?]+", " ", text).replace("?", " ").split()
    return " ".join(
        word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word
        for word in words
    )


NAMES = {_normal(name): section for section, names in HEADINGS.items() for name in names}
DECORATION = re.compile(r"[*_#>`]+")
LETTER_PREFIX = re.compile(r"^\(?[A-Za-z]\)?\s*[-–—.):]\s+")


def _split_colon(line: str) -> tuple[str, str, bool]:
    """(label, rest, had a colon): split at the first colon outside parentheses."""
    depth = 0
    for index, char in enumerate(line):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == ":" and depth <= 0:
            return line[:index], line[index + 1 :], True
    return line, "", False


def _label_section(label: str) -> str | None:
    plain = re.sub(r"\([^)]*\)?|\[[^\]]*\]?", " ", DECORATION.sub("", label)).strip(" -–—.")
    for candidate in (plain, LETTER_PREFIX.sub("", plain)):
        if section := NAMES.get(_normal(candidate)):
            return section
    return None


class Heading(NamedTuple):
    """A line that starts a section."""

    section: (
        str  # a HEADINGS key; "other" for a heading of the seller's own; "private" for a marked one
    )
    rest: str  # the text written on the heading's line
    names_shared: bool  # it names a shared section (marked private or not)


def heading(line: str) -> Heading | None:
    """The heading a line is, or None.

    An unknown heading is a short line ending in a colon ("My read:"): a private section of
    the seller's own. A shared section's heading needs its colon or heading markup ("## Our
    commitments", "**...**"): a plain line that happens to read like one is taken for a
    heading only where that makes text more private, never less. A privacy mark in the
    heading's words or its hint ("Commitment, us (internal notes):", "Objective [confidential]:")
    makes the section private.
    """
    text = line.strip()
    if not text or LIST_MARK.match(text) or BOX.match(text):
        return None
    label, rest, colon = _split_colon(text)
    if rest.lstrip().startswith(("*", "_")):
        rest = DECORATION.sub("", rest, count=1)
    section = _label_section(label)
    formatted = text.startswith("#") or (
        text[:2] in ("**", "__") and text.rstrip(":")[-2:] == text[:2]
    )
    if section is not None and (colon or formatted or section not in SHARED_SECTIONS):
        shared = section in SHARED_SECTIONS
        marked = shared and (privacy.is_marked(label) or privacy.only_marks(rest))
        return Heading(
            "private" if marked else section,
            "" if marked and privacy.only_marks(rest) else rest.strip(),
            shared,
        )
    if colon and not DECORATION.sub("", rest).strip() and 0 < len(label.split()) <= 8:
        return Heading("private" if privacy.is_marked(label) else "other", "", False)
    return None


# --- the parser -----------------------------------------------------------------------------


@dataclass
class _Section:
    """The lines under one heading."""

    name: str  # a HEADINGS key, "other" or "private"
    held: bool  # under a heading that names a shared section: what is not shared was held back
    lines: list[str] = field(default_factory=list)


def _sections(lines: list[str]) -> list[_Section]:
    """The lines grouped under their headings; text before the first heading is dropped.

    Inside a shared section, a line that starts with a privacy mark ("Private: ...", "🔒 ...",
    "INTERNAL", "- Note to self:") starts a private section that lasts until the next heading.
    """
    sections: list[_Section] = []
    for line in lines:
        found = heading(line)
        if found is not None:
            held = found.names_shared or (
                found.section == "private" and bool(sections) and sections[-1].held
            )
            sections.append(_Section(found.section, held))
            line = found.rest
            if not line:
                continue
        if not sections:
            continue
        if sections[-1].name in SHARED_SECTIONS and _opens_private(line):
            sections.append(_Section("private", True))
            if privacy.only_marks(_item_text(line)):
                continue
        sections[-1].lines.append(line)
    return sections


def _opens_private(line: str) -> bool:
    """Does a line of a shared section start a private section? A plain line that starts
    with a mark does, and so does a list item that is only a mark or a marked sub-heading
    ("- Internal notes:"), since what the seller lists under it is theirs too."""
    if not privacy.is_marked(line):
        return False
    if not (LIST_MARK.match(line) or BOX.match(line.strip())):
        return privacy.starts_with_mark(line)
    text = _item_text(line)
    return privacy.only_marks(text) or text.rstrip(" *_").endswith(":")


def _item_text(line: str) -> str:
    """A line without its indentation, list marker and empty checkbox."""
    marker = LIST_MARK.match(line)
    text = (line[marker.end() :] if marker else line).strip()
    return "" if EMPTY_BOX.fullmatch(text) else text


def _indentation(line: str) -> int:
    """How far a line is indented, a tab counting as four spaces."""
    expanded = line.expandtabs(4)
    return len(expanded) - len(expanded.lstrip())


def _lines_of(text: str) -> list[str]:
    """The entries of a private list: its non-empty lines (list markers already dropped)."""
    return [
        line.strip()
        for line in text.split("\n")
        if line.strip() and not EMPTY_BOX.fullmatch(line.strip())
    ]


def _shared_entries(lines: list[str]) -> tuple[list[str], list[str]]:
    """(entries, lines held back) of a commitment section, read narrowly because it is shared.

    Entries are the list items right under the heading, or, when the seller uses no list
    markers, the plain lines up to the first blank line. Only an item's own line is shared:
    a nested item (indented further, or with a second-level bullet such as ◦) and a further
    line indented under it are private, and so is an item with a privacy mark anywhere in
    it. The first line that breaks the pattern ends what is shared: it and the lines after
    it are held back too.
    """
    entries: list[str] = []
    held: list[str] = []
    base: tuple[int, int] | None = None  # the items' indentation and bullet level
    listed = started = gap = ended = False
    for line in lines:
        if not line.strip():
            gap = started
            continue
        started = True
        if ended:
            held.append(line)
            continue
        indent = _indentation(line)
        marker = LIST_MARK.match(line)
        text = _item_text(line)
        if marker or BOX.match(line.strip()):
            level = (indent, SUB_BULLETS.get(marker.group().strip(), 1) if marker else 1)
            if base is not None and (
                level[0] > base[0] or (level[0] == base[0] and level[1] > base[1])
            ):
                held.append(line)  # nested under an item
                continue
            if not text:
                continue  # an empty bullet of the form
            base, listed, gap = level, True, False
        elif base is not None and indent > base[0]:
            held.append(line)  # a further line of the item above
            continue
        elif listed or gap:
            ended = True
            held.append(line)
            continue
        else:
            base = base or (indent, 1)
        (held if privacy.is_marked(text) else entries).append(text)
    return entries, held


def _objective(lines: list[str]) -> tuple[str, list[str]]:
    """(the objective, lines held back): only its first line is shared (the text on the
    heading's line, else the first line under it), unless it carries a privacy mark."""
    written = [line for line in lines if _item_text(line)]
    if not written:
        return "", []
    first = BOX.sub("", _item_text(written[0]))
    if privacy.is_marked(first):
        return "", written
    return " ".join(first.split()), written[1:]


def _paragraph(lines: list[str]) -> str:
    """Free text: list markers dropped, lines joined, blank lines between paragraphs kept."""
    text = "\n".join(
        LIST_MARK.sub("", line).rstrip() if LIST_MARK.match(line) else line.strip()
        for line in lines
    )
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def parse_date(text: str, meeting_day: date, order: DateOrder = "day-first") -> date | None:
    """A due date as a seller writes it, relative to the meeting it was agreed in.

    Weekdays mean the next such day after the meeting; a date without a year is the next
    one on or after the meeting day. Numeric dates follow `order` (ISO dates are ISO).
    """
    words = text.strip().rstrip(".").strip()
    if words.lower() in RELATIVE:
        return meeting_day + timedelta(days=RELATIVE[words.lower()])
    if not DATE_LIKE.match(words) and not DATE_LIKE.match(words + "."):
        return None
    try:
        if ISO_DATE.fullmatch(words):
            return date.fromisoformat(words)
        if numeric := NUMERIC_DATE.fullmatch(words):
            first, second, year = numeric.groups()
            day, month = (first, second) if order == "day-first" else (second, first)
            stated = int(year) + (2000 if len(year) == 2 else 0) if year else meeting_day.year
            parsed = date(stated, int(month), int(day))
        else:
            default = datetime.combine(meeting_day + timedelta(days=1), datetime.min.time())
            parsed = date_parser.parse(words, default=default).date()
    except (ValueError, OverflowError):
        return None
    if parsed < meeting_day and not re.search(r"\d{4}|\d[./]\d{1,2}[./]\d{2}", words):
        parsed = parsed.replace(year=parsed.year + 1)
    return parsed


def parse_item(text: str, meeting_day: date, order: DateOrder = "day-first") -> Item | None:
    """One commitment line: done marks, the subject ("they will"), and the due date."""
    done = False
    box = BOX.match(text)
    if box:
        done = bool(box.group("mark").strip())
        text = text[box.end() :]
    if DONE_MARK.search(text):
        done = True
        text = DONE_MARK.sub(" ", text).strip()
    text = SUBJECT.sub("", text.strip())
    due, due_text = None, ""
    candidates = [
        (word.start(), DUE_TAIL.match(text, word.end())) for word in DUE_WORD.finditer(text)
    ]
    candidates.append((-1, TRAILING_DATE.search(text)))
    for cut, match in candidates:  # "by Friday", the first that is a date; else a date at the end
        if match and (when := parse_date(match.group("when"), meeting_day, order)):
            due, due_text, text = (
                when,
                match.group("when").strip(),
                text[: cut if cut >= 0 else match.start()],
            )
            break
    what = text.rstrip(" ,;:(-–—").strip(" ,;:-–—").strip()
    if not what:
        return None
    if (
        len(what) > 1
        and what[0].isupper()
        and what[1:2].islower()
        and what.split()[0][1:].islower()
    ):
        what = what[0].lower() + what[1:]
    return Item(what, due, due_text, done)


def parse(
    text: str, meeting_day: date, *, html: bool | None = None, order: DateOrder = "day-first"
) -> Debrief:
    """Read a filled-in debrief form agreed at a meeting on `meeting_day`.

    `html` True: an HTML body (Outlook); None: plain text, in which HTML tags are tolerated.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if html and BLOCK_TAG.search(text):
        text = html_to_text(text)
    elif html or looks_like_html(text):
        # Tags in a text body, or "HTML" without a single paragraph or line break: its lines
        # stay lines (joining one to another could pull private text into a shared section)
        text = html_to_text(text, text_body=True)
    collected: dict[str, list[str]] = {}
    shared: dict[str, list[str]] = {"theirs": [], "ours": [], "objective": []}
    private_rest: list[str] = []
    withheld: list[str] = []
    for section in _sections(text.split("\n")):
        held: list[str] = []
        if section.name in ("theirs", "ours"):
            entries, held = _shared_entries(section.lines)
            shared[section.name] += entries
        elif section.name == "objective":
            objective, held = _objective(section.lines)
            shared["objective"] += [objective] if objective else []
        elif section.name == "private":
            held = section.lines
        else:
            collected.setdefault(section.name, []).append(_paragraph(section.lines))
        if block := _paragraph(held):
            private_rest.append(block)
        if section.held:
            withheld += (shown for line in held if (shown := _item_text(line)))

    def items(entries: list[str]) -> tuple[Item, ...]:
        parsed = (parse_item(entry, meeting_day, order) for entry in entries)
        return tuple(item for item in parsed if item is not None)

    def paragraph(name: str) -> str:
        return "\n\n".join(block for block in collected.get(name, []) if block)

    def entries_of(name: str) -> list[str]:
        return _lines_of(paragraph(name))

    return Debrief(
        liked=paragraph("liked"),
        differently=paragraph("differently"),
        authority=paragraph("authority"),
        theirs=items(shared["theirs"]),
        ours=items(shared["ours"]),
        objective=" ".join(shared["objective"]),
        time=paragraph("time"),
        interest=paragraph("interest"),
        questions=tuple(entries_of("questions")),
        overview=paragraph("overview"),
        next_steps=items(entries_of("next_steps")),
        next_meeting=paragraph("next_meeting"),
        openers=tuple(entries_of("openers")),
        notes=paragraph("notes"),
        other=tuple(block for block in [paragraph("other"), *private_rest] if block),
        withheld=tuple(withheld),
    )


def carryover(
    debrief: Debrief,
    meeting_title: str,
    meeting_day: date,
    today: date,
    *,
    settles_at: datetime | None = None,
    settled: Shared | None = None,
) -> Carryover:
    """What a debrief carries into the next meeting with the customer: its open commitments
    (flagged overdue when their date is before `today`), objective, questions and ideas.

    `settles_at` is when the debrief's latest version reaches the agenda if it stays
    unchanged, None when it has; until then the agenda carries `settled`, the shared part of
    the last earlier version that had settled (None: none had, and `agreed` stays None).
    """

    def open_items(who: str, items: tuple[Item, ...], overdue: bool) -> tuple[Commitment, ...]:
        return tuple(
            Commitment(
                who,
                item.what,
                item.due_label,
                overdue=overdue and item.due is not None and item.due < today,
            )
            for item in items
            if not item.done
        )

    def agreed(shared: Shared) -> Agreed:
        commitments = open_items("customer", shared.theirs, False) + open_items(
            "us", shared.ours, False
        )
        return Agreed(meeting_title, label, shared.objective, commitments)

    label = meeting_day.strftime("%a %d %b %Y")
    latest = agreed(debrief.shared)
    carry = Carryover(
        meeting_title=meeting_title,
        meeting_date=label,
        objective=debrief.objective,
        commitments=open_items("customer", debrief.theirs, True)
        + open_items("us", debrief.ours, True),
        questions=debrief.questions,
        openers=debrief.openers,
        overview=debrief.overview,
        lessons=debrief.differently,
        next_steps=tuple(
            f"{item.what} (by {item.due_label})" if item.due_label else item.what
            for item in debrief.next_steps
            if not item.done
        ),
        withheld=debrief.withheld,
    )
    if settles_at is None:
        return carry.carrying(latest)
    waiting = replace(carry, pending=latest, settles_at=settles_at)
    # with no settled version, what the agenda carries now is for the history to say (an
    # earlier debrief's part, or nothing): History.carry_before
    return waiting.carrying(agreed(settled)) if settled is not None else waiting
