"""One module per job type of SPEC section 6; ``register_all`` puts them in a registry."""

from __future__ import annotations

from tickettoken.kit.jobs import JobRegistry
from tickettoken.queue.handlers import (
    analytics,
    cleanup,
    email,
    integration,
    nft,
    noop,
    payments,
    push,
    reports,
    sms,
)

MODULES = (payments, nft, email, sms, push, analytics, cleanup, reports, integration, noop)


def register_all(registry: JobRegistry) -> JobRegistry:
    for module in MODULES:
        module.register(registry)
    return registry
