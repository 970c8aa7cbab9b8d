"""Google credentials end to end against the fake's OAuth endpoints: the installed-app flow,
stored tokens and their silent refresh, revocation, and Workspace domain-wide delegation."""

from __future__ import annotations

import json
import threading
import webbrowser
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from agent.cli.main import main
from agent.config.settings import Account, parse
from agent.core.errors import AuthError, ConfigError
from connectors import google_auth, open_connector
from connectors.google import GoogleConnector
from tests.providers.test_google_connector import WINDOW
from tests.support.fakes.google_calendar import GoogleCalendarFake
from tests.support.harness.google import SELLER, GoogleHarness


def account(tmp_path: Path, **options: Any) -> Account:
    entry = {
        "name": "work",
        "provider": "google",
        "email": SELLER,
        "calendars": [SELLER],
        **options,
    }
    return parse(
        {"defaults": {"timezone": "Europe/Berlin"}, "accounts": [entry]}, tmp_path / "config.toml"
    ).accounts[0]


def private(path: Path, text: str) -> str:
    path.write_text(text)
    path.chmod(0o600)
    return str(path)


@pytest.fixture
def harness(google_harness: GoogleHarness) -> GoogleHarness:
    return google_harness


def saved_token(harness: GoogleHarness, path: Path, scopes: list[str] | None = None) -> str:
    """A token file as `callplan auth google` leaves it."""
    credentials = harness.credentials(scopes)
    google_auth.TokenStore(str(path), "test").save(credentials, list(credentials.scopes or []))
    return str(path)


def connect(fake: GoogleCalendarFake, account: Account) -> GoogleConnector:
    return GoogleConnector.from_account(
        account, token_uri=fake.token_uri, api_endpoint=fake.api, sleep=lambda seconds: None
    )


# --- options --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "config.toml: accounts[0]: give either token_file"),
        (
            {"token_file": "t", "service_account_file": "s"},
            "config.toml: accounts[0]: give either token_file",
        ),
        (
            {"service_account_file": "s", "client_secrets_file": "c"},
            "client_secrets_file goes with token_file",
        ),
        (
            {"token_file": "t", "send_updates": "everyone"},
            "config.toml: accounts[0].send_updates: Input should be 'all' or 'externalOnly'",
        ),
        ({"token_file": "t", "tokenfile": "x"}, "config.toml: accounts[0].tokenfile: unknown key"),
        (
            {"token_file": "t", "api_endpoint": "http://gateway.example/calendar/v3/"},
            "accounts[0].api_endpoint: expected an https:// URL",
        ),
        (
            {"token_file": "t", "api_endpoint": "https://gateway.example/"},
            "accounts[0].api_endpoint: expected the Calendar API's base URL, ending in "
            "/calendar/v3/",
        ),
        (
            {"token_file": "t", "token_uri": "ftp://gateway.example/token"},
            "accounts[0].token_uri: expected an https:// URL",
        ),
    ],
)
def test_bad_options_are_one_line_errors_that_say_where(
    tmp_path: Path, options: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        open_connector(account(tmp_path, **options))
    assert message in str(raised.value)


def test_a_missing_token_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(
        AuthError, match=r"no Google token yet at .*; run: callplan auth google work$"
    ):
        open_connector(account(tmp_path, token_file=str(tmp_path / "none.json")))


def test_a_token_others_can_read_is_refused(harness: GoogleHarness, tmp_path: Path) -> None:
    path = saved_token(harness, tmp_path / "token.json")
    Path(path).chmod(0o644)
    with pytest.raises(ConfigError, match="readable by others"):
        open_connector(account(tmp_path, token_file=path))


def test_a_token_without_the_free_busy_scope_is_refused_when_busy_calendars_need_it(
    harness: GoogleHarness, tmp_path: Path
) -> None:
    path = saved_token(harness, tmp_path / "token.json")
    with pytest.raises(
        AuthError,
        match=r"lacks the scope .*calendar.events.freebusy; run: callplan auth google work",
    ):
        open_connector(account(tmp_path, token_file=path, busy_calendars=["family@example.com"]))


# --- stored tokens --------------------------------------------------------------------------------


def test_a_refreshed_token_is_saved_atomically_with_mode_0600(
    harness: GoogleHarness, tmp_path: Path
) -> None:
    path = Path(saved_token(harness, tmp_path / "token.json"))
    before = json.loads(path.read_text())
    harness.fake.oauth.expire_access_tokens()
    connector = connect(harness.fake, account(tmp_path, token_file=str(path)))
    assert connector.changes(SELLER, None, WINDOW).full
    after = json.loads(path.read_text())
    assert after["token"] != before["token"] and after["refresh_token"] == before["refresh_token"]
    assert path.stat().st_mode & 0o777 == 0o600 and [p.name for p in tmp_path.iterdir()] == [
        "token.json"
    ]
    connector.changes(SELLER, None, WINDOW)
    # the saved token is used as long as it works
    assert harness.fake.oauth.token_requests == ["refresh_token"]


def test_a_gateway_in_front_of_google_is_reached_through_the_account_options(
    harness: GoogleHarness, tmp_path: Path
) -> None:
    """api_endpoint and token_uri in config.toml alone lead reads, batches and token refreshes
    to another host (here the fake; in production a proxy or an API gateway)."""
    path = saved_token(harness, tmp_path / "token.json")
    harness.fake.oauth.expire_access_tokens()
    gateway = account(
        tmp_path,
        token_file=path,
        api_endpoint=harness.fake.api.rstrip("/"),
        token_uri=harness.fake.token_uri,
    )
    connector = open_connector(gateway)
    assert isinstance(connector, GoogleConnector) and connector.batch_uri == harness.fake.batch_uri
    assert connector.changes(SELLER, None, WINDOW).full
    # the 401, then the read
    assert harness.fake.oauth.token_requests == ["refresh_token"] and harness.fake.requests == 2


def test_a_revoked_token_stops_the_account_with_the_command_to_run(
    harness: GoogleHarness, tmp_path: Path
) -> None:
    path = Path(saved_token(harness, tmp_path / "token.json"))
    harness.fake.oauth.revoke(json.loads(path.read_text())["refresh_token"])
    connector = connect(harness.fake, account(tmp_path, token_file=str(path)))
    with pytest.raises(AuthError) as raised:
        connector.changes(SELLER, None, WINDOW)
    assert str(raised.value) == (
        "config.toml: accounts[0]: the Google authorisation was revoked or has expired; run: "
        "callplan auth google work"
    )


# --- Workspace: a service account with domain-wide delegation -------------------------------------


def service_account(fake: GoogleCalendarFake, tmp_path: Path, delegated: list[str]) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    email = "callplan@sales-tools.iam.gserviceaccount.com"
    fake.oauth.delegate(email, public, delegated)
    info = {
        "type": "service_account",
        "project_id": "sales-tools",
        "private_key_id": "k1",
        "private_key": pem,
        "client_email": email,
        "client_id": "1234567890",
        "token_uri": fake.token_uri,
    }
    return private(tmp_path / "service-account.json", json.dumps(info))


def test_a_service_account_signs_in_as_each_seller(harness: GoogleHarness, tmp_path: Path) -> None:
    harness.add_meeting("Globex", WINDOW.start.replace(day=20, hour=10))
    key = service_account(
        harness.fake, tmp_path, google_auth.scopes_for(account(tmp_path, token_file="x"))
    )
    connector = connect(harness.fake, account(tmp_path, service_account_file=key))
    assert [event.title for event in connector.changes(SELLER, None, WINDOW).upserted] == ["Globex"]
    assert harness.fake.oauth.token_requests == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]


def test_a_delegation_without_the_scopes_says_where_to_fix_it(
    harness: GoogleHarness, tmp_path: Path
) -> None:
    key = service_account(harness.fake, tmp_path, [google_auth.EVENTS])
    connector = connect(harness.fake, account(tmp_path, service_account_file=key))
    with pytest.raises(
        AuthError,
        match=(
            r"\(unauthorized_client\); check that the domain-wide delegation in the Admin console"
        ),
    ):
        connector.changes(SELLER, None, WINDOW)


# --- the installed-app flow
# -------------------------------------------------------------------------


class Person(webbrowser.BaseBrowser):
    """Someone at a browser: opens the consent address and lets it redirect to callplan's loopback
    port."""

    def __init__(self) -> None:
        super().__init__("callplan-test")
        self.seen: list[str] = []

    def open(self, url: str, new: int = 0, autoraise: bool = True) -> bool:
        self.seen.append(url)
        threading.Thread(
            target=requests.get, args=(url,), kwargs={"timeout": 10}, daemon=True
        ).start()
        return True


@pytest.fixture
def person(monkeypatch: pytest.MonkeyPatch) -> Person:
    # the fake's token endpoint is plain http on loopback
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    browser = Person()
    webbrowser.register("callplan-test", None, browser)
    return browser


def client_secrets(fake: GoogleCalendarFake, tmp_path: Path) -> str:
    client_id, secret = fake.oauth.client()
    installed = {
        "client_id": client_id,
        "client_secret": secret,
        "auth_uri": fake.auth_uri,
        "token_uri": fake.token_uri,
        "redirect_uris": ["http://localhost"],
    }
    return private(tmp_path / "client_secret.json", json.dumps({"installed": installed}))


def test_the_installed_app_flow_saves_a_working_token(
    harness: GoogleHarness, person: Person, tmp_path: Path
) -> None:
    harness.fake.oauth.consent_user = SELLER
    token = tmp_path / "tokens" / "work.json"
    configured = account(
        tmp_path, token_file=str(token), client_secrets_file=client_secrets(harness.fake, tmp_path)
    )
    said: list[str] = []
    assert google_auth.authorize(configured, browser="callplan-test", say=said.append) == str(token)
    assert (
        "access_type=offline" in person.seen[0]
        and "login_hint=alex%40northpeak.example" in person.seen[0]
    )
    assert said == [f"Authorised {SELLER}; token saved to {token} (mode 0600)."]
    assert token.stat().st_mode & 0o777 == 0o600 and token.parent.stat().st_mode & 0o777 == 0o700
    assert sorted(json.loads(token.read_text())["scopes"]) == sorted(
        google_auth.scopes_for(configured)
    )
    assert connect(harness.fake, configured).changes(SELLER, None, WINDOW).full


def test_a_consent_without_every_scope_is_refused_with_the_missing_one(
    harness: GoogleHarness, person: Person, tmp_path: Path
) -> None:
    harness.fake.oauth.consent_user = SELLER
    # the person unticked the events box
    harness.fake.oauth.consent_scopes = frozenset({google_auth.CALENDAR_LIST})
    token = tmp_path / "work.json"
    configured = account(
        tmp_path, token_file=str(token), client_secrets_file=client_secrets(harness.fake, tmp_path)
    )
    with pytest.raises(
        AuthError,
        match="did not grant https://www.googleapis.com/auth/calendar.events; run it again",
    ):
        google_auth.authorize(configured, browser="callplan-test", say=lambda line: None)
    assert not token.exists()


def test_the_auth_command_names_a_wrong_account(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        'state = "state.db"\n[[accounts]]\nname = "work"\nprovider = "caldav"\nemail = '
        '"a@b.example"\nurl = "https://dav.example/"\n'
    )
    result = CliRunner().invoke(main, ["--config", str(config), "auth", "google", "work"])
    assert (result.exit_code, result.output) == (
        1,
        "callplan: config.toml: accounts[0]: account work is a caldav account, not a google one\n",
    )
