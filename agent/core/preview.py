"""The prep's two parts: the seller's form, and callplan's preview at its end.

A prep block holds the call plan form, which becomes the seller's once they write in it, and
below it, between two marker lines, the preview: callplan's own account of what the customer
will see. callplan keeps the preview up to date by splicing (agent.text.splice); everything
else is the form. Whether a person edited the form, and what a plan says, are decided on the
form alone, so a fresh preview never reads as an edit and never reaches an agenda.
"""

from __future__ import annotations

BEGIN = "──── Preview · kept up to date by callplan ────"
END = "──── End of preview ────"


def form_part(text: str) -> str:
    """A prep's text without its preview: from each BEGIN up to the END after it (or to the end,
    if a person deleted that one) is the preview's. Matched as text, not as lines, so a body
    whose lines an editor joined with tags keeps its markers where they were."""
    parts, position = [], 0
    while (begin := text.find(BEGIN, position)) != -1:
        parts.append(text[position:begin])
        end = text.find(END, begin + len(BEGIN))
        if end == -1:
            return "".join(parts)
        position = end + len(END)
    return "".join(parts) + text[position:]
