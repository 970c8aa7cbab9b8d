"""Start-up time: how long `callplan` takes to import and read its config, and the daemon to
tell systemd it is ready, next to bare Python.

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

from tests.bench.report import Row
from tests.support.servers.targets import SERVERS
from tests.support.service_process import config as service_config
from tests.support.service_process import running

GROUP = "Start-up time"
RUNS = 7


def config(folder: Path) -> Path:
    """A config with one CalDAV account (nothing is contacted: `config check` only validates)."""
    secret = folder / "password"
    secret.write_text("secret")
    secret.chmod(0o600)
    path = folder / "config.toml"
    path.write_text(
        tomli_w.dumps(
            {
                "state": str(folder / "state.db"),
                "defaults": {
                    "timezone": "Europe/Berlin",
                    "rules": {"internal_domains": ["acme.example"]},
                },
                "accounts": [
                    {
                        "name": "work",
                        "provider": "caldav",
                        "email": "alex@acme.example",
                        "url": "http://127.0.0.1:9/",
                        "username": "alex",
                        "password_file": str(secret),
                    }
                ],
            }
        )
    )
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
        commands = [
            ("callplan --help", [python, "-m", "agent.cli", "--help"]),
            (
                "callplan config check (import + config + connectors)",
                [python, "-m", "agent.cli", "--config", str(path), "config", "check"],
            ),
        ]
        bare = median_seconds([python, "-c", "pass"])
        rows = [Row(GROUP, "python -c pass (the floor)", f"{bare * 1000:.0f} ms")]
        for name, command in commands:
            seconds = median_seconds(command)
            rows.append(
                Row(GROUP, name, f"× {seconds / bare:.0f} bare Python ({seconds * 1000:.0f} ms)")
            )
        seconds = statistics.median(until_ready(Path(folder) / f"service{run}") for run in range(3))
        rows.append(
            Row(
                GROUP,
                "callplan run until READY=1 (one CalDAV account)",
                f"× {seconds / bare:.0f} bare Python ({seconds * 1000:.0f} ms)",
            )
        )
    return rows


def until_ready(folder: Path) -> float:
    """Seconds from starting the daemon to its READY=1 on the notify socket, as systemd sees it."""
    folder.mkdir()
    with SERVERS["caldav"](folder / "server") as target:
        harness = target.new_calendar(target.upstream)
        options = target.account_options(harness, folder)
        account = {
            "name": "work",
            "provider": "caldav",
            "email": harness.seller,
            "calendars": [harness.calendar],
            **options,
        }
        start = time.perf_counter()
        with running(folder, service_config(folder / "state.db", [account])) as service:
            service.notify.wait(lambda message: message.get("READY") == "1", what="READY=1")
            return time.perf_counter() - start
