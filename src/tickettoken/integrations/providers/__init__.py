"""The integration service's provider clients: Square, Stripe, Mailchimp, QuickBooks.

``build_provider(name, settings, limiter=, observer=)`` answers one client that implements
``base.Provider`` (authorize URL, code exchange, refresh, live check) plus the typed API calls the
sync uses. Stripe and Square wrap their official async SDKs; Mailchimp and QuickBooks are our own
small httpx clients (their SDKs are synchronous; see each module). Every HTTP request of every
client goes through one ``httpx.AsyncClient`` per provider whose transport takes a slot of the
shared provider rate limiter (``tickettoken.kit.provider_limits``; pass the process's limiter, or
each provider gets a private in-memory one), reports a ``CallRecord`` to ``observer``, and is
retried by ``calls.CallRunner`` (429/5xx, backoff with jitter, ``Retry-After``).

Build a provider once per process and ``await provider.aclose()`` at shutdown. QuickBooks reads
its discovery document in ``await provider.prepare()`` (every provider has it; a no-op elsewhere);
without it the first ``authorize_url`` fetches the document synchronously.
"""

from __future__ import annotations

import httpx

from tickettoken.integrations.providers.base import (
    ConnectionCheck,
    Credentials,
    OAuthRefused,
    Provider,
    ProviderError,
    TokenGrant,
)
from tickettoken.integrations.providers.calls import (
    CallObserver,
    CallRecord,
    CallRunner,
    RetryPolicy,
    limited_client,
    venue_scope,
)
from tickettoken.integrations.providers.mailchimp import MailchimpProvider
from tickettoken.integrations.providers.quickbooks import QuickBooksProvider
from tickettoken.integrations.providers.square_client import SquareProvider
from tickettoken.integrations.providers.stripe_client import StripeProvider
from tickettoken.kit.provider_limits import RateLimiter
from tickettoken.kit.settings import Settings

PROVIDERS: tuple[str, ...] = ("square", "stripe", "mailchimp", "quickbooks")

__all__ = [
    "PROVIDERS",
    "CallObserver",
    "CallRecord",
    "ConnectionCheck",
    "Credentials",
    "MailchimpProvider",
    "OAuthRefused",
    "Provider",
    "ProviderError",
    "QuickBooksProvider",
    "RetryPolicy",
    "SquareProvider",
    "StripeProvider",
    "TokenGrant",
    "build_provider",
    "oauth_redirect_uri",
    "venue_scope",
]


def oauth_redirect_uri(settings: Settings, provider: str) -> str:
    """The platform's OAuth callback for ``provider`` (SPEC 5.2), under ``API_URL``."""
    return f"{settings.api_url.rstrip('/')}/api/v1/integrations/oauth/callback/{provider}"


def build_provider(
    name: str,
    settings: Settings,
    *,
    limiter: RateLimiter | None = None,
    observer: CallObserver | None = None,
    retry: RetryPolicy | None = None,
    timeout: float = 30.0,
    limiter_max_wait: float | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Provider:
    """The client of provider ``name`` configured from ``settings``; unknown name: KeyError.

    ``limiter``: the process's shared provider limiter (``build_rate_limiter(settings)``);
    ``observer``: awaited with a ``CallRecord`` after every HTTP attempt; ``retry``: the retry
    policy (tests shorten it); ``limiter_max_wait``: the longest wait for a limiter slot
    (default: the limiter's own); ``transport``: the innermost httpx transport (tests)."""
    if name not in PROVIDERS:
        raise KeyError(name)
    http = limited_client(
        name, limiter, observer, timeout=timeout, inner=transport, max_wait=limiter_max_wait
    )
    runner = CallRunner(name, retry or RetryPolicy())
    provider: Provider
    if name == "stripe":
        provider = StripeProvider(
            secret_key=settings.stripe_secret_key,
            base_url=settings.stripe_base_url,
            connect_base_url=settings.stripe_connect_base_url,
            connect_client_id=settings.stripe_connect_client_id,
            http=http,
            runner=runner,
        )
    elif name == "square":
        provider = SquareProvider(
            app_id=settings.square_app_id,
            app_secret=settings.square_app_secret,
            base_url=settings.square_base_url,
            http=http,
            runner=runner,
        )
    elif name == "mailchimp":
        provider = MailchimpProvider(
            client_id=settings.mailchimp_client_id,
            client_secret=settings.mailchimp_client_secret,
            oauth_base_url=settings.mailchimp_base_url,
            api_base_url=settings.mailchimp_api_base_url,
            http=http,
            runner=runner,
        )
    else:
        provider = QuickBooksProvider(
            client_id=settings.quickbooks_client_id,
            client_secret=settings.quickbooks_client_secret,
            base_url=settings.quickbooks_base_url,
            discovery_url=settings.quickbooks_discovery_url,
            http=http,
            runner=runner,
        )
    return provider
