"""A plain ``tickettoken worker`` (only the database and the provider sandbox configured, no
other variable) runs every handler and result callback the service table declares: an order
confirmed on a separately started event service becomes ``paid``. A worker asked to claim job
types nobody handles refuses to start."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from tests.events.reservations.sales_catalog import Catalog, insert_catalog
from tests.queue.handlers.handler_processes import (
    SANDBOX_KEY,
    Sandbox,
    base_env,
    start_worker,
    stop,
)
from tests.support import (
    TEST_JWT_SECRET,
    auth_header,
    create_scratch_database,
    drop_scratch_database,
    make_settings,
)

from tickettoken.kit.auth import mint_token
from tickettoken.kit.jobs import QUEUES
from tickettoken.migrations.runner import upgrade_to_head
from tickettoken.queue.worker import MissingHandlers, run_worker
from tickettoken.services import SERVICES, job_registry


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def _serve(service: str, env: dict[str, str], cwd: str) -> Iterator[str]:
    """``tickettoken serve SERVICE`` on a free port, yielded once ``/health/ready`` answers."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tickettoken", "serve", service, "--port", str(port)],
            cwd=cwd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            _wait_ready(url, process, log)
            yield url
        finally:
            stop(process)


@contextlib.contextmanager
def _sandbox(cwd: str) -> Iterator[Sandbox]:
    """The provider sandbox on ports the system picked (not a shared range, where another
    run's sandbox could answer in its place)."""
    port, smtp_port = _free_port(), _free_port()
    argv = ["sandbox", "--port", str(port), "--smtp-port", str(smtp_port)]
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tickettoken", *argv],
            cwd=cwd,
            env=base_env(SANDBOX_SECRET_KEY=SANDBOX_KEY),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_ready(url, process, log, path="/health")
            yield Sandbox(url, smtp_port, process)
        finally:
            stop(process)


def _wait_ready(
    url: str, process: subprocess.Popen[bytes], log: IO[bytes], path: str = "/health/ready"
) -> None:
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            log.seek(0)
            raise AssertionError(f"{url} exited: {log.read().decode(errors='replace')[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}{path}", timeout=1).status_code == 200:
                return
        assert time.monotonic() < deadline, f"{url} not ready within 60 s"
        time.sleep(0.1)


async def _catalog(database_url: str) -> Catalog:
    engine = create_async_engine(database_url)
    try:
        async with AsyncSession(engine) as session:
            catalog = await insert_catalog(session, quantity=10)
            await session.commit()
            return catalog
    finally:
        await engine.dispose()


def _token(role: str, **claims: Any) -> dict[str, str]:
    settings = make_settings()
    return auth_header(mint_token(role=role, settings=settings, **claims))


@pytest.mark.e2e
@pytest.mark.slow
def test_a_plain_worker_marks_a_confirmed_order_paid(pg_server_url: str) -> None:
    database_url = asyncio.run(create_scratch_database(pg_server_url, prefix="tt_plain"))
    try:
        upgrade_to_head(database_url)
        catalog = asyncio.run(_catalog(database_url))
        with (
            tempfile.TemporaryDirectory(prefix="tt-plain-worker-") as cwd,
            _sandbox(cwd) as sandbox,
        ):
            service_env = base_env(DATABASE_URL=database_url, JWT_SECRET=TEST_JWT_SECRET)
            # The worker gets the database and the sandbox's endpoints, nothing else.
            worker_env = base_env(DATABASE_URL=database_url, **sandbox.env())
            assert not any("PLUGIN" in name for name in worker_env)
            with (
                _serve("event", service_env, cwd) as event_url,
                _serve("queue", service_env, cwd) as queue_url,
            ):
                worker = start_worker(worker_env, cwd=cwd)
                try:
                    order = _confirm_an_order(event_url, catalog)
                    paid = _wait_for_order(event_url, order["id"], "paid")
                    assert worker.poll() is None, "the worker exited"
                finally:
                    assert stop(worker) == 0
                job = httpx.get(
                    f"{queue_url}/api/v1/queue/jobs/{order['payment_job_id']}",
                    headers=_token("service"),
                    timeout=10,
                )
        assert job.status_code == 200, job.text
        assert job.json()["data"]["status"] == "completed"
        assert paid["payment_intent_id"]
        assert {t["status"] for t in paid["tickets"]} == {"issued"}
    finally:
        asyncio.run(drop_scratch_database(pg_server_url, database_url))


BUYER = f"buyer-{uuid.uuid4().hex}"


def _confirm_an_order(event_url: str, catalog: Catalog) -> dict[str, Any]:
    buyer = _token("customer", sub=BUYER)
    with httpx.Client(base_url=event_url, timeout=10) as client:
        held = client.post(
            f"/api/v1/events/{catalog.event_id}/reservations",
            json={
                "ticket_type_id": str(catalog.ticket_type_id),
                "quantity": 2,
                "customer": {"email": "plain-worker@example.com", "first_name": "Bo"},
            },
            headers=buyer,
        )
        assert held.status_code == 201, held.text
        confirmed = client.post(
            f"/api/v1/reservations/{held.json()['data']['id']}/confirm", headers=buyer
        )
        assert confirmed.status_code == 201, confirmed.text
        order: dict[str, Any] = confirmed.json()["data"]
        assert order["status"] == "pending"
        return order


def _wait_for_order(event_url: str, order_id: str, status: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        response = httpx.get(
            f"{event_url}/api/v1/orders/{order_id}", headers=_token("customer", sub=BUYER)
        )
        assert response.status_code == 200, response.text
        order: dict[str, Any] = response.json()["data"]
        if order["status"] == status:
            return order
        assert time.monotonic() < deadline, f"order still {order['status']} after 60 s"
        time.sleep(0.2)


def test_every_job_type_of_every_queue_has_a_declared_handler() -> None:
    registry = job_registry()
    assert registry.missing_handlers(QUEUES) == []
    assert "payment-process" in registry.completed_callbacks
    assert {"payment-process", "refund-process"} <= set(registry.failed_callbacks)


async def test_a_worker_without_handlers_for_its_queues_refuses_to_start() -> None:
    # The queue service's handlers alone: nobody handles the event service's jobs of webhook
    # effects (box office, provider refunds, unsubscribes), nor ``sync`` and ``webhook`` (the
    # integration service's).
    registry = job_registry([SERVICES["queue"]])
    url = "postgresql+asyncpg://nobody@127.0.0.1:1/never_opened"
    with pytest.raises(MissingHandlers) as refused:
        await run_worker(make_settings(), url, registry=registry, queues=["communication"])
    assert refused.value.job_types == [
        "box-office-return",
        "box-office-sale",
        "marketing-unsubscribe",
        "provider-refund",
        "sync",
        "webhook",
    ]
    assert "sync" in str(refused.value) and "webhook" in str(refused.value)


def test_the_worker_command_has_no_plugin_option() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tickettoken", "worker", "--help"],
        env=base_env(),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(os.sep),
    )
    assert result.returncode == 0, result.stderr
    assert "--plugin" not in result.stdout
