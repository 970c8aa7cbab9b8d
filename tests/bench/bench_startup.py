"""Start-up time: how long `callplan` takes to import and read its config, next to bare Python.

Each command runs as a new process several times; the median counts. The ratio to `python -c
pass` is what carries between machines.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import tomli_w

from bench.report import Row

GROUP = "Start-up time"
RUNS = 7


def config(folder: Path) -> Path:
    """A config with one CalDAV account (nothing is contacted: `config check` only validates)."""
    secret = folder / "password"
    secret.write_text("secret")
    secret.chmod(0o600)
    path = folder / "config.toml"
    path.write_text(tomli_w.dumps({
        "state": str(folder / "state.db"),
        "defaults": {"timezone": "Europe/Berlin", "rules": {"internal_domains": ["acme.example"]}},
        "accounts": [{"name": "work", "provider": "caldav", "email": "alex@acme.example",
                      "url": "http://127.0.0.1:9/", "username": "alex", "password_file": str(secret)}],
    }))  # fmt: skip
    return path


def median_seconds(command: list[str]) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run(quick: bool = False) -> list[Row]:
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="callplan-bench-") as folder:
        path = config(Path(folder))
        # EXTENSION POINT: `callplan run` until its first READY=1 (NOTIFY_SOCKET) joins this
        # list once the daemon exists.
        commands = [
            ("callplan --help", [python, "-m", "agent.cli", "--help"]),
            ("callplan config check (import + config + connectors)", [python, "-m", "agent.cli", "--config", str(path), "config", "check"]),
        ]  # fmt: skip
        bare = median_seconds([python, "-c", "pass"])
        rows = [Row(GROUP, "python -c pass (the floor)", f"{bare * 1000:.0f} ms")]
        for name, command in commands:
            seconds = median_seconds(command)
            rows.append(Row(GROUP, name, f"× {seconds / bare:.0f} bare Python ({seconds * 1000:.0f} ms)"))
    return rows
