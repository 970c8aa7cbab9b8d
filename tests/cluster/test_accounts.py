"""`callplan accounts apply`: the cluster's accounts and shared settings, declaratively, in
PostgreSQL, with secrets by reference only."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import tomli_w
from click.testing import CliRunner, Result

from agent.cli.main import main
from agent.cluster import accounts
from agent.config.settings import PostgresState, load
from agent.state.postgres import PostgresStore

PASSWORD = "s3cret-Pa55"


def caldav(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "provider": "caldav",
        "email": f"{name}@northpeak.example",
        "url": f"https://dav.example/{name}/",
        "username": name,
        "password_file": f"secret_{name}",  # a systemd credential: no such file here
        **extra,
    }


GOOGLE = {
    "name": "gia",
    "provider": "google",
    "email": "gia@northpeak.example",
    "token_file": "/var/lib/callplan/google-gia.json",
}
OUTLOOK = {
    "name": "olli",
    "provider": "outlook",
    "email": "olli@northpeak.example",
    "client_id": "00000000-0000-0000-0000-000000000000",
    "mode": "app",
    "tenant": "northpeak.example",
    "client_secret_file": "$CREDENTIALS_DIRECTORY/m365",
}


def write(folder: Path, state: PostgresState, entries: list[dict[str, Any]], **top: Any) -> Path:
    path = folder / "config.toml"
    document = {
        "state": state.url,
        "service": {"interval_seconds": 120},
        "defaults": {
            "timezone": "Europe/Berlin",
            "rules": {"internal_domains": ["northpeak.example"]},
        },
        "accounts": entries,
        **top,
    }
    path.write_text(tomli_w.dumps(document))
    return path


def apply(path: Path, *extra: str) -> Result:
    return CliRunner().invoke(main, ["accounts", "apply", str(path), *extra])


def lines(result: Result) -> list[str]:
    return result.output.splitlines()


def dump(state: PostgresState) -> str:
    with psycopg.connect(state.url) as connection:
        rows = connection.execute(
            "SELECT account::text FROM accounts UNION ALL SELECT service::text || cluster::text "
            "|| templates::text FROM cluster_settings"
        ).fetchall()
    return "\n".join(row[0] for row in rows)


def test_apply_adds_changes_and_removes_and_changes_nothing_the_second_time(
    tmp_path: Path, postgres_state: PostgresState
) -> None:
    where = postgres_state.where
    path = write(tmp_path, postgres_state, [caldav("alex"), caldav("bo"), GOOGLE, OUTLOOK])
    first = apply(path)
    assert first.exit_code == 0, first.output
    assert lines(first) == [
        "added: alex, bo, gia, olli",
        "changed: the pace ([service]), [cluster], templates",
        f"{where}: 4 added, 0 changed, 0 removed, 0 unchanged",
    ]
    assert lines(apply(path)) == [f"{where}: nothing to change (4 accounts)"]

    moved = caldav("alex", password_file="/etc/callplan/alex", working_hours={"start": "08:00"})
    path = write(
        tmp_path,
        postgres_state,
        [moved, caldav("cy"), GOOGLE, OUTLOOK],
        cluster={"heartbeat_seconds": 5},
    )
    planned = apply(path, "--dry-run")
    expected = [
        "added: cy",
        "changed: alex (password_file, working_hours)",
        "removed: bo",
        "changed: [cluster]",
    ]
    assert lines(planned) == [
        *expected,
        f"{where}: 1 added, 1 changed, 1 removed, 2 unchanged (dry run: nothing written)",
    ]
    store = PostgresStore(postgres_state)
    try:
        assert [account.name for account in accounts.listed(store)] == ["alex", "bo", "gia", "olli"]
        assert lines(apply(path)) == [
            *expected,
            f"{where}: 1 added, 1 changed, 1 removed, 2 unchanged",
        ]
        listed = accounts.listed(store)
        config = load(path)
        # each account is what its configuration validated, but for where messages name it
        assert listed == [
            account.model_copy(update={"where": f"account {account.name}"})
            for account in sorted(config.accounts, key=lambda account: account.name)
        ]
        shared = accounts.shared(store)
        assert shared is not None
        assert (shared.service, shared.cluster, dict(shared.templates)) == (
            config.service,
            config.cluster,
            {},
        )
    finally:
        store.close()


def test_the_first_cycles_of_accounts_added_together_are_spread_over_an_interval(
    tmp_path: Path, postgres_state: PostgresState
) -> None:
    now = datetime(2030, 3, 4, 9, 0, tzinfo=UTC)
    offsets = iter([0.0, 40.0, 119.0, 60.0])
    store = PostgresStore(postgres_state)
    try:
        first = load(write(tmp_path, postgres_state, [caldav("alex"), caldav("bo"), caldav("cy")]))
        accounts.apply(store, first, clock=lambda: now, uniform=lambda low, high: next(offsets))
        due = {name: store.run_status(name).next_at for name in ("alex", "bo", "cy")}
        assert due == {
            "alex": now,
            "bo": now + timedelta(seconds=40),
            "cy": now + timedelta(seconds=119),
        }
        # an account already served keeps its pace; only the one added gets a first due time
        store.save_run_status(replace(store.run_status("alex"), next_at=now + timedelta(hours=1)))
        more = [caldav("alex"), caldav("bo"), caldav("cy"), caldav("dee")]
        later = load(write(tmp_path, postgres_state, more))
        accounts.apply(store, later, clock=lambda: now, uniform=lambda low, high: next(offsets))
        assert store.run_status("alex").next_at == now + timedelta(hours=1)
        assert store.run_status("dee").next_at == now + timedelta(seconds=60)
    finally:
        store.close()


def test_a_worker_sees_a_new_digest_when_its_account_or_the_shared_settings_change(
    tmp_path: Path, postgres_state: PostgresState
) -> None:
    store = PostgresStore(postgres_state)
    try:
        assert accounts.served(store, "alex") is None
        apply(write(tmp_path, postgres_state, [caldav("alex"), caldav("bo")]))
        first = accounts.served(store, "alex")
        assert first is not None and first.account.where == "account alex"
        assert first.account.options["password_file"] == "secret_alex"
        apply(write(tmp_path, postgres_state, [caldav("alex", username="al"), caldav("bo")]))
        second = accounts.served(store, "alex")
        assert second is not None and (second.digest, second.shared) != (first.digest, first.shared)
        assert second.shared == first.shared
        faster = {"interval_seconds": 30}
        apply(write(tmp_path, postgres_state, [caldav("alex", username="al")], service=faster))
        third = accounts.served(store, "alex")
        assert third is not None and third.digest == second.digest
        assert third.shared != second.shared
    finally:
        store.close()


def test_templates_are_stored_as_sources_and_a_broken_one_is_refused_before_any_worker_sees_it(
    tmp_path: Path, postgres_state: PostgresState
) -> None:
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "prep.txt.j2").write_text("PREP {{ m.title }}\n")
    path = write(tmp_path, postgres_state, [caldav("alex")], templates=str(folder))
    assert apply(path).exit_code == 0
    store = PostgresStore(postgres_state)
    try:
        shared = accounts.shared(store)
        assert shared is not None and dict(shared.templates) == {
            "prep.txt.j2": "PREP {{ m.title }}\n"
        }
        (folder / "prep.txt.j2").write_text("PREP {% if %}\n")
        refused = apply(path)
        assert refused.exit_code == 1
        assert refused.output.startswith(
            "callplan: templates (as applied to the cluster): template error:"
        )
        assert accounts.shared(store) == shared
    finally:
        store.close()


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            caldav("alex", password=PASSWORD),
            "callplan: config.toml: accounts[0].password: a secret never goes into the cluster's "
            "database: put it in a file only the workers can read and name it with password_file "
            "(a path, a systemd credential name or a $VARIABLE), which each worker reads for "
            "itself",
        ),
        (
            {**OUTLOOK, "client_secret": PASSWORD},
            "callplan: config.toml: accounts[0].client_secret: a secret never goes into the "
            "cluster's database: put it in a file only the workers can read and name it with "
            "client_secret_file (a path, a systemd credential name or a $VARIABLE), which each "
            "worker reads for itself",
        ),
        (
            {**GOOGLE, "refresh_token": PASSWORD},
            "callplan: config.toml: accounts[0].refresh_token: a secret never goes into the "
            "cluster's database: put it in a file only the workers can read and name it with a "
            "*_file key (a path, a systemd credential name or a $VARIABLE), which each worker "
            "reads for itself",
        ),
        (
            caldav("alex", url=f"https://alex:{PASSWORD}@dav.example/"),
            "callplan: config.toml: accounts[0].url: credentials do not belong in the URL: use "
            "username and password_file",
        ),
        (
            caldav("alex", colour="blue"),
            "callplan: config.toml: accounts[0].colour: unknown key",
        ),
    ],
)
def test_a_secret_in_the_file_or_a_key_its_connector_refuses_is_refused_and_nothing_written(
    tmp_path: Path, postgres_state: PostgresState, entry: dict[str, Any], message: str
) -> None:
    refused = apply(write(tmp_path, postgres_state, [entry]))
    assert (refused.exit_code, refused.output) == (1, message + "\n")
    assert dump(postgres_state) == ""


def test_the_database_holds_where_secrets_are_never_what_they_are(
    tmp_path: Path, postgres_state: PostgresState
) -> None:
    secret = tmp_path / "alex-password"
    secret.write_text(PASSWORD)
    secret.chmod(0o600)
    assert (
        apply(
            write(
                tmp_path,
                postgres_state,
                [caldav("alex", password_file=str(secret)), GOOGLE, OUTLOOK],
            )
        ).exit_code
        == 0
    )
    stored = dump(postgres_state)
    assert PASSWORD not in stored
    assert str(secret) in stored and "$CREDENTIALS_DIRECTORY/m365" in stored


def test_only_a_postgresql_state_holds_a_cluster(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        tomli_w.dumps({"state": str(tmp_path / "state.db"), "accounts": [caldav("alex")]})
    )
    refused = apply(path)
    assert (refused.exit_code, refused.output) == (
        1,
        "callplan: config.toml: state: a cluster keeps its accounts in PostgreSQL: set state = "
        '"postgresql://..."\n',
    )
