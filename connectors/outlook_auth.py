"""Signing in to Microsoft 365 with MSAL: the account options, tokens and their cache.

Two ways, as Entra ID offers them:
- **delegated** (one seller): a public client signs the seller in once with the device-code
  flow (`callplan auth outlook ACCOUNT`), asking only for `Calendars.ReadWrite` (MSAL adds
  `openid profile offline_access`, so a refresh token comes back); every later token is
  refreshed silently from the cache.
- **app** (an organisation serving many mailboxes): a confidential client gets app-only
  tokens with the client-credentials grant (`https://graph.microsoft.com/.default`, i.e. the
  `Calendars.ReadWrite` application permission an admin consented to), using a client secret
  file or a certificate; it reads `/users/{mailbox}/...`.

The MSAL `SerializableTokenCache` lives in a file with mode 0600 (agent.config.secrets), loaded once
and written back only when MSAL says it changed. Failures become one-line AuthErrors that say
what to run; token values never appear in messages.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from http.cookiejar import DefaultCookiePolicy
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import msal
import requests
from pydantic import Field, field_validator, model_validator

from agent.config.secrets import read_secret, read_text, secret_path, write_private
from agent.config.settings import Account, Model, default_state_path, options_parser
from agent.core.errors import AuthError, ConfigError
from connectors import shared
from connectors.endpoints import secure_url

GRAPH_URL = "https://graph.microsoft.com/v1.0"
AUTHORITY_HOST = "https://login.microsoftonline.com"
# Least privilege: read and write the signed-in user's own calendars, nothing else (no mail,
# no contacts, no other people's calendars). offline_access is added by MSAL.
DELEGATED_PERMISSION = "Calendars.ReadWrite"
MULTI_TENANT = ("common", "organizations", "consumers")
# MSAL takes an access token that expires within this many seconds for expired, and gets another
EXPIRY_MARGIN = 300


class OutlookOptions(Model):
    """The provider keys of an outlook account in config.toml."""

    client_id: str = Field(pattern=r"^[0-9a-fA-F-]{36}$")
    tenant: str = "organizations"
    mode: Literal["delegated", "app"] = "delegated"
    client_secret_file: str | None = None
    certificate_file: str | None = None  # PEM with the private key (and certificate)
    certificate_thumbprint: str | None = Field(default=None, pattern=r"^[0-9A-Fa-f]{40}$")
    token_cache_file: str | None = None
    mailbox: str | None = None  # app mode: whose calendars (default: the account's email)
    graph_url: str = GRAPH_URL
    authority_host: str = AUTHORITY_HOST
    page_size: int = Field(default=100, ge=1, le=1000)

    @field_validator("graph_url", "authority_host")
    @classmethod
    def _secure_url(cls, url: str) -> str:
        return secure_url(url)

    @model_validator(mode="after")
    def _credentials_fit_the_mode(self) -> OutlookOptions:
        if self.mode == "delegated":
            if self.client_secret_file or self.certificate_file:
                raise ValueError(
                    'client_secret_file and certificate_file are for mode = "app"; delegated '
                    "sign-in uses `callplan auth outlook`"
                )
            return self
        if self.tenant in MULTI_TENANT:
            raise ValueError(
                f'mode = "app" needs your tenant id or domain in tenant, not {self.tenant!r}'
            )
        if bool(self.client_secret_file) == bool(self.certificate_file):
            raise ValueError(
                'mode = "app" needs exactly one of client_secret_file and certificate_file'
            )
        if self.certificate_file and not self.certificate_thumbprint:
            raise ValueError(
                "certificate_file needs certificate_thumbprint (shown in the app registration)"
            )
        return self

    @property
    def resource(self) -> str:
        """The Graph resource the scopes name (differs in national clouds)."""
        parts = urlsplit(self.graph_url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def scopes(self) -> list[str]:
        if self.mode == "app":
            return [f"{self.resource}/.default"]
        return [f"{self.resource}/{DELEGATED_PERMISSION}"]


parse_options = options_parser(OutlookOptions)


def default_cache_file(account: Account) -> Path:
    """Next to the state database: writable under systemd's StateDirectory, unlike credentials."""
    return default_state_path().parent / f"outlook-{account.name}.tokens.json"


def identity_http() -> requests.Session:
    """The HTTP session through which every account's MSAL application reaches the identity
    platform: one per process (connectors.shared).

    Given none, MSAL builds a session of its own for each application, a pool of connections
    to the same login host for every seller, kept open between cycles. This one does what
    MSAL's would (one retry of a connection that failed) for all of them, and holds nothing of
    an account's: MSAL puts each request's credentials in the request itself, and the session
    accepts no cookies, so nothing of one seller's sign-in goes along with another's.
    """

    def build() -> requests.Session:
        session = requests.Session()
        session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        retry_once = requests.adapters.HTTPAdapter(max_retries=1)
        session.mount("http://", retry_once)
        session.mount("https://", retry_once)
        return session

    return shared.once("identity platform session", build)


class GraphTokens:
    """Access tokens for one account, from MSAL, with the cache kept in a private file."""

    def __init__(self, account: Account, options: OutlookOptions, http_client: Any = None) -> None:
        self.account = account
        self.options = options
        self.where = account.where
        self.cache_file = (
            secret_path(options.token_cache_file)
            if options.token_cache_file
            else default_cache_file(account)
        )
        self.cache = msal.SerializableTokenCache()
        if self.cache_file.exists():
            text = read_text(self.cache_file, f"{self.where}.token_cache_file")
            try:
                self.cache.deserialize(text)
            except ValueError:
                raise ConfigError(
                    f"{self.cache_file} is not an MSAL token cache; delete it and run `callplan "
                    f"auth outlook {account.name}`",
                    where=f"{self.where}.token_cache_file",
                ) from None
        self._http_client = http_client or identity_http()  # a test's seam, else the shared one
        self._app: msal.ClientApplication | None = None
        self._signed_in: dict[str, Any] | None = None
        # the last token MSAL handed out, and the time (time.time()) it would hand out another
        self._kept: tuple[str, float] | None = None

    @property
    def authority(self) -> str:
        return f"{self.options.authority_host}/{self.options.tenant}"

    def _application(self) -> msal.ClientApplication:
        """Built on first use: MSAL reads the tenant's openid-configuration when it is created."""
        if self._app is None:
            common: dict[str, Any] = {
                "authority": self.authority,
                "token_cache": self.cache,
                "instance_discovery": False,
                "http_client": self._http_client,
            }
            try:
                if self.options.mode == "app":
                    self._app = msal.ConfidentialClientApplication(
                        self.options.client_id, client_credential=self._credential(), **common
                    )
                else:
                    self._app = msal.PublicClientApplication(self.options.client_id, **common)
            except ValueError as exc:  # MSAL's word for an unknown tenant or unreachable authority
                raise AuthError(
                    f"cannot use the authority {self.authority}: {_first_line(str(exc))}",
                    where=self.where,
                ) from None
        return self._app

    def _credential(self) -> str | dict[str, str]:
        if self.options.client_secret_file:
            return read_secret(self.options.client_secret_file, f"{self.where}.client_secret_file")
        assert self.options.certificate_file and self.options.certificate_thumbprint
        return {
            "private_key": read_text(
                self.options.certificate_file, f"{self.where}.certificate_file"
            ),
            "thumbprint": self.options.certificate_thumbprint,
        }

    def _save(self) -> None:
        if self.cache.has_state_changed:
            write_private(self.cache_file, self.cache.serialize(), f"{self.where}.token_cache_file")
            self.cache.has_state_changed = False

    def _account(self) -> dict[str, Any] | None:
        """The signed-in person in the cache, found once: the cache was read when this was made,
        and a refresh changes its tokens, not who signed in. MSAL's own search, which also
        looks for a cloud shell in the environment, would run at every request."""
        if self._signed_in is None:
            accounts: list[dict[str, Any]] = self._application().get_accounts()
            email = self.account.email.lower()
            mine = [a for a in accounts if str(a.get("username", "")).lower() == email]
            self._signed_in = (mine or accounts)[0] if accounts else None
        return self._signed_in

    def __call__(self, force_refresh: bool = False) -> str:
        """A valid access token: from the cache, refreshed silently when it expired.

        The token MSAL last handed out is kept until MSAL would hand out another (see
        `_good_until`): looking it up in MSAL's cache at every request is a good part of a quiet
        cycle's CPU. A forced refresh, after Graph refused a token, always goes to MSAL."""
        now = time.time()
        if not force_refresh and self._kept is not None and now < self._kept[1]:
            return self._kept[0]
        app = self._application()
        if self.options.mode == "app":
            assert isinstance(app, msal.ConfidentialClientApplication)
            result = app.acquire_token_for_client(self.options.scopes)
        else:
            account = self._account()
            if account is None:
                raise self._sign_in_needed("not signed in yet")
            result = app.acquire_token_silent_with_error(
                self.options.scopes, account, force_refresh=force_refresh
            )
        self._save()
        if not result or "access_token" not in result:
            raise self._failure(result)
        token = str(result["access_token"])
        self._kept = (token, _good_until(result, now))
        return token

    def _sign_in_needed(self, reason: str) -> AuthError:
        return AuthError(
            f"Outlook sign-in {reason}; run `callplan auth outlook {self.account.name}`",
            where=self.where,
        )

    def _failure(self, result: dict[str, Any] | None) -> AuthError:
        if not result:
            return self._sign_in_needed("expired (no token in the cache)")
        reason = _first_line(
            str(result.get("error_description") or result.get("error") or "unknown error")
        )
        if self.options.mode == "app":
            return AuthError(
                f"app-only sign-in for client {self.options.client_id} failed ({reason}); check "
                "the client secret or certificate and that an admin granted the "
                "Calendars.ReadWrite application permission",
                where=self.where,
            )
        if result.get("suberror") == "consent_required" or "AADSTS65001" in reason:
            return self._sign_in_needed(f"lacks consent ({reason})")
        return self._sign_in_needed(f"was refused ({reason})")

    def sign_in(self, show: Callable[[str], None]) -> str:
        """Device-code flow (delegated) or a client-credentials check (app); returns who is signed
        in."""
        app = self._application()
        if self.options.mode == "app":
            self()
            return f"app-only access for {self.options.mailbox or self.account.email}"
        assert isinstance(app, msal.PublicClientApplication)
        flow = app.initiate_device_flow(scopes=self.options.scopes)
        if "user_code" not in flow:
            raise self._failure(flow)
        show(str(flow["message"]))
        result = app.acquire_token_by_device_flow(flow)
        self._save()
        if "access_token" not in result:
            raise self._failure(result)
        username = str((result.get("id_token_claims") or {}).get("preferred_username", ""))
        if username and username.lower() != self.account.email.lower():
            show(f"note: signed in as {username}, but the account's email is {self.account.email}")
        return username or self.account.email


def _good_until(result: dict[str, Any], now: float) -> float:
    """Until when MSAL, asked at `now`, would answer with the token of `result`: while it is
    more than EXPIRY_MARGIN from expiring, and, when the identity platform asked for an early
    refresh (MSAL's `refresh_on`), until then."""
    until = now + float(result.get("expires_in", 0)) - EXPIRY_MARGIN
    if "refresh_on" in result:
        until = min(until, float(result["refresh_on"]))
    return until


def sign_in(account: Account, show: Callable[[str], None], http_client: Any = None) -> str:
    """`callplan auth outlook ACCOUNT`: sign in and say who and where the tokens went."""
    if account.provider != "outlook":
        raise ConfigError(
            f"account {account.name!r} is a {account.provider} account, not outlook",
            where=f"{account.where}.provider",
        )
    tokens = GraphTokens(account, parse_options(account), http_client=http_client)
    who = tokens.sign_in(show)
    return f"{account.name}: signed in ({who}); {describe_cache(tokens)}"


def _first_line(text: str) -> str:
    """Entra error descriptions carry trace and correlation ids on later lines."""
    line = text.strip().splitlines()[0] if text.strip() else text
    return line[:300]


def describe_cache(tokens: GraphTokens) -> str:
    """For `auth`: where the cache is, without its content."""
    size = len(json.loads(tokens.cache.serialize() or "{}").get("RefreshToken", {}))
    plural = "s" if size != 1 else ""
    return f"token cache {tokens.cache_file} (mode 0600, {size} refresh token{plural})"
