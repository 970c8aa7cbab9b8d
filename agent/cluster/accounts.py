"""The cluster's accounts and shared settings, kept in PostgreSQL by `callplan accounts apply`.

Every worker must plan the same way, so everything a plan depends on besides the calendars
lives in the database: each account as its configuration validated it (settings, rules,
provider options), the pace of `[service]` (interval, jitter, backoff), the `[cluster]` timing
and the template sources. `accounts apply` makes the database hold what one configuration file
says, declaratively: accounts the file has are added or changed, those it lacks are removed,
and running it again changes nothing. Workers read it as they go, so adding a seller is one
command and no restart.

Secrets never go into the database. An account's provider options name their secrets (a file,
a systemd credential name, a $VARIABLE in a path), and each worker reads them on its own
machine; an option that holds a secret itself is refused.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from agent.config import settings as config_module
from agent.config.settings import Account, ClusterSettings, Config, PostgresState, ServiceSettings
from agent.core.errors import ConfigError
from agent.state.postgres import APPLY_LOCK, PostgresStore
from agent.state.sql import Statements, stamp, upsert
from agent.text.render import Renderer, template_sources
from connectors import check_options, secret_files

# what a secret written into the file itself tends to be called, besides a *_file key without
# its suffix (password for password_file)
INLINE_SECRETS = frozenset(
    {"secret", "api_key", "private_key", "access_token", "refresh_token", "passphrase"}
)
PUT_ACCOUNT = upsert("accounts", ("name", "account", "digest", "applied_at"), ("name",))
PUT_SHARED = upsert(
    "cluster_settings", ("id", "service", "cluster", "templates", "digest", "applied_at"), ("id",)
)


def _canonical(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def account_json(account: Account) -> str:
    """An account as the database keeps it: canonical JSON, without where it was read from."""
    return _canonical(account.model_dump(mode="json", exclude={"where"}))


def load_account(text: str) -> Account:
    """An account from the database; its messages name it as `account NAME`."""
    data = json.loads(text)
    return Account.model_validate({**data, "where": f"account {data['name']}"})


@dataclass(frozen=True)
class Shared:
    """What every worker serves with besides the accounts."""

    service: ServiceSettings
    cluster: ClusterSettings
    templates: Mapping[str, str]  # overriding template sources by name; empty: those that ship

    def parts(self) -> dict[str, str]:
        """Each part as the database keeps it, by column."""
        return {
            "service": _canonical(self.service.model_dump(mode="json")),
            "cluster": _canonical(self.cluster.model_dump(mode="json")),
            "templates": _canonical(dict(self.templates)),
        }

    @property
    def digest(self) -> str:
        return _digest(_canonical(self.parts()))

    def renderer(self) -> Renderer:
        return Renderer(self.templates or None)


# what a cluster serves with before its first `accounts apply`
UNAPPLIED = Shared(ServiceSettings(), ClusterSettings(), {})

PART_NAMES = {"service": "the pace ([service])", "cluster": "[cluster]", "templates": "templates"}


def desired(config: Config) -> tuple[dict[str, str], Shared]:
    """What the database should hold for this configuration: each account's JSON by name, and the
    shared settings; ConfigError (naming the key) for an inline secret, a provider key its
    connector refuses, or a template that does not compile."""
    files = secret_files()
    accounts = {}
    for account in config.accounts:
        for key in account.options:
            if not key.endswith("_file") and (f"{key}_file" in files or key in INLINE_SECRETS):
                instead = f"{key}_file" if f"{key}_file" in files else "a *_file key"
                raise ConfigError(
                    "a secret never goes into the cluster's database: put it in a file only the "
                    f"workers can read and name it with {instead} (a path, a systemd credential "
                    "name or a $VARIABLE), which each worker reads for itself",
                    where=f"{account.where}.{key}",
                )
        check_options(account)
        accounts[account.name] = account_json(account)
    templates = template_sources(config.templates) if config.templates else {}
    shared = Shared(config.service, config.cluster, templates)
    shared.renderer()  # a template that does not compile is refused here, not on every worker
    return accounts, shared


@dataclass
class Applied:
    """What `accounts apply` changed (or, in a dry run, would change)."""

    where: str
    added: list[str] = field(default_factory=list)
    changed: dict[str, list[str]] = field(default_factory=dict)  # name -> the keys that changed
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    shared: list[str] = field(default_factory=list)  # the shared parts that changed
    dry_run: bool = False

    def lines(self) -> list[str]:
        lines = []
        if self.added:
            lines.append(f"added: {', '.join(self.added)}")
        for name, keys in self.changed.items():
            lines.append(f"changed: {name} ({', '.join(keys)})")
        if self.removed:
            lines.append(f"removed: {', '.join(self.removed)}")
        if self.shared:
            lines.append(f"changed: {', '.join(PART_NAMES[part] for part in self.shared)}")
        counts = (
            f"{len(self.added)} added, {len(self.changed)} changed, {len(self.removed)} removed, "
            f"{self.unchanged} unchanged"
        )
        if not (self.added or self.changed or self.removed or self.shared):
            counts = f"nothing to change ({self.unchanged} accounts)"
        note = " (dry run: nothing written)" if self.dry_run else ""
        return [*lines, f"{self.where}: {counts}{note}"]


def _changed_keys(before: str, after: str) -> list[str]:
    """Which keys of an account differ: its own, its settings' and its provider options'."""
    old, new = json.loads(before), json.loads(after)
    keys = []
    for key in sorted(old.keys() | new.keys()):
        if old.get(key) == new.get(key):
            continue
        if key in ("settings", "options"):
            inner_old, inner_new = old.get(key) or {}, new.get(key) or {}
            keys += [
                inner
                for inner in sorted(inner_old.keys() | inner_new.keys())
                if inner_old.get(inner) != inner_new.get(inner)
            ]
        else:
            keys.append(key)
    return keys


def apply(
    store: PostgresStore,
    config: Config,
    *,
    dry_run: bool = False,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    uniform: Callable[[float, float], float] = random.uniform,
) -> Applied:
    """Make the database hold the configuration's accounts and shared settings, in one transaction
    (applies by several people at once take turns). The first cycles of the accounts added are
    spread over an interval, so that adding many at once does not send them all at once."""
    accounts, shared = desired(config)
    applied = Applied(store.where, dry_run=dry_run)
    now = stamp(clock())
    with store.writing("apply the accounts") as sql:
        sql.run("SELECT pg_advisory_xact_lock(?, ?)", APPLY_LOCK)
        held = {
            row["name"]: row["account"] for row in sql.rows("SELECT name, account FROM accounts")
        }
        applied.added = sorted(accounts.keys() - held.keys())
        applied.removed = sorted(held.keys() - accounts.keys())
        applied.changed = {
            name: _changed_keys(held[name], accounts[name])
            for name in sorted(accounts.keys() & held.keys())
            if held[name] != accounts[name]
        }
        applied.unchanged = len(accounts) - len(applied.added) - len(applied.changed)
        applied.shared = _shared_changes(sql, shared)
        if dry_run:
            return applied
        sql.run_many("DELETE FROM accounts WHERE name = ?", [[name] for name in applied.removed])
        sql.run_many(
            PUT_ACCOUNT,
            [
                [name, accounts[name], _digest(accounts[name]), now]
                for name in (*applied.added, *applied.changed)
            ],
        )
        interval = config.service.interval_seconds
        sql.run_many(
            "INSERT INTO runs (account, next_at) VALUES (?, ?) ON CONFLICT (account) DO NOTHING",
            [
                [name, stamp(clock() + timedelta(seconds=uniform(0, interval)))]
                for name in applied.added
            ],
        )
        if applied.shared:
            parts = shared.parts()
            sql.run(
                PUT_SHARED,
                [True, parts["service"], parts["cluster"], parts["templates"], shared.digest, now],
            )
    return applied


def _shared_changes(sql: Statements, shared: Shared) -> list[str]:
    rows = sql.rows("SELECT service, cluster, templates FROM cluster_settings")
    parts = shared.parts()
    if not rows:
        return list(parts)
    return [part for part, text in parts.items() if rows[0][part] != text]


def apply_file(path: Path, *, dry_run: bool = False) -> Applied:
    """`callplan accounts apply FILE`: the file's `state` names the cluster's database."""
    config = config_module.load(path)
    if not isinstance(config.state, PostgresState):
        raise ConfigError(
            'a cluster keeps its accounts in PostgreSQL: set state = "postgresql://..."',
            where=f"{path.name}: state",
        )
    store = PostgresStore(config.state, pool_size=1)
    try:
        return apply(store, config, dry_run=dry_run)
    finally:
        store.close()


# -- what workers and status read ------------------------------------------------------------


@dataclass(frozen=True)
class Served:
    """One account as a worker serves it, with the digests that tell when to renew what it keeps."""

    account: Account
    digest: str  # of the account: a changed one gets a new connector
    shared: str  # of the shared settings: changed ones get a new renderer and pace


def served(store: PostgresStore, name: str) -> Served | None:
    """The account (None when it was removed), in one query."""
    with store.reading("read the account") as sql:
        rows = sql.rows(
            "SELECT a.account, a.digest, c.digest AS shared FROM accounts a CROSS JOIN "
            "cluster_settings c WHERE a.name = ?",
            [name],
        )
        if not rows:
            return None
        return Served(load_account(rows[0]["account"]), rows[0]["digest"], rows[0]["shared"])


def shared(store: PostgresStore) -> Shared | None:
    """The shared settings, or None before the first `accounts apply`."""
    with store.reading("read the cluster's settings") as sql:
        rows = sql.rows("SELECT service, cluster, templates FROM cluster_settings")
        if not rows:
            return None
        return Shared(
            ServiceSettings.model_validate_json(rows[0]["service"]),
            ClusterSettings.model_validate_json(rows[0]["cluster"]),
            json.loads(rows[0]["templates"]),
        )


def roster(store: PostgresStore) -> dict[str, str]:
    """Every account's digest, by name."""
    with store.reading("read the accounts") as sql:
        return {row["name"]: row["digest"] for row in sql.rows("SELECT name, digest FROM accounts")}


def listed(store: PostgresStore) -> list[Account]:
    """Every account, by name."""
    with store.reading("read the accounts") as sql:
        rows = sql.rows("SELECT account FROM accounts ORDER BY name")
        return [load_account(row["account"]) for row in rows]
