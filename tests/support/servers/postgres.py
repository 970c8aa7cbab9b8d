"""A throwaway PostgreSQL cluster on 127.0.0.1 and a free port, for the PostgreSQL store's tests.

It runs the distribution's own binaries (Debian's postgresql-15 puts them in
/usr/lib/postgresql/15/bin; .ci/run installs that package where they are missing) in a
temporary directory. PostgreSQL refuses to run as root, so as root the cluster belongs to the
`postgres` user and initdb and pg_ctl run as that user. The superuser `postgres` is trusted
on loopback; every other role needs its password (scram-sha-256), so tests can exercise
password files. Durability is switched off: the cluster dies with the test session anyway.

A connection that arrives while the server shuts down, and says nothing, holds the shutdown
until its authentication_timeout runs out (the server does not signal such latecomers): a
client reconnecting at that moment can leave one behind, and with the default of a minute a
test's restart then takes that minute. The cluster waits five seconds for a client's first words.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path
from types import TracebackType

import psycopg

from agent.cli.demo_server import HOST, free_port

MINIMUM = 15
INSTALL = (
    "install PostgreSQL 15 or newer (Debian: apt-get install postgresql-15; .ci/run does so where "
    "it is missing)"
)


def binaries() -> Path:
    """The directory of pg_ctl and initdb: the newest of /usr/lib/postgresql/N/bin, else the
    PATH."""
    versions = sorted(
        (int(folder.name), folder / "bin")
        for folder in Path("/usr/lib/postgresql").glob("*")
        if folder.name.isdigit() and (folder / "bin" / "pg_ctl").exists()
    )
    if versions and versions[-1][0] >= MINIMUM:
        return versions[-1][1]
    found = shutil.which("pg_ctl")
    if found is None:
        raise RuntimeError(f"no PostgreSQL server binaries (pg_ctl, initdb) found: {INSTALL}")
    return Path(found).resolve().parent


def _server_user() -> pwd.struct_passwd:
    """The user a root test run starts the server as (PostgreSQL refuses to run as root)."""
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise RuntimeError(f"no postgres user to run the server as: {INSTALL}") from None


class PostgresServer:
    """A PostgreSQL cluster of its own; use it as a context manager, or call start() and stop()."""

    def __init__(self) -> None:
        self.bin = binaries()
        self.folder = Path(tempfile.mkdtemp(prefix="callplan-postgres-"))
        self.data = self.folder / "data"
        self.port = 0
        self._owner = _server_user() if os.getuid() == 0 else None
        if self._owner is not None:  # the server's files must be its user's
            os.chown(self.folder, self._owner.pw_uid, self._owner.pw_gid)

    def _run(self, *command: str) -> subprocess.CompletedProcess[str]:
        prefix = ["runuser", "-u", "postgres", "--"] if self._owner is not None else []
        return subprocess.run([*prefix, *command], capture_output=True, text=True, cwd=self.folder)

    def _check(self, result: subprocess.CompletedProcess[str], what: str) -> None:
        if result.returncode != 0:
            log = (
                (self.folder / "log").read_text(errors="replace")[-2000:]
                if (self.folder / "log").exists()
                else ""
            )
            raise RuntimeError(
                (
                    f"PostgreSQL {what} failed: {result.stderr.strip()} {result.stdout.strip()} "
                    f"{log}"
                ).strip()
            )

    def start(self) -> PostgresServer:
        """Create the cluster (once) and start it; return once it accepts connections.

        The port is chosen free just before the start; if another process took it meanwhile,
        the server does not start and we try again on a new port."""
        if not self.data.exists():
            self._check(
                self._run(
                    str(self.bin / "initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                    "--no-sync",
                ),
                "initdb",
            )
            (self.data / "pg_hba.conf").write_text(
                "local all all trust\n"
                f"host all postgres {HOST}/32 trust\n"
                f"host all all {HOST}/32 scram-sha-256\n"
            )
        for _attempt in range(3):
            self.port = self.port or free_port()
            result = self._start()
            if result.returncode == 0:
                return self
            self.port = 0
        self._check(result, "start")
        return self

    def _start(self) -> subprocess.CompletedProcess[str]:
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses={HOST} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200 "
            "-c authentication_timeout=5s"
        )
        return self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.folder / "log"),
            "-w",
            "-t",
            "60",
            "start",
        )

    def stop(self) -> None:
        """Stop the server at once (its sessions are cut off), keeping its data for a restart on the
        same port."""
        self._check(
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"),
            "stop",
        )

    def url(self, database: str = "postgres", user: str = "postgres") -> str:
        return f"postgresql://{user}@{HOST}:{self.port}/{database}"

    def admin(self) -> psycopg.Connection:
        return psycopg.connect(self.url(), autocommit=True)

    def create_database(self) -> str:
        """A new, empty database (a copy of template1); its URL."""
        name = f"t{uuid.uuid4().hex[:16]}"
        with self.admin() as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def create_role(self, name: str, password: str, database: str) -> None:
        """A role that logs in with a password and owns `database`'s public schema."""
        with self.admin() as connection:
            connection.execute(f"CREATE ROLE \"{name}\" LOGIN PASSWORD '{password}'")
            connection.execute(f'GRANT ALL ON DATABASE "{database}" TO "{name}"')
        with psycopg.connect(self.url(database), autocommit=True) as connection:
            connection.execute(f'ALTER SCHEMA public OWNER TO "{name}"')

    def close(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(
                str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"
            )
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
