"""Random forms for the privacy properties of the debrief and the call plan: private blocks of
hostile lines, each carrying a secret token, among shared sections, in any order. Whatever the
form, no token may reach an agenda."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st

from agent.text.form import Form

secrets = st.from_regex(r"zq[0-9]{4}x", fullmatch=True)


@st.composite
def private_block(
    draw: st.DrawFn,
    form: Form,
    names: Sequence[str],
    unknown: Sequence[str],
    hostile: Sequence[str],
    bare: bool,
) -> tuple[str, list[str]]:
    """A private section (a private heading of `form`, or one it does not know) of hostile
    lines, and the secrets in it. `bare`: a known heading may also stand without its colon."""
    name = draw(st.sampled_from([*names, *unknown]))
    styles = ["{n}:", "{n} (notes):", "**{n}:**"]
    if bare:
        styles.append("{n}:" if name in unknown else "{n}")
    lines, tokens = [draw(st.sampled_from(styles)).format(n=name)], []
    for template in draw(st.lists(st.sampled_from(hostile), min_size=1, max_size=6)):
        token = draw(secrets)
        line = template.format(s=token)
        if (found := form.heading(line)) is not None and found.section in form.shared:
            continue  # a real shared heading is the seller sharing on purpose, not private text
        lines.append(line)
        tokens.append(token)
    return "\n".join(lines), tokens


@st.composite
def form_text(
    draw: st.DrawFn,
    privates: st.SearchStrategy[tuple[str, list[str]]],
    shared: st.SearchStrategy[str],
    separators: Sequence[str],
) -> tuple[str, list[str]]:
    """One to five private blocks and up to three shared ones, shuffled, and every secret."""
    private = draw(st.lists(privates, min_size=1, max_size=5))
    blocks = [text for text, _ in private] + draw(st.lists(shared, max_size=3))
    order = draw(st.permutations(range(len(blocks))))
    seps = draw(
        st.lists(st.sampled_from(list(separators)), min_size=len(blocks), max_size=len(blocks))
    )
    text = "".join(blocks[i] + sep for i, sep in zip(order, seps))
    return text, [token for _, tokens in private for token in tokens]


@st.composite
def shared_block(draw: st.DrawFn, headings: dict[str, list[str]], one_line: str, item: str) -> str:
    """A shared section under one of its `headings` (by section): the `one_line` section's
    single line, or one to three items ("{n}" numbers them)."""
    section = draw(st.sampled_from(sorted(headings)))
    head = draw(st.sampled_from(headings[section]))
    if section == one_line:
        return f"{head}\nagree the next step"
    count = draw(st.integers(min_value=1, max_value=3))
    return head + "".join("\n" + item.format(n=n) for n in range(count))


def assert_kept(tokens: Sequence[str], shown: str, text: str) -> None:
    """No secret of `text` is in the agendas `shown`."""
    leaked = [token for token in tokens if token in shown]
    assert not leaked, (leaked, text)
