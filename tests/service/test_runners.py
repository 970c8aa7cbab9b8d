"""The service's runners: as few threads as keep up with the cycles, never more than `workers`,
and a cycle that hangs never holds up the accounts handed over after it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest

from agent.service.runners import Runners
from tests.support.cluster import eventually

WAIT = 10  # seconds a test waits for a thread before it fails


class Cycles:
    """A `run` for the runners: records which accounts ran, how many at once at most, and can
    hold an account's cycle until released or make it fail. Each cycle takes `seconds` on the
    runners' clock."""

    def __init__(self, seconds: float = 0.0) -> None:
        self.seconds = seconds
        self.now = 0.0
        self.ran: list[str] = []
        self.inside = 0
        self.most = 0
        self.held: dict[str, threading.Event] = {}
        self.entered: dict[str, threading.Event] = {}
        self.failing: set[str] = set()
        self.done = threading.Semaphore(0)
        self._lock = threading.Lock()

    def clock(self) -> float:
        return self.now

    def hold(self, name: str) -> threading.Event:
        self.entered[name] = threading.Event()
        self.held[name] = threading.Event()
        return self.held[name]

    def __call__(self, name: str) -> None:
        with self._lock:
            self.inside += 1
            self.most = max(self.most, self.inside)
        try:
            if name in self.held:
                self.entered[name].set()
                assert self.held[name].wait(WAIT)
            if name in self.failing:
                raise RuntimeError(f"{name} could not be recorded")
            with self._lock:
                self.ran.append(name)
                self.now += self.seconds
        finally:
            with self._lock:
                self.inside -= 1
            self.done.release()

    def wait(self, count: int) -> None:
        for _ in range(count):
            assert self.done.acquire(timeout=WAIT)


@pytest.fixture
def make() -> Iterator[Callable[..., Runners]]:
    made: list[Runners] = []

    def runners(cycles: Cycles, workers: int = 4, width: float = 0.25) -> Runners:
        made.append(Runners(workers, width, cycles, clock=cycles.clock))
        return made[-1]

    yield runners
    for each in made:
        each.close()


def names(count: int, prefix: str = "a") -> list[str]:
    return [f"{prefix}{number}" for number in range(count)]


def test_quick_cycles_run_one_after_another_on_one_runner_in_the_order_handed_over(
    make: Callable[..., Runners],
) -> None:
    cycles = Cycles(seconds=0.001)
    runners = make(cycles)
    release = cycles.hold("a0")
    runners.hand(names(30))
    assert cycles.entered["a0"].wait(WAIT)
    assert not cycles.done.acquire(timeout=0.2)  # no other runner took the next ones meanwhile
    release.set()
    cycles.wait(30)
    assert cycles.ran == names(30)
    assert cycles.most == 1


def test_a_queue_that_slow_cycles_cannot_start_within_a_slot_gets_runners_up_to_workers(
    make: Callable[..., Runners],
) -> None:
    cycles = Cycles(seconds=1.0)  # four cycles in a slot of a second need four runners
    runners = make(cycles, workers=3, width=1.0)
    runners.hand(["first"])
    cycles.wait(1)
    eventually(lambda: runners.cycle_seconds == pytest.approx(0.1), WAIT, "the first cycle ended")
    for name in names(3, "held"):
        cycles.hold(name)
    runners.hand([*names(3, "held"), *names(40, "then")])
    for name in names(3, "held"):
        assert cycles.entered[name].wait(WAIT)  # three at once: every worker
    for name in names(3, "held"):
        cycles.held[name].set()
    cycles.wait(43)
    assert cycles.most == 3
    assert sorted(cycles.ran) == sorted(["first", *names(3, "held"), *names(40, "then")])


def test_an_account_handed_over_while_a_cycle_hangs_starts_at_once_on_another_runner(
    make: Callable[..., Runners],
) -> None:
    cycles = Cycles(seconds=0.001)
    runners = make(cycles)
    release = cycles.hold("hanging")
    runners.hand(["hanging"])
    assert cycles.entered["hanging"].wait(WAIT)
    runners.hand(["next"])
    cycles.wait(1)
    assert cycles.ran == ["next"]
    release.set()
    cycles.wait(1)
    assert cycles.ran == ["next", "hanging"]


def test_a_cycle_that_fails_to_be_recorded_is_logged_and_the_runner_goes_on(
    make: Callable[..., Runners], caplog: pytest.LogCaptureFixture
) -> None:
    cycles = Cycles()
    cycles.failing.add("a1")
    runners = make(cycles)
    runners.hand(names(3))
    cycles.wait(3)
    assert cycles.ran == ["a0", "a2"]
    (record,) = [record for record in caplog.records if record.msg == "cycle_crashed"]
    assert record.fields["account"] == "a1"  # type: ignore[attr-defined]
    assert "a1 could not be recorded" in record.fields["error"]  # type: ignore[attr-defined]


def test_after_close_nothing_waiting_starts_and_nothing_more_is_taken(
    make: Callable[..., Runners],
) -> None:
    cycles = Cycles()
    runners = make(cycles, workers=1)
    release = cycles.hold("running")
    runners.hand(["running", "waiting"])
    assert cycles.entered["running"].wait(WAIT)
    runners.close()
    runners.hand(["late"])
    release.set()  # the cycle in progress ends as it would
    cycles.wait(1)
    runners._pool.shutdown(wait=True)
    assert cycles.ran == ["running"]
