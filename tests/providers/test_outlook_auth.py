"""Signing in to Microsoft 365: MSAL runs for real against the fake identity platform.

MSAL's `http_client` is the only seam (a requests.Session that sends the login host to the
local fake); nothing inside MSAL is patched.
"""

from __future__ import annotations

import json
import stat
from datetime import datetime
from pathlib import Path
from typing import Any

import msal
import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from agent.cli.main import main
from agent.core.errors import AuthError, ConfigError
from connectors.graph_http import GraphSession
from connectors.outlook import OutlookConnector
from connectors.outlook_auth import GraphTokens, parse_options, sign_in
from tests.support.fakes.authority import Authority
from tests.support.fakes.graph import GraphFake
from tests.support.harness.outlook import CLIENT_ID, SELLER, outlook_account, signed_in

TENANT = "contoso.example"


def test_device_code_sign_in_caches_tokens_in_a_private_file_and_reuses_them(
    graph: GraphFake, authority: Authority, tmp_path: Path
) -> None:
    account = outlook_account(graph, tmp_path)
    authority.add_user(SELLER)
    authority.next_sign_in = SELLER
    shown: list[str] = []
    line = sign_in(account, shown.append, http_client=authority.http_client())
    assert "https://microsoft.com/devicelogin" in shown[0] and "enter the code" in shown[0]
    # pending, pending, signed in
    assert authority.grants.count("urn:ietf:params:oauth:grant-type:device_code") == 3
    cache = tmp_path / "tokens.json"
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    assert "signed in" in line and str(cache) in line and "access" not in line
    assert json.loads(cache.read_text())["RefreshToken"]
    before = cache.stat().st_mtime_ns
    again = GraphTokens(account, parse_options(account), http_client=authority.http_client())
    assert again().startswith("user-")  # from the cache: no new sign-in, no token request
    assert authority.grants.count("urn:ietf:params:oauth:grant-type:device_code") == 3
    # unchanged: not rewritten
    assert authority.grants.count("refresh_token") == 0 and cache.stat().st_mtime_ns == before


def test_silent_refresh_and_revoked_consent(
    graph: GraphFake, authority: Authority, tmp_path: Path
) -> None:
    account = outlook_account(graph, tmp_path)
    tokens = signed_in(account, authority)
    first = tokens()
    refreshed = tokens(force_refresh=True)
    assert refreshed != first and authority.grants[-1] == "refresh_token"
    authority.revoke(SELLER)
    with pytest.raises(AuthError) as failure:
        GraphTokens(account, parse_options(account), http_client=authority.http_client())(
            force_refresh=True
        )
    message = str(failure.value)
    assert (
        "\n" not in message
        and "AADSTS65001" in message
        and "callplan auth outlook seller" in message
    )
    assert "refresh-" not in message and "user-" not in message


def test_a_token_is_kept_until_msal_would_hand_out_another(
    graph: GraphFake, authority: Authority, tmp_path: Path
) -> None:
    tokens = signed_in(outlook_account(graph, tmp_path), authority)
    first, grants = tokens(), len(authority.grants)
    # MSAL is not asked again while its token is good: without it in MSAL's cache, the same one
    for entry in list(tokens.cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN)):
        tokens.cache.remove_at(entry)
    assert tokens() == first and len(authority.grants) == grants
    # Graph refused it: a forced refresh asks MSAL, which asks the identity platform
    assert tokens(force_refresh=True) != first and authority.grants[grants:] == ["refresh_token"]


@pytest.mark.parametrize(
    "lifetime, refresh_in",
    [(200, None), (3599, 0)],
    ids=["expiring within MSAL's margin", "the platform asks for an early refresh"],
)
def test_a_token_msal_would_refresh_is_not_kept(
    graph: GraphFake,
    authority: Authority,
    tmp_path: Path,
    lifetime: int,
    refresh_in: int | None,
) -> None:
    authority.lifetime, authority.refresh_in = lifetime, refresh_in
    tokens = signed_in(outlook_account(graph, tmp_path), authority)
    grants = len(authority.grants)
    issued = {tokens(), tokens(), tokens()}
    assert len(issued) == 3 and authority.grants[grants:] == ["refresh_token"] * 3


def test_no_sign_in_yet_says_what_to_run(
    graph: GraphFake, authority: Authority, tmp_path: Path
) -> None:
    account = outlook_account(graph, tmp_path)
    with pytest.raises(AuthError, match=r"not signed in yet; run `callplan auth outlook seller`"):
        GraphTokens(account, parse_options(account), http_client=authority.http_client())()


def signed_in_connector(graph: GraphFake, authority: Authority, tmp_path: Path) -> OutlookConnector:
    """A connector of a signed-in seller that has read its calendars once (so holds a token)."""
    account = outlook_account(graph, tmp_path)
    signed_in(account, authority)
    graph.mailbox(SELLER)
    connector = OutlookConnector.from_account(
        account, session=GraphSession(sleep=lambda s: None), http_client=authority.http_client()
    )
    assert connector.calendars()
    return connector


def test_graph_401_gets_one_fresh_token(
    graph: GraphFake, authority: Authority, tmp_path: Path
) -> None:
    connector = signed_in_connector(graph, authority, tmp_path)
    authority.tokens.clear()  # Graph no longer accepts the cached access token
    assert connector.calendars() and authority.grants[-1] == "refresh_token"


def test_revoked_consent_stops_a_running_connector_with_one_line(
    graph: GraphFake, authority: Authority, tmp_path: Path
) -> None:
    connector = signed_in_connector(graph, authority, tmp_path)
    authority.revoke(SELLER)  # the access token it holds is refused, and so is its refresh
    with pytest.raises(AuthError) as failure:
        connector.calendars()
    assert "\n" not in str(failure.value) and "callplan auth outlook" in str(failure.value)


def _app_account(graph: GraphFake, tmp_path: Path, **options: str):  # type: ignore[no-untyped-def]
    return outlook_account(graph, tmp_path, mode="app", tenant=TENANT, **options)


def test_app_only_with_a_client_secret_reads_users_mailbox(
    graph: GraphFake, authority: Authority, tmp_path: Path
) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    secret.chmod(0o600)
    authority.secrets[CLIENT_ID] = "s3cret"
    graph.mailbox(SELLER)
    account = _app_account(graph, tmp_path, client_secret_file=str(secret))
    connector = OutlookConnector.from_account(
        account, session=GraphSession(sleep=lambda s: None), http_client=authority.http_client()
    )
    assert [c.primary for c in connector.calendars()] == [True]
    assert ("GET", f"/v1.0/users/{SELLER}/calendars") in graph.requests
    assert authority.grants == ["client_credentials"]
    authority.secrets[CLIENT_ID] = (
        "rotated"  # an admin rotated the secret; the cached token expired
    )
    (tmp_path / "tokens.json").unlink()
    with pytest.raises(AuthError) as failure:
        OutlookConnector.from_account(account, http_client=authority.http_client()).calendars()
    assert (
        "AADSTS7000215" in str(failure.value)
        and "s3cret" not in str(failure.value)
        and "\n" not in str(failure.value)
    )
    secret.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        OutlookConnector.from_account(account, http_client=authority.http_client()).calendars()


def test_app_only_with_a_certificate(
    graph: GraphFake, authority: Authority, tmp_path: Path
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "callplan")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(datetime(2020, 1, 1))
        .not_valid_after(datetime(2040, 1, 1))
        .sign(key, hashes.SHA256())
    )
    pem = tmp_path / "app.pem"
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        + certificate.public_bytes(serialization.Encoding.PEM)
    )
    pem.chmod(0o600)
    thumbprint = certificate.fingerprint(hashes.SHA1()).hex()  # noqa: S303 - Entra ID names certificates by SHA-1
    account = _app_account(
        graph, tmp_path, certificate_file=str(pem), certificate_thumbprint=thumbprint
    )
    assert GraphTokens(
        account, parse_options(account), http_client=authority.http_client()
    )().startswith("app-")


@pytest.mark.parametrize(
    ("options", "where", "message"),
    [
        ({"mode": "app", "client_secret_file": "s"}, "accounts[0]", "needs your tenant id"),
        ({"mode": "app", "tenant": TENANT}, "accounts[0]", "exactly one of client_secret_file"),
        ({"client_secret_file": "s"}, "accounts[0]", 'are for mode = "app"'),
        ({"client_id": "not-a-guid"}, "accounts[0].client_id", "should match pattern"),
        ({"graph_url": "http://graph.example/v1.0"}, "accounts[0].graph_url", "https://"),
        ({"page_size": 5000}, "accounts[0].page_size", "less than or equal to 1000"),
        ({"colour": "red"}, "accounts[0].colour", "unknown key"),
    ],
)
def test_bad_options_are_one_located_line(
    graph: GraphFake, tmp_path: Path, options: dict[str, Any], where: str, message: str
) -> None:
    with pytest.raises(ConfigError) as failure:
        parse_options(outlook_account(graph, tmp_path, **options))
    assert str(failure.value).startswith(f"config.toml: {where}") and message in str(failure.value)


def test_cli_auth_refuses_a_non_outlook_account(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f'state = "{tmp_path / "state.db"}"\n[[accounts]]\nname = "dav"\nprovider = "caldav"\n'
        'email = "a@b.example"\nurl = "https://dav.example/"\n'
    )
    result = CliRunner().invoke(main, ["--config", str(config), "auth", "outlook", "dav"])
    assert result.exit_code == 1 and "is a caldav account, not outlook" in result.output
    result = CliRunner().invoke(main, ["--config", str(config), "auth", "outlook", "nobody"])
    assert result.exit_code == 1 and "no account named nobody" in result.output
