"""Where each provider's webhook secret and signed URL come from.

Settings first (STRIPE_WEBHOOK_SECRET, SQUARE_WEBHOOK_SIGNATURE_KEY, MANDRILL_WEBHOOK_KEY,
QUICKBOOKS_WEBHOOK_TOKEN, MAILCHIMP_WEBHOOK_SECRET). In development only, a secret that is not
set is derived from SANDBOX_SECRET_KEY exactly as the sandbox derives its own (``tickettoken up``
sets that key), so the local loop verifies without configuration. Elsewhere a missing secret
refuses every delivery of that provider (401), it never accepts unsigned ones.

The URLs Square and Mandrill sign are configured, never taken from the request's Host header
(a proxy or an attacker chooses that): SQUARE_WEBHOOK_URL / MANDRILL_WEBHOOK_URL, by default
API_URL (the public gateway) + the route's path.
"""

from __future__ import annotations

import os

from tickettoken.kit.settings import Environment, Settings
from tickettoken.sandbox.credentials import derived

WEBHOOK_PATH = "/api/v1/integrations/webhooks"

# Setting name -> the sandbox's derivation (purpose, length); see tickettoken.sandbox.
_DEVELOPMENT = {
    "stripe_webhook_secret": ("stripe-webhook-secret", 32),
    "square_webhook_signature_key": ("square-webhook-signature-key", 22),
    "mandrill_webhook_key": ("mandrill-webhook-key", 22),
    "quickbooks_webhook_token": ("qbo-webhook-verifier", 36),
    "mailchimp_webhook_secret": ("mailchimp-webhook-secret", 32),
}


def webhook_secret(settings: Settings, name: str) -> str | None:
    value = getattr(settings, name, None)
    if value:
        return str(value)
    sandbox_key = os.environ.get("SANDBOX_SECRET_KEY")
    if settings.environment is not Environment.DEVELOPMENT or not sandbox_key:
        return None
    purpose, length = _DEVELOPMENT[name]
    secret = derived(sandbox_key, purpose, length)
    return f"whsec_{secret}" if name == "stripe_webhook_secret" else secret


def square_notification_url(settings: Settings) -> str:
    return settings.square_webhook_url or f"{settings.api_url.rstrip('/')}{WEBHOOK_PATH}/square"


def mandrill_url(settings: Settings) -> str:
    return (
        settings.mandrill_webhook_url or f"{settings.api_url.rstrip('/')}{WEBHOOK_PATH}/mailchimp"
    )


def mailchimp_webhook_url(settings: Settings, token: str) -> str:
    """The audience webhook URL to register for a venue (its token from ``mailchimp_token``)."""
    return f"{settings.api_url.rstrip('/')}{WEBHOOK_PATH}/mailchimp/{token}"
