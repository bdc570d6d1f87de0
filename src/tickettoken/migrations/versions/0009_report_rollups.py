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
keeps the rollups exact in its own transaction without knowing they exist. They are row
triggers whose WHEN conditions filter in C, before any function runs: creating a pending order,
cancelling it or noting its payment job costs nothing; a payment is two upserts (the day's row,
the customer's rows), a refund the same. Items add their quantity and subtotal to their order
(one update of the order row), whose trigger carries the change on. Statement-level triggers
over transition tables were measured first and halved the order writes (bench/report_writes.py,
docs/decisions/reports.md). An upsert locks its rollup row until commit, which serialises
concurrent changes of one event and day and keeps the sums exact; the order triggers are
deferred to the commit, so that lock is held only while the transaction commits; every writer
takes the day's row before the customer's, so two payments or refunds never wait for each other
in a cycle.

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


# The figures one order row adds to the rollups when it is charged (``o`` an ``orders`` row).
ROW_FIGURES = f"""
    1, o.tickets, o.total, o.refunded_amount,
    CASE WHEN o.status IN {LIVE} THEN o.tickets ELSE 0 END,
    CASE WHEN o.status IN {LIVE} THEN o.ticket_value ELSE 0 END"""

FUNCTIONS = f"""
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
-- Add signed figures to the day's row, then to the customer's venue row and all-venues row
-- (always in this order, so that two writers never wait for each other in a cycle).
CREATE FUNCTION report_apply(
    p_venue uuid, p_event uuid, p_customer uuid, p_day date, p_orders integer,
    p_tickets integer, p_gross numeric, p_refunds numeric, p_live_tickets integer,
    p_live_value numeric
) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO report_sales_daily AS r
        (venue_id, event_id, day, orders, tickets, gross, refunds, live_tickets, live_value)
    VALUES (p_venue, p_event, p_day, p_orders, p_tickets, p_gross, p_refunds, p_live_tickets,
            p_live_value)
    ON CONFLICT (venue_id, event_id, day) DO UPDATE SET
        orders = r.orders + excluded.orders, tickets = r.tickets + excluded.tickets,
        gross = r.gross + excluded.gross, refunds = r.refunds + excluded.refunds,
        live_tickets = r.live_tickets + excluded.live_tickets,
        live_value = r.live_value + excluded.live_value;
    INSERT INTO report_customer_sales AS r (customer_id, venue_id, orders, tickets, gross, refunds)
    VALUES (p_customer, p_venue, p_orders, p_tickets, p_gross, p_refunds),
           (p_customer, '{ALL_VENUES}', p_orders, p_tickets, p_gross, p_refunds)
    ON CONFLICT (customer_id, venue_id) DO UPDATE SET
        orders = r.orders + excluded.orders, tickets = r.tickets + excluded.tickets,
        gross = r.gross + excluded.gross, refunds = r.refunds + excluded.refunds;
END
$$;
CREATE FUNCTION report_order_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    was boolean := TG_OP <> 'INSERT' AND OLD.status IN {CHARGED};
    now_charged boolean := TG_OP <> 'DELETE' AND NEW.status IN {CHARGED};
    o orders;
    old_day date;
    new_day date;
BEGIN
    IF was THEN
        old_day := (coalesce(OLD.paid_at, OLD.created_at) AT TIME ZONE 'UTC')::date;
    END IF;
    IF now_charged THEN
        new_day := (coalesce(NEW.paid_at, NEW.created_at) AT TIME ZONE 'UTC')::date;
    END IF;
    IF was AND now_charged AND OLD.venue_id = NEW.venue_id AND OLD.event_id = NEW.event_id
       AND OLD.customer_id = NEW.customer_id AND old_day = new_day THEN
        -- same rows (a refund, a status change): one upsert of the difference
        PERFORM report_apply(
            NEW.venue_id, NEW.event_id, NEW.customer_id, new_day, 0,
            NEW.tickets - OLD.tickets, NEW.total - OLD.total,
            NEW.refunded_amount - OLD.refunded_amount,
            (CASE WHEN NEW.status IN {LIVE} THEN NEW.tickets ELSE 0 END)
                - (CASE WHEN OLD.status IN {LIVE} THEN OLD.tickets ELSE 0 END),
            (CASE WHEN NEW.status IN {LIVE} THEN NEW.ticket_value ELSE 0 END)
                - (CASE WHEN OLD.status IN {LIVE} THEN OLD.ticket_value ELSE 0 END));
        RETURN NULL;
    END IF;
    IF was THEN
        o := OLD;
        PERFORM report_apply(
            o.venue_id, o.event_id, o.customer_id, old_day, -1, -o.tickets, -o.total,
            -o.refunded_amount, CASE WHEN o.status IN {LIVE} THEN -o.tickets ELSE 0 END,
            CASE WHEN o.status IN {LIVE} THEN -o.ticket_value ELSE 0 END);
    END IF;
    IF now_charged THEN
        o := NEW;
        PERFORM report_apply(o.venue_id, o.event_id, o.customer_id, new_day, {ROW_FIGURES});
    END IF;
    RETURN NULL;
END
$$;
-- Items count into their order (whose own trigger carries the change into the rollups).
CREATE FUNCTION report_item_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        UPDATE orders SET tickets = tickets - OLD.quantity,
                          ticket_value = ticket_value - OLD.subtotal
        WHERE id = OLD.order_id;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        UPDATE orders SET tickets = tickets + NEW.quantity,
                          ticket_value = ticket_value + NEW.subtotal
        WHERE id = NEW.order_id;
    END IF;
    RETURN NULL;
END
$$;
"""

# Row triggers whose WHEN conditions are checked without calling any function: an order that
# is not charged before or after the write (a pending order created, cancelled, its payment
# job noted) costs no rollup work at all. The order triggers are deferred to the commit, so a
# rollup row is locked only while its transaction commits, not for the rest of a payment or
# refund callback (fewer waits among concurrent payments of one event on one day).
REPORTED = (
    "venue_id, event_id, customer_id, status, total, refunded_amount, tickets, ticket_value,"
    " paid_at, created_at"
)
TRIGGERS = f"""
CREATE TRIGGER orders_report_venue BEFORE INSERT OR UPDATE OF event_id ON orders
    FOR EACH ROW EXECUTE FUNCTION report_order_venue();
CREATE TRIGGER events_report_moved AFTER UPDATE OF venue_id ON events
    FOR EACH ROW WHEN (OLD.venue_id IS DISTINCT FROM NEW.venue_id)
    EXECUTE FUNCTION report_event_moved();
CREATE CONSTRAINT TRIGGER orders_report_inserted AFTER INSERT ON orders
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.status IN {CHARGED})
    EXECUTE FUNCTION report_order_changed();
CREATE CONSTRAINT TRIGGER orders_report_updated AFTER UPDATE ON orders
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN ((OLD.status IN {CHARGED} OR NEW.status IN {CHARGED})
        AND ROW({", ".join("OLD." + c.strip() for c in REPORTED.split(","))})
            IS DISTINCT FROM ROW({", ".join("NEW." + c.strip() for c in REPORTED.split(","))}))
    EXECUTE FUNCTION report_order_changed();
CREATE CONSTRAINT TRIGGER orders_report_deleted AFTER DELETE ON orders
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (OLD.status IN {CHARGED})
    EXECUTE FUNCTION report_order_changed();
CREATE TRIGGER order_items_report_inserted AFTER INSERT OR DELETE ON order_items
    FOR EACH ROW EXECUTE FUNCTION report_item_changed();
CREATE TRIGGER order_items_report_updated AFTER UPDATE ON order_items
    FOR EACH ROW WHEN (ROW(OLD.order_id, OLD.quantity, OLD.subtotal)
        IS DISTINCT FROM ROW(NEW.order_id, NEW.quantity, NEW.subtotal))
    EXECUTE FUNCTION report_item_changed();
"""

# The rollups of the rows that exist, computed by the same contribution query the triggers use.
BACKFILL = _apply(_contributions("orders", "1"))

FUNCTION_NAMES = (
    "report_order_venue()",
    "report_event_moved()",
    "report_order_changed()",
    "report_item_changed()",
    "report_apply(uuid, uuid, uuid, date, integer, integer, numeric, numeric, integer, numeric)",
)
TRIGGER_NAMES = (
    ("orders", "orders_report_venue"),
    ("events", "events_report_moved"),
    ("orders", "orders_report_inserted"),
    ("orders", "orders_report_updated"),
    ("orders", "orders_report_deleted"),
    ("order_items", "order_items_report_inserted"),
    ("order_items", "order_items_report_updated"),
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
        op.execute(f"DROP FUNCTION IF EXISTS {function}")
    op.execute("DROP TABLE IF EXISTS report_customer_sales")
    op.execute("DROP TABLE IF EXISTS report_sales_daily")
    op.execute("DROP INDEX IF EXISTS orders_sold_at_index")
    op.execute("DROP INDEX IF EXISTS orders_venue_id_sold_at_index")
    op.execute(
        "ALTER TABLE orders DROP COLUMN venue_id, DROP COLUMN tickets, DROP COLUMN ticket_value"
    )
