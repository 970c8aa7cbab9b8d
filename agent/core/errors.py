"""One exception hierarchy for the whole agent.

Every error says what went wrong and where ("config.toml: accounts[1].internal_domains:
expected a list of strings"), so it can be printed as one line. Connectors turn provider
failures into the classes below; the engine and the daemon decide by class alone whether
to retry, back off, re-plan or stop one account while the others go on.
"""

from __future__ import annotations


class CallplanError(Exception):
    """Base class: a failure the agent understands and can report in one line."""

    def __init__(self, message: str, *, where: str = "") -> None:
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class ConfigError(CallplanError):
    """The configuration file is missing, unreadable or invalid."""


class StateError(CallplanError):
    """The state database cannot be opened, is corrupt, or cannot be written (disk full)."""


class ConnectorError(CallplanError):
    """A provider failure; subclasses say which kind."""


class AuthError(ConnectorError):
    """Credentials are missing, expired or revoked; a person has to act (the message says how)."""


class ThrottledError(ConnectorError):
    """The provider asked us to slow down and retries ran out; try again after `retry_after`."""

    def __init__(self, message: str, *, where: str = "", retry_after: float | None = None) -> None:
        super().__init__(message, where=where)
        self.retry_after = retry_after


class TransientError(ConnectorError):
    """The provider or the network failed in a way that may pass (5xx, timeout, reset)."""


class ConflictError(ConnectorError):
    """The event changed since we read it (etag mismatch): re-read and re-plan, never overwrite."""


class GoneError(ConnectorError):
    """The event no longer exists on the provider (a person deleted it)."""


class SyncExpiredError(ConnectorError):
    """The incremental-sync cursor is no longer valid; a full read is needed."""


class BadDataError(ConnectorError):
    """The provider returned something we cannot understand; the item is skipped, not fatal."""
