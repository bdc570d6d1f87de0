"""The settings that point the platform at a sandbox: what ``tickettoken up`` gives the services
for every provider the environment does not configure itself.

Read from the providers' own ``describe`` (the same document ``GET /`` serves), so the client ids,
secrets and base URLs the platform uses are always the ones the sandbox started with the same key
derives; nothing here repeats a derivation.
"""

from __future__ import annotations

from tickettoken.sandbox.app import SandboxOptions, _providers


def platform_env(sandbox_url: str, secret_key: str) -> dict[str, dict[str, str]]:
    """Per provider, the environment variables that connect the platform to this sandbox."""
    index = {
        provider.name: provider.describe(sandbox_url)
        for provider in _providers(secret_key, SandboxOptions())
    }
    stripe, mailchimp = index["stripe"], index["mailchimp"]
    square, quickbooks = index["square"], index["quickbooks"]
    return {
        "stripe": {
            "STRIPE_SECRET_KEY": secret_key,
            "STRIPE_BASE_URL": stripe["api_base_url"],
            "STRIPE_CONNECT_BASE_URL": stripe["oauth_base_url"],
            "STRIPE_CONNECT_CLIENT_ID": stripe["connect_client_id"],
        },
        "mailchimp": {
            "MAILCHIMP_CLIENT_ID": mailchimp["oauth_client_id"],
            "MAILCHIMP_CLIENT_SECRET": mailchimp["oauth_client_secret"],
            "MAILCHIMP_BASE_URL": mailchimp["api_endpoint"],
            "MAILCHIMP_API_BASE_URL": mailchimp["api_endpoint"],
        },
        "square": {
            "SQUARE_APP_ID": square["application_id"],
            "SQUARE_APP_SECRET": square["application_secret"],
            "SQUARE_BASE_URL": square["api_base_url"],
            "SQUARE_WEBHOOK_SIGNATURE_KEY": square["webhook_signature_key"],
        },
        "quickbooks": {
            "QUICKBOOKS_CLIENT_ID": quickbooks["client_id"],
            "QUICKBOOKS_CLIENT_SECRET": quickbooks["client_secret"],
            "QUICKBOOKS_BASE_URL": quickbooks["api_base_url"].removesuffix("/v3"),
            "QUICKBOOKS_DISCOVERY_URL": quickbooks["discovery_url"],
            "QUICKBOOKS_WEBHOOK_TOKEN": quickbooks["webhook_verifier_token"],
        },
    }


# The variable whose presence means the environment configures that provider itself.
CONFIGURED_BY = {
    "stripe": "STRIPE_SECRET_KEY",
    "mailchimp": "MAILCHIMP_CLIENT_ID",
    "square": "SQUARE_APP_ID",
    "quickbooks": "QUICKBOOKS_CLIENT_ID",
}
