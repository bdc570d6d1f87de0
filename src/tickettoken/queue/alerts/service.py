"""Firing, listing and acknowledging alerts.

``fire`` stores an alert in ``alert_history`` only when its key's cooldown has passed, decided by
one atomic upsert on ``alert_cooldowns`` (``monitoring.turns``), so with any number of instances
each alert is sent once per cooldown. Channels are called after the commit.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.kit.db import Database
from tickettoken.kit.errors import Conflict, NotFound
from tickettoken.kit.settings import Settings
from tickettoken.queue.alerts import channels
from tickettoken.queue.alerts.rules import Alert, Severity
from tickettoken.queue.monitoring.turns import claim_turn

_INSERT = text(
    "INSERT INTO alert_history (severity, alert_type, message, queue_name, metric_value,"
    " threshold_value) VALUES (:severity, :type, :message, :queue, :value, :threshold)"
    " RETURNING id"
)

_COLUMNS = (
    "id, severity, alert_type, message, queue_name, metric_value, threshold_value,"
    " acknowledged, acknowledged_by, acknowledged_at, created_at"
)


async def record(session: AsyncSession, alert: Alert) -> str:
    row = await session.execute(
        _INSERT,
        {
            "severity": alert.severity,
            "type": alert.alert_type,
            "message": alert.message,
            "queue": alert.queue,
            "value": alert.value,
            "threshold": alert.threshold,
        },
    )
    return str(row.scalar_one())


async def fire(
    database: Database, settings: Settings, alert: Alert, cooldown_seconds: float
) -> str | None:
    """Store and send ``alert`` unless its cooldown is running; returns the alert id if fired."""
    async with database.transaction() as session:
        if not await claim_turn(session, f"alert:{alert.key}", cooldown_seconds):
            return None
        alert_id = await record(session, alert)
    await channels.send(settings, alert, alert_id)
    return alert_id


async def send_test(
    database: Database, settings: Settings, severity: Severity, message: str, sender: str
) -> dict[str, Any]:
    """A test alert through every channel: stored and committed first (no cooldown), then sent;
    the alert's id and the channels that took it."""
    alert = Alert(
        key="test",
        alert_type="test",
        severity=severity,
        queue=None,
        message=f"{message} (sent by {sender})",
        value=0,
        threshold=0,
    )
    async with database.transaction() as session:
        alert_id = await record(session, alert)
    delivered = await channels.send(settings, alert, alert_id)
    return {"id": alert_id, "channels": delivered}


def _row(row: Any) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "severity": row["severity"],
        "type": row["alert_type"],
        "message": row["message"],
        "queue": row["queue_name"],
        "value": float(row["metric_value"]) if row["metric_value"] is not None else None,
        "threshold": float(row["threshold_value"]) if row["threshold_value"] is not None else None,
        "acknowledged": row["acknowledged"],
        "acknowledged_by": row["acknowledged_by"],
        "acknowledged_at": row["acknowledged_at"].isoformat() if row["acknowledged_at"] else None,
        "created_at": row["created_at"].isoformat(),
    }


async def list_alerts(
    session: AsyncSession,
    *,
    acknowledged: bool | None,
    severity: str | None,
    limit: int,
    offset: int,
) -> tuple[list[dict[str, Any]], int]:
    where = (
        "(CAST(:ack AS boolean) IS NULL OR acknowledged = :ack)"
        " AND (CAST(:sev AS text) IS NULL OR severity = :sev)"
    )
    params = {"ack": acknowledged, "sev": severity, "limit": limit, "offset": offset}
    total = (
        await session.execute(text(f"SELECT count(*) FROM alert_history WHERE {where}"), params)
    ).scalar_one()
    rows = await session.execute(
        text(
            f"SELECT {_COLUMNS} FROM alert_history WHERE {where}"
            " ORDER BY created_at DESC, id LIMIT :limit OFFSET :offset"
        ),
        params,
    )
    return [_row(r) for r in rows.mappings()], int(total)


async def acknowledge(session: AsyncSession, alert_id: uuid.UUID, by: str) -> dict[str, Any]:
    row = (
        (
            await session.execute(
                text(
                    "UPDATE alert_history SET acknowledged = true, acknowledged_by = :by,"
                    " acknowledged_at = now(), updated_at = now()"
                    f" WHERE id = :id AND NOT acknowledged RETURNING {_COLUMNS}"
                ),
                {"id": alert_id, "by": by},
            )
        )
        .mappings()
        .first()
    )
    if row is not None:
        return _row(row)
    exists = (
        await session.execute(text("SELECT 1 FROM alert_history WHERE id = :id"), {"id": alert_id})
    ).first()
    if exists is None:
        raise NotFound("Alert not found")
    raise Conflict("Alert was already acknowledged")
