"""A Mailchimp Marketing API (``/3.0``) and its OAuth, served under ``/mailchimp``.

Real Mailchimp answers at ``https://<dc>.api.mailchimp.com/3.0`` and its OAuth at
``https://login.mailchimp.com/oauth2``; the sandbox shares a port with Square's ``/oauth2`` and so
mounts both under ``/mailchimp`` (``api_endpoint`` from the metadata endpoint is the base the
official SDK's ``host`` must be set to, plus ``/3.0``). Auth: HTTP Basic with an API key
``<key>-<dc>`` (any user name; the wrong data centre is refused, as by Mailchimp) or an OAuth
token as ``Bearer`` or ``OAuth``. At most 10 requests of one account run at once; the 11th gets
429, as Mailchimp limits simultaneous connections. Errors are Mailchimp's problem documents
(``type``, ``title``, ``status``, ``detail``, ``instance``, and ``errors`` for validation).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from tickettoken.sandbox.common import has_key
from tickettoken.sandbox.mailchimp_lists import Audience, Batches, McError
from tickettoken.sandbox.mailchimp_oauth import MailchimpOAuth

MAX_CONNECTIONS = 10
ERROR_DOCS = "https://mailchimp.com/developer/marketing/docs/errors/"


def problem(error: McError) -> Response:
    body: dict[str, Any] = {
        "type": ERROR_DOCS,
        "title": error.title,
        "status": error.status,
        "detail": error.detail,
        "instance": str(uuid.uuid4()),
    }
    if error.errors:
        body["errors"] = error.errors
    return JSONResponse(body, status_code=error.status, media_type="application/problem+json")


@dataclass
class Account:
    id: str
    api_key: str
    name: str
    email: str
    user_id: int = field(default_factory=lambda: secrets.randbelow(10**8))
    audience: Audience = field(default_factory=Audience)
    in_flight: int = 0


class MailchimpAPI:
    name = "mailchimp"
    prefix = "/mailchimp"

    def __init__(
        self, secret_key: str, *, redirect_uris: list[str] | None = None, dc: str = "us1"
    ) -> None:
        self.secret_key, self.dc = secret_key, dc
        self.accounts: dict[str, Account] = {}
        self.latency = 0.0
        self.oauth = MailchimpOAuth(self, secret_key, redirect_uris or [])
        seed = hashlib.sha256(b"mailchimp-key:" + secret_key.encode()).hexdigest()[:32]
        self.default_account = self.add_account("Sandbox Account", api_key=f"{seed}-{dc}").id
        self.batches = Batches(self)

    def reset(self) -> None:
        """Forget every account but the default one (emptied), every token and batch."""
        default = self.accounts[self.default_account]
        default.audience = Audience()
        self.accounts = {default.id: default}
        self.oauth.codes.clear()
        self.oauth.tokens.clear()
        self.batches.batches.clear()
        self.batches.owners.clear()
        self.batches.results.clear()
        self.latency = 0.0

    def add_account(self, name: str, api_key: str | None = None) -> Account:
        account = Account(
            id=secrets.token_hex(5),
            api_key=api_key or f"{secrets.token_hex(16)}-{self.dc}",
            name=name,
            email=f"owner-{secrets.token_hex(3)}@sandbox.test",
        )
        self.accounts[account.id] = account
        return account

    def describe(self, base_url: str) -> dict[str, Any]:
        base = base_url + self.prefix
        return {
            "api_base_url": f"{base}/3.0",
            "api_endpoint": base,
            "oauth_base_url": f"{base}/oauth2",
            "oauth_client_id": self.oauth.client_id,
            "oauth_client_secret": self.oauth.client_secret,
            "dc": self.dc,
            "api_key": self.accounts[self.default_account].api_key,
            "max_connections_per_account": MAX_CONNECTIONS,
            "webhook_signing_secrets": [],
            "webhooks": "audience webhooks are unsigned (protect them with a secret path)",
        }

    def routes(self) -> list[BaseRoute]:
        p = self.prefix
        return [
            Route(f"{p}/oauth2/authorize", self.oauth.authorize, methods=["GET"]),
            Route(f"{p}/oauth2/token", self.oauth.token, methods=["POST"]),
            Route(f"{p}/oauth2/metadata", self.oauth.metadata, methods=["GET"]),
            Route(f"{p}/_batch_results/{{id}}.tar.gz", self.batches.result, methods=["GET"]),
            Route("/_sandbox/mailchimp/accounts", self.create_account, methods=["POST"]),
            Route("/_sandbox/mailchimp/config", self.configure, methods=["POST"]),
            Route(
                f"{p}/3.0/{{rest:path}}",
                self.handle,
                methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            ),
        ]

    def _authenticate(self, request: Request) -> Account:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        scheme = scheme.lower()
        if scheme == "basic":
            try:
                key = base64.b64decode(value).decode().split(":", 1)[1]
            except (ValueError, IndexError, UnicodeDecodeError):
                key = ""
            for account in self.accounts.values():
                if key and secrets.compare_digest(key.encode(), account.api_key.encode()):
                    return account
        elif scheme in ("bearer", "oauth"):
            account_id = self.oauth.tokens.get(value.strip())
            if account_id is not None:
                return self.accounts[account_id]
        else:
            raise McError(401, "API Key Missing", "Your request did not include an API key.")
        raise McError(
            401,
            "API Key Invalid",
            "Your API key may be invalid, or you've attempted to access the wrong datacenter.",
        )

    async def handle(self, request: Request) -> Response:
        try:
            account = self._authenticate(request)
        except McError as exc:
            return problem(exc)
        if account.in_flight >= MAX_CONNECTIONS:
            return problem(
                McError(
                    429,
                    "Too Many Requests",
                    f"You have exceeded the limit of {MAX_CONNECTIONS} simultaneous connections.",
                )
            )
        account.in_flight += 1
        try:
            if self.latency:
                await asyncio.sleep(self.latency)
            raw = await request.body()
            try:
                body = json.loads(raw) if raw else {}
            except ValueError:
                return problem(
                    McError(
                        400, "JSON Parse Error", "We encountered an unspecified JSON parsing error."
                    )
                )
            path = "/" + request.path_params["rest"]
            status, answer = self.call(
                account,
                request.method,
                path,
                dict(request.query_params),
                body,
                str(request.base_url).rstrip("/"),
            )
        finally:
            account.in_flight -= 1
        if status == 204:
            return Response(status_code=204)
        return JSONResponse(answer, status_code=status)

    def call(
        self,
        account: Account,
        method: str,
        path: str,
        query: dict[str, str],
        body: Any,
        base_url: str,
    ) -> tuple[int, dict[str, Any]]:
        """One API operation (also what ``/batches`` runs for each of its operations)."""
        try:
            if path.rstrip("/") == "" and method == "GET":
                return 200, {
                    "account_id": account.id,
                    "login_id": str(account.user_id),
                    "account_name": account.name,
                    "email": account.email,
                    "role": "owner",
                    "total_subscribers": account.audience.subscribed(),
                }
            if path.rstrip("/") == "/ping" and method == "GET":
                return 200, {"health_status": "Everything's Chimpy!"}
            if path.rstrip("/").startswith("/batches"):
                return 200, self.batches.route(account, method, path, query, body, base_url)
            return account.audience.route(method, path.rstrip("/"), query, body)
        except McError as exc:
            response = problem(exc)
            return exc.status, json.loads(bytes(response.body))

    async def create_account(self, request: Request) -> Response:
        if not has_key(request, self.secret_key):
            return JSONResponse({"error": "the sandbox's own key is required"}, status_code=401)
        data = await request.json()
        account = self.add_account(str(data.get("name") or "Sandbox venue"))
        return JSONResponse({"id": account.id, "api_key": account.api_key, "dc": self.dc})

    async def configure(self, request: Request) -> Response:
        """Test control: a delay per API request (to hold connections open)."""
        if not has_key(request, self.secret_key):
            return JSONResponse({"error": "the sandbox's own key is required"}, status_code=401)
        data = await request.json()
        self.latency = float(data.get("latency", 0.0))
        return JSONResponse({"latency": self.latency})
