"""Which (provider, entity type) the engine can push, and how many records a work item holds.

Square products: an item with its variations counts 1 + variations of a batch's 1,000 objects
(``ITEM_WEIGHT``: a work item is one full batch);
Stripe has no batch endpoint (one call a record); Mailchimp batch subscribe takes 500 members;
QuickBooks batches 30 operations (a work item of 25 events may need several batches).

``CONCURRENCY``: how many work items of one sync are pushed at once. Mailchimp allows 10
simultaneous connections per account; Square 10 calls a second per seller and Stripe 25 (the
limiter paces them; enough items in flight keep the limit busy while answers are parsed and
saved); QuickBooks 3, its realm's batch limiter binds long before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tickettoken.integrations.sync.pushers import (
    MAILCHIMP_MAX_MEMBERS,
    SQUARE_MAX_CUSTOMERS_PER_BULK,
    SQUARE_MAX_OBJECTS_PER_BATCH,
    Pusher,
    mailchimp_customers,
    square_customers,
    square_products,
    stripe_customers,
    stripe_products,
)
from tickettoken.integrations.sync.quickbooks_pushers import (
    QUICKBOOKS_MAX_BATCH,
    quickbooks_customers,
    quickbooks_products,
    quickbooks_transactions,
)
from tickettoken.integrations.sync.square_orders import square_transactions

PUSHERS: dict[tuple[str, str], Pusher] = {
    ("square", "products"): square_products,
    ("stripe", "products"): stripe_products,
    ("quickbooks", "products"): quickbooks_products,
    ("square", "customers"): square_customers,
    ("stripe", "customers"): stripe_customers,
    ("mailchimp", "customers"): mailchimp_customers,
    ("quickbooks", "customers"): quickbooks_customers,
    ("quickbooks", "transactions"): quickbooks_transactions,
    ("square", "transactions"): square_transactions,
}
# Types a provider needs nothing for: a sync of them ends completed with this said in its log.
NOTHING_TO_PUSH: dict[tuple[str, str], str] = {
    ("stripe", "transactions"): (
        "transactions to stripe: Stripe payments are already Stripe's (the platform takes its"
        " payments through Stripe), so there is nothing to push"
    ),
}
CONCURRENCY: dict[str, int] = {"mailchimp": 10, "square": 10, "stripe": 8, "quickbooks": 3}
RECORDS_PER_ITEM: dict[tuple[str, str], int] = {
    ("square", "products"): 250,  # ITEM_WEIGHT fills items; this sizes expansion pages
    ("stripe", "products"): 25,
    ("quickbooks", "products"): 25,
    ("square", "customers"): SQUARE_MAX_CUSTOMERS_PER_BULK,
    ("stripe", "customers"): 50,
    ("mailchimp", "customers"): MAILCHIMP_MAX_MEMBERS,
    ("quickbooks", "customers"): QUICKBOOKS_MAX_BATCH,
    ("quickbooks", "transactions"): QUICKBOOKS_MAX_BATCH,
    ("square", "transactions"): 25,  # two calls an order, no batch endpoint
}


def _square_objects(record: dict[str, Any]) -> int:
    return 1 + len(record["variations"])


# Items filled by weight instead of record count: a Square products item holds as many events as
# fit one 1,000-object batch (an ITEM with its variations), so every call carries a full batch
# whatever the events' ticket types.
ITEM_WEIGHT: dict[tuple[str, str], tuple[int, Callable[[dict[str, Any]], int]]] = {
    ("square", "products"): (SQUARE_MAX_OBJECTS_PER_BATCH, _square_objects),
}
