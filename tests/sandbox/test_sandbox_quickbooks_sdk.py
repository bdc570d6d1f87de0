"""QuickBooks Online sandbox driven over HTTP by Intuit's official OAuth client (``intuit-oauth``)
and the community Accounting client ``python-quickbooks`` (not Intuit's; Intuit publishes no
maintained Python Accounting SDK).

Covers: discovery-driven OAuth without a browser (``realmId`` on the redirect, Basic client auth,
1-hour tokens, refresh rotation, the previous token's grace period, ``invalid_grant`` after it
and for reused codes, revoke), CompanyInfo, Customer/Item/Invoice create/read/update with
``SyncToken`` conflicts, duplicate names, not-found faults, queries (equality with quotes,
``Metadata.LastUpdatedTime``, paging, ``COUNT(*)``), batch (``bId``, per-item faults, the 30-item
limit), ``requestid`` replay, throttling per second and per minute with the ThrottleExceeded
fault, the 401/403 bodies, and ``intuit-signature`` webhooks in both payload formats.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from intuitlib.client import AuthClient
from intuitlib.enums import Scopes
from intuitlib.exceptions import AuthClientError
from quickbooks import QuickBooks
from quickbooks.batch import batch_create
from quickbooks.exceptions import (
    AuthorizationException,
    ObjectNotFoundException,
    QuickbooksException,
)
from quickbooks.objects.account import Account
from quickbooks.objects.base import Ref
from quickbooks.objects.company_info import CompanyInfo
from quickbooks.objects.customer import Customer
from quickbooks.objects.detailline import SalesItemLine, SalesItemLineDetail
from quickbooks.objects.invoice import Invoice
from quickbooks.objects.item import Item
from quickbooks.objects.payment import Payment, PaymentLine
from quickbooks.objects.refundreceipt import RefundReceipt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from tests.sandbox.sandbox_threaded import serve_in_thread

from tickettoken.sandbox.app import create_sandbox_app

KEY = "sk_test_sandbox"
CONTROL = {"Authorization": f"Bearer {KEY}"}
REDIRECT = "https://venue.example/integrations/quickbooks/callback"
RELAXED = {"per_second": 1000, "per_minute": 100000, "batches_per_minute": 1000}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[str]:
    with serve_in_thread(create_sandbox_app(secret_key=KEY)) as url:
        # Back-to-back SDK calls pass Intuit's 10/s; only the throttling test keeps real limits.
        _control(url, "limits", RELAXED)
        yield url


@pytest.fixture(autouse=True)
def _plain_http(monkeypatch: pytest.MonkeyPatch) -> None:
    # python-quickbooks sends through requests-oauthlib, which refuses http:// unless told the
    # transport is local; the sandbox listens on plain HTTP on 127.0.0.1.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


def _info(sandbox: str) -> dict[str, Any]:
    info: dict[str, Any] = requests.get(f"{sandbox}/", timeout=5).json()["providers"]["quickbooks"]
    return info


def _control(sandbox: str, name: str, body: dict[str, Any]) -> None:
    answer = requests.post(f"{sandbox}/quickbooks/_sandbox/{name}", json=body, headers=CONTROL)
    assert answer.status_code == 200, answer.text


def _auth_client(sandbox: str) -> AuthClient:
    info = _info(sandbox)
    return AuthClient(info["client_id"], info["client_secret"], REDIRECT, info["discovery_url"])


def _consent(auth: AuthClient, **extra: str) -> dict[str, list[str]]:
    url = auth.get_authorization_url([Scopes.ACCOUNTING], state_token="st-9")
    answer = requests.get(url, params=extra, allow_redirects=False, timeout=5)
    assert answer.status_code == 302
    location = answer.headers["location"]
    assert location.startswith(REDIRECT)
    return parse_qs(urlsplit(location).query)


def _connected(sandbox: str) -> tuple[AuthClient, QuickBooks]:
    auth = _auth_client(sandbox)
    query = _consent(auth)
    auth.get_bearer_token(query["code"][0], realm_id=query["realmId"][0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        client = QuickBooks(
            auth_client=auth,
            refresh_token=auth.refresh_token,
            company_id=auth.realm_id,
            minorversion=75,
        )
    client.api_url_v3 = _info(sandbox)["api_base_url"]
    return auth, client


def test_oauth_flow_rotation_and_grace(sandbox: str) -> None:
    auth = _auth_client(sandbox)
    assert auth.token_endpoint.endswith("/quickbooks/oauth2/v1/tokens/bearer")
    denied = _consent(auth, deny="1")
    assert denied["error"] == ["access_denied"] and denied["state"] == ["st-9"]
    query = _consent(auth)
    assert query["state"] == ["st-9"] and query["realmId"][0].isdigit()
    auth.get_bearer_token(query["code"][0], realm_id=query["realmId"][0])
    assert auth.expires_in == 3600 and auth.x_refresh_token_expires_in == 8726400
    with pytest.raises(AuthClientError) as reused:
        auth.get_bearer_token(query["code"][0])
    assert reused.value.status_code == 400 and json.loads(reused.value.content) == {
        "error": "invalid_grant"
    }
    stranger = AuthClient(auth.client_id, "wrong", REDIRECT, _info(sandbox)["discovery_url"])
    with pytest.raises(AuthClientError) as wrong_client:
        stranger.refresh(refresh_token=auth.refresh_token)
    assert wrong_client.value.status_code == 401

    first = auth.refresh_token
    auth.refresh()
    second = auth.refresh_token
    assert second != first  # rotated on refresh
    # The previous token still works during the grace period and answers the newest one.
    auth.refresh(refresh_token=first)
    assert auth.refresh_token == second
    _control(sandbox, "refresh-grace", {"seconds": 0.3})
    try:
        auth.refresh(refresh_token=second)
        third = auth.refresh_token
        time.sleep(0.5)
        for stale in (first, second):
            with pytest.raises(AuthClientError) as expired:
                auth.refresh(refresh_token=stale)
            assert expired.value.status_code == 400
            assert json.loads(expired.value.content)["error"] == "invalid_grant"
        auth.refresh(refresh_token=third)
    finally:
        _control(sandbox, "refresh-grace", {"seconds": 86400})
    with pytest.raises(AuthClientError):
        auth.refresh(refresh_token="AB11-unknown")
    assert auth.revoke(token=auth.refresh_token)
    with pytest.raises(AuthClientError) as revoked:
        auth.refresh()
    assert json.loads(revoked.value.content)["error"] == "invalid_grant"


def test_entities_sync_tokens_and_faults(sandbox: str) -> None:
    auth, qb = _connected(sandbox)
    info = CompanyInfo.get(auth.realm_id, qb=qb)
    assert info.CompanyName.startswith("Sandbox Company")
    customer = Customer()
    customer.DisplayName = "O'Brien Events"
    customer.PrimaryEmailAddr = {"Address": "ob@example.com"}
    saved = customer.save(qb=qb)
    assert saved.Id == "1" and saved.SyncToken == "0"
    twin = Customer()
    twin.DisplayName = "o'brien events"
    with pytest.raises(QuickbooksException) as duplicate:
        twin.save(qb=qb)
    assert duplicate.value.error_code == 6240
    with pytest.raises(ObjectNotFoundException):
        Customer.get(999, qb=qb)

    services = Account.filter(Name="Services", qb=qb)[0]
    item = Item()
    item.Name, item.Type = "General admission", "Service"
    item.IncomeAccountRef = services.to_ref()
    item = item.save(qb=qb)
    no_account = Item()
    no_account.Name = "No account"
    with pytest.raises(QuickbooksException) as missing:
        no_account.save(qb=qb)
    assert missing.value.error_code == 2020

    invoice = Invoice()
    invoice.CustomerRef = saved.to_ref()
    line = SalesItemLine()
    line.Amount = 50
    line.SalesItemLineDetail = SalesItemLineDetail()
    line.SalesItemLineDetail.ItemRef = item.to_ref()
    invoice.Line = [line]
    invoice = invoice.save(qb=qb)
    assert invoice.TotalAmt == 50 and invoice.DocNumber == "1001"
    fetched = Invoice.get(invoice.Id, qb=qb)
    fetched.PrivateNote = "paid at the door"
    updated = fetched.save(qb=qb)
    assert updated.SyncToken == "1" and updated.PrivateNote == "paid at the door"
    fetched.PrivateNote = "a lost update"  # still carries SyncToken 0
    with pytest.raises(QuickbooksException) as stale:
        fetched.save(qb=qb)
    assert stale.value.error_code == 5010
    sparse = requests.post(
        f"{qb.api_url}/company/{qb.company_id}/customer",
        params={"minorversion": 75},
        headers={"Authorization": f"Bearer {auth.access_token}", "Accept": "application/json"},
        json={"Id": saved.Id, "SyncToken": "0", "sparse": True, "Notes": "front row"},
        timeout=5,
    ).json()["Customer"]
    # A sparse update keeps the fields it did not name and bumps SyncToken.
    assert sparse["Notes"] == "front row" and sparse["DisplayName"] == "O'Brien Events"
    assert sparse["SyncToken"] == "1"
    assert sparse["MetaData"]["LastUpdatedTime"] >= sparse["MetaData"]["CreateTime"]
    no_customer = Invoice()
    no_customer.Line = [line]
    ref = Ref()
    ref.value = "777"
    no_customer.CustomerRef = ref
    with pytest.raises(QuickbooksException) as bad_ref:
        no_customer.save(qb=qb)
    assert bad_ref.value.error_code == 2500


def test_queries_batch_and_request_id(sandbox: str) -> None:
    _, qb = _connected(sandbox)
    before = "2000-01-01T00:00:00-08:00"
    people = []
    for index in range(12):
        person = Customer()
        person.DisplayName = f"Guest {index:02d}"
        people.append(person)
    result = batch_create(people, qb=qb)
    assert len(result.successes) == 12 and not result.faults
    assert Customer.filter(DisplayName="Guest 03", qb=qb)[0].DisplayName == "Guest 03"
    assert len(Customer.where(f"Metadata.LastUpdatedTime > '{before}'", qb=qb)) == 12
    future = "2999-01-01"
    assert Customer.where(f"Metadata.LastUpdatedTime > '{future}'", qb=qb) == []
    page = Customer.where("", order_by="DisplayName DESC", start_position=11, max_results=5, qb=qb)
    assert [c.DisplayName for c in page] == ["Guest 01", "Guest 00"]
    assert Customer.count(qb=qb) == 12
    assert Customer.count("DisplayName LIKE 'Guest 1%'", qb=qb) == 2
    assert len(Customer.choose(["Guest 01", "Guest 02"], field="DisplayName", qb=qb)) == 2
    with pytest.raises(QuickbooksException) as bad_query:
        qb.query("SELECT * FROM Customer WHERE DisplayName = 'a' OR DisplayName = 'b'")
    assert bad_query.value.error_code == 4000
    with pytest.raises(QuickbooksException) as too_many:
        qb.query("SELECT * FROM Customer MAXRESULTS 1001")
    assert too_many.value.error_code == 4001

    again = Customer()
    again.DisplayName = "Guest 00"
    mixed = batch_create([again, _named("Guest 99")], qb=qb)
    assert len(mixed.successes) == 1 and mixed.faults[0].Error[0].code == "6240"
    url = f"{qb.api_url}/company/{qb.company_id}/batch"
    headers = {"Authorization": f"Bearer {qb.auth_client.access_token}"}
    items = [
        {"bId": str(i), "operation": "create", "Customer": {"DisplayName": f"B{i}"}}
        for i in range(31)
    ]
    refused = requests.post(url, json={"BatchItemRequest": items}, headers=headers, timeout=5)
    assert refused.status_code == 400 and "Fault" in refused.json()
    queried = requests.post(
        url,
        headers=headers,
        timeout=5,
        json={"BatchItemRequest": [{"bId": "q", "Query": "select count(*) from Customer"}]},
    ).json()
    assert queried["BatchItemResponse"] == [{"bId": "q", "QueryResponse": {"totalCount": 13}}]

    once = _named("Exactly once")
    first = once.save(qb=qb, request_id="req-42")
    second = _named("Exactly once").save(qb=qb, request_id="req-42")
    assert first.Id == second.Id
    assert Customer.count("DisplayName = 'Exactly once'", qb=qb) == 1


def _named(name: str) -> Customer:
    customer = Customer()
    customer.DisplayName = name
    return customer


def test_throttling_and_auth_faults(sandbox: str) -> None:
    auth, qb = _connected(sandbox)
    url = f"{qb.api_url}/company/{qb.company_id}/query"
    headers = {"Authorization": f"Bearer {auth.access_token}", "Accept": "application/json"}
    _control(sandbox, "limits", {"per_second": 3, "per_minute": 500})
    try:
        answers = [
            requests.get(
                url, params={"query": "select * from Customer"}, headers=headers, timeout=5
            )
            for _ in range(5)
        ]
        assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
        fault = answers[-1].json()["Fault"]
        assert fault["type"] == "SERVICE" and fault["Error"][0]["code"] == "3001"
        assert fault["Error"][0]["Message"] == (
            "message=ThrottleExceeded; errorCode=003001; statusCode=429"
        )
        with pytest.raises(QuickbooksException) as throttled:
            Customer.all(qb=qb)
        assert throttled.value.error_code == 3001
        _control(sandbox, "limits", {"per_second": 100, "per_minute": 4})
        statuses = [
            requests.get(
                url, params={"query": "select * from Item"}, headers=headers, timeout=5
            ).status_code
            for _ in range(5)
        ]
        assert statuses == [200, 200, 200, 200, 429]
        _control(sandbox, "limits", {"per_second": 100, "per_minute": 500, "batches_per_minute": 2})
        batch = {"BatchItemRequest": [{"bId": "1", "Query": "select * from Customer"}]}
        batch_url = f"{qb.api_url}/company/{qb.company_id}/batch"
        statuses = [
            requests.post(batch_url, json=batch, headers=headers, timeout=5).status_code
            for _ in range(3)
        ]
        assert statuses == [200, 200, 429]
    finally:
        _control(sandbox, "limits", RELAXED)

    _, other = _connected(sandbox)
    wrong_realm = requests.get(
        f"{qb.api_url}/company/{other.company_id}/companyinfo/x", headers=headers, timeout=5
    )
    assert wrong_realm.status_code == 403
    _control(sandbox, "expire", {"access_token": auth.access_token})
    expired = requests.get(
        url, params={"query": "select * from Customer"}, headers=headers, timeout=5
    )
    assert expired.status_code == 401
    assert expired.json()["fault"]["error"][0]["code"] == "3200"
    with pytest.raises(AuthorizationException):
        Customer.all(qb=qb)
    unknown = requests.get(f"{qb.api_url}/company/{qb.company_id}/nothing/1/2", timeout=5)
    assert unknown.status_code == 404 and "Fault" in unknown.json()


@pytest.mark.parametrize("payload_format", ["classic", "cloudevents"])
def test_webhooks_signed_with_the_verifier_token(sandbox: str, payload_format: str) -> None:
    received: list[tuple[str, str]] = []

    async def receive(request: Request) -> Response:
        received.append(((await request.body()).decode(), request.headers["intuit-signature"]))
        return Response(status_code=200)

    receiver = Starlette(routes=[Route("/hooks/qbo", receive, methods=["POST"])])
    with serve_in_thread(receiver) as receiver_url:
        _control(
            sandbox, "webhooks", {"url": f"{receiver_url}/hooks/qbo", "format": payload_format}
        )
        try:
            auth, qb = _connected(sandbox)
            created = _named("Hooked").save(qb=qb)
            created.CompanyName = "Hooked Ltd"
            created.save(qb=qb)
            deliveries = requests.get(
                f"{sandbox}/quickbooks/_sandbox/webhooks", headers=CONTROL, timeout=10
            ).json()["deliveries"]
        finally:
            _control(sandbox, "webhooks", {"url": None, "format": "classic"})
    assert [d["status"] for d in deliveries][-2:] == [200, 200]
    token = _info(sandbox)["webhook_verifier_token"]
    operations = []
    for body, signature in received[-2:]:
        assert qb.validate_webhook_signature(body, signature, verifier_token=token)
        assert not qb.validate_webhook_signature(body + " ", signature, verifier_token=token)
        payload = json.loads(body)
        if payload_format == "classic":
            notification = payload["eventNotifications"][0]
            assert notification["realmId"] == auth.realm_id
            entity = notification["dataChangeEvent"]["entities"][0]
            assert entity["name"] == "Customer" and entity["id"] == created.Id
            operations.append(entity["operation"])
        else:
            event = payload[0]
            assert event["specversion"] == "1.0" and event["intuitaccountid"] == auth.realm_id
            assert event["intuitentityid"] == created.Id
            operations.append(event["type"])
    expected = {
        "classic": ["Create", "Update"],
        "cloudevents": ["qbo.customer.created.v1", "qbo.customer.updated.v1"],
    }
    assert operations == expected[payload_format]


def test_malformed_requests_answer_with_faults(sandbox: str) -> None:
    auth, qb = _connected(sandbox)
    base = f"{qb.api_url}/company/{qb.company_id}"
    headers = {"Authorization": f"Bearer {auth.access_token}", "Accept": "application/json"}
    answers = [
        requests.post(
            f"{base}/invoice", json={"CustomerRef": "5", "Line": []}, headers=headers, timeout=5
        ),
        requests.post(f"{base}/customer", data=b"{not json", headers=headers, timeout=5),
        requests.get(
            f"{base}/query", params={"query": "select * from Nothing"}, headers=headers, timeout=5
        ),
    ]
    for answer in answers:
        assert answer.status_code == 400
        assert answer.json()["Fault"]["type"] == "ValidationFault"
    assert [a.json()["Fault"]["Error"][0]["code"] for a in answers] == ["2010", "2010", "4001"]


def test_the_platforms_own_credentials_can_be_adopted(sandbox: str) -> None:
    before = _info(sandbox)
    adopted = {
        "client_id": "ABplatform",
        "client_secret": "platform-secret",
        "verifier_token": "platform-verifier",
        "redirect_uris": [REDIRECT],
    }
    _control(sandbox, "app", adopted)
    try:
        info = _info(sandbox)
        assert info["client_id"] == "ABplatform"
        assert info["webhook_verifier_token"] == "platform-verifier"
        auth = AuthClient("ABplatform", "platform-secret", REDIRECT, info["discovery_url"])
        query = _consent(auth)
        auth.get_bearer_token(query["code"][0], realm_id=query["realmId"][0])
        assert auth.access_token
        other = AuthClient(
            "ABplatform", "platform-secret", "https://elsewhere.example/cb", info["discovery_url"]
        )
        refused = requests.get(
            other.get_authorization_url([Scopes.ACCOUNTING]), allow_redirects=False, timeout=5
        )
        assert refused.status_code == 400  # not a registered redirect URI: no redirect at all
    finally:
        _control(
            sandbox,
            "app",
            {
                "client_id": before["client_id"],
                "client_secret": before["client_secret"],
                "verifier_token": before["webhook_verifier_token"],
                "redirect_uris": [],
            },
        )


def test_payments_apply_to_the_invoices_they_link(sandbox: str) -> None:
    """A Payment made by the SDK with ``LinkedTxn`` to an Invoice lowers its ``Balance``; a
    payment of more than the invoice's open balance is a 6000 business validation fault."""
    _auth, qb = _connected(sandbox)
    customer = Customer()
    customer.DisplayName = "Payer"
    customer = customer.save(qb=qb)
    item = Item()
    item.Name, item.Type = "Balcony", "Service"
    item.IncomeAccountRef = Account.filter(Name="Services", qb=qb)[0].to_ref()
    item = item.save(qb=qb)
    invoice = Invoice()
    invoice.CustomerRef = customer.to_ref()
    line = SalesItemLine()
    line.Amount = 80
    line.SalesItemLineDetail = SalesItemLineDetail()
    line.SalesItemLineDetail.ItemRef = item.to_ref()
    invoice.Line = [line]
    invoice = invoice.save(qb=qb)

    def pay(amount: float) -> Payment:
        payment = Payment()
        payment.CustomerRef = customer.to_ref()
        payment.TotalAmt = amount
        paid = PaymentLine()
        paid.Amount = amount
        paid.LinkedTxn = [invoice.to_linked_txn()]
        payment.Line = [paid]
        saved: Payment = payment.save(qb=qb)
        return saved

    first = pay(30)
    assert first.TotalAmt == 30 and first.UnappliedAmt == 0
    assert Invoice.get(invoice.Id, qb=qb).Balance == 50
    with pytest.raises(QuickbooksException) as over:
        pay(60)
    assert over.value.error_code == 6000
    pay(50)
    assert Invoice.get(invoice.Id, qb=qb).Balance == 0
    assert len(Payment.filter(CustomerRef=customer.Id, qb=qb)) == 2


def test_a_payment_applied_updates_its_invoice(sandbox: str) -> None:
    """As in QuickBooks: applying a Payment changes the Invoice it links (Balance, a
    ``LinkedTxn`` back to the payment), so the invoice's ``SyncToken`` and
    ``MetaData.LastUpdatedTime`` move, an update with the token read before is stale (5010),
    and the change is announced as an Invoice ``Update``."""
    received: list[dict[str, Any]] = []

    async def receive(request: Request) -> Response:
        received.append(json.loads(await request.body()))
        return Response(status_code=200)

    receiver = Starlette(routes=[Route("/hooks/qbo", receive, methods=["POST"])])
    _auth, qb = _connected(sandbox)
    customer = Customer()
    customer.DisplayName = "Linked payer"
    customer = customer.save(qb=qb)
    item = Item()
    item.Name, item.Type = "Stalls", "Service"
    item.IncomeAccountRef = Account.filter(Name="Services", qb=qb)[0].to_ref()
    item = item.save(qb=qb)
    invoice = Invoice()
    invoice.CustomerRef = customer.to_ref()
    line = SalesItemLine()
    line.Amount = 40
    line.SalesItemLineDetail = SalesItemLineDetail()
    line.SalesItemLineDetail.ItemRef = item.to_ref()
    invoice.Line = [line]
    invoice = invoice.save(qb=qb)
    assert invoice.SyncToken == "0"
    time.sleep(1.05)  # LastUpdatedTime has whole seconds
    with serve_in_thread(receiver) as receiver_url:
        _control(sandbox, "webhooks", {"url": f"{receiver_url}/hooks/qbo"})
        try:
            payment = Payment()
            payment.CustomerRef = customer.to_ref()
            payment.TotalAmt = 15
            paid = PaymentLine()
            paid.Amount = 15
            paid.LinkedTxn = [invoice.to_linked_txn()]
            payment.Line = [paid]
            payment = payment.save(qb=qb)
            requests.get(f"{sandbox}/quickbooks/_sandbox/webhooks", headers=CONTROL, timeout=10)
        finally:
            _control(sandbox, "webhooks", {"url": None})
    after = Invoice.get(invoice.Id, qb=qb)
    assert (after.SyncToken, after.Balance) == ("1", 25)
    assert after.MetaData.LastUpdatedTime > invoice.MetaData.LastUpdatedTime
    assert after.MetaData.CreateTime == invoice.MetaData.CreateTime
    assert {"TxnId": payment.Id, "TxnType": "Payment"} in [
        {"TxnId": t.TxnId, "TxnType": t.TxnType} for t in after.LinkedTxn
    ]
    invoice.PrivateNote = "edited from the copy read before the payment"
    with pytest.raises(QuickbooksException) as stale:
        invoice.save(qb=qb)
    assert stale.value.error_code == 5010
    changes = sorted(
        (e["name"], e["id"], e["operation"], e["lastUpdated"])
        for body in received
        for n in body["eventNotifications"]
        for e in n["dataChangeEvent"]["entities"]
    )
    assert [c[:3] for c in changes] == [
        ("Invoice", invoice.Id, "Update"),
        ("Payment", payment.Id, "Create"),
    ]
    # The notification's lastUpdated is the entity's own MetaData.LastUpdatedTime (an instant).
    assert _instant(changes[0][3]) == _instant(after.MetaData.LastUpdatedTime)
    # A payment removed from the invoice (a full update of its lines) gives the balance back.
    payment.Line = []
    payment.save(qb=qb)
    again = Invoice.get(invoice.Id, qb=qb)
    assert (again.SyncToken, again.Balance, again.LinkedTxn or []) == ("2", 40, [])


def _instant(value: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def test_refund_receipts_give_money_back_from_a_cash_account(sandbox: str) -> None:
    """A RefundReceipt made by the SDK: item lines, the customer and the account the money left
    (``DepositToAccountRef``, Bank or Other Current Asset); without that account it is refused
    (2020), from an income account it is a business validation fault (6000); it is found by
    ``DocNumber``."""
    _auth, qb = _connected(sandbox)
    customer = Customer()
    customer.DisplayName = "Refunded fan"
    customer = customer.save(qb=qb)
    item = Item()
    item.Name, item.Type = "Gallery", "Service"
    services = Account.filter(Name="Services", qb=qb)[0]
    item.IncomeAccountRef = services.to_ref()
    item = item.save(qb=qb)
    (funds,) = Account.filter(AccountSubType="UndepositedFunds", qb=qb)
    assert funds.AccountType == "Other Current Asset"

    def receipt(account: Account | None) -> RefundReceipt:
        made = RefundReceipt()
        made.CustomerRef = customer.to_ref()
        made.DocNumber = "TT-r1"
        line = SalesItemLine()
        line.Amount = 12.5
        line.SalesItemLineDetail = SalesItemLineDetail()
        line.SalesItemLineDetail.ItemRef = item.to_ref()
        made.Line = [line]
        if account is not None:
            made.DepositToAccountRef = account.to_ref()
        return made

    with pytest.raises(QuickbooksException) as no_account:
        receipt(None).save(qb=qb)
    assert no_account.value.error_code == 2020
    with pytest.raises(QuickbooksException) as income:
        receipt(services).save(qb=qb)
    assert income.value.error_code == 6000
    saved = receipt(funds).save(qb=qb)
    assert (saved.TotalAmt, saved.Balance, saved.DocNumber) == (12.5, 0, "TT-r1")
    assert saved.CustomerRef.value == customer.Id
    found = RefundReceipt.filter(DocNumber="TT-r1", qb=qb)
    assert [r.Id for r in found] == [saved.Id]
