"""Connectors: one thin adapter per provider, behind `connectors.base.Connector`."""

from __future__ import annotations

from agent.config.settings import Account
from agent.core.errors import ConfigError
from connectors.base import Connector


def open_connector(account: Account) -> Connector:
    """The connector for an account's provider, with its options validated (no network yet)."""
    if account.provider == "caldav":
        from connectors.caldav import CaldavConnector

        return CaldavConnector.from_account(account)
    if account.provider == "outlook":
        from connectors.outlook import OutlookConnector

        return OutlookConnector.from_account(account)
    if account.provider == "google":
        from connectors.google import GoogleConnector

        return GoogleConnector.from_account(account)
    raise ConfigError(
        f"the {account.provider} connector is not available in this version",
        where=f"{account.where}.provider",
    )
