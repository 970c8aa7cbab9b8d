"""Benchmark results: rows of a table, printed with rich and written as Markdown."""

from __future__ import annotations

import os
import platform
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table


@dataclass(frozen=True)
class Row:
    group: str  # what is measured: "Planner throughput"
    case: str  # under which conditions: "10,000 events, first sync"
    result: str  # counts and ratios first, absolute times next to them
    target: str = ""  # what the issue asks for, when it asks
    ok: bool | None = None  # whether the target is met (None: no target)

    @property
    def verdict(self) -> str:
        return {True: "met", False: "MISSED", None: ""}[self.ok]


def table(rows: Iterable[Row]) -> Table:
    out = Table(title="callplan benchmarks")
    for column in ("Benchmark", "Case", "Result", "Target", ""):
        out.add_column(column, overflow="fold")
    for row in rows:
        out.add_row(row.group, row.case, row.result, row.target, row.verdict)
    return out


def machine() -> str:
    return (
        f"Python {platform.python_version()} on {platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} CPUs"
    )


def markdown(rows: list[Row], notes: list[str], measured: str = "") -> str:
    measured = measured or f"Measured {datetime.now(UTC):%Y-%m-%d} with `python -m tests.bench`"
    lines = [
        "# Benchmark results",
        "",
        f"{measured} ({machine()}).",
        "Counts and ratios are what to compare between machines; absolute times are given next to "
        "them.",
        "",
        "| Benchmark | Case | Result | Target | |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {r.group} | {r.case} | {r.result} | {r.target} | {r.verdict} |" for r in rows]
    lines += ["", *notes, ""]
    return "\n".join(lines)


def write(path: Path, rows: list[Row], notes: list[str]) -> None:
    path.write_text(markdown(rows, notes))


def merge(path: Path, rows: list[Row], notes: list[str]) -> None:
    """Write the rows of the benchmarks run alone (`--only`) in place of their groups' rows,
    keeping the others and saying when each was measured."""
    text = path.read_text()
    verdicts = {"met": True, "MISSED": False, "": None}
    kept = []
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("| ") and len(cells) == 5 and cells[0] != "Benchmark":
            if cells[0] not in {row.group for row in rows}:
                kept.append(Row(cells[0], cells[1], cells[2], cells[3], verdicts[cells[4]]))
    first = text.splitlines()[2].partition(" (")[0]
    groups = ", ".join(dict.fromkeys(row.group for row in rows))
    measured = f"{first}; {groups} on {datetime.now(UTC):%Y-%m-%d} (`--only`)"
    path.write_text(markdown(kept + rows, notes, measured))


def show(rows: list[Row]) -> None:
    Console(width=160).print(table(rows))
