"""Many workers, one PostgreSQL: `callplan worker` processes sharing a cluster's accounts.

Each seller has a calendar on the Google Calendar fake with an internal meeting (every tenth a
customer meeting too), applied to the cluster with an interval far shorter than the workers can
keep (more cycles are due than they can run), so what the rows show is what the workers can
serve. For 1, 2 and 3 workers in turn, once every account has had its first (full) cycle, a
window measures the cycles the workers logged, their CPU time from /proc, and the wall time.
Then, with the accounts at a calm pace, PostgreSQL logs every statement (by application name:
the cycles' store, the task queue) while the cycles change nothing.
"""

from __future__ import annotations

import re
import tempfile
import time
from collections import Counter
from contextlib import closing
from pathlib import Path

from tests.bench.bench_daemon import cpu_seconds, sellers
from tests.bench.report import Row
from tests.support.cluster import (
    apply,
    cluster_document,
    eventually,
    migrated,
    seconds,
    worker_settings,
    workers,
)
from tests.support.servers.postgres import PostgresServer
from tests.support.servers.targets import SERVERS, Target
from tests.support.service_process import cycle_lines

GROUP = "Many workers, one PostgreSQL"
HEARTBEAT, STALLED = 2.0, 10.0
STATEMENT = re.compile(r"^(?P<app>[^|]*)\|.*?LOG:  (?:statement|execute [^:]*): ", re.M)


def throughput(
    folder: Path, url: str, environ: dict[str, str], count: int, size: int, window: float
) -> tuple[float, float, float]:
    """`count` workers serving `size` accounts that are always due: cycles served in the window,
    the workers' CPU seconds, the window's wall seconds."""
    names = [f"w{number}" for number in range(1, count + 1)]
    with workers(folder, names, worker_settings(url, workers=4), environ) as running:
        begun = time.time()

        def cycled() -> bool:
            served = {
                line["account"]
                for worker in running.values()
                for line in cycle_lines(worker.log())
                if seconds(line["ts"]) > begun
            }
            return len(served) == size

        eventually(cycled, 600, "every account cycled once")
        cpu = {name: cpu_seconds(worker.pid) for name, worker in running.items()}
        start = time.time()
        time.sleep(window)
        end = time.time()
        used = sum(cpu_seconds(worker.pid) - cpu[name] for name, worker in running.items())
        served = sum(
            1
            for worker in running.values()
            for line in cycle_lines(worker.log())
            if start < seconds(line["ts"]) <= end
        )
    return served, used, end - start


def quiet_queries(
    database: PostgresServer, folder: Path, url: str, environ: dict[str, str], window: float
) -> tuple[Counter[str], int]:
    """The statements PostgreSQL ran in a window of quiet cycles (one worker), by application
    name, and the quiet cycles in it."""
    with workers(folder, ["q1"], worker_settings(url, workers=4), environ) as running:
        worker = running["q1"]
        eventually(lambda: len(cycle_lines(worker.log())) > 0, 120, "a first cycle")
        with closing(database.admin()) as admin:
            admin.execute("ALTER SYSTEM SET log_line_prefix = '%a|'")
            admin.execute("ALTER SYSTEM SET log_statement = 'all'")
            admin.execute("SELECT pg_reload_conf()")
            log = database.folder / "log"
            offset = log.stat().st_size
            start = time.time()
            time.sleep(window)
            end = time.time()
            admin.execute("ALTER SYSTEM RESET log_statement")
            admin.execute("SELECT pg_reload_conf()")
        text = log.read_bytes()[offset:].decode(errors="replace")
        lines = [
            line
            for line in cycle_lines(worker.log())
            if start < seconds(line["ts"]) <= end and line["changes"] == "0"
        ]
    by_app = Counter(
        "store" if match["app"] == "callplan" else "queue"
        for match in STATEMENT.finditer(text)
        if match["app"].startswith("callplan")
    )
    return by_app, len(lines)


def run_cluster(target: Target, folder: Path, size: int, window: float) -> list[Row]:
    accounts = sellers(target, folder / "agents", size)
    domain = str(accounts[0]["email"]).partition("@")[2]
    with PostgresServer() as database:
        state = migrated(database)

        def document(interval: float) -> dict[str, object]:
            found = cluster_document(
                state.url, accounts, interval=interval, heartbeat=HEARTBEAT, stalled_after=STALLED
            )
            found["defaults"]["rules"]["internal_domains"] = [domain]
            return found

        apply(folder, document(1.0))
        environ = target.environment()
        measured = {
            count: throughput(folder / f"{count}w", state.url, environ, count, size, window)
            for count in (1, 2, 3)
        }
        apply(folder, document(30.0))
        by_app, quiet = quiet_queries(database, folder / "quiet", state.url, environ, 40.0)
    rows = []
    rate = {count: served / wall for count, (served, _used, wall) in measured.items()}
    for count, (served, used, wall) in measured.items():
        rows.append(
            Row(
                GROUP,
                f"{count} worker{'s' if count > 1 else ''}, {size} Google calendars always due",
                f"{served / used:.1f} calendars per worker CPU-second; {rate[count]:.1f} cycles/s "
                f"({served:,} cycles in {wall:.0f} s, {used:.1f} s CPU)",
            )
        )
    rows.append(
        Row(
            GROUP,
            "cycles/s with 2 and 3 workers against 1",
            f"× {rate[2] / rate[1]:.2f} and × {rate[3] / rate[1]:.2f} on this machine's 2 CPUs, "
            "which the workers share with PostgreSQL and the fake server",
        )
    )
    total = sum(by_app.values())
    rows.append(
        Row(
            GROUP,
            f"PostgreSQL statements per quiet cycle (one worker, {size} calendars every 30 s)",
            f"{total / quiet:.1f} ({by_app['store'] / quiet:.1f} by the cycle's store, "
            f"{by_app['queue'] / quiet:.1f} by the task queue) over {quiet} quiet cycles",
        )
    )
    return rows


def run(quick: bool = False) -> list[Row]:
    size, window = (60, 10.0) if quick else (300, 30.0)
    with (
        tempfile.TemporaryDirectory(prefix="callplan-bench-cluster-") as folder,
        SERVERS["google"](Path(folder) / "server") as target,
    ):
        return run_cluster(target, Path(folder), size, window)
