"""Full garbage collections are put off while plans run, young ones come less often, and only
then (agent.sync.collection)."""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

import pytest

from agent.sync import collection


@pytest.fixture(autouse=True)
def thresholds() -> Iterator[tuple[int, int, int]]:
    """The process's thresholds, put back after each test whatever it did."""
    found = gc.get_threshold()
    yield found
    gc.set_threshold(*found)


def test_a_plan_defers_full_collections_and_leaves_the_thresholds_it_found() -> None:
    gc.set_threshold(500, 7, 12)
    with collection.deferred():
        assert gc.get_threshold() == (collection.YOUNG, 7, collection.DEFERRED)
    assert gc.get_threshold() == (500, 7, 12)


def test_higher_thresholds_than_a_plan_needs_are_left_as_they_are() -> None:
    found = (collection.YOUNG + 1, 7, collection.DEFERRED + 1)
    gc.set_threshold(*found)
    with collection.deferred():
        assert gc.get_threshold() == found
    assert gc.get_threshold() == found


def collections(deferring: bool) -> int:
    """The collections (young, and middle ones with them) while a plan-like build keeps many
    objects alive."""
    count = 0

    def seen(phase: str, info: dict[str, int]) -> None:
        nonlocal count
        if phase == "start":
            count += 1

    gc.collect()
    gc.set_threshold(700, 10, 10)
    gc.callbacks.append(seen)
    try:
        with collection.deferred() if deferring else contextlib.nullcontext():
            kept: list[list[int]] = [[] for _ in range(5 * collection.YOUNG)]
            del kept
    finally:
        gc.callbacks.remove(seen)
    return count


def test_young_collections_come_less_often_inside() -> None:
    assert collections(deferring=False) >= 5 * collection.YOUNG // 700
    assert 1 <= collections(deferring=True) <= 5


def generations_collected(deferring: bool) -> set[int]:
    """The generations collected while a plan-like build keeps many objects alive."""
    generations: set[int] = set()

    def seen(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            generations.add(info["generation"])

    gc.collect()
    gc.set_threshold(700, 10, 10)
    gc.callbacks.append(seen)
    try:
        with collection.deferred() if deferring else contextlib.nullcontext():
            kept: list[list[list[int]]] = [[[] for _ in range(1_000)] for _ in range(300)]
            del kept
    finally:
        gc.callbacks.remove(seen)
    return generations


def test_no_full_collection_runs_inside_and_young_ones_do() -> None:
    assert 2 in generations_collected(deferring=False)  # what a plan would otherwise set off
    assert generations_collected(deferring=True) == {0, 1}


def test_overlapping_plans_in_threads_restore_the_thresholds_when_the_last_leaves() -> None:
    gc.set_threshold(700, 10, 10)
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    during: list[tuple[int, int, int]] = []

    def first() -> None:
        with collection.deferred():
            first_in.set()
            second_in.wait(5)
        first_out.set()

    def second() -> None:
        first_in.wait(5)
        with collection.deferred():
            second_in.set()
            first_out.wait(5)
            during.append(gc.get_threshold())  # the first plan has ended, this one has not

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert during == [(collection.YOUNG, 10, collection.DEFERRED)]
    assert gc.get_threshold() == (700, 10, 10)


def test_a_plan_that_fails_still_restores_the_thresholds() -> None:
    gc.set_threshold(700, 10, 10)
    with pytest.raises(RuntimeError), collection.deferred():
        raise RuntimeError("the plan failed")
    assert gc.get_threshold() == (700, 10, 10)
