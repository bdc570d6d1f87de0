"""Route deadlines without a timer per request.

``asyncio.timeout_at`` arms one event-loop timer per request and cancels it again; under uvloop
that pair alone measured about 3 us, on a proxied request that costs the gateway about 100 us in
all. Route budgets are seconds long (10 s by default), so here every request's deadline is
watched by one sweep that runs every ``tick`` seconds while requests are in flight: a request
past its deadline is cancelled and leaves the block with ``TimeoutError``, as with
``asyncio.timeout_at``, at most ``tick`` late.
"""

from __future__ import annotations

import asyncio
from types import TracebackType

TICK_SECONDS = 0.02


class DeadlineWatch:
    """The deadlines of the requests in flight on one event loop, swept every ``tick``."""

    def __init__(self, tick: float = TICK_SECONDS) -> None:
        self.tick = tick
        self._watched: dict[Deadline, float] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sweeping: asyncio.TimerHandle | None = None

    def until(self, loop: asyncio.AbstractEventLoop, deadline: float) -> Deadline:
        """``async with watch.until(loop, deadline):`` bounds the block by ``deadline`` (the
        loop's clock), as ``asyncio.timeout_at(deadline)`` does."""
        return Deadline(self, loop, deadline)

    def _watch(self, loop: asyncio.AbstractEventLoop, deadline: Deadline, at: float) -> None:
        self._watched[deadline] = at
        if self._sweeping is None or self._loop is not loop:
            self._loop = loop
            self._sweeping = loop.call_later(self.tick, self._sweep)

    def _sweep(self) -> None:
        loop = self._loop
        assert loop is not None
        self._sweeping = None
        now = loop.time()
        expired = [deadline for deadline, at in self._watched.items() if at <= now]
        for deadline in expired:
            del self._watched[deadline]
            deadline.expire()
        if self._watched:
            self._sweeping = loop.call_later(self.tick, self._sweep)


class Deadline:
    """One request's deadline (``DeadlineWatch.until``). Like ``asyncio.Timeout``: at the
    deadline the task is cancelled, and that cancellation leaves the block as ``TimeoutError``
    (a cancellation from elsewhere stays a cancellation)."""

    __slots__ = ("_at", "_cancelling", "_expired", "_loop", "_task", "_watch")

    def __init__(self, watch: DeadlineWatch, loop: asyncio.AbstractEventLoop, at: float) -> None:
        self._watch = watch
        self._loop = loop
        self._at = at
        self._task: asyncio.Task[object] | None = None
        self._expired = False
        self._cancelling = 0

    def expire(self) -> None:
        if not self._expired and self._task is not None and not self._task.done():
            self._expired = True
            self._task.cancel()

    def enter(self) -> None:
        """What ``async with`` does on entry, callable without a coroutine (the proxy's hot
        path calls ``enter`` and ``leave`` itself)."""
        # with the loop given, current_task skips get_running_loop (and its getpid system call)
        self._task = asyncio.current_task(self._loop)
        if self._task is None:
            raise RuntimeError("Deadline should be used inside a task")
        self._cancelling = self._task.cancelling()
        if self._at <= self._loop.time():
            self._loop.call_soon(self.expire)
        else:
            self._watch._watch(self._loop, self, self._at)

    def leave(self, exc: BaseException | None) -> None:
        """What ``async with`` does on exit, ``exc`` being what leaves the block (None when
        it ends normally): the deadline's own cancellation becomes ``TimeoutError``."""
        self._watch._watched.pop(self, None)
        if self._expired:
            self._expired = False
            assert self._task is not None
            if self._task.uncancel() <= self._cancelling and type(exc) is asyncio.CancelledError:
                raise TimeoutError from exc

    async def __aenter__(self) -> None:
        self.enter()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.leave(exc)
