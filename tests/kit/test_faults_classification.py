"""What counts as "the database cannot be reached" (503) and what stays a bug (500)."""

from __future__ import annotations

import asyncpg
from sqlalchemy import exc as sa_exc

from tickettoken.kit.faults import database_unreachable


def test_a_connection_cut_off_mid_statement_is_unreachable_not_a_bug() -> None:
    # What asyncpg raises on a pooled connection whose previous statement the server's
    # shutdown interrupted (seen in tests/faults/test_database_down.py as a 500).
    cut = asyncpg.InternalClientError(
        "cannot switch to state 12; another operation (2) is in progress"
    )
    assert database_unreachable(cut)
    wrapped = sa_exc.DBAPIError("SELECT 1", {}, cut)
    assert database_unreachable(wrapped)


def test_bugs_stay_bugs() -> None:
    assert not database_unreachable(ValueError("bad input"))
    assert not database_unreachable(asyncpg.InternalClientError("unexpected protocol message"))
    assert not database_unreachable(FileNotFoundError("missing"))
