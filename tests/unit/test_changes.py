"""The order a plan's changes are applied in."""

from __future__ import annotations

from agent.core.model import BlockSpec, BlockTag, Kind
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
