"""Square catalog batch-upsert as plain JSON, reading back only ids and versions.

Why not the SDK here: squareup builds typed models of every object in the answer, and its
``construct_type`` resolves type hints per field per object. Measured on the sync benchmark
(py-spy on the worker, bench/RESULTS.md): 1,593 of 1,594 samples of a Square products push were
in that model construction, 2-8 s of CPU for one answer of 400 objects while the HTTP exchange
took ~70 ms, so the sync reached 0.01 of what Square's 10 calls a second x 1,000 objects allow.
The sync needs only ``id_mappings`` and each written object's id and version, which a JSON
parse gives in milliseconds.

Everything else about the call is the SDK path's: the same limited httpx client (limiter slot,
call observer, 429 penalty), the same retry runner (``safe``: the body carries the idempotency
key, made once per logical call), the same ``Square-Version`` and error mapping. The rest of
Square stays on the SDK.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tickettoken.integrations.providers.base import Credentials, ProviderError
from tickettoken.integrations.providers.calls import parse_retry_after, redact
from tickettoken.integrations.providers.http_calls import json_or_empty, send

if TYPE_CHECKING:
    from tickettoken.integrations.providers.square_client import SquareProvider

# The API version squareup 46.0.0.20260916 sends: both paths speak the same version.
SQUARE_VERSION = "2026-09-16"


@dataclass
class CatalogUpserted:
    """What a batch-upsert wrote: client ids (``#...``) to Square ids, and the version of every
    object written (items and their nested variations), by Square id."""

    id_mappings: dict[str, str] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)  # a batch Square refused (others written)
    updated_at: str | None = None


def read_upserted(answer: Mapping[str, Any]) -> CatalogUpserted:
    result = CatalogUpserted(updated_at=answer.get("updated_at"))
    for mapping in answer.get("id_mappings") or []:
        result.id_mappings[str(mapping["client_object_id"])] = str(mapping["object_id"])
    for obj in answer.get("objects") or []:
        result.versions[str(obj["id"])] = int(obj["version"])
        for child in (obj.get("item_data") or {}).get("variations") or []:
            result.versions[str(child["id"])] = int(child["version"])
    result.errors = [str(e.get("detail") or e.get("code")) for e in answer.get("errors") or []]
    return result


def square_error(
    status: int, body: Any, headers: Mapping[str, str], secrets: Sequence[str | None]
) -> ProviderError:
    errors = body.get("errors") if isinstance(body, dict) else None
    first = errors[0] if errors else {}
    detail = first.get("detail") or f"Square answered {status}"
    return ProviderError(
        redact(str(detail), secrets),
        status=status,
        code=first.get("code"),
        retryable=status == 429 or status >= 500,
        provider="square",
        details={"category": first["category"]} if first.get("category") else None,
        retry_after=parse_retry_after(headers.get("retry-after")),
    )


async def batch_upsert_ids(
    provider: SquareProvider,
    credentials: Credentials,
    batches: Sequence[Mapping[str, Any]],
    *,
    idempotency_key: str | None = None,
) -> CatalogUpserted:
    """``POST /v2/catalog/batch-upsert`` (at most 1,000 objects a batch)."""
    token = credentials.access_token
    if not token:
        raise ProviderError("no Square access token", provider="square", status=401)
    merchant = credentials.extras.get("merchant_id")
    response = await send(
        provider.runner,
        provider.http,
        "catalog.batch_upsert",
        "POST",
        f"{provider.base_url}/v2/catalog/batch-upsert",
        limiter_key=f"square:{merchant}" if merchant else "square",
        venue_id=credentials.venue_id,
        safe=True,
        json={"idempotency_key": idempotency_key or str(uuid.uuid4()), "batches": list(batches)},
        headers={"Authorization": f"Bearer {token}", "Square-Version": SQUARE_VERSION},
    )
    body = json_or_empty(response)
    if response.status_code >= 400:
        raise square_error(
            response.status_code, body, response.headers, (token, provider.app_secret)
        )
    return read_upserted(body)
