"""What every provider client offers the integration service, whatever SDK or client it wraps.

The connection code (OAuth, vault, refresh, health) talks to four very different APIs through this
one interface: an authorize URL, a code exchange, a refresh, and a live connection check. Grants
and credentials never show their secrets in ``repr`` (they end up in tracebacks and logs), and the
errors carry a provider's status and code but never a token, key or secret in their message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class TokenGrant:
    """What an OAuth code exchange or refresh answered."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_at: datetime | None  # access-token expiry, UTC; None: never expires
    refresh_expires_at: datetime | None
    scopes: tuple[str, ...]
    extras: dict[str, str]  # realm_id, merchant_id, dc, api_endpoint, stripe_user_id


@dataclass(frozen=True)
class Credentials:
    """What a live call needs: an OAuth access token or an API key, and the connection's extras
    (``realm_id`` for QuickBooks, ``dc``/``api_endpoint`` for Mailchimp, ``merchant_id``...).
    ``venue_id`` (optional) is reported to the call observer."""

    access_token: str | None = field(default=None, repr=False)
    api_key: str | None = field(default=None, repr=False)
    extras: Mapping[str, str] = field(default_factory=dict)
    venue_id: str | None = None


@dataclass(frozen=True)
class ConnectionCheck:
    """The answer of one live call that proves the credentials work."""

    ok: bool
    elapsed_ms: float
    account_id: str | None = None
    account_name: str | None = None
    detail: str | None = None
    status: int | None = None  # the provider's HTTP status when it answered
    code: str | None = None  # the provider's error code when ok is False


class ProviderError(Exception):
    """A provider call failed. ``retryable`` says whether trying again later may succeed (rate
    limits, 5xx, network); ``code`` is the provider's own error code (``card_declined``,
    ``RATE_LIMITED``, ``ThrottleExceeded``...); ``retry_after`` the provider's Retry-After in
    seconds, when it sent one. The message never contains a secret."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        retryable: bool = False,
        provider: str | None = None,
        details: Mapping[str, Any] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.retryable = retryable
        self.provider = provider
        self.details: dict[str, Any] = dict(details or {})
        # Seconds the provider asked us to wait (Retry-After) when it refused for load; set when
        # the wait was longer than the retry policy waits in-line, for the job queue to honour.
        self.retry_after = retry_after

    def __str__(self) -> str:
        where = f"{self.provider}: " if self.provider else ""
        facts = [f"HTTP {self.status}"] if self.status is not None else []
        facts += [self.code] if self.code else []
        return f"{where}{self.message}" + (f" ({', '.join(facts)})" if facts else "")


class OAuthRefused(ProviderError):
    """The authorization server refused a grant: ``error`` is OAuth's code (``invalid_grant`` for
    a used, revoked or expired code or refresh token; ``access_denied``, ``invalid_client``...)."""

    def __init__(self, error: str, message: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("code", error)
        super().__init__(message or f"OAuth refused: {error}", **kwargs)
        self.error = error


@runtime_checkable
class Provider(Protocol):
    name: str  # "stripe" | "square" | "mailchimp" | "quickbooks"
    auth_kinds: frozenset[str]  # {"api_key"} / {"oauth"} / {"api_key", "oauth"}

    def authorize_url(self, *, state: str, redirect_uri: str) -> str: ...

    async def exchange_code(
        self, *, code: str, redirect_uri: str, callback_params: Mapping[str, str]
    ) -> TokenGrant: ...

    async def refresh(self, *, refresh_token: str) -> TokenGrant: ...

    async def check(self, credentials: Credentials) -> ConnectionCheck: ...

    async def aclose(self) -> None: ...

    # Added to the agreed interface: read what the client needs before the first synchronous
    # ``authorize_url`` (QuickBooks' discovery document); a no-op for the other providers.
    async def prepare(self) -> None: ...
