"""Report data shaped for reading: per-order facts on ``orders`` and two rollups kept by triggers.

``orders`` gains ``venue_id`` (scoping without joining events), ``tickets`` and
``ticket_value`` (its items' quantities and subtotals), so that no report sums order items per
order again. ``report_sales_daily`` holds, per venue, event and UTC day of sale
(``coalesce(paid_at, created_at)``), the charged orders (paid, partially refunded, refunded):
orders, tickets, gross, refunds, and the tickets and item value of the orders still live (paid or
partially refunded, as venue analytics counts them). ``report_customer_sales`` holds the same
money per customer and venue (customer insights), plus one row per customer for all venues
together (venue id ``00000000-...``), so that an administrator's customer insights read one row
per customer instead of grouping 50,000 customers again on every call.

Triggers, not calls from the write paths (docs/decisions/reports.md): every writer of ``orders``
and ``order_items`` (API, payment results, refunds, cancellations, the seed, tests writing rows)
keeps the rollups exact in its own transaction without knowing they exist. They are
statement-level triggers over transition tables: a bulk insert or update applies its deltas
grouped, in one upsert per rollup, and a write that changes no reported figure (a status
``pending`` -> ``cancelled``, ``updated_at``) writes nothing. An upsert locks its rollup row
until commit, which serialises concurrent changes of one event and day and keeps sums exact;
rows are taken in key order (sales, then customers) so two such writers cannot deadlock.

Revision ID: 0009_report_rollups
Revises: 0008_rate_limit_state
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009_report_rollups"
down_revision: str | None = "0008_rate_limit_state"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHARGED = "('paid', 'partially_refunded', 'refunded')"
LIVE = "('paid', 'partially_refunded')"
SOLD_AT = "coalesce(paid_at, created_at)"
# The venue id of the customer rows that count every venue (an administrator's scope).
ALL_VENUES = "00000000-0000-0000-0000-000000000000"

COLUMNS = """
ALTER TABLE orders
    ADD COLUMN venue_id uuid,
    ADD COLUMN tickets integer DEFAULT 0 NOT NULL,
    ADD COLUMN ticket_value numeric(12, 2) DEFAULT 0 NOT NULL;
UPDATE orders o SET venue_id = e.venue_id FROM events e WHERE e.id = o.event_id;
UPDATE orders o SET tickets = i.tickets, ticket_value = i.value
FROM (SELECT order_id, sum(quantity) AS tickets, sum(subtotal) AS value
      FROM order_items GROUP BY order_id) i
WHERE i.order_id = o.id;
ALTER TABLE orders ALTER COLUMN venue_id SET NOT NULL;
"""

TABLES = f"""
CREATE TABLE report_sales_daily (
    venue_id uuid NOT NULL,
    event_id uuid NOT NULL,
    day date NOT NULL,
    orders integer DEFAULT 0 NOT NULL,
    tickets integer DEFAULT 0 NOT NULL,
    gross numeric(14, 2) DEFAULT 0 NOT NULL,
    refunds numeric(14, 2) DEFAULT 0 NOT NULL,
    live_tickets integer DEFAULT 0 NOT NULL,
    live_value numeric(14, 2) DEFAULT 0 NOT NULL,
    CONSTRAINT report_sales_daily_pkey PRIMARY KEY (venue_id, event_id, day)
);
CREATE INDEX report_sales_daily_event_id_day_index ON report_sales_daily (event_id, day);
CREATE TABLE report_customer_sales (
    customer_id uuid NOT NULL,
    venue_id uuid NOT NULL,
    orders integer DEFAULT 0 NOT NULL,
    tickets integer DEFAULT 0 NOT NULL,
    gross numeric(14, 2) DEFAULT 0 NOT NULL,
    refunds numeric(14, 2) DEFAULT 0 NOT NULL,
    CONSTRAINT report_customer_sales_pkey PRIMARY KEY (customer_id, venue_id)
);
CREATE INDEX report_customer_sales_venue_id_index ON report_customer_sales (venue_id);
CREATE INDEX orders_venue_id_sold_at_index ON orders (venue_id, ({SOLD_AT}))
    WHERE status IN {CHARGED};
CREATE INDEX orders_sold_at_index ON orders (({SOLD_AT})) WHERE status IN {CHARGED};
"""


def _contributions(table: str, sign: str) -> str:
    """The signed figures that the charged rows of ``table`` (orders or a transition table)
    add to the rollups."""
    return f"""
        SELECT venue_id, event_id, customer_id, ({SOLD_AT} AT TIME ZONE 'UTC')::date AS day,
               {sign} AS orders, {sign} * tickets AS tickets, {sign} * total AS gross,
               {sign} * refunded_amount AS refunds,
               CASE WHEN status IN {LIVE} THEN {sign} * tickets ELSE 0 END AS live_tickets,
               CASE WHEN status IN {LIVE} THEN {sign} * ticket_value ELSE 0 END AS live_value
        FROM {table} WHERE status IN {CHARGED}"""


def _apply(delta: str) -> str:
    """Upsert the grouped deltas into both rollups, in key order, skipping zero changes."""
    return f"""
    INSERT INTO report_sales_daily AS r
        (venue_id, event_id, day, orders, tickets, gross, refunds, live_tickets, live_value)
    SELECT venue_id, event_id, day, sum(orders), sum(tickets), sum(gross), sum(refunds),
           sum(live_tickets), sum(live_value)
    FROM ({delta}) d
    GROUP BY venue_id, event_id, day
    HAVING sum(orders) <> 0 OR sum(tickets) <> 0 OR sum(gross) <> 0 OR sum(refunds) <> 0
        OR sum(live_tickets) <> 0 OR sum(live_value) <> 0
    ORDER BY venue_id, event_id, day
    ON CONFLICT (venue_id, event_id, day) DO UPDATE SET
        orders = r.orders + excluded.orders, tickets = r.tickets + excluded.tickets,
        gross = r.gross + excluded.gross, refunds = r.refunds + excluded.refunds,
        live_tickets = r.live_tickets + excluded.live_tickets,
        live_value = r.live_value + excluded.live_value;
    INSERT INTO report_customer_sales AS r (customer_id, venue_id, orders, tickets, gross, refunds)
    SELECT customer_id, venue_id, sum(orders), sum(tickets), sum(gross), sum(refunds)
    FROM (
        SELECT customer_id, venue_id, orders, tickets, gross, refunds FROM ({delta}) d
        UNION ALL
        SELECT customer_id, '{ALL_VENUES}'::uuid, orders, tickets, gross, refunds
        FROM ({delta}) d
    ) d
    GROUP BY customer_id, venue_id
    HAVING sum(orders) <> 0 OR sum(tickets) <> 0 OR sum(gross) <> 0 OR sum(refunds) <> 0
    ORDER BY customer_id, venue_id
    ON CONFLICT (customer_id, venue_id) DO UPDATE SET
        orders = r.orders + excluded.orders, tickets = r.tickets + excluded.tickets,
        gross = r.gross + excluded.gross, refunds = r.refunds + excluded.refunds;
"""


def _function(name: str, body: str) -> str:
    return f"""
CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
{body}
    RETURN NULL;
END
$$;
"""


ORDERS_INSERTED = _contributions("new_rows", "1")
ORDERS_DELETED = _contributions("old_rows", "-1")
ORDERS_UPDATED = f"{ORDERS_INSERTED} UNION ALL {ORDERS_DELETED}"


def _item_totals(table: str, sign: str) -> str:
    return f"SELECT order_id, {sign} * quantity AS q, {sign} * subtotal AS v FROM {table}"


def _add_to_orders(delta: str) -> str:
    """Items change their order's ``tickets`` and ``ticket_value`` (which the order triggers
    then carry into the rollups when the order is charged)."""
    return f"""
    UPDATE orders o SET tickets = o.tickets + d.q, ticket_value = o.ticket_value + d.v
    FROM (SELECT order_id, sum(q) AS q, sum(v) AS v FROM ({delta}) x GROUP BY order_id
          HAVING sum(q) <> 0 OR sum(v) <> 0) d
    WHERE o.id = d.order_id;
"""


FUNCTIONS = "".join(
    (
        """
CREATE FUNCTION report_order_venue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.venue_id := (SELECT venue_id FROM events WHERE id = NEW.event_id);
    RETURN NEW;
END
$$;
CREATE FUNCTION report_event_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE orders SET venue_id = NEW.venue_id WHERE event_id = NEW.id;
    RETURN NULL;
END
$$;
""",
        _function("report_orders_inserted", _apply(ORDERS_INSERTED)),
        _function("report_orders_updated", _apply(ORDERS_UPDATED)),
        _function("report_orders_deleted", _apply(ORDERS_DELETED)),
        _function("report_items_inserted", _add_to_orders(_item_totals("new_rows", "1"))),
        _function(
            "report_items_updated",
            _add_to_orders(
                f"{_item_totals('new_rows', '1')} UNION ALL {_item_totals('old_rows', '-1')}"
            ),
        ),
        _function("report_items_deleted", _add_to_orders(_item_totals("old_rows", "-1"))),
    )
)

TRIGGERS = """
CREATE TRIGGER orders_report_venue BEFORE INSERT OR UPDATE OF event_id ON orders
    FOR EACH ROW EXECUTE FUNCTION report_order_venue();
CREATE TRIGGER events_report_moved AFTER UPDATE OF venue_id ON events
    FOR EACH ROW WHEN (OLD.venue_id IS DISTINCT FROM NEW.venue_id)
    EXECUTE FUNCTION report_event_moved();
CREATE TRIGGER orders_report_inserted AFTER INSERT ON orders
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION report_orders_inserted();
CREATE TRIGGER orders_report_updated AFTER UPDATE ON orders
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION report_orders_updated();
CREATE TRIGGER orders_report_deleted AFTER DELETE ON orders
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION report_orders_deleted();
CREATE TRIGGER order_items_report_inserted AFTER INSERT ON order_items
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION report_items_inserted();
CREATE TRIGGER order_items_report_updated AFTER UPDATE ON order_items
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION report_items_updated();
CREATE TRIGGER order_items_report_deleted AFTER DELETE ON order_items
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION report_items_deleted();
"""

# The rollups of the rows that exist, computed by the same contribution query the triggers use.
BACKFILL = _apply(_contributions("orders", "1"))

FUNCTION_NAMES = (
    "report_order_venue",
    "report_event_moved",
    "report_orders_inserted",
    "report_orders_updated",
    "report_orders_deleted",
    "report_items_inserted",
    "report_items_updated",
    "report_items_deleted",
)
TRIGGER_NAMES = (
    ("orders", "orders_report_venue"),
    ("events", "events_report_moved"),
    ("orders", "orders_report_inserted"),
    ("orders", "orders_report_updated"),
    ("orders", "orders_report_deleted"),
    ("order_items", "order_items_report_inserted"),
    ("order_items", "order_items_report_updated"),
    ("order_items", "order_items_report_deleted"),
)


def upgrade() -> None:
    op.execute(COLUMNS)
    op.execute(TABLES)
    op.execute(BACKFILL)
    op.execute(FUNCTIONS)
    op.execute(TRIGGERS)
    # statistics at once: the report plans are chosen from them, autovacuum comes later
    op.execute("ANALYZE orders")
    op.execute("ANALYZE report_sales_daily")
    op.execute("ANALYZE report_customer_sales")


def downgrade() -> None:
    for table, trigger in TRIGGER_NAMES:
        op.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")
    for function in FUNCTION_NAMES:
        op.execute(f"DROP FUNCTION IF EXISTS {function}()")
    op.execute("DROP TABLE IF EXISTS report_customer_sales")
    op.execute("DROP TABLE IF EXISTS report_sales_daily")
    op.execute("DROP INDEX IF EXISTS orders_sold_at_index")
    op.execute("DROP INDEX IF EXISTS orders_venue_id_sold_at_index")
    op.execute(
        "ALTER TABLE orders DROP COLUMN venue_id, DROP COLUMN tickets, DROP COLUMN ticket_value"
    )
