"""`python -m tests.bench [--quick] [--no-write] [--only NAME]`: run every benchmark (or those
named), print a table, write RESULTS.md."""

from __future__ import annotations

import argparse
from pathlib import Path

from tests.bench import (
    bench_cluster,
    bench_daemon,
    bench_memory,
    bench_planner,
    bench_requests,
    bench_startup,
)
from tests.bench.report import merge, show, write

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
BENCHMARKS = {
    "planner": bench_planner,
    "requests": bench_requests,
    "startup": bench_startup,
    "memory": bench_memory,
    "daemon": bench_daemon,
    "cluster": bench_cluster,
}
NOTES = [
    "Notes:",
    "- Planner throughput: synthetic calendars at ten events a working day (60% with customers,",
    "  organised by the seller or by them; the rest internal, declined, cancelled, all-day), so a",
    "  larger calendar spans more days rather than crowding them. A cycle plans the look-ahead",
    "  window only (14 days by default: about 100 events for a busy seller), so 10,000 events in "
    "one",
    '  plan is a stress case. "Later cycles" is what the daemon ran every interval before quiet',
    "  cycles skipped planning: a plan that finds nothing to change. Times are CPU times of the",
    "  process (the least of 3-5 runs, each after a collection), also as multiples of two",
    "  yardsticks timed the same way in the same run (tests/bench/yardstick.py: the first, string",
    "  work alone; the second, the planner's own mix of work, which targets are stated in). The",
    "  10,000-event first sync is also counted in instructions (valgrind --tool=callgrind, one run",
    "  after a warm one, PYTHONHASHSEED=0) against the yardsticks counted the same way: the ratio",
    "  a busy machine does not change, by which its target is judged. Where its time goes: shares",
    "  of cProfile's cumulative times (cProfile slows small calls more than large ones).",
    "- API requests: the agent in-process against each server (Radicale, the Google Calendar fake,",
    "  the Graph fake) through a counting proxy; the timed cases add a simulated round trip to "
    "every",
    "  request. A first sync reads a page of events per request (CalDAV: two requests whatever the",
    "  size; Google: 2,500 events a page; Graph: 100 a page, delta round and calendarView) and "
    "then",
    "  writes each block and agenda once (Google: fifty new blocks to a batch request). The",
    "  2,000-event calendar is crowded (about 140 events a day); changed meetings are measured on "
    "one",
    "  as busy as a seller's (ten a day), where a moved meeting also moves the blocks it now "
    "overlaps.",
    "  A CalDAV write is one conditional PUT of the stored text edited in place (an instance of a",
    "  series is read again first); a Google or Graph write is one conditional PATCH. Graph reads",
    "  changed events back in JSON batches. A cycle's CPU is that of the thread that ran it (the",
    "  servers and the proxy run in other threads); a quiet cycle's is the least of 30 cycles",
    "  skipping (as the agent runs) and of 5 planning every cycle, on the same calendar, one",
    "  after the other. The 10,000-event quiet calendar is measured on the Google and Graph",
    "  fakes only: on Radicale its first sync alone takes longer than the rest of the benchmark.",
    "  Beside it, the client library's read alone: the same request from the same cursor sent",
    "  through googleapiclient, httplib2 (Graph's delta link) or the caldav client's report()",
    "  (on the connector's session and transport), with nothing of callplan's around it (timed",
    "  the same way), the least a quiet cycle can cost while it reads through that library.",
    "- Start-up: each command as a new process, median of several runs; the daemon's time is from "
    "its",
    "  start to READY=1 on the notify socket, as systemd sees it.",
    "- Memory per account: tracemalloc, in one process with the servers (whose allocations are",
    "  left out), after one cycle of each account; the first account's cycle, which pays for what",
    "  all share (imports, the parsed API description), is not counted. Memory outside Python's",
    "  allocator (TLS state in OpenSSL, sockets) is not seen: the many-calendars rows show it.",
    "- Many calendars: `callplan run` as systemd starts it, one account per calendar (on Google "
    "and",
    "  Graph, one seller each, with their own OAuth token or MSAL cache); lag is how late a cycle",
    "  started against the time the previous one scheduled it for (from the log lines), CPU and "
    "peak",
    "  memory come from /proc once every account had its first (full) cycle. The servers run in "
    "the",
    "  benchmark's process on the same two CPUs, so CPU shares include nothing of theirs but "
    "compete",
    "  with them.",
    "- Many workers: `callplan worker` processes (four cycles at once each) on a PostgreSQL server",
    "  of the benchmark's own, serving Google-fake calendars applied with a 1 s interval, so that",
    "  more is always due than they can run: cycles/s is what they serve, CPU-seconds are the",
    "  workers' own (from /proc), over a window after every account's first cycle. PostgreSQL,",
    "  the fake server and the workers share the two CPUs. Statements per quiet cycle: PostgreSQL",
    "  logs every statement for 40 s while one worker serves the calendars every 30 s (by",
    "  application name: the cycles' store, or the task queue's dispatch, fetch and heartbeat).",
]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smaller sizes: a smoke run, far from the targets' sizes",
    )
    parser.add_argument("--no-write", action="store_true", help=f"do not write {RESULTS.name}")
    parser.add_argument(
        "--only",
        action="append",
        choices=list(BENCHMARKS),
        help=f"run this one alone (again for more); its rows replace theirs in {RESULTS.name}",
    )
    args = parser.parse_args()
    rows = []
    for name in args.only or BENCHMARKS:
        found = BENCHMARKS[name].run(quick=args.quick)
        show(found)
        rows += found
    if not args.no_write:
        (merge if args.only else write)(RESULTS, rows, NOTES)
        print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
