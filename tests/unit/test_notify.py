"""The systemd notification protocol, received on a socket the test binds as systemd would."""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

from agent.service.notify import Notifier


def receive(listener: socket.socket) -> list[str]:
    listener.settimeout(5)
    return listener.recv(65536).decode().splitlines()


def test_notifications_arrive_as_one_datagram_each(tmp_path: Path) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(str(tmp_path / "notify"))
        notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "notify")})
        notifier.ready("watching 2 accounts")
        assert receive(listener) == ["READY=1", "STATUS=watching 2 accounts"]
        notifier.status("alex failed:\nHTTP 503")  # a STATUS is one line, whatever the error said
        assert receive(listener) == ["STATUS=alex failed: HTTP 503"]
        notifier.reloading("reloading")
        reloading = receive(listener)
        assert (
            reloading[0] == "RELOADING=1"
            and reloading[1].startswith("MONOTONIC_USEC=")
            and reloading[2] == "STATUS=reloading"
        )
        notifier.stopping("stopping")
        assert receive(listener) == ["STOPPING=1", "STATUS=stopping"]
        notifier.watchdog()
        assert receive(listener) == ["WATCHDOG=1"]
        notifier.close()


def test_an_abstract_socket_address_starts_with_an_at_sign() -> None:
    name = f"callplan-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind("\0" + name)
        Notifier({"NOTIFY_SOCKET": "@" + name}).ready("up")
        assert receive(listener) == ["READY=1", "STATUS=up"]


def test_a_full_or_missing_receiver_never_blocks_the_service(tmp_path: Path) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(str(tmp_path / "notify"))
        notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "notify")})
        for _ in range(10_000):  # far more than the receiver's queue holds: the rest are dropped
            notifier.watchdog()
    # logged once, not raised
    Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone")}).ready("nobody listens")
    Notifier({}).ready("not under systemd")


def test_the_watchdog_interval_is_read_only_when_it_is_meant_for_this_process() -> None:
    assert Notifier({"WATCHDOG_USEC": "120000000"}).watchdog_seconds == 120
    assert (
        Notifier({"WATCHDOG_USEC": "120000000", "WATCHDOG_PID": str(os.getpid())}).watchdog_seconds
        == 120
    )
    assert Notifier({"WATCHDOG_USEC": "120000000", "WATCHDOG_PID": "1"}).watchdog_seconds is None
    assert Notifier({"WATCHDOG_USEC": "0"}).watchdog_seconds is None
    assert Notifier({}).watchdog_seconds is None
