"""Secret files: passwords, OAuth tokens and token caches, readable by their owner only.

Secrets never appear in logs, errors, the state database or dry-run output; the functions
here only ever name the file. A relative path is looked up in $CREDENTIALS_DIRECTORY when
systemd provides one (LoadCredential=), and outside the service in the directory or file the
installed system unit loads that credential from.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from agent.config.unitfile import credential_sources, installed_system_unit
from agent.core.errors import ConfigError


def secret_path(value: str | Path) -> Path:
    path = Path(os.path.expandvars(str(value))).expanduser()
    if path.is_absolute():
        return path
    if credentials := os.environ.get("CREDENTIALS_DIRECTORY"):
        return Path(credentials) / path
    return service_credential(path) or path


def service_credential(name: Path) -> Path | None:
    """Outside the service, the file one of the system service's credential names stands for.

    LoadCredential=ID:DIR gives the service each file DIR/F as the credential ID_F, and
    LoadCredential=ID:FILE gives it FILE as ID; the configuration names the credential. Run
    by an administrator (`callplan config check`, `callplan auth`, `sync --once`), callplan
    has no credentials directory, so it reads and writes the files the installed unit loads
    from instead of looking for "secret_FILE" in the current directory.
    """
    if len(name.parts) != 1:
        return None
    for ident, source in credential_sources(installed_system_unit()).items():
        try:
            folder = source.is_dir() or not source.exists()  # a directory, or one still to be made
        except OSError:  # not even visible to this user (inside a directory only root may enter)
            continue
        if folder and name.name.startswith(f"{ident}_"):
            return source / name.name.removeprefix(f"{ident}_")
        if not folder and name.name == ident:
            return source
    return None


def check_private(path: Path, where: str) -> None:
    """Refuse a secret file that others may read or write."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        access = "readable" if mode & 0o044 else "writable"
        raise ConfigError(
            f"{path} is {access} by others (mode {mode:04o}); run chmod 600 {path}", where=where
        )


def read_text(value: str | Path, where: str) -> str:
    """The whole content of a private file (a token, a JSON key)."""
    path = secret_path(value)
    try:
        check_private(path, where)
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(f"cannot read {path}: {reason}", where=where) from None


def read_secret(value: str | Path, where: str) -> str:
    """The first line of a private file (a password)."""
    text = read_text(value, where)
    secret = text.splitlines()[0] if text else ""
    if not secret:
        raise ConfigError(f"{secret_path(value)} is empty", where=where)
    return secret


def write_private(value: str | Path, text: str, where: str) -> None:
    """Write a private file atomically with mode 0600 (a refreshed token must never be
    half-written)."""
    path = secret_path(value)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                stream.write(text)
                stream.flush()
                os.fsync(stream.fileno())
            os.chmod(temporary, 0o600)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror}", where=where) from None
