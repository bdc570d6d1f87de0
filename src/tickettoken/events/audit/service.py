"""The audit trail: one ``audit_log`` row for every write (catalogue and sales alike).

Written in the same transaction as the change it describes, so a rolled-back change leaves no
record and a committed one always has its record. Who and from where (``AuditContext``: the
principal, the client address of the ``fastapi.Request``, the request id) is taken in the request;
writes that run on the driver outside the ORM (the reservation hot path) put their rows into their
own transaction's SQL with ``audit_rows_sql``, set-based, one statement per transaction.
"""

from __future__ import annotations

import ipaddress
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from fastapi import Request
from sqlalchemy import insert, inspect
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


def audit_context(principal: Principal | None, request: Request | None) -> AuditContext:
    return AuditContext(
        actor_id=principal.sub if principal else None,
        actor_role=principal.role.value if principal else None,
        request_id=current_request_id(),
        ip=client_ip(request),
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
    request: Request | None,
) -> AuditRecord:
    row = AuditRow(audit_context(principal, request), action, entity_type, entity_id, before, after)
    record = AuditRecord(**row.values())
    session.add(record)
    await session.flush()
    return record


async def record_audits(session: AsyncSession, rows: Sequence[AuditRow]) -> None:
    """Write many audit rows in one statement (set-based), in the session's transaction."""
    if rows:
        await session.execute(insert(AuditRecord), [row.values() for row in rows])


def customer_created_sql(context: AuditContext, customer_id: uuid.UUID) -> str:
    """An ``INSERT INTO audit_log`` statement (with its ``;``) auditing the buyer's customer row
    if the transaction it runs in created it (on the fly, for a sale: its ``created_at`` default
    is the transaction's ``now()``), writing nothing otherwise. Values quoted by ``sql_literal``."""
    return (
        "INSERT INTO audit_log (actor_id, actor_role, action, entity_type, entity_id, after,"
        f" request_id, ip) SELECT {sql_literal(context.actor_id)},"
        f" {sql_literal(context.actor_role)}, 'create', 'customer', c.id::text, to_jsonb(c),"
        f" {sql_literal(context.request_id)}, {sql_literal(context.ip)}::inet FROM customers c"
        f" WHERE c.id = '{uuid.UUID(str(customer_id))}' AND c.created_at = now();\n"
    )


def sql_literal(value: str | None) -> str:
    """A PostgreSQL string constant for ``value`` (as the server's ``quote_literal``: backslashes
    and quotes escaped in an ``E''`` string, so the result is the same whatever
    ``standard_conforming_strings`` says). For statements sent without bind parameters."""
    if value is None:
        return "NULL"
    if "\x00" in value:
        raise ValueError("PostgreSQL text cannot hold NUL characters")
    value.encode("utf-8")  # a lone surrogate fails here, not half-way into a statement
    return "E'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def audit_rows_sql(rows: Sequence[AuditRow]) -> str:
    """One ``INSERT INTO audit_log`` statement (with its ``;``) for ``rows``, every value quoted
    by ``sql_literal``; empty when there is nothing to write. For transactions sent as one
    multi-statement round trip (simple query protocol, which takes no bind parameters)."""
    if not rows:
        return ""
    tuples = []
    for row in rows:
        values = row.values()
        before = json.dumps(values["before"]) if values["before"] is not None else None
        after = json.dumps(values["after"]) if values["after"] is not None else None
        tuples.append(
            "("
            + ", ".join(
                [
                    sql_literal(values["actor_id"]),
                    sql_literal(values["actor_role"]),
                    sql_literal(values["action"]),
                    sql_literal(values["entity_type"]),
                    sql_literal(values["entity_id"]),
                    f"{sql_literal(before)}::jsonb",
                    f"{sql_literal(after)}::jsonb",
                    sql_literal(values["request_id"]),
                    f"{sql_literal(values['ip'])}::inet",
                ]
            )
            + ")"
        )
    return (
        "INSERT INTO audit_log (actor_id, actor_role, action, entity_type, entity_id, before,"
        " after, request_id, ip) VALUES\n" + ",\n".join(tuples) + ";\n"
    )
