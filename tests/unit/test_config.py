"""Configuration: valid files load; every mistake is one line that names the file and the key."""

from __future__ import annotations

from datetime import time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from agent.config.settings import load
from agent.core.errors import ConfigError

GOOD = """
state = "state.db"

[defaults]
timezone = "Europe/Berlin"
internal_domains = ["ignored-here"]

[defaults.rules]
internal_domains = ["Acme.example"]

[defaults.working_hours]
start = "08:30"

[[accounts]]
name = "alex"
provider = "caldav"
email = "alex@acme.example"
url = "https://dav.example/"
timezone = "America/New_York"

[accounts.working_hours]
end = "16:00"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_a_good_file_loads_with_account_overrides(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config.toml: defaults.internal_domains: unknown key"):
        load(write(tmp_path, GOOD))
    config = load(write(tmp_path, GOOD.replace('internal_domains = ["ignored-here"]\n', "")))
    account = config.accounts[0]
    assert config.state == tmp_path / "state.db"
    assert account.settings.timezone == ZoneInfo("America/New_York")
    assert account.settings.working_hours.start == time(8, 30)  # from defaults
    assert account.settings.working_hours.end == time(16, 0)  # own override, merged
    assert account.settings.rules.internal_domains == ("acme.example",)
    assert account.options == {"url": "https://dav.example/"}


@pytest.mark.parametrize(
    "text, message",
    [
        ("[defaults\n", r"config.toml: not valid TOML"),
        (
            '[defaults]\ntimezone = "Mars/Olympus"',
            r"config.toml: defaults.timezone: invalid timezone",
        ),
        (
            '[defaults.rules]\ninternal_domains = "acme.example"',
            r"defaults.rules.internal_domains: Input should be a list",
        ),
        (
            '[[accounts]]\nname = "a"\nprovider = "exchange"\nemail = "a@b.c"',
            r"accounts\[0\].provider: Input should be",
        ),
        ('[[accounts]]\nname = "a"\nprovider = "caldav"', r"accounts\[0\].email: Field required"),
        (
            '[[accounts]]\nname = "a"\nprovider = "caldav"\nemail = "a@b.c"\n'
            '[accounts.working_hours]\nstart = "18:00"\nend = "09:00"',
            r"accounts\[0\].working_hours: end must be after start",
        ),
        (
            '[[accounts]]\nname = "a"\nprovider = "caldav"\nemail = "a@b.c"\n[[accounts]]\nname = '
            '"a"\nprovider = "caldav"\nemail = "b@b.c"',
            r"accounts\[1\].name: duplicate account name",
        ),
        (
            "[defaults.debrief]\nminutes = -5",
            r"defaults.debrief.minutes: Input should be greater than 0",
        ),
        ("bogus = 1", r"config.toml: bogus: unknown key"),
        (
            "[service]\ninterval_seconds = 0",
            r"config.toml: service.interval_seconds: Input should be greater than or equal to 1",
        ),
        (
            "[service]\ninterval_seconds = 30\njitter_seconds = 30",
            r"config.toml: service: jitter_seconds must be less than interval_seconds",
        ),
        (
            "[service]\nbackoff_max_seconds = 10",
            r"config.toml: service: backoff_max_seconds must be at least interval_seconds",
        ),
        (
            '[service]\nlog_level = "loud"',
            r"config.toml: service.log_level: Input should be 'debug', 'info', 'warning' or "
            r"'error'",
        ),
        ("[service]\nthreads = 4", r"config.toml: service.threads: unknown key"),
        (
            "[cluster]\nheartbeat_seconds = 10\nstalled_after_seconds = 20",
            r"config.toml: cluster: stalled_after_seconds must be more than twice "
            r"heartbeat_seconds",
        ),
        (
            "[cluster]\nheartbeat_seconds = 0",
            r"config.toml: cluster.heartbeat_seconds: Input should",
        ),
    ],
)
def test_mistakes_are_one_line_with_where(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        load(write(tmp_path, text))
    assert "\n" not in str(caught.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load(tmp_path / "nope.toml")


def test_service_settings_have_defaults_and_the_jitter_follows_the_interval(tmp_path: Path) -> None:
    service = load(write(tmp_path, "")).service
    assert (
        service.interval_seconds,
        service.jitter,
        service.workers,
        service.stop_timeout_seconds,
    ) == (60, 6, 8, 20)
    assert (service.backoff_max_seconds, service.log_level) == (900, "info")
    tuned = load(
        write(tmp_path, "[service]\ninterval_seconds = 300\njitter_seconds = 0\nworkers = 2")
    ).service
    assert (tuned.interval_seconds, tuned.jitter, tuned.workers) == (300, 0, 2)


def test_cluster_settings_have_defaults(tmp_path: Path) -> None:
    cluster = load(write(tmp_path, "")).cluster
    assert (cluster.heartbeat_seconds, cluster.stalled_after_seconds) == (10, 60)
    tuned = load(write(tmp_path, "[cluster]\nheartbeat_seconds = 1\nstalled_after_seconds = 4"))
    assert (tuned.cluster.heartbeat_seconds, tuned.cluster.stalled_after_seconds) == (1, 4)
