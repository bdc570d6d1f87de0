"""The audit trail: one ``audit_log`` row for every create, update, delete, publish and cancel.

Written in the same transaction as the change it describes, so a rolled-back change leaves no
record and a committed one always has its record.
"""

from __future__ import annotations

import ipaddress
import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from fastapi import Request
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.events.audit.models import AuditRecord
from tickettoken.kit.auth import Principal
from tickettoken.kit.request_context import current_request_id


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


def client_ip(request: Request | None) -> str | None:
    if request is None or request.client is None:
        return None
    host = request.client.host
    # The in-process test transport reports a hostname, not an address; inet would reject it.
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return None
    return host


async def record_audit(
    session: AsyncSession,
    principal: Principal | None,
    action: str,
    entity_type: str,
    entity_id: uuid.UUID | str | None,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    request: Request | None,
) -> AuditRecord:
    record = AuditRecord(
        actor_id=principal.sub if principal else None,
        actor_role=principal.role.value if principal else None,
        action=action,
        entity_type=entity_type,
        entity_id=str(entity_id) if entity_id is not None else None,
        before=json_safe(before) if before is not None else None,
        after=json_safe(after) if after is not None else None,
        request_id=current_request_id(),
        ip=client_ip(request),
    )
    session.add(record)
    await session.flush()
    return record
