"""A refund the payment provider reports as made (a Stripe webhook, through the ``provider-refund``
job), counted on its order by the orders module (docs/decisions/money-integrity.md).

The job's payload is a claim, checked against the platform's records before anything counts:
the order paid by that payment intent (locked, as every refund path locks it first), of the
venue the delivery came from, in the order's currency, no more than the order still has
unrefunded. A refund already counted (its provider id on a ``succeeded`` row) counts nothing.
The platform's own pending refund (``POST /orders/{id}/refund``, whose ``refund-process`` job
is still to report), named by the refund's ``metadata.refund_id``, is confirmed rather than a
second row written (its job's callback then finds it confirmed); a refund made elsewhere (the
provider's dashboard) gets a row of its own. Rows are never matched by amount: two pending
refunds of one amount would be confused. Then the order's
``refunded_amount`` and status, a full refund's tickets, and an audit row. A claim that does not
hold changes nothing and is logged as ``money_result_anomaly``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.events.audit.service import (
    AuditRow,
    entity_snapshot,
    record_audits,
    system_context,
)
from tickettoken.events.orders import repository
from tickettoken.events.orders.models import (
    Order,
    OrderRefund,
    OrderStatus,
    RefundStatus,
    Ticket,
    TicketStatus,
)
from tickettoken.kit.jobs.payloads import ProviderRefund

log = structlog.get_logger(__name__)
CENTS = Decimal(100)


def _anomaly(claim: ProviderRefund, problem: str, **facts: object) -> str:
    log.error(
        "money_result_anomaly",
        job_type="provider-refund",
        problem=problem,
        provider=claim.provider,
        provider_refund_id=claim.provider_refund_id,
        **facts,
    )
    return "anomaly"


async def _order_of_intent(session: AsyncSession, intent: str) -> Order | None:
    order_id = (
        await session.execute(select(Order.id).where(Order.payment_intent_id == intent))
    ).scalar_one_or_none()
    return await repository.lock_order(session, order_id) if order_id else None


async def _locked_refund(session: AsyncSession, *where: Any) -> OrderRefund | None:
    found = await session.execute(
        select(OrderRefund)
        .where(*where)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return found.scalars().first()


async def _refund_row(
    session: AsyncSession, order: Order, claim: ProviderRefund
) -> OrderRefund | None:
    """This refund's row if the order has one: by the provider's refund id, else the
    platform's own refund the provider names (``metadata.refund_id``); locked."""
    row = await _locked_refund(
        session,
        OrderRefund.order_id == order.id,
        OrderRefund.provider_refund_id == claim.provider_refund_id,
    )
    if row is None and claim.platform_refund_id is not None:
        row = await _locked_refund(
            session,
            OrderRefund.order_id == order.id,
            OrderRefund.id == claim.platform_refund_id,
        )
    return row


async def record_provider_refund(session: AsyncSession, claim: ProviderRefund) -> str:
    """Count the refund on its order once; what happened: ``refunded``,
    ``partially_refunded``, ``already_counted``, ``no_order`` or ``anomaly``."""
    order = await _order_of_intent(session, claim.payment_intent)
    if order is None:
        return "no_order"  # a payment the platform did not make (another app on the account)
    if claim.venue_id is not None and claim.venue_id != order.venue_id:
        return _anomaly(claim, "refund of another venue's order", order_id=str(order.id))
    if claim.currency is not None and claim.currency != order.currency.lower():
        return _anomaly(claim, "refund currency is not the order's", order_id=str(order.id))
    amount = Decimal(claim.amount_cents) / CENTS
    row = await _refund_row(session, order, claim)
    if row is not None and row.status == RefundStatus.SUCCEEDED.value:
        return "already_counted"
    if row is not None and row.amount != amount:
        return _anomaly(claim, "amount is not the platform refund's", refund_id=str(row.id))
    if amount > order.total - order.refunded_amount:
        return _anomaly(
            claim,
            "refund larger than what is left of the order",
            order_id=str(order.id),
            amount=str(amount),
            unrefunded=str(order.total - order.refunded_amount),
        )
    now = datetime.now(UTC)
    before = entity_snapshot(order)
    if row is None:  # made outside the platform (the provider's dashboard)
        row = OrderRefund(
            order_id=order.id,
            amount=amount,
            currency=order.currency,
            reason=f"{claim.provider} webhook",
            status=RefundStatus.SUCCEEDED.value,
        )
        session.add(row)
    row.status = RefundStatus.SUCCEEDED.value
    row.provider_refund_id = claim.provider_refund_id
    row.confirmed_at = now
    order.refunded_amount = order.refunded_amount + amount
    fully = order.refunded_amount >= order.total
    order.status = (OrderStatus.REFUNDED if fully else OrderStatus.PARTIALLY_REFUNDED).value
    if fully:
        await session.execute(
            update(Ticket)
            .where(Ticket.order_id == order.id, Ticket.status == TicketStatus.ISSUED.value)
            .values(status=TicketStatus.REFUNDED.value, invalidated_at=now)
        )
    await session.flush()
    after = {
        **entity_snapshot(order),
        "refund": {
            "id": str(row.id),
            "amount": str(amount),
            "provider_refund_id": claim.provider_refund_id,
            "event_id": claim.event_id,
        },
    }
    actor = system_context(f"webhook:{claim.provider}")
    await record_audits(
        session, [AuditRow(actor, "provider_refund", "order", order.id, before, after)]
    )
    return order.status
