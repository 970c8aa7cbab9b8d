"""The benchmarks keep running, and the request counts they report hold on every target.

Timings are not asserted (they belong to the machine); the counts are: a first sync reads
a page of events per request (however many changes it then makes), a quiet calendar costs
one request, and k rescheduled meetings cost the reads plus a constant number of requests each.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bench import bench_memory, bench_planner, bench_requests
from tests.support.servers.targets import SERVERS, Target


@pytest.fixture(scope="module", params=list(SERVERS))
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    with SERVERS[request.param](tmp_path_factory.mktemp("bench-server")) as target:
        yield target


def test_request_counts_per_cycle(served: Target, tmp_path: Path) -> None:
    rows = bench_requests.run_target(served, tmp_path, size=40, ks=(1, 3), latency=0, realistic=30)
    per_meeting = "≤ 7 per meeting"
    quiet = "≤ 2 ms, flat in size"
    assert [row.target for row in rows] == [
        "reads: pages of the window, not events",
        "",
        "1 request",
        quiet,
        "",  # one meeting moved
        "1 request",
        quiet,
        per_meeting,
        per_meeting,
        "1 + O(k)",
    ]
    # beside a quiet cycle's CPU, what the client library's read alone takes
    assert all(
        "the client library's read alone" in row.result for row in rows if row.target == quiet
    )
    # CPU is the machine's; the request counts are the code's
    counted = [row for row in rows if row.target != quiet]
    assert all(row.ok is not False for row in counted), [
        row.result for row in counted if row.ok is False
    ]


def test_memory_per_account_is_measured_and_laid_to_callplan_and_its_libraries(
    served: Target, tmp_path: Path
) -> None:
    each, grown = bench_memory.held(served, tmp_path, 2)
    assert each > 0 and grown["connectors"] > 0
    assert sum(grown.values()) == each * 2


def test_the_planner_benchmark_converges_and_reports_every_size() -> None:
    # it asserts that a later plan has nothing to do; counting instructions is left to the bench
    rows = bench_planner.run(sizes=(20, 60), counting=False)
    assert [row.case for row in rows if "growth" not in row.case] == [
        "yardstick 'strings'",
        "yardstick 'planner-like' (targets count in it)",
        *(f"{size} events, {case}" for size in (20, 60) for case in ("first sync", "later cycles")),
        "60 events, first sync: rendering its texts alone (sandboxed Jinja)",
        "60 events, first sync: fingerprinting its new blocks alone",
        "60 events, first sync: where the time goes (cProfile)",
    ]
    # every new block's text is rendered, and a prep with a draft agenda takes two renderings
    texts, blocks = (
        int(row.result.split()[0])
        for row in rows
        if row.case.startswith("60 events, first sync: ") and "alone" in row.case
    )
    assert 0 < blocks < texts
    # the profile names every part, and its shares add up to the whole
    profile = next(row.result for row in rows if "where the time goes" in row.case)
    shares = [int(part.rsplit(" ", 1)[1].rstrip("%")) for part in profile.split(", ")]
    assert [part.rsplit(" ", 1)[0] for part in profile.split(", ")] == [
        *bench_planner.PARTS,
        "the rest",
    ]
    assert 97 <= sum(shares) <= 103  # each share is rounded
    # every part is found where the profile looks for it: a part that moved would show 0%
    assert all(share > 0 for share in shares[:-1]), profile
