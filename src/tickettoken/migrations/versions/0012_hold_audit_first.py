"""The hold writes its audit rows before it locks the hot row, not after.

Every sale of a ticket type waits for the one before it to release the ticket-type row, which
it holds from its ``UPDATE`` to its commit. 0010 inserted the audit rows (a JSON document parsed
into rows, one index entry each) inside that window; here they go in before the ``UPDATE``, so
the window holds only the update, the event's status and the reservations' insert (which must
follow the ticket-type lock, see ``events/inventory``). And every call plans its statements for
the tables as they are (``plan_cache_mode``, below). ``audit_log`` has no foreign keys, so
the earlier insert takes no lock another transaction waits for. A refusal after the insert
(sold out, event no longer on sale) deletes the rows it wrote: a refused hold leaves nothing.

Revision ID: 0012_hold_audit_first
Revises: 0011_integration_vault
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012_hold_audit_first"
down_revision: str | None = "0011_integration_vault"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_HEAD = """
CREATE OR REPLACE FUNCTION tickettoken_inventory_hold(
    p_event_id uuid, p_ticket_type_id uuid, p_currency text, p_per_customer integer,
    p_ids uuid[], p_customers uuid[], p_quantities integer[], p_unit_prices numeric[],
    p_expires timestamptz[], p_created timestamptz[], p_audit text
) RETURNS text
LANGUAGE plpgsql{settings} AS $$
DECLARE
    v_total integer;
    v_status text;
    v_audit uuid[];
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
"""

_AUDIT = """
    WITH written AS (
        INSERT INTO audit_log (actor_id, actor_role, action, entity_type, entity_id, before,
                               after, request_id, ip)
        SELECT a.actor_id, a.actor_role, a.action, a.entity_type, a.entity_id, a.before,
               a.after, a.request_id, a.ip
        FROM jsonb_to_recordset(p_audit::jsonb) AS a(
            actor_id text, actor_role text, action text, entity_type text, entity_id text,
            before jsonb, after jsonb, request_id text, ip inet)
        RETURNING id
    )
    SELECT array_agg(id) INTO v_audit FROM written;
"""

_TAKE = """
    SELECT sum(q) INTO v_total FROM unnest(p_quantities) AS q;
    UPDATE ticket_types SET reserved = reserved + v_total
        WHERE id = p_ticket_type_id AND event_id = p_event_id
          AND sold + reserved + v_total <= quantity;
    IF NOT FOUND THEN
        {undo_audit}RETURN 'sold_out';
    END IF;
    SELECT status INTO v_status FROM events WHERE id = p_event_id;
    IF v_status IS DISTINCT FROM 'published' THEN
        UPDATE ticket_types SET reserved = reserved - v_total WHERE id = p_ticket_type_id;
        {undo_audit}RETURN 'not_published';
    END IF;
    INSERT INTO reservations (id, event_id, ticket_type_id, customer_id, quantity, unit_price,
                              total, currency, expires_at, created_at, updated_at)
    SELECT x.id, p_event_id, p_ticket_type_id, x.customer_id, x.quantity, x.unit_price,
           x.unit_price * x.quantity, p_currency, x.expires_at, x.created_at, x.created_at
    FROM unnest(p_ids, p_customers, p_quantities, p_unit_prices, p_expires, p_created)
         AS x(id, customer_id, quantity, unit_price, expires_at, created_at);
"""

_TAIL = """
    RETURN 'held';
END
$$;
"""

_UNDO_AUDIT = "DELETE FROM audit_log WHERE id = ANY(v_audit);\n        "


# Every statement planned for the rows there are now: a plan PL/pgSQL caches for the session
# (after five calls) was made when the tables were small, and its scans of the buyers and their
# reservations then grew with every sale (measured: 0.9 ms a call at 2,500 reservations, 2.8 ms
# at 33,000; bench/RESULTS.md). The statement before 0010 was planned on every call too.
_CUSTOM_PLANS = "\nSET plan_cache_mode = force_custom_plan"


def upgrade() -> None:
    head = _HEAD.format(settings=_CUSTOM_PLANS)
    op.execute(head + _AUDIT + _TAKE.format(undo_audit=_UNDO_AUDIT) + _TAIL)


def downgrade() -> None:
    # 0010's function: the audit rows after the reservations, inside the hot-row window
    op.execute(_HEAD.format(settings="") + _TAKE.format(undo_audit="") + _AUDIT + _TAIL)
