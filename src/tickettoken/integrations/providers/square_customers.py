"""Square customers bulk-create and bulk-update as plain JSON, reading back only each entry's
customer id and version (or its errors).

Why not the SDK here: as for catalog batch-upsert (``square_catalog``), squareup builds a typed
model of every customer in the answer; on the sync benchmark that parsing was most of the
worker's 1.4 ms of CPU per customer pushed (bench/RESULTS.md). The sync needs only the id and
version of each entry, or its errors. The call is otherwise the SDK path's: the same limited
httpx client, retry runner, ``Square-Version`` and error mapping (``square_catalog``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tickettoken.integrations.providers.base import Credentials, ProviderError
from tickettoken.integrations.providers.http_calls import json_or_empty, send
from tickettoken.integrations.providers.square_catalog import SQUARE_VERSION, square_error

if TYPE_CHECKING:
    from tickettoken.integrations.providers.square_client import SquareProvider


@dataclass
class CustomerWritten:
    """One entry's answer: the customer's id and version, or Square's errors for it."""

    id: str | None = None
    version: int | None = None
    errors: list[tuple[str, str]] = field(default_factory=list)  # (code, detail)


def read_entries(answer: Mapping[str, Any]) -> dict[str, CustomerWritten]:
    written: dict[str, CustomerWritten] = {}
    for key, entry in (answer.get("responses") or {}).items():
        customer = entry.get("customer") or {}
        version = customer.get("version")
        written[str(key)] = CustomerWritten(
            id=str(customer["id"]) if customer.get("id") else None,
            version=int(version) if version is not None else None,
            errors=[
                (str(e.get("code") or ""), str(e.get("detail") or ""))
                for e in entry.get("errors") or []
            ],
        )
    return written


async def bulk_write(
    provider: SquareProvider,
    credentials: Credentials,
    operation: str,
    entries: Mapping[str, Mapping[str, Any]],
) -> dict[str, CustomerWritten]:
    """``POST /v2/customers/bulk-create`` (``operation`` "create": entries keyed by idempotency
    key, safe to resend) or ``/bulk-update`` ("update": keyed by customer id, with ``version``;
    not resent after a lost answer: the version moved)."""
    token = credentials.access_token
    if not token:
        raise ProviderError("no Square access token", provider="square", status=401)
    merchant = credentials.extras.get("merchant_id")
    response = await send(
        provider.runner,
        provider.http,
        f"customers.bulk_{operation}",
        "POST",
        f"{provider.base_url}/v2/customers/bulk-{operation}",
        limiter_key=f"square:{merchant}" if merchant else "square",
        venue_id=credentials.venue_id,
        safe=operation == "create",
        json={"customers": {key: dict(fields) for key, fields in entries.items()}},
        headers={"Authorization": f"Bearer {token}", "Square-Version": SQUARE_VERSION},
    )
    body = json_or_empty(response)
    if response.status_code >= 400:
        raise square_error(
            response.status_code, body, response.headers, (token, provider.app_secret)
        )
    return read_entries(body)
