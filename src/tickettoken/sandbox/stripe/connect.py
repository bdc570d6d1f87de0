"""Stripe Connect OAuth (standard accounts) and the accounts API.

``GET /oauth/authorize`` approves at once: it redirects to the redirect URI with ``code`` and
``state`` (``deny=1`` redirects with ``error=access_denied``), so the flow runs without a browser.
A redirect URI must be one of the client's registered ones; a sandbox started without any
accepts the one the request names. ``POST /oauth/token`` (authenticated with the platform's secret
key, as Stripe requires) exchanges a single-use code, or a refresh token, for an access token that
is a secret key of the connected account (Stripe's access tokens do not expire). Its errors use
OAuth's shape (``{"error": "invalid_grant", "error_description": ...}``), which the SDK turns into
``stripe.oauth_error`` classes.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from tickettoken.sandbox.stripe.errors import no_such
from tickettoken.sandbox.stripe.forms import parse_params
from tickettoken.sandbox.stripe.state import Call, Obj, StripeState, new_id, now

CODE_LIFETIME = 300.0


def client_id_for(secret_key: str) -> str:
    """The sandbox platform's Connect client id, stable for one sandbox key."""
    return "ca_" + hashlib.sha256(b"connect:" + secret_key.encode()).hexdigest()[:32]


def _oauth_error(code: str, description: str, status: int = 400) -> Response:
    return JSONResponse({"error": code, "error_description": description}, status_code=status)


@dataclass
class Grant:
    account: str
    scope: str
    expires: float


@dataclass
class ConnectState:
    codes: dict[str, Grant] = field(default_factory=dict)
    refresh_tokens: dict[str, str] = field(default_factory=dict)


class Connect:
    def __init__(
        self, state: StripeState, secret_key: str, redirect_uris: list[str] | None = None
    ) -> None:
        self.state, self.secret_key = state, secret_key
        self.client_id = client_id_for(secret_key)
        self.redirect_uris = redirect_uris or []
        self.oauth = ConnectState()
        self._platform()

    def reset(self) -> None:
        self.oauth = ConnectState()
        self._platform()

    def _platform(self) -> None:
        account = self._account(self.state.platform_account, "Sandbox platform")
        self.state.add("acct", account, self.state.platform_account)

    @staticmethod
    def _account(account_id: str, name: str) -> Obj:
        return {
            "id": account_id,
            "object": "account",
            "business_profile": {"name": name},
            "business_type": None,
            "charges_enabled": True,
            "country": "US",
            "created": now(),
            "default_currency": "usd",
            "details_submitted": True,
            "email": None,
            "metadata": {},
            "payouts_enabled": True,
            "type": "standard",
        }

    async def authorize(self, request: Request) -> Response:
        q = request.query_params
        if q.get("client_id") != self.client_id:
            return _oauth_error("invalid_client", f"No such application: '{q.get('client_id')}'")
        if q.get("response_type", "code") != "code":
            return _oauth_error("unsupported_response_type", "Only 'code' is supported.")
        redirect = q.get("redirect_uri") or (self.redirect_uris[0] if self.redirect_uris else "")
        if not redirect or (self.redirect_uris and redirect not in self.redirect_uris):
            return _oauth_error(
                "invalid_redirect_uri", "Invalid redirect URI: it is not registered."
            )
        answer: dict[str, str] = {}
        if q.get("deny") == "1":
            answer = {"error": "access_denied", "error_description": "The user denied your request"}
        else:
            account = new_id("acct")
            self.state.add("acct", self._account(account, "Sandbox venue"), account)
            code = "ac_" + secrets.token_urlsafe(24)
            scope = q.get("scope") or "read_only"
            self.oauth.codes[code] = Grant(account, scope, time.monotonic() + CODE_LIFETIME)
            answer = {"code": code, "scope": scope}
        if q.get("state") is not None:
            answer["state"] = q["state"]
        joiner = "&" if "?" in redirect else "?"
        return RedirectResponse(f"{redirect}{joiner}{urlencode(answer)}", status_code=302)

    def _platform_key(self, request: Request, params: dict[str, Any]) -> bool:
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        given = given or str(params.get("client_secret", ""))
        return secrets.compare_digest(given.encode(), self.secret_key.encode())

    def _issue(self, account: str, scope: str, refresh: str | None = None) -> dict[str, Any]:
        access = "sk_test_" + secrets.token_urlsafe(32)
        self.state.access_tokens[access] = account
        if refresh is None:
            refresh = "rt_" + secrets.token_urlsafe(32)
            self.oauth.refresh_tokens[refresh] = account
        return {
            "access_token": access,
            "livemode": False,
            "refresh_token": refresh,
            "scope": scope,
            "stripe_publishable_key": "pk_test_" + secrets.token_urlsafe(24),
            "stripe_user_id": account,
            "token_type": "bearer",
        }

    async def token(self, request: Request) -> Response:
        params = parse_params((await request.body()).decode())
        if not self._platform_key(request, params):
            return _oauth_error(
                "invalid_client", "No valid API key or client_secret provided.", 401
            )
        grant_type = params.get("grant_type")
        if grant_type == "authorization_code":
            code = str(params.get("code", ""))
            grant = self.oauth.codes.pop(code, None)
            if grant is None or grant.expires < time.monotonic():
                return _oauth_error("invalid_grant", f"Authorization code does not exist: {code}")
            return JSONResponse(self._issue(grant.account, grant.scope))
        if grant_type == "refresh_token":
            token = str(params.get("refresh_token", ""))
            account = self.oauth.refresh_tokens.get(token)
            if account is None:
                return _oauth_error("invalid_grant", f"Invalid refresh token: {token[:8]}...")
            return JSONResponse(self._issue(account, "read_write", token))
        return _oauth_error("unsupported_grant_type", f"Unsupported grant type: {grant_type}")

    async def deauthorize(self, request: Request) -> Response:
        params = parse_params((await request.body()).decode())
        if not self._platform_key(request, params):
            return _oauth_error(
                "invalid_client", "No valid API key or client_secret provided.", 401
            )
        account = str(params.get("stripe_user_id", ""))
        if params.get("client_id") != self.client_id or account not in self.state.accounts:
            return _oauth_error("invalid_client", "This application is not connected.")
        for table in (self.state.access_tokens, self.oauth.refresh_tokens):
            for token in [t for t, a in table.items() if a == account]:
                del table[token]
        return JSONResponse({"stripe_user_id": account})

    # ---- accounts API -----------------------------------------------------------------

    async def get_own_account(self, call: Call) -> Obj:
        return self.state.accounts[call.account]

    async def get_account(self, call: Call) -> Obj:
        account_id = call.path("id")
        connected = account_id in self.state.accounts and (
            call.account in (account_id, self.state.platform_account)
        )
        if not connected:
            raise no_such("account", account_id)
        return self.state.accounts[account_id]
