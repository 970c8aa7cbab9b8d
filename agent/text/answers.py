"""One-word answers: what a seller made of a quick-check line of the debrief form.

The form offers each question with its options on the line ("Our goals met: yes / partly /
no"), and sellers answer in whatever way is quickest on the way out of a meeting: they keep the
one option that applies and delete the others, tick it ("[x] yes", "yes ✓", "partly x"), or
type a word of their own ("y", "Partially", "nope"), on the heading's line or under it. Read
so, the answer is:

- the option that carries a mark, when exactly one does: a ticked box ("[x]", "[✓]", "☒", "☑")
  binds to the option after it, a loose mark ("✓", "✔", "✅", "x") to the option before it on
  its part of the line (parts are split at "/", "|", ",", ";" and line ends), else to the one
  after;
- else the one option written, when only one is (in any of its words: y, yes, yep, yeah, ok;
  partly, partially, part, somewhat; n, no, nope, not really; don't know, not sure, unsure,
  no idea, "?");
- else, with no option written, a mark alone: a tick (✓, ✔, ✅, ☑, ☒, [x] or a lone x) is yes,
  a cross (✗, ✘, ❌) is no;
- else nothing (""): the line left with all its options, two options marked, or empty. An
  answer the question does not offer ("partly" to a yes/no question) is nothing too.

Nothing is ever guessed from other words: "partly, they want a pilot first" is "partly", and
"they want a pilot first" is no answer.
"""

from __future__ import annotations

import re
from typing import Literal

Answer = Literal["yes", "partly", "no", "unsure", ""]

YES_PARTLY_NO: tuple[Answer, ...] = ("yes", "partly", "no")
YES_NO: tuple[Answer, ...] = ("yes", "no")
YES_NO_UNSURE: tuple[Answer, ...] = ("yes", "no", "unsure")

WORDS: dict[str, Answer] = {
    "y": "yes",
    "yes": "yes",
    "yep": "yes",
    "yeah": "yes",
    "ok": "yes",
    "partly": "partly",
    "partially": "partly",
    "part": "partly",
    "somewhat": "partly",
    "n": "no",
    "no": "no",
    "nope": "no",
    "not really": "no",
    "unsure": "unsure",
    "not sure": "unsure",
    "don't know": "unsure",
    "dont know": "unsure",
    "do not know": "unsure",
    "no idea": "unsure",
    "?": "unsure",
}
BOX_TICKED = re.compile(r"\[\s*[x✓✔]\s*\]|[☒☑]")
TICK = re.compile(r"[✓✔✅]|x")
CROSS = re.compile(r"[✗✘❌]")
SEPARATOR = re.compile(r"[/|,;\n]")
TOKEN = re.compile(
    r"n/a|\[\s*[x✓✔]?\s*\]|[☐☑☒✓✔✅✗✘❌?/|,;\n]|not really|not sure|don'?t know|do not know"
    r"|no idea|[a-z']+"
)


def answer(text: str, options: tuple[Answer, ...]) -> Answer:
    """The one option of `options` that `text` gives as its answer, or "" (see above)."""
    tokens = TOKEN.findall(text.lower().replace("’", "'"))
    segments: list[list[str]] = [[]]
    for token in tokens:
        if SEPARATOR.fullmatch(token):
            segments.append([])
        else:
            segments[-1].append(token)
    marked: set[Answer] = set()
    written: set[Answer] = set()
    ticks = crosses = 0
    for segment in segments:
        found = [(index, WORDS[token]) for index, token in enumerate(segment) if token in WORDS]
        written.update(option for _, option in found)
        for index, token in enumerate(segment):
            ticked, loose = bool(BOX_TICKED.fullmatch(token)), bool(TICK.fullmatch(token))
            ticks += ticked or loose
            crosses += bool(CROSS.fullmatch(token))
            before = [option for at, option in found if at < index]
            after = [option for at, option in found if at > index]
            if ticked and (after or before):
                marked.add(after[0] if after else before[-1])
            elif loose and (before or after):
                marked.add(before[-1] if before else after[0])
    if marked:
        chosen = marked
    elif written:
        chosen = written
    elif ticks and not crosses:
        chosen = {"yes"}
    elif crosses and not ticks:
        chosen = {"no"}
    else:
        return ""
    only = next(iter(chosen)) if len(chosen) == 1 else ""
    return only if only in options else ""
