"""Audit rows written by the reservation hot path go into statements sent without bind
parameters: every value must come back from PostgreSQL exactly as it went in, whatever it holds
(a JWT ``sub`` is text the platform did not choose), under either string-literal setting."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine

from tickettoken.events.audit.service import (
    AuditContext,
    AuditRow,
    audit_rows_sql,
    sql_literal,
)

NASTY = ["'", "''; DROP TABLE audit_log; --", "\\", "\\'", "E'\\x41", "$$", "😀 ü", ""]
storable = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
)


async def echo(db: AsyncEngine, value: str, conforming: str = "on") -> Any:
    """``value`` sent as ``sql_literal`` in a statement without parameters, as read back."""
    async with db.connect() as conn:
        driver = (await conn.get_raw_connection()).driver_connection
        assert driver is not None
        async with driver.transaction():
            await driver.execute(f"SET LOCAL standard_conforming_strings = {conforming}")
            return await driver.fetchval(f"SELECT {sql_literal(value)}")


@pytest.mark.parametrize("conforming", ["on", "off"])
async def test_literals_round_trip_whatever_the_text(db: AsyncEngine, conforming: str) -> None:
    for value in NASTY:
        assert await echo(db, value, conforming) == value


@settings(max_examples=40, deadline=None)
@given(value=storable)
async def test_any_storable_text_round_trips(db: AsyncEngine, value: str) -> None:
    assert await echo(db, value) == value


def test_unstorable_text_is_refused_before_any_statement() -> None:
    with pytest.raises(ValueError):
        sql_literal("a\x00b")
    with pytest.raises(UnicodeEncodeError):
        sql_literal("\ud800")


async def test_audit_rows_sql_stores_hostile_actors_verbatim(db: AsyncEngine) -> None:
    actor = "x'); DELETE FROM audit_log; --\\"
    context = AuditContext(actor, "customer", "req-literal", None)
    sql = audit_rows_sql([AuditRow(context, "create", "reservation", "r-1", None, {"q": "it's"})])
    async with db.begin() as conn:
        raw = await conn.get_raw_connection()
        await raw.driver_connection.execute(sql)
        row = (
            await conn.execute(
                sa.text("SELECT actor_id, after FROM audit_log WHERE request_id = 'req-literal'")
            )
        ).one()
        await conn.rollback()
    assert row.actor_id == actor and row.after == {"q": "it's"}
