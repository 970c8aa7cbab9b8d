"""The renderer's memo is an optimisation only: plans are the same with a warm one or a fresh
one."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.core.fingerprint import block_fingerprint, words_fingerprint
from agent.core.history import Owned
from agent.plan.planner import plan
from agent.plan.words import WordsMemo
from agent.sync.engine import window_for
from agent.text.render import Renderer
from tests.support.helpers import World, at, meeting


def assert_plans_alike(world: World) -> None:
    """What the world's engine would plan now, with its (warm) renderer and with a fresh one."""
    events = list(world.calendar.events.values())
    meetings = [event for event in events if not event.is_block]
    owned = Owned(
        blocks=tuple(event for event in events if event.is_block),
        records={(a.kind, a.meeting_key): a.record() for a in world.store.artifacts()},
    )
    settings = world.account.settings
    window = window_for(world.now, settings.lookahead_days, settings.timezone)
    warm = plan(world.now, meetings, owned, [], settings, world.renderer, window)
    assert warm == plan(world.now, meetings, owned, [], settings, Renderer(), window)


def test_a_warm_memo_plans_what_a_fresh_renderer_plans_as_meetings_change() -> None:
    world = World()
    ours = world.add(meeting("Globex", at(0, 10), description="Intro"))
    theirs = world.add(
        meeting(
            "Initech", at(1, 15), guests=["eli@initech.example"], organizer="eli@initech.example"
        )
    )
    later = world.add(meeting("Globex follow-up", at(3, 10)))
    raj = meeting("x", at(0, 10), guests=["raj@globex.example"]).attendees[0]
    world.cycle()
    for change in (
        lambda: world.calendar.person_edit(ours.ref, title="Globex: renamed"),
        lambda: world.calendar.person_edit(theirs.ref, start=at(1, 16), end=at(1, 17)),
        lambda: world.calendar.person_delete(later.ref),  # the next meeting with Globex is gone
        lambda: world.calendar.person_edit(ours.ref, attendees=(*ours.attendees, raj)),
    ):
        change()
        assert_plans_alike(world)
        world.cycle()
        assert_plans_alike(world)


def test_sellers_sharing_a_renderer_get_their_own_settings_applied() -> None:
    """The prep of a meeting a customer organised carries the agenda as a draft only when
    agendas are enabled; two sellers who differ in that share one renderer (one process)."""
    drafts = World()
    plain = World(agenda={"enabled": False})
    plain.sync.renderer = plain.renderer = drafts.renderer
    for world in (drafts, plain):
        theirs = world.add(
            meeting(
                "Initech",
                at(1, 15),
                guests=["eli@initech.example"],
                organizer="eli@initech.example",
            )
        )
        world.cycle()
        world.now += timedelta(minutes=1)
        assert world.applied() == []  # the second cycle plans from the memo
    assert "DRAFT AGENDA" in drafts.block_for("prep", theirs).description
    assert "DRAFT AGENDA" not in plain.block_for("prep", theirs).description


@settings(max_examples=300, deadline=None)
@given(
    title=st.text(max_size=40),
    lines=st.lists(
        st.sampled_from(["", " ", "  - item", "WHO IS COMING", "\t", "a\u00a0b", "x\r", "\n"])
        | st.text(max_size=30),
        max_size=12,
    ),
)
def test_a_words_memo_fingerprints_texts_as_the_whole_text_is_fingerprinted(
    title: str, lines: list[str]
) -> None:
    """Its paragraphs (shared with earlier texts or not) normalise to what the whole text does,
    for any white space: blank lines and runs of them, tabs, carriage returns, no-break spaces."""
    memo = WordsMemo()
    text = "\n".join(lines)
    # a warm memo, then one that has seen this very text
    for earlier in (
        "WHO IS COMING\n  - item\n\n\t\n\nx",
        text,
    ):
        memo.fingerprint(title, earlier)
        assert memo.fingerprint(title, text) == block_fingerprint(title, text)
        assert memo.words_fingerprint(text) == words_fingerprint(text)


_PIECES = st.lists(
    st.sampled_from(["", " ", "\n", "\n\n", "\n\n\n", "Notes:", "- item", "\t", "a\u00a0b", "x\r"])
    | st.text(max_size=12),
    max_size=8,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(heads=st.lists(_PIECES, min_size=2, max_size=5), ending=_PIECES)
def test_texts_that_end_alike_fingerprint_as_each_whole_text_does(
    heads: list[str], ending: str
) -> None:
    """Texts ending with the same paragraphs (after any head, white space of any kind around
    the break) fingerprint as each whole text does, once the memo has learnt their ending."""
    memo = WordsMemo()
    texts = [f"{head}\n\n{ending}" for head in heads]
    for text in texts + texts:
        assert memo.words_fingerprint(text) == words_fingerprint(text)


@settings(max_examples=300, deadline=None)
@given(
    titles=st.lists(_PIECES, min_size=2, max_size=4),
    heads=st.lists(_PIECES, min_size=2, max_size=4),
    ending=_PIECES,
)
def test_blocks_that_end_alike_fingerprint_as_each_whole_block_does(
    titles: list[str], heads: list[str], ending: str
) -> None:
    """A block's title goes in front of its text: an ending the memo learnt from whole blocks
    or from texts alone (reaching into the title or not, in text stored wide for a dash or
    narrow) gives each block the fingerprint of its whole title and text."""
    memo = WordsMemo()
    texts = [f"{head}\n\n{ending}" for head in heads] + [ending, f"–\n\n{ending}"]
    for title in titles + titles:
        for text in texts:
            assert memo.fingerprint(title, text) == block_fingerprint(title, text)
            assert memo.words_fingerprint(text) == words_fingerprint(text)


# every character str.split() splits at, and some that look alike but are words
_SPACES = "".join(chr(c) for c in range(0x3001) if chr(c).isspace()) + "\u200b\u00ad\u2060"


@settings(max_examples=500, deadline=None)
@given(
    paragraph=st.text(alphabet=st.sampled_from(["a", "b", "–", " ", "\n"]))
    | st.lists(st.sampled_from(["a", "b–", " ", "\n", *_SPACES])).map("".join)
)
def test_a_paragraph_s_words_are_its_words_whatever_its_white_space(paragraph: str) -> None:
    """A paragraph nearly normal (single spaces, line breaks) and one with white space of any
    other kind, leading, trailing or doubled, fingerprint as its whole text does."""
    assert WordsMemo().words_fingerprint(paragraph) == words_fingerprint(paragraph)


def test_a_text_that_ends_with_a_learnt_ending_is_taken_by_it() -> None:
    """An ending learnt from two texts is found at the end of the next (wide or narrow): that
    text is split only up to it, and teaches the memo nothing."""
    memo = WordsMemo()
    ending = "\n\n".join(f"Question {number}: what does the customer need?" for number in range(9))
    texts = [f"{head}\n\n{ending}" for head in ("Globex – Mon", "Initech", "Umbrella – Tue")]
    for text in texts[:2]:
        memo.fingerprint("Prep", text)
    learnt = list(memo._unmatched)
    assert memo.fingerprint("Prep", texts[2]) == block_fingerprint("Prep", texts[2])
    assert memo._unmatched == learnt
    # the block's first paragraph, behind its title, is met once: it is not remembered
    assert "Prep\nUmbrella – Tue" not in memo._paragraphs
