"""The systemd unit as configuration reads it: where it is installed and what it loads.

Outside the service, a secret named as a credential of the system unit is read from where
that unit's LoadCredential= takes it (agent.config.secrets), so reading configuration needs
to find the installed unit and read its settings; installing it is the service layer's job.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

Scope = Literal["system", "user"]
UNIT = "callplan.service"


def installed_system_unit() -> Path:
    """Where `callplan install-service --system` puts the system unit."""
    return default_unit_dir("system") / UNIT


def unit_settings(text: str) -> Iterator[tuple[str, str]]:
    """The KEY=value settings of a unit file, in order (sections and comments skipped)."""
    for line in text.splitlines():
        key, equals, value = line.strip().partition("=")
        if equals and not key.startswith(("#", ";", "[")):
            yield key.strip(), value.strip()


def credential_sources(unit: Path) -> dict[str, Path]:
    """A unit file's LoadCredential=ID:PATH settings, ID -> PATH ({} when there is no such file)."""
    try:
        text = unit.read_text(encoding="utf-8")
    except OSError:
        return {}
    sources = {}
    for key, value in unit_settings(text):
        ident, colon, source = value.partition(":")
        if key == "LoadCredential" and colon and source.startswith("/"):
            sources[ident.strip()] = Path(source)
    return sources


def default_unit_dir(scope: Scope) -> Path:
    if scope == "system":
        return Path("/etc/systemd/system")
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "systemd" / "user"
