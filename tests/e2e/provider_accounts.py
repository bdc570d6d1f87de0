"""Each provider sandbox as a stranger sees it: its own public API with a credential of its own
(the merchant's dashboard, say), never the platform's stored tokens. Used to count what the
platform wrote and to change a record "in the provider's UI".

Every account answers the same questions: the customers it holds (``Remote``: provider id, the
platform id it carries, email, first/last name), the number of products and variations (events
and ticket types), of transactions, and updates one customer's last name.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

import httpx

STRANGER_REDIRECT = "http://127.0.0.1:9/stranger"  # never called: the code is read off the 302
AUDIENCE = {
    "name": "Metro Convention Center fans",
    "contact": {
        **{"company": "Metro Convention Center", "address1": "700 Way", "city": "Denver"},
        **{"state": "CO", "zip": "80202", "country": "US"},
    },
    "permission_reminder": "You bought a ticket and asked for our news.",
    "campaign_defaults": {
        **{"from_name": "Metro", "from_email": "news@metro.example", "subject": "News"},
        "language": "en",
    },
    "email_type_option": False,
}


@dataclass(frozen=True)
class Remote:
    id: str
    local_id: str | None  # the platform id the provider keeps (None where it keeps none)
    email: str
    first_name: str | None
    last_name: str | None


class Account(Protocol):
    def customers(self) -> list[Remote]: ...
    def products(self, ticket_type_ids: set[str]) -> tuple[int, int]: ...
    def transactions(self) -> int: ...
    def rename(self, remote: Remote, last_name: str) -> None: ...


class PatientTransport(httpx.HTTPTransport):
    """Waits out a provider's 429 (``Retry-After``, else a second) as any API client would: the
    stranger's calls share the provider's limits (QuickBooks counts per company)."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        for _ in range(60):
            response = super().handle_request(request)
            if response.status_code != 429:
                return response
            response.read()
            response.close()
            time.sleep(float(response.headers.get("retry-after") or 1))
        return response


def _client(**options: Any) -> httpx.Client:
    return httpx.Client(transport=PatientTransport(), timeout=60, **options)


def _code(url: str) -> dict[str, str]:
    answer = httpx.get(url, follow_redirects=False, timeout=10)
    assert answer.status_code in (302, 303), answer.text
    query = parse_qs(urlsplit(answer.headers["location"]).query)
    return {k: v[0] for k, v in query.items()}


class SquareAccount:
    def __init__(self, described: dict[str, Any], merchant_id: str) -> None:
        base = described["api_base_url"]
        scopes = "CUSTOMERS_READ CUSTOMERS_WRITE ITEMS_READ ORDERS_READ MERCHANT_PROFILE_READ"
        code = _code(
            str(
                httpx.URL(
                    described["authorize_url"],
                    params={
                        "client_id": described["application_id"],
                        "scope": scopes,
                        "merchant_id": merchant_id,
                        "redirect_uri": STRANGER_REDIRECT,
                    },
                )
            )
        )["code"]
        token = httpx.post(
            described["token_url"],
            json={
                "client_id": described["application_id"],
                "client_secret": described["application_secret"],
                "code": code,
                "grant_type": "authorization_code",
                "redirect_uri": STRANGER_REDIRECT,
            },
        ).json()["access_token"]
        self.http = _client(
            base_url=f"{base}/v2",
            headers={"Authorization": f"Bearer {token}", "Square-Version": "2025-01-23"},
        )

    def _pages(self, method: str, path: str, key: str, body: dict[str, Any] | None = None) -> list:
        found: list[dict[str, Any]] = []
        cursor = None
        while True:
            if method == "GET":
                params = {"cursor": cursor} if cursor else {}
                answer = self.http.get(path, params={**(body or {}), **params})
            else:
                answer = self.http.post(path, json={**(body or {}), "cursor": cursor})
            assert answer.status_code == 200, answer.text
            data = answer.json()
            found += data.get(key, [])
            cursor = data.get("cursor")
            if not cursor:
                return found

    def customers(self) -> list[Remote]:
        return [
            Remote(
                c["id"],
                c.get("reference_id"),
                c.get("email_address", ""),
                c.get("given_name"),
                c.get("family_name"),
            )
            for c in self._pages("GET", "/customers", "customers")
        ]

    def products(self, ticket_type_ids: set[str]) -> tuple[int, int]:
        objects = self._pages("GET", "/catalog/list", "objects", {"types": "ITEM,ITEM_VARIATION"})
        items = [o for o in objects if o["type"] == "ITEM" and not o.get("is_deleted")]
        variations = [o for o in objects if o["type"] == "ITEM_VARIATION"]
        return len(items), len(variations)

    def transactions(self) -> int:
        locations = [loc["id"] for loc in self.http.get("/locations").json()["locations"]]
        return len(self._pages("POST", "/orders/search", "orders", {"location_ids": locations}))

    def rename(self, remote: Remote, last_name: str) -> None:
        answer = self.http.put(f"/customers/{remote.id}", json={"family_name": last_name})
        assert answer.status_code == 200, answer.text


class StripeAccount:
    def __init__(self, described: dict[str, Any], secret_key: str) -> None:
        self.http = _client(
            base_url=f"{described['api_base_url']}/v1",
            headers={"Authorization": f"Bearer {secret_key}"},
        )

    def _list(self, path: str, **params: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        after = None
        while True:
            query = {"limit": "100", **params, **({"starting_after": after} if after else {})}
            answer = self.http.get(path, params=query)
            assert answer.status_code == 200, answer.text
            data = answer.json()
            found += data["data"]
            if not data["has_more"]:
                return found
            after = data["data"][-1]["id"]

    def customers(self) -> list[Remote]:
        found = []
        for c in self._list("/customers"):
            first, _, last = (c.get("name") or "").partition(" ")
            local = (c.get("metadata") or {}).get("tickettoken_customer_id")
            found.append(Remote(c["id"], local, c.get("email") or "", first, last))
        return found

    def products(self, ticket_type_ids: set[str]) -> tuple[int, int]:
        products = self._list("/products", active="true")
        prices = self._list("/prices", active="true")
        return len(products), len(prices)

    def transactions(self) -> int:
        raise AssertionError("Stripe payments are Stripe's own: nothing to count")

    def rename(self, remote: Remote, last_name: str) -> None:
        answer = self.http.post(
            f"/customers/{remote.id}", data={"name": f"{remote.first_name} {last_name}"}
        )
        assert answer.status_code == 200, answer.text


class MailchimpAccount:
    def __init__(self, described: dict[str, Any]) -> None:
        self.http = _client(
            base_url=described["api_base_url"], auth=("stranger", described["api_key"])
        )
        lists = self.http.get("/lists").json()["lists"]
        if not lists:  # the venue's marketer makes the audience the platform will fill
            lists = [self.http.post("/lists", json=AUDIENCE).json()]
        self.list_id = lists[0]["id"]  # the audience the platform syncs to: the first list

    def customers(self) -> list[Remote]:
        found = []
        offset = 0
        while True:
            page = self.http.get(
                f"/lists/{self.list_id}/members", params={"count": 1000, "offset": offset}
            ).json()
            for m in page["members"]:
                fields = m.get("merge_fields") or {}
                if m["status"] == "subscribed":
                    found.append(
                        Remote(
                            m["id"],
                            None,
                            m["email_address"],
                            fields.get("FNAME"),
                            fields.get("LNAME"),
                        )
                    )
            offset += len(page["members"])
            if not page["members"] or offset >= page["total_items"]:
                return found

    def products(self, ticket_type_ids: set[str]) -> tuple[int, int]:
        raise AssertionError("Mailchimp holds no products")

    def transactions(self) -> int:
        raise AssertionError("Mailchimp holds no transactions")

    def rename(self, remote: Remote, last_name: str) -> None:
        member = hashlib.md5(remote.email.lower().encode()).hexdigest()  # Mailchimp's member id
        answer = self.http.patch(
            f"/lists/{self.list_id}/members/{member}", json={"merge_fields": {"LNAME": last_name}}
        )
        assert answer.status_code == 200, answer.text


class QuickBooksAccount:
    def __init__(self, described: dict[str, Any], realm_id: str) -> None:
        code = _code(
            str(
                httpx.URL(
                    described["authorize_url"],
                    params={
                        "client_id": described["client_id"],
                        "response_type": "code",
                        "scope": "com.intuit.quickbooks.accounting",
                        "redirect_uri": STRANGER_REDIRECT,
                        "state": "stranger",
                        "realmId": realm_id,
                    },
                )
            )
        )
        assert code["realmId"] == realm_id, code
        token = httpx.post(
            described["token_url"],
            auth=(described["client_id"], described["client_secret"]),
            data={
                "grant_type": "authorization_code",
                "code": code["code"],
                "redirect_uri": STRANGER_REDIRECT,
            },
        ).json()["access_token"]
        self.http = _client(
            base_url=f"{described['api_base_url']}/company/{realm_id}",
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        )

    def _query(self, entity: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        while True:
            text = f"select * from {entity} STARTPOSITION {len(found) + 1} MAXRESULTS 1000"
            answer = self.http.get("/query", params={"query": text, "minorversion": "75"})
            assert answer.status_code == 200, answer.text
            page = answer.json()["QueryResponse"].get(entity, [])
            found += page
            if len(page) < 1000:
                return found

    def customers(self) -> list[Remote]:
        return [
            Remote(
                c["Id"],
                None,
                (c.get("PrimaryEmailAddr") or {}).get("Address", ""),
                c.get("GivenName"),
                c.get("FamilyName"),
            )
            for c in self._query("Customer")
            if c.get("Active", True)
        ]

    def products(self, ticket_type_ids: set[str]) -> tuple[int, int]:
        # one service Item per ticket type (Sku = its id); the company's own items do not count
        items = [i for i in self._query("Item") if i.get("Sku") in ticket_type_ids]
        return len({i["Sku"] for i in items}), len(items)

    def transactions(self) -> int:
        """Invoices, each paid by exactly one Payment linked to it."""
        invoices = self._query("Invoice")
        paid = [
            linked["TxnId"]
            for payment in self._query("Payment")
            for line in payment.get("Line", [])
            for linked in line.get("LinkedTxn", [])
            if linked.get("TxnType") == "Invoice"
        ]
        assert sorted(paid) == sorted(i["Id"] for i in invoices), "one payment per invoice"
        return len(invoices)

    def rename(self, remote: Remote, last_name: str) -> None:
        current = self.http.get(f"/customer/{remote.id}", params={"minorversion": "75"})
        assert current.status_code == 200, current.text
        customer = current.json()["Customer"]
        answer = self.http.post(
            "/customer",
            params={"minorversion": "75", "requestid": f"stranger-{remote.id}-{last_name}"},
            json={
                "Id": customer["Id"],
                "SyncToken": customer["SyncToken"],
                "sparse": True,
                "FamilyName": last_name,
            },
        )
        assert answer.status_code == 200, answer.text
