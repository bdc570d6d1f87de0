"""The queue service's API routers, one per domain (``<domain>/routes.py``), all under
``/api/v1/queue``; the dashboard's router is listed beside them in ``tickettoken.services``.

Roles (admin may do everything; see ``tickettoken.queue.access``):

| routes | roles |
|---|---|
| POST /jobs, POST /jobs/batch | by job type (``job_rules``); venue_admin for own venues |
| GET /jobs/{id} | service; venue_admin for their own venues (404 otherwise) |
| DELETE /jobs/{id} | service; never a money job |
| POST /jobs/{id}/retry | service |
| GET /queues, /queues/{name}/status | service, monitoring |
| GET /queues/{name}/jobs | service; monitoring without payloads; venue_admin: own venues |
| POST /queues/{name}/pause, resume, clear | admin |
| GET /metrics/*, /alerts, /rate-limits, /dead-letter, /dashboard | monitoring |
| POST /alerts/{id}/acknowledge | monitoring |
| POST /alerts/test, /rate-limits/{p}/reset, /dead-letter/{id}/requeue | admin |
"""

from __future__ import annotations

from fastapi import APIRouter

from tickettoken.queue.alerts import routes as alerts
from tickettoken.queue.dead_letters import routes as dead_letters
from tickettoken.queue.jobs import routes as jobs
from tickettoken.queue.metrics import routes as metrics
from tickettoken.queue.queues import routes as queues
from tickettoken.queue.ratelimit import routes as rate_limits

PREFIX = "/api/v1/queue"


def api_routers() -> list[APIRouter]:
    return [
        jobs.router,
        queues.router,
        metrics.router,
        alerts.router,
        rate_limits.router,
        dead_letters.router,
    ]
