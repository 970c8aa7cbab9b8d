"""Memory per account: what one process holds for each seller it serves, and where it goes.

`callplan run` keeps a connector (and its client library's objects) open for every account
between cycles, so what one account holds, times the accounts, is most of a large process's
memory. For each provider this opens a Session as the daemon does, runs one cycle of a first
account (which pays for what every account shares: imports, parsed API descriptions), then one
cycle of each of `count` more, and asks tracemalloc what the process holds after them over
what it held before, per account. The allocations are grouped by the package that made them
(the servers', which run in this process, left out).
"""

from __future__ import annotations

import gc
import tempfile
import tracemalloc
from collections import Counter
from pathlib import Path

import tomli_w

from agent.config import settings as config_module
from agent.sync.session import Session
from tests.bench.bench_daemon import sellers
from tests.bench.report import Row
from tests.faults.agents import environment
from tests.support.servers.targets import SERVERS, Target
from tests.support.service_process import config

GROUP = "Memory per account"
# allocations made on the servers' side of the process (their threads, their storage)
SERVERS_SIDE = ("*/tests/support/*", "*/radicale/*", "*/socketserver.py", "*/http/server.py")
SHOWN = 5  # the largest packages named in a row


def package(filename: str) -> str:
    """The package a source file belongs to: callplan's own (agent, connectors), an installed
    library's top-level name, or the standard library."""
    parts = Path(filename).parts
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1].removesuffix(".py")
    for own in ("agent", "connectors"):
        if own in parts:
            return own
    return "the standard library"


def held(target: Target, folder: Path, count: int) -> tuple[float, Counter[str]]:
    """Bytes held per account after one cycle of each of `count` accounts, in all and by
    package (see the module docstring)."""
    accounts = sellers(target, folder / "sellers", count + 1)
    path = folder / "callplan.toml"
    path.write_bytes(tomli_w.dumps(config(folder / "state.db", accounts)).encode())
    with environment(target.environment()), Session(config_module.load(path)) as session:
        first, *rest = session.accounts()
        session.run(first)
        gc.collect()
        tracemalloc.start(30)
        try:
            before = tracemalloc.take_snapshot()
            for account in rest:
                report, _ = session.run(account)
                assert not report.failed, report.failure
            gc.collect()
            after = tracemalloc.take_snapshot()
        finally:
            tracemalloc.stop()
    ours = [tracemalloc.Filter(False, pattern, all_frames=True) for pattern in SERVERS_SIDE]
    grown: Counter[str] = Counter()
    for stat in after.filter_traces(ours).compare_to(before.filter_traces(ours), "filename"):
        grown[package(stat.traceback[0].filename)] += stat.size_diff
    return sum(grown.values()) / count, grown


def run(quick: bool = False) -> list[Row]:
    count = 20 if quick else 100
    rows = []
    for name, serve in SERVERS.items():
        with (
            tempfile.TemporaryDirectory(prefix=f"callplan-bench-{name}-") as folder,
            serve(Path(folder) / "server") as target,
        ):
            each, grown = held(target, Path(folder) / "agent", count)
        largest = ", ".join(
            f"{where} {size / count / 1024:,.0f} KB" for where, size in grown.most_common(SHOWN)
        )
        rows.append(
            Row(
                GROUP,
                f"{name}: held per account after its first cycle ({count} accounts, tracemalloc)",
                f"{each / 1024:,.0f} KB: {largest}",
            )
        )
    return rows
