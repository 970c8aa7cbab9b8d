"""The systemd notification protocol: one datagram of KEY=value lines to $NOTIFY_SOCKET.

With `Type=notify` systemd waits for READY=1 before it counts the service as started, shows
the last STATUS= in `systemctl status`, and restarts the service when WatchdogSec= is set and
WATCHDOG=1 stops arriving. The protocol is a few lines on an AF_UNIX datagram socket (an
address starting with @ is in the abstract namespace), so it is written out here rather than
pulled in as a dependency. Without $NOTIFY_SOCKET (not under systemd) every call does nothing.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping

log = logging.getLogger("callplan.notify")


def _one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class Notifier:
    """Sends READY, STATUS, RELOADING, STOPPING and WATCHDOG notifications to systemd."""

    def __init__(self, environ: Mapping[str, str] = os.environ) -> None:
        address = environ.get("NOTIFY_SOCKET", "")
        self._address = "\0" + address[1:] if address.startswith("@") else address
        self._socket: socket.socket | None = None
        self._warned = False
        if address and not address.startswith(("/", "@")):  # e.g. vsock: for VMs, not for a service
            log.warning(
                "NOTIFY_SOCKET=%s is not an AF_UNIX address; not notifying systemd", address
            )
        elif address:
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        usec = environ.get("WATCHDOG_USEC", "")
        pid = environ.get("WATCHDOG_PID", "")
        # the watchdog is meant for one PID, maybe not ours
        mine = not pid or pid == str(os.getpid())
        self.watchdog_seconds: float | None = (
            int(usec) / 1e6 if usec.isdigit() and int(usec) > 0 and mine else None
        )

    def send(self, *lines: str) -> None:
        """Send one notification without ever waiting: when the receiver's queue is full the
        datagram is dropped (the next one says the same, newer). A failure is logged once and
        otherwise ignored: the agent's work matters more than telling systemd about it."""
        if self._socket is None:
            return
        try:
            self._socket.sendto("\n".join(lines).encode(), socket.MSG_DONTWAIT, self._address)
        except BlockingIOError:
            pass
        except OSError as exc:
            if not self._warned:
                log.warning(
                    "cannot notify systemd at %s: %s",
                    self._address.replace("\0", "@"),
                    exc.strerror,
                )
                self._warned = True

    def ready(self, status: str) -> None:
        self.send("READY=1", f"STATUS={_one_line(status)}")

    def status(self, status: str) -> None:
        self.send(f"STATUS={_one_line(status)}")

    def reloading(self, status: str) -> None:
        # MONOTONIC_USEC lets systemd (Type=notify-reload, v253+) tell this reload from an older one
        self.send(
            "RELOADING=1",
            f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}",
            f"STATUS={_one_line(status)}",
        )

    def stopping(self, status: str) -> None:
        self.send("STOPPING=1", f"STATUS={_one_line(status)}")

    def watchdog(self) -> None:
        self.send("WATCHDOG=1")

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
