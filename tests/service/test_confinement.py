"""The service inside the units' system-call sandbox (tests/support/confinement.py), on every
provider.

The units forbid system calls outside @system-service (and those of @privileged and
@resources), memory that is writable and executable (MemoryDenyWriteExecute=yes), and
sockets other than AF_UNIX, AF_INET and AF_INET6. The daemon, with each provider's client
library and TLS, must get ready, enrich a meeting and stop cleanly under all of that. A probe
first shows the sandbox is in force, so a pass never comes from a filter that did not load.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.confinement import ANALYZE, LIBSECCOMP, Sandbox
from tests.support.servers.targets import SERVERS, Target
from tests.support.service_process import ROOT, config, running

pytestmark = [
    pytest.mark.skipif(
        ANALYZE is None, reason="systemd-analyze is not installed (apt-get install systemd)"
    ),
    pytest.mark.skipif(
        LIBSECCOMP is None, reason="libseccomp is not installed (apt-get install libseccomp2)"
    ),
]

SYSTEM_UNIT = ROOT / "systemd" / "system" / "callplan.service"
USER_UNIT = ROOT / "systemd" / "user" / "callplan.service"

PROBE = """
import errno, mmap, os, socket

def outcome(call, *args, **kwargs):
    try:
        call(*args, **kwargs)
    except OSError as exc:
        return errno.errorcode[exc.errno]
    return "allowed"

print(outcome(mmap.mmap, -1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE))
print(outcome(mmap.mmap, -1, 4096, prot=mmap.PROT_WRITE | mmap.PROT_EXEC))
print(outcome(socket.socket, socket.AF_INET6, socket.SOCK_STREAM))
print(outcome(socket.socket, socket.AF_NETLINK, socket.SOCK_RAW))
print(outcome(os.setpriority, os.PRIO_PROCESS, 0, 0))
"""


@pytest.mark.parametrize("unit", [SYSTEM_UNIT, USER_UNIT], ids=lambda unit: unit.parent.name)
def test_the_sandbox_of_each_unit_is_in_force_in_the_process_it_is_loaded_into(unit: Path) -> None:
    sandbox = Sandbox.from_unit(unit)
    probe = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        timeout=30,
        preexec_fn=sandbox.loader(),
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.split() == [
        "allowed",  # an ordinary mapping
        "EPERM",  # writable and executable: MemoryDenyWriteExecute=yes
        "allowed",  # an IPv6 socket
        "EAFNOSUPPORT",  # a netlink socket: RestrictAddressFamilies=
        "EPERM",  # a change of priority: SystemCallFilter=~@resources
    ]
    unconfined = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=30
    )
    assert unconfined.stdout.split()[:4] == ["allowed"] * 4  # the refusals come from the sandbox


def test_both_units_ask_for_the_same_sandbox() -> None:
    assert Sandbox.from_unit(USER_UNIT) == Sandbox.from_unit(SYSTEM_UNIT)


@pytest.fixture(scope="module", params=list(SERVERS))
def target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    with SERVERS[request.param](tmp_path_factory.mktemp(f"{request.param}-server")) as served:
        yield served


def test_the_service_runs_its_cycles_inside_the_units_sandbox(
    target: Target, tmp_path: Path
) -> None:
    harness = target.new_calendar(target.upstream)
    harness.add_meeting(
        "Globex call",
        datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1),
    )
    (tmp_path / "seller").mkdir()
    account = {
        "name": "alex",
        "provider": target.name,
        "email": harness.seller,
        "calendars": [harness.calendar],
        **target.account_options(harness, tmp_path / "seller"),
    }
    settings = config(tmp_path / "state.db", [account])
    settings["defaults"]["rules"]["internal_domains"] = [harness.seller.partition("@")[2]]
    with running(
        tmp_path, settings, target.environment(), Sandbox.from_unit(SYSTEM_UNIT).loader()
    ) as service:
        service.notify.wait(lambda message: message.get("READY") == "1", timeout=60, what="READY=1")
        assert service.process is not None
        status = dict(
            line.split(":\t", 1)
            for line in Path(f"/proc/{service.process.pid}/status").read_text().splitlines()
        )
        # filtering, with the three filters
        assert (status["Seccomp"], status["Seccomp_filters"]) == (
            "2",
            "3",
        )
        # a prep, a debrief and the agenda
        service.notify.status("last: alex ok, 3 changes", timeout=60)
        service.notify.status("last: alex ok")  # and a quiet cycle after it
        service.signal(signal.SIGTERM)
        assert service.wait(10) == 0, service.log()
    log = service.log()
    assert "event=cycle account=alex outcome=ok changes=3" in log, log
    assert "event=stop outcome=clean" in log, log
    assert "Operation not permitted" not in log and "EPERM" not in log, log
