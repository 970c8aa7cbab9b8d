"""deploy/compose.yaml, PostgreSQL and N workers: docker is not needed to check that each of its
services runs a callplan command that exists, in an order that works, on configuration files
that load, with nothing secret in them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import yaml

from agent.cli.main import main
from agent.cluster import accounts
from agent.config.settings import PostgresState, ServiceSettings, load

DEPLOY = Path(__file__).parents[2] / "deploy"
CONTAINER = {  # where compose mounts the files of deploy/
    "/etc/callplan/worker.toml": DEPLOY / "worker.toml",
    "/etc/callplan/cluster.toml": DEPLOY / "cluster.toml",
}


def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def callplan_services() -> dict[str, dict[str, Any]]:
    return {
        name: service
        for name, service in compose()["services"].items()
        if service.get("image") == "callplan"
    }


def command_of(words: list[str]) -> tuple[click.Command, list[str]]:
    """The CLI command the words name (through its groups), and the words left for it."""
    command: click.Command = main
    while isinstance(command, click.Group) and words and not words[0].startswith("-"):
        found = command.get_command(click.Context(command), words[0])
        assert found is not None, f"callplan has no command {words[0]!r}"
        command, words = found, words[1:]
    return command, words


def test_every_callplan_service_runs_a_command_the_cli_has_with_options_it_takes() -> None:
    services = callplan_services()
    assert {"migrate", "apply", "worker"} <= set(services)
    for name, service in services.items():
        command, rest = command_of(list(service["command"]))
        assert not isinstance(command, click.Group), f"{name}: {command.name} needs a subcommand"
        options = {option for param in command.params for option in param.opts}
        assert {word for word in rest if word.startswith("-")} <= options, name
        arguments = [p for p in command.params if isinstance(p, click.Argument)]
        assert len([word for word in rest if not word.startswith("-")]) == len(arguments), name
        assert service["environment"]["CALLPLAN_CONFIG"] in CONTAINER, name


def test_the_workers_start_after_the_schema_and_the_accounts_and_stop_within_their_grace() -> None:
    services = compose()["services"]
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert services["apply"]["depends_on"] == {
        "migrate": {"condition": "service_completed_successfully"}
    }
    worker = services["worker"]
    assert worker["command"] == ["worker"]
    assert worker["depends_on"] == {"apply": {"condition": "service_completed_successfully"}}
    assert worker["deploy"]["replicas"] >= 2 and worker["restart"] == "unless-stopped"
    grace = int(worker["stop_grace_period"].removesuffix("s"))
    assert grace >= ServiceSettings().stop_timeout_seconds + 5  # never killed within its bound


def test_the_mounted_files_load_name_one_database_and_hold_no_secret() -> None:
    document = compose()
    secret = "/run/secrets/postgres-password"
    assert document["services"]["postgres"]["environment"]["POSTGRES_PASSWORD_FILE"] == secret
    for service in callplan_services().values():
        mounted = {volume.split(":")[1]: volume.split(":")[0] for volume in service["volumes"]}
        for inside, shipped in CONTAINER.items():
            assert DEPLOY / mounted[inside] == shipped
    worker, cluster = load(CONTAINER["/etc/callplan/worker.toml"]), load(DEPLOY / "cluster.toml")
    expected = PostgresState(
        url="postgresql://callplan@postgres:5432/callplan", password_file=secret
    )
    assert worker.state == cluster.state == expected
    assert not worker.accounts and cluster.accounts
    held, _shared = accounts.desired(cluster)  # refuses a secret written into the file
    assert set(held) == {account.name for account in cluster.accounts}
