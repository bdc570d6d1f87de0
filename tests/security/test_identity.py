# ruff: noqa: F811  (the fixture imported below is a parameter of the tests)
"""Attack run, identity: who a customer record belongs to, and who may reach the database.

- A signed-in customer who types the email of a box-office buyer must not become that buyer:
  no orders, no ticket codes, no overwriting their name or phone, and no answer that tells the
  email exists (issue 7, item 5).
- The embedded PostgreSQL must not let a local user in as superuser without a secret (item 6).
"""

from __future__ import annotations

import asyncio
import os
import stat
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from tests.events.reservations.sales_catalog import Catalog, insert_catalog
from tests.events.reservations.sales_fixtures import sales_client  # noqa: F401
from tests.support import auth_header

from tickettoken.kit import embedded_pg
from tickettoken.kit.embedded_pg import EmbeddedPostgres
from tickettoken.kit.settings import to_asyncpg_url

Json = dict[str, Any]


@pytest.fixture
async def catalog(database_url: str) -> AsyncIterator[Catalog]:
    engine = create_async_engine(database_url)
    try:
        async with AsyncSession(engine) as session:
            made = await insert_catalog(session)
            await session.commit()
        yield made
    finally:
        await engine.dispose()


async def customer_row(database_url: str, customer_id: str) -> Json:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    text(
                        "SELECT email, first_name, last_name, phone, user_id FROM customers"
                        " WHERE id = :id"
                    ),
                    {"id": customer_id},
                )
            ).one()
            return dict(row._mapping)
    finally:
        await engine.dispose()


async def reserve(
    client: httpx.AsyncClient, catalog: Catalog, headers: dict[str, str], customer: Json
) -> httpx.Response:
    return await client.post(
        f"/api/v1/events/{catalog.event_id}/reservations",
        json={"ticket_type_id": str(catalog.ticket_type_id), "quantity": 1, "customer": customer},
        headers=headers,
    )


async def box_office_sale(
    client: httpx.AsyncClient, catalog: Catalog, venue_admin: dict[str, str], customer: Json
) -> Json:
    held = await reserve(client, catalog, venue_admin, customer)
    assert held.status_code == 201, held.text
    confirmed = await client.post(
        f"/api/v1/reservations/{held.json()['data']['id']}/confirm", headers=venue_admin
    )
    assert confirmed.status_code == 201, confirmed.text
    order: Json = confirmed.json()["data"]
    return order


async def test_typing_a_box_office_buyers_email_does_not_take_over_their_record(
    sales_client: httpx.AsyncClient,
    catalog: Catalog,
    token_for: Callable[..., str],
    database_url: str,
) -> None:
    venue_admin = auth_header(token_for("venue_admin", venue_ids=[str(catalog.venue_id)]))
    victim_email = f"victim-{uuid.uuid4().hex[:8]}@example.com"
    victim = {"email": victim_email, "first_name": "Vera", "last_name": "Victim", "phone": "+1555"}
    order = await box_office_sale(sales_client, catalog, venue_admin, victim)

    attacker = auth_header(token_for("customer", sub=f"mallory-{uuid.uuid4().hex[:8]}"))
    typed = {"email": victim_email.upper(), "first_name": "Mallory", "phone": "+1666"}
    held = await reserve(sales_client, catalog, attacker, typed)
    # No refusal that would tell the attacker the email is known here.
    assert held.status_code == 201, held.text
    assert held.json()["data"]["customer_id"] != order["customer_id"]

    listed = await sales_client.get("/api/v1/orders", headers=attacker)
    assert listed.status_code == 200, listed.text
    assert order["id"] not in {o["id"] for o in listed.json()["data"]}
    read = await sales_client.get(f"/api/v1/orders/{order['id']}", headers=attacker)
    assert read.status_code == 404
    profile = await sales_client.get(
        f"/api/v1/customers/{order['customer_id']}/profile", headers=attacker
    )
    assert profile.status_code == 404

    record = await customer_row(database_url, order["customer_id"])
    assert record == {
        "email": victim_email,
        "first_name": "Vera",
        "last_name": "Victim",
        "phone": "+1555",
        "user_id": None,
    }


async def test_box_office_sale_to_an_email_a_customer_typed_stays_off_their_account(
    sales_client: httpx.AsyncClient,
    catalog: Catalog,
    token_for: Callable[..., str],
    database_url: str,
) -> None:
    """The attack in the other order: type the email first, wait for the box-office sale."""
    victim_email = f"later-{uuid.uuid4().hex[:8]}@example.com"
    attacker = auth_header(token_for("customer", sub=f"mallory-{uuid.uuid4().hex[:8]}"))
    held = await reserve(sales_client, catalog, attacker, {"email": victim_email})
    assert held.status_code == 201, held.text

    venue_admin = auth_header(token_for("venue_admin", venue_ids=[str(catalog.venue_id)]))
    order = await box_office_sale(
        sales_client, catalog, venue_admin, {"email": victim_email, "first_name": "Vera"}
    )
    assert order["customer_id"] != held.json()["data"]["customer_id"]
    listed = await sales_client.get("/api/v1/orders", headers=attacker)
    assert order["id"] not in {o["id"] for o in listed.json()["data"]}
    assert (await customer_row(database_url, order["customer_id"]))["user_id"] is None


async def test_two_accounts_typing_one_email_each_keep_their_own_record(
    sales_client: httpx.AsyncClient, catalog: Catalog, token_for: Callable[..., str]
) -> None:
    email = f"shared-{uuid.uuid4().hex[:8]}@example.com"
    first = auth_header(token_for("customer", sub=f"ann-{uuid.uuid4().hex[:8]}"))
    second = auth_header(token_for("customer", sub=f"bob-{uuid.uuid4().hex[:8]}"))
    ann = await reserve(sales_client, catalog, first, {"email": email, "first_name": "Ann"})
    bob = await reserve(sales_client, catalog, second, {"email": email, "first_name": "Bob"})
    assert ann.status_code == 201 and bob.status_code == 201, (ann.text, bob.text)
    assert ann.json()["data"]["customer_id"] != bob.json()["data"]["customer_id"]
    again = await reserve(sales_client, catalog, first, {"email": email})
    assert again.json()["data"]["customer_id"] == ann.json()["data"]["customer_id"]


# ---- item 6: the embedded PostgreSQL -----------------------------------------------------------


@pytest.fixture(scope="module")
def embedded_server() -> Iterator[EmbeddedPostgres]:
    """A throwaway embedded server of this module's own (never the machine's shared one)."""
    with tempfile.TemporaryDirectory(prefix="tt-sec-pg-") as tmp:
        server = EmbeddedPostgres(Path(tmp) / "pg")
        server.start()
        try:
            yield server
        finally:
            server.stop(mode="immediate")


async def connect_without_password(host: str, port: int) -> asyncpg.Connection:
    return await asyncpg.connect(
        host=host, port=port, user="postgres", database="postgres", password="", timeout=10
    )


async def test_embedded_postgres_refuses_a_superuser_without_its_password(
    embedded_server: EmbeddedPostgres,
) -> None:
    assert embedded_server.port is not None
    for host in ("127.0.0.1", str(embedded_server.socket_dir)):
        with pytest.raises(
            (asyncpg.InvalidAuthorizationSpecificationError, asyncpg.InterfaceError)
        ):
            conn = await connect_without_password(host, embedded_server.port)
            try:  # what the attack did once connected
                await conn.execute("CREATE TEMP TABLE pwned (line text)")
                await conn.execute("COPY pwned FROM PROGRAM 'id'")
            finally:
                await conn.close()
    for line in (embedded_server.pgdata / "pg_hba.conf").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            assert line.split()[-1] == "scram-sha-256", line


async def test_embedded_postgres_url_carries_a_generated_password_kept_private(
    embedded_server: EmbeddedPostgres,
) -> None:
    password_file = embedded_server.password_file
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    assert password_file.stat().st_uid == os.geteuid()
    password = password_file.read_text().strip()
    assert len(password) >= 32
    url = embedded_server.url()
    assert f":{password}@" in url
    conn = await asyncpg.connect(to_asyncpg_url(url).replace("+asyncpg", ""))
    try:
        assert await conn.fetchval("SELECT current_user") == "postgres"
    finally:
        await conn.close()


def init_trusting_data_directory(server: EmbeddedPostgres) -> None:
    """A data directory as ``EmbeddedPostgres`` made it before this change (``--auth=trust``)."""
    server.pgdata.mkdir(parents=True)
    server.socket_dir.mkdir(parents=True)
    server._prepare_permissions()
    embedded_pg._initdb(
        ["--auth=trust", "--encoding=UTF8", "--locale=C", "-U", "postgres"],
        pgdata=server.pgdata,
        user=server._user,
    )


async def test_a_trust_data_directory_from_before_is_secured_on_start() -> None:
    """Checkouts initialised before this change had ``trust``; their next start fixes it."""
    with tempfile.TemporaryDirectory(prefix="tt-sec-old-pg-") as tmp:
        init_trusting_data_directory(EmbeddedPostgres(Path(tmp) / "pg"))
        server = EmbeddedPostgres(Path(tmp) / "pg")
        try:
            url = await asyncio.to_thread(server.start)
            assert server.password_file.exists()
            hba = (server.pgdata / "pg_hba.conf").read_text()
            assert not [
                line
                for line in hba.splitlines()
                if line.strip() and not line.lstrip().startswith("#") and "trust" in line
            ]
            assert server.port is not None
            with pytest.raises(asyncpg.InvalidAuthorizationSpecificationError):
                await connect_without_password("127.0.0.1", server.port)
            conn = await asyncpg.connect(to_asyncpg_url(url).replace("+asyncpg", ""))
            await conn.close()
            rejoined = EmbeddedPostgres(Path(tmp) / "pg")
            assert await asyncio.to_thread(rejoined.start) == url  # same server, same secret
        finally:
            server.stop(mode="immediate")
