"""The report queries, read from the rollups of migration 0009 and built from the filters given.

One definition of a sale everywhere: an order that was paid (``paid``, ``partially_refunded``,
``refunded``), dated by ``coalesce(paid_at, created_at)`` (UTC days); gross is its total, refunds
its refunded amount, net the difference, tickets its items' quantities. The triggers keep
``report_sales_daily`` and ``report_customer_sales`` equal to those sums; partial days at the
edges of a window come from the orders (``windows.py``).

Each statement is assembled from the filters actually given (no ``CAST(:x) IS NULL OR ...``):
every variant is its own prepared statement whose generic plan still uses the indexes, because
no condition depends on whether a parameter is null.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.events.reports.windows import split_window

CHARGED = "('paid', 'partially_refunded', 'refunded')"
SOLD_AT = "coalesce(o.paid_at, o.created_at)"
UNITS = ("day", "week", "month")
ALL_VENUES = uuid.UUID(int=0)  # customer rollup rows counting every venue (migration 0009)


@dataclass
class _Sql:
    """Conditions and their parameters, collected while a statement is assembled."""

    params: dict[str, Any] = field(default_factory=dict)

    def bind(self, name: str, value: Any) -> str:
        self.params[name] = value
        return f":{name}"


def filters(
    venue_ids: list[uuid.UUID] | None,
    event_id: uuid.UUID | None,
    date_from: datetime | None,
    date_to: datetime | None,
) -> dict[str, Any]:
    return {
        "venue_ids": venue_ids,
        "event_id": event_id,
        "date_from": date_from,
        "date_to": date_to,
    }


def _scope(sql: _Sql, params: dict[str, Any], alias: str) -> list[str]:
    where = []
    if params["venue_ids"] is not None:
        where.append(f"{alias}.venue_id = ANY({sql.bind('venue_ids', params['venue_ids'])})")
    if params["event_id"] is not None:
        where.append(f"{alias}.event_id = {sql.bind('event_id', params['event_id'])}")
    return where


def _sold(sql: _Sql, params: dict[str, Any]) -> str:
    """Charged sales in the filters as rows ``(venue_id, event_id, at, orders, tickets, gross,
    refunds)``, ``at`` a UTC timestamp: rollup days plus orders of the partial edge days."""
    window = split_window(params["date_from"], params["date_to"])
    parts = []
    if window.use_days:
        where = ["r.orders <> 0", *_scope(sql, params, "r")]
        if window.first_day is not None:
            where.append(f"r.day >= {sql.bind('first_day', window.first_day)}")
        if window.end_day is not None:
            where.append(f"r.day < {sql.bind('end_day', window.end_day)}")
        parts.append(
            "SELECT r.venue_id, r.event_id, r.day::timestamp AS at, r.orders, r.tickets,"
            f" r.gross, r.refunds FROM report_sales_daily r WHERE {' AND '.join(where)}"
        )
    if window.edges:
        ranges = []
        for number, (start, end) in enumerate(window.edges):
            low, high = sql.bind(f"edge_start_{number}", start), sql.bind(f"edge_end_{number}", end)
            ranges.append(f"({SOLD_AT} >= {low} AND {SOLD_AT} < {high})")
        where = [f"o.status IN {CHARGED}", *_scope(sql, params, "o"), f"({' OR '.join(ranges)})"]
        parts.append(
            f"SELECT o.venue_id, o.event_id, {SOLD_AT} AT TIME ZONE 'UTC' AS at, 1 AS orders,"
            " o.tickets, o.total AS gross, o.refunded_amount AS refunds"
            f" FROM orders o WHERE {' AND '.join(where)}"
        )
    if not parts:
        return (
            "SELECT NULL::uuid AS venue_id, NULL::uuid AS event_id, NULL::timestamp AS at,"
            " 0 AS orders, 0 AS tickets, 0::numeric AS gross, 0::numeric AS refunds WHERE false"
        )
    return " UNION ALL ".join(parts)


MONEY = """
    coalesce(sum(orders), 0)::bigint AS orders,
    coalesce(sum(tickets), 0)::bigint AS tickets,
    coalesce(sum(gross), 0) AS gross,
    coalesce(sum(refunds), 0) AS refunds,
    coalesce(sum(gross - refunds), 0) AS net
"""


def sales_statement(params: dict[str, Any], unit: str) -> tuple[str, dict[str, Any]]:
    if unit not in UNITS:
        raise ValueError(f"unknown unit {unit}")
    sql = _Sql()
    statement = f"""
        WITH sold AS ({_sold(sql, params)})
        SELECT date_trunc('{unit}', at) AS period, {MONEY}
        FROM sold GROUP BY ROLLUP (1) ORDER BY 1 NULLS LAST
    """
    return statement, sql.params


async def sales_by_period(
    session: AsyncSession, params: dict[str, Any], unit: str
) -> list[dict[str, Any]]:
    statement, bound = sales_statement(params, unit)
    rows = await session.execute(text(statement), bound)
    return [dict(row) for row in rows.mappings()]


def venue_comparison_statement(params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    sql = _Sql()
    venues = ""
    if params["venue_ids"] is not None:
        venues = f"AND v.id = ANY({sql.bind('venue_ids', params['venue_ids'])})"
    statement = f"""
        WITH sold AS ({_sold(sql, params)}),
        per_venue AS (SELECT venue_id, {MONEY} FROM sold GROUP BY venue_id),
        per_venue_events AS (
            SELECT venue_id, count(*) AS events FROM events WHERE deleted_at IS NULL
            GROUP BY venue_id
        )
        SELECT v.id AS venue_id, v.name, v.city, coalesce(e.events, 0) AS events,
               coalesce(s.orders, 0) AS orders, coalesce(s.tickets, 0) AS tickets,
               coalesce(s.gross, 0) AS gross, coalesce(s.refunds, 0) AS refunds,
               coalesce(s.net, 0) AS net,
               CASE WHEN coalesce(s.tickets, 0) > 0 THEN round(s.gross / s.tickets, 2) ELSE 0 END
                   AS average_ticket_price
        FROM venues v
        LEFT JOIN per_venue s ON s.venue_id = v.id
        LEFT JOIN per_venue_events e ON e.venue_id = v.id
        WHERE v.deleted_at IS NULL {venues}
        ORDER BY net DESC, v.name, v.id
    """
    return statement, sql.params


async def venue_comparison(session: AsyncSession, params: dict[str, Any]) -> list[dict[str, Any]]:
    statement, bound = venue_comparison_statement(params)
    rows = await session.execute(text(statement), bound)
    return [dict(row) for row in rows.mappings()]


async def customer_source(session: AsyncSession, params: dict[str, Any]) -> str:
    """Where customer insights read the window's per-customer figures from, by what is fastest
    (each is exact): ``rollup`` when the window holds every sale in scope, ``subtract`` (the
    rollup minus the orders outside the window) when fewer sales lie outside than inside,
    ``orders`` (the window's orders grouped) otherwise. Counted on the daily rollup."""
    if params["date_from"] is None and params["date_to"] is None:
        return "rollup"
    sql = _Sql()
    where = ["r.orders <> 0", *_scope(sql, {**params, "event_id": None}, "r")]
    inside = []
    if params["date_from"] is not None:
        inside.append(
            f"r.day >= {sql.bind('from_day', params['date_from'].astimezone(UTC).date())}"
        )
    if params["date_to"] is not None:
        inside.append(f"r.day <= {sql.bind('to_day', params['date_to'].astimezone(UTC).date())}")
    statement = (
        "SELECT min(r.day), max(r.day),"
        f" coalesce(sum(r.orders) FILTER (WHERE {' AND '.join(inside)}), 0),"
        " coalesce(sum(r.orders), 0)"
        f" FROM report_sales_daily r WHERE {' AND '.join(where)}"
    )
    first, last, within, total = (await session.execute(text(statement), sql.params)).one()
    if first is None:
        return "rollup"
    start = datetime.combine(first, time(0), tzinfo=UTC)
    end = datetime.combine(last + timedelta(days=1), time(0), tzinfo=UTC)
    starts_before = params["date_from"] is None or params["date_from"] <= start
    ends_after = params["date_to"] is None or params["date_to"] >= end
    if starts_before and ends_after:
        return "rollup"
    return "subtract" if total - within < within else "orders"


def _whole_customers(sql: _Sql, params: dict[str, Any]) -> str:
    """Every sale in scope per customer, from the customer rollup: the all-venues rows for an
    administrator, the venue's rows for one venue, several venues added up."""
    venue_ids = params["venue_ids"]
    if venue_ids is None or len(venue_ids) == 1:
        venue = sql.bind("venue", ALL_VENUES if venue_ids is None else venue_ids[0])
        return (
            "SELECT r.customer_id, r.orders, r.tickets, r.gross, r.gross - r.refunds AS net"
            f" FROM report_customer_sales r WHERE r.venue_id = {venue} AND r.orders <> 0"
        )
    where = ["r.orders <> 0", *_scope(sql, {**params, "event_id": None}, "r")]
    return (
        "SELECT r.customer_id, sum(r.orders) AS orders, sum(r.tickets) AS tickets,"
        " sum(r.gross) AS gross, sum(r.gross - r.refunds) AS net"
        f" FROM report_customer_sales r WHERE {' AND '.join(where)} GROUP BY r.customer_id"
    )


def _orders_per_customer(sql: _Sql, params: dict[str, Any], outside: bool) -> str:
    """The charged orders in scope inside the window (or outside it), per customer."""
    where = [f"o.status IN {CHARGED}", *_scope(sql, {**params, "event_id": None}, "o")]
    bounds = []
    if params["date_from"] is not None:
        bounds.append((">=", "<", sql.bind("date_from", params["date_from"])))
    if params["date_to"] is not None:
        bounds.append(("<", ">=", sql.bind("date_to", params["date_to"])))
    if outside:
        outer = [f"{SOLD_AT} {out} {b}" for _, out, b in bounds] or ["false"]
        where.append("(" + " OR ".join(outer) + ")")
    else:
        where.extend(f"{SOLD_AT} {op} {b}" for op, _, b in bounds)
    return (
        "SELECT o.customer_id, count(*) AS orders, sum(o.tickets) AS tickets,"
        " sum(o.total) AS gross, sum(o.total - o.refunded_amount) AS net"
        f" FROM orders o WHERE {' AND '.join(where)} GROUP BY o.customer_id"
    )


def _per_customer(sql: _Sql, params: dict[str, Any], source: str) -> str:
    if source == "rollup":
        return _whole_customers(sql, params)
    if source == "orders":
        return _orders_per_customer(sql, params, outside=False)
    return f"""
        SELECT w.customer_id, w.orders - coalesce(x.orders, 0) AS orders,
               w.tickets - coalesce(x.tickets, 0) AS tickets,
               w.gross - coalesce(x.gross, 0) AS gross, w.net - coalesce(x.net, 0) AS net
        FROM ({_whole_customers(sql, params)}) w
        LEFT JOIN ({_orders_per_customer(sql, params, outside=True)}) x
            ON x.customer_id = w.customer_id
        WHERE w.orders - coalesce(x.orders, 0) > 0"""


def customer_insights_statement(
    params: dict[str, Any], top: int, source: str
) -> tuple[str, dict[str, Any]]:
    """The summary and the ``top`` customers by net spend, from one pass over the sales
    (``source``: see ``customer_source``)."""
    sql = _Sql()
    customers = "SELECT count(*) FROM customers c"
    if params["venue_ids"] is not None:
        customers += f" WHERE c.venue_id = ANY({sql.bind('venue_ids', params['venue_ids'])})"
    statement = f"""
        WITH per_customer AS MATERIALIZED ({_per_customer(sql, params, source)}),
        best AS (
            SELECT * FROM per_customer
            ORDER BY net DESC, orders DESC, customer_id
            LIMIT {sql.bind("limit", top)}
        ),
        top AS (
            SELECT c.id AS customer_id, c.email, c.first_name, c.last_name,
                   p.orders, p.tickets, p.net
            FROM best p JOIN customers c ON c.id = p.customer_id
            ORDER BY p.net DESC, p.orders DESC, p.customer_id
        )
        SELECT
            ({customers}) AS customers,
            count(*) AS buying_customers,
            count(*) FILTER (WHERE orders > 1) AS repeat_customers,
            coalesce(round(sum(gross) / nullif(sum(orders), 0), 2), 0) AS average_order_value,
            coalesce(round(sum(tickets)::numeric / nullif(sum(orders), 0), 2), 0)
                AS average_tickets_per_order,
            coalesce(round(avg(net), 2), 0) AS average_spend_per_customer,
            coalesce(sum(net), 0) AS net,
            (SELECT coalesce(json_agg(top), '[]')::text FROM top) AS top_customers
        FROM per_customer
    """
    return statement, sql.params


async def customer_insights(
    session: AsyncSession, params: dict[str, Any], top: int
) -> dict[str, Any]:
    source = await customer_source(session, params)
    statement, bound = customer_insights_statement(params, top, source)
    row = dict((await session.execute(text(statement), bound)).mappings().one())
    listed = row.pop("top_customers")
    return {**row, "top_customers": json.loads(listed, parse_float=Decimal)}


async def venue_of_event(session: AsyncSession, event_id: uuid.UUID) -> uuid.UUID | None:
    row = (
        await session.execute(
            text("SELECT venue_id FROM events WHERE id = :id AND deleted_at IS NULL"),
            {"id": event_id},
        )
    ).first()
    return row[0] if row else None
