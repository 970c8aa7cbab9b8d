"""The systemd units: installed by `callplan install-service`, and clean for systemd-analyze."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agent.config.settings import ServiceSettings
from agent.service import units

CALLPLAN = Path(sys.executable).parent / "callplan"  # the console script of this environment
UNIT, WORKER = "callplan.service", "callplan-worker@.service"
ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(
    ANALYZE is None, reason="systemd-analyze is not installed (apt-get install systemd)"
)


def install(tmp_path: Path, scope: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CALLPLAN), "install-service", f"--{scope}", "--unit-dir", str(tmp_path), *extra],
        capture_output=True,
        text=True,
        timeout=60,
    )


def analyze(scope: str, *args: str, runtime: Path) -> subprocess.CompletedProcess[str]:
    mode = ["--user"] if scope == "user" else []
    # a user manager's lookup needs one, even offline
    env = {
        **os.environ,
        "XDG_RUNTIME_DIR": str(runtime),
    }
    assert ANALYZE is not None, "the tests that call this are skipped without systemd-analyze"
    return subprocess.run(
        [ANALYZE, *mode, *args], capture_output=True, text=True, env=env, timeout=120
    )


@pytest.mark.parametrize("scope", ["system", "user"])
def test_install_service_writes_the_unit_with_this_callplan_and_says_what_to_run(
    tmp_path: Path, scope: str
) -> None:
    done = install(tmp_path, scope)
    assert done.returncode == 0, done.stderr
    written = (tmp_path / "callplan.service").read_text()
    assert f"ExecStart={CALLPLAN} run\n" in written
    shipped = (units.units_dir() / scope / "callplan.service").read_text()
    assert re.sub(r"(?m)^ExecStart=.*$", "", written) == re.sub(r"(?m)^ExecStart=.*$", "", shipped)
    assert f"wrote {tmp_path / 'callplan.service'}" in done.stdout
    enable = (
        "systemctl enable --now callplan.service"
        if scope == "system"
        else "systemctl --user enable --now callplan.service"
    )
    assert enable in done.stdout


def test_install_service_writes_the_workers_template_with_this_callplan(tmp_path: Path) -> None:
    done = install(tmp_path, "worker")
    assert done.returncode == 0, done.stderr
    written = (tmp_path / WORKER).read_text()
    assert f"ExecStart={CALLPLAN} --config /etc/callplan/worker.toml worker --name %i\n" in written
    shipped = (units.units_dir() / "system" / WORKER).read_text()
    assert re.sub(r"(?m)^ExecStart=.*$", "", written) == re.sub(r"(?m)^ExecStart=.*$", "", shipped)
    assert "Then run as root:" in done.stdout
    assert "systemctl enable --now callplan-worker@$(hostname -s)" in done.stdout
    assert "callplan --config /etc/callplan/worker.toml db migrate" in done.stdout
    given = subprocess.run(
        [str(CALLPLAN), "--config", "/srv/w.toml", "install-service", "--worker", "--dry-run"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert f"ExecStart={CALLPLAN} --config /srv/w.toml worker --name %i\n" in given.stdout
    user = install(tmp_path, "user", "--worker")
    assert user.returncode == 2 and "a cluster's worker is a system unit" in user.stderr


def test_a_dry_run_prints_the_unit_and_writes_nothing(tmp_path: Path) -> None:
    done = install(tmp_path, "user", "--dry-run")
    assert done.returncode == 0 and not (tmp_path / "callplan.service").exists()
    assert f"# {tmp_path / 'callplan.service'} (dry run: nothing written)" in done.stdout
    assert f"ExecStart={CALLPLAN} run" in done.stdout


def test_exec_start_escapes_what_systemd_would_expand() -> None:
    assert units.exec_line(["/opt/my apps/callplan", "--config", "/etc/50%/$HOME.toml", "run"]) == (
        '"/opt/my apps/callplan" --config "/etc/50%%/$$HOME.toml" run'
    )


def test_the_stop_timeout_fits_inside_the_units_stop_bound() -> None:
    """systemd must never SIGKILL a callplan that is still within its own stop bound."""
    for scope, unit in (("system", UNIT), ("user", UNIT), ("system", WORKER)):
        text = (units.units_dir() / scope / unit).read_text()
        timeout = int(re.search(r"(?m)^TimeoutStopSec=(\d+)s$", text).group(1))  # type: ignore[union-attr]
        assert timeout >= ServiceSettings().stop_timeout_seconds + 5


@needs_analyze
@pytest.mark.parametrize("scope", ["system", "user"])
def test_the_installed_units_pass_systemd_analyze_verify(tmp_path: Path, scope: str) -> None:
    assert install(tmp_path / "units", scope).returncode == 0
    verified = analyze(
        scope, "verify", str(tmp_path / "units" / "callplan.service"), runtime=tmp_path
    )
    assert (verified.returncode, verified.stdout + verified.stderr) == (0, "")


@needs_analyze
def test_the_system_unit_is_well_sandboxed(tmp_path: Path) -> None:
    assert install(tmp_path / "units", "system").returncode == 0
    security = analyze(
        "system",
        "security",
        "--offline=yes",
        str(tmp_path / "units" / "callplan.service"),
        runtime=tmp_path,
    )
    found = re.search(r"Overall exposure level for callplan.service: ([\d.]+)", security.stdout)
    assert found is not None, security.stdout
    exposure = float(found.group(1))
    # what remains is the network it needs (AF_INET*, no IP allow list: providers' addresses vary),
    # AF_UNIX for journald and sd_notify, the host's root file system, and /dev/rtc (ProtectClock)
    assert exposure <= 1.2, security.stdout


def worker_instance(folder: Path, name: str = "w1") -> Path:
    """The shipped worker template as systemd would instantiate it for worker `name`, its
    ExecStart on this environment's callplan."""
    shipped = (units.units_dir() / "system" / WORKER).read_text()
    text, found = re.subn(r"(?m)^ExecStart=\S+ ", f"ExecStart={CALLPLAN} ", shipped)
    assert found == 1
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / WORKER.replace("@", f"@{name}")
    path.write_text(text)
    return path


def test_the_worker_template_runs_a_worker_named_by_its_instance_sandboxed_like_the_service() -> (
    None
):
    worker = (units.units_dir() / "system" / WORKER).read_text()
    service = (units.units_dir() / "system" / UNIT).read_text()
    assert re.search(
        r"(?m)^ExecStart=\S+ --config /etc/callplan/worker.toml worker --name %i$", worker
    )
    assert "StateDirectory=callplan-worker/%i\n" in worker  # instances never share a directory

    def sandbox(text: str) -> list[str]:
        body = text.split("CapabilityBoundingSet=", 1)[1].split("[Install]")[0]
        return [
            line for line in body.splitlines() if not line.startswith(("MemoryMax", "TasksMax"))
        ]

    assert sandbox(worker) == sandbox(service)


@needs_analyze
def test_the_worker_template_passes_systemd_analyze_verify_and_is_well_sandboxed(
    tmp_path: Path,
) -> None:
    unit = worker_instance(tmp_path / "units")
    verified = analyze("system", "verify", str(unit), runtime=tmp_path)
    assert (verified.returncode, verified.stdout + verified.stderr) == (0, "")
    security = analyze("system", "security", "--offline=yes", str(unit), runtime=tmp_path)
    exposure = re.search(
        rf"Overall exposure level for {re.escape(unit.name)}: ([\d.]+)", security.stdout
    )
    assert exposure is not None and float(exposure.group(1)) <= 1.2, security.stdout


@needs_analyze
def test_the_installed_worker_template_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    assert install(tmp_path / "units", "worker").returncode == 0
    instance = tmp_path / "units" / WORKER.replace("@", "@w1")
    (tmp_path / "units" / WORKER).rename(instance)
    verified = analyze("system", "verify", str(instance), runtime=tmp_path)
    assert (verified.returncode, verified.stdout + verified.stderr) == (0, "")
