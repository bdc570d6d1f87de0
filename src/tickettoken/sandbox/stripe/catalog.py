"""Products, prices and customers: create, retrieve, update, list and search.

Prices are immutable where Stripe's are (``unit_amount``, ``currency`` and ``product`` cannot be
updated: ``parameter_unknown``), which is why an integration changes a price by creating a new
one and deactivating the old.
"""

from __future__ import annotations

from typing import Any

from tickettoken.sandbox.stripe.errors import invalid, missing_param
from tickettoken.sandbox.stripe.forms import as_bool, as_int
from tickettoken.sandbox.stripe.listing import list_page, search_page
from tickettoken.sandbox.stripe.state import Call, Obj, StripeState, new_id, now

PRODUCT_FIELDS = {
    "name",
    "active",
    "description",
    "metadata",
    "images",
    "url",
    "statement_descriptor",
}
CUSTOMER_FIELDS = {"email", "name", "phone", "description", "metadata", "address", "shipping"}
PRICE_UPDATABLE = {"active", "metadata", "nickname", "lookup_key", "tax_behavior"}


def _metadata(old: dict[str, Any], new: Any) -> dict[str, Any]:
    """Stripe merges metadata on update; an empty value deletes that key, ``metadata=""`` all."""
    if new == "":
        return {}
    merged = {**old, **(new or {})}
    return {k: v for k, v in merged.items() if v != ""}


def _apply(obj: Obj, params: dict[str, Any], fields: set[str]) -> None:
    for name in fields:
        if name not in params:
            continue
        if name == "metadata":
            obj["metadata"] = _metadata(obj.get("metadata") or {}, params["metadata"])
        elif name == "active":
            obj["active"] = as_bool(params["active"])
        else:
            obj[name] = params[name] if params[name] != "" else None


class Catalog:
    def __init__(self, state: StripeState) -> None:
        self.state = state

    # ---- products ---------------------------------------------------------------------

    async def create_product(self, call: Call) -> Obj:
        call.known(
            "id", "default_price_data", "shippable", "unit_label", "tax_code", *PRODUCT_FIELDS
        )
        if not call.params.get("name"):
            raise missing_param("name")
        product_id = str(call.params.get("id") or new_id("prod"))
        if product_id in self.state.products:
            raise invalid(f"Product already exists: {product_id}", "resource_already_exists", "id")
        product: Obj = {
            "id": product_id,
            "object": "product",
            "active": True,
            "created": now(),
            "default_price": None,
            "description": None,
            "images": [],
            "livemode": False,
            "metadata": {},
            "name": None,
            "updated": now(),
            "url": None,
        }
        _apply(product, call.params, PRODUCT_FIELDS)
        self.state.add("prod", product, call.account)
        data = call.params.get("default_price_data")
        if isinstance(data, dict):
            price = self._new_price(call.account, product_id, data)
            product["default_price"] = price["id"]
        return product

    async def get_product(self, call: Call) -> Obj:
        return self.state.get("prod", call.path("id"), call.account)

    async def update_product(self, call: Call) -> Obj:
        call.known("default_price", *PRODUCT_FIELDS)
        product = self.state.get("prod", call.path("id"), call.account)
        if "default_price" in call.params:
            price = self.state.get("price", str(call.params["default_price"]), call.account)
            product["default_price"] = price["id"]
        _apply(product, call.params, PRODUCT_FIELDS)
        product["updated"] = now()
        return product

    async def list_products(self, call: Call) -> Obj:
        items = self.state.owned("prod", call.account)
        if "active" in call.params:
            items = [p for p in items if p["active"] == as_bool(call.params["active"])]
        return list_page(items, call.params, "/v1/products", "product")

    async def search_products(self, call: Call) -> Obj:
        fields = {"name", "active", "description", "metadata", "created", "url"}
        items = self.state.owned("prod", call.account)
        return search_page(items, call.params, "/v1/products/search", fields)

    # ---- prices -----------------------------------------------------------------------

    def _new_price(self, account: str, product_id: str, data: dict[str, Any]) -> Obj:
        currency = str(data.get("currency") or "").lower()
        if len(currency) != 3:
            raise missing_param("currency")
        amount = as_int(data, "unit_amount")
        if amount is None:
            raise missing_param("unit_amount")
        if amount < 0:
            raise invalid(
                "This value must be greater than or equal to 0.",
                "parameter_invalid_integer",
                "unit_amount",
            )
        recurring = data.get("recurring") if isinstance(data.get("recurring"), dict) else None
        price: Obj = {
            "id": new_id("price"),
            "object": "price",
            "active": True,
            "billing_scheme": "per_unit",
            "created": now(),
            "currency": currency,
            "livemode": False,
            "lookup_key": data.get("lookup_key"),
            "metadata": _metadata({}, data.get("metadata")),
            "nickname": data.get("nickname"),
            "product": product_id,
            "recurring": recurring,
            "tax_behavior": data.get("tax_behavior", "unspecified"),
            "type": "recurring" if recurring else "one_time",
            "unit_amount": amount,
            "unit_amount_decimal": str(amount),
        }
        return self.state.add("price", price, account)

    async def create_price(self, call: Call) -> Obj:
        call.known(
            "currency",
            "unit_amount",
            "product",
            "product_data",
            "recurring",
            "metadata",
            "nickname",
            "lookup_key",
            "active",
            "tax_behavior",
        )
        product_id = call.params.get("product")
        if not product_id and isinstance(call.params.get("product_data"), dict):
            made = await self.create_product(
                Call(call.request, dict(call.params["product_data"]), call.account, call.key)
            )
            product_id = made["id"]
        if not product_id:
            raise missing_param("product")
        self.state.get("prod", str(product_id), call.account, "product")
        price = self._new_price(call.account, str(product_id), call.params)
        if "active" in call.params:
            price["active"] = as_bool(call.params["active"])
        return price

    async def get_price(self, call: Call) -> Obj:
        return self.state.get("price", call.path("id"), call.account)

    async def update_price(self, call: Call) -> Obj:
        call.known(*PRICE_UPDATABLE)
        price = self.state.get("price", call.path("id"), call.account)
        _apply(price, call.params, PRICE_UPDATABLE)
        return price

    async def list_prices(self, call: Call) -> Obj:
        items = self.state.owned("price", call.account)
        for name in ("product", "currency", "type", "lookup_keys"):
            if name in call.params and name != "lookup_keys":
                items = [p for p in items if p.get(name) == call.params[name]]
        if "active" in call.params:
            items = [p for p in items if p["active"] == as_bool(call.params["active"])]
        return list_page(items, call.params, "/v1/prices", "price")

    async def search_prices(self, call: Call) -> Obj:
        fields = {"active", "currency", "lookup_key", "metadata", "product", "type", "created"}
        items = self.state.owned("price", call.account)
        return search_page(items, call.params, "/v1/prices/search", fields)

    # ---- customers --------------------------------------------------------------------

    async def create_customer(self, call: Call) -> Obj:
        call.known("payment_method", "invoice_settings", "preferred_locales", *CUSTOMER_FIELDS)
        customer: Obj = {
            "id": new_id("cus"),
            "object": "customer",
            "address": None,
            "balance": 0,
            "created": now(),
            "currency": None,
            "delinquent": False,
            "description": None,
            "email": None,
            "livemode": False,
            "metadata": {},
            "name": None,
            "phone": None,
            "preferred_locales": [],
            "shipping": None,
        }
        _apply(customer, call.params, CUSTOMER_FIELDS)
        return self.state.add("cus", customer, call.account)

    async def get_customer(self, call: Call) -> Obj:
        return self.state.get("cus", call.path("id"), call.account)

    async def update_customer(self, call: Call) -> Obj:
        call.known("invoice_settings", "preferred_locales", *CUSTOMER_FIELDS)
        customer = self.state.get("cus", call.path("id"), call.account)
        _apply(customer, call.params, CUSTOMER_FIELDS)
        return customer

    async def delete_customer(self, call: Call) -> Obj:
        customer = self.state.get("cus", call.path("id"), call.account)
        del self.state.customers[customer["id"]]
        return {"id": customer["id"], "object": "customer", "deleted": True}

    async def list_customers(self, call: Call) -> Obj:
        items = self.state.owned("cus", call.account)
        if call.params.get("email"):
            items = [c for c in items if c.get("email") == call.params["email"]]
        return list_page(items, call.params, "/v1/customers", "customer")

    async def search_customers(self, call: Call) -> Obj:
        fields = {"email", "name", "phone", "metadata", "created"}
        items = self.state.owned("cus", call.account)
        return search_page(items, call.params, "/v1/customers/search", fields)
