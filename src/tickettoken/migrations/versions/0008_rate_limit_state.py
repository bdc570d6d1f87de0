"""Provider rate-limiter state in PostgreSQL, for installations without Redis.

Without Redis, every worker and the queue service must still share one bucket per provider (the
routes show and reset the state the workers use). Buckets and concurrency leases are short-lived
and rebuilt by themselves (a missing bucket starts full, a lease expires), so the tables are
UNLOGGED: no WAL traffic for every provider call, emptied after a crash like a restarted Redis.
A grant is one call of ``tickettoken_rate_limit_acquire`` (the bucket row is locked, so slot
counting and the token take are atomic across processes).

Revision ID: 0008_rate_limit_state
Revises: 0007_payouts_and_money_guards
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008_rate_limit_state"
down_revision: str | None = "0007_payouts_and_money_guards"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Times are milliseconds since the epoch on the database's clock (the one clock every process
# shares, as Redis TIME is for the Redis backend). ``ts_ms`` is where refill starts; after a
# penalty it lies in the future.
TABLES = """
CREATE UNLOGGED TABLE rate_limit_buckets (
    name text NOT NULL,
    tokens double precision NOT NULL,
    ts_ms bigint NOT NULL,
    acquired bigint DEFAULT 0 NOT NULL,
    waited_ms bigint DEFAULT 0 NOT NULL,
    timeouts bigint DEFAULT 0 NOT NULL,
    CONSTRAINT rate_limit_buckets_pkey PRIMARY KEY (name)
);
CREATE UNLOGGED TABLE rate_limit_slots (
    name text NOT NULL,
    holder text NOT NULL,
    expires_ms bigint NOT NULL,
    CONSTRAINT rate_limit_slots_pkey PRIMARY KEY (name, holder)
);
"""

# 0 when a token and a slot were taken for p_holder, else milliseconds to wait. The same
# algorithm as the Redis script (``kit/provider_limits/redis_backend.py``).
ACQUIRE = """
CREATE FUNCTION tickettoken_rate_limit_acquire(
    p_name text, p_rate double precision, p_burst integer, p_concurrency integer,
    p_holder text, p_lease_ms bigint
) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    now_ms bigint;
    b_tokens double precision;
    b_ts bigint;
    in_flight integer;
    first_expiry bigint;
BEGIN
    SELECT tokens, ts_ms INTO b_tokens, b_ts FROM rate_limit_buckets
        WHERE name = p_name FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO rate_limit_buckets (name, tokens, ts_ms)
            VALUES (p_name, p_burst, floor(extract(epoch FROM clock_timestamp()) * 1000))
            ON CONFLICT (name) DO NOTHING;
        SELECT tokens, ts_ms INTO b_tokens, b_ts FROM rate_limit_buckets
            WHERE name = p_name FOR UPDATE;
    END IF;
    now_ms := floor(extract(epoch FROM clock_timestamp()) * 1000);
    DELETE FROM rate_limit_slots WHERE name = p_name AND expires_ms <= now_ms;
    IF now_ms > b_ts THEN
        b_tokens := least(p_burst::double precision, b_tokens + (now_ms - b_ts) * p_rate / 1000);
        b_ts := now_ms;
    END IF;
    IF b_tokens < 1 THEN
        UPDATE rate_limit_buckets SET tokens = b_tokens, ts_ms = b_ts WHERE name = p_name;
        RETURN (b_ts - now_ms) + ceil((1 - b_tokens) * 1000 / p_rate)::bigint;
    END IF;
    SELECT count(*), min(expires_ms) INTO in_flight, first_expiry FROM rate_limit_slots
        WHERE name = p_name;
    IF in_flight >= p_concurrency THEN
        UPDATE rate_limit_buckets SET tokens = b_tokens, ts_ms = b_ts WHERE name = p_name;
        RETURN greatest(1, least(25, first_expiry - now_ms));
    END IF;
    INSERT INTO rate_limit_slots (name, holder, expires_ms)
        VALUES (p_name, p_holder, now_ms + p_lease_ms)
        ON CONFLICT (name, holder) DO UPDATE SET expires_ms = EXCLUDED.expires_ms;
    UPDATE rate_limit_buckets SET tokens = b_tokens - 1, ts_ms = b_ts, acquired = acquired + 1
        WHERE name = p_name;
    RETURN 0;
END
$$;
"""


def upgrade() -> None:
    op.execute(TABLES)
    op.execute(ACQUIRE)


def downgrade() -> None:
    op.execute(
        "DROP FUNCTION IF EXISTS tickettoken_rate_limit_acquire("
        "text, double precision, integer, integer, text, bigint)"
    )
    op.execute("DROP TABLE IF EXISTS rate_limit_slots")
    op.execute("DROP TABLE IF EXISTS rate_limit_buckets")
