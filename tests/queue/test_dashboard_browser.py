"""Acceptance: headless Chromium signs in to the dashboard, sees a failed job and a dead letter,
clicks Retry and Requeue, and sees both jobs completed by a real worker.

Real processes: ``tickettoken serve queue`` and ``tickettoken worker`` on a scratch database.
Needs Debian's ``chromium`` and ``chromium-driver`` (skipped, with the reason, when absent).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import time
import uuid

import asyncpg
import httpx
import pytest
from tests.faults.fault_servers import free_port
from tests.support import (
    TEST_JWT_SECRET,
    make_settings,
)

from tickettoken.kit.auth import mint_token

pytestmark = pytest.mark.skipif(
    not (shutil.which("chromium") and shutil.which("chromedriver")),
    reason="needs Debian packages chromium and chromium-driver",
)


async def _wait_ready(base: str) -> None:
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            try:
                if (await client.get(f"{base}/health")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError("queue service did not start")


def _browser():  # type: ignore[no-untyped-def]
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "chromium"
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-sync",
        "--disable-dev-shm-usage",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver")))


def _drive(
    base: str, admin_token: str, failed_id: str, letter_id: str, letter_job: str
) -> dict[str, str]:
    """The browser part (blocking selenium calls; run in a thread)."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    browser = _browser()
    try:
        wait = WebDriverWait(browser, 30)
        # Text that changes between refreshes is read with a retry; buttons are not: the page
        # updates its rows in place, so an element found before a refresh is still the one shown.
        fresh = WebDriverWait(browser, 30, ignored_exceptions=[StaleElementReferenceException])

        def click(css: str) -> None:
            fresh.until(lambda b: b.find_element(By.CSS_SELECTOR, css).click() or True)

        def text_of(css: str) -> str:
            return str(fresh.until(lambda b: b.find_element(By.CSS_SELECTOR, css).text or None))

        browser.get(f"{base}/api/v1/queue/dashboard?refresh=1")
        wait.until(ec.visibility_of_element_located((By.ID, "token"))).send_keys(admin_token)
        browser.find_element(By.ID, "sign-in").click()

        failed_row = f'#failed-jobs tr[data-job-id="{failed_id}"]'
        retry = wait.until(
            ec.element_to_be_clickable((By.CSS_SELECTOR, f"{failed_row} button.retry"))
        )
        error_text = text_of(failed_row)
        time.sleep(2.5)  # two refreshes (refresh=1): the button found before them still works
        retry.click()

        letter_row = f'#dead-letters tr[data-dead-letter-id="{letter_id}"]'
        wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, f"{letter_row} button.requeue")))
        click(f"{letter_row} button.requeue")

        statuses = {}
        for job_id in (failed_id, letter_job):
            selector = (By.CSS_SELECTOR, f'#actions li[data-job-id="{job_id}"] .status')
            wait.until(ec.text_to_be_present_in_element(selector, "completed"))
            statuses[job_id] = text_of(selector[1])
        # The page refreshed itself: the retried job left the failed list.
        wait.until(ec.invisibility_of_element_located((By.CSS_SELECTOR, failed_row)))
        statuses["error_text"] = error_text
        return statuses
    finally:
        browser.quit()


@pytest.mark.slow
async def test_dashboard_retry_and_requeue_in_chromium(scratch_db: str, redis_url: str) -> None:
    conn = await asyncpg.connect(scratch_db.replace("postgresql+asyncpg://", "postgresql://"))
    failed_id, letter_job = uuid.uuid4(), uuid.uuid4()
    payload = json.dumps({"event_type": "dashboard_test", "properties": {"n": 1}})
    await conn.execute(
        "INSERT INTO jobs_background (job_uuid, type, payload, status, attempts, max_attempts,"
        " last_error, finished_at) VALUES ($1, 'analytics-track', $2::jsonb, 'failed', 2, 2,"
        " 'analytics store timed out', now())",
        failed_id,
        payload,
    )
    await conn.execute(
        "INSERT INTO jobs_background (job_uuid, type, payload, status, attempts, max_attempts,"
        " last_error, finished_at, idempotency_key) VALUES ($1, 'analytics-track', $2::jsonb,"
        " 'dead', 2, 2, 'connection refused', now(), $3)",
        letter_job,
        payload,
        f"analytics-track:{letter_job}",
    )
    letter_id = await conn.fetchval(
        "INSERT INTO dead_letter_jobs (queue, job_uuid, type, payload, attempts, last_error,"
        " idempotency_key) VALUES ('background', $1, 'analytics-track', $2::jsonb, 2,"
        " 'connection refused', $3) RETURNING id",
        letter_job,
        payload,
        f"analytics-track:{letter_job}",
    )

    env = {
        **os.environ,
        "DATABASE_URL": scratch_db,
        "REDIS_URL": redis_url,
        "JWT_SECRET": TEST_JWT_SECRET,
        "ENVIRONMENT": "development",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "WARNING",
    }
    common = {
        "env": env,
        "stdout": asyncio.subprocess.DEVNULL,
        "stderr": asyncio.subprocess.DEVNULL,
    }
    # a free port: a fixed one is shared with every other test session on the machine
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    service = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tickettoken", "serve", "queue", "--port", str(port), **common
    )
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tickettoken",
        "worker",
        "--queues",
        "background",
        "--concurrency",
        "2",
        "--poll-interval",
        "0.2",
        **common,
    )
    try:
        await _wait_ready(base)
        admin = mint_token(role="admin", sub="dash-admin", settings=make_settings())
        seen = await asyncio.to_thread(
            _drive, base, admin, str(failed_id), str(letter_id), str(letter_job)
        )
    finally:
        for proc in (service, worker):
            proc.terminate()
        for proc in (service, worker):
            await proc.wait()
    try:
        assert "analytics store timed out" in seen["error_text"]
        assert seen[str(failed_id)] == "completed" and seen[str(letter_job)] == "completed"
        rows = await conn.fetch(
            "SELECT job_uuid, status FROM jobs_background WHERE job_uuid = ANY($1::uuid[])",
            [failed_id, letter_job],
        )
        assert {r["status"] for r in rows} == {"completed"}
        tracked = await conn.fetchval(
            "SELECT count(*) FROM analytics_events WHERE event_type = 'dashboard_test'"
        )
        assert tracked == 2  # the handler really did its work, once per job
    finally:
        await conn.close()
