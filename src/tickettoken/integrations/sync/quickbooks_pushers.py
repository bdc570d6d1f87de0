"""QuickBooks: ticket types as service Items (one per ticket type, named "event - ticket type")
and customers as Customers, written through the batch endpoint (at most 30 operations a call).

A new object is a ``create``, a known one a sparse ``update`` with its ``Id`` and ``SyncToken``.
The batch's ``requestid`` is derived from its body, so a batch resent after a lost answer (a
killed worker) is replayed by QuickBooks, not written twice. Each record also keeps the
``MetaData.LastUpdatedTime`` of every object written for it (``echo.py``), which tells the
webhook of this write from a change made at QuickBooks.
"""

from __future__ import annotations

import uuid
from typing import Any

from tickettoken.integrations.providers import Credentials, Provider, QuickBooksProvider
from tickettoken.integrations.sync.echo import ECHO, stamp
from tickettoken.integrations.sync.mapping import pushed_customer_view, view_hash
from tickettoken.integrations.sync.pushers import (
    Known,
    PushResult,
    _key,
    changed,
    saved_record,
)

QUICKBOOKS_MAX_BATCH = 30


async def _income_account(provider: QuickBooksProvider, credentials: Credentials) -> str:
    found = await provider.query(
        credentials, "select * from Account where AccountType = 'Income'", max_results=1
    )
    accounts = found.get("Account") or []
    if not accounts:
        raise LookupError("the QuickBooks company has no income account")
    return str(accounts[0]["Id"])


async def _run_batches(
    provider: QuickBooksProvider,
    credentials: Credentials,
    operations: list[tuple[str, dict[str, Any]]],  # (bId, operation)
    result: PushResult,
) -> dict[str, dict[str, Any]]:
    answers: dict[str, dict[str, Any]] = {}
    for start in range(0, len(operations), QUICKBOOKS_MAX_BATCH):
        chunk = [op for _, op in operations[start : start + QUICKBOOKS_MAX_BATCH]]
        result.api_calls += 1
        for answer in await provider.batch(credentials, chunk, request_id=_key("qbo", chunk)[-36:]):
            answers[str(answer.get("bId"))] = answer
    return answers


def _fault(answer: dict[str, Any] | None) -> str | None:
    if answer is None:
        return "no answer for the operation"
    fault = answer.get("Fault")
    if not fault:
        return None
    errors = fault.get("Error") or [{}]
    return f"{errors[0].get('code', '')} {errors[0].get('Message', 'refused')}".strip()


def _operation(
    bid: str, entity: str, fields: dict[str, Any], stored: dict[str, Any] | None
) -> dict[str, Any]:
    if stored is None:
        return {"bId": bid, "operation": "create", entity: fields}
    return {
        "bId": bid,
        "operation": "update",
        entity: {**fields, "Id": stored["Id"], "SyncToken": stored["SyncToken"], "sparse": True},
    }


async def quickbooks_products(
    provider: Provider,
    credentials: Credentials,
    venue_id: uuid.UUID,
    records: list[dict[str, Any]],
    known: Known,
) -> PushResult:
    assert isinstance(provider, QuickBooksProvider)
    result = PushResult()
    todo = changed(records, known, result)
    if not todo:
        return result
    result.api_calls += 1
    account = await _income_account(provider, credentials)
    operations: list[tuple[str, dict[str, Any]]] = []
    for r, record in enumerate(todo):
        items = ((known.get(record["local_id"]) or {}).get("remote_data") or {}).get("items", {})
        for v, variation in enumerate(record["variations"]):
            fields = {
                "Name": f"{record['name']} - {variation['name']}"[:100],
                "Type": "Service",
                "UnitPrice": variation["price_cents"] / 100,
                "IncomeAccountRef": {"value": account},
                "Sku": variation["local_id"][:100],
            }
            bid = f"{r}.{v}"
            operations.append(
                (bid, _operation(bid, "Item", fields, items.get(variation["local_id"])))
            )
    answers = await _run_batches(provider, credentials, operations, result)
    for r, record in enumerate(todo):
        saved: dict[str, Any] = {}
        echo: dict[str, str] = {}
        problems = []
        for v, variation in enumerate(record["variations"]):
            answer = answers.get(f"{r}.{v}")
            problem = _fault(answer)
            if problem or answer is None:
                problems.append(problem or "no answer")
                continue
            item = answer["Item"]
            saved[variation["local_id"]] = {
                "Id": str(item["Id"]),
                "SyncToken": str(item["SyncToken"]),
            }
            echo.update(stamp("Item", item))
        if problems:
            result.failed.append((record["local_id"], "; ".join(problems)))
            continue
        first = next(iter(saved.values()), {"Id": "-"})
        result.saved.append(saved_record(record, first["Id"], None, {"items": saved, ECHO: echo}))
    return result


async def quickbooks_customers(
    provider: Provider,
    credentials: Credentials,
    venue_id: uuid.UUID,
    records: list[dict[str, Any]],
    known: Known,
) -> PushResult:
    assert isinstance(provider, QuickBooksProvider)
    result = PushResult()
    todo = changed(records, known, result)
    operations: list[tuple[str, dict[str, Any]]] = []
    for r, record in enumerate(todo):
        stored = known.get(record["local_id"])
        name = " ".join(p for p in (record["given_name"], record["family_name"]) if p)
        fields: dict[str, Any] = {
            "DisplayName": f"{name} ({record['email']})".strip()[:100],
            "PrimaryEmailAddr": {"Address": record["email"]},
        }
        if record["given_name"]:
            fields["GivenName"] = record["given_name"]
        if record["family_name"]:
            fields["FamilyName"] = record["family_name"]
        ref = (stored or {}).get("remote_data") or None
        operations.append((str(r), _operation(str(r), "Customer", fields, ref)))
    answers = await _run_batches(provider, credentials, operations, result) if operations else {}
    for r, record in enumerate(todo):
        answer = answers.get(str(r))
        problem = _fault(answer)
        if problem or answer is None:
            result.failed.append((record["local_id"], problem or "no answer"))
            continue
        customer = answer["Customer"]
        ref = {"Id": str(customer["Id"]), "SyncToken": str(customer["SyncToken"])}
        result.saved.append(
            saved_record(
                record,
                ref["Id"],
                ref["SyncToken"],
                {
                    **ref,
                    "remote_hash": view_hash(pushed_customer_view("quickbooks", record)),
                    ECHO: stamp("Customer", customer),
                },
            )
        )
    return result


async def quickbooks_transactions(
    provider: Provider,
    credentials: Credentials,
    venue_id: uuid.UUID,
    records: list[dict[str, Any]],
    known: Known,
) -> PushResult:
    """Paid orders as Invoices of the synced Customer, one line per ticket type (the synced
    Item), each paid by a linked Payment (``_pay_invoices``). ``known`` also holds the synced
    customers (``customer:<id>``) and products (``product:<event id>``) the engine loaded; an
    order whose customer or items are not synced yet fails with that reason (a full sync pushes
    customers and products first)."""
    assert isinstance(provider, QuickBooksProvider)
    result = PushResult()
    operations: list[tuple[str, dict[str, Any]]] = []
    pending: list[tuple[str, dict[str, Any]]] = []
    for r, record in enumerate(changed(records, known, result)):
        if record["status"] == "refunded" and record["local_id"] not in known:
            result.skipped += 1
            result.notes.append(
                f"order {record['local_id']} was refunded before it was sent to QuickBooks:"
                " not sent"
            )
            continue
        customer = known.get(f"customer:{record['customer_id']}")
        product = known.get(f"product:{record['event_id']}")
        items = ((product or {}).get("remote_data") or {}).get("items", {})
        missing = [
            line["ticket_type_id"]
            for line in record["lines"]
            if line["ticket_type_id"] not in items
        ]
        if customer is None or missing or not record["lines"]:
            why = "customer not synced yet" if customer is None else "ticket types not synced yet"
            result.failed.append((record["local_id"], why if record["lines"] else "no lines"))
            continue
        fields = {
            "CustomerRef": {"value": customer["remote_id"]},
            "PrivateNote": f"TicketToken order {record['local_id']}",
            "Line": [
                {
                    "Amount": line["amount_cents"] / 100,
                    "DetailType": "SalesItemLineDetail",
                    "SalesItemLineDetail": {
                        "ItemRef": {"value": items[line["ticket_type_id"]]["Id"]},
                        "Qty": line["quantity"],
                        "UnitPrice": line["unit_price_cents"] / 100,
                    },
                }
                for line in record["lines"]
            ],
        }
        stored = known.get(record["local_id"])
        ref = (stored or {}).get("remote_data") or None
        operations.append((str(r), _operation(str(r), "Invoice", fields, ref)))
        pending.append((str(r), record))
    answers = await _run_batches(provider, credentials, operations, result) if operations else {}
    await _retry_stale(provider, credentials, operations, answers, result)
    invoiced: list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = []
    for bid, record in pending:
        answer = answers.get(bid)
        problem = _fault(answer)
        if problem or answer is None:
            result.failed.append((record["local_id"], problem or "no answer"))
            continue
        invoiced.append((record, answer["Invoice"], known.get(record["local_id"]) or {}))
    await _pay_invoices(provider, credentials, invoiced, known, result)
    await _record_refunds(provider, credentials, {r["local_id"]: r for r in records}, known, result)
    return result


async def _retry_stale(
    provider: QuickBooksProvider,
    credentials: Credentials,
    operations: list[tuple[str, dict[str, Any]]],
    answers: dict[str, dict[str, Any]],
    result: PushResult,
) -> None:
    """Invoice updates refused as stale (``5010``: the invoice moved since the record was kept,
    e.g. an earlier run updated it and its answer was lost) are sent again with the invoice's
    current ``SyncToken``: invoices are the platform's, so its version wins."""
    stale = [
        (bid, op["Invoice"])
        for bid, op in operations
        if op["operation"] == "update" and (_fault(answers.get(bid)) or "").startswith("5010")
    ]
    if not stale:
        return
    current = await _current(provider, credentials, [inv["Id"] for _, inv in stale], result)
    again = [
        (bid, _operation(bid, "Invoice", inv, current[inv["Id"]]))
        for bid, inv in stale
        if inv["Id"] in current
    ]
    if again:
        answers.update(await _run_batches(provider, credentials, again, result))


async def _pay_invoices(
    provider: QuickBooksProvider,
    credentials: Credentials,
    invoiced: list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]],
    known: Known,
    result: PushResult,
) -> None:
    """A Payment of each new invoice's total linked to it (QuickBooks' record that the order was
    paid), in batches after the invoices (a batch cannot refer to an object it creates). An
    invoice paid before keeps its payment. An invoice whose payment failed is still kept with an
    empty hash (``result.kept``): the next sync updates that invoice and pays it, never creating a
    second one. Applying a payment is a new version of its invoice at QuickBooks (a new
    ``SyncToken``), so the invoices just paid are read back (``_current``) and kept as they are
    now: an update with the token from before the payment would be refused as stale."""
    operations: list[tuple[str, dict[str, Any]]] = []
    for n, (record, invoice, stored) in enumerate(invoiced):
        if ((stored.get("remote_data") or {}).get("payment")) is not None:
            continue
        customer = known[f"customer:{record['customer_id']}"]["remote_id"]
        total = invoice["TotalAmt"]
        payment = {
            "CustomerRef": {"value": customer},
            "TotalAmt": total,
            "PrivateNote": f"TicketToken order {record['local_id']}",
            "Line": [
                {
                    "Amount": total,
                    "LinkedTxn": [{"TxnId": str(invoice["Id"]), "TxnType": "Invoice"}],
                }
            ],
        }
        operations.append((f"p{n}", _operation(f"p{n}", "Payment", payment, None)))
    answers = await _run_batches(provider, credentials, operations, result) if operations else {}
    paid_now = [
        str(invoice["Id"])
        for n, (_, invoice, _) in enumerate(invoiced)
        if answers.get(f"p{n}") is not None and _fault(answers[f"p{n}"]) is None
    ]
    current = await _current(provider, credentials, paid_now, result)
    for n, (record, invoice, stored) in enumerate(invoiced):
        invoice = current.get(str(invoice["Id"]), invoice)
        ref: dict[str, Any] = {"Id": str(invoice["Id"]), "SyncToken": str(invoice["SyncToken"])}
        stored_data = stored.get("remote_data") or {}
        echo = {
            k: v
            for k, v in (stored_data.get(ECHO) or {}).items()
            if k.startswith(("payment:", "refundreceipt:"))
        }
        refunds = dict(stored_data.get("refunds") or {})
        echo.update(stamp("Invoice", invoice))
        paid = stored_data.get("payment") or None
        if paid is None:
            answer = answers.get(f"p{n}")
            problem = _fault(answer)
            if problem or answer is None:
                result.failed.append((record["local_id"], f"payment: {problem or 'no answer'}"))
                kept = {**ref, "refunds": refunds, ECHO: echo}
                result.kept.append(
                    {**saved_record(record, ref["Id"], ref["SyncToken"], kept), "content_hash": ""}
                )
                continue
            made = answer["Payment"]
            paid = {"Id": str(made["Id"]), "SyncToken": str(made["SyncToken"])}
            echo.update(stamp("Payment", made))
        data = {**ref, "payment": paid, "refunds": refunds, ECHO: echo}
        result.saved.append(saved_record(record, ref["Id"], ref["SyncToken"], data))


QUERY_IDS = 100  # invoices read back per query (QuickBooks' default page is 100)


async def _current(
    provider: QuickBooksProvider, credentials: Credentials, ids: list[str], result: PushResult
) -> dict[str, dict[str, Any]]:
    """The invoices ``ids`` as QuickBooks holds them now, one query per 100."""
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), QUERY_IDS):
        chunk = ids[start : start + QUERY_IDS]
        listed = ", ".join(f"'{i}'" for i in chunk if i.isdigit())
        if not listed:
            continue
        result.api_calls += 1
        answer = await provider.query(
            credentials,
            f"select * from Invoice where Id in ({listed})",
            max_results=QUERY_IDS,
        )
        for invoice in answer.get("Invoice") or []:
            found[str(invoice["Id"])] = invoice
    return found


# --- refunds: a RefundReceipt per refund the platform confirmed ------------------------------


def _doc_number(refund_id: str) -> str:
    """The receipt's ``DocNumber`` (at most 21 characters): found again by it after a lost
    answer, whatever batch the refund is sent in next time."""
    return f"TT-{refund_id.replace('-', '')[:18]}"


async def _refund_account(provider: QuickBooksProvider, credentials: Credentials) -> str | None:
    """Where the money is given back from: Undeposited Funds (where the payments went), else
    the first Bank account."""
    for where in ("AccountSubType = 'UndepositedFunds'", "AccountType = 'Bank'"):
        found = await provider.query(
            credentials, f"select * from Account where {where}", max_results=1
        )
        accounts = found.get("Account") or []
        if accounts:
            return str(accounts[0]["Id"])
    return None


async def _receipts_made(
    provider: QuickBooksProvider, credentials: Credentials, docs: list[str], result: PushResult
) -> dict[str, dict[str, Any]]:
    """The refund receipts already at QuickBooks for these doc numbers (a sync that died after
    QuickBooks answered), so none is made twice."""
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(docs), QUERY_IDS):
        listed = ", ".join(f"'{d}'" for d in docs[start : start + QUERY_IDS])
        result.api_calls += 1
        answer = await provider.query(
            credentials,
            f"select * from RefundReceipt where DocNumber in ({listed})",
            max_results=QUERY_IDS,
        )
        for receipt in answer.get("RefundReceipt") or []:
            found[str(receipt.get("DocNumber"))] = receipt
    return found


def _receipt(
    record: dict[str, Any], refund: dict[str, Any], known: Known, account: str, doc: str
) -> dict[str, Any]:
    items = known[f"product:{record['event_id']}"]["remote_data"]["items"]
    fields: dict[str, Any] = {
        "CustomerRef": {"value": known[f"customer:{record['customer_id']}"]["remote_id"]},
        "DepositToAccountRef": {"value": account},
        "DocNumber": doc,
        "PrivateNote": f"TicketToken refund {refund['id']} of order {record['local_id']}",
        "Line": [
            {
                "Amount": refund["amount_cents"] / 100,
                "DetailType": "SalesItemLineDetail",
                "Description": f"Refund of order {record['local_id']}",
                "SalesItemLineDetail": {
                    "ItemRef": {"value": items[record["lines"][0]["ticket_type_id"]]["Id"]}
                },
            }
        ],
    }
    if refund.get("date"):
        fields["TxnDate"] = refund["date"]
    return fields


async def _record_refunds(
    provider: QuickBooksProvider,
    credentials: Credentials,
    records: dict[str, dict[str, Any]],
    known: Known,
    result: PushResult,
) -> None:
    """Each confirmed refund of a paid (pushed) order becomes one RefundReceipt (money given
    back, unlike a CreditMemo, which leaves a credit), for the order's customer, on the first
    ticket type's Item, from Undeposited Funds. The stored record keeps each refund's receipt
    (``remote_data.refunds``): a refund with one is never sent again, and one whose answer was
    lost is found by its ``DocNumber``. A record whose refund failed is kept with an empty hash,
    so the next sync tries that refund again."""
    todo: list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = []
    for entry in result.saved:
        record, data = records.get(entry["local_id"]), entry["remote_data"]
        if record is None or data.get("payment") is None:
            continue
        done = data.setdefault("refunds", {})
        todo += [(entry, record, r) for r in record.get("refunds") or [] if r["id"] not in done]
    if not todo:
        return
    result.api_calls += 1
    account = await _refund_account(provider, credentials)
    docs = {refund["id"]: _doc_number(refund["id"]) for _, _, refund in todo}
    made = await _receipts_made(provider, credentials, list(docs.values()), result)
    operations: list[tuple[str, dict[str, Any]]] = []
    for n, (_, record, refund) in enumerate(todo):
        if account is not None and docs[refund["id"]] not in made:
            fields = _receipt(record, refund, known, account, docs[refund["id"]])
            operations.append((f"r{n}", _operation(f"r{n}", "RefundReceipt", fields, None)))
    answers = await _run_batches(provider, credentials, operations, result) if operations else {}
    unfinished: set[str] = set()
    for n, (entry, record, refund) in enumerate(todo):
        receipt = made.get(docs[refund["id"]])
        if receipt is None:
            answer = answers.get(f"r{n}")
            problem = "no Bank or Undeposited Funds account" if account is None else None
            problem = problem or _fault(answer)
            if problem or answer is None:
                why = f"refund {refund['id']}: {problem or 'no answer'}"
                result.failed.append((record["local_id"], why))
                unfinished.add(entry["local_id"])
                continue
            receipt = answer["RefundReceipt"]
        data = entry["remote_data"]
        ref = {"Id": str(receipt["Id"]), "SyncToken": str(receipt["SyncToken"])}
        data["refunds"][refund["id"]] = ref
        data[ECHO] = {**(data.get(ECHO) or {}), **stamp("RefundReceipt", receipt)}
    for entry in [e for e in result.saved if e["local_id"] in unfinished]:
        result.saved.remove(entry)
        result.kept.append({**entry, "content_hash": ""})
