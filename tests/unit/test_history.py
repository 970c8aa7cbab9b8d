"""Earlier meetings by customer: the latest one before an instant, and what it carries."""

from __future__ import annotations

from agent.core.history import History, Past
from tests.support.helpers import at


def test_the_last_meeting_before_an_instant_is_the_latest_of_that_customer_s() -> None:
    history = History(
        [
            Past("globex.example", at(2, 10), "Globex 2"),
            Past("initech.example", at(1, 12), "Initech"),
            Past("globex.example", at(0, 10), "Globex 1"),
            Past("", at(1, 9), "On my own"),  # with nobody: before no other meeting
        ]
    )
    last = history.last_before
    assert last("globex.example", at(0, 10)) is None  # strictly before
    found = last("globex.example", at(1, 9))
    assert found is not None and found.title == "Globex 1"
    found = last("globex.example", at(5, 9))
    assert found is not None and found.title == "Globex 2"
    assert last("umbrella.example", at(5, 9)) is None
    assert last("", at(5, 9)) is None
    assert history.carry_before("umbrella.example", at(5, 9)) is None
    assert history.carry_before("globex.example", at(5, 9)) is None  # no debrief was read
