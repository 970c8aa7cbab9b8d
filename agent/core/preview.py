"""The prep's two parts: the seller's form, and callplan's preview at its end.

A prep block holds the call plan form, which becomes the seller's once they write in it, and
below it, between two marker lines, the preview: callplan's own account of what the customer
will see. callplan keeps the preview up to date by splicing (agent.text.splice); everything
else is the form. Whether a person edited the form, and what a plan says, are decided on the
form alone, so a fresh preview never reads as an edit and never reaches an agenda.
"""

from __future__ import annotations

from collections.abc import Iterable

BEGIN = "──── Preview · kept up to date by callplan ────"
END = "──── End of preview ────"


def form_lines(lines: Iterable[str]) -> list[str]:
    """The lines outside every preview: from a BEGIN line up to the END line after it (or to
    the end, if a person deleted that one) is the preview's."""
    kept: list[str] = []
    inside = False
    for line in lines:
        text = line.strip()
        if not inside and text == BEGIN:
            inside = True
        elif inside and text == END:
            inside = False
        elif not inside:
            kept.append(line)
    return kept


def form_part(text: str) -> str:
    """A prep's text without its preview."""
    if BEGIN not in text:
        return text
    return "\n".join(form_lines(text.replace("\r\n", "\n").split("\n")))
