"""The three queues, their tables and durability, the job-type catalogue and retry policies.

Kept as data in one place (SPEC section 6) so that enqueue, the worker and the queue service's
routes agree on which type goes where and how often it is retried.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

BackoffKind = Literal["exponential", "fixed"]

MAX_BACKOFF_SECONDS = 3600.0
NOTIFY_CHANNEL = "tickettoken_jobs"

JOB_STATUSES = ("queued", "active", "completed", "failed", "cancelled", "dead")
PRIORITY_HIGHEST = 1
PRIORITY_LOWEST = 10
PRIORITY_DEFAULT = 5


@dataclass(frozen=True)
class Backoff:
    """How long to wait before attempt ``n + 1`` after attempt ``n`` failed."""

    kind: BackoffKind
    delay_seconds: float

    def delay_after(self, attempt: int) -> float:
        if self.kind == "fixed":
            return self.delay_seconds
        return float(min(self.delay_seconds * (2.0 ** max(attempt - 1, 0)), MAX_BACKOFF_SECONDS))

    def to_json(self) -> dict[str, object]:
        return {"type": self.kind, "delay_ms": int(self.delay_seconds * 1000)}

    @classmethod
    def from_json(cls, data: object) -> Backoff:
        if isinstance(data, dict) and data.get("type") in ("exponential", "fixed"):
            kind: BackoffKind = "exponential" if data["type"] == "exponential" else "fixed"
            return cls(kind, float(data.get("delay_ms", 1000)) / 1000)
        return cls("fixed", 5.0)


@dataclass(frozen=True)
class Tier:
    """A queue: its table and the durability promise it keeps (ARCHITECTURE.md)."""

    queue: str
    number: int
    table: str
    max_attempts: int
    backoff: Backoff
    synchronous_commit: bool
    store_results: bool  # results kept in idempotency_keys so a repeat returns them


TIERS: dict[str, Tier] = {
    "money": Tier("money", 1, "jobs_money", 10, Backoff("exponential", 2.0), True, True),
    "communication": Tier(
        "communication", 2, "jobs_communication", 3, Backoff("fixed", 5.0), False, True
    ),
    "background": Tier("background", 3, "jobs_background", 2, Backoff("fixed", 10.0), False, False),
}
QUEUES = tuple(TIERS)

# Job type -> queue (SPEC section 6). Integration jobs are durable sends: communication tier.
JOB_TYPES: dict[str, str] = {
    "payment-process": "money",
    "refund-process": "money",
    "payout-process": "money",
    "nft-mint": "money",
    "send-email": "communication",
    "send-sms": "communication",
    "send-push": "communication",
    "analytics-track": "background",
    "cleanup-old-data": "background",
    "generate-report": "background",
    "sync": "communication",
    "webhook": "communication",
    # Seats sold at a box office (Square), taken from the platform's inventory by the event
    # service. Durable (a logged table), and the tier of the ``webhook`` job that enqueues it,
    # so both commit in one transaction; not money: no money moves, the sale was paid at the
    # box office. Its own idempotency (``box_office_sales.idempotency_key``) makes a rerun safe.
    "box-office-sale": "communication",
    # Seats of a box-office sale given back (a Square refund, or the sale's order cancelled).
    "box-office-return": "communication",
    # Webhook effects on the event service's records, enqueued by the ``webhook`` job in its
    # transaction (hence its tier): a refund the provider made, counted on its order through
    # the orders module; a marketing unsubscribe, applied through the customers module. No
    # money moves (the provider already refunded), so not the money tier; each is idempotent
    # on its own record (the refund id, the consent already cleared).
    "provider-refund": "communication",
    "marketing-unsubscribe": "communication",
}

# Types that are allowed in any queue (benchmarks and tests of the engine itself).
ANY_QUEUE_TYPES = frozenset({"noop"})


def tier_for(queue: str) -> Tier:
    try:
        return TIERS[queue]
    except KeyError:
        raise KeyError(f"unknown queue {queue!r}; one of {', '.join(QUEUES)}") from None
