"""A local Radicale CalDAV server in a subprocess, for `callplan demo` and the test suite.

Both need a real CalDAV server on loopback that starts in well under a second, keeps its
data in a folder of our choosing and goes away cleanly. Radicale is a dependency of the
package, so the demo can start it without anything else installed.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port that was free a moment ago (the OS picks it; another process may still race
    us)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


class RadicaleServer:
    """Radicale on 127.0.0.1 and a free port, storing its collections under `folder`.

    Without `htpasswd` any user name is accepted with any password and owns `/<name>/`
    (each test gets its own user, so tests never share a calendar). With `htpasswd` (a
    file of plain `user:password` lines) the server checks credentials, for tests of
    authentication failures. Use it as a context manager, or call start() and stop().
    """

    def __init__(
        self, folder: Path, *, htpasswd: Path | None = None, start_timeout: float = 15.0
    ) -> None:
        self.folder = folder
        self.htpasswd = htpasswd
        self.start_timeout = start_timeout
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"

    @property
    def log_path(self) -> Path:
        return self.folder / "radicale.log"

    def _command(self) -> list[str]:
        auth = ["--auth-type", "none"]
        if self.htpasswd is not None:
            auth = [
                "--auth-type",
                "htpasswd",
                "--auth-htpasswd-filename",
                str(self.htpasswd),
                "--auth-htpasswd-encryption",
                "plain",
            ]
        return [
            sys.executable,
            "-m",
            "radicale",
            "--config",  # no value: read no configuration file, only these flags
            "--server-hosts",
            f"{HOST}:{self.port}",
            *auth,
            "--auth-delay",
            "0",  # Radicale waits after a failed login by default; tests test failures
            "--server-delay-on-error",
            "0",
            "--storage-filesystem-folder",
            str(self.folder / "collections"),
            "--web-type",
            "none",
            "--logging-level",
            "warning",
        ]

    def start(self) -> RadicaleServer:
        """Start the server and return once it accepts connections.

        The port is chosen free just before the start; if another process grabbed it in
        between, Radicale exits at once and we try again on a new port.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        for _attempt in range(3):
            self.port = free_port()
            if self._launch():
                return self
        raise RuntimeError(f"Radicale did not start; see {self.log_path}:\n{self._log_tail()}")

    def restart(self) -> RadicaleServer:
        """Start a stopped server again on the same port and folder: the server that went away and
        came back."""
        if not self._launch():
            raise RuntimeError(
                f"Radicale did not restart on port {self.port}; see {self.log_path}:\n"
                f"{self._log_tail()}"
            )
        return self

    def _launch(self) -> bool:
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self._command(), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        return self._wait_until_ready()

    def _wait_until_ready(self) -> bool:
        assert self._process is not None
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return False
            try:
                socket.create_connection((HOST, self.port), timeout=0.5).close()
                return True
            except OSError:
                time.sleep(0.02)  # polling for readiness: Radicale prints nothing at this log level
        self.stop()
        return False

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL if it has not gone within five seconds)."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> RadicaleServer:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
