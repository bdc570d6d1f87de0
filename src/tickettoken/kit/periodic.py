"""One way to run something in the background of a process: a round every N seconds, or a
listener kept connected, that survives its own failures and stops cleanly.

Why here and not a library: the round runs on the service's own event loop beside its routes
and needs three things the schedulers on PyPI (APScheduler, aiocron, rocketry) do not give
together without their own executor or job store: a failure is logged and the next round runs
(the loop never dies silently, never takes the service down); ``stop`` lets the round in progress
finish (a monitor round that stored an alert also delivers it) but waits at most ``stop_grace``
seconds before cancelling it; and the wait between rounds ends at once on ``stop``.

``expected(exc)`` names the failures of the world (a database restarting, Redis unreachable):
they are logged as one warning line with the reason; anything else is logged with its traceback,
because it is a bug.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog

from tickettoken.kit.faults import describe

log = structlog.get_logger(__name__)

Round = Callable[[], Awaitable[object]]


def _never(exc: Exception) -> bool:
    return False


class Periodic:
    """Runs ``round()`` every ``every`` seconds (after the round ends) until ``stop()``.

    The first round runs ``first_after`` seconds after ``start()`` (at once by default).
    """

    def __init__(
        self,
        name: str,
        round: Round,
        every: float,
        *,
        first_after: float = 0.0,
        stop_grace: float = 10.0,
        expected: Callable[[Exception], bool] = _never,
    ) -> None:
        self.name = name
        self._round = round
        self.every = every
        self.first_after = first_after
        self.stop_grace = stop_grace
        self._expected = expected
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        """Let the round in progress finish (at most ``stop_grace`` seconds), then return."""
        task = self._task
        if task is None:
            return
        self._stopping.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), self.stop_grace)
        except TimeoutError:
            with contextlib.suppress(Exception):  # a failing log sink must not stop the stop
                log.warning("periodic_stop_timed_out", task=self.name, grace=self.stop_grace)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _pause(self, seconds: float) -> None:
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _run(self) -> None:
        await self._pause(self.first_after)
        while not self._stopping.is_set():
            try:
                await self._round()
            except Exception as exc:
                self._report(exc)
            await self._pause(self.every)

    def _report(self, exc: Exception) -> None:
        # A log sink that fails (a closed stream) must not end the loop it reports on.
        with contextlib.suppress(Exception):
            if self._expected(exc):  # one line per round; the next round retries
                log.warning("periodic_round_failed", task=self.name, reason=describe(exc))
            else:
                log.error("periodic_round_crashed", task=self.name, exc_info=exc)
