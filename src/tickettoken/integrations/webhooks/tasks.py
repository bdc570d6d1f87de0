"""The ``webhook`` job, one implementation per provider (``provider_dispatcher`` in the
service table): load the stored delivery, apply it, mark it.

The row is locked for the whole job and the effect and the new status commit together, so a
delivery is applied once however many jobs name it (a retry after a crash, a requeue): a row
already ``processed`` or ``ignored`` is left alone. An exception rolls the effect back; the row
is then marked ``failed`` with the error in its own transaction and the job engine retries.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.integrations.webhooks import effects
from tickettoken.kit.jobs import JobContext, PermanentJobError, RetryableJobError

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Delivery:
    """The stored delivery an applier works on (its row id keys the jobs it enqueues)."""

    id: uuid.UUID
    venue: uuid.UUID | None
    kind: str
    payload: dict[str, Any]


# (session, delivery) -> (status, note)
Applier = Callable[[AsyncSession, Delivery], Awaitable[tuple[str, str]]]

STRIPE_REFUND_TYPES = ("refund.created", "refund.updated", "charge.refund.updated")
SQUARE_PULLED = ("catalog.version.updated", "customer.created", "customer.updated")
SQUARE_INVENTORY = "inventory.count.updated"


async def _stripe(session: AsyncSession, d: Delivery) -> tuple[str, str]:
    obj = (d.payload.get("data") or {}).get("object") or {}
    event_id = d.payload.get("id")
    event_id = event_id if isinstance(event_id, str) else None
    if d.kind in STRIPE_REFUND_TYPES:
        return "processed", await effects.enqueue_stripe_refunds(
            session, d.venue, d.id, event_id, [obj]
        )
    if d.kind == "charge.refunded":
        refunds = ((obj.get("refunds") or {}).get("data")) or []
        if not refunds:
            return "processed", "refunds arrive as refund.* events"
        return "processed", await effects.enqueue_stripe_refunds(
            session, d.venue, d.id, event_id, refunds
        )
    return "ignored", f"no effect for {d.kind}"


async def _pull(session: AsyncSession, d: Delivery, provider: str) -> tuple[str, str]:
    """A change the next incremental sync pulls, unless it echoes the sync's own write."""
    echo = await effects.is_echo(session, d.venue, provider, d.payload)
    if echo is not None:
        return "ignored", echo
    return "processed", await effects.mark_for_sync(session, d.venue, provider)


async def _square(session: AsyncSession, d: Delivery) -> tuple[str, str]:
    if d.kind in SQUARE_PULLED:
        return await _pull(session, d, "square")
    if d.kind == SQUARE_INVENTORY:  # box-office sales and returns: the event service's jobs
        return "processed", await effects.apply_square_inventory(session, d.venue, d.payload)
    return "ignored", f"no effect for {d.kind}"


async def _quickbooks(session: AsyncSession, d: Delivery) -> tuple[str, str]:
    return await _pull(session, d, "quickbooks")


async def _mailchimp(session: AsyncSession, d: Delivery) -> tuple[str, str]:
    if d.kind == "unsubscribe":  # audience webhook: this venue's customer
        data = d.payload.get("data") or {}
        return "processed", await effects.enqueue_unsubscribe(
            session, d.venue, d.id, data.get("email"), "mailchimp", d.payload.get("fired_at")
        )
    if d.kind == "mandrill.unsub":  # transactional mail of the platform: every venue
        email = (d.payload.get("msg") or {}).get("email")
        return "processed", await effects.enqueue_unsubscribe(
            session, None, d.id, email, "mandrill", d.payload.get("ts")
        )
    return "ignored", f"no effect for {d.kind}"


APPLIERS: dict[str, Applier] = {
    "stripe": _stripe,
    "square": _square,
    "quickbooks": _quickbooks,
    "mailchimp": _mailchimp,
}

_LOCK = text(
    "SELECT id, venue_id, integration_type, event_type, payload, status"
    " FROM integration_webhooks WHERE id = :id FOR UPDATE"
)
_MARK = text(
    "UPDATE integration_webhooks SET status = :status, error = :error,"
    " processed_at = CASE WHEN :status IN ('processed', 'ignored') THEN now() END"
    " WHERE id = :id"
)


async def process_webhook(ctx: JobContext) -> dict[str, Any]:
    try:
        webhook_id = uuid.UUID(str(ctx.payload.get("webhook_id")))
    except ValueError as exc:
        raise PermanentJobError("webhook job needs a webhook_id") from exc
    try:
        async with ctx.database.transaction() as session:
            row = (await session.execute(_LOCK, {"id": webhook_id})).first()
            if row is None:
                raise PermanentJobError(f"no stored webhook {webhook_id}")
            if row.status in ("processed", "ignored"):
                return {"webhook_id": str(webhook_id), "status": row.status, "skipped": True}
            applier = APPLIERS.get(row.integration_type)
            if applier is None:
                raise PermanentJobError(f"no webhook applier for {row.integration_type}")
            delivery = Delivery(row.id, row.venue_id, row.event_type, row.payload)
            status, note = await applier(session, delivery)
            await session.execute(
                _MARK,
                {
                    "id": webhook_id,
                    "status": status,
                    "error": None if status == "processed" else note,
                },
            )
    except PermanentJobError:
        raise
    except Exception as exc:  # the effect rolled back; record why and let the engine retry
        await _mark_failed(ctx, webhook_id, _reason(exc))
        raise RetryableJobError(f"webhook {webhook_id} failed: {type(exc).__name__}") from exc
    log.info("webhook_applied", webhook_id=str(webhook_id), status=status, note=note)
    return {"webhook_id": str(webhook_id), "status": status, "note": note}


def _reason(exc: Exception) -> str:
    """A short reason for the row (the events page shows it): the database's own message
    without the statement or its parameters."""
    cause = getattr(exc, "orig", None) or exc
    first = (str(cause).splitlines() or [""])[0]
    fields = [
        f"{d.get('field')}: {d.get('message')}"
        for d in getattr(exc, "details", None) or []
        if isinstance(d, dict)
    ]
    reason = f"{type(exc).__name__}: {first.rsplit('>: ', 1)[-1]}"
    return (f"{reason} ({'; '.join(fields)})" if fields else reason)[:500]


async def _mark_failed(ctx: JobContext, webhook_id: uuid.UUID, error: str) -> None:
    async with ctx.database.transaction() as session:
        await session.execute(
            text(
                "UPDATE integration_webhooks SET status = 'failed', error = :error"
                " WHERE id = :id AND status NOT IN ('processed', 'ignored')"
            ),
            {"id": webhook_id, "error": error},
        )


def implementations() -> dict[str, Callable[[JobContext], Awaitable[dict[str, Any]]]]:
    """provider -> the ``webhook`` job implementation (every provider shares the loader)."""
    return {provider: process_webhook for provider in APPLIERS}
