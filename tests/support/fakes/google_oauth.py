"""The OAuth side of the Google fake: the consent page, the token endpoint, bearer-token checks.

It speaks the protocol google-auth and google-auth-oauthlib use: authorization codes from
the consent page, refresh-token and JWT-bearer (service account with domain-wide
delegation) grants at the token endpoint, and the exact error bodies Google answers with
(`invalid_grant` for a revoked refresh token, `unauthorized_client` for a delegation that
does not cover the scopes).
"""

from __future__ import annotations

import base64
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus, urlencode

from google.auth import jwt

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@dataclass(frozen=True)
class Grant:
    user: str
    scopes: frozenset[str]


@dataclass
class OAuth:
    """Clients, users' grants and tokens; `consent_scopes` lets a test untick boxes on the consent
    page."""

    clients: dict[str, str] = field(default_factory=dict)  # client_id -> client_secret
    consent_user: str = ""
    consent_scopes: frozenset[str] | None = None
    access: dict[str, Grant] = field(default_factory=dict)
    refresh: dict[str, Grant] = field(default_factory=dict)
    codes: dict[str, tuple[Grant, str]] = field(default_factory=dict)  # code -> (grant, client_id)
    # email -> (cert, delegated scopes)
    service_accounts: dict[str, tuple[str, frozenset[str]]] = field(default_factory=dict)
    users: set[str] = field(default_factory=set)
    token_requests: list[str] = field(default_factory=list)  # grant types, in order
    lock: threading.Lock = field(default_factory=threading.Lock)

    def client(self) -> tuple[str, str]:
        """Register an OAuth client; returns (client_id, client_secret)."""
        client_id = f"{secrets.token_hex(6)}.apps.googleusercontent.com"
        self.clients[client_id] = f"GOCSPX-{secrets.token_urlsafe(18)}"
        return client_id, self.clients[client_id]

    def issue(self, user: str, scopes: list[str] | frozenset[str]) -> tuple[str, str]:
        """Tokens for a user as after a consent: (access token, refresh token)."""
        grant = Grant(user, frozenset(scopes))
        with self.lock:
            access, refresh = f"ya29.{secrets.token_urlsafe(24)}", f"1//{secrets.token_urlsafe(32)}"
            self.access[access], self.refresh[refresh] = grant, grant
        return access, refresh

    def revoke(self, refresh_token: str) -> None:
        """The user removed callplan's access (or the grant expired): the refresh token stops
        working."""
        with self.lock:
            grant = self.refresh.pop(refresh_token)
            for token in [t for t, g in self.access.items() if g == grant]:
                del self.access[token]

    def expire_access_tokens(self) -> None:
        with self.lock:
            self.access.clear()

    def delegate(self, email: str, certificate: str, scopes: list[str]) -> None:
        """A service account whose client id the Workspace admin granted these scopes."""
        self.service_accounts[email] = (certificate, frozenset(scopes))

    def who(self, authorization: str) -> Grant | None:
        if not authorization.startswith("Bearer "):
            return None
        with self.lock:
            return self.access.get(authorization[len("Bearer ") :])

    # -- endpoints ---------------------------------------------------------------------------

    def authorize(self, query: dict[str, str]) -> tuple[int, dict[str, str], dict[str, Any]]:
        """GET /o/oauth2/auth: the user consents at once; redirect back with a code."""
        client_id = query.get("client_id", "")
        if (
            client_id not in self.clients
            or query.get("response_type") != "code"
            or "redirect_uri" not in query
        ):
            return 400, {}, {"error": "invalid_request"}
        requested = frozenset(query.get("scope", "").split())
        granted = requested if self.consent_scopes is None else requested & self.consent_scopes
        user = self.consent_user or query.get("login_hint", "")
        code = f"4/{secrets.token_urlsafe(24)}"
        with self.lock:
            self.codes[code] = (Grant(user, granted), client_id)
        answer = {"state": query.get("state", ""), "code": code, "scope": " ".join(sorted(granted))}
        return 302, {"Location": f"{query['redirect_uri']}?{urlencode(answer)}"}, {}

    def token(self, form: dict[str, str], authorization: str = "") -> tuple[int, dict[str, Any]]:
        """POST /token; the client authenticates in the form or with HTTP Basic (RFC 6749,
        2.3.1)."""
        if authorization.startswith("Basic "):
            client_id, _, secret = (
                base64.b64decode(authorization[len("Basic ") :]).decode().partition(":")
            )
            form = {
                **form,
                "client_id": unquote_plus(client_id),
                "client_secret": unquote_plus(secret),
            }
        grant_type = form.get("grant_type", "")
        self.token_requests.append(grant_type)
        if grant_type == JWT_GRANT:
            return self._service_account(form.get("assertion", ""))
        if self.clients.get(form.get("client_id", "")) != form.get("client_secret") or not form.get(
            "client_secret"
        ):
            return 401, {
                "error": "invalid_client",
                "error_description": "The OAuth client was not found.",
            }
        if grant_type == "refresh_token":
            grant = self.refresh.get(form.get("refresh_token", ""))
            if grant is None:
                return 400, {
                    "error": "invalid_grant",
                    "error_description": "Token has been expired or revoked.",
                }
            access, _ = self.issue(grant.user, grant.scopes)
            return 200, {
                "access_token": access,
                "expires_in": 3599,
                "scope": " ".join(sorted(grant.scopes)),
                "token_type": "Bearer",
            }
        if grant_type == "authorization_code":
            with self.lock:
                found = self.codes.pop(form.get("code", ""), None)
            if found is None or found[1] != form.get("client_id"):
                return 400, {"error": "invalid_grant", "error_description": "Bad Request"}
            grant = found[0]
            access, refresh = self.issue(grant.user, grant.scopes)
            return 200, {
                "access_token": access,
                "refresh_token": refresh,
                "expires_in": 3599,
                "scope": " ".join(sorted(grant.scopes)),
                "token_type": "Bearer",
            }
        return 400, {
            "error": "unsupported_grant_type",
            "error_description": f"Invalid grant_type: {grant_type}",
        }

    def _service_account(self, assertion: str) -> tuple[int, dict[str, Any]]:
        try:
            issuer = jwt.decode(assertion, verify=False)["iss"]
            certificate, delegated = self.service_accounts[issuer]
            claims = jwt.decode(assertion, certs=certificate)
        except (KeyError, ValueError):
            return 400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
        scopes = frozenset(str(claims.get("scope", "")).split())
        if not scopes or not scopes <= delegated:
            return 401, {
                "error": "unauthorized_client",
                "error_description": (
                    "Client is unauthorized to retrieve access tokens using this method, or client "
                    "not authorized for any of the scopes requested."
                ),
            }
        user = claims.get("sub", "")
        if user not in self.users:
            return 400, {"error": "invalid_grant", "error_description": "Invalid email or User ID"}
        access, _ = self.issue(user, scopes)
        return 200, {"access_token": access, "expires_in": 3599, "token_type": "Bearer"}
