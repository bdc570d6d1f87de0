"""``nft-mint``: ask the minting service to mint a ticket's NFT (idempotent by ticket)."""

from __future__ import annotations

from typing import Any

from tickettoken.kit.jobs import JobContext
from tickettoken.queue.handlers.provider_calls import call_provider, endpoint, require


async def mint_ticket(ctx: JobContext) -> dict[str, Any]:
    ticket_id, owner = require(ctx.payload, "ticket_id", "owner")
    base = endpoint(ctx.settings.minting_service_url, "MINTING_SERVICE_URL")
    body = {
        "ticket_id": str(ticket_id),
        "owner": str(owner),
        "event_id": ctx.payload.get("event_id"),
        "metadata": ctx.payload.get("metadata", {}),
    }
    response = await call_provider(
        ctx,
        "solana",
        "POST",
        f"{base}/api/v1/mint",
        idempotency_key=ctx.idempotency_key,
        json=body,
        request_timeout=120,
    )
    minted = response.json()
    return {
        "ticket_id": str(ticket_id),
        "mint_id": minted.get("id"),
        "mint_address": minted.get("mint_address"),
        "transaction_signature": minted.get("transaction_signature"),
        "status": minted.get("status"),
    }
