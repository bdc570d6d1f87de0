"""The queue service's side of the PostgreSQL job engine (docs/decisions/queue-engine.md):
workers claim in batches with ``FOR UPDATE SKIP LOCKED``, wake on ``LISTEN/NOTIFY``, hold
leases and finish in batches (``worker``, ``store``, ``execution``, ``registry``, ``metrics``);
``admin`` reads and changes jobs and queues for the routes (cancel, retry, pause, dead letters).

Enqueueing stays in ``tickettoken.kit.jobs``: every service writes its jobs in its own
transaction without importing this package.
"""

from tickettoken.queue.engine import store
from tickettoken.queue.engine.admin import (
    cancel_job,
    clear_queue,
    get_job,
    is_paused,
    list_dead_letters,
    list_jobs,
    pause_queue,
    queue_counts,
    requeue_dead_letter,
    resume_queue,
    retry_job,
)
from tickettoken.queue.engine.registry import JobRegistry, NoProviderLimits
from tickettoken.queue.engine.worker import Worker

__all__ = [
    "JobRegistry",
    "NoProviderLimits",
    "Worker",
    "cancel_job",
    "clear_queue",
    "get_job",
    "is_paused",
    "list_dead_letters",
    "list_jobs",
    "pause_queue",
    "queue_counts",
    "requeue_dead_letter",
    "resume_queue",
    "retry_job",
    "store",
]
