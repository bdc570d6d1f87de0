"""The default templates, one per provider and kind of venue, and the detection of a venue's kind.

The original guessed a venue's type from words in its name (``detectVenueType``: "comedy",
"music"...), so "The Music Box Comedy Club" was a comedy club by luck of word order. Here the kind
comes from what the venue actually sells: the categories of its events (read by SQL in
``repository.event_categories``), the most frequent kind winning; a tie or no events is
``general``. Each default differs where the kind of venue needs it (a conference shows the
session start on its products, a music venue the event description on its items). Their ids are
fixed (UUID5), so seeding is idempotent and ``reset`` always finds them.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

from tickettoken.integrations.mappings.fields import PROVIDER_NAMES
from tickettoken.integrations.mappings.rules import Rule

VenueKind = Literal["music", "sports", "theater_comedy", "conference", "general"]
VENUE_KINDS: Final[tuple[VenueKind, ...]] = (
    "music",
    "sports",
    "theater_comedy",
    "conference",
    "general",
)
DEFAULT_KIND: Final[VenueKind] = "general"
KIND_OF_CATEGORY: Final[dict[str, VenueKind]] = {
    "concert": "music",
    "festival": "music",
    "sports": "sports",
    "theater": "theater_comedy",
    "comedy": "theater_comedy",
    "conference": "conference",
    "other": "general",
}
_KIND_TITLES: Final[dict[VenueKind, str]] = {
    "music": "music venues",
    "sports": "sports venues",
    "theater_comedy": "theaters and comedy clubs",
    "conference": "conference centres",
    "general": "any venue",
}
_PROVIDER_TITLES: Final[dict[str, str]] = {
    "square": "Square",
    "stripe": "Stripe",
    "mailchimp": "Mailchimp",
    "quickbooks": "QuickBooks",
}
_NAMESPACE: Final = uuid.UUID("5b0f8f0e-5c8a-4f55-9a3e-6b1e4a2d7c10")


def detect_kind(category_counts: Mapping[str, int]) -> VenueKind:
    """The kind of venue its events' categories say (counts of events per category)."""
    per_kind: dict[VenueKind, int] = {}
    for category, count in category_counts.items():
        kind = KIND_OF_CATEGORY.get(category, DEFAULT_KIND)
        per_kind[kind] = per_kind.get(kind, 0) + count
    if not per_kind:
        return DEFAULT_KIND
    best = max(per_kind.values())
    leaders = [kind for kind, count in per_kind.items() if count == best]
    return leaders[0] if len(leaders) == 1 else DEFAULT_KIND


def _r(source: str, target: str, transform: str | None = None) -> Rule:
    return Rule(source, target, transform)


_BASE: Final[dict[str, tuple[Rule, ...]]] = {
    "square": (
        _r("event.name", "catalog_item.item_data.name"),
        _r("ticket_type.name", "catalog_variation.item_variation_data.name"),
        _r(
            "ticket_type.price",
            "catalog_variation.item_variation_data.price_money.amount",
            "to_cents",
        ),
        _r("ticket_type.currency", "catalog_variation.item_variation_data.price_money.currency"),
        _r("customer.email", "customer.email_address"),
        _r("customer.first_name", "customer.given_name"),
        _r("customer.last_name", "customer.family_name"),
        _r("customer.phone", "customer.phone_number"),
        _r("customer.id", "customer.reference_id"),
    ),
    "stripe": (
        _r("ticket_type.name", "product.name"),
        _r("event.id", "product.metadata.event_id"),
        _r("ticket_type.price", "price.unit_amount", "to_cents"),
        _r("ticket_type.currency", "price.currency", "lowercase"),
        _r("customer.email", "customer.email"),
        _r("customer.phone", "customer.phone"),
        _r("customer.id", "customer.metadata.customer_id"),
    ),
    "mailchimp": (
        _r("customer.email", "member.email_address", "lowercase"),
        _r("customer.first_name", "member.merge_fields.FNAME"),
        _r("customer.last_name", "member.merge_fields.LNAME"),
    ),
    "quickbooks": (
        _r("ticket_type.name", "Item.Name"),
        _r("ticket_type.price", "Item.UnitPrice"),
        _r("customer.email", "Customer.DisplayName"),
        _r("customer.first_name", "Customer.GivenName"),
        _r("customer.last_name", "Customer.FamilyName"),
        _r("customer.email", "Customer.PrimaryEmailAddr.Address"),
        _r("order.total", "Invoice.Line.0.Amount"),
        _r("event.name", "Invoice.Line.0.Description"),
        _r("order.paid_at", "Invoice.TxnDate", "date_only"),
        _r("order.currency", "Invoice.CurrencyRef.value"),
        _r("customer.email", "Invoice.BillEmail.Address"),
    ),
}

# What each kind adds to the provider's base rules.
_EXTRAS: Final[dict[VenueKind, dict[str, tuple[Rule, ...]]]] = {
    "music": {
        "square": (_r("event.description", "catalog_item.item_data.description"),),
        "stripe": (
            _r("event.description", "product.description"),
            _r("event.category", "product.metadata.category"),
        ),
        "mailchimp": (),
        "quickbooks": (_r("event.description", "Item.Description"),),
    },
    "sports": {
        "square": (_r("event.name", "catalog_item.item_data.description"),),
        "stripe": (_r("event.start_date", "product.metadata.event_start", "to_string"),),
        "mailchimp": (_r("customer.phone", "member.merge_fields.PHONE"),),
        "quickbooks": (_r("event.name", "Item.Description"),),
    },
    "theater_comedy": {
        "square": (_r("event.description", "catalog_item.item_data.description"),),
        "stripe": (
            _r("event.description", "product.description"),
            _r("event.start_date", "product.metadata.event_start", "to_string"),
        ),
        "mailchimp": (),
        "quickbooks": (_r("event.description", "Item.Description"),),
    },
    "conference": {
        "square": (_r("event.description", "catalog_item.item_data.description"),),
        "stripe": (
            _r("ticket_type.description", "product.description"),
            _r("event.start_date", "product.metadata.event_start", "to_string"),
        ),
        "mailchimp": (_r("customer.phone", "member.merge_fields.PHONE"),),
        "quickbooks": (
            _r("ticket_type.description", "Item.Description"),
            _r("order.id", "Invoice.PrivateNote", "to_string"),
        ),
    },
    "general": {},
}


@dataclass(frozen=True)
class DefaultTemplate:
    id: uuid.UUID
    provider: str
    venue_kind: VenueKind
    name: str
    description: str
    rules: tuple[Rule, ...]

    @property
    def is_default(self) -> bool:
        return self.venue_kind == DEFAULT_KIND


def _default(provider: str, kind: VenueKind) -> DefaultTemplate:
    rules = _BASE[provider] + _EXTRAS[kind].get(provider, ())
    return DefaultTemplate(
        id=uuid.uuid5(_NAMESPACE, f"{provider}:{kind}"),
        provider=provider,
        venue_kind=kind,
        name=f"{_PROVIDER_TITLES[provider]} for {_KIND_TITLES[kind]}",
        description=f"Built-in {_PROVIDER_TITLES[provider]} mapping for {_KIND_TITLES[kind]}",
        rules=rules,
    )


DEFAULT_TEMPLATES: Final[tuple[DefaultTemplate, ...]] = tuple(
    _default(provider, kind) for provider in PROVIDER_NAMES for kind in VENUE_KINDS
)
DEFAULT_TEMPLATE_IDS: Final[frozenset[uuid.UUID]] = frozenset(t.id for t in DEFAULT_TEMPLATES)


def default_for(provider: str, kind: VenueKind = DEFAULT_KIND) -> DefaultTemplate:
    return next(t for t in DEFAULT_TEMPLATES if t.provider == provider and t.venue_kind == kind)
