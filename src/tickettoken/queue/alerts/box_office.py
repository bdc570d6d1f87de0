"""A box-office conflict becomes a queue alert (critical), raised by the queue service itself.

The event service's ``box-office-sale`` job completes with ``status: conflict`` when Square
sold more seats than the platform had left (nothing is taken; the event service keeps the
conflict in ``box_office_sales`` and the audit log). The event service may not import the
alerts, so the queue service declares this callback on that job's results in the service table
(``OnCompleted``): the alert row is written in the transaction that completes the job, once per
sale (a job completes once), and shows in ``GET /api/v1/queue/alerts`` and on the dashboard.
It goes to ``alert_history`` only: the email and webhook channels are sent by the monitor's
rules, after their commit, and a callback inside the worker's transaction has no settings.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.kit.jobs import JobRecord
from tickettoken.queue.alerts.rules import Alert
from tickettoken.queue.alerts.service import record

ALERT_TYPE = "box_office_conflict"


def conflict_alert(job: JobRecord, result: dict[str, Any]) -> Alert:
    quantity = int(result.get("quantity") or 0)
    available = int(result.get("available") or 0)
    return Alert(
        key=f"{ALERT_TYPE}:{result.get('box_office_sale_id')}",
        alert_type=ALERT_TYPE,
        severity="critical",
        queue=job.queue,
        message=(
            f"Box office sold {quantity} seat(s) of ticket type {result.get('ticket_type_id')}"
            f" (venue {job.venue_id}) but only {available} were left: nothing was taken;"
            f" box office sale {result.get('box_office_sale_id')} needs settling"
        ),
        value=quantity,
        threshold=available,
    )


async def on_box_office_sale_completed(
    session: AsyncSession, job: JobRecord, result: dict[str, Any]
) -> None:
    if result.get("status") == "conflict":
        await record(session, conflict_alert(job, result))
