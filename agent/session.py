"""What one invocation of callplan works with: the config, the store, templates, connectors.

The CLI and the daemon both open a Session; it owns the resources and closes them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from agent import config as config_module
from agent.config import Account, Config
from agent.engine import AccountReport, AccountSync
from agent.errors import CallplanError, ConfigError
from agent.render import Renderer
from agent.store import SqliteStore, Store
from connectors.base import Connector

ConnectorFactory = Callable[[Account], Connector]


def _default_factory(account: Account) -> Connector:
    from connectors import open_connector

    return open_connector(account)


class Session:
    def __init__(
        self,
        config: Config,
        store: Store | None = None,
        connect: ConnectorFactory = _default_factory,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.config = config
        self.renderer = Renderer(config.templates)
        self.store = store if store is not None else SqliteStore(config.state)
        self.clock = clock
        self._connect = connect
        self._syncs: dict[str, AccountSync] = {}

    @classmethod
    def from_file(cls, path: Path | None) -> Session:
        return cls(config_module.load(path or config_module.default_config_path()))

    def accounts(self, names: Iterable[str] = ()) -> list[Account]:
        wanted = set(names)
        unknown = wanted - {account.name for account in self.config.accounts}
        if unknown:
            raise ConfigError(f"no account named {', '.join(sorted(unknown))}", where=str(self.config.path))
        return [account for account in self.config.accounts if not wanted or account.name in wanted]

    def sync_for(self, account: Account) -> AccountSync:
        """The account's syncer, created once; connector errors become the account's error."""
        if account.name not in self._syncs:
            self._syncs[account.name] = AccountSync(account, self._connect(account), self.store, self.renderer, self.clock)
        return self._syncs[account.name]

    def cycle(self, names: Iterable[str] = (), dry_run: bool = False) -> list[AccountReport]:
        """One cycle over the accounts; a failing account is reported and the others go on."""
        return [self.cycle_account(account, dry_run) for account in self.accounts(names)]

    def cycle_account(self, account: Account, dry_run: bool = False) -> AccountReport:
        """One cycle of one account, its outcome recorded for `callplan status` (unless a dry run)."""
        started = self.clock()
        try:
            report = self.sync_for(account).cycle(dry_run=dry_run)
        except CallplanError as exc:
            report = AccountReport(account.name, error=str(exc))
        if not dry_run:
            self._record_status(account, started, report)
        return report

    def _record_status(self, account: Account, started: datetime, report: AccountReport) -> None:
        previous = self.store.run_status(account.name)
        error = report.error or next((c.error for c in report.calendars if c.error), "")
        self.store.save_run_status(
            replace(
                previous,
                last_start=started,
                last_end=self.clock(),
                last_error=error,
                changes=report.changes,
                requests=report.requests,
                failures=previous.failures + 1 if error else 0,
            )
        )

    def close(self) -> None:
        for sync in self._syncs.values():
            sync.connector.close()
        self.store.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
