"""Fingerprints: how callplan notices that a person changed what it wrote.

A tag on every artifact records the fingerprint of the text callplan wrote; comparing it
with the fingerprint of the text found on the calendar tells a person's edit from a
provider's re-formatting. The planner, undo and the debrief loop all ask the same question,
so it is answered once, here.
"""

from __future__ import annotations

import hashlib

from agent.core.htmltext import plain_text
from agent.core.model import Event, Kind
from agent.core.preview import form_part


def fingerprint(text: str) -> str:
    """A short stable hash of text, used to notice whether a person edited what we wrote.

    Providers normalise whitespace (CRLF, trailing blanks, a final newline), so the hash is
    taken over a normalised form: such rewrites are not mistaken for a human edit.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return digest("\n".join(line.rstrip() for line in lines).strip("\n"))


def digest(normal: str) -> str:
    """The hash `fingerprint` keeps, for text that is already in normal form (one line,
    no trailing blanks): a caller that normalised it more strictly need not pay twice."""
    return digest_of(normal.encode("utf-8"))


def digest_of(normal: bytes) -> str:
    """`digest` of a normal form already encoded in UTF-8 (by parts, it may be)."""
    return hashlib.sha256(normal).hexdigest()[:16]


def block_fingerprint(title: str, text: str) -> str:
    """What a person changes when they edit a block: the words of its title or its text.

    White space does not count, so a provider that re-flows our text or hands it back as
    HTML (Exchange does, unless asked otherwise) is not mistaken for a person's edit.
    """
    return words_fingerprint(f"{title}\n{text}")


def words(text: str) -> str:
    """The words of a text, white space aside: one line, single spaces (already normal)."""
    return " ".join(text.split())


def words_fingerprint(text: str) -> str:
    """The fingerprint of the words of a text, white space aside."""
    return digest(words(text))


def observed_fingerprint(block: Event) -> str:
    """The fingerprint of a block as it stands on the calendar: of a prep, its form alone (the
    preview at its end is callplan's, and changes without anyone editing the block)."""
    text = plain_text(block.description, block.body_format)
    if block.block_tag is not None and block.block_tag.kind is Kind.PREP:
        text = form_part(text)
    return block_fingerprint(block.title, text)


def edited_content(block: Event) -> str | None:
    """The fingerprint of what a person made of a block we wrote (its title or text changed);
    None while it is as we wrote it, or when it is not ours."""
    tag = block.block_tag
    if tag is None:
        return None
    content = observed_fingerprint(block)
    return content if content != tag.content else None


def block_edited(block: Event) -> bool:
    """Did a person change the title or text of a block we wrote?"""
    return edited_content(block) is not None
