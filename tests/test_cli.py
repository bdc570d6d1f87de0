"""The command line: `tickettoken token` prints a verifiable token alone on standard output."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

from tests.support import TEST_JWT_SECRET, make_settings

from tickettoken.kit.auth import Role, decode_token


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, JWT_SECRET=TEST_JWT_SECRET)
    return subprocess.run(
        [sys.executable, "-m", "tickettoken", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_token_prints_only_the_token_and_it_verifies() -> None:
    venues = (str(uuid.uuid4()), str(uuid.uuid4()))
    result = run_cli(
        "token",
        "--role",
        "venue_admin",
        "--venue",
        venues[0],
        "--venue",
        venues[1],
        "--sub",
        "alice",
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    principal = decode_token(lines[0], make_settings())
    assert principal.sub == "alice"
    assert principal.role is Role.VENUE_ADMIN
    assert principal.venue_ids == frozenset(venues)


def test_token_refuses_an_unknown_role() -> None:
    result = run_cli("token", "--role", "root")
    assert result.returncode != 0
    assert result.stdout == ""


def test_serve_refuses_an_unknown_service_and_bad_production_config() -> None:
    assert run_cli("serve", "payments").returncode != 0
    env_result = subprocess.run(
        [sys.executable, "-m", "tickettoken", "serve", "gateway"],
        env={k: v for k, v in os.environ.items() if k != "JWT_SECRET"}
        | {"ENVIRONMENT": "production"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert env_result.returncode == 2
    assert "JWT_SECRET is required" in env_result.stderr
