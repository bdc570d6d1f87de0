"""Pieces shared by the emulators: ids, the sandbox's own key, Idempotency-Key replay, injected
faults."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def new_secret_key() -> str:
    """A sandbox key when none is configured: a test-mode secret key nobody else knows."""
    return f"sk_test_{secrets.token_hex(16)}"


def has_key(request: Request, secret_key: str) -> bool:
    """Whether the request carries ``Authorization: Bearer <the sandbox's key>``."""
    given = request.headers.get("authorization", "")
    return secrets.compare_digest(given.encode(), f"Bearer {secret_key}".encode())


def invalid_key_response() -> Response:
    body = {"error": {"type": "invalid_request_error", "message": "Invalid API Key provided"}}
    return JSONResponse(body, status_code=401)


@dataclass
class StoredResponse:
    fingerprint: str
    status: int
    body: dict[str, Any]


@dataclass
class IdempotencyStore:
    """First answer per key; a repeat with the same request replays it, a different one is 400.

    A lock per key serialises concurrent requests with one key (like Stripe, the second waits and
    then sees the first answer instead of doing the work twice).
    """

    responses: dict[str, StoredResponse] = field(default_factory=dict)
    locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    def lock(self, key: str) -> asyncio.Lock:
        return self.locks.setdefault(key, asyncio.Lock())


def fingerprint(request: Request, body: bytes) -> str:
    return hashlib.sha256(request.method.encode() + request.url.path.encode() + body).hexdigest()


@dataclass
class FaultPlan:
    """Injected failures: the next ``count`` matching requests answer ``status``."""

    status: int = 429
    count: int = 0
    path_prefix: str = "/"
    retry_after: float = 1.0

    def take(self, path: str) -> bool:
        if self.count > 0 and path.startswith(self.path_prefix):
            self.count -= 1
            return True
        return False


@dataclass
class RequestLog:
    """When each provider request arrived (monotonic seconds), for rate-limit assertions."""

    times: list[float] = field(default_factory=list)

    def record(self) -> None:
        self.times.append(time.monotonic())

    def max_in_window(self, window: float = 1.0) -> int:
        best, start = 0, 0
        for end, t in enumerate(self.times):
            while t - self.times[start] >= window:
                start += 1
            best = max(best, end - start + 1)
        return best


def json_response(body: dict[str, Any], status: int = 200, **headers: str) -> Response:
    return JSONResponse(body, status_code=status, headers=headers or None)
