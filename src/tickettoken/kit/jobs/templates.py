"""The messages the platform sends, as templates: communication jobs name one and fill its slots.

No job carries free text, a subject or a sender (issue 7: a venue admin sent any text to any
address from the platform's sender). A template fixes the wording; its variables are short,
single-line values (``payloads.TemplateValue``) checked when the job is enqueued, so what reaches
a customer is always a message the platform wrote.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from string import Template

MAX_VALUE_LENGTH = 1000
_CONTROL_RUNS = re.compile(r"[\x00-\x1f\x7f\s]+")


@dataclass(frozen=True)
class MessageTemplate:
    """One message in each channel's form; ``$name`` slots are filled from the job's data."""

    variables: frozenset[str]
    subject: str
    text: str
    sms: str
    push_title: str
    push_body: str


TEMPLATES: dict[str, MessageTemplate] = {
    "order-confirmation": MessageTemplate(
        variables=frozenset(
            {"order_id", "event_name", "tickets", "starts_at", "total", "currency"}
        ),
        subject="Your tickets for $event_name",
        text=(
            "Order $order_id: $tickets ticket(s) for $event_name on $starts_at UTC."
            " Total $total $currency."
        ),
        sms="TicketToken: $tickets ticket(s) for $event_name on $starts_at UTC. Order $order_id.",
        push_title="Your tickets for $event_name",
        push_body="$tickets ticket(s), $starts_at UTC",
    ),
    "event-cancelled": MessageTemplate(
        variables=frozenset({"event_name", "reason"}),
        subject="$event_name is cancelled",
        text="$event_name has been cancelled: $reason. Any refund is on its way.",
        sms="TicketToken: $event_name has been cancelled ($reason). Any refund is on its way.",
        push_title="$event_name is cancelled",
        push_body="$reason. Any refund is on its way.",
    ),
}


def one_line(text: str, limit: int = MAX_VALUE_LENGTH) -> str:
    """Text as a template value: control characters and line breaks become single spaces (no
    header or message injection), cut to ``limit`` characters."""
    flat = _CONTROL_RUNS.sub(" ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 1] + "\u2026"


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    text: str
    sms: str
    push_title: str
    push_body: str


def render(name: str, values: dict[str, str | int]) -> RenderedMessage:
    """Fill a template; the payload model has already checked the name and the variables."""
    template = TEMPLATES[name]
    strings = {key: str(value) for key, value in values.items()}

    def fill(text: str) -> str:
        return Template(text).substitute(strings)

    return RenderedMessage(
        subject=fill(template.subject),
        text=fill(template.text),
        sms=fill(template.sms),
        push_title=fill(template.push_title),
        push_body=fill(template.push_body),
    )
