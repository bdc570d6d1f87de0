"""The audit trail: one ``audit_log`` row for every write (catalogue and sales alike).

Written in the same transaction as the change it describes, so a rolled-back change leaves no
record and a committed one always has its record. Who and from where (``AuditContext``: the
caller, the client address, the request id) comes from the request context
(``kit.request_context``), never from the web framework's request object;
writes that run on the driver outside the ORM (the reservation hot path) hand their ``AuditRow``s to
inventory's hold, which inserts them in its own transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import insert, inspect, text
from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.events.audit.models import AuditRecord
from tickettoken.kit.auth import Principal
from tickettoken.kit.request_context import (
    current_actor,
    current_client_address,
    current_request_id,
)


def json_safe(value: Any) -> Any:
    """Turn a column value into something JSONB stores without loss of meaning."""
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def entity_snapshot(entity: object) -> dict[str, Any]:
    """All mapped columns of a model instance, keyed by column name, JSON-safe."""
    mapper = inspect(entity).mapper
    return {
        column.key: json_safe(getattr(entity, attr.key))
        for attr in mapper.column_attrs
        for column in attr.columns
    }


@dataclass(frozen=True)
class AuditContext:
    """Who writes and from where; taken in the request (the request id is a context variable of
    the request's task, so work handed to another task carries its context with it)."""

    actor_id: str | None
    actor_role: str | None
    request_id: str | None
    ip: str | None


def system_context(actor: str) -> AuditContext:
    """The platform itself writing (a background loop, not a request): ``actor`` names it."""
    return AuditContext(actor_id=actor, actor_role="system", request_id=None, ip=None)


def audit_context(principal: Principal | None = None) -> AuditContext:
    """Who writes and from where, from the request context (``kit.request_context``: the
    middleware's request id and client address, the verified caller); ``principal``, when
    given, is the actor. Outside a request: no address, no request id, no actor."""
    actor = (principal.sub, principal.role.value) if principal else current_actor()
    return AuditContext(
        actor_id=actor[0] if actor else None,
        actor_role=actor[1] if actor else None,
        request_id=current_request_id(),
        ip=current_client_address(),
    )


@dataclass(frozen=True)
class AuditRow:
    """One audit record to write: ``context`` did ``action`` to an entity."""

    context: AuditContext
    action: str
    entity_type: str
    entity_id: uuid.UUID | str | None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None

    def values(self) -> dict[str, Any]:
        return {
            "actor_id": self.context.actor_id,
            "actor_role": self.context.actor_role,
            "action": self.action,
            "entity_type": self.entity_type,
            "entity_id": str(self.entity_id) if self.entity_id is not None else None,
            "before": json_safe(self.before) if self.before is not None else None,
            "after": json_safe(self.after) if self.after is not None else None,
            "request_id": self.context.request_id,
            "ip": self.context.ip,
        }


async def record_audit(
    session: AsyncSession,
    principal: Principal | None,
    action: str,
    entity_type: str,
    entity_id: uuid.UUID | str | None,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> AuditRecord:
    row = AuditRow(audit_context(principal), action, entity_type, entity_id, before, after)
    record = AuditRecord(**row.values())
    session.add(record)
    await session.flush()
    return record


async def record_audits(session: AsyncSession, rows: Sequence[AuditRow]) -> None:
    """Write many audit rows in one statement (set-based), in the session's transaction."""
    if rows:
        await session.execute(insert(AuditRecord), [row.values() for row in rows])


_CUSTOMER_CREATED = text(
    "INSERT INTO audit_log (actor_id, actor_role, action, entity_type, entity_id, after,"
    " request_id, ip) SELECT :actor_id, :actor_role, 'create', 'customer', c.id::text,"
    " to_jsonb(c), :request_id, CAST(:ip AS inet) FROM customers c"
    " WHERE c.id = :customer_id AND c.created_at = now()"
)


async def record_customer_created(
    session: AsyncSession, context: AuditContext, customer_id: uuid.UUID
) -> None:
    """Audit the buyer's customer row if the session's transaction created it (on the fly, for
    a sale: its ``created_at`` default is the transaction's ``now()``); nothing otherwise."""
    await session.execute(
        _CUSTOMER_CREATED,
        {
            "actor_id": context.actor_id,
            "actor_role": context.actor_role,
            "request_id": context.request_id,
            "ip": context.ip,
            "customer_id": customer_id,
        },
    )
