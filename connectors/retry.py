"""Bounded retry timing, shared by the connectors' HTTP sessions.

A retry waits what the server asked for (Retry-After) or an exponential backoff with full
jitter; it stops after `attempts` tries or once `max_wait` seconds of waiting in total would
be exceeded. `sleep` and `random` are injectable so tests never wait on the wall clock.
"""

from __future__ import annotations

import random as random_module
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Backoff:
    attempts: int = 4
    backoff: float = 0.5
    max_wait: float = 60.0
    sleep: Callable[[float], None] = time.sleep
    random: Callable[[], float] = random_module.random

    def jitter(self, attempt: int) -> float:
        """Full-jitter exponential backoff before attempt `attempt + 1`."""
        return self.random() * self.backoff * 2 ** (attempt - 1)

    def gives_up(self, attempt: int, waited: float, delay: float) -> bool:
        return attempt >= self.attempts or waited + delay > self.max_wait
