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
    raise _unavailable(account)


def check_options(account: Account) -> None:
    """Validate an account's provider keys as its connector would, reading no secret and
    connecting nowhere: for a machine that configures accounts it will not serve itself."""
    if account.provider == "caldav":
        from connectors import caldav

        caldav.parse_options(account)
    elif account.provider == "outlook":
        from connectors import outlook_auth

        outlook_auth.parse_options(account)
    elif account.provider == "google":
        from connectors import google_auth

        google_auth.parse_options(account)
    else:
        raise _unavailable(account)


def secret_files() -> frozenset[str]:
    """The provider keys that name a file holding a secret (password_file, token_file...)."""
    from connectors.caldav import CaldavOptions
    from connectors.google_auth import GoogleOptions
    from connectors.outlook_auth import OutlookOptions

    return frozenset(
        key
        for options in (CaldavOptions, GoogleOptions, OutlookOptions)
        for key in options.model_fields
        if key.endswith("_file")
    )


def _unavailable(account: Account) -> ConfigError:
    return ConfigError(
        f"the {account.provider} connector is not available in this version",
        where=f"{account.where}.provider",
    )
