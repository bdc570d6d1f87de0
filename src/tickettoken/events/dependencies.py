"""Request dependencies of the event service: the transaction and the key-value store.

The transaction is ``kit.db.DbSession`` (committed before the response leaves, then the
``after_commit`` callbacks). Cache invalidation is registered with ``after_commit``: a reader
that refilled the cache between our invalidation and our commit would store the old row again.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from tickettoken.kit.db import AfterCommit, DbSession, after_commit, get_session
from tickettoken.kit.kv import KeyValueStore

# The transaction dependency moved to kit.db (every service needs the same commit timing);
# these names stay for the event service's modules.
request_transaction = get_session


def request_kv(request: Request) -> KeyValueStore:
    store: KeyValueStore = request.app.state.kv
    return store


KeyValue = Annotated[KeyValueStore, Depends(request_kv)]

__all__ = [
    "AfterCommit",
    "DbSession",
    "KeyValue",
    "after_commit",
    "request_kv",
    "request_transaction",
]
