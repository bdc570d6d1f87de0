"""QuickBooks Online through a small client of our own over httpx.

Why not an SDK: Intuit's ``intuit-oauth`` and the community ``python-quickbooks`` are synchronous
(``requests``) and Intuit publishes no maintained Python Accounting SDK; the platform needs OAuth,
a query, entity create/update/read and batch, which are plain JSON over one URL scheme.

OAuth follows Intuit's discovery document (``QUICKBOOKS_DISCOVERY_URL``): the authorize page on
appcenter.intuit.com, the token endpoint on oauth.platform.intuit.com with HTTP Basic client
authentication. The redirect carries ``realmId`` (kept as ``realm_id``). Access tokens live one
hour; refresh tokens rotate on refresh, so the caller must persist the new one before anything
else uses it (Intuit keeps the previous one valid for a while, which is what saves a refresh whose
answer was lost); a used-up or expired one is ``OAuthRefused("invalid_grant")``.

The API (``QUICKBOOKS_BASE_URL`` + ``/v3/company/{realm}/...``) is limited per company (500/min,
10/s): limiter key ``quickbooks:<realm>``; batch requests, of which Intuit allows 40 a minute per
company, take ``quickbooks-batch:<realm>`` instead. Writes carry ``requestid`` (made once per
logical call), which QuickBooks uses to answer a retried request with the first answer instead of
writing twice.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
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
from tickettoken.integrations.providers.calls import CallRunner, parse_retry_after, redact
from tickettoken.integrations.providers.http_calls import json_or_empty, send

SCOPE = "com.intuit.quickbooks.accounting"
MINOR_VERSION = "75"
MAX_BATCH = 30


class QuickBooksProvider:
    name = "quickbooks"
    auth_kinds = frozenset({"oauth"})

    def __init__(
        self,
        *,
        client_id: str | None,
        client_secret: str | None,
        base_url: str,
        discovery_url: str,
        http: httpx.AsyncClient,
        runner: CallRunner | None = None,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.base_url = base_url.rstrip("/")
        self.discovery_url = discovery_url
        self.http = http
        self.runner = runner or CallRunner("quickbooks")
        self._discovery: dict[str, Any] | None = None

    # -- discovery ----------------------------------------------------------------------------

    async def prepare(self) -> None:
        """Read the discovery document (call once after building; ``authorize_url`` is sync)."""
        if self._discovery is None:
            response = await send(
                self.runner,
                self.http,
                "oauth.discovery",
                "GET",
                self.discovery_url,
                limiter_key="quickbooks:oauth",
            )
            self._discovery = self._parse_discovery(response)

    def _parse_discovery(self, response: httpx.Response) -> dict[str, Any]:
        if response.status_code != 200:
            raise ProviderError(
                "QuickBooks discovery document unavailable",
                status=response.status_code,
                retryable=True,
                provider=self.name,
            )
        document: dict[str, Any] = response.json()
        return document

    def _endpoint(self, name: str) -> str:
        if self._discovery is None:
            # authorize_url cannot await: fetch once, blocking (prepare() avoids this).
            with httpx.Client(timeout=5.0) as client:
                self._discovery = self._parse_discovery(client.get(self.discovery_url))
        return str(self._discovery[name])

    def _app(self) -> tuple[str, str]:
        if not self.client_id or not self.client_secret:
            raise ProviderError(
                "QuickBooks is not configured (QUICKBOOKS_CLIENT_ID, QUICKBOOKS_CLIENT_SECRET)",
                provider=self.name,
            )
        return self.client_id, self.client_secret

    # -- Provider ---------------------------------------------------------------------------

    def authorize_url(self, *, state: str, redirect_uri: str) -> str:
        client_id, _ = self._app()
        query = {
            "client_id": client_id,
            "response_type": "code",
            "scope": SCOPE,
            "redirect_uri": redirect_uri,
            "state": state,
        }
        return f"{self._endpoint('authorization_endpoint')}?{urlencode(query)}"

    async def _token(
        self, endpoint: str, form: dict[str, str], secret: str, extras: dict[str, str]
    ) -> TokenGrant:
        client_id, client_secret = self._app()
        await self.prepare()
        response = await send(
            self.runner,
            self.http,
            endpoint,
            "POST",
            self._endpoint("token_endpoint"),
            limiter_key="quickbooks:oauth",
            data=form,
            auth=httpx.BasicAuth(client_id, client_secret),
            headers={"Accept": "application/json"},
        )
        body = json_or_empty(response)
        if response.status_code >= 400 or not body.get("access_token"):
            error = str(body.get("error") or "invalid_grant")
            description = body.get("error_description")
            message = redact(str(description), (secret, client_secret)) if description else None
            raise OAuthRefused(error, message, status=response.status_code, provider=self.name)
        now = datetime.now(UTC)
        expires_in = body.get("expires_in")
        refresh_in = body.get("x_refresh_token_expires_in")
        return TokenGrant(
            access_token=str(body["access_token"]),
            refresh_token=body.get("refresh_token"),
            expires_at=now + timedelta(seconds=int(expires_in)) if expires_in else None,
            refresh_expires_at=now + timedelta(seconds=int(refresh_in)) if refresh_in else None,
            scopes=(SCOPE,),
            extras=extras,
        )

    async def exchange_code(
        self, *, code: str, redirect_uri: str, callback_params: Mapping[str, str]
    ) -> TokenGrant:
        if callback_params.get("error"):
            raise OAuthRefused(str(callback_params["error"]), provider=self.name)
        realm = callback_params.get("realmId") or callback_params.get("realm_id")
        if not realm:
            raise OAuthRefused("invalid_request", "the callback has no realmId", provider=self.name)
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        return await self._token("oauth.token", form, code, {"realm_id": str(realm)})

    async def refresh(self, *, refresh_token: str) -> TokenGrant:
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        return await self._token("oauth.refresh", form, refresh_token, {})

    async def revoke(self, token: str) -> None:
        """End the grant (either token revokes the whole connection at Intuit)."""
        client_id, client_secret = self._app()
        await self.prepare()
        await send(
            self.runner,
            self.http,
            "oauth.revoke",
            "POST",
            self._endpoint("revocation_endpoint"),
            limiter_key="quickbooks:oauth",
            json={"token": token},
            auth=httpx.BasicAuth(client_id, client_secret),
            safe=True,
        )

    async def check(self, credentials: Credentials) -> ConnectionCheck:
        started = time.perf_counter()
        try:
            body = await self.company_info(credentials)
        except ProviderError as exc:
            return ConnectionCheck(
                False, _since(started), detail=exc.message, status=exc.status, code=exc.code
            )
        info = body.get("CompanyInfo", {})
        return ConnectionCheck(
            True,
            _since(started),
            account_id=str(info.get("Id") or _realm(credentials)),
            account_name=info.get("CompanyName"),
            status=200,
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    # -- API ----------------------------------------------------------------------------------

    async def request(
        self,
        credentials: Credentials,
        endpoint: str,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        content: str | None = None,
        request_id: str | None = None,
    ) -> dict[str, Any]:
        """One call below ``/v3/company/{realm}``; a POST always carries a ``requestid``."""
        realm = _realm(credentials)
        if not credentials.access_token:
            raise ProviderError("no QuickBooks access token", provider=self.name, status=401)
        query = {"minorversion": MINOR_VERSION, **dict(params or {})}
        if method == "POST":
            query["requestid"] = request_id or uuid.uuid4().hex
        headers = {
            "Authorization": f"Bearer {credentials.access_token}",
            "Accept": "application/json",
        }
        if content is not None:
            headers["Content-Type"] = "application/text"
        response = await send(
            self.runner,
            self.http,
            endpoint,
            method,
            f"{self.base_url}/v3/company/{realm}{path}",
            limiter_key=f"quickbooks-batch:{realm}" if path == "/batch" else f"quickbooks:{realm}",
            venue_id=credentials.venue_id,
            safe=True,  # GETs, and POSTs with a requestid QuickBooks deduplicates
            params=query,
            json=json,
            content=content,
            headers=headers,
        )
        body = json_or_empty(response)
        if response.status_code >= 400:
            error = self._error(response.status_code, body, credentials)
            error.retry_after = parse_retry_after(response.headers.get("retry-after"))
            raise error
        result: dict[str, Any] = body
        return result

    def _error(self, status: int, body: Any, credentials: Credentials) -> ProviderError:
        fault = (body.get("Fault") or body.get("fault") or {}) if isinstance(body, dict) else {}
        errors = fault.get("Error") or fault.get("error") or [{}]
        first = errors[0] if errors else {}
        code = first.get("code")
        message = first.get("Detail") or first.get("detail") or first.get("Message")
        message = message or first.get("message") or f"QuickBooks answered {status}"
        if "ThrottleExceeded" in str(first.get("Message") or first.get("message") or ""):
            code = "ThrottleExceeded"
        return ProviderError(
            redact(str(message), (credentials.access_token, self.client_secret)),
            status=status,
            code=str(code) if code is not None else None,
            retryable=status == 429 or status >= 500,
            provider=self.name,
            details={"type": fault.get("type")} if fault.get("type") else None,
        )

    async def company_info(self, credentials: Credentials) -> dict[str, Any]:
        realm = _realm(credentials)
        return await self.request(credentials, "companyinfo", "GET", f"/companyinfo/{realm}")

    async def query(
        self,
        credentials: Credentials,
        statement: str,
        *,
        start_position: int | None = None,
        max_results: int | None = None,
    ) -> dict[str, Any]:
        """``select * from Customer where ...``; paging appended as QuickBooks expects."""
        text = statement
        if start_position is not None:
            text += f" STARTPOSITION {start_position}"
        if max_results is not None:
            text += f" MAXRESULTS {max_results}"
        body = await self.request(credentials, "query", "GET", "/query", params={"query": text})
        result: dict[str, Any] = body.get("QueryResponse", {})
        return result

    async def read(self, credentials: Credentials, entity: str, object_id: str) -> dict[str, Any]:
        body = await self.request(
            credentials, f"{entity.lower()}.read", "GET", f"/{entity.lower()}/{object_id}"
        )
        result: dict[str, Any] = body[entity]
        return result

    async def create(
        self,
        credentials: Credentials,
        entity: str,
        fields: Mapping[str, Any],
        *,
        request_id: str | None = None,
    ) -> dict[str, Any]:
        """Create an ``Item``, ``Customer``, ``Invoice``... (``entity`` as QuickBooks spells it)."""
        body = await self.request(
            credentials,
            f"{entity.lower()}.create",
            "POST",
            f"/{entity.lower()}",
            json=dict(fields),
            request_id=request_id,
        )
        result: dict[str, Any] = body[entity]
        return result

    async def update(
        self,
        credentials: Credentials,
        entity: str,
        fields: Mapping[str, Any],
        *,
        sparse: bool = True,
        request_id: str | None = None,
    ) -> dict[str, Any]:
        """Update by ``Id`` with the current ``SyncToken`` (a stale one is a 400 fault)."""
        payload = {**dict(fields), **({"sparse": True} if sparse else {})}
        body = await self.request(
            credentials,
            f"{entity.lower()}.update",
            "POST",
            f"/{entity.lower()}",
            json=payload,
            request_id=request_id,
        )
        result: dict[str, Any] = body[entity]
        return result

    async def batch(
        self,
        credentials: Credentials,
        items: Sequence[Mapping[str, Any]],
        *,
        request_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Up to 30 operations (``{"bId", "operation", "<Entity>": {...}}`` or ``{"bId",
        "Query"}``); each answer has its ``bId`` and either the entity or a ``Fault``."""
        if len(items) > MAX_BATCH:
            raise ValueError(f"at most {MAX_BATCH} operations per QuickBooks batch")
        body = await self.request(
            credentials,
            "batch",
            "POST",
            "/batch",
            json={"BatchItemRequest": [dict(i) for i in items]},
            request_id=request_id,
        )
        return list(body.get("BatchItemResponse", []))


def _realm(credentials: Credentials) -> str:
    realm = credentials.extras.get("realm_id") or credentials.extras.get("realmId")
    if not realm:
        raise ProviderError("QuickBooks connection has no realm_id", provider="quickbooks")
    return str(realm)


def _since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
