"""The PostgreSQL job engine shared by every service (docs/decisions/queue-engine.md).

Enqueue inside the caller's transaction; workers claim in batches with ``FOR UPDATE SKIP
LOCKED``, wake on ``LISTEN/NOTIFY``, hold leases, and finish in batches.
"""

from tickettoken.kit.jobs.admin import (
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
from tickettoken.kit.jobs.catalog import JOB_STATUSES, JOB_TYPES, QUEUES, TIERS, Backoff, Tier
from tickettoken.kit.jobs.client import JobClient
from tickettoken.kit.jobs.enqueue import enqueue, enqueue_many
from tickettoken.kit.jobs.keys import derive_idempotency_key
from tickettoken.kit.jobs.records import (
    DeadLetterRecord,
    EnqueuedJob,
    JobRecord,
    JobSpec,
    QueueCounts,
)
from tickettoken.kit.jobs.registry import (
    JobContext,
    JobDeclaration,
    JobHandler,
    JobRegistry,
    NoProviderLimits,
    OnCompleted,
    OnFailed,
    PermanentJobError,
    ProviderLimiter,
    RetryableJobError,
)
from tickettoken.kit.jobs.worker import Worker

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
    "JobRegistry",
    "JobSpec",
    "NoProviderLimits",
    "OnCompleted",
    "OnFailed",
    "PermanentJobError",
    "ProviderLimiter",
    "QueueCounts",
    "RetryableJobError",
    "Tier",
    "Worker",
    "cancel_job",
    "clear_queue",
    "derive_idempotency_key",
    "enqueue",
    "enqueue_many",
    "get_job",
    "is_paused",
    "list_dead_letters",
    "list_jobs",
    "pause_queue",
    "queue_counts",
    "requeue_dead_letter",
    "resume_queue",
    "retry_job",
]
