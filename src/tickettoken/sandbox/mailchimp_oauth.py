"""Mailchimp's OAuth 2 (``/oauth2/authorize``, ``/oauth2/token``, ``/oauth2/metadata``).

The authorize page approves at once (``deny=1`` refuses) by redirecting to the redirect URI with
``code`` and ``state``. The token endpoint answers ``expires_in: 0``: Mailchimp access tokens never
expire and there is no refresh token. The metadata endpoint (``Authorization: OAuth <token>``)
answers the account's data centre ``dc`` and ``api_endpoint``, the base the API client must use.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

if TYPE_CHECKING:
    from tickettoken.sandbox.mailchimp import MailchimpAPI

CODE_LIFETIME = 600.0


def mailchimp_client(secret_key: str) -> tuple[str, str]:
    """The sandbox's registered OAuth app (client id, client secret), stable for one key."""
    digest = hashlib.sha256(b"mailchimp:" + secret_key.encode()).hexdigest()
    return digest[:12], digest[12:52]


def _oauth_error(code: str, description: str, status: int = 400) -> Response:
    return JSONResponse({"error": code, "error_description": description}, status_code=status)


@dataclass
class Code:
    account: str
    redirect_uri: str
    expires: float


class MailchimpOAuth:
    def __init__(self, api: MailchimpAPI, secret_key: str, redirect_uris: list[str]) -> None:
        self.api = api
        self.client_id, self.client_secret = mailchimp_client(secret_key)
        self.redirect_uris = redirect_uris
        self.codes: dict[str, Code] = {}
        self.tokens: dict[str, str] = {}

    async def authorize(self, request: Request) -> Response:
        q = request.query_params
        if q.get("client_id") != self.client_id:
            return _oauth_error("invalid_client", "Invalid client_id")
        if q.get("response_type") != "code":
            return _oauth_error("unsupported_response_type", "response_type must be code")
        redirect = q.get("redirect_uri", "")
        if not redirect or (self.redirect_uris and redirect not in self.redirect_uris):
            return _oauth_error("invalid_request", "Invalid redirect_uri")
        if q.get("deny") == "1":
            answer = {"error": "access_denied", "error_description": "The user denied access"}
        else:
            account = q.get("account") or self.api.default_account
            if account not in self.api.accounts:
                return _oauth_error("invalid_request", "Unknown sandbox account")
            code = secrets.token_hex(16)
            self.codes[code] = Code(account, redirect, time.monotonic() + CODE_LIFETIME)
            answer = {"code": code}
        if q.get("state") is not None:
            answer["state"] = q["state"]
        joiner = "&" if "?" in redirect else "?"
        return RedirectResponse(f"{redirect}{joiner}{urlencode(answer)}", status_code=302)

    async def token(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        if form.get("grant_type") != "authorization_code":
            return _oauth_error("unsupported_grant_type", "grant_type must be authorization_code")
        secret_ok = secrets.compare_digest(
            form.get("client_secret", "").encode(), self.client_secret.encode()
        )
        if form.get("client_id") != self.client_id or not secret_ok:
            return _oauth_error("invalid_client", "Invalid client credentials", 401)
        code = self.codes.pop(form.get("code", ""), None)
        if code is None or code.expires < time.monotonic():
            return _oauth_error("invalid_grant", "Invalid authorization code")
        if form.get("redirect_uri") != code.redirect_uri:
            return _oauth_error("invalid_grant", "redirect_uri does not match")
        token = secrets.token_hex(16)
        self.tokens[token] = code.account
        return JSONResponse({"access_token": token, "expires_in": 0, "scope": None})

    async def metadata(self, request: Request) -> Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        account_id = self.tokens.get(token.strip()) if scheme.lower() == "oauth" else None
        if account_id is None:
            return _oauth_error("invalid_token", "Invalid or missing OAuth token", 401)
        account = self.api.accounts[account_id]
        base = str(request.base_url).rstrip("/") + self.api.prefix
        return JSONResponse(
            {
                "dc": self.api.dc,
                "role": "owner",
                "accountname": account.name,
                "user_id": account.user_id,
                "login": {
                    "email": account.email,
                    "login_id": account.user_id,
                    "login_name": account.name,
                    "login_email": account.email,
                    "avatar": None,
                },
                "login_url": f"{base}/login",
                "api_endpoint": base,
            }
        )
