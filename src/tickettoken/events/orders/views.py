"""JSON forms of orders, items and tickets (money as strings with 2 places)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from tickettoken.events.orders.models import Order, OrderItem, Ticket


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def order_view(
    order: Order, items: Sequence[OrderItem], tickets: Sequence[Ticket]
) -> dict[str, Any]:
    return {
        "id": str(order.id),
        "customer_id": str(order.customer_id),
        "event_id": str(order.event_id),
        "reservation_id": str(order.reservation_id) if order.reservation_id else None,
        "status": order.status,
        "total": str(order.total),
        "refunded_amount": str(order.refunded_amount),
        "currency": order.currency,
        "payment_intent_id": order.payment_intent_id,
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
        "created_at": order.created_at.isoformat(),
        "updated_at": order.updated_at.isoformat(),
    }
