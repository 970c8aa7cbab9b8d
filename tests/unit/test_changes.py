"""The order a plan's changes are applied in."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, fields, replace

import pytest

from agent.core.model import BlockSpec, BlockTag, BodyFormat, Kind
from agent.plan.changes import (
    Adopt,
    Change,
    CreateBlock,
    DeleteBlock,
    Forget,
    Tombstone,
    WriteAgenda,
    in_order,
)
from tests.support.helpers import at, meeting


def test_changes_come_by_rank_and_keep_their_order_within_one() -> None:
    demo = meeting("Globex", at(0, 10))
    tag = BlockTag(Kind.PREP, "m", demo.span, demo.span, "")
    spec = BlockSpec("Prep: Globex", demo.start, demo.end, "", tag)
    changes: list[Change] = [
        WriteAgenda(demo, "agenda", None, False, "first write"),
        CreateBlock(spec, "first create"),
        Tombstone(Kind.PREP, "a", "/a", "first store-only"),
        DeleteBlock(demo, "the delete"),
        CreateBlock(spec, "second create"),
        Adopt(Kind.AGENDA, "b", demo, "second store-only"),
        WriteAgenda(demo, "agenda", None, False, "second write"),
        Forget(Kind.DEBRIEF, "c", "/c", "third store-only"),
    ]
    assert [change.reason for change in in_order(iter(changes))] == [
        "first store-only",
        "second store-only",
        "third store-only",
        "the delete",
        "first create",
        "second create",
        "first write",
        "second write",
    ]
    assert in_order([]) == []


def test_a_new_blocks_tag_spec_and_change_hold_their_fields_and_stay_frozen() -> None:
    demo = meeting("Globex", at(0, 10))
    tag = BlockTag(Kind.PREP, "m", demo.span, demo.span, "c", preview="p")
    assert tag == BlockTag(Kind.PREP, "m", demo.span, demo.span, "c", False, "p")
    assert replace(tag, pinned=True).pinned and not tag.pinned
    assert {field.name: getattr(tag, field.name) for field in fields(tag)} == {
        "kind": Kind.PREP,
        "meeting_key": "m",
        "placed": demo.span,
        "meeting": demo.span,
        "content": "c",
        "pinned": False,
        "preview": "p",
    }
    spec = BlockSpec("Prep: Globex", demo.start, demo.end, "text", tag)
    assert spec.body_format is BodyFormat.TEXT
    html = BlockSpec("Prep: Globex", demo.start, demo.end, "text", tag, BodyFormat.HTML)
    assert (html.title, html.start, html.end, html.description, html.tag, html.body_format) == (
        "Prep: Globex",
        demo.start,
        demo.end,
        "text",
        tag,
        BodyFormat.HTML,
    )
    assert replace(spec, body_format=BodyFormat.HTML) == html != spec
    change = CreateBlock(spec, "new")
    assert (change.block, change.reason, change.kind, change.meeting_key) == (
        spec,
        "new",
        Kind.PREP,
        "m",
    )
    assert hash(change) == hash(CreateBlock(replace(spec), "new"))
    for frozen in (tag, spec, change):
        with pytest.raises(FrozenInstanceError):
            frozen.reason = "changed"  # type: ignore[misc,union-attr]
    with pytest.raises(ValueError, match="naive"):
        BlockSpec("Prep: Globex", demo.start, demo.end.replace(tzinfo=None), "text", tag)
