"""Privacy marks: the words sellers put on what is not for the customer.

Sellers do not write to a grammar. They keep a line to themselves by writing "private",
"internal", "note to self", "between us", "🔒" or the like in front of it, in its brackets,
in the heading above it, or in the middle of it, in whatever language they think in. The
debrief parser (agent.text.debrief) treats any such mark as the seller's word that the text is
private, wherever it stands; the list is deliberately generous, because a line kept out of
an agenda by mistake costs a rewording, and a line shared by mistake cannot be taken back.

Marks match case-insensitively, accent-insensitively (é is e, ß is ss, fullwidth letters are
letters) and only as whole words or phrases: "internal" never matches "international",
"intern" never "internet". Inside a phrase any run of spaces, hyphens or underscores
separates the words ("off-the-record", "note_to_self"), and the apostrophe of "don't" may be
typographic (’) or missing ("dont").
"""

from __future__ import annotations

import functools
import re
import unicodedata

# The phrases, lower-case and without accents, as they are matched (see the module's docstring).
MARKS: tuple[str, ...] = (
    # English
    "private",
    "privately",
    "internal",
    "internally",
    "internal only",
    "intern",
    "confidential",
    "confidentially",
    "secret",
    "secretly",
    "sensitive",
    "note to self",
    "notes to self",
    "memo to self",
    "reminder to self",
    "self note",
    "self notes",
    "personal note",
    "personal notes",
    "between us",
    "between ourselves",
    "between you and me",
    "do not share",
    "don't share",
    "not to be shared",
    "not for sharing",
    "do not forward",
    "don't forward",
    "not for distribution",
    "do not distribute",
    "don't tell",
    "do not tell",
    "don't mention",
    "do not mention",
    "not for them",
    "not for the customer",
    "not for customer",
    "not for customers",
    "not for the client",
    "not for client",
    "not for clients",
    "for my eyes only",
    "eyes only",
    "just for me",
    "only for me",
    "for me only",
    "for us only",
    "only for us",
    "just for us",
    "nts",
    "our side only",
    "off the record",
    "off record",
    "keep to ourselves",
    "keep this to ourselves",
    "keep it to ourselves",
    "under wraps",
    "hush hush",
    "not shared",
    "not for the agenda",
    "not in the agenda",
    "mental note",
    "note for me",
    "note for myself",
    "reminder for me",
    # German
    "privat",
    "interne",
    "internes",
    "interner",
    "internen",
    "nur intern",
    "vertraulich",
    "vertrauliche",
    "vertrauliches",
    "geheim",
    "unter uns",
    "nicht teilen",
    "nicht weitergeben",
    "nur fur mich",
    "nur fur uns",
    "notiz fur mich",
    # French
    "prive",
    "privee",
    "prives",
    "privees",
    "confidentiel",
    "confidentielle",
    "confidentiels",
    "confidentielles",
    "entre nous",
    "ne pas partager",
    "ne pas diffuser",
    "note pour moi",
    # Spanish and Portuguese
    "privado",
    "privada",
    "privados",
    "privadas",
    "interno",
    "interna",
    "internos",
    "internas",
    "confidencial",
    "confidenciales",
    "no compartir",
    "nao compartilhar",
    "entre nosotros",
    "solo para mi",
    "nota para mi",
    "secreto",
    # Italian
    "privato",
    "privata",
    "privati",
    "riservato",
    "riservata",
    "riservati",
    "confidenziale",
    "non condividere",
    "tra noi",
    "tra di noi",
    "solo per me",
    "nota per me",
    # Dutch, Scandinavian, Polish
    "vertrouwelijk",
    "niet delen",
    "onder ons",
    "internt",
    "fortrolig",
    "fortroligt",
    "konfidentiell",
    "konfidentiellt",
    "prywatne",
    "poufne",
)
# Symbols that mean "keep this quiet"; matched anywhere, with or without an emoji variation
# selector.
EMOJI: tuple[str, ...] = ("🔒", "🔐", "🔏", "🤫", "🙊", "🤐", "㊙")

APOSTROPHES = "’‘ʼ´′"
SEPARATOR = r"[\s_\-‐‑–—]+"


def _pattern(phrase: str) -> str:
    words = (re.escape(word).replace("'", "'?") for word in phrase.split())
    return SEPARATOR.join(words)


# longest first, so that "internal only" is one mark rather than "internal" and a remainder
_WORDS = "|".join(_pattern(phrase) for phrase in sorted(MARKS, key=len, reverse=True))
# whole words: no letter or digit may touch a mark (an underscore may: "_private_" is emphasis)
MARK = re.compile(rf"(?<![^\W_])(?:{_WORDS})(?![^\W_])|[{''.join(EMOJI)}]")
_KEPT = frozenset(EMOJI)


def _fold(char: str) -> str:
    """One character as marks are matched: apostrophes unified, accents and invisible
    formatting characters (variation selectors, zero-width spaces) dropped, case folded."""
    if char in _KEPT:
        return char
    if char in APOSTROPHES:
        return "'"
    decomposed = unicodedata.normalize("NFKD", char)
    return "".join(c for c in decomposed if unicodedata.category(c) not in ("Mn", "Cf")).casefold()


def fold(text: str) -> str:
    """`text` as marks are matched: lower case, without accents ("Nur für mich" is "nur fur
    mich")."""
    return "".join(_fold(char) for char in text)


@functools.lru_cache(maxsize=4096)
def marks_in(text: str) -> tuple[tuple[int, int], ...]:
    """The (start, end) of every mark in `text`, as indices into `text` itself."""
    folded: list[str] = []
    origin: list[int] = []  # the index in `text` of each folded character
    for index, char in enumerate(text):
        part = _fold(char) if not char.isascii() or char.isupper() else char
        folded.append(part)
        origin.extend([index] * len(part))
    origin.append(len(text))
    return tuple(
        (origin[m.start()], origin[m.end() - 1] + 1) for m in MARK.finditer("".join(folded))
    )


def is_marked(text: str) -> bool:
    """Does `text` carry a privacy mark anywhere?"""
    return bool(marks_in(text))


def mark_span(text: str) -> tuple[int, int] | None:
    """Where the first mark of `text` stands, or None."""
    found = marks_in(text)
    return found[0] if found else None


def starts_with_mark(text: str) -> bool:
    """Does `text` begin with a mark, after nothing but spaces and punctuation ("Private:
    ...", "INTERNAL - ...", "🔒 ...", "[confidential] ...", "--- note to self ---")?"""
    span = mark_span(text)
    return span is not None and not _has_words(text[: span[0]])


def strip_marks(text: str) -> str:
    """`text` without its marks and the punctuation left around them: "Private: upsell the
    tier" is "upsell the tier", "send the (internal) deck" is "send the deck"."""
    kept, last = [], 0
    for start, end in marks_in(text):
        kept.append(text[last:start])
        last = end
    kept.append(text[last:])
    stripped = re.sub(r"[(\[{]\W*[)\]}]", " ", "".join(kept).replace("\ufe0f", ""))
    stripped = re.sub(r"^[^\w(\[\"']+|[\s:;,\-–—|/*_#>~=]+$", "", stripped.strip())
    return " ".join(stripped.split())


def only_marks(text: str) -> bool:
    """Is `text` nothing but marks and punctuation ("PRIVATE", "--- internal ---", "🔒")?"""
    return is_marked(text) and not _has_words(strip_marks(text))


def _has_words(text: str) -> bool:
    return any(char.isalnum() for char in text)
