"""Google credentials: the OAuth installed-app flow, stored user tokens, and Workspace delegation.

A seller authorises callplan once with `callplan auth google ACCOUNT` (the installed-app flow
of google-auth-oauthlib on a loopback port); the token is kept in a file only its owner can
read, refreshed silently, and rewritten atomically whenever it changes. A Google Workspace
domain can instead give a service account domain-wide delegation: callplan then signs in as
each configured seller with the service account's key, and no person has to click anything.

Scopes are the narrowest that do the job:
- `calendar.events`: read the meetings and write the blocks and agendas (always needed);
- `calendar.calendarlist.readonly`: list the seller's calendars, so `calendars = []` finds the
  primary one and `config check --connect` can show the ids to paste (no event data);
- `calendar.events.freebusy`: only for accounts with `busy_calendars`: one free/busy query for
  all of them, which also works for calendars shared as "free/busy only" and reveals no details.
"""

from __future__ import annotations

import json
import logging
import os
import webbrowser
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal

import google.auth.exceptions
from google.auth.credentials import Credentials as BaseCredentials
from google.oauth2 import credentials as user_credentials
from google.oauth2 import service_account
from google_auth_oauthlib.flow import InstalledAppFlow
from oauthlib.oauth2.rfc6749.errors import OAuth2Error
from pydantic import field_validator, model_validator

from agent.config.secrets import read_text, secret_path, write_private
from agent.config.settings import Account, Model, options_parser
from agent.core.errors import AuthError, ConfigError
from connectors.endpoints import secure_url

log = logging.getLogger(__name__)

EVENTS = "https://www.googleapis.com/auth/calendar.events"
CALENDAR_LIST = "https://www.googleapis.com/auth/calendar.calendarlist.readonly"
FREEBUSY = "https://www.googleapis.com/auth/calendar.events.freebusy"


class GoogleOptions(Model):
    """The provider keys of a google account in config.toml."""

    token_file: str | None = None  # the seller's OAuth token, written by `callplan auth google`
    client_secrets_file: str | None = (
        None  # the OAuth client ("Desktop app") downloaded from Google Cloud
    )
    service_account_file: str | None = None  # Workspace: a key with domain-wide delegation
    send_updates: Literal["all", "externalOnly"] = "all"  # who hears of an agenda change
    # a gateway or proxy in front of Google (none by default): the Calendar API's base URL
    # (ending in /calendar/v3/) and the OAuth token endpoint that refreshes user tokens
    api_endpoint: str | None = None
    token_uri: str | None = None

    @field_validator("api_endpoint")
    @classmethod
    def _api_base(cls, url: str | None) -> str | None:
        if url is None:
            return None
        url = secure_url(url)
        if not url.endswith("/calendar/v3"):
            raise ValueError("expected the Calendar API's base URL, ending in /calendar/v3/")
        return url + "/"

    @field_validator("token_uri")
    @classmethod
    def _token_endpoint(cls, url: str | None) -> str | None:
        return None if url is None else secure_url(url)

    @model_validator(mode="after")
    def _one_way_in(self) -> GoogleOptions:
        if bool(self.token_file) == bool(self.service_account_file):
            raise ValueError(
                "give either token_file (OAuth, with client_secrets_file) or service_account_file "
                "(Workspace)"
            )
        if self.client_secrets_file and not self.token_file:
            raise ValueError("client_secrets_file goes with token_file")
        return self


parse_options = options_parser(GoogleOptions)


def scopes_for(account: Account) -> list[str]:
    """The scopes an account needs (see the module docstring for why each)."""
    wanted = [EVENTS, CALENDAR_LIST]
    if account.busy_calendars:
        wanted.append(FREEBUSY)
    return wanted


def reauthorize(account: Account) -> str:
    """What to tell a person whose Google access broke."""
    return f"run: callplan auth google {account.name}"


class TokenStore:
    """The seller's OAuth token file: read once, rewritten atomically (mode 0600) when it changes.

    Only a file that parses is accepted; its content never appears in a message.
    """

    def __init__(self, path: str, where: str) -> None:
        self.path = path
        self.where = where
        self._saved: str | None = None

    def load(
        self, account: Account, scopes: list[str], token_uri: str | None = None
    ) -> user_credentials.Credentials:
        """The stored credentials. google-auth always refreshes them at Google's token endpoint,
        whatever the file says; `token_uri` (the account's option) replaces it."""
        if not secret_path(self.path).exists():
            raise AuthError(
                f"no Google token yet at {secret_path(self.path)}; {reauthorize(account)}",
                where=self.where,
            )
        text = read_text(self.path, self.where)
        try:
            info = json.loads(text)
            granted = set(info.get("scopes") or scopes)
            credentials: user_credentials.Credentials = (
                user_credentials.Credentials.from_authorized_user_info(info, scopes)
            )
        except (ValueError, TypeError, AttributeError):
            raise ConfigError(
                f"{secret_path(self.path)} is not a Google token file; {reauthorize(account)}",
                where=self.where,
            ) from None
        missing = [scope for scope in scopes if scope not in granted]
        if missing:
            raise AuthError(
                f"the Google token lacks the scope {', '.join(missing)}; {reauthorize(account)}",
                where=self.where,
            )
        self._saved = credentials.token
        if token_uri:
            moved: user_credentials.Credentials = credentials.with_token_uri(token_uri)
            return moved
        return credentials

    def save(
        self, credentials: user_credentials.Credentials, granted: list[str] | None = None
    ) -> None:
        """Write the token file (after a refresh or a new authorisation), keeping the granted
        scopes."""
        info = json.loads(credentials.to_json())
        if granted is not None:
            info["scopes"] = sorted(granted)
        write_private(self.path, json.dumps(info, indent=1) + "\n", self.where)
        self._saved = credentials.token

    def save_if_refreshed(self, credentials: user_credentials.Credentials) -> None:
        """Persist a silently refreshed access token; a read-only file is only worth a warning
        (the refresh token in it still works, the next start just refreshes again)."""
        if credentials.token == self._saved:
            return
        try:
            self.save(credentials)
        except ConfigError as exc:
            self._saved = credentials.token
            log.warning("could not save the refreshed Google token: %s", exc)


def load_credentials(
    account: Account, options: GoogleOptions, token_uri: str | None = None
) -> tuple[BaseCredentials, TokenStore | None]:
    """The account's credentials, and the token store to keep up to date (None for a service
    account).

    A service account's key names its token endpoint itself; `token_uri` (default: the
    account's option) is for user tokens.
    """
    scopes = scopes_for(account)
    if options.service_account_file:
        where = f"{account.where}.service_account_file"
        try:
            info = json.loads(read_text(options.service_account_file, where))
            credentials = service_account.Credentials.from_service_account_info(
                info, scopes=scopes, subject=account.email
            )
        except (ValueError, KeyError, TypeError):
            raise ConfigError(
                "not a Google service account key (JSON, type service_account)", where=where
            ) from None
        return credentials, None
    assert options.token_file is not None, "validated: token_file or service_account_file"
    store = TokenStore(options.token_file, f"{account.where}.token_file")
    return store.load(account, scopes, token_uri or options.token_uri), store


def refresh_failure(
    exc: google.auth.exceptions.GoogleAuthError, account: Account, service: bool
) -> AuthError:
    """A one-line AuthError for a token that cannot be refreshed, saying what to do.

    Only the OAuth error code is quoted: the token endpoint's full answer stays out of messages.
    """
    details = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], dict) else {}
    code = details.get("error") or type(exc).__name__
    if service:
        return AuthError(
            f"Google refused the service account ({code}); check that the domain-wide delegation "
            "in the Admin "
            f"console grants its client id the scopes {', '.join(scopes_for(account))} and that "
            f"{account.email} exists",
            where=account.where,
        )
    if code == "invalid_grant":
        return AuthError(
            f"the Google authorisation was revoked or has expired; {reauthorize(account)}",
            where=account.where,
        )
    return AuthError(
        f"Google refused to refresh the access token ({code}); {reauthorize(account)}",
        where=account.where,
    )


@contextmanager
def _relaxed_scope_check() -> Iterator[None]:
    """Let oauthlib accept a token with fewer scopes than asked (Google's consent screen lets a
    person untick boxes), so that we can say which one is missing instead of failing obscurely."""
    before = os.environ.get("OAUTHLIB_RELAX_TOKEN_SCOPE")
    os.environ["OAUTHLIB_RELAX_TOKEN_SCOPE"] = "1"
    try:
        yield
    finally:
        if before is None:
            del os.environ["OAUTHLIB_RELAX_TOKEN_SCOPE"]
        else:
            os.environ["OAUTHLIB_RELAX_TOKEN_SCOPE"] = before


def authorize(
    account: Account,
    *,
    port: int = 0,
    open_browser: bool = True,
    browser: str | None = None,
    say: Callable[[str], None] = print,
) -> str:
    """Run the OAuth installed-app flow for an account and save its token; returns the token path.

    The consent page redirects to a one-shot server on 127.0.0.1 (`port`, 0 for any free one).
    On a machine without a browser, pass a fixed port, forward it (`ssh -L PORT:127.0.0.1:PORT
    host`) and open the printed address on your own computer.
    """
    if account.provider != "google":
        raise ConfigError(
            f"account {account.name} is a {account.provider} account, not a google one",
            where=account.where,
        )
    options = parse_options(account)
    if not (options.client_secrets_file and options.token_file):
        raise ConfigError(
            "callplan auth google needs client_secrets_file and token_file (a service account "
            "needs no authorisation)",
            where=account.where,
        )
    where = f"{account.where}.client_secrets_file"
    try:
        config: dict[str, Any] = json.loads(read_text(options.client_secrets_file, where))
        scopes = scopes_for(account)
        flow = InstalledAppFlow.from_client_config(config, scopes=scopes)
    except ValueError as exc:
        raise ConfigError(
            f"not an OAuth client file for a Desktop app ({exc})", where=where
        ) from None
    try:
        with _relaxed_scope_check():
            credentials = flow.run_local_server(
                host="127.0.0.1",
                port=port,
                open_browser=open_browser,
                browser=browser,
                authorization_prompt_message=(
                    f"Open this address to let callplan use the calendar of {account.email}:\n"
                    f"{{url}}"
                ),
                success_message="callplan is authorised. You can close this window.",
                access_type="offline",  # a refresh token, so the agent keeps working
                prompt="consent",  # and a new one even if this client was authorised before
                login_hint=account.email,
            )
    except webbrowser.Error as exc:
        raise ConfigError(
            f"cannot open a browser ({exc}); run with --no-browser", where=account.where
        ) from None
    except (
        OAuth2Error,
        Warning,
        google.auth.exceptions.GoogleAuthError,
        OSError,
        ValueError,
    ) as exc:
        # oauthlib's messages hold no secrets
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise AuthError(
            f"the authorisation did not complete: {reason}", where=account.where
        ) from None
    granted = list(credentials.granted_scopes or scopes)
    missing = [scope for scope in scopes if scope not in granted]
    if missing:
        raise AuthError(
            f"the consent screen did not grant {', '.join(missing)}; run it again and allow every "
            "item",
            where=account.where,
        )
    if not credentials.refresh_token:
        raise AuthError(
            "Google returned no refresh token; remove callplan's access at myaccount.google.com "
            "and try again",
            where=account.where,
        )
    store = TokenStore(options.token_file, f"{account.where}.token_file")
    store.save(credentials, granted)
    path = str(secret_path(options.token_file))
    say(f"Authorised {account.email}; token saved to {path} (mode 0600).")
    return path
