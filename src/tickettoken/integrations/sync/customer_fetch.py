"""Reading customers back from each provider: those changed since a moment, as ``RemoteCustomer``.

Each provider offers its own "changed since" filter: Square's customer search on ``updated_at``,
Mailchimp's ``since_last_changed``, QuickBooks' ``MetaData.LastUpdatedTime``. Stripe has none,
so every customer is paged and the hash of what it holds, compared with the stored one, tells
what changed. Paging follows each API (Square cursor, Stripe ``starting_after``, Mailchimp
``offset``, QuickBooks ``STARTPOSITION``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tickettoken.integrations.providers import (
    Credentials,
    MailchimpProvider,
    Provider,
    QuickBooksProvider,
    SquareProvider,
    StripeProvider,
)
from tickettoken.integrations.providers.square_client import NO_SDK_RETRIES
from tickettoken.integrations.sync.echo import ECHO, stamp
from tickettoken.integrations.sync.mapping import customer_view

PAGE = 100
MAILCHIMP_PAGE = 1000
QUICKBOOKS_PAGE = 1000
CONSENT_CLEARED = ("unsubscribed", "cleaned")


@dataclass
class RemoteCustomer:
    remote_id: str
    view: dict[str, Any]  # platform field names, see mapping.customer_view
    version: str | None = None
    updated_at: datetime | None = None  # None: the provider records no change time (Stripe)
    local_hint: str | None = None  # the platform id the provider keeps (reference_id, metadata)
    remote_data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Fetched:
    customers: list[RemoteCustomer] = field(default_factory=list)
    api_calls: int = 0
    note: str | None = None


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


async def square(provider: Provider, credentials: Credentials, since: datetime | None) -> Fetched:
    assert isinstance(provider, SquareProvider)
    found = Fetched()
    query: dict[str, Any] = {"sort": {"field": "CREATED_AT", "order": "ASC"}}
    if since is not None:
        query["filter"] = {"updated_at": {"start_at": _iso(since)}}
    cursor: str | None = None
    while True:
        found.api_calls += 1
        answer = await provider.call(
            "customers.search",
            lambda sdk, c=cursor: sdk.customers.search(  # type: ignore[misc]
                query=query, limit=PAGE, cursor=c, request_options=NO_SDK_RETRIES
            ),
            credentials,
        )
        for c in answer.customers or []:
            values = {
                "first_name": c.given_name,
                "last_name": c.family_name,
                "email": c.email_address,
                "phone": c.phone_number,
            }
            found.customers.append(
                RemoteCustomer(
                    remote_id=str(c.id),
                    view=customer_view("square", values),
                    version=str(c.version) if c.version is not None else None,
                    updated_at=_time(c.updated_at),
                    local_hint=c.reference_id,
                )
            )
        cursor = getattr(answer, "cursor", None)
        if not cursor:
            return found


async def stripe(provider: Provider, credentials: Credentials, since: datetime | None) -> Fetched:
    """Every customer (Stripe has no "updated since"): the caller compares hashes."""
    assert isinstance(provider, StripeProvider)
    found = Fetched(note="Stripe has no updated-since filter: every customer read, hashes compared")
    after: str | None = None
    while True:
        found.api_calls += 1
        page = await provider.list_customers(credentials, limit=PAGE, starting_after=after)
        for c in page.data:
            metadata = c.metadata.to_dict() if c.metadata is not None else {}
            values = {"name": c.name, "email": c.email, "phone": c.phone}
            found.customers.append(
                RemoteCustomer(
                    remote_id=str(c.id),
                    view=customer_view("stripe", values),
                    local_hint=metadata.get("tickettoken_customer_id"),
                )
            )
        if not page.data or not page.has_more:
            return found
        after = str(page.data[-1].id)


def mailchimp_consent(member: dict[str, Any]) -> bool | None:
    """Unsubscribed or cleaned: no consent. Subscribed: consent, unless the member carries
    marketing permissions and none is enabled (the provider then records no consent). Any
    other status (pending, transactional) says nothing."""
    status = member.get("status")
    if status in CONSENT_CLEARED:
        return False
    if status != "subscribed":
        return None
    permissions = member.get("marketing_permissions") or []
    if permissions and not any(p.get("enabled") for p in permissions):
        return None
    return True


async def mailchimp(
    provider: Provider, credentials: Credentials, since: datetime | None
) -> Fetched:
    assert isinstance(provider, MailchimpProvider)
    found = Fetched()
    found.api_calls += 1
    audiences = await provider.lists(credentials, count=1)
    if not audiences:
        found.note = "the Mailchimp account has no audience"
        return found
    list_id = str(audiences[0]["id"])
    offset = 0
    while True:
        params: dict[str, Any] = {"count": MAILCHIMP_PAGE, "offset": offset}
        if since is not None:
            params["since_last_changed"] = _iso(since)
        found.api_calls += 1
        body = await provider.request(
            credentials, "members.list", "GET", f"/lists/{list_id}/members", params=params
        )
        members = list(body.get("members") or [])
        for m in members:
            changed_at = _time(m.get("last_changed"))
            if since is not None and changed_at is not None and changed_at < since:
                continue  # an API that ignores the filter: the same answer
            merge = m.get("merge_fields") or {}
            values = {
                "first_name": merge.get("FNAME"),
                "last_name": merge.get("LNAME"),
                "email": m.get("email_address"),
                "marketing_consent": mailchimp_consent(m),
            }
            found.customers.append(
                RemoteCustomer(
                    remote_id=str(m["id"]),
                    view=customer_view("mailchimp", values),
                    updated_at=changed_at,
                    remote_data={"list_id": list_id},
                )
            )
        offset += len(members)
        if not members or offset >= int(body.get("total_items") or 0):
            return found


async def quickbooks(
    provider: Provider, credentials: Credentials, since: datetime | None
) -> Fetched:
    assert isinstance(provider, QuickBooksProvider)
    found = Fetched()
    statement = "select * from Customer"
    if since is not None:
        statement += f" where MetaData.LastUpdatedTime > '{_iso(since)}'"
    start = 1
    while True:
        found.api_calls += 1
        answer = await provider.query(
            credentials, statement, start_position=start, max_results=QUICKBOOKS_PAGE
        )
        rows = list(answer.get("Customer") or [])
        for c in rows:
            values = {
                "first_name": c.get("GivenName"),
                "last_name": c.get("FamilyName"),
                "email": (c.get("PrimaryEmailAddr") or {}).get("Address"),
                "phone": (c.get("PrimaryPhone") or {}).get("FreeFormNumber"),
            }
            ref = {"Id": str(c["Id"]), "SyncToken": str(c["SyncToken"])}
            found.customers.append(
                RemoteCustomer(
                    remote_id=ref["Id"],
                    view=customer_view("quickbooks", values),
                    version=ref["SyncToken"],
                    updated_at=_time((c.get("MetaData") or {}).get("LastUpdatedTime")),
                    remote_data={**ref, ECHO: stamp("Customer", c)},
                )
            )
        if len(rows) < QUICKBOOKS_PAGE:
            return found
        start += len(rows)


Fetcher = Callable[[Provider, Credentials, datetime | None], Awaitable[Fetched]]
FETCHERS: dict[str, Fetcher] = {
    "square": square,
    "stripe": stripe,
    "mailchimp": mailchimp,
    "quickbooks": quickbooks,
}
