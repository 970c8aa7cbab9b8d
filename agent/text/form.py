"""Reading back a form a seller filled in: one tolerant reader, driven by a form's description.

callplan puts two forms on the calendar, the debrief after a meeting and the call plan in the
prep before one. Sellers edit them as they please: they rename or reorder headings, leave
fields empty, write on the heading's line, paste bullets from elsewhere, and Outlook hands the
text back as HTML (agent.text.body). A `Form` names its sections, the headings sellers give
each, and how each is read; `Form.read` finds the sections by their headings (a line that *is*
a known heading, with or without its hint in parentheses and its colon) and reads each one.

The privacy rule is the same for every form: only the shared sections may ever reach a
customer, and of them only what is read narrowly (the first line of a FIRST_LINE section, the
items of an ITEMS section). Everything else is private: the other sections, any text before
the first heading, and the text under any heading the form does not know (a short line ending
in a colon, so a sub-heading typed inside a shared section, "My doubts:", ends what is shared).
Shared means the item itself: a nested item or a further line under it is private, and so is
whatever breaks the list right under a shared heading. Sellers mark what is not for the
customer with words (agent.text.privacy): a mark in a heading makes its section private, a line
of a shared section that starts with one starts a private section, and any other line that
carries one is held back. Held-back lines are listed (`Reading.withheld`) so that callplan can
show the seller what it kept out. A form may pre-fill suggestions (`Form.suggestion`): lines
the seller did not write, which the reader ignores.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from agent.text import privacy
from agent.text.body import body_lines


class Read(enum.Enum):
    """How a section is read."""

    TEXT = "text"  # private: the section's text, as written
    FIRST_LINE = "first line"  # shared: the text on the heading's line, else the first line
    ITEMS = "items"  # shared: each list item's own line (or each plain line up to a blank one)


@dataclass(frozen=True)
class Section:
    """One section of a form: its key, the headings that name it (the form's own first, then
    what sellers rename it to), and how it is read (shared unless TEXT)."""

    key: str
    headings: tuple[str, ...]
    read: Read = Read.TEXT

    @property
    def shared(self) -> bool:
        return self.read is not Read.TEXT


LIST_MARK = re.compile(r"^\s*(?:[-*+•·●▪◦○■□▫‣⁃§–—➤►▸]|\d{1,2}[.)])(?=\s|\[|$)\s*")
# Bullets that word processors use for the second and third level of a list: pasted as text,
# a nested item may keep its bullet but lose its indentation.
SUB_BULLETS = {"◦": 2, "○": 2, "▪": 3, "■": 3, "□": 3, "▫": 3, "‣": 3, "⁃": 3, "§": 3}
BOX = re.compile(r"^\[(?P<mark>[ xX✓✔]?)\]\s*")
EMPTY_BOX = re.compile(r"\[\s?\]")
DECORATION = re.compile(r"[*_#>`]+")
LETTER_PREFIX = re.compile(r"^\(?[A-Za-z]\)?\s*[-–—.):]\s+")


def _normal(label: str) -> str:
    """A heading reduced to comparable words: case, punctuation, plurals and "I'd" do not matter."""
    text = label.lower().replace("’", "'").replace("i'd", "i would")
    words = re.sub(r"[^a-z0-9?]+", " ", text).replace("?", " ").split()
    return " ".join(
        word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word
        for word in words
    )


def _split_colon(line: str) -> tuple[str, str, bool]:
    """(label, rest, had a colon): split at the first colon outside parentheses."""
    depth = 0
    for index, char in enumerate(line):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == ":" and depth <= 0:
            return line[:index], line[index + 1 :], True
    return line, "", False


class Heading(NamedTuple):
    """A line that starts a section."""

    section: str  # a section's key; "other" for a heading of the seller's own; "private" for
    # a marked one
    rest: str  # the text written on the heading's line
    names_shared: bool  # it names a shared section (marked private or not)


@dataclass(frozen=True)
class Reading:
    """What the reader found in a filled-in form."""

    entries: Mapping[str, tuple[str, ...]]  # shared sections: their entries (FIRST_LINE: one per
    # heading that named the section)
    texts: Mapping[str, str]  # private sections of the form: their text (blank lines kept)
    other: tuple[str, ...]  # private text under the seller's own headings, and text held back
    withheld: tuple[str, ...]  # lines under a shared section's heading that were not shared

    def items(self, key: str) -> tuple[str, ...]:
        return self.entries.get(key, ())

    def text(self, key: str) -> str:
        return self.texts.get(key, "")

    def lines(self, key: str) -> tuple[str, ...]:
        """A private section written as a list: its non-empty lines, list markers dropped."""
        return tuple(
            line.strip()
            for line in self.text(key).split("\n")
            if line.strip() and not EMPTY_BOX.fullmatch(line.strip())
        )


@dataclass
class _Block:
    """The lines under one heading."""

    name: str  # a section's key, "other" or "private"
    held: bool  # under a heading that names a shared section: what is not shared was held back
    lines: list[str] = field(default_factory=list)


class Form:
    """A form's description, and the reader it drives."""

    def __init__(self, sections: Iterable[Section], *, suggestion: str = "") -> None:
        """`suggestion`: the mark that starts a line callplan pre-filled ("Suggested:"); the
        reader ignores such lines, since the seller did not write them."""
        self.sections = tuple(sections)
        self.shared = frozenset(section.key for section in self.sections if section.shared)
        self.reads = {section.key: section.read for section in self.sections}
        self.names = {
            _normal(name): section.key for section in self.sections for name in section.headings
        }
        self.suggestion = (
            re.compile(rf"^{re.escape(suggestion)}", re.I) if suggestion else re.compile(r"(?!)")
        )

    # -- headings --------------------------------------------------------------------------

    def _label_section(self, label: str) -> str | None:
        plain = re.sub(r"\([^)]*\)?|\[[^\]]*\]?", " ", DECORATION.sub("", label)).strip(" -–—.")
        for candidate in (plain, LETTER_PREFIX.sub("", plain)):
            if section := self.names.get(_normal(candidate)):
                return section
        return None

    def heading(self, line: str) -> Heading | None:
        """The heading a line is, or None.

        An unknown heading is a short line ending in a colon ("My read:"): a private section of
        the seller's own. A shared section's heading needs its colon or heading markup ("## Our
        commitments", "**...**"): a plain line that happens to read like one is taken for a
        heading only where that makes text more private, never less. A privacy mark in the
        heading's words or its hint ("Commitment, us (internal notes):", "Objective
        [confidential]:") makes the section private.
        """
        text = line.strip()
        if not text or LIST_MARK.match(text) or BOX.match(text):
            return None
        label, rest, colon = _split_colon(text)
        if rest.lstrip().startswith(("*", "_")):
            rest = DECORATION.sub("", rest, count=1)
        section = self._label_section(label)
        formatted = text.startswith("#") or (
            text[:2] in ("**", "__") and text.rstrip(":")[-2:] == text[:2]
        )
        if section is not None and (colon or formatted or section not in self.shared):
            shared = section in self.shared
            marked = shared and (privacy.is_marked(label) or privacy.only_marks(rest))
            return Heading(
                "private" if marked else section,
                "" if marked and privacy.only_marks(rest) else rest.strip(),
                shared,
            )
        if colon and not DECORATION.sub("", rest).strip() and 0 < len(label.split()) <= 8:
            return Heading("private" if privacy.is_marked(label) else "other", "", False)
        return None

    # -- the reader ------------------------------------------------------------------------

    def _blocks(self, lines: list[str]) -> list[_Block]:
        """The lines grouped under their headings; text before the first heading and the
        form's suggestions are dropped.

        Inside a shared section, a line that starts with a privacy mark ("Private: ...", "🔒 ...",
        "INTERNAL", "- Note to self:") starts a private section that lasts until the next heading.
        """
        blocks: list[_Block] = []
        for line in lines:
            found = self.heading(line)
            if found is not None:
                held = found.names_shared or (
                    found.section == "private" and bool(blocks) and blocks[-1].held
                )
                blocks.append(_Block(found.section, held))
                line = found.rest
                if not line:
                    continue
            if not blocks or self.suggestion.match(BOX.sub("", _item_text(line))):
                continue
            if blocks[-1].name in self.shared and _opens_private(line):
                blocks.append(_Block("private", True))
                if privacy.only_marks(_item_text(line)):
                    continue
            blocks[-1].lines.append(line)
        return blocks

    def read(self, text: str, *, html: bool | None = None) -> Reading:
        """Read a filled-in form. `html` True: an HTML body (Outlook); None: plain text, in
        which HTML tags are tolerated."""
        return self.read_lines(body_lines(text, html=html))

    def read_lines(self, lines: list[str]) -> Reading:
        """Read a filled-in form from the lines a person sees in it."""
        collected: dict[str, list[str]] = {}
        entries: dict[str, list[str]] = {key: [] for key in self.shared}
        private_rest: list[str] = []
        withheld: list[str] = []
        for block in self._blocks(lines):
            held: list[str] = []
            read = self.reads.get(block.name, Read.TEXT)
            if read is Read.ITEMS:
                found, held = _shared_entries(block.lines)
                entries[block.name] += found
            elif read is Read.FIRST_LINE:
                first, held = _first_line(block.lines)
                entries[block.name] += [first] if first else []
            elif block.name == "private":
                held = block.lines
            else:
                collected.setdefault(block.name, []).append(_paragraph(block.lines))
            if paragraph := _paragraph(held):
                private_rest.append(paragraph)
            if block.held:
                withheld += (shown for line in held if (shown := _item_text(line)))
        texts = {
            name: "\n\n".join(part for part in parts if part) for name, parts in collected.items()
        }
        other = texts.pop("other", "")
        return Reading(
            entries={key: tuple(found) for key, found in entries.items()},
            texts=texts,
            other=tuple(part for part in [other, *private_rest] if part),
            withheld=tuple(withheld),
        )


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


def _shared_entries(lines: list[str]) -> tuple[list[str], list[str]]:
    """(entries, lines held back) of an ITEMS section, read narrowly because it is shared.

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


def _first_line(lines: list[str]) -> tuple[str, list[str]]:
    """(the first line, lines held back) of a FIRST_LINE section: only its first line is shared
    (the text on the heading's line, else the first line under it), unless it carries a
    privacy mark."""
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


def fill_in(form: str, answers: Mapping[str, str]) -> str:
    """A form with answers typed right under the headings that start with the given words, as
    a seller types them (the demo and the tests fill forms in this way)."""
    lines = form.split("\n")
    for start, answer in answers.items():
        index = next(i for i, line in enumerate(lines) if line.startswith(start))
        lines.insert(index + 1, answer)
    return "\n".join(lines)
