"""One QuickBooks Online company (realm): its entities and the rules Intuit enforces on writes.

Kept from Intuit's docs: ids are numeric strings per entity; every write bumps ``SyncToken``
and an update naming an older one fails with ``5010 Stale Object Error``; a full update
replaces the writable fields while ``"sparse": true`` changes only the fields sent; names are
unique (``6240 Duplicate Name Exists Error``); an invoice needs a customer reference and at
least one line; a Payment needs its customer and total, applies its lines to the invoices
they link (``LinkedTxn``, ``TxnType`` Invoice) and lowers their ``Balance``, never below zero
(``6000`` business validation error), and keeps the rest as ``UnappliedAmt``. Applying,
changing or removing a payment is a change of each invoice it links or linked: its ``Balance``,
its ``LinkedTxn`` back to the payments, its ``SyncToken`` and ``LastUpdatedTime`` move and an
Invoice ``Update`` is announced. ``MetaData.CreateTime``/``LastUpdatedTime`` (Intuit's spelling)
are in the company's zone. A RefundReceipt (money given back for a paid sale) needs item lines
and a ``DepositToAccountRef`` of a Bank or Other Current Asset account (the company has
"Undeposited Funds", where payments land).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from tickettoken.sandbox.quickbooks.faults import (
    COMPANY_ZONE,
    QboFault,
    duplicate_name,
    invalid_reference,
    not_found,
    qbo_time,
    required,
    stale,
)

ENTITIES = ("Customer", "Item", "Invoice", "Payment", "RefundReceipt", "Account", "CompanyInfo")
# Where a RefundReceipt may take the money from (Intuit: Bank or Other Current Asset).
REFUND_ACCOUNT_TYPES = ("Bank", "Other Current Asset")
SERVER_FIELDS = ("Id", "SyncToken", "MetaData", "domain", "sparse")


class Company:
    def __init__(self, realm_id: str, name: str) -> None:
        self.realm_id = realm_id
        self.store: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in ENTITIES}
        self.next_id: dict[str, int] = {name: 1 for name in ENTITIES}
        self.next_doc_number = 1001
        self.on_change: Callable[[str, str, str], None] = lambda entity, id_, operation: None
        created = qbo_time()
        self.store["CompanyInfo"][realm_id] = {
            "CompanyName": name,
            "LegalName": name,
            "Country": "US",
            "CompanyAddr": {
                "Line1": "1 Sandbox Way",
                "City": "Mountain View",
                "CountrySubDivisionCode": "CA",
                "PostalCode": "94043",
            },
            "FiscalYearStartMonth": "January",
            "SupportedLanguages": "en",
            "domain": "QBO",
            "sparse": False,
            "Id": realm_id,
            "SyncToken": "0",
            "MetaData": {"CreateTime": created, "LastUpdatedTime": created},
        }
        self._seed_account("Services", "Income", "ServiceFeeIncome")
        self._seed_account("Accounts Receivable (A/R)", "Accounts Receivable", "AccountsReceivable")
        self._seed_account("Undeposited Funds", "Other Current Asset", "UndepositedFunds")

    def _seed_account(self, name: str, kind: str, subtype: str) -> None:
        self._insert(
            "Account",
            {
                "Name": name,
                "FullyQualifiedName": name,
                "AccountType": kind,
                "AccountSubType": subtype,
                "Classification": "Revenue" if kind == "Income" else "Asset",
                "Active": True,
                "CurrentBalance": 0,
            },
        )

    def _insert(self, entity: str, fields: dict[str, Any]) -> dict[str, Any]:
        object_id = str(self.next_id[entity])
        self.next_id[entity] += 1
        now = qbo_time()
        record = {
            **fields,
            "domain": "QBO",
            "sparse": False,
            "Id": object_id,
            "SyncToken": "0",
            "MetaData": {"CreateTime": now, "LastUpdatedTime": now},
        }
        self.store[entity][object_id] = record
        return record

    def read(self, entity: str, object_id: str) -> dict[str, Any]:
        found = self.store.get(entity, {}).get(object_id)
        if found is None:
            raise not_found(entity, object_id)
        return found

    def create(self, entity: str, body: dict[str, Any]) -> dict[str, Any]:
        fields = {k: v for k, v in body.items() if k not in SERVER_FIELDS}
        fields = self._validate(entity, fields, None)
        record = self._insert(entity, fields)
        self.on_change(entity, record["Id"], "Create")
        if entity == "Payment":
            self._settle(_linked_invoices(record))
        return record

    def update(self, entity: str, body: dict[str, Any]) -> dict[str, Any]:
        object_id = str(body.get("Id") or "")
        if not object_id:
            raise required("Id")
        if body.get("SyncToken") is None:
            raise required("SyncToken")
        current = self.read(entity, object_id)
        if str(body["SyncToken"]) != current["SyncToken"]:
            raise stale(entity)
        given = {k: v for k, v in body.items() if k not in SERVER_FIELDS}
        kept = {k: v for k, v in current.items() if k in SERVER_FIELDS}
        base = {k: v for k, v in current.items() if k not in SERVER_FIELDS}
        fields = {**base, **given} if body.get("sparse") in (True, "true") else given
        fields = self._validate(entity, fields, object_id)
        record = {**fields, **kept, "SyncToken": str(int(current["SyncToken"]) + 1)}
        record["MetaData"] = {**kept["MetaData"], "LastUpdatedTime": qbo_time()}
        self.store[entity][object_id] = record
        self.on_change(entity, object_id, "Update")
        if entity == "Payment":
            self._settle(_linked_invoices(current) | _linked_invoices(record))
        return record

    def delete(self, entity: str, body: dict[str, Any]) -> dict[str, Any]:
        if entity != "Invoice":
            raise QboFault(
                "500", "Unsupported Operation", f"Operation Delete is not supported for {entity}."
            )
        current = self.read(entity, str(body.get("Id") or ""))
        if str(body.get("SyncToken")) != current["SyncToken"]:
            raise stale(entity)
        del self.store[entity][current["Id"]]
        self.on_change(entity, current["Id"], "Delete")
        return {"status": "Deleted", "domain": "QBO", "Id": current["Id"]}

    def _validate(
        self, entity: str, fields: dict[str, Any], object_id: str | None
    ) -> dict[str, Any]:
        if entity == "Customer":
            return self._customer(fields, object_id)
        if entity == "Item":
            return self._item(fields, object_id)
        if entity == "Invoice":
            return self._invoice(fields, object_id)
        if entity == "Payment":
            return self._payment(fields, object_id)
        if entity == "RefundReceipt":
            return self._refund_receipt(fields)
        raise QboFault("500", "Unsupported Operation", f"Writing {entity} is not supported.")

    def _unique(self, entity: str, key: str, value: str, object_id: str | None) -> None:
        for other in self.store[entity].values():
            same = str(other.get(key, "")).lower() == value.lower()
            if same and other["Id"] != object_id:
                raise duplicate_name(other["Id"])

    def _customer(self, fields: dict[str, Any], object_id: str | None) -> dict[str, Any]:
        name = (
            fields.get("DisplayName")
            or " ".join(
                str(fields[k]) for k in ("GivenName", "MiddleName", "FamilyName") if fields.get(k)
            )
            or fields.get("CompanyName")
        )
        if not name:
            raise required("DisplayName")
        self._unique("Customer", "DisplayName", str(name), object_id)
        return {
            "Active": True,
            "Balance": 0,
            "Job": False,
            "BillWithParent": False,
            **fields,
            "DisplayName": name,
            "FullyQualifiedName": name,
        }

    def _item(self, fields: dict[str, Any], object_id: str | None) -> dict[str, Any]:
        if not fields.get("Name"):
            raise required("Name")
        self._unique("Item", "Name", str(fields["Name"]), object_id)
        kind = fields.get("Type") or "Service"
        if kind in {"Service", "NonInventory", "Inventory"}:
            account = (fields.get("IncomeAccountRef") or {}).get("value")
            if not account:
                raise required("IncomeAccountRef")
            if str(account) not in self.store["Account"]:
                raise invalid_reference("IncomeAccountRef", account)
        return {
            "Active": True,
            "Taxable": False,
            **fields,
            "Type": kind,
            "FullyQualifiedName": fields["Name"],
        }

    def _paid(self, invoice_id: str, but: str | None = None) -> Decimal:
        """What the company's payments (but ``but``) apply to an invoice."""
        return sum(
            (
                Decimal(str(line.get("Amount") or 0))
                for payment in self.store["Payment"].values()
                if payment["Id"] != but
                for line in payment.get("Line") or []
                if any(
                    str(t.get("TxnId")) == invoice_id and t.get("TxnType") == "Invoice"
                    for t in line.get("LinkedTxn") or []
                )
            ),
            Decimal("0"),
        )

    def _payment(self, fields: dict[str, Any], object_id: str | None) -> dict[str, Any]:
        customer = (fields.get("CustomerRef") or {}).get("value")
        if not customer:
            raise required("CustomerRef")
        if str(customer) not in self.store["Customer"]:
            raise invalid_reference("CustomerRef", customer)
        if fields.get("TotalAmt") is None:
            raise required("TotalAmt")
        total = Decimal(str(fields["TotalAmt"]))
        applied = Decimal("0")
        for line in fields.get("Line") or []:
            amount = Decimal(str(line.get("Amount") or 0))
            for linked in line.get("LinkedTxn") or []:
                invoice_id = str(linked.get("TxnId"))
                if linked.get("TxnType") != "Invoice":
                    continue
                invoice = self.store["Invoice"].get(invoice_id)
                if invoice is None:
                    raise invalid_reference("LinkedTxn", invoice_id)
                left = Decimal(str(invoice["TotalAmt"])) - self._paid(invoice_id, object_id)
                if amount > left:
                    raise QboFault(
                        "6000",
                        "A business validation error has occurred while processing your request",
                        f"Business Validation Error: the payment of {amount} is more than"
                        f" invoice {invoice_id}'s open balance of {left}.",
                    )
            applied += amount
        if applied > total:
            raise QboFault(
                "6000",
                "A business validation error has occurred while processing your request",
                "Business Validation Error: the lines apply more than the payment's total.",
            )
        today = datetime.now(COMPANY_ZONE).date().isoformat()
        return {
            "TxnDate": today,
            **copy.deepcopy(fields),
            "TotalAmt": float(total),
            "UnappliedAmt": float(total - applied),
            "ProcessPayment": False,
            "CurrencyRef": {"value": "USD", "name": "United States Dollar"},
        }

    def _settle(self, invoice_ids: set[str]) -> None:
        """The invoices a payment links or linked, after it was written: each whose balance or
        links moved is a new version of the invoice, as in QuickBooks."""
        for invoice_id in sorted(invoice_ids, key=int):
            invoice = self.store["Invoice"].get(invoice_id)
            if invoice is None:
                continue
            balance = float(Decimal(str(invoice["TotalAmt"])) - self._paid(invoice_id))
            links = self._payments_of(invoice_id)
            if balance == invoice["Balance"] and links == (invoice.get("LinkedTxn") or []):
                continue
            invoice["Balance"] = balance
            if links:
                invoice["LinkedTxn"] = links
            else:
                invoice.pop("LinkedTxn", None)
            invoice["SyncToken"] = str(int(invoice["SyncToken"]) + 1)
            invoice["MetaData"] = {**invoice["MetaData"], "LastUpdatedTime": qbo_time()}
            self.on_change("Invoice", invoice_id, "Update")

    def _payments_of(self, invoice_id: str) -> list[dict[str, str]]:
        return [
            {"TxnId": payment["Id"], "TxnType": "Payment"}
            for payment in self.store["Payment"].values()
            if invoice_id in _linked_invoices(payment)
        ]

    def _refund_receipt(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Money given back: item lines (as a sales receipt's) and the Bank or Other Current
        Asset account it left (``DepositToAccountRef``, required); the customer is optional."""
        account = (fields.get("DepositToAccountRef") or {}).get("value")
        if not account:
            raise required("DepositToAccountRef")
        found = self.store["Account"].get(str(account))
        if found is None:
            raise invalid_reference("DepositToAccountRef", account)
        if found.get("AccountType") not in REFUND_ACCOUNT_TYPES:
            raise QboFault(
                "6000",
                "A business validation error has occurred while processing your request",
                "Business Validation Error: a refund must come from a Bank or Other Current"
                " Asset account.",
            )
        customer = (fields.get("CustomerRef") or {}).get("value")
        if customer is not None and str(customer) not in self.store["Customer"]:
            raise invalid_reference("CustomerRef", customer)
        lines, total = self._item_lines(fields.get("Line"))
        doc = fields.get("DocNumber") or str(self.next_doc_number)
        if not fields.get("DocNumber"):
            self.next_doc_number += 1
        return {
            "TxnDate": datetime.now(COMPANY_ZONE).date().isoformat(),
            **copy.deepcopy(fields),
            "Line": lines,
            "DocNumber": doc,
            "TotalAmt": float(total),
            "Balance": 0,
            "CurrencyRef": {"value": "USD", "name": "United States Dollar"},
        }

    def _item_lines(self, lines: Any) -> tuple[list[dict[str, Any]], Decimal]:
        """Sales lines numbered, each item checked, and a SubTotalLine; and their total."""
        if not isinstance(lines, list) or not lines:
            raise required("Line")
        total = Decimal("0")
        numbered = []
        for number, line in enumerate(lines, start=1):
            if line.get("DetailType") == "SubTotalLineDetail":
                continue
            if line.get("Amount") is None:
                raise required("Line.Amount")
            item = ((line.get("SalesItemLineDetail") or {}).get("ItemRef") or {}).get("value")
            if item is not None and str(item) not in self.store["Item"]:
                raise invalid_reference("ItemRef", item)
            total += Decimal(str(line["Amount"]))
            numbered.append({"Id": str(number), "LineNum": number, **line})
        numbered.append(
            {"Amount": float(total), "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}}
        )
        return numbered, total

    def _invoice(self, fields: dict[str, Any], object_id: str | None = None) -> dict[str, Any]:
        customer = (fields.get("CustomerRef") or {}).get("value")
        if not customer:
            raise required("CustomerRef")
        if str(customer) not in self.store["Customer"]:
            raise invalid_reference("CustomerRef", customer)
        numbered, total = self._item_lines(fields.get("Line"))
        doc = fields.get("DocNumber") or str(self.next_doc_number)
        if not fields.get("DocNumber"):
            self.next_doc_number += 1
        today = datetime.now(COMPANY_ZONE).date().isoformat()
        invoice = {
            "TxnDate": today,
            "DueDate": today,
            **copy.deepcopy(fields),
            "Line": numbered,
            "DocNumber": doc,
            "TotalAmt": float(total),
            "Balance": float(total - (self._paid(object_id) if object_id else Decimal("0"))),
            "CurrencyRef": {"value": "USD", "name": "United States Dollar"},
        }
        # The links to payments are QuickBooks' own, whatever the request sent.
        invoice.pop("LinkedTxn", None)
        links = self._payments_of(object_id) if object_id else []
        if links:
            invoice["LinkedTxn"] = links
        return invoice


def _linked_invoices(payment: dict[str, Any]) -> set[str]:
    return {
        str(linked.get("TxnId"))
        for line in payment.get("Line") or []
        for linked in line.get("LinkedTxn") or []
        if linked.get("TxnType") == "Invoice"
    }
