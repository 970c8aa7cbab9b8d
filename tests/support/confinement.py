"""The system-call sandbox of the unit files, applied to a test's subprocess without systemd.

systemd cannot run as PID 1 here, but the parts of the units' sandbox that systemd builds with
seccomp can be built the same way and loaded into a subprocess before it starts:

- `SystemCallFilter=` (with `SystemCallErrorNumber=EPERM`): an allow-list of the named groups
  minus the groups after `~`, the groups' members as `systemd-analyze syscall-filter` lists them;
- `MemoryDenyWriteExecute=yes`: no mapping that is writable and executable at once, and no
  making memory executable afterwards (mmap, mprotect, pkey_mprotect, shmat), as systemd's
  seccomp filter for it refuses them;
- `RestrictAddressFamilies=`: socket() for any other family fails with EAFNOSUPPORT.

Each is its own filter, as systemd loads them; the kernel applies the strictest answer. The
rules are read from the unit file itself, so a change to the unit is what the tests try.
"""

from __future__ import annotations

import ctypes.util
import errno
import mmap
import shutil
import socket
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from agent.config.unitfile import unit_settings

ANALYZE = shutil.which("systemd-analyze")
LIBSECCOMP = ctypes.util.find_library("seccomp")
if LIBSECCOMP is not None:  # else the tests that need it skip, saying so
    import pyseccomp as seccomp
SHM_EXEC = 0o100000  # <linux/shm.h>: attach a shared memory segment executable


@cache
def group(name: str) -> frozenset[str]:
    """The system calls of a systemd group ("@system-service"), nested groups expanded."""
    assert ANALYZE is not None
    listing = subprocess.run(
        [ANALYZE, "syscall-filter", name], capture_output=True, text=True, check=True
    ).stdout
    calls: set[str] = set()
    for line in listing.splitlines()[1:]:  # the first line names the group itself
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        calls |= group(entry) if entry.startswith("@") else {entry}
    return frozenset(calls)


def _names(entry: str) -> frozenset[str]:
    return frozenset().union(
        *(group(word) if word.startswith("@") else {word} for word in entry.split())
    )


@dataclass(frozen=True)
class Sandbox:
    allowed: frozenset[str]  # system calls a process may make; any other fails with EPERM
    deny_write_execute: bool
    families: tuple[int, ...]  # the socket address families allowed (empty: any)

    @classmethod
    def from_unit(cls, unit: Path) -> Sandbox:
        allowed: frozenset[str] = frozenset()
        deny_write_execute, families = False, ()
        for key, value in unit_settings(unit.read_text()):
            if key == "SystemCallFilter":
                allowed = (
                    allowed - _names(value[1:])
                    if value.startswith("~")
                    else allowed | _names(value)
                )
            elif key == "SystemCallErrorNumber":
                assert value == "EPERM", (
                    f"{unit}: only SystemCallErrorNumber=EPERM is modelled here"
                )
            elif key == "MemoryDenyWriteExecute":
                deny_write_execute = value == "yes"
            elif key == "RestrictAddressFamilies":
                families = tuple(getattr(socket, name) for name in value.split())
        assert allowed, f"{unit}: no SystemCallFilter="
        return cls(allowed, deny_write_execute, families)

    def filters(self) -> list[seccomp.SyscallFilter]:
        found = []
        if self.deny_write_execute:
            memory = seccomp.SyscallFilter(seccomp.ALLOW)
            write_execute = mmap.PROT_WRITE | mmap.PROT_EXEC
            memory.add_rule(
                seccomp.ERRNO(errno.EPERM),
                "mmap",
                seccomp.Arg(2, seccomp.MASKED_EQ, write_execute, write_execute),
            )
            for name in ("mprotect", "pkey_mprotect"):
                memory.add_rule(
                    seccomp.ERRNO(errno.EPERM),
                    name,
                    seccomp.Arg(2, seccomp.MASKED_EQ, mmap.PROT_EXEC, mmap.PROT_EXEC),
                )
            memory.add_rule(
                seccomp.ERRNO(errno.EPERM),
                "shmat",
                seccomp.Arg(2, seccomp.MASKED_EQ, SHM_EXEC, SHM_EXEC),
            )
            found.append(memory)
        if self.families:  # socket()'s first argument: below, above, or between the allowed ones
            sockets = seccomp.SyscallFilter(seccomp.ALLOW)
            low, high = min(self.families), max(self.families)
            refused = [seccomp.Arg(0, seccomp.LT, low), seccomp.Arg(0, seccomp.GT, high)]
            refused += [
                seccomp.Arg(0, seccomp.EQ, family)
                for family in range(low, high)
                if family not in self.families
            ]
            for family in refused:
                sockets.add_rule(seccomp.ERRNO(errno.EAFNOSUPPORT), "socket", family)
            found.append(sockets)
        # the allow-list goes last, as systemd loads it: loading a filter is a system call it may
        # refuse
        arch = seccomp.system_arch()
        allow = seccomp.SyscallFilter(seccomp.ERRNO(errno.EPERM))
        for name in sorted(self.allowed):
            # the groups name calls of other architectures too
            if seccomp.resolve_syscall(arch, name) >= 0:
                allow.add_rule(seccomp.ALLOW, name)
        return [*found, allow]

    def loader(self) -> Callable[[], None]:
        """What a subprocess runs before it starts (`preexec_fn`): the filters are built here,
        in the parent, and only loaded in the child (which also sets no_new_privs, as
        NoNewPrivileges=yes does)."""
        filters = self.filters()

        def load() -> None:
            for each in filters:
                each.load()

        return load
