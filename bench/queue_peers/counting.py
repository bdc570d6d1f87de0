"""A worker-side job counter shared by every system in the benchmark.

Each system's no-op task calls ``count_one()``: an in-process increment (no I/O per job). The
first job (the warm-up) and the last one write a marker file with the wall-clock time, so the
benchmark measures every system the same way without adding work per job.
"""

from __future__ import annotations

import os
import threading
import time

_lock = threading.Lock()
_count = 0


def count_one() -> None:
    global _count
    with _lock:
        _count += 1
        n = _count
    total = int(os.environ["BENCH_TOTAL"])  # warm-up job + measured jobs
    if n == 1 or n == total:
        path = os.environ["BENCH_MARKER"] + (".warm" if n == 1 else ".done")
        with open(path + ".tmp", "w") as f:
            f.write(repr(time.time()))
        os.replace(path + ".tmp", path)
