"""Schemathesis hooks of the queue service's contract run (test_queue_schemathesis.py).

``negative_data_rejection`` expects every schema-violating request to be refused. One answer is
an exception by design: SPEC 6 has ``POST /jobs/batch`` validate each job on its own and answer
each with its own result, and its request schema documents every job type's schema (so a client
knows what a valid job is). A batch holding one invalid job therefore violates the schema and
is still taken: the valid jobs are created and the invalid one is answered with its validation
errors in ``results``. This check is ``negative_data_rejection`` for every other answer (the run
excludes the built-in one), including every refusal of a malformed batch.
"""

from __future__ import annotations

import json
from typing import Any

import schemathesis
from schemathesis.specs.openapi.checks import negative_data_rejection

BATCH = ("POST", "/api/v1/queue/jobs/batch")


def _jobs_refused_one_by_one(response: Any) -> bool:
    """A batch answer in which some jobs were refused for their own data (the others taken)."""
    if response.status_code not in (200, 201):
        return False
    try:
        results = json.loads(response.content)["data"]["results"]
    except (ValueError, KeyError, TypeError):
        return False
    return any(result.get("code") == "VALIDATION_ERROR" for result in results)


@schemathesis.check
def negative_data_rejection_beyond_per_job_batches(
    ctx: Any, response: Any, case: Any
) -> bool | None:
    """``negative_data_rejection``, except a batch whose invalid jobs were answered one by one."""
    operation = (case.operation.method.upper(), case.operation.path)
    if operation == BATCH and _jobs_refused_one_by_one(response):
        return None
    result: bool | None = negative_data_rejection(ctx, response, case)
    return result
