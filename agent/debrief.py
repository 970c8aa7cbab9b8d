"""Reading back the debrief a seller wrote: a pure, tolerant parser of the debrief form.

Sellers edit the form as they please: they rename or reorder headings, leave fields empty,
write on the heading's line, paste bullets from elsewhere, and Outlook hands the text back
as HTML. The parser finds the sections by their headings (a line that *is* a known heading,
with or without its hint in parentheses and its colon), and reads each one.

The privacy rule (what may ever reach a customer): only the items of the two commitment
sections and the text of the primary-objective section are shared, in the next meeting's
agenda. Everything else is private: the other known sections, any text before the first
heading, and the text under any heading the parser does not know. A line ending in a colon
that is not a known heading is such an unknown heading, so a sub-heading typed inside the
commitment section ("My doubts:") ends it and what follows stays private.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from html.parser import HTMLParser
from typing import Any, Literal

from dateutil import parser as date_parser

from agent.render import Carryover, Commitment

DateOrder = Literal["day-first", "month-first"]

# Each section and the headings that name it (compared after _normal()). The first name of
# each is the form's own heading; the others are what sellers rename it to.
# Each section and the headings that name it (compared after _normal()): the form's own
# heading first, then what sellers rename it to. The names of the shared sections are kept
# specific, so that a stray "Customer:" line in a private note does not open one.
HEADINGS: dict[str, tuple[str, ...]] = {
    "liked": ("What I liked about this meeting", "What I liked", "Liked", "What went well", "Went well", "Good"),
    "differently": ("What I would do differently next time", "What I would do differently", "Do differently",
                    "Differently", "What to improve", "Improve", "Lessons", "Lessons learned"),
    "authority": ("Authority", "A", "Buying process", "Decision process", "Who decides", "Decision makers"),
    "theirs": ("Commitment, customer", "Customer commitment", "Commitment, them", "Commitment, their side",
               "Commitment, theirs", "Their commitment", "Commitment, client", "Client commitment"),
    "ours": ("Commitment, us", "Our commitment", "Commitment, our side", "Commitment, ours", "Commitment, we"),
    "objective": ("Primary objective of the next meeting", "Primary objective", "Objective of the next meeting",
                  "Next meeting objective", "Goal of the next meeting", "Next meeting goal"),
    "time": ("Time", "T", "Timing", "Dates", "Timeline"),
    "interest": ("Interest", "I", "Interest, need, why", "Need", "Why", "Business reasons"),
    "questions": ("Still to discover", "Questions", "Questions to ask", "Open questions", "To discover",
                  "Questions for next time"),
    "overview": ("Overview", "O", "Summary", "Agreed summary", "Recap"),
    "next_steps": ("Next steps agreed", "Next steps", "Agreed next steps", "Action items", "Actions"),
    "next_meeting": ("Next meeting scheduled?", "Next meeting scheduled", "Next meeting", "Follow-up meeting"),
    "openers": ("Opening statement ideas for next time", "Opening statement ideas", "Opening statements",
                "Opening ideas", "Openers"),
    "notes": ("Notes", "N", "Other notes", "Anything else", "Other"),
}  # fmt: skip
SHARED_SECTIONS = frozenset({"theirs", "ours", "objective"})

LIST_MARK = re.compile(r"^\s*(?:[-*+•·▪◦‣§–—]|\d{1,2}[.)])(?=\s|\[|$)\s*")
BOX = re.compile(r"^\[(?P<mark>[ xX✓✔]?)\]\s*")
EMPTY_BOX = re.compile(r"\[\s?\]")
DONE_MARK = re.compile(r"^(?:[✓✔☑✅]|done\s*[:\-–])\s*|\s*[(\[]done[)\]]\s*", re.I)
SUBJECT = re.compile(
    r"^(?:(?:they|we|i|you|the customer|customer|us)\s*(?:will|'ll|’ll|shall|are to|to)|[A-Z][a-z]+ will)\s+", re.I
)
DUE_WORD = re.compile(r"\b(?:by|until|till|due(?: on| by)?|before|deadline)\b", re.I)
DUE_TAIL = re.compile(r"[:\s]+(?P<when>[^()]{1,40}?)\s*\)?\s*[.;]?\s*$")
MONTHS = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
WEEKDAYS = r"(?:mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)[a-z]*\.?"
DATE_TOKEN = (
    rf"(?:{WEEKDAYS},?\s+)?(?:\d{{4}}-\d{{2}}-\d{{2}}|\d{{1,2}}[./]\d{{1,2}}(?:[./]\d{{2,4}})?\.?"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+{MONTHS}(?:\s+\d{{4}})?|{MONTHS}\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?)"
)
TRAILING_DATE = re.compile(rf"[\s,;:(–—-]*(?:\bon\s+)?\(?(?P<when>{DATE_TOKEN})\)?\s*[.;]?\s*$", re.I)
DATE_LIKE = re.compile(rf"^(?:{DATE_TOKEN}|{WEEKDAYS})$", re.I)
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
NUMERIC_DATE = re.compile(r"(\d{1,2})[./](\d{1,2})(?:[./](\d{4}|\d{2}))?")
RELATIVE = {"tomorrow": 1}
BLOCK_TAG = re.compile(r"<(?:p|div|br|li|tr|h[1-6])\b", re.I)
HTML_TAG = re.compile(r"</?(?:p|br|div|li|ul|ol|span|b|strong|i|em|html|body|font|table|h[1-6])\b[^>]*>", re.I)


@dataclass(frozen=True)
class Item:
    """One commitment or next step: what, by when (a date when it parses), and whether done."""

    what: str
    due: date | None = None
    due_text: str = ""  # the date as the seller wrote it
    done: bool = False

    @property
    def due_label(self) -> str:
        """The due date as shown to people: "Mon 25 Mar 2030", or the seller's words."""
        return self.due.strftime("%a %d %b %Y") if self.due else self.due_text


@dataclass(frozen=True)
class Debrief:
    """What a seller wrote into one debrief form, section by section."""

    liked: str = ""
    differently: str = ""
    authority: str = ""
    theirs: tuple[Item, ...] = ()
    ours: tuple[Item, ...] = ()
    objective: str = ""
    time: str = ""
    interest: str = ""
    questions: tuple[str, ...] = ()
    overview: str = ""
    next_steps: tuple[Item, ...] = ()
    next_meeting: str = ""
    openers: tuple[str, ...] = ()
    notes: str = ""
    other: tuple[str, ...] = field(default=())  # text under headings the parser does not know: private

    @property
    def written(self) -> bool:
        """Did the seller write anything at all into the form's sections?"""
        return any(getattr(self, name) for name in self.__dataclass_fields__)

    def steps(self) -> tuple[Item, ...]:
        """The next steps this debrief agreed: open commitments of both sides and next-step lines."""
        return tuple(item for item in self.theirs + self.ours + self.next_steps if not item.done)

    @property
    def dated_next_steps(self) -> bool:
        """At least one next step was recorded, and every one of them has a date."""
        steps = self.steps()
        return bool(steps) and all(item.due is not None for item in steps)

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=_json_default, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Debrief:
        data = json.loads(text)
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        for name in ("theirs", "ours", "next_steps"):
            known[name] = tuple(_item_from(entry) for entry in known.get(name, ()))
        for name in ("questions", "openers", "other"):
            known[name] = tuple(known.get(name, ()))
        return cls(**known)


def _json_default(value: Any) -> str:
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(type(value))


def _item_from(entry: dict[str, Any]) -> Item:
    due = entry.get("due")
    return Item(entry["what"], date.fromisoformat(due) if due else None, entry.get("due_text", ""), entry.get("done", False))


# --- HTML to text ---------------------------------------------------------------------------


class _Text(HTMLParser):
    """The lines of an HTML body as a person sees them: a block (paragraph, div, list item)
    or a <br> ends a line, an empty paragraph is a blank line, list items start with "- ",
    and Outlook's pseudo-list bullets (spans styled mso-list:Ignore) become "- ". Newlines
    in the source are spaces, as in any browser."""

    BLOCKS = frozenset("p div li tr h1 h2 h3 h4 h5 h6 ul ol table blockquote pre dt dd hr section".split())
    HIDDEN = frozenset({"style", "script", "head", "title", "xml"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.current: list[str] = []
        self.opened: list[int] = []  # len(lines) when each open block started
        self.hidden = 0
        self.ignored_spans = 0  # depth inside an mso-list:Ignore span

    def _end_line(self, blank: bool = False) -> None:
        text = " ".join("".join(self.current).replace("\xa0", " ").split())
        if text or blank:
            self.lines.append(text)
        self.current = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.HIDDEN:
            self.hidden += 1
        elif self.ignored_spans and tag == "span":
            self.ignored_spans += 1
        elif tag == "span" and "mso-list:ignore" in (dict(attrs).get("style") or "").replace(" ", "").lower():
            self.ignored_spans = 1
            self.current = ["- "] + self.current
        elif tag == "br":
            self._end_line(blank=True)
        elif tag in self.BLOCKS:
            self._end_line()
            self.opened.append(len(self.lines))
            if tag == "li":
                self.current = ["- "]

    def handle_endtag(self, tag: str) -> None:
        if tag in self.HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif self.ignored_spans and tag == "span":
            self.ignored_spans -= 1
        elif tag in self.BLOCKS:
            started = self.opened.pop() if self.opened else -1
            empty = not "".join(self.current).replace("\xa0", " ").strip()
            self._end_line(blank=empty and started == len(self.lines) and tag in ("p", "div"))

    def handle_data(self, data: str) -> None:
        if not (self.hidden or self.ignored_spans):
            self.current.append(data)


def html_to_text(html: str) -> str:
    """Plain text with one line per paragraph, line break or list item."""
    reader = _Text()
    reader.feed(html)
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
    return " ".join(word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word for word in words)


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
    plain = re.sub(r"\([^)]*\)?", " ", DECORATION.sub("", label)).strip(" -–—.")
    for candidate in (plain, LETTER_PREFIX.sub("", plain)):
        if section := NAMES.get(_normal(candidate)):
            return section
    return None


def heading(line: str) -> tuple[str, str] | None:
    """(section, text written on the heading's line) when the line is a heading, else None.

    The section is "other" for an unknown heading: a short line ending in a colon. A shared
    section's heading needs its colon or heading markup ("## Our commitments", "**...**"): a
    plain line that happens to read like one is taken for a heading only where that makes
    text more private, never less.
    """
    text = line.strip()
    if not text or LIST_MARK.match(text) or BOX.match(text):
        return None
    label, rest, colon = _split_colon(text)
    if rest.lstrip().startswith(("*", "_")):
        rest = DECORATION.sub("", rest, count=1)
    section = _label_section(label)
    formatted = text.startswith("#") or (text[:2] in ("**", "__") and text.rstrip(":")[-2:] == text[:2])
    if section is not None and (colon or formatted or section not in SHARED_SECTIONS):
        return section, rest.strip()
    if colon and not DECORATION.sub("", rest).strip() and 0 < len(label.split()) <= 8:
        return "other", ""
    return None


# --- the parser -----------------------------------------------------------------------------


def _sections(lines: list[str]) -> list[tuple[str, list[str]]]:
    """The lines grouped under their headings; text before the first heading is dropped."""
    groups: list[tuple[str, list[str]]] = []
    for line in lines:
        found = heading(line)
        if found is not None:
            section, rest = found
            groups.append((section, [rest] if rest else []))
        elif groups:
            groups[-1][1].append(line)
    return groups


def _lines_of(text: str) -> list[str]:
    """The entries of a private list: its non-empty lines (list markers already dropped)."""
    return [line.strip() for line in text.split("\n") if line.strip() and not EMPTY_BOX.fullmatch(line.strip())]


def _shared_entries(lines: list[str]) -> tuple[list[str], list[str]]:
    """(entries, the rest) of a commitment section, read narrowly because it is shared.

    Entries are the list lines right under the heading (indented lines continue one), or,
    when the seller uses no list markers, the plain lines up to the first blank line. The
    first line that breaks that pattern ends what is shared: it and the lines after it are
    the rest, which stays private.
    """
    entries: list[str] = []
    listed = gap = False
    for number, line in enumerate(lines):
        if not line.strip():
            gap = bool(entries)
            continue
        marked = LIST_MARK.match(line)
        text = (line[marked.end() :] if marked else line).strip()
        if marked or BOX.match(line.strip()):
            if text and not EMPTY_BOX.fullmatch(text):
                entries.append(text)
                listed = True
            gap = False
        elif line[:1].isspace() and entries and not gap:
            entries[-1] += " " + text
        elif not listed and not gap:
            entries.append(text)
        else:
            return entries, lines[number:]
    return entries, []


def _shared_paragraph(lines: list[str]) -> tuple[str, list[str]]:
    """(the first paragraph, the rest) of the objective: only the text right under its
    heading, up to the first blank line, is shared."""
    taken: list[str] = []
    for number, line in enumerate(lines):
        if not line.strip():
            if taken:
                return " ".join(taken), lines[number:]
            continue
        marked = LIST_MARK.match(line)
        taken.append((line[marked.end() :] if marked else line).strip())
    return " ".join(" ".join(taken).split()), []


def _paragraph(lines: list[str]) -> str:
    """Free text: list markers dropped, lines joined, blank lines between paragraphs kept."""
    text = "\n".join(LIST_MARK.sub("", line).rstrip() if LIST_MARK.match(line) else line.strip() for line in lines)
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
    candidates = [(word.start(), DUE_TAIL.match(text, word.end())) for word in DUE_WORD.finditer(text)]
    candidates.append((-1, TRAILING_DATE.search(text)))
    for cut, match in candidates:  # "by Friday", the first that is a date; else a date at the end
        if match and (when := parse_date(match.group("when"), meeting_day, order)):
            due, due_text, text = when, match.group("when").strip(), text[: cut if cut >= 0 else match.start()]
            break
    what = text.rstrip(" ,;:(-–—").strip(" ,;:-–—").strip()
    if not what:
        return None
    if len(what) > 1 and what[0].isupper() and what[1:2].islower() and what.split()[0][1:].islower():
        what = what[0].lower() + what[1:]
    return Item(what, due, due_text, done)


def parse(text: str, meeting_day: date, *, html: bool | None = None, order: DateOrder = "day-first") -> Debrief:
    """Read a filled-in debrief form agreed at a meeting on `meeting_day`.

    `html` True: an HTML body (Outlook); None: plain text, in which HTML tags are tolerated.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if html and BLOCK_TAG.search(text):
        text = html_to_text(text)
    elif html or looks_like_html(text):
        # Tags in a text body, or "HTML" without a single paragraph or line break: read each
        # line on its own, so that no line is ever joined to another (which could pull
        # private text into a shared section).
        text = "\n".join(html_to_text(line) for line in text.split("\n"))
    lines = text.split("\n")
    collected: dict[str, list[str]] = {}
    shared: dict[str, list[str]] = {"theirs": [], "ours": [], "objective": []}
    private_rest: list[str] = []
    rest: list[str]
    for section, body in _sections(lines):
        if section in ("theirs", "ours"):
            entries, rest = _shared_entries(body)
            shared[section] += entries
        elif section == "objective":
            objective, rest = _shared_paragraph(body)
            shared[section] += [objective] if objective else []
        else:
            rest = []
            collected.setdefault(section, []).append(_paragraph(body))
        if block := _paragraph(rest):
            private_rest.append(block)

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
        objective=" ".join(" ".join(shared["objective"]).split()),
        time=paragraph("time"),
        interest=paragraph("interest"),
        questions=tuple(entries_of("questions")),
        overview=paragraph("overview"),
        next_steps=items(entries_of("next_steps")),
        next_meeting=paragraph("next_meeting"),
        openers=tuple(entries_of("openers")),
        notes=paragraph("notes"),
        other=tuple(block for block in [paragraph("other"), *private_rest] if block),
    )


def carryover(debrief: Debrief, meeting_title: str, meeting_day: date, today: date) -> Carryover:
    """What a debrief carries into the next meeting with the customer: its open commitments
    (flagged overdue when their date is before `today`), objective, questions and ideas."""

    def open_items(who: str, items: tuple[Item, ...]) -> tuple[Commitment, ...]:
        return tuple(
            Commitment(who, item.what, item.due_label, overdue=item.due is not None and item.due < today)
            for item in items
            if not item.done
        )

    return Carryover(
        meeting_title=meeting_title,
        meeting_date=meeting_day.strftime("%a %d %b %Y"),
        objective=debrief.objective,
        commitments=open_items("customer", debrief.theirs) + open_items("us", debrief.ours),
        questions=debrief.questions,
        openers=debrief.openers,
        overview=debrief.overview,
        lessons=debrief.differently,
        next_steps=tuple(
            f"{item.what} (by {item.due_label})" if item.due_label else item.what for item in debrief.next_steps if not item.done
        ),
    )
