"""Intuit OAuth 2.0 for QuickBooks Online: discovery document, authorize, bearer token, revoke.

Facts kept from Intuit's docs: the discovery document names every endpoint (Intuit's own
``intuit-oauth`` client reads it first); the redirect after consent carries ``code``, ``state``
and ``realmId``; the token endpoint takes form bodies with HTTP Basic client authentication;
access tokens live 3,600 s and refresh tokens about 100 days (Intuit answers
``x_refresh_token_expires_in: 8726400``).
Refresh tokens rotate: every refresh here returns a new one (Intuit rotates the value at least
every 24-26 h; the sandbox rotates on each refresh so clients that forget to store it fail fast)
and, as Intuit documents, "your previous refresh tokens expire 24 hours after you receive a new
one" — the grace period is configurable so tests can shorten it. Within the grace period the
previous token still works and answers the newest refresh token of its chain (a client whose
refresh response was lost recovers); after it, and for unknown, revoked or expired tokens, the
answer is ``400 {"error": "invalid_grant"}``. Authorization codes are single use.
"""

from __future__ import annotations

import base64
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from tickettoken.sandbox.quickbooks.faults import oauth_error

ACCESS_TTL = 3600
REFRESH_TTL = 8726400  # what Intuit answers in x_refresh_token_expires_in (101 days)
CODE_TTL = 600.0
ROTATION_GRACE = 86400.0
SCOPE = "com.intuit.quickbooks.accounting"


@dataclass
class RefreshToken:
    realm_id: str
    chain: str
    expires_at: float
    superseded_at: float | None = None


@dataclass
class Access:
    realm_id: str
    expires_at: float
    revoked: bool = False


@dataclass
class ClientApp:
    client_id: str
    client_secret: str
    redirect_uris: list[str] = field(default_factory=list)
    deny_all: bool = False


class IntuitOAuth:
    def __init__(self, app: ClientApp, new_realm: Any) -> None:
        self.app = app
        self.new_realm = new_realm  # callable: () -> realm id of a fresh company
        self.codes: dict[str, tuple[str, str, float]] = {}  # code -> realm, redirect, expiry
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.heads: dict[str, str] = {}  # chain -> newest refresh token
        self.access: dict[str, Access] = {}
        self.grace = ROTATION_GRACE
        self.token_requests = 0

    def discovery(self, base: str) -> dict[str, Any]:
        return {
            "issuer": f"{base}/op/v1",
            "authorization_endpoint": f"{base}/connect/oauth2",
            "token_endpoint": f"{base}/oauth2/v1/tokens/bearer",
            "userinfo_endpoint": f"{base}/v1/openid_connect/userinfo",
            "revocation_endpoint": f"{base}/oauth2/v1/tokens/revoke",
            "jwks_uri": f"{base}/op/v1/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile", "address", "phone", SCOPE],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "claims_supported": ["aud", "exp", "iat", "iss", "realmid", "sub"],
        }

    def authorize(self, request: Request) -> Response:
        query = request.query_params
        redirect_uri = query.get("redirect_uri", "")
        if query.get("client_id") != self.app.client_id:
            return oauth_error("invalid_client", 400, "Unknown client_id.")
        if not redirect_uri or (
            self.app.redirect_uris and redirect_uri not in self.app.redirect_uris
        ):
            return oauth_error("invalid_request", 400, "redirect_uri is not registered.")
        params: dict[str, str]
        if query.get("deny") in {"1", "true"} or self.app.deny_all:
            params = {"error": "access_denied"}
        elif query.get("response_type") != "code" or SCOPE not in query.get("scope", "").split():
            params = {
                "error": "invalid_scope"
                if query.get("response_type") == "code"
                else "unsupported_response_type"
            }
        else:
            realm_id = query.get("realmId") or self.new_realm()
            code = f"AB11{secrets.token_urlsafe(30)}"
            self.codes[code] = (realm_id, redirect_uri, time.time() + CODE_TTL)
            params = {"code": code, "realmId": realm_id}
        if query.get("state") is not None:
            params["state"] = query["state"]
        separator = "&" if "?" in redirect_uri else "?"
        return RedirectResponse(f"{redirect_uri}{separator}{urlencode(params)}", status_code=302)

    def client_ok(self, request: Request, form: dict[str, str]) -> bool:
        """HTTP Basic client authentication (or, as Intuit also accepts, client_secret_post)."""
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "basic":
            try:
                client_id, _, secret = base64.b64decode(encoded).decode().partition(":")
            except ValueError:
                return False
        else:
            client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        return client_id == self.app.client_id and secrets.compare_digest(
            secret.encode(), self.app.client_secret.encode()
        )

    def token(self, request: Request, form: dict[str, str]) -> Response:
        self.token_requests += 1
        if not self.client_ok(request, form):
            return oauth_error("invalid_client", 401)
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            found = self.codes.pop(form.get("code", ""), None)
            if found is None or found[2] < time.time() or found[1] != form.get("redirect_uri"):
                return oauth_error("invalid_grant")
            chain = secrets.token_hex(8)
            return JSONResponse(self._issue(found[0], self._new_refresh(found[0], chain)))
        if grant_type == "refresh_token":
            return self._refresh(form.get("refresh_token", ""))
        return oauth_error("unsupported_grant_type")

    def _refresh(self, given: str) -> Response:
        now = time.time()
        record = self.refresh_tokens.get(given)
        if record is None or record.expires_at < now:
            return oauth_error("invalid_grant")
        if record.superseded_at is not None:
            if now - record.superseded_at > self.grace:
                return oauth_error("invalid_grant")
            return JSONResponse(self._issue(record.realm_id, self.heads[record.chain]))
        record.superseded_at = now
        return JSONResponse(
            self._issue(record.realm_id, self._new_refresh(record.realm_id, record.chain))
        )

    def _new_refresh(self, realm_id: str, chain: str) -> str:
        token = f"AB11{secrets.token_urlsafe(36)}"
        self.refresh_tokens[token] = RefreshToken(realm_id, chain, time.time() + REFRESH_TTL)
        self.heads[chain] = token
        return token

    def _issue(self, realm_id: str, refresh_token: str) -> dict[str, Any]:
        access = f"eyJ{secrets.token_urlsafe(60)}"
        self.access[access] = Access(realm_id, time.time() + ACCESS_TTL)
        record = self.refresh_tokens[refresh_token]
        return {
            "token_type": "bearer",
            "access_token": access,
            "expires_in": ACCESS_TTL,
            "refresh_token": refresh_token,
            "x_refresh_token_expires_in": round(record.expires_at - time.time()),
        }

    def revoke(self, token: str) -> None:
        """Revoking either token ends the whole grant (Intuit: the connection is removed)."""
        record = self.refresh_tokens.get(token)
        access = self.access.get(token)
        realm = record.realm_id if record else access.realm_id if access else None
        chain = record.chain if record else None
        for refresh, other in list(self.refresh_tokens.items()):
            if other.chain == chain or (chain is None and other.realm_id == realm):
                del self.refresh_tokens[refresh]
        for grant in self.access.values():
            if grant.realm_id == realm:
                grant.revoked = True

    def bearer(self, request: Request) -> tuple[Access | None, str]:
        """The access grant of the request, or ``None`` with the reason for Intuit's 401."""
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        access = self.access.get(given) if scheme.lower() == "bearer" else None
        if access is None:
            return None, "Token invalid"
        if access.revoked:
            return None, "Token revoked"
        if access.expires_at < time.time():
            return None, "Token expired"
        return access, ""
