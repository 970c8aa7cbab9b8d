"""The `callplan` command line, in-process with click's runner, against the Radicale fixture.

Time is pinned with time-machine (the server runs in its own process and is unaffected), so
no test depends on today's date.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import time_machine
from click.testing import CliRunner
from rich.console import Console

from agent.cli.demo import run_demo
from agent.cli.demo_server import RadicaleServer, free_port
from agent.cli.main import main
from agent.config import secrets
from agent.text import splice
from tests.support.harness.caldav import CaldavHarness
from tests.support.servers.radicale import SELLER, ZONE

NOW = datetime(2030, 3, 18, 7, 0, tzinfo=ZONE)


@pytest.fixture(autouse=True)
def pinned_time() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


def write_config(
    tmp_path: Path,
    harness: CaldavHarness,
    url: str | None = None,
    extra: str = "",
    send: str = "auto",
) -> Path:
    secret = tmp_path / "password"
    secret.write_text("not-checked\n")
    secret.chmod(0o600)
    path = tmp_path / "config.toml"
    path.write_text(f"""
state = "state.db"
[defaults]
timezone = "Europe/Berlin"
[defaults.rules]
internal_domains = ["{SELLER.split("@")[1]}"]
[defaults.agenda]
send = "{send}"
[[accounts]]
name = "ana"
provider = "caldav"
email = "{SELLER}"
url = "{url or harness.server_url}"
username = "{harness.user}"
password_file = "{secret}"
calendars = ["{harness.calendar}"]
{extra}""")
    return path


def run(config: Path, *args: str, input: str | None = None):  # type: ignore[no-untyped-def]
    runner = CliRunner(env={"COLUMNS": "200"})  # wide tables: titles on one line
    return runner.invoke(
        main, ["--config", str(config), *args], input=input, catch_exceptions=False
    )


def test_dry_run_shows_a_table_and_writes_nothing(
    tmp_path: Path, caldav_harness: CaldavHarness
) -> None:
    key = caldav_harness.add_meeting(
        "Globex discovery", datetime(2030, 3, 18, 10, tzinfo=ZONE), description="Intro"
    )
    config = write_config(tmp_path, caldav_harness)
    before = caldav_harness.versions()
    result = run(config, "sync", "--once", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "Planned changes (dry run" in result.output and "Globex discovery" in result.output
    assert "3 changes planned" in result.output
    assert "not-checked" not in result.output
    assert caldav_harness.versions() == before
    assert caldav_harness.meeting(key).description == "Intro"
    result = run(config, "sync", "--once")
    assert result.exit_code == 0 and "3 changes applied" in result.output
    assert "ana: planned: first plan of this calendar" in result.output
    assert len(caldav_harness.blocks()) == 2
    quiet = run(config, "sync", "--once").output  # its own writes read back: nothing to do
    assert quiet.startswith("Nothing to do: 1 meetings read") and "Changes applied" not in quiet
    # and a quiet calendar is not planned again
    assert "ana: skipped: nothing changed; next check at " in run(config, "sync", "--once").output


def test_a_dry_run_shows_each_agenda_as_it_would_go_out_and_every_meetings_verdict(
    tmp_path: Path, caldav_harness: CaldavHarness
) -> None:
    def at(hour: int, day: int = 0) -> datetime:
        return datetime(2030, 3, 18 + day, hour, tzinfo=ZONE)

    colleague = "bo@" + SELLER.split("@")[1]
    caldav_harness.add_meeting("Globex discovery", at(10), description="Intro")
    caldav_harness.add_meeting("Team sync", at(11), guests=[colleague])
    caldav_harness.add_meeting("Placeholder", at(12), minutes=0)
    declined = caldav_harness.add_meeting("Initech review", at(14), guests=["eli@initech.example"])
    caldav_harness.edit_meeting(declined, decline=True)
    forged = f"Notes\n{splice.BEGIN}\nmy own words\n{splice.END}"
    caldav_harness.add_meeting(
        "Umbrella demo", at(15), guests=["uma@umbrella.example"], description=forged
    )
    caldav_harness.add_meeting(
        "Webinar", at(16, 1), guests=[f"g{n}@c{n}.example" for n in range(11)]
    )
    config = write_config(tmp_path, caldav_harness)
    before = caldav_harness.versions()
    result = run(config, "sync", "--once", "--dry-run", "--all")
    assert result.exit_code == 0, result.output
    assert caldav_harness.versions() == before
    text = result.output
    rows = {
        line.split("│")[3].strip(): line.split("│")[4].strip()
        for line in text.splitlines()
        if line.startswith("│ ana") and "Every meeting" not in line and len(line.split("│")) == 6
    }
    assert rows["Globex discovery"] == "customer meeting; agenda: inserted"
    assert rows["Team sync"] == "left alone: internal meeting"
    assert rows["Placeholder"] == "left alone: zero length"
    assert rows["Initech review"] == "left alone: declined by the seller"
    assert rows["Umbrella demo"] == (
        "customer meeting; agenda: left out: marker look-alike in the description"
    )
    assert rows["Webinar"] == "customer meeting; agenda: draft: 11 outside guests, more than 10"
    agenda = text[text.index("Globex discovery: the agenda that would go out") :]
    assert "Purpose" in agenda and "To understand what matters most to you right now" in agenda


def test_status_lists_the_agendas_waiting_for_a_plan(
    tmp_path: Path, caldav_harness: CaldavHarness
) -> None:
    caldav_harness.add_meeting("Globex discovery", datetime(2030, 3, 19, 10, tzinfo=ZONE))
    caldav_harness.add_meeting("Initech pilot", datetime(2030, 3, 27, 10, tzinfo=ZONE))
    config = write_config(tmp_path, caldav_harness, send="when_planned")
    assert "ana: no agenda waits for a plan." in run(config, "status").output  # nothing read yet
    run(config, "sync", "--once")
    result = run(config, "status")
    assert result.exit_code == 0, result.output
    assert "ana: 1 agenda(s) wait for your plan" in result.output
    line = next(line for line in result.output.splitlines() if "Globex discovery" in line)
    assert line.strip() == (
        "Tue 19 Mar 10:00  Globex discovery: waits for a purpose (none without one)"
    )
    assert "Initech pilot" not in result.output  # beyond the lead time


def test_status_after_a_sync(tmp_path: Path, caldav_harness: CaldavHarness) -> None:
    caldav_harness.add_meeting("Globex", datetime(2030, 3, 18, 10, tzinfo=ZONE))
    config = write_config(tmp_path, caldav_harness)
    run(config, "sync", "--once")
    result = run(config, "status")
    assert result.exit_code == 0
    row = next(line for line in result.output.splitlines() if line.startswith("│ ana"))
    cells = [cell.strip() for cell in row.strip("│").split("│")]
    assert cells[:2] == ["ana", "Mon 18 Mar 07:00"]
    assert cells[3:6] == ["1", "1", "1"] and cells[-1] == "—"
    assert cells[-2] == "planned: first plan of this calendar"


def synced(tmp_path: Path, harness: CaldavHarness) -> tuple[str, Path]:
    """A customer meeting enriched by one sync (2 blocks and an agenda): its key, and the
    configuration."""
    key = harness.add_meeting("Globex", datetime(2030, 3, 18, 10, tzinfo=ZONE), description="Intro")
    config = write_config(tmp_path, harness)
    run(config, "sync", "--once")
    return key, config


def add_a_deleted_calendar(config: Path, harness: CaldavHarness, *, first: bool) -> str:
    """Configure, before or after the account's calendar, one that was deleted on the server;
    returns its id."""
    missing = harness.calendar.replace("/work/", "/retired/")
    both = [missing, harness.calendar] if first else [harness.calendar, missing]
    config.write_text(
        config.read_text().replace(
            f'calendars = ["{harness.calendar}"]', f'calendars = ["{both[0]}", "{both[1]}"]'
        )
    )
    return missing


def test_undo_asks_first_and_then_removes_everything(
    tmp_path: Path, caldav_harness: CaldavHarness
) -> None:
    key, config = synced(tmp_path, caldav_harness)
    refused = run(config, "undo", input="n\n")
    assert refused.exit_code == 1 and len(caldav_harness.blocks()) == 2
    preview = run(config, "undo", "--dry-run")
    assert (
        "would remove 2 blocks, would strip 1 agendas" in preview.output
        and len(caldav_harness.blocks()) == 2
    )
    done = run(config, "undo", "--yes")
    assert done.exit_code == 0 and "removed 2 blocks, stripped 1 agendas, kept 0" in done.output
    assert caldav_harness.blocks() == [] and caldav_harness.meeting(key).description == "Intro"


def test_undo_names_what_it_cannot_reach_and_cleans_the_rest(
    tmp_path: Path, caldav_harness: CaldavHarness
) -> None:
    key, config = synced(tmp_path, caldav_harness)
    missing = add_a_deleted_calendar(config, caldav_harness, first=True)
    emptied = tmp_path / "emptied"  # an account that cannot even connect: its password is gone
    emptied.write_text("")
    emptied.chmod(0o600)
    config.write_text(
        config.read_text()
        + f"""
[[accounts]]
name = "bo"
provider = "caldav"
email = "{SELLER}"
url = "{caldav_harness.server_url}"
username = "{caldav_harness.user}"
password_file = "{emptied}"
calendars = ["{caldav_harness.calendar}"]
"""
    )
    result = run(config, "undo", "--yes")
    assert result.exit_code == 1
    assert "ana: removed 2 blocks, stripped 1 agendas, kept 0" in result.output
    assert f"error: calendar {missing}: " in result.output and "not found" in result.output
    assert f"accounts[1].password_file: {emptied} is empty" in result.output
    assert "callplan: bo: " in result.output
    assert caldav_harness.blocks() == [] and caldav_harness.meeting(key).description == "Intro"


def test_a_failing_account_does_not_stop_the_others(
    tmp_path: Path, caldav_harness: CaldavHarness
) -> None:
    caldav_harness.add_meeting("Globex", datetime(2030, 3, 18, 10, tzinfo=ZONE))
    dead = f"http://127.0.0.1:{free_port()}/"
    broken = f"""
[[accounts]]
name = "gone"
provider = "caldav"
email = "{SELLER}"
url = "{dead}"
calendars = ["{dead}gone/work/"]
"""
    config = write_config(tmp_path, caldav_harness, extra=broken)
    result = run(config, "sync", "--once")
    assert result.exit_code == 1
    assert "callplan: gone: " in result.output
    assert len(caldav_harness.blocks()) == 2  # the good account was enriched
    status = run(config, "status").output
    gone = next(line for line in status.splitlines() if line.startswith("│ gone"))
    assert "127.0.0.1" in gone and "not-checked" not in status + result.output


def test_a_calendar_that_fails_alone_is_named_and_the_others_are_enriched(
    tmp_path: Path, caldav_harness: CaldavHarness
) -> None:
    caldav_harness.add_meeting("Globex", datetime(2030, 3, 18, 10, tzinfo=ZONE))
    config = write_config(tmp_path, caldav_harness)
    missing = add_a_deleted_calendar(config, caldav_harness, first=False)
    result = run(config, "sync", "--once")
    assert result.exit_code == 1 and "3 changes applied" in result.output
    error = next(line for line in result.output.splitlines() if line.startswith("callplan: "))
    assert error.startswith(f"callplan: ana: calendar {missing}: ") and "not found" in error
    assert len(caldav_harness.blocks()) == 2
    row = next(
        line for line in run(config, "status").output.splitlines() if line.startswith("│ ana")
    )
    cells = [cell.strip() for cell in row.strip("│").split("│")]
    assert cells[3:7] == ["1", "1", "1", "0"] and cells[-1].startswith(f"calendar {missing[:20]}")


# Rows damaged where SQLite cannot see it (a value cut short), in each table a command reads.
DAMAGED = [
    ("runs", "last_start", "status"),
    ("artifacts", "meeting_start", "status"),
    ("held", "externals", "report"),
    ("held", "start", "report"),
]


@pytest.mark.parametrize("table, column, command", DAMAGED, ids=lambda value: str(value))
def test_a_damaged_row_is_a_one_line_state_error(
    tmp_path: Path, caldav_harness: CaldavHarness, table: str, column: str, command: str
) -> None:
    # held yesterday
    caldav_harness.add_meeting("Globex kick-off", datetime(2030, 3, 17, 10, tzinfo=ZONE))
    caldav_harness.add_meeting("Globex follow-up", datetime(2030, 3, 18, 10, tzinfo=ZONE))
    config = write_config(tmp_path, caldav_harness)
    assert run(config, "sync", "--once").exit_code == 0
    with sqlite3.connect(tmp_path / "state.db") as connection:
        assert (
            connection.execute(f"UPDATE {table} SET {column} = substr({column}, 1, 4)").rowcount > 0
        )
    connection.close()
    result = run(config, command)
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and result.output.startswith(
        f"callplan: {tmp_path / 'state.db'}: cannot read "
    )
    assert "corrupt state database (a row cannot be read: " in result.output


def test_config_check_and_its_errors(tmp_path: Path, caldav_harness: CaldavHarness) -> None:
    config = write_config(tmp_path, caldav_harness)
    result = run(config, "config", "check", "--connect")
    assert (
        result.exit_code == 0
        and (
            "ana (caldav, ana@seller.example): options ok; 1 calendar(s):\n"
            f"    Work  {caldav_harness.calendar}  (primary, enriched)\n"
        )
        in result.output
    )
    (tmp_path / "password").chmod(0o644)
    result = run(config, "config", "check")
    assert result.exit_code == 1
    error = result.output.strip().splitlines()[-1]
    assert (
        error.startswith("callplan: config.toml: accounts[0].password_file: ")
        and "readable by others (mode 0644)" in error
    )
    config.write_text("[[accounts]]\nname = 'x'\n")
    result = run(config, "sync", "--once")
    assert (
        result.exit_code == 1
        and result.output.strip() == "callplan: config.toml: accounts[0].provider: Field required"
    )


def test_config_check_connect_goes_on_past_an_account_it_cannot_reach(
    tmp_path: Path, caldav_harness: CaldavHarness
) -> None:
    config = write_config(tmp_path, caldav_harness)
    unreachable = f"http://127.0.0.1:{free_port()}/"
    second = config.read_text().split("[[accounts]]", 1)[1].replace('name = "ana"', 'name = "bo"')
    second = second.replace(caldav_harness.server_url, unreachable)
    config.write_text(config.read_text() + "[[accounts]]" + second)
    result = run(config, "config", "check", "--connect")
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert f"    Work  {caldav_harness.calendar}  (primary, enriched)" in lines
    assert any(line.startswith("  bo (caldav, ") and "; cannot connect: " in line for line in lines)
    assert lines[-1] == f"callplan: {config}: cannot connect to bo"


def test_config_check_reads_the_system_services_credentials_from_where_its_unit_loads_them(
    tmp_path: Path, caldav_harness: CaldavHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "credentials"
    folder.mkdir(mode=0o700)
    (folder / "ana-caldav").write_text("not-checked\n")
    (folder / "ana-caldav").chmod(0o644)
    unit = tmp_path / "callplan.service"
    unit.write_text(f"[Service]\nLoadCredential=secret:{folder}\n")
    monkeypatch.setattr(secrets, "installed_system_unit", lambda: unit)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    config = write_config(tmp_path, caldav_harness)
    config.write_text(
        config.read_text().replace(
            f'password_file = "{tmp_path / "password"}"', 'password_file = "secret_ana-caldav"'
        )
    )
    result = run(config, "config", "check")
    assert result.exit_code == 1
    assert (
        f"accounts[0].password_file: {folder}/ana-caldav is readable by others"
        in result.output.strip().splitlines()[-1]
    )
    (folder / "ana-caldav").chmod(0o600)
    result = run(config, "config", "check", "--connect")
    assert result.exit_code == 0 and "options ok; 1 calendar(s):\n    Work  " in result.output


def test_sync_without_once_points_at_the_service(
    tmp_path: Path, caldav_harness: CaldavHarness
) -> None:
    result = run(write_config(tmp_path, caldav_harness), "sync")
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        "Error: sync runs one cycle and needs --once; the service that runs a cycle every interval "
        "is `callplan run`"
    )
    assert caldav_harness.blocks() == []


def test_the_demo_runs_on_its_own_server_and_converges(radicale: RadicaleServer) -> None:
    console = Console(record=True, width=200)
    run_demo(console, clock=lambda: NOW)
    text = console.export_text()
    assert "seeded 11 events" in text
    for title in (
        "Globex: discovery call",
        "Umbrella Health: security questionnaire",
        "Kestrel Logistics: weekly check-in",
    ):
        assert title in text
    assert "declined by the seller" in text and "cancelled" in text and "all-day event" in text
    assert "draft: the customer organises" in text
    # the seller's plan, and the invitation built from it, without its private lines
    invitation = text[text.index("the invitation 'Globex: technical deep dive' as the customer") :]
    invitation = invitation[: invitation.index("──── End of agenda ────")]
    assert "Purpose" in invitation and "Agree the scope and success criteria" in invitation
    assert "- Data residency and the security review (25 min)" in invitation
    assert "Who should join from your side" in invitation
    assert "pricing" not in invitation and "Raj" not in invitation
    assert "Next cycle: 0 changes" in text
