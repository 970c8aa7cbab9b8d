"""The changes the planner returns: plain data the engine applies one by one.

Calendar changes go to the connector; `Adopt`, `Tombstone` and `Forget` only touch the state store
(what the agent knows it owns). Every change says why, in words a seller understands,
because dry runs and the audit log show it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from agent.core.model import AgendaTag, BlockSpec, Event, Kind


class _WritesBlock:
    """A change whose outcome is a block: its kind and meeting come from the block's tag."""

    block: BlockSpec

    @property
    def kind(self) -> Kind:
        return self.block.tag.kind

    @property
    def meeting_key(self) -> str:
        return self.block.tag.meeting_key


@dataclass(frozen=True, init=False)
class CreateBlock(_WritesBlock):
    block: BlockSpec
    reason: str

    def __init__(self, block: BlockSpec, reason: str) -> None:
        # written out, as BlockTag's is: a first sync makes one for every block
        fields = self.__dict__
        fields["block"] = block
        fields["reason"] = reason


@dataclass(frozen=True)
class UpdateBlock(_WritesBlock):
    current: Event
    block: BlockSpec
    reason: str


@dataclass(frozen=True)
class DeleteBlock:
    current: Event
    reason: str
    # a second copy of the meeting's block: the record is the other one's, and stays
    surplus: bool = False

    @property
    def kind(self) -> Kind:
        assert self.current.block_tag is not None
        return self.current.block_tag.kind

    @property
    def meeting_key(self) -> str:
        assert self.current.block_tag is not None
        return self.current.block_tag.meeting_key


@dataclass(frozen=True)
class WriteAgenda:
    """Set a meeting's description: agenda inserted, rewritten, or stripped (tag None)."""

    meeting: Event
    description: str
    tag: AgendaTag | None
    notify: bool
    reason: str

    kind = Kind.AGENDA

    @property
    def meeting_key(self) -> str:
        return self.meeting.key


@dataclass(frozen=True)
class Adopt:
    """An artifact found on the calendar by its tag that the store does not know (a crash
    between the provider write and the database write): record it instead of duplicating it."""

    kind: Kind
    meeting_key: str
    event: Event
    reason: str
    inputs: str = ""  # of an agenda whose tag does not say what it carries (an earlier callplan)


@dataclass(frozen=True)
class Tombstone:
    """A person deleted an artifact: remember it so it is never recreated."""

    kind: Kind
    meeting_key: str
    ref: str
    reason: str


@dataclass(frozen=True)
class Forget:
    """An artifact the store remembers is gone, and its meeting no longer wants it anyway:
    most likely the agent removed it itself and a crash came between the provider's delete
    and the database write. Drop the record without a tombstone, so the audit log does not
    blame a person and the artifact comes back if the meeting wants it again."""

    kind: Kind
    meeting_key: str
    ref: str
    reason: str


Change = CreateBlock | UpdateBlock | DeleteBlock | WriteAgenda | Adopt | Tombstone | Forget

# What the store alone hears of comes first, then what frees the calendar before what fills it.
_RANK = {
    Tombstone: 0,
    Adopt: 0,
    Forget: 0,
    DeleteBlock: 1,
    UpdateBlock: 2,
    CreateBlock: 3,
    WriteAgenda: 4,
}


def in_order(changes: Iterable[Change]) -> list[Change]:
    """A plan's changes in the order the engine applies them (stable within a rank).

    The changes' positions are sorted by their ranks, each looked up by built-in functions
    alone, not by a Python key function called for every change; a sort of positions is stable
    as a sort of the changes is."""
    found = list(changes)
    ranks = list(map(_RANK.__getitem__, map(type, found)))
    return list(map(found.__getitem__, sorted(range(len(ranks)), key=ranks.__getitem__)))


def verb(change: Change) -> str:
    """A short name for tables and logs."""
    match change:
        case CreateBlock():
            return "create"
        case UpdateBlock():
            return "update"
        case DeleteBlock():
            return "delete"
        case WriteAgenda(tag=None):
            return "strip agenda"
        case WriteAgenda():
            return "write agenda"
        case Adopt():
            return "adopt"
        case Tombstone():
            return "tombstone"
        case Forget():
            return "forget"
    raise TypeError(change)
