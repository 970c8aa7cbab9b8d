"""Counting what fault scenarios did and found, for the summary printed after the tests."""

from __future__ import annotations

from dataclasses import dataclass

from tests.faults.scenario import Findings


@dataclass
class Tally:
    scenario: str
    runs: int = 0  # agent runs (cycles or processes) that met a fault
    faults: int = 0  # faults injected
    duplicates: int = 0
    text_lost: int = 0
    orphans: int = 0
    extra_requests: int | None = None  # beyond a fault-free run of the same scenario

    def add(self, findings: Findings) -> Findings:
        self.duplicates += findings.duplicates
        self.text_lost += findings.text_lost
        self.orphans += findings.orphans
        return findings

    def line(self) -> str:
        extra = "" if self.extra_requests is None else f", {self.extra_requests} extra requests"
        return (
            f"{self.scenario}: {self.runs} runs, {self.faults} faults injected, {self.duplicates} "
            f"duplicates found, {self.text_lost} text lost, {self.orphans} orphans{extra}"
        )


TALLIES: list[Tally] = []


def summary_lines() -> list[str]:
    return [tally.line() for tally in TALLIES]
