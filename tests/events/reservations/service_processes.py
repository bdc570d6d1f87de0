"""Run the event service as real processes (``python -m tickettoken serve event``) for tests and
benchmarks, on free ports of a given range."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import IO

import httpx


def free_ports(count: int, first: int, last: int) -> list[int]:
    ports: list[int] = []
    for port in range(first, last + 1):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        ports.append(port)
        if len(ports) == count:
            return ports
    raise RuntimeError(f"no {count} free ports in {first}..{last}")


@contextlib.contextmanager
def event_service_processes(
    ports: Sequence[int],
    env: Mapping[str, str],
    *,
    workers: int = 1,
    ready_timeout: float = 30.0,
) -> Iterator[list[str]]:
    """Start one event-service process per port and yield their base URLs once healthy."""
    full_env = {**os.environ, "ENVIRONMENT": "development", "LOG_LEVEL": "WARNING", **env}
    stack = contextlib.ExitStack()
    logs = [stack.enter_context(tempfile.TemporaryFile()) for _ in ports]  # noqa: SIM115
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tickettoken",
                "serve",
                "event",
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        for port, log in zip(ports, logs, strict=True)
    ]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        _wait_healthy(urls, processes, logs, ready_timeout)
        yield urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        stack.close()


def _wait_healthy(
    urls: Sequence[str],
    processes: Sequence[subprocess.Popen[bytes]],
    logs: Sequence[IO[bytes]],
    timeout: float,
) -> None:
    deadline = time.monotonic() + timeout
    pending = list(zip(urls, processes, logs, strict=True))
    while pending:
        url, process, log = pending[0]
        if process.poll() is not None:
            log.seek(0)
            output = log.read().decode(errors="replace")
            raise RuntimeError(f"event service on {url} exited: {output[-2000:]}")
        try:
            if httpx.get(f"{url}/health/ready", timeout=1.0).status_code == 200:
                pending.pop(0)
                continue
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"event service on {url} did not become ready")
        time.sleep(0.1)
