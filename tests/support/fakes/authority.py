"""A fake Microsoft identity platform (login.microsoftonline.com) for MSAL to talk to, on 127.0.0.1.

MSAL refuses plain-http authorities, so tests keep the real authority URL and give MSAL an
`http_client` (`LoginRedirect`, a requests.Session) that sends every request for the login host here
instead; or, where only a config file can say where the authority is (the `callplan` command),
`secure()` serves it over TLS too, as `authority_host = "https://..."`, with a certificate the
test's CA issued. Served: the tenant's openid-configuration, the device authorization endpoint, and
the token endpoint for the client-credentials, device-code and refresh-token grants. Token responses
carry what MSAL needs to cache an account: an (unsigned) id_token, client_info and the granted
scope. Access tokens are registered in `tokens`, which the Graph fake shares to authenticate its
callers.
"""

from __future__ import annotations

import base64
import json
import ssl
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import requests

from tests.support.fakes.listener import LocalServer

LOGIN_HOST = "login.microsoftonline.com"
TENANT_ID = "9188040d-6c67-4c5b-b112-36a304b66dad"
CONSENT_MISSING = "AADSTS65001: The user or administrator has not consented to use the application."


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


@dataclass
class User:
    address: str
    oid: str = field(default_factory=lambda: str(uuid.uuid4()))
    consented: bool = True


@dataclass
class DeviceCode:
    client_id: str
    scope: str
    user: str | None = None  # set when the person enters the code and signs in
    polls: int = 0


class Authority:
    """State of the fake identity platform plus its HTTP server."""

    def __init__(self) -> None:
        self.tokens: dict[str, dict[str, Any]] = {}  # access token -> {"user", "app", "scope"}
        self.users: dict[str, User] = {}
        self.secrets: dict[str, str] = {}  # client_id -> client secret (confidential apps)
        self.app_consented = True
        self.device_codes: dict[str, DeviceCode] = {}
        self.refresh_tokens: dict[str, tuple[str, str, str]] = {}  # token -> (client, user, scope)
        self.grants: list[str] = []  # grant_type of every token request, in order
        self.sign_in_after = 2  # polls before the person "enters the code" in device flow
        self.next_sign_in: str | None = None
        self.lifetime = 3599  # seconds an access token is good for (expires_in)
        self.refresh_in: int | None = None  # when set, the platform asks to refresh that early
        self.lock = threading.Lock()
        self.server = LocalServer(("127.0.0.1", 0), _handler(self))
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._servers: list[LocalServer] = [self.server]

    def __enter__(self) -> Authority:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()

    def http_client(self) -> LoginRedirect:
        return LoginRedirect(self.address)

    def secure(self, context: ssl.SSLContext) -> str:
        """Serve over TLS as well, with `context`'s certificate; returns the https base URL,
        which the openid-configuration served there names as the authority's host."""
        server = LocalServer(("127.0.0.1", 0), _handler(self))
        server.socket = context.wrap_socket(server.socket, server_side=True)
        self._servers.append(server)
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        return f"https://127.0.0.1:{server.server_address[1]}"

    # -- admin ---------------------------------------------------------------------------------

    def add_user(self, address: str) -> User:
        self.users.setdefault(address, User(address))
        return self.users[address]

    def revoke(self, address: str) -> None:
        """The user (or an admin) withdraws consent: refresh tokens stop working, and the access
        tokens already issued stop working at the Graph fake too, which shares this dict."""
        self.users[address].consented = False
        for token in [token for token, info in self.tokens.items() if info["user"] == address]:
            del self.tokens[token]

    # -- endpoints -----------------------------------------------------------------------------

    def configuration(self, tenant: str, host: str = LOGIN_HOST) -> dict[str, Any]:
        base = f"https://{host}/{tenant}"
        return {
            "issuer": f"https://{host}/{TENANT_ID}/v2.0",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
        }

    def device_code(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        code = uuid.uuid4().hex
        user_code = code[:8].upper()
        self.device_codes[code] = DeviceCode(form["client_id"], form.get("scope", ""))
        return 200, {
            "device_code": code,
            "user_code": user_code,
            "verification_uri": "https://microsoft.com/devicelogin",
            "expires_in": 900,
            "interval": 0,  # the fake answers at once: MSAL polls without sleeping
            "message": (
                "To sign in, use a web browser to open the page https://microsoft.com/devicelogin "
                f"and enter the code {user_code} to authenticate."
            ),
        }

    def token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        grant = form.get("grant_type", "")
        self.grants.append(grant)
        if grant == "client_credentials":
            return self._client_credentials(form)
        if grant == "urn:ietf:params:oauth:grant-type:device_code":
            entry = self.device_codes.get(form.get("device_code", ""))
            if entry is None:
                return _error(
                    "expired_token",
                    "AADSTS70020: The provided value for the input parameter 'device_code' is not "
                    "valid.",
                )
            entry.polls += 1
            if entry.user is None and entry.polls > self.sign_in_after and self.next_sign_in:
                entry.user = self.next_sign_in
            if entry.user is None:
                return _error(
                    "authorization_pending",
                    "AADSTS70016: OAuth 2.0 device flow error. Authorization is pending.",
                )
            del self.device_codes[form["device_code"]]
            return self._user_tokens(entry.client_id, entry.user, _scope(entry.scope))
        if grant == "refresh_token":
            found = self.refresh_tokens.get(form.get("refresh_token", ""))
            if found is None:
                return _error(
                    "invalid_grant",
                    "AADSTS70008: The provided authorization code or refresh token has expired "
                    "due to inactivity.",
                )
            client, user, scope = found
            if not self.users[user].consented:
                return _error("invalid_grant", CONSENT_MISSING, suberror="consent_required")
            return self._user_tokens(client, user, _scope(form.get("scope", scope)))
        return _error(
            "unsupported_grant_type", f"AADSTS70003: grant type {grant!r} is not supported"
        )

    def _client_credentials(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        client = form.get("client_id", "")
        secret = self.secrets.get(client)
        assertion = form.get("client_assertion")
        if assertion is not None:
            claims = json.loads(base64.urlsafe_b64decode(assertion.split(".")[1] + "=="))
            if claims.get("iss") != client or claims.get("sub") != client:
                return _error(
                    "invalid_client",
                    "AADSTS700027: Client assertion contains an invalid signature.",
                    status=401,
                )
        elif secret is None or form.get("client_secret") != secret:
            return _error(
                "invalid_client", "AADSTS7000215: Invalid client secret provided.", status=401
            )
        if not self.app_consented:
            return _error(
                "invalid_grant",
                "AADSTS65001: The application has not been granted the permissions (admin consent "
                "is missing).",
            )
        access = "app-" + uuid.uuid4().hex
        self.tokens[access] = {"user": None, "app": True, "scope": form.get("scope", "")}
        return 200, {"token_type": "Bearer", **self._lifetime(), "access_token": access}

    def _lifetime(self) -> dict[str, int]:
        """How long an access token lasts, as the token endpoint says it."""
        said = {"expires_in": self.lifetime, "ext_expires_in": self.lifetime}
        if self.refresh_in is not None:
            said["refresh_in"] = self.refresh_in
        return said

    def _user_tokens(self, client: str, address: str, scope: str) -> tuple[int, dict[str, Any]]:
        user = self.users[address]
        if not user.consented:
            return _error("invalid_grant", CONSENT_MISSING, suberror="consent_required")
        now = int(time.time())
        access, refresh = "user-" + uuid.uuid4().hex, "refresh-" + uuid.uuid4().hex
        self.tokens[access] = {"user": address, "app": False, "scope": scope}
        self.refresh_tokens[refresh] = (client, address, scope)
        claims = {
            "aud": client,
            "iss": f"https://{LOGIN_HOST}/{TENANT_ID}/v2.0",
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "oid": user.oid,
            "tid": TENANT_ID,
            "sub": user.oid,
            "preferred_username": address,
            "name": address,
            "ver": "2.0",
        }
        id_token = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
        return 200, {
            "token_type": "Bearer",
            "scope": scope,
            **self._lifetime(),
            "access_token": access,
            "refresh_token": refresh,
            "id_token": id_token,
            "client_info": _b64({"uid": user.oid, "utid": TENANT_ID}),
        }


def _scope(requested: str) -> str:
    """What the platform grants: the resource scopes asked for (OIDC scopes are implied)."""
    return " ".join(
        s for s in requested.split() if s not in ("openid", "profile", "offline_access")
    )


def _error(
    code: str, description: str, status: int = 400, suberror: str | None = None
) -> tuple[int, dict[str, Any]]:
    body: dict[str, Any] = {
        "error": code,
        "error_description": description,
        "error_codes": [int(description[6:].split(":")[0] or 0)],
    }
    if suberror:
        body["suberror"] = suberror
    return status, body


def _handler(authority: Authority) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # one small write per answer: no 40 ms delayed-ACK stalls

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _reply(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            parts = urlsplit(self.path).path.strip("/").split("/")
            if parts[1:] == ["v2.0", ".well-known", "openid-configuration"]:
                # reached as itself, not as the login host
                secure = isinstance(self.connection, ssl.SSLSocket)
                self._reply(
                    200,
                    authority.configuration(
                        parts[0], self.headers["Host"] if secure else LOGIN_HOST
                    ),
                )
            else:
                self._reply(404, {"error": "not_found"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = {k: v[-1] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            with authority.lock:
                if self.path.endswith("/oauth2/v2.0/devicecode"):
                    self._reply(*authority.device_code(form))
                elif self.path.endswith("/oauth2/v2.0/token"):
                    self._reply(*authority.token(form))
                else:
                    self._reply(404, {"error": "not_found"})

    return Handler


class LoginRedirect(requests.Session):
    """MSAL's http_client in tests: requests for the login host go to the local fake instead."""

    def __init__(self, address: str) -> None:
        super().__init__()
        self.address = address

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        parts = urlsplit(str(url))
        if parts.hostname == LOGIN_HOST:
            url = urlunsplit(("http", self.address, parts.path, parts.query, parts.fragment))
        return super().request(method, url, *args, **kwargs)
