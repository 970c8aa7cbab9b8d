"""`callplan install-service`: put a systemd unit in place that runs this callplan.

The unit files ship with the package (`systemd/` in the source tree): a system unit for an
organisation (dynamic user, state and configuration directories, secrets through
LoadCredential, a strict sandbox), a user unit for one seller, and the template unit of a
cluster's workers (one instance per worker, named by it). Installing one means writing it with
ExecStart set to the callplan that is running now, wherever it was installed (a venv, pipx,
/usr/local), and telling the person which systemctl commands enable it.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

from agent.config.unitfile import UNIT, Scope, default_unit_dir
from agent.core.errors import CallplanError

# what ProtectHome=yes hides from the system unit
HIDDEN = (
    Path("/home"),
    Path("/root"),
    Path("/run/user"),
)


WORKER_UNIT = "callplan-worker@.service"
WORKER_CONFIG = Path("/etc/callplan/worker.toml")  # where the shipped worker unit looks


@dataclass(frozen=True)
class Installation:
    scope: Scope
    path: Path  # where the unit goes
    text: str  # the unit as it will be written
    commands: tuple[str, ...]  # what the person runs next
    warnings: tuple[str, ...] = ()


def units_dir() -> Path:
    """Unit files ship inside the package as agent/service/unit_files; a source checkout keeps them
    in systemd/."""
    installed = Path(__file__).parent / "unit_files"
    return installed if installed.is_dir() else Path(__file__).parents[2] / "systemd"


def command_line(config: Path | None) -> list[str]:
    """How to start this callplan: its console script when that is what runs, else the module;
    with the configuration it was given."""
    script = Path(sys.argv[0])
    if script.name == "callplan" and script.is_file():
        command = [str(script.absolute())]
    else:
        command = [sys.executable, "-m", "agent.cli"]
    return command + (["--config", str(config.absolute())] if config else [])


def exec_line(args: list[str]) -> str:
    """A command line in systemd's syntax: specifiers (%) and variables ($) escaped, odd words
    quoted."""
    words = []
    for arg in args:
        escaped = arg.replace("%", "%%").replace("$", "$$")
        if not re.fullmatch(r"[A-Za-z0-9_@%+=:,./-]+", escaped):
            escaped = '"' + escaped.replace("\\", "\\\\").replace('"', '\\"') + '"'
        words.append(escaped)
    return " ".join(words)


def _commands(scope: Scope, worker: bool) -> tuple[str, ...]:
    if worker:
        instance = "callplan-worker@$(hostname -s)"
        steps = [
            ("install -d -m 0700 /etc/callplan/credentials", "secret files, root only"),
            (f"editor {WORKER_CONFIG}", "the database: state, state_password_file, [service]"),
            (f"callplan --config {WORKER_CONFIG} db migrate", "once per upgrade, on one machine"),
            ("callplan accounts apply cluster.toml", "the accounts the workers serve"),
            ("systemctl daemon-reload", ""),
            (f"systemctl enable --now {instance}", "one per worker; the instance names it"),
            (f"callplan --config {WORKER_CONFIG} cluster status", "the workers and their accounts"),
            ("journalctl -u 'callplan-worker@*' -f", "the log"),
        ]
    elif scope == "system":
        steps = [
            ("install -d -m 0700 /etc/callplan/credentials", "secret files, root only"),
            (
                "editor /etc/callplan/config.toml",
                'names credentials/FILE as password_file = "secret_FILE"',
            ),
            (
                "callplan --config /etc/callplan/config.toml config check",
                "reads credentials/FILE for secret_FILE, as the service will",
            ),
            ("systemctl daemon-reload", ""),
            (f"systemctl enable --now {UNIT}", ""),
            (f"systemctl status {UNIT}", "what it is doing (STATUS=) and the last log lines"),
            (f"journalctl -u {UNIT} -f", "the log"),
        ]
    else:
        steps = [
            ("callplan config check", "the service reads the same configuration"),
            ("systemctl --user daemon-reload", ""),
            (f"systemctl --user enable --now {UNIT}", ""),
            ('loginctl enable-linger "$USER"', "keep it running while you are logged out"),
            (f"journalctl --user -u {UNIT} -f", "the log"),
        ]
    width = max(len(command) for command, _ in steps)
    return tuple(f"{command:<{width}}  # {note}" if note else command for command, note in steps)


def plan(
    scope: Scope, unit_dir: Path | None = None, config: Path | None = None, worker: bool = False
) -> Installation:
    """The unit to write for `scope` (a worker's is a system unit), with ExecStart running this
    callplan; nothing is written yet."""
    if worker:
        args = command_line(config or WORKER_CONFIG)
        # %i, the instance, names the worker: the one word systemd must expand
        start = f"{exec_line([*args, 'worker', '--name'])} %i"
        name = WORKER_UNIT
    else:
        args = command_line(config)
        start = exec_line([*args, "run"])
        name = UNIT
    shipped = units_dir() / scope / name
    text, found = re.subn(
        r"(?m)^ExecStart=.*$", lambda _: f"ExecStart={start}", shipped.read_text("utf-8"), count=1
    )
    if not found:
        raise CallplanError("the shipped unit has no ExecStart line", where=str(shipped))
    warnings = []
    if scope == "system":
        hidden = sorted(
            {arg for arg in args if any(Path(arg).is_relative_to(root) for root in HIDDEN)}
        )
        if hidden:
            warnings.append(
                f"{', '.join(hidden)} is under a home directory, which the system unit hides "
                "(ProtectHome=yes): install callplan elsewhere for the service (e.g. python3 -m "
                "venv /opt/callplan && /opt/callplan/bin/pip install callplan) and run its "
                "install-service"
            )
    return Installation(
        scope,
        (unit_dir or default_unit_dir(scope)) / name,
        text,
        _commands(scope, worker),
        tuple(warnings),
    )


def install(installation: Installation) -> None:
    """Write the unit (mode 0644: systemd and admins read it; it holds no secret)."""
    try:
        installation.path.parent.mkdir(parents=True, exist_ok=True)
        installation.path.write_text(installation.text, encoding="utf-8")
        installation.path.chmod(0o644)
    except OSError as exc:
        hint = (
            " (the system unit needs root: sudo callplan install-service --system)"
            if installation.scope == "system"
            else ""
        )
        raise CallplanError(
            f"cannot write the unit: {exc.strerror}{hint}", where=str(installation.path)
        ) from None
