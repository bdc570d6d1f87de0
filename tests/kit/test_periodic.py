"""The periodic helper: rounds repeat, failures do not end them, stop finishes the round in
progress within a bounded wait and does not wait out the pause between rounds."""

from __future__ import annotations

import asyncio
import time

from tickettoken.kit.periodic import Periodic


async def test_rounds_repeat_and_survive_failures_of_both_kinds() -> None:
    rounds: list[int] = []

    async def flaky() -> None:
        rounds.append(len(rounds))
        if len(rounds) == 1:
            raise ConnectionError("database restarting")  # expected: a warning line
        if len(rounds) == 2:
            raise KeyError("a bug")  # unexpected: logged with its traceback, loop goes on

    periodic = Periodic("test", flaky, 0.01, expected=lambda exc: isinstance(exc, ConnectionError))
    periodic.start()
    for _ in range(200):
        if len(rounds) >= 4:
            break
        await asyncio.sleep(0.01)
    assert periodic.running
    await periodic.stop()
    assert len(rounds) >= 4 and not periodic.running


async def test_stop_lets_the_round_in_progress_finish() -> None:
    started, finished = asyncio.Event(), asyncio.Event()

    async def slow() -> None:
        started.set()
        await asyncio.sleep(0.3)
        finished.set()

    periodic = Periodic("test", slow, 60)
    periodic.start()
    await asyncio.wait_for(started.wait(), 5)
    await periodic.stop()
    assert finished.is_set()


async def test_stop_cancels_a_round_stuck_past_the_grace() -> None:
    started = asyncio.Event()
    cancelled = False

    async def stuck() -> None:
        nonlocal cancelled
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled = True
            raise

    periodic = Periodic("test", stuck, 60, stop_grace=0.2)
    periodic.start()
    await asyncio.wait_for(started.wait(), 5)
    began = time.monotonic()
    await periodic.stop()
    assert cancelled and time.monotonic() - began < 2


async def test_stop_ends_the_pause_between_rounds_at_once() -> None:
    rounds = 0

    async def count() -> None:
        nonlocal rounds
        rounds += 1

    periodic = Periodic("test", count, 3600, first_after=3600)
    periodic.start()
    began = time.monotonic()
    await periodic.stop()
    assert rounds == 0 and time.monotonic() - began < 1
