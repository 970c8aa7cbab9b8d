"""How the service's cycles get threads: as few runners as keep up, never more than `workers`.

A cycle against a nearby or quiet server takes a few milliseconds, most of them holding
Python's interpreter lock. Handing each one to its own thread then costs more than the cycle:
the threads take the lock from one another at every read and write, and each hand-over wakes
a thread. Against a distant server a cycle mostly waits, and many must overlap for the
accounts to keep their pace.

So the accounts handed over wait in one queue, and runners (threads of the pool) start their
cycles one after another until the queue is empty, then end. When accounts are handed over,
runners are added until there are as many as the queue needs to be started within a slot of
the schedule (Little's law: the accounts waiting, times how long a cycle has been taking,
over the slot's seconds), plus one for each cycle in progress, since a cycle in progress may
be one that hangs. At least one runs while anything waits, and never more than `workers`.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

from agent.core.logfmt import emit

log = logging.getLogger("callplan.daemon")
SMOOTHING = 0.1  # the weight of the latest cycle in how long a cycle takes


class Runners:
    """The queue of accounts handed over, and the runners that start their cycles."""

    def __init__(
        self,
        workers: int,
        width: float,
        run: Callable[[str], None],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.width = width  # a slot's seconds: the queue should be started within one
        self._workers = workers
        self._run = run
        self._clock = clock
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="cycle")
        self._lock = threading.Lock()
        self._waiting: dict[str, None] = {}  # in the order handed over
        self._runners = 0
        self._cycling = 0  # runners in a cycle
        self._seconds = 0.0  # how long a cycle takes (a moving average); nothing known at first
        self._closed = False

    @property
    def cycle_seconds(self) -> float:
        """How long a cycle has been taking (a moving average over the cycles that ended)."""
        with self._lock:
            return self._seconds

    @property
    def waiting(self) -> int:
        """How many accounts wait for a runner."""
        with self._lock:
            return len(self._waiting)

    def hand(self, names: Iterable[str]) -> None:
        """Queue the accounts' cycles, and add the runners the queue needs."""
        with self._lock:
            if self._closed:
                return
            self._waiting.update(dict.fromkeys(names))
            if not self._waiting:
                return
            needed = self._cycling + max(
                1, math.ceil(len(self._waiting) * self._seconds / self.width)
            )
            while self._runners < min(needed, self._workers):
                self._runners += 1
                self._pool.submit(self._serve)

    def _serve(self) -> None:
        """A runner: cycle the waiting accounts one after another until none is left."""
        while (name := self._take()) is not None:
            began = self._clock()
            try:
                self._run(name)
            # the cycle records its own failures; this is a failure to record one
            except Exception as exc:
                emit(log, logging.ERROR, "cycle_crashed", account=name, error=repr(exc))
            finally:
                took = self._clock() - began
                with self._lock:
                    self._cycling -= 1
                    self._seconds += (took - self._seconds) * SMOOTHING

    def _take(self) -> str | None:
        """The next waiting account, or None: the queue is empty and this runner ends (counted
        out under the same lock, so an account handed over meanwhile gets a runner)."""
        with self._lock:
            if self._waiting and not self._closed:
                name = next(iter(self._waiting))
                del self._waiting[name]
                self._cycling += 1
                return name
            self._runners -= 1
            return None

    def close(self) -> None:
        """Start no more cycles; those in progress go on (the daemon waits for them)."""
        with self._lock:
            self._closed = True
            self._waiting.clear()
        self._pool.shutdown(wait=False, cancel_futures=True)
