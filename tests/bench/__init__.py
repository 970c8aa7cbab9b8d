"""Benchmarks: how fast callplan plans, how few requests it spends, how quickly it starts.

Run them all with `python -m tests.bench` from the repository root: it prints a table and
writes tests/bench/RESULTS.md. They are not tests (pytest does not collect them); the
request counts they report are also asserted by tests, the timings are for people.
"""

from __future__ import annotations

import sys
from pathlib import Path

# the benchmarks reuse the test helpers (servers, harnesses, builders), which live in tests/
TESTS = Path(__file__).resolve().parent.parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))
