"""Where the service's log lines go: stderr (the journal under systemd), at the configured level.

The lines themselves are written by agent.core.logfmt's formatter; this module installs it
on the root logger and changes the level of our loggers on a config reload. Libraries, which
log request bodies and headers at debug level, are held at warning whatever the level.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TextIO

from agent.core.logfmt import LogfmtFormatter

# the loggers `log_level` governs; libraries stay at warning
OURS = (
    "callplan",
    "agent",
    "connectors",
)
LEVELS = ("error", "warning", "info", "debug")  # from quietest


def level(configured: str, verbose: int) -> str:
    """The level a service logs at: the configured one, or more with -v (info) and -vv (debug)."""
    if not verbose:
        return configured
    return LEVELS[max(LEVELS.index(configured), min(verbose, 2) + 1)]


def _to_journal(stream: TextIO) -> bool:
    """Whether the stream is the journal's (systemd sets JOURNAL_STREAM to its device:inode)."""
    expected = os.environ.get("JOURNAL_STREAM", "")
    try:
        found = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return expected == f"{found.st_dev}:{found.st_ino}"


def configure(level: str, stream: TextIO | None = None) -> None:
    """Send every log record to `stream` (stderr) as logfmt; our loggers at `level`, libraries at
    warning."""
    stream = stream or sys.stderr
    handler = logging.StreamHandler(stream)
    handler.setFormatter(LogfmtFormatter(tracebacks=level == "debug", journal=_to_journal(stream)))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    set_level(level)


def set_level(level: str) -> None:
    """Change the level of our loggers (a config reload); tracebacks follow debug."""
    for name in OURS:
        logging.getLogger(name).setLevel(level.upper())
    for handler in logging.getLogger().handlers:
        if isinstance(handler.formatter, LogfmtFormatter):
            handler.formatter.tracebacks = level == "debug"
