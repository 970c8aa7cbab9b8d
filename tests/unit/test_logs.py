"""Service log lines: one line per event in logfmt, exceptions in one line, no secret ever."""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.core import logfmt
from agent.core.logfmt import LogfmtFormatter, emit, redact
from agent.service import logs


def record(
    message: str, *args: object, level: int = logging.INFO, fields: dict | None = None
) -> logging.LogRecord:
    made = logging.LogRecord("callplan.test", level, __file__, 1, message, args, None)
    made.created = 1900000000.25  # 2030-03-17T17:46:40.250Z
    if fields is not None:
        made.fields = fields
    return made


def test_an_event_is_one_logfmt_line_with_quoted_values() -> None:
    line = LogfmtFormatter().format(
        record(
            "cycle",
            fields={
                "account": "alex",
                "changes": 3,
                "ms": 140,
                "meeting": 'Kick-off "Q3"\nplan',
                "ok": True,
                "gone": None,
                "rate": 0.5,
            },
        )
    )
    assert line == (
        "ts=2030-03-17T17:46:40.250Z level=info event=cycle account=alex changes=3 ms=140 "
        'meeting="Kick-off \\"Q3\\"\\nplan" ok=true rate=0.5'
    )


def test_a_plain_message_names_its_logger_and_under_journald_starts_with_its_priority() -> None:
    formatter = LogfmtFormatter(journal=True)
    assert formatter.format(
        record("calendar %s: %s", "work", "HTTP 503", level=logging.WARNING)
    ) == (
        '<4>ts=2030-03-17T17:46:40.250Z level=warning logger=callplan.test msg="calendar work: '
        'HTTP 503"'
    )


def _failing() -> logging.LogRecord:
    try:
        raise ValueError("bad\nvalue")
    except ValueError:
        import sys

        failed = record("crash", level=logging.ERROR, fields={"account": "alex"})
        failed.exc_info = sys.exc_info()
        return failed


def test_an_exception_is_its_type_and_message_and_its_traceback_only_at_debug() -> None:
    quiet = LogfmtFormatter().format(_failing())
    assert quiet == (
        "ts=2030-03-17T17:46:40.250Z level=error event=crash account=alex "
        'exception="ValueError: bad\\nvalue"'
    )
    loud = LogfmtFormatter(tracebacks=True).format(_failing())
    assert "\n" not in loud and 'traceback="Traceback (most recent call last):\\n' in loud


@pytest.mark.parametrize(
    "text, shown",
    [
        (
            "headers={'Authorization': 'Basic dXNlcjpwYXNzd29yZA=='}",
            "headers={'Authorization': '*** ***'}",
        ),
        (
            "GET https://graph.example/me?access_token=abc.def&top=5",
            "GET https://graph.example/me?access_token=***&top=5",
        ),
        ('refresh failed: {"client_secret": "s3cr3t"}', 'refresh failed: {"client_secret": "***"}'),
        ("sent Bearer eyJhbGciOiJIUzI1NiJ9.e30", "sent Bearer ***"),
        (
            "config.toml: accounts[0].password_file: no such file",
            "config.toml: accounts[0].password_file: no such file",
        ),
        # whatever the case of the word that names it: a value without one is left as it is
        ("sent BEARER eyJhbGciOiJIUzI1NiJ9.e30", "sent BEARER ***"),
        ("ſecret=s3cr3t; TOKEN: abc; Apıkey=xyz", "ſecret=***; TOKEN: ***; Apıkey=***"),
        (
            "skipped: nothing changed; next check at 10:45",
            "skipped: nothing changed; next check at 10:45",
        ),
    ],
)
def test_credentials_are_masked_in_every_line(text: str, shown: str) -> None:
    assert redact(text) == shown
    assert LogfmtFormatter().format(record("%s", text)).endswith(logfmt._value(shown))


@pytest.fixture
def restored() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    for name in logs.OURS:
        logging.getLogger(name).setLevel(logging.NOTSET)


def test_configure_sets_our_level_and_keeps_libraries_at_warning(restored: None) -> None:
    stream = io.StringIO()
    logs.configure("debug", stream)
    emit(logging.getLogger("callplan.daemon"), logging.DEBUG, "tick", n=1)
    logging.getLogger("caldav").debug(
        "sending request - headers={'Authorization': 'Basic c2VjcmV0'} body: <description>"
    )
    logging.getLogger("caldav").warning("server said no")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and "event=tick n=1" in lines[0] and 'msg="server said no"' in lines[1]
    logs.set_level("warning")
    emit(logging.getLogger("callplan.daemon"), logging.INFO, "quiet")
    assert "quiet" not in stream.getvalue()


def test_the_journal_is_recognised_by_its_device_and_inode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with (tmp_path / "stream").open("w") as stream:
        found = os.fstat(stream.fileno())
        monkeypatch.setenv("JOURNAL_STREAM", f"{found.st_dev}:{found.st_ino}")
        assert logs._to_journal(stream)
        monkeypatch.setenv("JOURNAL_STREAM", "1:2")
        assert not logs._to_journal(stream)
