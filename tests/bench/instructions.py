"""Instruction counts: what a piece of work costs, the same on a busy machine as on an idle one.

Times on a shared machine vary with its load from one run to the next; the number of
instructions a process executes does not (given the same Python, the same libraries and
PYTHONHASHSEED). `count(work)` runs `python -m tests.bench.instructions WORK REPEAT` under
valgrind's callgrind twice, doing the work once and then twice after the same set-up, and
returns the difference: the instructions of one run of the work, warm (its caches filled and
its code loaded by the run before, as the timed runs are), without those of starting Python,
importing callplan or building the work's data.

A ratio of two counts (the planner's to a yardstick's) is then what compares between runs.
Counting is slow (callgrind runs a program some fifty times slower), so the benchmarks count
only a few cases.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from tests.bench.yardstick import YARDSTICKS

VALGRIND = shutil.which("valgrind")


def available() -> bool:
    return VALGRIND is not None


def _executed(work: str, repeat: int) -> int:
    """The instructions callgrind counted for the whole process, set-up and `repeat` runs."""
    assert VALGRIND is not None
    with tempfile.TemporaryDirectory(prefix="callplan-callgrind-") as folder:
        out = Path(folder) / "callgrind.out"
        subprocess.run(
            [
                VALGRIND,
                "--tool=callgrind",
                f"--callgrind-out-file={out}",
                sys.executable,
                "-m",
                "tests.bench.instructions",
                work,
                str(repeat),
            ],
            check=True,
            capture_output=True,
            env={**os.environ, "PYTHONHASHSEED": "0"},
        )
        for line in out.read_text().splitlines():
            if line.startswith("summary:") or line.startswith("totals:"):
                return int(line.split()[1])
    raise RuntimeError(f"callgrind wrote no total for {work}")


def count(work: str) -> int:
    """The instructions one warm run of `work` executes (see the module docstring)."""
    return _executed(work, 2) - _executed(work, 1)


def _work(name: str) -> Callable[[], object]:
    """The work a name stands for, with its data built: a yardstick, or a planner case
    ("first-sync:10000", "later-cycles:10000")."""
    if name in YARDSTICKS:
        return YARDSTICKS[name]
    from tests.bench.bench_planner import CASES

    case, _, size = name.partition(":")
    return CASES[case](int(size))


def main() -> None:
    name, repeat = sys.argv[1], int(sys.argv[2])
    work = _work(name)
    for _ in range(repeat):
        work()


if __name__ == "__main__":
    main()
