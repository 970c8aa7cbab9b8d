"""What one invocation of callplan works with: the config, the store, templates, connectors.

The CLI and the daemon both open a Session; it owns the resources and closes them. A cycle
run through `run` is recorded in the store's run status, which `callplan status` shows.
On a config reload the daemon opens a new Session on the same store and releases the
connectors of the old one as their cycles end.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from agent.config import settings as config_module
from agent.config.settings import Account, Config
from agent.core.errors import CallplanError, ConfigError
from agent.state.backend import open_store
from agent.state.store import RunStatus, Store
from agent.sync.engine import AccountReport, AccountSync
from agent.text.render import Renderer
from connectors.base import Connector

ConnectorFactory = Callable[[Account], Connector]


def default_factory(account: Account) -> Connector:
    """A connector for the account, its provider's."""
    from connectors import open_connector

    return open_connector(account)


class Session:
    def __init__(
        self,
        config: Config,
        store: Store | None = None,
        connect: ConnectorFactory = default_factory,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        renderer: Renderer | None = None,
    ) -> None:
        self.config = config
        self.renderer = renderer or Renderer(config.templates)
        self.store = store if store is not None else open_store(config)
        self.clock = clock
        self._connect = connect
        self._syncs: dict[str, AccountSync] = {}
        # each account by name, and its place in the configuration: a service running thousands
        # looks one up for every cycle
        self._accounts = {account.name: account for account in config.accounts}
        self._places = {name: place for place, name in enumerate(self._accounts)}
        self._syncs_lock = threading.Lock()  # the daemon's workers open syncers concurrently

    @classmethod
    def from_file(cls, path: Path | None) -> Session:
        return cls(config_module.load(path or config_module.default_config_path()))

    def reopen(self, config: Config) -> Session:
        """A session on a new configuration that shares this one's store, connectors factory and
        clock: a config reload keeps the state (and its lock) as it is."""
        return Session(config, self.store, self._connect, self.clock)

    def accounts(self, names: Iterable[str] = ()) -> list[Account]:
        wanted = set(names)
        unknown = wanted - {account.name for account in self.config.accounts}
        if unknown:
            raise ConfigError(
                f"no account named {', '.join(sorted(unknown))}", where=str(self.config.path)
            )
        return [account for account in self.config.accounts if not wanted or account.name in wanted]

    def account(self, name: str) -> Account | None:
        """The configured account of that name, if there is one."""
        return self._accounts.get(name)

    def in_order(self, names: Iterable[str]) -> list[str]:
        """Those of `names` that are configured accounts, in the configuration's order."""
        places = self._places
        return sorted((name for name in names if name in places), key=places.__getitem__)

    def sync_for(self, account: Account) -> AccountSync:
        """The account's syncer, created once; connector errors become the account's error."""
        with self._syncs_lock:
            if account.name not in self._syncs:
                self._syncs[account.name] = AccountSync(
                    account, self._connect(account), self.store, self.renderer, self.clock
                )
            return self._syncs[account.name]

    def _cycle(
        self, account: Account, dry_run: bool = False, stop: threading.Event | None = None
    ) -> AccountReport:
        try:
            return self.sync_for(account).cycle(dry_run=dry_run, stop=stop)
        except CallplanError as exc:
            return AccountReport(account.name, error=str(exc))

    def run(
        self,
        account: Account,
        stop: threading.Event | None = None,
        pace: Callable[[RunStatus, AccountReport], datetime | None] | None = None,
        previous: RunStatus | None = None,
        save: Callable[[RunStatus], None] | None = None,
    ) -> tuple[AccountReport, RunStatus]:
        """One cycle of one account, recorded: when it ran, what it did, what it left, what failed,
        and, given `pace`, when it runs next (saved with the rest, in the same write). `previous`
        is the run status the account's last cycle saved, when the caller kept it (the service
        does): then it is not read back. `save` takes the status instead of the store writing it
        at once: the service writes the statuses of a batch of cycles in one transaction.

        Consecutive failed cycles are counted (the daemon backs off on them); any other cycle resets
        the count, one in which some calendars failed and others did not included: its error, which
        names those calendars, is kept, and so is what the others did.
        """
        if previous is None:
            previous = self.store.run_status(account.name)
        started = self.clock()
        report = self._cycle(account, stop=stop)
        status = replace(
            previous,
            last_start=started,
            last_end=self.clock(),
            last_error=report.failure,
            changes=report.changes,
            requests=report.requests,
            backlog=report.backlog,
            failures=previous.failures + 1 if report.failed else 0,
            planning=report.planning,
        )
        if pace is not None:
            status = replace(status, next_at=pace(status, report))
        (save or self.store.save_run_status)(status)
        return report, status

    def cycle(self, names: Iterable[str] = (), dry_run: bool = False) -> list[AccountReport]:
        """One cycle over the accounts; a failing account is reported and the others go on."""
        return [self.cycle_account(account, dry_run) for account in self.accounts(names)]

    def cycle_account(self, account: Account, dry_run: bool = False) -> AccountReport:
        """One cycle of one account, recorded for `callplan status`; a dry run writes nothing
        anywhere."""
        return self._cycle(account, dry_run=True) if dry_run else self.run(account)[0]

    def open_accounts(self) -> list[str]:
        """The accounts whose syncer (and connector) is open."""
        with self._syncs_lock:
            return list(self._syncs)

    def release(self, name: str) -> None:
        """Close the account's connector and forget its syncer; the store stays open."""
        with self._syncs_lock:
            sync = self._syncs.pop(name, None)
        if sync is not None:
            sync.connector.close()

    def close(self) -> None:
        for name in self.open_accounts():
            self.release(name)
        self.store.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
