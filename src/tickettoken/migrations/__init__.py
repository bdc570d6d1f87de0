"""The one Alembic migration history of the platform (event, queue and integration tables).

Run it from code with `tickettoken.migrations.runner.upgrade_to_head(url)`; no alembic.ini is
needed. For the alembic command line: `alembic -c src/tickettoken/migrations/alembic.ini
-x url=postgresql://... upgrade head`.
"""
