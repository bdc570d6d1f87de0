"""The gateway's route table (SPEC section 7): which service owns a prefix and which routes are
public (time budgets: ``resilience/timeouts.py``).

Paths are kept as they are: ``/api/v1/integrations/x`` goes to the integration service as
``/api/v1/integrations/x`` (AUDIT: the original rewrote to singular paths that 404).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

API_PREFIX = "/api/v1/"

# First path segment after /api/v1/ -> service short name (the names of SERVICE_PORTS).
SERVICE_BY_PREFIX: dict[str, str] = {
    # the event service owns these (SPEC section 1); venues go to VENUE_SERVICE_URL, which
    # defaults to the event service
    "events": "event",
    "venues": "venue",
    "reservations": "event",
    "orders": "event",
    "customers": "event",
    "reports": "event",
    "notifications": "event",
    "users": "event",
    "integrations": "integration",
    "queue": "queue",
    # services of the wider platform, reached through their configured URLs
    "auth": "auth",
    "tickets": "ticket",
    "payments": "payment",
    "checkout": "payment",
    "webhooks": "payment",
    "marketplace": "marketplace",
    "analytics": "analytics",
    "compliance": "compliance",
    "search": "search",
    "files": "file",
    "monitoring": "monitoring",
    "blockchain": "blockchain",
    "nft": "minting",
    "minting": "minting",
    "transfers": "transfer",
    "scanning": "scanning",
}

# Routes open without a token: auth's login/register/refresh, provider webhooks, OAuth callbacks
# and health. Each entry is (methods or None for any, pattern on the path).
_PUBLIC_ROUTES: tuple[tuple[frozenset[str] | None, re.Pattern[str]], ...] = (
    (frozenset({"POST"}), re.compile(r"^/api/v1/auth/(login|register|refresh)/?$")),
    (None, re.compile(r"^/api/v1/integrations/webhooks/(square|stripe|mailchimp|quickbooks)/?$")),
    # Mailchimp audience webhooks carry their secret in the path (never ``.../events``)
    (None, re.compile(r"^/api/v1/integrations/webhooks/mailchimp/(?!events/?$)[^/]+/?$")),
    (None, re.compile(r"^/api/v1/integrations/oauth/callback/[^/]+/?$")),
    (None, re.compile(r"^/api/v1/webhooks(/.*)?$")),
    (frozenset({"GET", "HEAD"}), re.compile(r"^/api/v1/[^/]+/health(/ready)?/?$")),
)


@dataclass(frozen=True)
class RouteMatch:
    """Where a request goes: the prefix it matched and the owning service."""

    prefix: str
    service: str


def match_route(path: str) -> RouteMatch | None:
    """The owning service of an /api/v1 path, or None when no service owns the prefix."""
    if not path.startswith(API_PREFIX):
        return None
    return _MATCHES.get(path[len(API_PREFIX) :].split("/", 1)[0])


# One match per prefix, made once (this runs on every proxied request).
_MATCHES = {prefix: RouteMatch(prefix, service) for prefix, service in SERVICE_BY_PREFIX.items()}

# Every public route is under one of these prefixes or is a health check: anything else is
# answered without trying the patterns (this runs on every proxied request).
_PUBLIC_HINTS = ("/api/v1/auth/", "/api/v1/integrations/", "/api/v1/webhooks")


def is_public(method: str, path: str) -> bool:
    if not path.startswith(_PUBLIC_HINTS) and "/health" not in path:
        return False
    return any(
        (methods is None or method in methods) and pattern.match(path)
        for methods, pattern in _PUBLIC_ROUTES
    )
