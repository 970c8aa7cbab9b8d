"""Garbage collection while a plan runs: young objects as ever, the whole heap not.

A plan builds many objects that outlive it only briefly (contexts, texts, changes), and
Python's collector counts them as long-lived once they survive two young collections: a
large plan then sets off full collections, each walking every object of the process (the
store's rows, the imported libraries, the other accounts' data), and finding almost nothing
to free, since the plan still holds what it built. `deferred()` puts full collections off
while any plan runs. Young collections go on, so the cycles a plan makes and drops are freed;
the next full collection after the last plan ends walks the heap once.

Young collections also come less often while a plan runs. Each walks the young objects that
are still alive, and a plan keeps nearly all it builds until it returns: with the collector's
usual threshold most of a young collection's work is walking the plan's own objects, again
when they are collected with the middle generation. A higher young threshold walks them
fewer times. What a plan drops in cycles waits a little longer to be freed, a bounded amount
(the young threshold's count of objects), and only while a plan runs.

The collector's thresholds belong to the whole process, and the service plans several
accounts at once in threads: the sections are counted under a lock, the first to enter
raises the thresholds and the last to leave puts back what it found.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

# young collections between full ones while a plan runs (the collector's default is 10): far
# more than a plan makes, so none is full
DEFERRED = 10_000
# objects allocated (less those freed) between young collections while a plan runs (the
# collector's default is 700): young collections still run, and a middle one after every ten
YOUNG = 20_000

_lock = threading.Lock()
_inside = 0
_found: tuple[int, int, int] = gc.get_threshold()  # the thresholds the first section found


@contextmanager
def deferred() -> Iterator[None]:
    """A section in which no full collection runs and young ones run less often (see the
    module's docstring)."""
    global _inside, _found
    with _lock:
        if _inside == 0:
            _found = gc.get_threshold()
            young, middle, full = _found
            gc.set_threshold(max(young, YOUNG), middle, max(full, DEFERRED))
        _inside += 1
    try:
        yield
    finally:
        with _lock:
            _inside -= 1
            if _inside == 0:
                gc.set_threshold(*_found)
