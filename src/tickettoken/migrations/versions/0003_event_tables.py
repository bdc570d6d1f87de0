"""The event service's tables.

Conventions: uuid ids (`gen_random_uuid()`), `timestamptz` everywhere, money as `numeric(10,2)`,
statuses stored lowercase and enforced by CHECK constraints, `created_at`/`updated_at` on every
table, every constraint and index named `<table>_<cols>_<kind>` (`pkey`, `unique`, `check`,
`foreign`, `index`). A trigger (`<table>_set_updated_at`, function `tickettoken_set_updated_at`)
sets `updated_at = now()` on UPDATE unless the statement sets `updated_at` itself.

Guarantees held by the database (the services check them too, for clear error messages):
- ticket types never oversell: `sold + reserved <= quantity`, all three non-negative;
  `max_per_order` within 1..10; reservations hold 1..10 tickets;
- `events.end_date > start_date`, and one non-deleted event per venue, lower(name) and UTC date
  (`events_venue_id_name_start_date_unique`);
- one ticket type name per event (case-insensitive), one customer per venue and lower(email)
  and per venue and user_id, one order per reservation, unique ticket codes,
  `orders.refunded_amount` within 0..total, HTTP idempotency records unique per (scope, key).
The per-customer-per-event quantity limit (50) is the service's job, not a constraint.

Cache invalidation for writes outside the API: ``ticket_types_notify_event_changed`` sends
``NOTIFY tickettoken_event_changed, '<event id>'`` when ``sold`` changes or ``reserved`` goes
down (payments, refunds, expired holds in the worker); the event service listens and drops its
cached capacity and prices. Holds (``reserved`` going up, the flash-sale hot path) do not notify;
the API invalidates those itself.

Text search on events uses the expression of `events_search_index`; query it with
`to_tsvector('simple', name || ' ' || coalesce(description, '')) @@ plainto_tsquery('simple', :q)`.

Revision ID: 0003_event_tables
Revises: 0002_integration_additions
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003_event_tables"
down_revision: str | None = "0002_integration_additions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# In creation order; dropped in reverse.
TABLES = (
    "venues",
    "events",
    "ticket_types",
    "pricing_rules",
    "customers",
    "reservations",
    "orders",
    "order_items",
    "tickets",
    "notifications",
    "audit_log",
    "idempotency_records",
)

TIMESTAMPS = """
        created_at timestamptz DEFAULT now() NOT NULL,
        updated_at timestamptz DEFAULT now() NOT NULL"""

SET_UPDATED_AT_FUNCTION = """
CREATE FUNCTION tickettoken_set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END
$$
"""

NOTIFY_EVENT_CHANGED_FUNCTION = """
CREATE FUNCTION tickettoken_notify_event_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tickettoken_event_changed', NEW.event_id::text);
    RETURN NULL;
END
$$
"""

UPGRADE = (
    SET_UPDATED_AT_FUNCTION,
    NOTIFY_EVENT_CHANGED_FUNCTION,
    f"""
    CREATE TABLE venues (
        id uuid DEFAULT gen_random_uuid() NOT NULL,
        name varchar(255) NOT NULL,
        address text,
        city varchar(100),
        state varchar(100),
        country varchar(100),
        postal_code varchar(20),
        capacity integer NOT NULL,
        timezone varchar(64) DEFAULT 'UTC' NOT NULL,
        metadata jsonb DEFAULT '{{}}'::jsonb NOT NULL,
        created_by text,
        deleted_at timestamptz,{TIMESTAMPS},
        CONSTRAINT venues_pkey PRIMARY KEY (id),
        CONSTRAINT venues_capacity_check CHECK (capacity > 0)
    )
    """,
    "CREATE INDEX venues_created_at_index ON venues (created_at)",
    f"""
    CREATE TABLE events (
        id uuid DEFAULT gen_random_uuid() NOT NULL,
        venue_id uuid NOT NULL,
        name varchar(255) NOT NULL,
        description text,
        category text DEFAULT 'other' NOT NULL,
        start_date timestamptz NOT NULL,
        end_date timestamptz NOT NULL,
        doors_open timestamptz,
        capacity integer NOT NULL,
        status text DEFAULT 'draft' NOT NULL,
        image_url text,
        metadata jsonb DEFAULT '{{}}'::jsonb NOT NULL,
        cancellation_reason text,
        cancelled_at timestamptz,
        published_at timestamptz,
        deleted_at timestamptz,
        created_by text,{TIMESTAMPS},
        CONSTRAINT events_pkey PRIMARY KEY (id),
        CONSTRAINT events_venue_id_foreign FOREIGN KEY (venue_id) REFERENCES venues (id),
        CONSTRAINT events_category_check CHECK (
            category IN ('comedy', 'concert', 'theater', 'sports', 'conference', 'festival',
                         'other')
        ),
        CONSTRAINT events_status_check CHECK (
            status IN ('draft', 'published', 'sold_out', 'postponed', 'completed', 'cancelled')
        ),
        CONSTRAINT events_capacity_check CHECK (capacity > 0),
        CONSTRAINT events_end_date_check CHECK (end_date > start_date),
        CONSTRAINT events_doors_open_check CHECK (doors_open IS NULL OR doors_open <= start_date)
    )
    """,
    """
    CREATE UNIQUE INDEX events_venue_id_name_start_date_unique
        ON events (venue_id, lower(name), ((start_date AT TIME ZONE 'UTC')::date))
        WHERE deleted_at IS NULL
    """,
    "CREATE INDEX events_status_index ON events (status)",
    "CREATE INDEX events_category_index ON events (category)",
    "CREATE INDEX events_venue_id_start_date_index ON events (venue_id, start_date)",
    "CREATE INDEX events_start_date_index ON events (start_date)",
    """
    CREATE INDEX events_search_index ON events
        USING gin (to_tsvector('simple', name || ' ' || coalesce(description, '')))
    """,
    f"""
    CREATE TABLE ticket_types (
        id uuid DEFAULT gen_random_uuid() NOT NULL,
        event_id uuid NOT NULL,
        name varchar(255) NOT NULL,
        description text,
        price numeric(10,2) NOT NULL,
        currency char(3) DEFAULT 'USD' NOT NULL,
        quantity integer NOT NULL,
        sold integer DEFAULT 0 NOT NULL,
        reserved integer DEFAULT 0 NOT NULL,
        max_per_order integer DEFAULT 6 NOT NULL,
        sale_start timestamptz,
        sale_end timestamptz,
        metadata jsonb DEFAULT '{{}}'::jsonb NOT NULL,{TIMESTAMPS},
        CONSTRAINT ticket_types_pkey PRIMARY KEY (id),
        CONSTRAINT ticket_types_event_id_foreign FOREIGN KEY (event_id)
            REFERENCES events (id) ON DELETE CASCADE,
        CONSTRAINT ticket_types_price_check CHECK (price >= 0),
        CONSTRAINT ticket_types_currency_check CHECK (currency ~ '^[A-Z]{{3}}$'),
        CONSTRAINT ticket_types_quantity_check CHECK (quantity >= 0),
        CONSTRAINT ticket_types_sold_check CHECK (sold >= 0),
        CONSTRAINT ticket_types_reserved_check CHECK (reserved >= 0),
        CONSTRAINT ticket_types_sold_reserved_check CHECK (sold + reserved <= quantity),
        CONSTRAINT ticket_types_max_per_order_check CHECK (max_per_order BETWEEN 1 AND 10),
        CONSTRAINT ticket_types_sale_window_check CHECK (
            sale_start IS NULL OR sale_end IS NULL OR sale_end > sale_start
        )
    )
    """,
    "CREATE UNIQUE INDEX ticket_types_event_id_name_unique ON ticket_types (event_id, lower(name))",
    """
    CREATE TRIGGER ticket_types_notify_event_changed
        AFTER UPDATE OF sold, reserved ON ticket_types
        FOR EACH ROW WHEN (NEW.sold <> OLD.sold OR NEW.reserved < OLD.reserved)
        EXECUTE FUNCTION tickettoken_notify_event_changed()
    """,
    f"""
    CREATE TABLE pricing_rules (
        id uuid DEFAULT gen_random_uuid() NOT NULL,
        ticket_type_id uuid NOT NULL,
        rule_type text NOT NULL,
        conditions jsonb DEFAULT '{{}}'::jsonb NOT NULL,
        adjustment_type text NOT NULL,
        adjustment_value numeric(10,2) NOT NULL,
        priority integer DEFAULT 0 NOT NULL,
        active boolean DEFAULT true NOT NULL,{TIMESTAMPS},
        CONSTRAINT pricing_rules_pkey PRIMARY KEY (id),
        CONSTRAINT pricing_rules_ticket_type_id_foreign FOREIGN KEY (ticket_type_id)
            REFERENCES ticket_types (id) ON DELETE CASCADE,
        CONSTRAINT pricing_rules_rule_type_check CHECK (
            rule_type IN ('time_based', 'demand_based', 'group')
        ),
        CONSTRAINT pricing_rules_adjustment_type_check CHECK (
            adjustment_type IN ('percentage', 'fixed')
        ),
        CONSTRAINT pricing_rules_adjustment_value_check CHECK (
            adjustment_type <> 'percentage' OR adjustment_value >= -100
        )
    )
    """,
    "CREATE INDEX pricing_rules_ticket_type_id_priority_index"
    " ON pricing_rules (ticket_type_id, priority)",
    f"""
    CREATE TABLE customers (
        id uuid DEFAULT gen_random_uuid() NOT NULL,
        venue_id uuid NOT NULL,
        email varchar(255),
        first_name varchar(100),
        last_name varchar(100),
        phone varchar(50),
        user_id text,
        metadata jsonb DEFAULT '{{}}'::jsonb NOT NULL,{TIMESTAMPS},
        CONSTRAINT customers_pkey PRIMARY KEY (id),
        CONSTRAINT customers_venue_id_foreign FOREIGN KEY (venue_id) REFERENCES venues (id),
        CONSTRAINT customers_identity_check CHECK (email IS NOT NULL OR user_id IS NOT NULL)
    )
    """,
    "CREATE UNIQUE INDEX customers_venue_id_email_unique ON customers (venue_id, lower(email))",
    """
    CREATE UNIQUE INDEX customers_venue_id_user_id_unique ON customers (venue_id, user_id)
        WHERE user_id IS NOT NULL
    """,
    "CREATE INDEX customers_user_id_index ON customers (user_id)",
    f"""
    CREATE TABLE reservations (
        id uuid DEFAULT gen_random_uuid() NOT NULL,
        event_id uuid NOT NULL,
        ticket_type_id uuid NOT NULL,
        customer_id uuid NOT NULL,
        quantity integer NOT NULL,
        unit_price numeric(10,2) NOT NULL,
        total numeric(10,2) NOT NULL,
        currency char(3) DEFAULT 'USD' NOT NULL,
        status text DEFAULT 'held' NOT NULL,
        expires_at timestamptz NOT NULL,
        order_id uuid,
        confirmed_at timestamptz,
        released_at timestamptz,{TIMESTAMPS},
        CONSTRAINT reservations_pkey PRIMARY KEY (id),
        CONSTRAINT reservations_event_id_foreign FOREIGN KEY (event_id) REFERENCES events (id),
        CONSTRAINT reservations_ticket_type_id_foreign FOREIGN KEY (ticket_type_id)
            REFERENCES ticket_types (id),
        CONSTRAINT reservations_customer_id_foreign FOREIGN KEY (customer_id)
            REFERENCES customers (id),
        CONSTRAINT reservations_quantity_check CHECK (quantity BETWEEN 1 AND 10),
        CONSTRAINT reservations_unit_price_check CHECK (unit_price >= 0),
        CONSTRAINT reservations_total_check CHECK (total >= 0),
        CONSTRAINT reservations_status_check CHECK (
            status IN ('held', 'confirmed', 'released', 'expired')
        )
    )
    """,
    "CREATE INDEX reservations_expires_at_held_index ON reservations (expires_at)"
    " WHERE status = 'held'",
    "CREATE INDEX reservations_ticket_type_id_index ON reservations (ticket_type_id)",
    "CREATE INDEX reservations_event_id_status_index ON reservations (event_id, status)",
    "CREATE INDEX reservations_customer_id_event_id_index ON reservations (customer_id, event_id)",
    f"""
    CREATE TABLE orders (
        id uuid DEFAULT gen_random_uuid() NOT NULL,
        customer_id uuid NOT NULL,
        event_id uuid NOT NULL,
        reservation_id uuid,
        status text DEFAULT 'pending' NOT NULL,
        total numeric(10,2) NOT NULL,
        refunded_amount numeric(10,2) DEFAULT 0 NOT NULL,
        currency char(3) DEFAULT 'USD' NOT NULL,
        payment_intent_id varchar(255),
        paid_at timestamptz,
        cancelled_at timestamptz,{TIMESTAMPS},
        CONSTRAINT orders_pkey PRIMARY KEY (id),
        CONSTRAINT orders_reservation_id_unique UNIQUE (reservation_id),
        CONSTRAINT orders_customer_id_foreign FOREIGN KEY (customer_id) REFERENCES customers (id),
        CONSTRAINT orders_event_id_foreign FOREIGN KEY (event_id) REFERENCES events (id),
        CONSTRAINT orders_reservation_id_foreign FOREIGN KEY (reservation_id)
            REFERENCES reservations (id),
        CONSTRAINT orders_status_check CHECK (
            status IN ('pending', 'paid', 'cancelled', 'refunded', 'partially_refunded')
        ),
        CONSTRAINT orders_total_check CHECK (total >= 0),
        CONSTRAINT orders_refunded_amount_check CHECK (
            refunded_amount >= 0 AND refunded_amount <= total
        )
    )
    """,
    "CREATE INDEX orders_customer_id_index ON orders (customer_id)",
    "CREATE INDEX orders_event_id_status_index ON orders (event_id, status)",
    "CREATE INDEX orders_payment_intent_id_index ON orders (payment_intent_id)",
    "CREATE INDEX orders_created_at_index ON orders (created_at)",
    """
    ALTER TABLE reservations ADD CONSTRAINT reservations_order_id_foreign
        FOREIGN KEY (order_id) REFERENCES orders (id) ON DELETE SET NULL
    """,
    f"""
    CREATE TABLE order_items (
        id uuid DEFAULT gen_random_uuid() NOT NULL,
        order_id uuid NOT NULL,
        ticket_type_id uuid NOT NULL,
        quantity integer NOT NULL,
        unit_price numeric(10,2) NOT NULL,
        subtotal numeric(10,2) NOT NULL,{TIMESTAMPS},
        CONSTRAINT order_items_pkey PRIMARY KEY (id),
        CONSTRAINT order_items_order_id_foreign FOREIGN KEY (order_id)
            REFERENCES orders (id) ON DELETE CASCADE,
        CONSTRAINT order_items_ticket_type_id_foreign FOREIGN KEY (ticket_type_id)
            REFERENCES ticket_types (id),
        CONSTRAINT order_items_quantity_check CHECK (quantity > 0),
        CONSTRAINT order_items_unit_price_check CHECK (unit_price >= 0),
        CONSTRAINT order_items_subtotal_check CHECK (subtotal >= 0)
    )
    """,
    "CREATE INDEX order_items_order_id_index ON order_items (order_id)",
    "CREATE INDEX order_items_ticket_type_id_index ON order_items (ticket_type_id)",
    f"""
    CREATE TABLE tickets (
        id uuid DEFAULT gen_random_uuid() NOT NULL,
        order_id uuid NOT NULL,
        order_item_id uuid NOT NULL,
        event_id uuid NOT NULL,
        ticket_type_id uuid NOT NULL,
        customer_id uuid NOT NULL,
        status text DEFAULT 'pending' NOT NULL,
        code varchar(64) NOT NULL,
        issued_at timestamptz,
        invalidated_at timestamptz,
        used_at timestamptz,{TIMESTAMPS},
        CONSTRAINT tickets_pkey PRIMARY KEY (id),
        CONSTRAINT tickets_code_unique UNIQUE (code),
        CONSTRAINT tickets_order_id_foreign FOREIGN KEY (order_id) REFERENCES orders (id),
        CONSTRAINT tickets_order_item_id_foreign FOREIGN KEY (order_item_id)
            REFERENCES order_items (id),
        CONSTRAINT tickets_event_id_foreign FOREIGN KEY (event_id) REFERENCES events (id),
        CONSTRAINT tickets_ticket_type_id_foreign FOREIGN KEY (ticket_type_id)
            REFERENCES ticket_types (id),
        CONSTRAINT tickets_customer_id_foreign FOREIGN KEY (customer_id)
            REFERENCES customers (id),
        CONSTRAINT tickets_status_check CHECK (
            status IN ('pending', 'issued', 'invalidated', 'refunded', 'used')
        )
    )
    """,
    "CREATE INDEX tickets_order_id_index ON tickets (order_id)",
    "CREATE INDEX tickets_event_id_status_index ON tickets (event_id, status)",
    "CREATE INDEX tickets_customer_id_index ON tickets (customer_id)",
    f"""
    CREATE TABLE notifications (
        id uuid DEFAULT gen_random_uuid() NOT NULL,
        user_id text NOT NULL,
        type varchar(50) NOT NULL,
        title varchar(255) NOT NULL,
        message text NOT NULL,
        data jsonb DEFAULT '{{}}'::jsonb NOT NULL,
        status text DEFAULT 'unread' NOT NULL,
        read_at timestamptz,{TIMESTAMPS},
        CONSTRAINT notifications_pkey PRIMARY KEY (id),
        CONSTRAINT notifications_status_check CHECK (status IN ('unread', 'read'))
    )
    """,
    "CREATE INDEX notifications_user_id_status_created_at_index"
    " ON notifications (user_id, status, created_at)",
    f"""
    CREATE TABLE audit_log (
        id uuid DEFAULT gen_random_uuid() NOT NULL,
        actor_id text,
        actor_role varchar(50),
        action varchar(50) NOT NULL,
        entity_type varchar(50) NOT NULL,
        entity_id text,
        before jsonb,
        after jsonb,
        request_id varchar(255),
        ip inet,{TIMESTAMPS},
        CONSTRAINT audit_log_pkey PRIMARY KEY (id)
    )
    """,
    "CREATE INDEX audit_log_entity_type_entity_id_index ON audit_log (entity_type, entity_id)",
    "CREATE INDEX audit_log_actor_id_index ON audit_log (actor_id)",
    "CREATE INDEX audit_log_created_at_index ON audit_log (created_at)",
    f"""
    CREATE TABLE idempotency_records (
        id uuid DEFAULT gen_random_uuid() NOT NULL,
        key varchar(255) NOT NULL,
        scope text NOT NULL,
        request_hash text NOT NULL,
        status text DEFAULT 'in_progress' NOT NULL,
        response_status integer,
        response_body jsonb,
        expires_at timestamptz NOT NULL,{TIMESTAMPS},
        CONSTRAINT idempotency_records_pkey PRIMARY KEY (id),
        CONSTRAINT idempotency_records_scope_key_unique UNIQUE (scope, key),
        CONSTRAINT idempotency_records_status_check CHECK (
            status IN ('in_progress', 'completed')
        ),
        CONSTRAINT idempotency_records_response_status_check CHECK (
            status <> 'completed' OR response_status IS NOT NULL
        )
    )
    """,
    "CREATE INDEX idempotency_records_expires_at_index ON idempotency_records (expires_at)",
    *(
        f"CREATE TRIGGER {table}_set_updated_at BEFORE UPDATE ON {table}"
        " FOR EACH ROW EXECUTE FUNCTION tickettoken_set_updated_at()"
        for table in TABLES
    ),
)


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    op.execute("ALTER TABLE reservations DROP CONSTRAINT IF EXISTS reservations_order_id_foreign")
    for table in reversed(TABLES):
        op.execute(f"DROP TABLE IF EXISTS {table}")
    op.execute("DROP FUNCTION IF EXISTS tickettoken_set_updated_at()")
    op.execute("DROP FUNCTION IF EXISTS tickettoken_notify_event_changed()")
