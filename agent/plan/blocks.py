"""How a block already on the calendar is brought up to date without losing a person's words.

A block callplan wrote and nobody touched is rewritten whole when its text should change. Once a
person wrote in it, their words stay: only its times follow the meeting. A prep has two parts
(agent.core.preview): its form, which is the seller's once they write in it, and callplan's
preview at its end, which callplan keeps up to date by splicing while it is still callplan's;
not once a person typed in it (then the whole block is theirs), nor once the seller deleted it
(then it does not come back).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

from agent.core.model import BlockSpec, BlockTag, BodyFormat, Event, Interval
from agent.text import splice

OURS, ABSENT, REMOVED = (
    splice.AgendaState.OURS,
    splice.AgendaState.ABSENT,
    splice.AgendaState.REMOVED,
)
NONE_FOUND = splice.Found(ABSENT)  # a new block's: no preview yet (frozen, so one serves all)


class Preview(Protocol):
    """The preview a prep should end with: its fingerprint, and its text when it is written (the
    planner's renders it then, if its fingerprint did not need it before)."""

    fingerprint: str

    def text(self) -> str: ...


def whole(form: str, preview: Preview | None) -> str:
    """A new block's text: its form, and (a prep's) the preview between its markers below it."""
    if preview is None:
        return form
    return splice.with_preview(form, BodyFormat.TEXT, NONE_FOUND, preview.text())


def typed_in(found: splice.Found) -> bool:
    """Did a person type in a prep's preview (or paste marker text callplan cannot vouch for)?"""
    return found.state in (splice.AgendaState.EDITED, splice.AgendaState.FOREIGN)


def updated(
    existing: Event,
    title: str,
    target: Interval,
    tag: BlockTag,
    form: Callable[[], str],
    preview: Preview | None,
    found: splice.Found,
    form_edited: bool,
) -> BlockSpec | None:
    """What `existing` should become to sit at `target` with `tag` (its form's and its preview's
    fingerprints as callplan would write them now), or None when nothing needs writing.

    `form()` renders the form; `found` is the prep's preview as it stands (a debrief has none:
    ABSENT); `form_edited` whether a person wrote in the form.
    """
    old = existing.block_tag
    assert old is not None
    shown = found.body and splice.preview_fingerprint(found.body)
    if not form_edited and found.state is REMOVED:
        # the seller deleted the preview, and only that: the form stays callplan's, and the
        # preview does not come back
        tag = replace(tag, preview=old.preview)
        text = form()
        if tag == old and existing.span == target and text == existing.description:
            return None
        return BlockSpec(title, target.start, target.end, text, tag)
    if form_edited or typed_in(found) or found.state is REMOVED:
        # a person's words: only the times follow the meeting, and callplan's preview (where it
        # is still callplan's) is spliced in
        spliced, kept = _spliced(existing, found, shown, preview) if form_edited else (None, None)
        tag = replace(
            tag,
            content=old.content,
            preview=old.preview if kept is None else kept,
        )
        text = existing.description if spliced is None else spliced
        if tag == old and existing.span == target and text == existing.description:
            return None
        return BlockSpec(existing.title, target.start, target.end, text, tag, existing.body_format)
    if existing.span == target and tag == old and shown == tag.preview:
        return None  # same place, same text: nothing to write
    return BlockSpec(title, target.start, target.end, whole(form(), preview), tag)


def _spliced(
    existing: Event, found: splice.Found, shown: str, preview: Preview | None
) -> tuple[str | None, str | None]:
    """The text of a prep a person wrote in, with callplan's preview brought up to date, and the
    preview's fingerprint; (None, None) when the preview is to be left as it is."""
    old = existing.block_tag
    assert old is not None
    text, body_format = existing.description, existing.body_format
    if preview is None:  # agendas are off: callplan's preview goes
        if found.state is not OURS:
            return None, None
        return splice.preview_splicer(body_format).strip(text, found), ""
    if found.state is OURS and (shown, old.preview) != (preview.fingerprint,) * 2:
        return splice.with_preview(text, body_format, found, preview.text()), preview.fingerprint
    if found.state is ABSENT:  # a prep an earlier callplan wrote: its first preview
        return splice.with_preview(text, body_format, found, preview.text()), preview.fingerprint
    return None, None
