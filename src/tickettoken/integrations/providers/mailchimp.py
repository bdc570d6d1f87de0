"""Mailchimp Marketing through a small client of our own over httpx.

Why not the SDK: ``mailchimp-marketing`` (Mailchimp's generated Python client) is synchronous
(``requests``), has had no release since 2022, and would need a thread per call; the few endpoints
the platform uses are simple JSON, so an async client of our own is smaller than the wrapper
around the SDK would be.

Hosts: OAuth (``/oauth2/authorize``, ``/oauth2/token``, ``/oauth2/metadata``) on
``MAILCHIMP_BASE_URL`` (login.mailchimp.com); the API on the account's data centre,
``MAILCHIMP_API_BASE_URL`` with ``{dc}`` replaced (``https://us6.api.mailchimp.com``), or, for an
OAuth connection, the ``api_endpoint`` its metadata answered. Auth: an API key ``<key>-<dc>`` as
HTTP Basic (any user name), an OAuth token as Bearer. OAuth tokens never expire and there is no
refresh grant. Mailchimp allows 10 simultaneous connections per account: the limiter key is
``mailchimp:<account id>`` (or a hash of the key) with 10 concurrency slots, and a 429 is retried.
Writes are upserts (``PUT`` member by the MD5 of the lower-cased e-mail; batch subscribe with
``update_existing``), so a retry never duplicates.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

import httpx

from tickettoken.integrations.providers.base import (
    ConnectionCheck,
    Credentials,
    OAuthRefused,
    ProviderError,
    TokenGrant,
)
from tickettoken.integrations.providers.calls import (
    CallRunner,
    account_key,
    parse_retry_after,
    redact,
)
from tickettoken.integrations.providers.http_calls import json_or_empty, send

MAX_BATCH_MEMBERS = 500


def member_hash(email: str) -> str:
    """Mailchimp's subscriber hash: MD5 of the lower-cased address (an id, not security)."""
    return hashlib.md5(email.strip().lower().encode(), usedforsecurity=False).hexdigest()


def key_dc(api_key: str) -> str | None:
    """The data centre of an API key ``<key>-<dc>``."""
    _, sep, dc = api_key.rpartition("-")
    return dc if sep and dc else None


class MailchimpProvider:
    name = "mailchimp"
    auth_kinds = frozenset({"api_key", "oauth"})

    def __init__(
        self,
        *,
        client_id: str | None,
        client_secret: str | None,
        oauth_base_url: str,
        api_base_url: str,
        http: httpx.AsyncClient,
        runner: CallRunner | None = None,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.oauth_base_url = oauth_base_url.rstrip("/")
        self.api_base_url = api_base_url.rstrip("/")
        self.http = http
        self.runner = runner or CallRunner("mailchimp")

    # -- requests -----------------------------------------------------------------------------

    def _api_root(self, credentials: Credentials) -> str:
        endpoint = credentials.extras.get("api_endpoint")
        if credentials.access_token and endpoint:
            return endpoint.rstrip("/") + "/3.0"
        dc = credentials.extras.get("dc") or (
            key_dc(credentials.api_key) if credentials.api_key else None
        )
        if not dc:
            raise ProviderError(
                "Mailchimp API key must end with its data centre (<key>-<dc>)",
                code="invalid_api_key",
                provider=self.name,
                status=401,
            )
        return self.api_base_url.replace("{dc}", dc) + "/3.0"

    @staticmethod
    def _auth(credentials: Credentials) -> httpx.Auth | None:
        if credentials.api_key:
            return httpx.BasicAuth("tickettoken", credentials.api_key)
        return None

    @staticmethod
    def _headers(credentials: Credentials) -> dict[str, str]:
        if credentials.api_key:
            return {}
        if not credentials.access_token:
            raise ProviderError("no Mailchimp API key or token", provider="mailchimp", status=401)
        return {"Authorization": f"Bearer {credentials.access_token}"}

    def _limiter_key(self, credentials: Credentials) -> str:
        account = credentials.extras.get("account_id")
        if account:
            return f"mailchimp:{account}"
        return account_key("mailchimp", credentials.api_key or credentials.access_token or "")

    async def request(
        self,
        credentials: Credentials,
        endpoint: str,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        safe: bool | None = None,
    ) -> Any:
        """One API call (``path`` below ``/3.0``); the answer's JSON, or ``ProviderError``."""
        response = await send(
            self.runner,
            self.http,
            endpoint,
            method,
            self._api_root(credentials) + path,
            limiter_key=self._limiter_key(credentials),
            venue_id=credentials.venue_id,
            safe=safe,
            json=json,
            params=params,
            headers=self._headers(credentials),
            auth=self._auth(credentials),
        )
        body = json_or_empty(response)
        if response.status_code >= 400:
            error = self._error(response.status_code, body, credentials)
            error.retry_after = parse_retry_after(response.headers.get("retry-after"))
            raise error
        return body

    def _error(self, status: int, body: Any, credentials: Credentials) -> ProviderError:
        body = body if isinstance(body, dict) else {}
        title = str(body.get("title") or f"HTTP {status}")
        detail = str(body.get("detail") or title)
        secrets = (credentials.api_key, credentials.access_token, self.client_secret)
        return ProviderError(
            redact(detail, secrets),
            status=status,
            code=title,
            retryable=status == 429 or status >= 500,
            provider=self.name,
            details={"errors": body["errors"]} if body.get("errors") else None,
        )

    # -- Provider ---------------------------------------------------------------------------

    def _app(self) -> tuple[str, str]:
        if not self.client_id or not self.client_secret:
            raise ProviderError(
                "Mailchimp OAuth is not configured (MAILCHIMP_CLIENT_ID, MAILCHIMP_CLIENT_SECRET)",
                provider=self.name,
            )
        return self.client_id, self.client_secret

    def authorize_url(self, *, state: str, redirect_uri: str) -> str:
        client_id, _ = self._app()
        query = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "state": state,
        }
        return f"{self.oauth_base_url}/oauth2/authorize?{urlencode(query)}"

    async def exchange_code(
        self, *, code: str, redirect_uri: str, callback_params: Mapping[str, str]
    ) -> TokenGrant:
        if callback_params.get("error"):
            raise OAuthRefused(str(callback_params["error"]), provider=self.name)
        client_id, client_secret = self._app()
        form = {
            "grant_type": "authorization_code",
            "client_id": client_id,
            "client_secret": client_secret,
            "redirect_uri": redirect_uri,
            "code": code,
        }
        response = await send(
            self.runner,
            self.http,
            "oauth.token",
            "POST",
            f"{self.oauth_base_url}/oauth2/token",
            limiter_key="mailchimp:oauth",
            data=form,
        )
        body = json_or_empty(response)
        if response.status_code >= 400 or not body.get("access_token"):
            error = str(body.get("error") or "invalid_grant")
            raise OAuthRefused(error, status=response.status_code, provider=self.name)
        token = str(body["access_token"])
        metadata = await self.metadata(token)
        extras = {
            "dc": str(metadata["dc"]),
            "api_endpoint": str(metadata["api_endpoint"]),
        }
        login = metadata.get("login") or {}
        account = metadata.get("user_id") or login.get("login_id")
        if account is not None:
            extras["account_id"] = str(account)
        if metadata.get("accountname"):
            extras["account_name"] = str(metadata["accountname"])
        scope = body.get("scope")
        return TokenGrant(
            access_token=token,
            refresh_token=None,
            expires_at=None,  # Mailchimp tokens never expire
            refresh_expires_at=None,
            scopes=tuple(str(scope).split()) if scope else (),
            extras=extras,
        )

    async def metadata(self, access_token: str) -> dict[str, Any]:
        """The account behind an OAuth token: ``dc``, ``api_endpoint``, ``accountname``..."""
        response = await send(
            self.runner,
            self.http,
            "oauth.metadata",
            "GET",
            f"{self.oauth_base_url}/oauth2/metadata",
            limiter_key="mailchimp:oauth",
            headers={"Authorization": f"OAuth {access_token}"},
        )
        body = json_or_empty(response)
        if response.status_code >= 400 or not body.get("dc"):
            raise ProviderError(
                "Mailchimp metadata refused the token",
                status=response.status_code,
                code=str(body.get("error") or "invalid_token"),
                provider=self.name,
            )
        result: dict[str, Any] = body
        return result

    async def refresh(self, *, refresh_token: str) -> TokenGrant:
        raise OAuthRefused(
            "unsupported_grant_type",
            "Mailchimp tokens never expire and have no refresh token",
            provider=self.name,
        )

    async def check(self, credentials: Credentials) -> ConnectionCheck:
        started = time.perf_counter()
        try:
            root = await self.request(credentials, "account", "GET", "/")
        except ProviderError as exc:
            return ConnectionCheck(
                False, _since(started), detail=exc.message, status=exc.status, code=exc.code
            )
        return ConnectionCheck(
            True,
            _since(started),
            account_id=str(root.get("account_id")) if root.get("account_id") else None,
            account_name=root.get("account_name"),
            status=200,
        )

    async def prepare(self) -> None:
        """Nothing to read ahead for this provider (QuickBooks reads its discovery document)."""

    async def aclose(self) -> None:
        await self.http.aclose()

    # -- API calls the sync needs -------------------------------------------------------------

    async def ping(self, credentials: Credentials) -> dict[str, Any]:
        result: dict[str, Any] = await self.request(credentials, "ping", "GET", "/ping")
        return result

    async def lists(
        self, credentials: Credentials, *, count: int = 100, offset: int = 0
    ) -> list[dict[str, Any]]:
        body = await self.request(
            credentials, "lists.list", "GET", "/lists", params={"count": count, "offset": offset}
        )
        return list(body.get("lists", []))

    async def create_list(self, credentials: Credentials, fields: Mapping[str, Any]) -> Any:
        return await self.request(credentials, "lists.create", "POST", "/lists", json=dict(fields))

    async def upsert_member(
        self,
        credentials: Credentials,
        list_id: str,
        email: str,
        fields: Mapping[str, Any] | None = None,
        *,
        status_if_new: str = "subscribed",
    ) -> dict[str, Any]:
        """``PUT`` by subscriber hash: creates or updates, never duplicates (safe to retry)."""
        body = {"email_address": email, "status_if_new": status_if_new, **dict(fields or {})}
        result: dict[str, Any] = await self.request(
            credentials,
            "members.upsert",
            "PUT",
            f"/lists/{list_id}/members/{member_hash(email)}",
            json=body,
            safe=True,
        )
        return result

    async def list_members(
        self, credentials: Credentials, list_id: str, *, count: int = 100, offset: int = 0
    ) -> dict[str, Any]:
        result: dict[str, Any] = await self.request(
            credentials,
            "members.list",
            "GET",
            f"/lists/{list_id}/members",
            params={"count": count, "offset": offset},
        )
        return result

    async def batch_subscribe(
        self,
        credentials: Credentials,
        list_id: str,
        members: Sequence[Mapping[str, Any]],
        *,
        update_existing: bool = True,
    ) -> dict[str, Any]:
        """``POST /lists/{id}`` with at most 500 members; with ``update_existing`` an upsert."""
        if len(members) > MAX_BATCH_MEMBERS:
            raise ValueError(f"at most {MAX_BATCH_MEMBERS} members per batch subscribe")
        result: dict[str, Any] = await self.request(
            credentials,
            "lists.batch_subscribe",
            "POST",
            f"/lists/{list_id}",
            json={"members": [dict(m) for m in members], "update_existing": update_existing},
            safe=update_existing,
        )
        return result


def _since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
