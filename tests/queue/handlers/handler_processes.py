"""Real processes for the handler tests: the provider sandbox and ``tickettoken worker``.

Processes run from a temporary directory (no developer ``.env`` is read) with an explicit
environment, on ports from this suite's range 4100-4199.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

PORT_RANGE = range(4100, 4200)
SANDBOX_KEY = "sk_test_sandbox"
"""The secret key the test sandbox is started with (its payments API and its fault controls)."""


def free_port() -> int:
    """A port of our range that nobody listens on right now."""
    for port in PORT_RANGE:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 4100-4199")


def _free_ports(n: int) -> list[int]:
    ports: list[int] = []
    socks = []
    for port in PORT_RANGE:
        sock = socket.socket()
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            sock.close()
            continue
        socks.append(sock)
        ports.append(port)
        if len(ports) == n:
            break
    for sock in socks:
        sock.close()
    if len(ports) < n:
        raise RuntimeError("not enough free ports in 4100-4199")
    return ports


@dataclass
class Sandbox:
    url: str
    smtp_port: int
    process: subprocess.Popen[bytes]

    def env(self) -> dict[str, str]:
        return {
            "STRIPE_BASE_URL": self.url,
            "STRIPE_SECRET_KEY": SANDBOX_KEY,
            "SMS_API_URL": f"{self.url}/sms",
            "PUSH_API_URL": f"{self.url}/push",
            "MINTING_SERVICE_URL": f"{self.url}/minting",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(self.smtp_port),
        }

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", timeout=10)

    def key_header(self) -> dict[str, str]:
        """What the sandbox's own controls (fault injection) require."""
        return {"Authorization": f"Bearer {SANDBOX_KEY}"}

    async def request(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as client:
            return await client.request(method, path, **kwargs)  # type: ignore[arg-type]


def base_env(**extra: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    src = str(Path(__file__).resolve().parents[3] / "src")
    return {
        **keep,
        "PYTHONPATH": src,
        "ENVIRONMENT": "development",
        "LOG_LEVEL": "WARNING",
        **extra,
    }


def _start_sandbox(cwd: str) -> Sandbox | None:
    """Start the sandbox on free ports; None when another process took a port first (several
    test sessions share the port range: only an answer carrying our own pid counts)."""
    port, smtp_port = _free_ports(2)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tickettoken",
            "sandbox",
            "--port",
            str(port),
            "--smtp-port",
            str(smtp_port),
        ],
        cwd=cwd,
        env=base_env(SANDBOX_SECRET_KEY=SANDBOX_KEY),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    sandbox = Sandbox(f"http://127.0.0.1:{port}", smtp_port, process)
    deadline = time.monotonic() + 20
    while True:
        if process.poll() is not None:
            return None
        with contextlib.suppress(httpx.HTTPError, ValueError):
            health = sandbox.get("/health")
            if health.status_code == 200 and health.json().get("pid") == process.pid:
                return sandbox
        if time.monotonic() > deadline:
            _stop_sandbox(process)
            raise RuntimeError("sandbox did not start")
        time.sleep(0.1)


def _stop_sandbox(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def run_sandbox() -> Iterator[Sandbox]:
    with tempfile.TemporaryDirectory(prefix="tt-sandbox-") as cwd:
        sandbox = None
        for _ in range(5):
            sandbox = _start_sandbox(cwd)
            if sandbox is not None:
                break
        if sandbox is None:
            raise RuntimeError("sandbox could not bind free ports (5 attempts)")
        try:
            yield sandbox
        finally:
            _stop_sandbox(sandbox.process)


def start_worker(env: dict[str, str], *args: str, cwd: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tickettoken", "worker", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, wait: float = 30) -> int:
    if process.poll() is None:
        process.send_signal(sig)
    try:
        return process.wait(wait)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()
