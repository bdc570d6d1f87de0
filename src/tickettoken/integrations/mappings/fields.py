"""The fields a mapping may join: the platform's source fields and each provider's target fields.

One table, importable and typed, because the routes (``GET /mappings/{provider}/fields``), the
validation of a venue's mappings and the sync engine must agree on the same names. A source is a
dotted path into the record the sync engine builds (``{"event": ..., "ticket_type": ...,
"customer": ..., "order": ...}``); a target is ``<object>.<path in the provider's API body>``
(``catalog_variation.item_variation_data.price_money.amount``), so a mapped document is the
piece of the request the provider expects. Each target object names the source entities the sync
engine has at hand when it builds that object: a Square customer is made from a customer, never
from an event.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

ValueType = Literal[
    "string", "email", "id", "integer", "decimal", "boolean", "date", "datetime", "string_list"
]
Entity = Literal["event", "ticket_type", "customer", "order"]
ProviderName = Literal["square", "stripe", "mailchimp", "quickbooks"]
PROVIDER_NAMES: Final[tuple[ProviderName, ...]] = ("square", "stripe", "mailchimp", "quickbooks")


@dataclass(frozen=True)
class SourceField:
    path: str
    type: ValueType
    description: str

    @property
    def entity(self) -> str:
        return self.path.split(".", 1)[0]


@dataclass(frozen=True)
class TargetObject:
    name: str
    description: str
    sources: tuple[Entity, ...]  # the entities the sync engine passes when it builds one


@dataclass(frozen=True)
class TargetField:
    path: str  # "<object>.<path in the object's API body>"
    type: ValueType
    description: str
    required: bool = False  # required whenever any field of its object is mapped

    @property
    def object(self) -> str:
        return self.path.split(".", 1)[0]


@dataclass(frozen=True)
class ProviderFields:
    provider: ProviderName
    objects: tuple[TargetObject, ...]
    targets: tuple[TargetField, ...]

    def target(self, path: str) -> TargetField | None:
        return _TARGET_INDEX[self.provider].get(path)

    def object_named(self, name: str) -> TargetObject | None:
        return next((o for o in self.objects if o.name == name), None)


def _s(path: str, type_: ValueType, description: str) -> SourceField:
    return SourceField(path, type_, description)


SOURCE_FIELDS: Final[tuple[SourceField, ...]] = (
    _s("event.id", "id", "The event's id"),
    _s("event.name", "string", "Event name"),
    _s("event.description", "string", "Event description"),
    _s("event.category", "string", "comedy, concert, theater, sports, conference, festival, other"),
    _s("event.status", "string", "draft, published, sold_out, postponed, completed, cancelled"),
    _s("event.start_date", "datetime", "When the event starts"),
    _s("event.end_date", "datetime", "When the event ends"),
    _s("event.doors_open", "datetime", "When the doors open"),
    _s("event.capacity", "integer", "Seats of the event"),
    _s("event.image_url", "string", "Image shown for the event"),
    _s("ticket_type.id", "id", "The ticket type's id"),
    _s("ticket_type.name", "string", "Ticket type name (General admission, VIP...)"),
    _s("ticket_type.description", "string", "Ticket type description"),
    _s("ticket_type.price", "decimal", "Price in the currency's major unit (25.00)"),
    _s("ticket_type.currency", "string", "ISO 4217 currency code"),
    _s("ticket_type.quantity", "integer", "Tickets on sale"),
    _s("ticket_type.sold", "integer", "Tickets sold"),
    _s("ticket_type.sale_start", "datetime", "Start of the sale window"),
    _s("ticket_type.sale_end", "datetime", "End of the sale window"),
    _s("customer.id", "id", "The customer's id"),
    _s("customer.email", "email", "E-mail address"),
    _s("customer.first_name", "string", "First name"),
    _s("customer.last_name", "string", "Last name"),
    _s("customer.phone", "string", "Phone number"),
    _s("order.id", "id", "The order's id"),
    _s("order.status", "string", "pending, paid, cancelled, refunded, partially_refunded"),
    _s("order.total", "decimal", "Order total in the currency's major unit"),
    _s("order.refunded_amount", "decimal", "Amount refunded so far"),
    _s("order.currency", "string", "ISO 4217 currency code"),
    _s("order.paid_at", "datetime", "When the order was paid"),
    _s("order.created_at", "datetime", "When the order was placed"),
)
SOURCE_INDEX: Final[dict[str, SourceField]] = {f.path: f for f in SOURCE_FIELDS}


def _t(path: str, type_: ValueType, description: str, *, required: bool = False) -> TargetField:
    return TargetField(path, type_, description, required)


SQUARE = ProviderFields(
    "square",
    objects=(
        TargetObject("catalog_item", "Square catalog ITEM, one per event", ("event",)),
        TargetObject(
            "catalog_variation",
            "Square catalog ITEM_VARIATION, one per ticket type",
            ("event", "ticket_type"),
        ),
        TargetObject("customer", "Square customer", ("customer",)),
    ),
    targets=(
        _t("catalog_item.item_data.name", "string", "Item name", required=True),
        _t("catalog_item.item_data.description", "string", "Item description"),
        _t("catalog_item.item_data.abbreviation", "string", "Short name on the register"),
        _t("catalog_variation.item_variation_data.name", "string", "Variation name", required=True),
        _t(
            "catalog_variation.item_variation_data.price_money.amount",
            "integer",
            "Price in the currency's smallest unit (cents)",
            required=True,
        ),
        _t("catalog_variation.item_variation_data.price_money.currency", "string", "Currency"),
        _t("catalog_variation.item_variation_data.sku", "string", "SKU"),
        _t("customer.email_address", "email", "E-mail address"),
        _t("customer.given_name", "string", "Given name"),
        _t("customer.family_name", "string", "Family name"),
        _t("customer.phone_number", "string", "Phone number"),
        _t("customer.reference_id", "string", "The platform's id of the customer"),
        _t("customer.note", "string", "Free note"),
    ),
)

STRIPE = ProviderFields(
    "stripe",
    objects=(
        TargetObject("product", "Stripe product, one per ticket type", ("event", "ticket_type")),
        TargetObject("price", "Stripe price of a product", ("event", "ticket_type")),
        TargetObject("customer", "Stripe customer", ("customer",)),
    ),
    targets=(
        _t("product.name", "string", "Product name", required=True),
        _t("product.description", "string", "Product description"),
        _t("product.metadata.event_id", "string", "Metadata: the platform's event id"),
        _t("product.metadata.event_start", "string", "Metadata: when the event starts"),
        _t("product.metadata.category", "string", "Metadata: the event's category"),
        _t("price.unit_amount", "integer", "Price in cents", required=True),
        _t("price.currency", "string", "Three-letter currency, lower case", required=True),
        _t("price.nickname", "string", "Price nickname"),
        _t("customer.email", "email", "E-mail address"),
        _t("customer.name", "string", "Full name"),
        _t("customer.phone", "string", "Phone number"),
        _t("customer.metadata.customer_id", "string", "Metadata: the platform's customer id"),
    ),
)

MAILCHIMP = ProviderFields(
    "mailchimp",
    objects=(TargetObject("member", "Mailchimp audience member", ("customer",)),),
    targets=(
        _t("member.email_address", "email", "E-mail address", required=True),
        _t("member.merge_fields.FNAME", "string", "Merge field FNAME (first name)"),
        _t("member.merge_fields.LNAME", "string", "Merge field LNAME (last name)"),
        _t("member.merge_fields.PHONE", "string", "Merge field PHONE"),
        _t("member.tags", "string_list", "Tags of the member"),
    ),
)

QUICKBOOKS = ProviderFields(
    "quickbooks",
    objects=(
        TargetObject(
            "Item", "QuickBooks Item (service), one per ticket type", ("event", "ticket_type")
        ),
        TargetObject("Customer", "QuickBooks Customer", ("customer",)),
        TargetObject(
            "Invoice", "QuickBooks Invoice of a paid order", ("order", "customer", "event")
        ),
    ),
    targets=(
        _t("Item.Name", "string", "Item name (unique in the company)", required=True),
        _t("Item.Description", "string", "Item description"),
        _t("Item.UnitPrice", "decimal", "Unit price"),
        _t("Item.Sku", "string", "SKU"),
        _t("Customer.DisplayName", "string", "Display name (unique)", required=True),
        _t("Customer.GivenName", "string", "Given name"),
        _t("Customer.FamilyName", "string", "Family name"),
        _t("Customer.PrimaryEmailAddr.Address", "email", "E-mail address"),
        _t("Customer.PrimaryPhone.FreeFormNumber", "string", "Phone number"),
        _t("Invoice.DocNumber", "string", "Invoice number"),
        _t("Invoice.TxnDate", "date", "Invoice date"),
        _t("Invoice.CurrencyRef.value", "string", "Currency"),
        _t("Invoice.BillEmail.Address", "email", "E-mail the invoice goes to"),
        _t("Invoice.PrivateNote", "string", "Private note"),
        _t("Invoice.Line.0.Amount", "decimal", "Amount of the invoice's line", required=True),
        _t("Invoice.Line.0.Description", "string", "Description of the invoice's line"),
    ),
)

PROVIDER_FIELDS: Final[dict[str, ProviderFields]] = {
    p.provider: p for p in (SQUARE, STRIPE, MAILCHIMP, QUICKBOOKS)
}
_TARGET_INDEX: Final[dict[str, dict[str, TargetField]]] = {
    p.provider: {t.path: t for t in p.targets} for p in (SQUARE, STRIPE, MAILCHIMP, QUICKBOOKS)
}
