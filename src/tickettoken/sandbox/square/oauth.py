"""Square OAuth: the authorize page that approves at once, ``/oauth2/token``, revoke and status.

Facts kept from Square's docs: authorization codes are single use and short-lived (5 minutes);
access tokens live 30 days (``expires_at``, ISO 8601) and come with ``merchant_id`` and a
``refresh_token``; in the code flow a refresh answers the *same* refresh token (only PKCE rotates
it); revoking a seller's grant invalidates its access and refresh tokens. Tokens carry the scopes
of the authorize URL (Square's default set when it names none) and every endpoint checks its own
(``403 INSUFFICIENT_SCOPES``), so a platform asking for too little finds out here. ``?deny=1``
(or the app's ``deny_all`` rule) answers the redirect with ``error=access_denied``, not a code.
"""

from __future__ import annotations

import secrets
import time
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from tickettoken.sandbox.square.errors import SquareError, bad_request, unauthorized
from tickettoken.sandbox.square.state import AccessToken, App, Grant, Seller, new_seller

# Square's documented default when the authorize URL names no scope.
DEFAULT_SCOPES = "MERCHANT_PROFILE_READ PAYMENTS_READ SETTLEMENTS_READ BANK_ACCOUNTS_READ"
CODE_TTL = 300.0
ACCESS_TTL = 30 * 86400.0
SHORT_LIVED_TTL = 86400.0


class SquareOAuth:
    def __init__(self, app: App, sellers: dict[str, Seller]) -> None:
        self.app = app
        self.sellers = sellers
        self.grants: dict[str, Grant] = {}
        self.tokens: dict[str, AccessToken] = {}
        # refresh token -> merchant id and the scopes the seller granted
        self.refresh_tokens: dict[str, tuple[str, frozenset[str]]] = {}
        self.token_requests = 0

    def authorize(self, request: Request) -> Response:
        query = request.query_params
        if query.get("client_id") != self.app.client_id:
            raise bad_request("INVALID_VALUE", "Invalid client_id.", "client_id")
        redirect_uri = query.get("redirect_uri") or (
            self.app.redirect_uris[0] if self.app.redirect_uris else None
        )
        if not redirect_uri or (
            self.app.redirect_uris and redirect_uri not in self.app.redirect_uris
        ):
            raise bad_request("INVALID_VALUE", "Invalid redirect_uri.", "redirect_uri")
        state = query.get("state")
        params: dict[str, str]
        if query.get("deny") in {"1", "true"} or self.app.deny_all:
            params = {"error": "access_denied", "error_description": "user_denied"}
        else:
            seller = self.sellers.get(query.get("merchant_id") or "")
            if seller is None:
                seller = new_seller()
                self.sellers[seller.merchant_id] = seller
            code = f"sq0cgb-{secrets.token_urlsafe(16)}"
            scopes = frozenset((query.get("scope") or DEFAULT_SCOPES).replace("+", " ").split())
            self.grants[code] = Grant(
                seller.merchant_id, query.get("redirect_uri"), time.time() + CODE_TTL, scopes
            )
            params = {"code": code, "response_type": "code"}
        if state is not None:
            params["state"] = state
        separator = "&" if "?" in redirect_uri else "?"
        return RedirectResponse(f"{redirect_uri}{separator}{urlencode(params)}", status_code=302)

    def token(self, body: dict[str, Any]) -> dict[str, Any]:
        self.token_requests += 1
        if body.get("client_id") != self.app.client_id or not secrets.compare_digest(
            str(body.get("client_secret") or ""), self.app.client_secret
        ):
            raise unauthorized("Not Authorized")
        grant_type = body.get("grant_type")
        if grant_type == "authorization_code":
            grant = self._redeem(body)
            merchant_id, scopes = grant.merchant_id, grant.scopes
            refresh_token = f"EQAAE{secrets.token_urlsafe(48)}"
            self.refresh_tokens[refresh_token] = (merchant_id, scopes)
        elif grant_type == "refresh_token":
            refresh_token = str(body.get("refresh_token") or "")
            if refresh_token not in self.refresh_tokens:
                raise unauthorized("Invalid refresh token.")
            merchant_id, scopes = self.refresh_tokens[refresh_token]
            if body.get("scopes"):  # a refresh may narrow the grant, never widen it
                scopes = scopes & frozenset(body["scopes"])
        else:
            raise bad_request(
                "INVALID_VALUE",
                "grant_type must be authorization_code or refresh_token.",
                "grant_type",
            )
        ttl = SHORT_LIVED_TTL if body.get("short_lived") else ACCESS_TTL
        access = AccessToken(
            f"EAAA{secrets.token_urlsafe(48)}",
            merchant_id,
            time.time() + ttl,
            refresh_token,
            scopes,
        )
        self.tokens[access.token] = access
        return {
            "access_token": access.token,
            "token_type": "bearer",
            "expires_at": _iso_seconds(access.expires_at),
            "merchant_id": merchant_id,
            "refresh_token": refresh_token,
            "short_lived": bool(body.get("short_lived")),
        }

    def _redeem(self, body: dict[str, Any]) -> Grant:
        code = str(body.get("code") or "")
        grant = self.grants.pop(code, None)
        if grant is None:
            raise unauthorized("Authorization code is already redeemed or invalid.")
        if grant.expires_at < time.time():
            raise unauthorized("Authorization code is expired.")
        if grant.redirect_uri and body.get("redirect_uri") not in (None, grant.redirect_uri):
            raise bad_request("INVALID_VALUE", "redirect_uri does not match.", "redirect_uri")
        return grant

    def revoke(self, request: Request, body: dict[str, Any]) -> dict[str, Any]:
        given = request.headers.get("authorization", "")
        if body.get("client_id") != self.app.client_id or not secrets.compare_digest(
            given.encode(), f"Client {self.app.client_secret}".encode()
        ):
            raise unauthorized("Not Authorized")
        token = self.tokens.get(str(body.get("access_token") or ""))
        merchant_id = token.merchant_id if token else body.get("merchant_id")
        if not merchant_id:
            raise SquareError(404, "NOT_FOUND", "access token not found.")
        for access in self.tokens.values():
            if access.merchant_id == merchant_id:
                access.revoked = True
        if not body.get("revoke_only_access_token"):
            for refresh, (owner, _) in list(self.refresh_tokens.items()):
                if owner == merchant_id:
                    del self.refresh_tokens[refresh]
        return {"success": True}

    def authenticate(self, request: Request) -> AccessToken:
        """The live access token of ``Authorization: Bearer ...`` or Square's 401."""
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        token = self.tokens.get(given) if scheme.lower() == "bearer" else None
        if token is None:
            raise unauthorized()
        if token.revoked:
            raise SquareError(
                401,
                "ACCESS_TOKEN_REVOKED",
                "The access token has been revoked.",
                category="AUTHENTICATION_ERROR",
            )
        if token.expires_at < time.time():
            raise SquareError(
                401,
                "ACCESS_TOKEN_EXPIRED",
                "The access token has expired.",
                category="AUTHENTICATION_ERROR",
            )
        return token


def _iso_seconds(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))
