"""JSON forms of orders, items, tickets and refunds (money as strings with 2 places).

``refunded_amount`` is what the provider has confirmed; ``pending_refund_amount`` what was queued
and not confirmed yet (the order keeps its status until then).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from tickettoken.events.orders.models import Order, OrderItem, OrderRefund, RefundStatus, Ticket


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def order_view(
    order: Order,
    items: Sequence[OrderItem],
    tickets: Sequence[Ticket],
    refunds: Sequence[OrderRefund],
) -> dict[str, Any]:
    own_refunds = [refund for refund in refunds if refund.order_id == order.id]
    pending = sum(
        (r.amount for r in own_refunds if r.status == RefundStatus.PENDING), Decimal("0.00")
    )
    return {
        "id": str(order.id),
        "customer_id": str(order.customer_id),
        "event_id": str(order.event_id),
        "reservation_id": str(order.reservation_id) if order.reservation_id else None,
        "status": order.status,
        "total": str(order.total),
        "refunded_amount": str(order.refunded_amount),
        "pending_refund_amount": str(pending),
        "currency": order.currency,
        "payment_intent_id": order.payment_intent_id,
        "payment_job_id": str(order.payment_job_id) if order.payment_job_id else None,
        "paid_at": _iso(order.paid_at),
        "cancelled_at": _iso(order.cancelled_at),
        "items": [
            {
                "id": str(item.id),
                "ticket_type_id": str(item.ticket_type_id),
                "quantity": item.quantity,
                "unit_price": str(item.unit_price),
                "subtotal": str(item.subtotal),
            }
            for item in items
            if item.order_id == order.id
        ],
        "tickets": [
            {
                "id": str(ticket.id),
                "ticket_type_id": str(ticket.ticket_type_id),
                "status": ticket.status,
                "code": ticket.code,
                "issued_at": _iso(ticket.issued_at),
            }
            for ticket in tickets
            if ticket.order_id == order.id
        ],
        "refunds": [
            {
                "id": str(refund.id),
                "amount": str(refund.amount),
                "status": refund.status,
                "created_at": _iso(refund.created_at),
                "confirmed_at": _iso(refund.confirmed_at),
            }
            for refund in own_refunds
        ],
        "created_at": order.created_at.isoformat(),
        "updated_at": order.updated_at.isoformat(),
    }
