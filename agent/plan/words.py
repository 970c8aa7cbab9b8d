"""Words fingerprints by paragraph: what a plan saves by remembering the texts it renders.

A plan fingerprints every block it writes (agent.core.fingerprint); the texts it renders
repeat most of their paragraphs, and end alike, from one meeting to the next.
"""

from __future__ import annotations

from agent.core.fingerprint import digest_of, words


class WordsMemo:
    """`block_fingerprint` and `words_fingerprint` (agent.core.fingerprint) for the texts one
    plan renders, remembering each paragraph's normal form, encoded as the digest takes it.

    White space runs never span a blank line unnoticed: a text's words are the words of its
    paragraphs (the parts between blank lines), so normalising paragraph by paragraph and
    joining the non-empty results gives the same string as normalising the whole; and UTF-8
    encodes a joined string as the join of its parts' encodings. The rendered texts of a plan
    share most of their paragraphs (a checklist's questions, a form's headings and hints), and
    looking a paragraph up costs less than splitting and encoding its words again. A plan
    keeps one and drops it with the plan, so it holds only the plan's own paragraphs. A block's
    first paragraph, behind its title, names its meeting: it is met once a plan, so its words
    are worked out without being remembered (remembering it would cost hashing it and keeping it).

    Texts rendered from one template also end alike (a form's headings and hints, after the
    last line that names the meeting). The same holds for any split at white space, so the
    memo also remembers the paragraphs two texts end with, as one ending: a text that ends with
    one is split only up to it, and the ending's words are taken as they are. Telling that a
    text ends with a known ending compares it, which costs less than hashing its paragraphs to
    look them up.
    """

    ENDINGS = 8  # the endings kept (the latest learnt), and texts an ending is learnt from
    LAST = 16  # the characters an ending's end is compared by first

    def __init__(self) -> None:
        self._paragraphs: dict[str, bytes] = {}
        # endings that begin at a paragraph break ("\n\n..."), their last characters, and
        # their words
        self._endings: list[tuple[str, str, bytes]] = []
        self._unmatched: list[list[str]] = []  # the paragraphs of the latest texts none ended

    def fingerprint(self, title: str, text: str) -> str:
        return self._fingerprint(f"{title}\n", text)

    def words_fingerprint(self, text: str) -> str:
        return self._fingerprint("", text)

    def _fingerprint(self, lead: str, text: str) -> str:
        """The words fingerprint of `lead + text`, a known ending looked for in `text` alone,
        and the part before it split alone (not a copy of it with the lead in front): the lead
        goes in front of its first paragraph only. Words do not change with where white space
        is split, so the words are the same as those of the copy's paragraphs.

        The ending is compared as a slice of the text: a slice is stored as narrowly as its own
        characters allow, and two strings stored alike compare as memory. `str.endswith`
        compares character by character whenever the text is stored wider than the ending, as
        every text with a character beyond Latin-1 in its first lines is (a time's dash). A text
        is first told apart from an ending by its last characters (texts of other templates end
        otherwise): comparing those few costs less than copying the ending's length out of it."""
        for ending, last, ending_words in self._endings:
            cut = len(text) - len(ending)
            if cut >= 0 and text.endswith(last) and text[cut:] == ending:
                paragraphs = text[:cut].split("\n\n")
                normal = []
                if lead:  # a block's first paragraph, with its title: met once a plan
                    first = _words_of(lead + paragraphs.pop(0)).encode()
                    if first:
                        normal.append(first)
                self._words(paragraphs, normal)
                if ending_words:
                    normal.append(ending_words)
                return digest_of(b" ".join(normal))
        paragraphs = f"{lead}{text}".split("\n\n")
        self._learn(paragraphs)
        return digest_of(b" ".join(self._words(paragraphs, [])))

    def _words(self, paragraphs: list[str], normal: list[bytes]) -> list[bytes]:
        """`normal` with the non-empty words of each paragraph added, encoded."""
        memo = self._paragraphs
        for paragraph in paragraphs:
            words = memo.get(paragraph)
            if words is None:
                words = memo[paragraph] = _words_of(paragraph).encode()
            if words:
                normal.append(words)
        return normal

    def _learn(self, paragraphs: list[str]) -> None:
        """Remember the longest ending (after a first paragraph) that these paragraphs share
        with those of a recent text that no known ending matched."""
        shared = 0
        for other in self._unmatched:
            count = 0
            limit = min(len(paragraphs), len(other)) - 1
            while count < limit and paragraphs[-1 - count] == other[-1 - count]:
                count += 1
            shared = max(shared, count)
        if shared:
            tail = paragraphs[-shared:]
            ending = "\n\n" + "\n\n".join(tail)
            self._endings.insert(
                0, (ending, ending[-self.LAST :], b" ".join(self._words(tail, [])))
            )
            del self._endings[self.ENDINGS :]
        self._unmatched.insert(0, paragraphs)
        del self._unmatched[self.ENDINGS :]


def _words_of(paragraph: str) -> str:
    """`words(paragraph)` (agent.core.fingerprint), which a paragraph rendered for a meeting
    mostly is already, but for its line breaks.

    A paragraph whose only white space is single spaces and line breaks between its words has
    those words with the breaks made spaces: telling that costs less than splitting it into
    words and joining them again. Every white space character but the space is unprintable."""
    line = paragraph.replace("\n", " ")
    if line.isprintable() and "  " not in line and line[:1] != " " and line[-1:] != " ":
        return line
    return words(paragraph)
