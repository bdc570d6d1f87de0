"""What every service needs to put work on the PostgreSQL queue (docs/decisions/queue-engine.md).

Enqueue inside the caller's own transaction (an order and its payment job commit or roll back
together), the catalogue of queues and job types, idempotency keys, records, payload models,
message templates, and the declarations of handlers and result callbacks. Running jobs (the
worker, its store, execution, the registry) and administering them (cancel, retry, dead letters)
belong to the queue service: ``tickettoken.queue.engine``. Nothing here imports it.
"""

from tickettoken.kit.jobs.catalog import JOB_STATUSES, JOB_TYPES, QUEUES, TIERS, Backoff, Tier
from tickettoken.kit.jobs.client import JobClient
from tickettoken.kit.jobs.declarations import (
    JobContext,
    JobDeclaration,
    JobHandler,
    OnCompleted,
    OnFailed,
    PermanentJobError,
    ProviderLimiter,
    RetryableJobError,
)
from tickettoken.kit.jobs.enqueue import enqueue, enqueue_many
from tickettoken.kit.jobs.keys import derive_idempotency_key
from tickettoken.kit.jobs.records import (
    DeadLetterRecord,
    EnqueuedJob,
    JobRecord,
    JobSpec,
    QueueCounts,
)

__all__ = [
    "JOB_STATUSES",
    "JOB_TYPES",
    "QUEUES",
    "TIERS",
    "Backoff",
    "DeadLetterRecord",
    "EnqueuedJob",
    "JobClient",
    "JobContext",
    "JobDeclaration",
    "JobHandler",
    "JobRecord",
    "JobSpec",
    "OnCompleted",
    "OnFailed",
    "PermanentJobError",
    "ProviderLimiter",
    "QueueCounts",
    "RetryableJobError",
    "Tier",
    "derive_idempotency_key",
    "enqueue",
    "enqueue_many",
]
