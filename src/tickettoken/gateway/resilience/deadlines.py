"""Route deadlines without a timer per request.

``asyncio.timeout_at`` arms one event-loop timer per request and cancels it again; under uvloop
that pair alone measured about 3 us, on a proxied request that costs the gateway about 100 us in
all. Route budgets are seconds long (10 s by default), so here every request's deadline is
watched by one sweep that runs every ``tick`` seconds while requests are in flight: a request
past its deadline gets its ``asyncio.Timeout`` fired at once, so it ends exactly as
``asyncio.timeout_at`` would end it (``TimeoutError`` out of the ``async with``), at most
``tick`` late.
"""

from __future__ import annotations

import asyncio
from types import TracebackType

TICK_SECONDS = 0.02


class DeadlineWatch:
    """The deadlines of the requests in flight on one event loop, swept every ``tick``."""

    def __init__(self, tick: float = TICK_SECONDS) -> None:
        self.tick = tick
        self._watched: dict[asyncio.Timeout, float] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sweeping: asyncio.TimerHandle | None = None

    def until(self, loop: asyncio.AbstractEventLoop, deadline: float) -> Deadline:
        """``async with watch.until(loop, deadline):`` bounds the block by ``deadline`` (the
        loop's clock), as ``asyncio.timeout_at(deadline)`` does."""
        return Deadline(self, loop, deadline)

    def _watch(self, loop: asyncio.AbstractEventLoop, timeout: asyncio.Timeout, at: float) -> None:
        self._watched[timeout] = at
        if self._sweeping is None or self._loop is not loop:
            self._loop = loop
            self._sweeping = loop.call_later(self.tick, self._sweep)

    def _forget(self, timeout: asyncio.Timeout) -> None:
        self._watched.pop(timeout, None)

    def _sweep(self) -> None:
        loop = self._loop
        assert loop is not None
        self._sweeping = None
        now = loop.time()
        expired = [timeout for timeout, at in self._watched.items() if at <= now]
        for timeout in expired:
            del self._watched[timeout]
            timeout.reschedule(now)  # fires on the loop's next iteration
        if self._watched:
            self._sweeping = loop.call_later(self.tick, self._sweep)


class Deadline:
    """One request's deadline (``DeadlineWatch.until``)."""

    __slots__ = ("_at", "_loop", "_timeout", "_watch")

    def __init__(self, watch: DeadlineWatch, loop: asyncio.AbstractEventLoop, at: float) -> None:
        self._watch = watch
        self._loop = loop
        self._at = at
        self._timeout = asyncio.timeout(None)

    async def __aenter__(self) -> None:
        await self._timeout.__aenter__()
        if self._at <= self._loop.time():
            self._timeout.reschedule(self._at)
        else:
            self._watch._watch(self._loop, self._timeout, self._at)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._watch._forget(self._timeout)
        await self._timeout.__aexit__(exc_type, exc, traceback)
