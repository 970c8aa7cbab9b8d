"""A debrief as callplan keeps it: what a seller wrote, section by section, and its JSON.

The form's parser (agent.text.debrief) makes these; the store keeps them and the loop reads
them, without needing the parser.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any


@dataclass(frozen=True)
class Item:
    """One commitment or next step: what, by when (a date when it parses), and whether done."""

    what: str
    due: date | None = None
    due_text: str = ""  # the date as the seller wrote it
    done: bool = False

    @property
    def due_label(self) -> str:
        """The due date as shown to people: "Mon 25 Mar 2030", or the seller's words."""
        return self.due.strftime("%a %d %b %Y") if self.due else self.due_text


@dataclass(frozen=True)
class Shared:
    """The part of one version of a debrief that the next agenda may carry."""

    objective: str = ""
    theirs: tuple[Item, ...] = ()
    ours: tuple[Item, ...] = ()

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=_json_default, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Shared:
        data = json.loads(text)
        return cls(
            data.get("objective", ""),
            *(
                tuple(_item_from(entry) for entry in data.get(name, ()))
                for name in ("theirs", "ours")
            ),
        )


@dataclass(frozen=True)
class Debrief:
    """What a seller wrote into one debrief form, section by section."""

    liked: str = ""
    differently: str = ""
    authority: str = ""
    theirs: tuple[Item, ...] = ()
    ours: tuple[Item, ...] = ()
    objective: str = ""
    time: str = ""
    interest: str = ""
    questions: tuple[str, ...] = ()
    overview: str = ""
    next_steps: tuple[Item, ...] = ()
    next_meeting: str = ""
    openers: tuple[str, ...] = ()
    notes: str = ""
    # the quick check, private: "yes", "partly", "no", "unsure" (learned only), "" unanswered
    our_goals: str = ""
    their_goals: str = ""
    more: str = ""  # could we have achieved more
    learned: str = ""  # did they learn something that mattered to them
    # private notes: unknown headings, marked and held-back text
    other: tuple[str, ...] = field(default=())
    withheld: tuple[str, ...] = ()  # lines under a shared section's heading that were not shared

    @property
    def written(self) -> bool:
        """Did the seller write anything at all into the form's sections?"""
        return any(getattr(self, name) for name in self.__dataclass_fields__)

    @property
    def shared(self) -> Shared:
        return Shared(self.objective, self.theirs, self.ours)

    def steps(self) -> tuple[Item, ...]:
        """The next steps this debrief agreed: open commitments of both sides and next-step
        lines."""
        return tuple(item for item in self.theirs + self.ours + self.next_steps if not item.done)

    @property
    def dated_next_steps(self) -> bool:
        """At least one next step was recorded, and every one of them has a date."""
        steps = self.steps()
        return bool(steps) and all(item.due is not None for item in steps)

    @property
    def both_goals(self) -> bool | None:
        """Did both sides reach their goals? None while it cannot be told: no answer says no
        and one of the two is unanswered."""
        answers = (self.our_goals, self.their_goals)
        if any(answer not in ("", "yes") for answer in answers):
            return False
        return True if all(answers) else None

    @property
    def could_do_more(self) -> bool | None:
        return {"yes": True, "no": False}.get(self.more)

    @property
    def they_learned(self) -> bool | None:
        """None when unanswered or "don't know"."""
        return {"yes": True, "no": False}.get(self.learned)

    @property
    def handle_better(self) -> bool | None:
        """Should we have asked or handled something better? Yes when the seller wrote what
        they would do differently; no when they answered the quick check and left that empty;
        else unknown."""
        if self.differently.strip():
            return True
        answered = any((self.our_goals, self.their_goals, self.more, self.learned))
        return False if answered else None

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=_json_default, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Debrief:
        data = json.loads(text)
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        for name in ("theirs", "ours", "next_steps"):
            known[name] = tuple(_item_from(entry) for entry in known.get(name, ()))
        for name in ("questions", "openers", "other", "withheld"):
            known[name] = tuple(known.get(name, ()))
        return cls(**known)


def _json_default(value: Any) -> str:
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(type(value))


def _item_from(entry: dict[str, Any]) -> Item:
    due = entry.get("due")
    return Item(
        entry["what"],
        date.fromisoformat(due) if due else None,
        entry.get("due_text", ""),
        entry.get("done", False),
    )
