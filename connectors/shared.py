"""What one process builds once and shares between the connectors of all its accounts.

A process serving many sellers opens a connector for each, and whatever each builds for
itself (a session with its pools, an API's service object) it holds as many times as there
are sellers. What holds no account's credentials or state is built here once, on first use,
under a lock, since connectors are opened by the daemon's workers in parallel.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_LOCK = threading.RLock()  # a build may ask for another
_built: dict[str, Any] = {}


def once(name: str, build: Callable[[], T]) -> T:
    """What `build()` returned the first time `name` was asked for in this process."""
    with _LOCK:
        if name not in _built:
            _built[name] = build()
        found: T = _built[name]
        return found
