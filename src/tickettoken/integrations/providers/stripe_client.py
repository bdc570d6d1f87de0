"""Stripe through its official SDK (``stripe`` 16, ``StripeClient`` with its async httpx client).

The SDK is maintained, typed and async, and it knows Stripe's form encoding, ``expand``, error
classes and Connect OAuth, so we use it rather than a client of our own. It is pointed at the
configured hosts (``STRIPE_BASE_URL`` for the API, ``STRIPE_CONNECT_BASE_URL`` for OAuth) and sends
through our limited httpx client. The SDK's own retries are off (``max_network_retries=0``): ours
(``calls.CallRunner``) honour ``Retry-After`` and ``Stripe-Should-Retry`` and hold a limiter slot
per attempt. Every write carries an ``Idempotency-Key`` made once per logical call, so a retry
replays instead of charging or creating twice. Limiter keys: the platform key shares the queue's
``stripe`` limiter (the same key, the same 25/s); any other key or Connect token has its own.

Connect OAuth: the authorize URL names ``STRIPE_CONNECT_CLIENT_ID``; the token endpoint takes the
platform's secret key; the access token is the connected account's secret key (it never expires;
``refresh`` still implements the ``refresh_token`` grant).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import httpx
import stripe

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

T = TypeVar("T")


class _LimitedHTTPX(stripe.HTTPXClient):
    """The SDK's httpx client, sending through our shared (limited, observed) httpx client."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        super().__init__()
        self._client_async = client

    def _get_request_args_kwargs(
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any
    ) -> Any:
        # The SDK hands over an encoded form body as ``data=``; httpx wants encoded bytes as
        # ``content=`` (``data=`` with a string is deprecated there).
        args, kwargs = super()._get_request_args_kwargs(method, url, headers, post_data)
        if isinstance(kwargs.get("data"), str | bytes):
            kwargs["content"] = kwargs.pop("data")
        elif not kwargs.get("data"):
            kwargs.pop("data", None)
        return args, kwargs


class StripeProvider:
    name = "stripe"
    auth_kinds = frozenset({"api_key", "oauth"})

    def __init__(
        self,
        *,
        secret_key: str | None,
        base_url: str,
        connect_base_url: str,
        connect_client_id: str | None,
        http: httpx.AsyncClient,
        runner: CallRunner | None = None,
    ) -> None:
        self.secret_key = secret_key
        self.base_url = base_url.rstrip("/")
        self.connect_base_url = connect_base_url.rstrip("/")
        self.connect_client_id = connect_client_id
        self.http = http
        self.runner = runner or CallRunner("stripe")
        self._sdk_http = _LimitedHTTPX(http)

    # -- the SDK client for one key ---------------------------------------------------------

    def client(self, api_key: str | None = None) -> stripe.StripeClient:
        """A ``StripeClient`` for ``api_key`` (default: the platform's secret key)."""
        key = api_key or self.secret_key
        if not key:
            raise ProviderError("Stripe is not configured (STRIPE_SECRET_KEY)", provider=self.name)
        return stripe.StripeClient(
            key,
            base_addresses={"api": self.base_url, "connect": self.connect_base_url},
            client_id=self.connect_client_id,
            max_network_retries=0,
            http_client=self._sdk_http,
        )

    def _limiter_key(self, key: str) -> str:
        return "stripe" if key == self.secret_key else account_key("stripe", key)

    @staticmethod
    def _key(credentials: Credentials | str | None) -> str | None:
        if credentials is None or isinstance(credentials, str):
            return credentials
        return credentials.api_key or credentials.access_token

    async def call(
        self,
        endpoint: str,
        operation: Callable[[stripe.StripeClient, Any], Awaitable[T]],
        credentials: Credentials | str | None = None,
        *,
        write: bool = False,
        idempotency_key: str | None = None,
        venue_id: str | None = None,
    ) -> T:
        """Run one SDK operation: ``operation(client, options)`` with request options that carry
        the idempotency key of a write (the same on every attempt)."""
        key = self._key(credentials) or self.secret_key
        client = self.client(key)
        options: dict[str, Any] = {}
        if write:
            options["idempotency_key"] = idempotency_key or f"tt-{uuid.uuid4()}"
        if venue_id is None and isinstance(credentials, Credentials):
            venue_id = credentials.venue_id
        try:
            return await self.runner.run(
                endpoint,
                lambda: operation(client, dict(options)),
                limiter_key=self._limiter_key(key or ""),
                venue_id=venue_id,
                safe=True,  # GETs, and writes with a stable Idempotency-Key
            )
        except stripe.StripeError as exc:
            raise self._error(exc, key) from exc

    def _error(self, exc: stripe.StripeError, *secrets: str | None) -> ProviderError:
        status = exc.http_status
        message = redact(exc.user_message or type(exc).__name__, (*secrets, self.secret_key))
        if isinstance(exc, stripe.oauth_error.OAuthError):
            return OAuthRefused(
                str(exc.code or "invalid_request"), message, status=status, provider=self.name
            )
        body = exc.json_body.get("error", {}) if isinstance(exc.json_body, dict) else {}
        details = {
            k: body[k]
            for k in ("type", "param", "decline_code", "doc_url")
            if isinstance(body, dict) and body.get(k) is not None
        }
        retryable = status is None or status == 429 or status >= 500
        network = isinstance(exc, stripe.APIConnectionError)
        return ProviderError(
            "stripe unreachable" if network else message,
            status=status,
            code="network" if network else exc.code,
            retryable=retryable,
            provider=self.name,
            details=details,
            retry_after=parse_retry_after((exc.headers or {}).get("retry-after")),
        )

    # -- Provider ---------------------------------------------------------------------------

    def authorize_url(self, *, state: str, redirect_uri: str) -> str:
        if not self.connect_client_id:
            raise ProviderError(
                "Stripe Connect is not configured (STRIPE_CONNECT_CLIENT_ID)", provider=self.name
            )
        params: Any = {
            "response_type": "code",
            "scope": "read_write",
            "state": state,
            "redirect_uri": redirect_uri,
        }
        return self.client().oauth.authorize_url(params)

    async def _token(self, endpoint: str, params: dict[str, str], secret: str) -> TokenGrant:
        platform = self.secret_key
        if not platform:
            raise ProviderError("Stripe is not configured (STRIPE_SECRET_KEY)", provider=self.name)
        client = self.client(platform)

        async def attempt() -> Any:
            return await client.raw_request_async("post", "/oauth/token", base="connect", **params)

        try:
            answer = await self.runner.run(endpoint, attempt, limiter_key="stripe", safe=False)
        except stripe.StripeError as exc:
            raise self._error(exc, secret) from exc
        data: dict[str, Any] = answer.data if hasattr(answer, "data") else dict(answer)
        extras = {
            k: str(data[k])
            for k in ("stripe_user_id", "stripe_publishable_key", "livemode", "token_type")
            if data.get(k) is not None
        }
        return TokenGrant(
            access_token=str(data["access_token"]),
            refresh_token=data.get("refresh_token"),
            expires_at=None,  # Connect access tokens do not expire
            refresh_expires_at=None,
            scopes=tuple(str(data.get("scope") or "").split()),
            extras=extras,
        )

    async def exchange_code(
        self, *, code: str, redirect_uri: str, callback_params: Mapping[str, str]
    ) -> TokenGrant:
        if callback_params.get("error"):
            raise OAuthRefused(str(callback_params["error"]), provider=self.name)
        params = {"grant_type": "authorization_code", "code": code}
        return await self._token("oauth.token", params, code)

    async def refresh(self, *, refresh_token: str) -> TokenGrant:
        params = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        return await self._token("oauth.refresh", params, refresh_token)

    async def check(self, credentials: Credentials) -> ConnectionCheck:
        key = self._key(credentials)
        started = _now()
        if not key:
            return ConnectionCheck(False, 0.0, detail="no API key or access token")
        try:
            account = await self.call(
                "account.retrieve",
                lambda c, o: c.v1.accounts.retrieve_current_async(options=o),
                credentials,
            )
        except ProviderError as exc:
            return ConnectionCheck(
                False, _since(started), detail=exc.message, status=exc.status, code=exc.code
            )
        profile = getattr(account, "business_profile", None)
        name = getattr(profile, "name", None) if profile is not None else None
        return ConnectionCheck(
            True,
            _since(started),
            account_id=account.id,
            account_name=name or getattr(account, "email", None),
            status=200,
        )

    async def prepare(self) -> None:
        """Nothing to read ahead for this provider (QuickBooks reads its discovery document)."""

    async def aclose(self) -> None:
        await self.http.aclose()

    # -- API calls the sync needs -------------------------------------------------------------

    async def create_product(
        self, credentials: Credentials, params: Mapping[str, Any], *, idempotency_key: str
    ) -> stripe.Product:
        return await self.call(
            "products.create",
            lambda c, o: c.v1.products.create_async(dict(params), options=o),  # type: ignore[arg-type]
            credentials,
            write=True,
            idempotency_key=idempotency_key,
        )

    async def update_product(
        self, credentials: Credentials, product_id: str, params: Mapping[str, Any]
    ) -> stripe.Product:
        return await self.call(
            "products.update",
            lambda c, o: c.v1.products.update_async(product_id, dict(params), options=o),  # type: ignore[arg-type]
            credentials,
            write=True,
        )

    async def search_products(
        self, credentials: Credentials, query: str, *, limit: int = 100
    ) -> list[stripe.Product]:
        result = await self.call(
            "products.search",
            lambda c, o: c.v1.products.search_async({"query": query, "limit": limit}, options=o),
            credentials,
        )
        return list(result.data)

    async def list_products(self, credentials: Credentials, *, limit: int = 100) -> list[Any]:
        result = await self.call(
            "products.list",
            lambda c, o: c.v1.products.list_async({"limit": limit}, options=o),
            credentials,
        )
        return list(result.data)

    async def create_price(
        self, credentials: Credentials, params: Mapping[str, Any], *, idempotency_key: str
    ) -> stripe.Price:
        return await self.call(
            "prices.create",
            lambda c, o: c.v1.prices.create_async(dict(params), options=o),  # type: ignore[arg-type]
            credentials,
            write=True,
            idempotency_key=idempotency_key,
        )

    async def list_prices(
        self, credentials: Credentials, *, product: str | None = None, limit: int = 100
    ) -> list[stripe.Price]:
        params: Any = {"limit": limit, **({"product": product} if product else {})}
        result = await self.call(
            "prices.list", lambda c, o: c.v1.prices.list_async(params, options=o), credentials
        )
        return list(result.data)

    async def create_customer(
        self, credentials: Credentials, params: Mapping[str, Any], *, idempotency_key: str
    ) -> stripe.Customer:
        return await self.call(
            "customers.create",
            lambda c, o: c.v1.customers.create_async(dict(params), options=o),  # type: ignore[arg-type]
            credentials,
            write=True,
            idempotency_key=idempotency_key,
        )

    async def update_customer(
        self, credentials: Credentials, customer_id: str, params: Mapping[str, Any]
    ) -> stripe.Customer:
        return await self.call(
            "customers.update",
            lambda c, o: c.v1.customers.update_async(customer_id, dict(params), options=o),  # type: ignore[arg-type]
            credentials,
            write=True,
        )

    async def search_customers(
        self, credentials: Credentials, query: str, *, limit: int = 100
    ) -> list[stripe.Customer]:
        result = await self.call(
            "customers.search",
            lambda c, o: c.v1.customers.search_async({"query": query, "limit": limit}, options=o),
            credentials,
        )
        return list(result.data)

    async def list_customers(
        self, credentials: Credentials, *, limit: int = 100, starting_after: str | None = None
    ) -> Any:
        params: Any = {"limit": limit}
        if starting_after:
            params["starting_after"] = starting_after
        return await self.call(
            "customers.list", lambda c, o: c.v1.customers.list_async(params, options=o), credentials
        )

    async def create_payment_intent(
        self, credentials: Credentials, params: Mapping[str, Any], *, idempotency_key: str
    ) -> stripe.PaymentIntent:
        return await self.call(
            "payment_intents.create",
            lambda c, o: c.v1.payment_intents.create_async(dict(params), options=o),  # type: ignore[arg-type]
            credentials,
            write=True,
            idempotency_key=idempotency_key,
        )

    async def retrieve_payment_intent(
        self, credentials: Credentials, intent_id: str, *, expand: list[str] | None = None
    ) -> stripe.PaymentIntent:
        params: Any = {"expand": expand} if expand else {}
        return await self.call(
            "payment_intents.retrieve",
            lambda c, o: c.v1.payment_intents.retrieve_async(intent_id, params, options=o),
            credentials,
        )

    async def confirm_payment_intent(
        self, credentials: Credentials, intent_id: str, params: Mapping[str, Any] | None = None
    ) -> stripe.PaymentIntent:
        return await self.call(
            "payment_intents.confirm",
            lambda c, o: c.v1.payment_intents.confirm_async(
                intent_id,
                dict(params or {}),  # type: ignore[arg-type]
                options=o,
            ),
            credentials,
            write=True,
        )

    async def retrieve_refund(self, credentials: Credentials, refund_id: str) -> stripe.Refund:
        return await self.call(
            "refunds.retrieve",
            lambda c, o: c.v1.refunds.retrieve_async(refund_id, options=o),
            credentials,
        )

    async def list_refunds(
        self, credentials: Credentials, *, payment_intent: str | None = None, limit: int = 100
    ) -> list[stripe.Refund]:
        params: Any = {
            "limit": limit,
            **({"payment_intent": payment_intent} if payment_intent else {}),
        }
        result = await self.call(
            "refunds.list", lambda c, o: c.v1.refunds.list_async(params, options=o), credentials
        )
        return list(result.data)

    async def create_refund(
        self, credentials: Credentials, params: Mapping[str, Any], *, idempotency_key: str
    ) -> stripe.Refund:
        return await self.call(
            "refunds.create",
            lambda c, o: c.v1.refunds.create_async(dict(params), options=o),  # type: ignore[arg-type]
            credentials,
            write=True,
            idempotency_key=idempotency_key,
        )


def _now() -> float:
    import time

    return time.perf_counter()


def _since(started: float) -> float:
    return (_now() - started) * 1000
