"""Who may enqueue which job type through the API, and what each role sees of a job.

Enqueue (issue 7; docs/decisions/queue-service.md, "Who may enqueue what"):

| job types | roles (API) |
|---|---|
| payment-process, refund-process, payout-process, nft-mint | service |
| send-email, send-sms, send-push | service, admin |
| cleanup-old-data, generate-report | service, admin |
| analytics-track, sync, webhook | service, admin, venue_admin (own venue) |

The platform itself enqueues money jobs in the transaction of the business write that causes
them (``kit.jobs.enqueue``, no HTTP involved), so no user role, ``admin`` included, creates one:
admins refund through the event service's ``POST /api/v1/orders/{id}/refund``.

Money jobs cannot be cancelled through the API (their outcome must come from the provider, or
an order would show a refund that never happens); failed or dead ones may be retried or requeued
by ``service``/``admin`` (same payload, same idempotency key, so the provider deduplicates).

Reading: ``monitoring`` sees that jobs exist (ids, types, states, counts, timings) and the kind
of error, never payloads, results, idempotency keys or error texts (they name customers' email
addresses and payment intents); a venue admin sees its own venues' jobs only.
"""

from __future__ import annotations

from typing import Any

from tickettoken.kit.auth import Principal, Role
from tickettoken.kit.errors import Conflict, Forbidden
from tickettoken.kit.jobs.catalog import JOB_TYPES
from tickettoken.queue.access import allow

MONEY_TYPES = frozenset(t for t, queue in JOB_TYPES.items() if queue == "money")
COMMUNICATION_TYPES = frozenset({"send-email", "send-sms", "send-push"})
OPERATIONS_TYPES = frozenset({"cleanup-old-data", "generate-report"})
VENUE_TYPES = frozenset({"analytics-track", "sync", "webhook"})

ENQUEUERS: dict[str, frozenset[Role]] = {
    **dict.fromkeys(MONEY_TYPES, frozenset({Role.SERVICE})),
    **dict.fromkeys(COMMUNICATION_TYPES, frozenset({Role.SERVICE, Role.ADMIN})),
    **dict.fromkeys(OPERATIONS_TYPES, frozenset({Role.SERVICE, Role.ADMIN})),
    **dict.fromkeys(VENUE_TYPES, frozenset({Role.SERVICE, Role.ADMIN, Role.VENUE_ADMIN})),
}

# Single jobs with their payload and result: not monitoring.
PAYLOAD_READERS = allow(Role.SERVICE, Role.VENUE_ADMIN)
# Every job's payload in lists and dead letters: the operators.
PAYLOAD_ROLES = frozenset({Role.ADMIN, Role.SERVICE, Role.VENUE_ADMIN})

_SUMMARY_FIELDS = (
    "job_id",
    "queue",
    "type",
    "status",
    "priority",
    "attempts",
    "max_attempts",
    "venue_id",
    "run_at",
    "created_at",
    "updated_at",
    "started_at",
    "finished_at",
    "id",
    "failed_at",
    "requeued_at",
    "failures",
    "last_failed_at",
)


def check_may_enqueue(principal: Principal, job_type: str) -> None:
    """403 unless the caller's role may create jobs of this type through the API."""
    roles = ENQUEUERS.get(job_type)
    if roles is None or principal.role not in roles:
        raise Forbidden(f"The {principal.role.value} role may not create {job_type} jobs")


def check_may_cancel(job_type: str) -> None:
    if job_type in MONEY_TYPES:
        raise Conflict(
            "Money jobs cannot be cancelled; their outcome comes from the provider"
            " (cancel or refund the order through the event service)"
        )


def error_kind(error: str | None) -> str | None:
    """The class of an error without its text ("PermanentJobError: recipients refused...")."""
    if not error:
        return error
    return error.split(":", 1)[0].strip()[:100]


def visible(principal: Principal, item: dict[str, Any]) -> dict[str, Any]:
    """A job, dead letter or failure group as the caller may see it."""
    if principal.role in PAYLOAD_ROLES:
        return item
    shown = {key: item[key] for key in _SUMMARY_FIELDS if key in item}
    if "last_error" in item:
        shown["last_error"] = error_kind(item["last_error"])
    return shown
