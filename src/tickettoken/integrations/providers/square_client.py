"""Square through its official SDK (``squareup`` 46, ``AsyncSquare``).

The SDK is maintained, async and generated from Square's API definition, so its request and
response models are exact; it is pointed at ``SQUARE_BASE_URL`` and sends through our limited
httpx client. Its built-in retries are off (``max_retries: 0`` on every request): ours hold a
limiter slot per attempt and honour ``Retry-After``. Square takes idempotency keys in request
bodies (``idempotency_key`` of catalog batch-upsert and customer create; bulk customer create
takes one per entry as the entry's map key), made once per logical call so every retry sends the
same one. Limiter key: ``square:<merchant_id>`` when known.

OAuth: ``/oauth2/authorize`` (same host as the API), ``ObtainToken`` for the code and refresh
grants; access tokens live 30 days and come with ``merchant_id``; in the code flow a refresh
answers the same refresh token. Square refuses a bad code or refresh token with 401
``UNAUTHORIZED``, which ``exchange_code``/``refresh`` turn into ``OAuthRefused("invalid_grant")``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlencode

import httpx
from square import AsyncSquare
from square.core.api_error import ApiError

from tickettoken.integrations.providers.base import (
    ConnectionCheck,
    Credentials,
    OAuthRefused,
    ProviderError,
    TokenGrant,
)
from tickettoken.integrations.providers.calls import CallRunner, parse_retry_after, redact
from tickettoken.integrations.providers.square_catalog import CatalogUpserted, batch_upsert_ids
from tickettoken.integrations.providers.square_customers import CustomerWritten, bulk_write

T = TypeVar("T")

NO_SDK_RETRIES: Any = {"max_retries": 0}
SCOPES = (
    "MERCHANT_PROFILE_READ",
    "ITEMS_READ",
    "ITEMS_WRITE",
    "CUSTOMERS_READ",
    "CUSTOMERS_WRITE",
    "ORDERS_READ",
    "ORDERS_WRITE",
    "PAYMENTS_READ",
    "PAYMENTS_WRITE",
    "INVENTORY_READ",
    "INVENTORY_WRITE",
)


class SquareProvider:
    name = "square"
    auth_kinds = frozenset({"oauth"})

    def __init__(
        self,
        *,
        app_id: str | None,
        app_secret: str | None,
        base_url: str,
        http: httpx.AsyncClient,
        runner: CallRunner | None = None,
        scopes: Sequence[str] = SCOPES,
    ) -> None:
        self.app_id = app_id
        self.app_secret = app_secret
        self.base_url = base_url.rstrip("/")
        self.http = http
        self.runner = runner or CallRunner("square")
        self.scopes = tuple(scopes)

    def sdk(self, token: str | None) -> AsyncSquare:
        """An ``AsyncSquare`` for one access token (``None`` for the OAuth endpoints)."""
        return AsyncSquare(base_url=self.base_url, token=token or None, httpx_client=self.http)

    def _app(self) -> tuple[str, str]:
        if not self.app_id or not self.app_secret:
            raise ProviderError(
                "Square is not configured (SQUARE_APP_ID, SQUARE_APP_SECRET)", provider=self.name
            )
        return self.app_id, self.app_secret

    async def call(
        self,
        endpoint: str,
        operation: Callable[[AsyncSquare], Awaitable[T]],
        credentials: Credentials,
        *,
        safe: bool = True,
    ) -> T:
        """One SDK operation for a connected seller. ``safe``: a read, or a write whose body
        carries an idempotency key."""
        token = credentials.access_token
        if not token:
            raise ProviderError("no Square access token", provider=self.name, status=401)
        sdk = self.sdk(token)
        merchant = credentials.extras.get("merchant_id")
        try:
            return await self.runner.run(
                endpoint,
                lambda: operation(sdk),
                limiter_key=f"square:{merchant}" if merchant else "square",
                venue_id=credentials.venue_id,
                safe=safe,
            )
        except ApiError as exc:
            raise self._error(exc, token) from exc
        except httpx.TransportError as exc:
            raise _unreachable(exc) from exc

    def _error(self, exc: ApiError, *secrets: str | None) -> ProviderError:
        first = exc.errors[0] if exc.errors else None
        code = first.code if first else None
        detail = (first.detail if first else None) or f"Square answered {exc.status_code}"
        status = exc.status_code
        return ProviderError(
            redact(str(detail), (*secrets, self.app_secret)),
            status=status,
            code=code,
            retryable=status is None or status == 429 or status >= 500,
            provider=self.name,
            details={"category": first.category} if first and first.category else None,
            retry_after=parse_retry_after(
                {k.lower(): v for k, v in (exc.headers or {}).items()}.get("retry-after")
            ),
        )

    # -- Provider ---------------------------------------------------------------------------

    def authorize_url(self, *, state: str, redirect_uri: str) -> str:
        client_id, _ = self._app()
        query = {
            "client_id": client_id,
            "scope": " ".join(self.scopes),
            "session": "false",
            "state": state,
            "redirect_uri": redirect_uri,
        }
        return f"{self.base_url}/oauth2/authorize?{urlencode(query)}"

    async def _token(self, endpoint: str, secret: str, **grant: str) -> TokenGrant:
        client_id, client_secret = self._app()
        sdk = self.sdk(None)
        try:
            answer = await self.runner.run(
                endpoint,
                lambda: sdk.o_auth.obtain_token(
                    client_id=client_id,
                    client_secret=client_secret,
                    request_options=NO_SDK_RETRIES,
                    **grant,
                ),
                limiter_key="square",
            )
        except ApiError as exc:
            error = self._error(exc, secret)
            if exc.status_code in (400, 401):
                raise OAuthRefused(
                    "invalid_grant", error.message, status=exc.status_code, provider=self.name
                ) from exc
            raise error from exc
        except httpx.TransportError as exc:
            raise _unreachable(exc) from exc
        extras = {"merchant_id": str(answer.merchant_id)} if answer.merchant_id else {}
        return TokenGrant(
            access_token=str(answer.access_token),
            refresh_token=answer.refresh_token,
            expires_at=_parse_time(answer.expires_at),
            refresh_expires_at=_parse_time(getattr(answer, "refresh_token_expires_at", None)),
            scopes=self.scopes,
            extras=extras,
        )

    async def exchange_code(
        self, *, code: str, redirect_uri: str, callback_params: Mapping[str, str]
    ) -> TokenGrant:
        if callback_params.get("error"):
            raise OAuthRefused(str(callback_params["error"]), provider=self.name)
        return await self._token(
            "oauth.token",
            code,
            grant_type="authorization_code",
            code=code,
            redirect_uri=redirect_uri,
        )

    async def refresh(self, *, refresh_token: str) -> TokenGrant:
        return await self._token(
            "oauth.refresh", refresh_token, grant_type="refresh_token", refresh_token=refresh_token
        )

    async def check(self, credentials: Credentials) -> ConnectionCheck:
        started = time.perf_counter()
        try:
            answer = await self.call(
                "merchants.me",
                lambda sdk: sdk.merchants.get("me", request_options=NO_SDK_RETRIES),
                credentials,
            )
        except ProviderError as exc:
            return ConnectionCheck(
                False, _since(started), detail=exc.message, status=exc.status, code=exc.code
            )
        merchant = answer.merchant
        return ConnectionCheck(
            True,
            _since(started),
            account_id=merchant.id if merchant else None,
            account_name=merchant.business_name if merchant else None,
            status=200,
        )

    async def prepare(self) -> None:
        """Nothing to read ahead for this provider (QuickBooks reads its discovery document)."""

    async def aclose(self) -> None:
        await self.http.aclose()

    # -- API calls the sync needs -------------------------------------------------------------

    async def catalog_batch_upsert(
        self,
        credentials: Credentials,
        batches: Sequence[Mapping[str, Any]],
        *,
        idempotency_key: str | None = None,
    ) -> Any:
        """Upsert up to 1,000 objects per batch (10,000 per request); ``#client`` ids map to
        Square's ids in ``id_mappings``."""
        key = idempotency_key or str(uuid.uuid4())
        return await self.call(
            "catalog.batch_upsert",
            lambda sdk: sdk.catalog.batch_upsert(
                idempotency_key=key,
                batches=list(batches),
                request_options=NO_SDK_RETRIES,
            ),
            credentials,
        )

    async def catalog_upsert_ids(
        self,
        credentials: Credentials,
        batches: Sequence[Mapping[str, Any]],
        *,
        idempotency_key: str | None = None,
    ) -> CatalogUpserted:
        """The sync's batch-upsert: plain JSON, only ids and versions read back (the SDK's
        model parsing of a large answer costs seconds: ``square_catalog``)."""
        return await batch_upsert_ids(self, credentials, batches, idempotency_key=idempotency_key)

    async def catalog_list(
        self, credentials: Credentials, *, types: str | None = None, cursor: str | None = None
    ) -> tuple[list[Any], str | None]:
        """One page of catalog objects and the cursor of the next (None at the end)."""
        pager = await self.call(
            "catalog.list",
            lambda sdk: sdk.catalog.list(
                types=types, cursor=cursor, request_options=NO_SDK_RETRIES
            ),
            credentials,
        )
        return list(pager.items or []), getattr(pager.response, "cursor", None)

    async def create_customer(
        self,
        credentials: Credentials,
        fields: Mapping[str, Any],
        *,
        idempotency_key: str | None = None,
    ) -> Any:
        key = idempotency_key or str(uuid.uuid4())
        answer = await self.call(
            "customers.create",
            lambda sdk: sdk.customers.create(
                idempotency_key=key, request_options=NO_SDK_RETRIES, **fields
            ),
            credentials,
        )
        return answer.customer

    async def update_customer(
        self, credentials: Credentials, customer_id: str, fields: Mapping[str, Any]
    ) -> Any:
        answer = await self.call(
            "customers.update",
            lambda sdk: sdk.customers.update(customer_id, request_options=NO_SDK_RETRIES, **fields),
            credentials,
            safe=False,
        )
        return answer.customer

    async def bulk_create_customers(
        self, credentials: Credentials, entries: Mapping[str, Mapping[str, Any]]
    ) -> dict[str, CustomerWritten]:
        """Up to 100 creates keyed by idempotency key; each key's id and version, or errors:
        one entry's refusal does not fail the others. Plain JSON (``square_customers``)."""
        return await bulk_write(self, credentials, "create", entries)

    async def bulk_update_customers(
        self, credentials: Credentials, entries: Mapping[str, Mapping[str, Any]]
    ) -> dict[str, CustomerWritten]:
        """Up to 100 updates keyed by customer id (fields with ``version``); each id's answer."""
        return await bulk_write(self, credentials, "update", entries)

    async def search_customers(
        self, credentials: Credentials, query: Mapping[str, Any], *, limit: int = 100
    ) -> list[Any]:
        answer = await self.call(
            "customers.search",
            lambda sdk: sdk.customers.search(
                query=dict(query),
                limit=limit,
                request_options=NO_SDK_RETRIES,
            ),
            credentials,
        )
        return list(answer.customers or [])

    async def create_order(
        self, credentials: Credentials, order: Mapping[str, Any], *, idempotency_key: str
    ) -> Any:
        answer = await self.call(
            "orders.create",
            lambda sdk: sdk.orders.create(
                order=dict(order),
                idempotency_key=idempotency_key,
                request_options=NO_SDK_RETRIES,
            ),
            credentials,
        )
        return answer.order

    async def create_payment(
        self, credentials: Credentials, fields: Mapping[str, Any], *, idempotency_key: str
    ) -> Any:
        """``fields``: CreatePayment's (``source_id``, ``amount_money``, ``order_id``, ...)."""
        answer = await self.call(
            "payments.create",
            lambda sdk: sdk.payments.create(
                idempotency_key=idempotency_key, request_options=NO_SDK_RETRIES, **fields
            ),
            credentials,
        )
        return answer.payment

    async def list_locations(self, credentials: Credentials) -> list[Any]:
        answer = await self.call(
            "locations.list",
            lambda sdk: sdk.locations.list(request_options=NO_SDK_RETRIES),
            credentials,
        )
        return list(answer.locations or [])


def _unreachable(exc: httpx.TransportError) -> ProviderError:
    return ProviderError(
        f"square unreachable: {type(exc).__name__}",
        code="network",
        retryable=True,
        provider="square",
    )


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
