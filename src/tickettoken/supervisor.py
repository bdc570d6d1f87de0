"""Runs the platform's processes on one machine and restarts any that die.

Used by ``tickettoken up``. Each child is a plain ``tickettoken serve``/``worker`` process; the
supervisor only starts, watches, restarts (with a short back-off for crash loops) and stops them.
A library such as supervisord or honcho would fit, but both want a config file and a second
process manager on the machine; this is 150 lines that need neither.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import httpx

RESTART_BACKOFF_MAX = 5.0


@dataclass
class ChildSpec:
    name: str
    argv: list[str]
    health_url: str | None = None


@dataclass
class Child:
    spec: ChildSpec
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restarts: int = 0
    backoff: float = 0.0
    next_start: float = 0.0
    history: list[float] = field(default_factory=list)


class Supervisor:
    def __init__(
        self,
        specs: Sequence[ChildSpec],
        env: dict[str, str],
        log: Callable[[str], None] = print,
    ) -> None:
        self.children = [Child(spec) for spec in specs]
        self.env = env
        self.log = log
        self._stopping = False

    def _start(self, child: Child) -> None:
        child.process = subprocess.Popen(child.spec.argv, env=self.env, start_new_session=True)
        child.started_at = time.monotonic()
        self.log(f"started {child.spec.name} (pid {child.process.pid})")

    def start_all(self) -> None:
        for child in self.children:
            self._start(child)

    def wait_healthy(self, timeout: float = 60.0) -> bool:
        """Poll every child's health URL until all answer 200 or the time is up."""
        deadline = time.monotonic() + timeout
        pending = {c.spec.name: c.spec.health_url for c in self.children if c.spec.health_url}
        with httpx.Client(timeout=1.0) as client:
            while pending and time.monotonic() < deadline:
                self.poll_once()
                for name, url in list(pending.items()):
                    try:
                        if url and client.get(url).status_code == 200:
                            del pending[name]
                    except httpx.HTTPError:
                        pass
                time.sleep(0.1)
        for name in pending:
            self.log(f"{name} did not become healthy in {timeout:.0f}s")
        return not pending

    def poll_once(self) -> None:
        now = time.monotonic()
        for child in self.children:
            proc = child.process
            if proc is not None and proc.poll() is None:
                if child.backoff and now - child.started_at > 30:
                    child.backoff = 0.0  # it has stayed up: forget earlier crashes
                continue
            if self._stopping:
                continue
            if proc is not None:
                self.log(f"{child.spec.name} exited with {proc.returncode}; restarting")
                child.process = None
                child.restarts += 1
                # Restart at once the first time; back off if it keeps dying quickly.
                quick_death = now - child.started_at < 5
                child.backoff = (
                    min(child.backoff * 2 or 0.25, RESTART_BACKOFF_MAX) if quick_death else 0.0
                )
                child.next_start = now + child.backoff
            if now >= child.next_start:
                self._start(child)

    def run_forever(self) -> None:
        while not self._stopping:
            self.poll_once()
            time.sleep(0.1)

    def stop_all(self, timeout: float = 10.0) -> None:
        self._stopping = True
        for child in self.children:
            if child.process and child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for child in self.children:
            proc = child.process
            if proc is None:
                continue
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.log(f"{child.spec.name} did not stop in time; killing it")
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def request_stop(self, *_: object) -> None:
        self._stopping = True


def python_command(*args: str) -> list[str]:
    """Run the CLI with the interpreter that runs us, whatever PATH says."""
    return [sys.executable, "-m", "tickettoken", *args]
