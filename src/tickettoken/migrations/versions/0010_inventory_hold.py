"""The hold as one server-side function: ``tickettoken_inventory_hold``.

Why a function: every sale of a ticket type updates the same row, so the row lock is the
throughput limit and must last only the hold itself, never a client round trip. Until now the
hold was a multi-statement string sent in the simple query protocol (no bind parameters, so SQL
was built with ``str.format``) and refusals were raised as casts of a marker word to ``int`` and
parsed from the error text. One function call is one bind-parameterised statement; called outside
a transaction it is its own transaction, so the hot-row lock lasts the function and its commit,
as in pgbench. Refusals are its return value.

In order (every statement sees the rows committed before it, READ COMMITTED): lock the buyers in
id order; every buyer's tickets for the event stay within ``p_per_customer`` (else
``customer_limit``); take the batch total from the ticket type if it is left (else ``sold_out``);
the event is still ``published`` now that the ticket type is locked (a cancellation locks ticket
types first; else the take is given back, ``not_published``); insert the reservations (after the
ticket type: their foreign keys take KEY SHARE on the event, which must come after the ticket type
lock, see ``events/inventory``); their audit rows; ``held``. A refusal writes nothing (the
ticket-type row's net change is zero). The commit is synchronous even on connections whose default
is asynchronous (the sales pool).

Revision ID: 0010_inventory_hold
Revises: 0009_report_rollups
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010_inventory_hold"
down_revision: str | None = "0009_report_rollups"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SIGNATURE = (
    "uuid, uuid, text, integer, uuid[], uuid[], integer[], numeric[], timestamptz[],"
    " timestamptz[], text"
)

HOLD = """
CREATE FUNCTION tickettoken_inventory_hold(
    p_event_id uuid, p_ticket_type_id uuid, p_currency text, p_per_customer integer,
    p_ids uuid[], p_customers uuid[], p_quantities integer[], p_unit_prices numeric[],
    p_expires timestamptz[], p_created timestamptz[], p_audit text
) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_total integer;
    v_status text;
BEGIN
    PERFORM set_config('synchronous_commit', 'on', true);
    PERFORM 1 FROM customers WHERE id = ANY(p_customers) ORDER BY id FOR UPDATE;
    IF EXISTS (
        SELECT 1
        FROM (SELECT customer_id, sum(quantity) AS quantity
              FROM unnest(p_customers, p_quantities) AS x(customer_id, quantity)
              GROUP BY customer_id) asked
        LEFT JOIN LATERAL (
            SELECT sum(r.quantity) AS quantity
            FROM reservations r LEFT JOIN orders o ON o.id = r.order_id
            WHERE r.customer_id = asked.customer_id AND r.event_id = p_event_id
              AND (r.status = 'held'
                   OR (r.status = 'confirmed'
                       AND o.status IN ('pending', 'paid', 'partially_refunded')))
        ) owned ON true
        WHERE coalesce(owned.quantity, 0) + asked.quantity > p_per_customer
    ) THEN
        RETURN 'customer_limit';
    END IF;
    SELECT sum(q) INTO v_total FROM unnest(p_quantities) AS q;
    UPDATE ticket_types SET reserved = reserved + v_total
        WHERE id = p_ticket_type_id AND event_id = p_event_id
          AND sold + reserved + v_total <= quantity;
    IF NOT FOUND THEN
        RETURN 'sold_out';
    END IF;
    SELECT status INTO v_status FROM events WHERE id = p_event_id;
    IF v_status IS DISTINCT FROM 'published' THEN
        UPDATE ticket_types SET reserved = reserved - v_total WHERE id = p_ticket_type_id;
        RETURN 'not_published';
    END IF;
    INSERT INTO reservations (id, event_id, ticket_type_id, customer_id, quantity, unit_price,
                              total, currency, expires_at, created_at, updated_at)
    SELECT x.id, p_event_id, p_ticket_type_id, x.customer_id, x.quantity, x.unit_price,
           x.unit_price * x.quantity, p_currency, x.expires_at, x.created_at, x.created_at
    FROM unnest(p_ids, p_customers, p_quantities, p_unit_prices, p_expires, p_created)
         AS x(id, customer_id, quantity, unit_price, expires_at, created_at);
    INSERT INTO audit_log (actor_id, actor_role, action, entity_type, entity_id, before, after,
                           request_id, ip)
    SELECT a.actor_id, a.actor_role, a.action, a.entity_type, a.entity_id, a.before, a.after,
           a.request_id, a.ip
    FROM jsonb_to_recordset(p_audit::jsonb) AS a(
        actor_id text, actor_role text, action text, entity_type text, entity_id text,
        before jsonb, after jsonb, request_id text, ip inet);
    RETURN 'held';
END
$$;
"""


def upgrade() -> None:
    op.execute(HOLD)


def downgrade() -> None:
    op.execute(f"DROP FUNCTION IF EXISTS tickettoken_inventory_hold({SIGNATURE})")
