"""One process serving many calendars: `callplan run` with many accounts on a 60 s interval.

Each seller has their own calendar on one server (Radicale, the Google fake, the Graph fake),
with an internal meeting and, for every tenth seller, a customer meeting (so first cycles
write a little, and the second ones read that back and plan again). The daemon runs as
systemd would start it; the benchmark waits for READY=1, lets every account cycle a few
times, and reads what systemd and an operator would see: from the daemon's log lines, how
late each cycle started against the time it was scheduled for (lag); from /proc, its CPU
time and its peak resident memory. CPU is taken over the interval after every account's
second cycle, when every calendar is quiet (what a process serving them costs from then
on), and beside it from the end of the first cycles, which still holds the second ones.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.bench.report import Row
from tests.support.servers.targets import SERVERS, Target
from tests.support.service_process import config, cycle_lines, running

GROUP = "One process, many calendars"
LARGE = 10_000  # calendars: the size the issue sets targets for, against the fakes
TICKS = os.sysconf("SC_CLK_TCK")


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def lags(lines: list[dict[str, str]]) -> list[float]:
    """Seconds each cycle started after the time its account's previous cycle scheduled it for."""
    scheduled: dict[str, datetime] = {}
    found = []
    for fields in lines:
        started = moment(fields["ts"]) - timedelta(milliseconds=int(fields["ms"]))
        account = fields["account"]
        if account in scheduled:
            found.append(max(0.0, (started - scheduled[account]).total_seconds()))
        if "next" in fields:
            scheduled[account] = moment(fields["next"])
    return found


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def peak_rss_mb(pid: int) -> float:
    line = next(
        line
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if line.startswith("VmHWM:")
    )
    return int(line.split()[1]) / 1024


def sellers(target: Target, folder: Path, count: int) -> list[dict[str, object]]:
    """`count` sellers, each with a calendar holding a meeting or two from tomorrow on."""
    first = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)

    def one(number: int) -> dict[str, object]:
        harness = target.new_calendar(target.upstream)
        colleague = "bo@" + harness.seller.partition("@")[2]
        harness.add_meeting(
            f"Team sync {number}", first + timedelta(hours=number % 8), guests=[colleague]
        )
        if number % 10 == 0:
            harness.add_meeting(f"Globex call {number}", first + timedelta(hours=9))
        options = target.account_options(harness, folder / f"seller{number}")
        return {
            "name": f"seller{number}",
            "provider": target.name,
            "email": harness.seller,
            "calendars": [harness.calendar],
            **options,
        }

    for number in range(count):
        (folder / f"seller{number}").mkdir(parents=True)
    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(count)))


def behind(name: str, count: int, cycled: int, seconds: float, pid: int) -> list[Row]:
    """The rows of a run in which not every calendar had its first cycle in time."""
    where = f"{name}: {count:,} calendars"
    return [
        Row(
            GROUP,
            f"{where}, first cycles",
            f"only {cycled:,} of {count:,} calendars had their first cycle {seconds:.0f} s after "
            f"READY=1 (the process used {cpu_seconds(pid):.0f} s CPU)",
            "every calendar cycles within the interval",
            False,
        ),
        Row(
            GROUP,
            f"{where}, peak memory so far",
            f"{peak_rss_mb(pid):.0f} MB resident",
        ),
    ]


@dataclass(frozen=True)
class Share:
    """The CPU a window of a run took, as a share of one CPU, with what its cycles did."""

    fraction: float
    text: str


def share(
    since: tuple[float, float, int], end: tuple[float, float], lines: list[dict[str, str]]
) -> Share:
    """The share of one CPU from `since` (CPU seconds, wall seconds, cycles logged then) to `end`,
    and how many of the cycles logged in between planned."""
    cpu, wall = end[0] - since[0], end[1] - since[1]
    cycles = lines[since[2] :]
    planned = sum(1 for fields in cycles if str(fields.get("planning", "")).startswith("planned"))
    return Share(
        cpu / wall,
        f"{cpu / wall:.0%} of one CPU ({cpu:.1f} s CPU in {wall:.0f} s; {planned:,} of "
        f"{len(cycles):,} cycles planned)",
    )


def run_target(
    target: Target,
    folder: Path,
    count: int,
    interval: float,
    rounds: int,
    patience: float | None = None,
) -> list[Row]:
    """`count` calendars served by one `callplan run`, for `rounds` cycles each; `patience`
    (seconds after READY=1) is how long to wait for that, by default a few intervals."""
    accounts = sellers(target, folder, count)
    settings = config(
        folder / "state.db",
        accounts,
        interval_seconds=interval,
        jitter_seconds=interval / 10,
        backoff_max_seconds=max(900, interval),
    )
    settings["defaults"]["rules"]["internal_domains"] = [
        str(accounts[0]["email"]).partition("@")[2]
    ]
    with running(folder, settings, target.environment()) as service:
        assert service.process is not None
        pid = service.process.pid
        service.notify.wait(
            lambda message: message.get("READY") == "1", timeout=120, what="READY=1"
        )
        ready = time.monotonic()
        deadline = ready + (patience or interval * (rounds + 2) + 120)
        # (CPU seconds, wall seconds, cycles logged) when every first cycle (a full read) was
        # over, and when every second one was: those read back what the first ones wrote
        first: tuple[float, float, int] | None = None
        second: tuple[float, float, int] | None = None
        while time.monotonic() < deadline:
            done: defaultdict[str, int] = defaultdict(int)
            lines = cycle_lines(service.log())
            for fields in lines:
                done[fields["account"]] += 1
            least = min(done.values()) if len(done) == count else 0
            if first is None and least >= 1:
                first = (cpu_seconds(pid), time.monotonic(), len(lines))
            if second is None and least >= 2:
                second = (cpu_seconds(pid), time.monotonic(), len(lines))
            if least >= rounds:
                break
            time.sleep(1)
        if first is None or second is None:  # it could not keep up: say how far it got
            return behind(target.name, count, len(done), time.monotonic() - ready, pid)
        end, peak = (cpu_seconds(pid), time.monotonic()), peak_rss_mb(pid)
        lines = cycle_lines(service.log())
    late = lags(lines)
    failed = [fields for fields in lines if fields.get("outcome") != "ok"]
    quiet = [int(fields["requests"]) for fields in lines if fields.get("changes") == "0"]
    where = f"{count:,} calendars every {interval:g} s"
    large = count >= LARGE  # the targets for a process serving this many
    median = statistics.median(late)
    settled = share(second, end, lines)
    return [
        Row(
            GROUP,
            f"{target.name}: {where}, cycle lag",
            f"median {median:.1f} s, max {max(late):.1f} s "
            f"over {len(late):,} cycles ({len(failed)} failed)",
            "median under 5 s" if large else f"under the interval ({interval:g} s)",
            median < 5 if large else max(late) < interval,
        ),
        Row(
            GROUP,
            f"{target.name}: {where}, CPU share",
            f"{settled.text} once every calendar's second cycle was over; "
            f"{share(first, end, lines).text} from the end of the first cycles, with the second "
            f"ones, which read back what the first ones wrote "
            f"({statistics.mean(quiet):.1f} requests per cycle that changed nothing)",
            "under 25% of one core, every calendar quiet" if large else "",
            settled.fraction < 0.25 if large else None,
        ),
        Row(
            GROUP,
            f"{target.name}: {where}, peak memory",
            f"{peak:.0f} MB resident ({peak * 1024 / count:.0f} KB a calendar)",
            "under 1 GB" if large else "under 300 MB",
            peak < (1024 if large else 300),
        ),
    ]


def run(
    quick: bool = False, counts: tuple[int, ...] | None = None, providers: tuple[str, ...] = ()
) -> list[Row]:
    """Each provider at each count of calendars: 1,000, and LARGE against the fakes (Radicale,
    a real server, is left out at that size)."""
    interval, rounds = (10.0, 3) if quick else (60.0, 3)
    rows = []
    for count in counts or ((50,) if quick else (1_000, LARGE)):
        for name, serve in SERVERS.items():
            if (providers and name not in providers) or (count >= LARGE and name == "caldav"):
                continue
            with (
                tempfile.TemporaryDirectory(prefix=f"callplan-bench-{name}-") as folder,
                serve(Path(folder) / "server") as target,
            ):
                rows += run_target(target, Path(folder) / "agent", count, interval, rounds)
    return rows
