"""Log lines for the service: one line per event, in logfmt, on stderr.

`callplan run` writes ``ts=... level=info event=cycle account=alex changes=3 requests=2 ms=140``
so that journald (which collects stderr), grep and log shippers all read it the same way.
A line never spans two lines: values are quoted and escaped, an exception becomes its type
and message, and its traceback (only at debug level) is one escaped value. Under journald
each line starts with its syslog priority (``<4>``), so `journalctl -p warning` works.

What never reaches a log line: secrets and meeting bodies. Our own events carry titles and
counts, never descriptions; libraries, which log request bodies and headers at debug level,
are held at warning whatever the level; and every value passes `redact`, a last guard
against a credential inside a library's message or a URL.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from typing import Any

# syslog levels, for journald
PRIORITY = {
    "debug": 7,
    "info": 6,
    "warning": 4,
    "error": 3,
    "critical": 2,
}

_CREDENTIAL = re.compile(r"(?i)\b(basic|bearer|digest)(\s+)[A-Za-z0-9._~+/=-]{6,}")
_SECRET_PAIR = re.compile(
    r"(?i)\b([a-z_]*(?:token|password|passwd|secret|api_?key|authorization))(['\"]?\s*[=:]\s*['\"]?)([^\s&'\",;]+)"
)
_BARE = re.compile(r"^[^\s\"=\\]+$")
# Every credential the two patterns mask is named by one of these words (in any case): a text
# that holds none of them is left as it is without running the patterns, as most values of a
# line (counts, names, times) are. A dotless i matches "i" in the patterns, not in casefold().
_NAMED = re.compile("basic|bearer|digest|token|passw|secret|key|authorization")


def redact(text: str) -> str:
    """Mask credentials: `Bearer xyz`, `password=xyz`, `'Authorization': 'Basic xyz'`."""
    if not _NAMED.search(text.casefold().replace("ı", "i")):
        return text
    return _SECRET_PAIR.sub(r"\1\2***", _CREDENTIAL.sub(r"\1\2***", text))


def emit(logger: logging.Logger, level: int, event: str, **fields: Any) -> None:
    """Log a structured event: `event` names it, `fields` become key=value pairs (None is left
    out)."""
    logger.log(level, event, extra={"fields": fields})


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        value = f"{value:.3f}".rstrip("0").rstrip(".")
    elif isinstance(value, datetime):
        value = value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    elif isinstance(value, (list, tuple, set, frozenset)):
        value = ",".join(str(item) for item in value)
    text = redact(str(value))
    if text and _BARE.match(text):
        return text
    escaped = (
        text.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
    )
    return f'"{escaped}"'


class LogfmtFormatter(logging.Formatter):
    """Formats every record as one logfmt line; see the module docstring."""

    def __init__(self, *, tracebacks: bool = False, journal: bool = False) -> None:
        super().__init__()
        self.tracebacks = tracebacks
        self.journal = journal

    def format(self, record: logging.LogRecord) -> str:
        level = record.levelname.lower()
        pairs: list[tuple[str, Any]] = [
            (
                "ts",
                datetime.fromtimestamp(record.created, UTC)
                .isoformat(timespec="milliseconds")
                .replace("+00:00", "Z"),
            ),
            ("level", level),
        ]
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            pairs.append(("event", record.msg))
            pairs.extend(fields.items())
        else:
            pairs.extend((("logger", record.name), ("msg", record.getMessage())))
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            pairs.append(("exception", f"{type(error).__name__}: {error}"))
            if self.tracebacks:
                pairs.append(("traceback", self.formatException(record.exc_info)))
        line = " ".join(f"{key}={_value(value)}" for key, value in pairs if value is not None)
        return f"<{PRIORITY.get(level, 6)}>{line}" if self.journal else line
