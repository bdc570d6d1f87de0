"""``nft-mint``: ask the minting service to mint a ticket's NFT (idempotent by ticket)."""

from __future__ import annotations

from typing import Any

from tickettoken.kit.jobs import JobContext
from tickettoken.kit.jobs.payloads import NftMint, read
from tickettoken.queue.handlers.provider_calls import call_provider, endpoint


async def mint_ticket(ctx: JobContext) -> dict[str, Any]:
    payload = read(NftMint, ctx.payload)
    ticket_id = payload.ticket_id
    base = endpoint(ctx.settings.minting_service_url, "MINTING_SERVICE_URL")
    body = {
        "ticket_id": ticket_id,
        "owner": payload.owner,
        "event_id": payload.event_id,
        "metadata": payload.metadata,
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
        "ticket_id": ticket_id,
        "mint_id": minted.get("id"),
        "mint_address": minted.get("mint_address"),
        "transaction_signature": minted.get("transaction_signature"),
        "status": minted.get("status"),
    }
