"""Timing: samples of one call, their median and p95, and threaded throughput."""

from __future__ import annotations

import math
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["Samples", "Throughput", "percentile", "sample", "throughput"]


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of ``values`` (``fraction`` in 0..1)."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Samples:
    """Durations of one scenario's calls, in seconds."""

    name: str
    seconds: tuple[float, ...]

    @property
    def median_ms(self) -> float:
        return statistics.median(self.seconds) * 1000

    @property
    def p95_ms(self) -> float:
        return percentile(self.seconds, 0.95) * 1000

    def __len__(self) -> int:
        return len(self.seconds)


def sample(name: str, call: Callable[[], object], *, samples: int, warmup: int) -> Samples:
    """Time ``samples`` calls of ``call`` after ``warmup`` untimed ones."""
    for _ in range(warmup):
        call()
    clock = time.perf_counter
    seconds = []
    for _ in range(samples):
        started = clock()
        call()
        seconds.append(clock() - started)
    return Samples(name, tuple(seconds))


@dataclass(frozen=True)
class Throughput:
    """Calls completed per second by ``threads`` threads calling at once."""

    threads: int
    calls: int
    wall_seconds: float
    cpu_seconds: float  # this process, all threads
    latencies: Samples

    @property
    def per_second(self) -> float:
        return self.calls / self.wall_seconds

    @property
    def cpu_share(self) -> float:
        """CPU used by this process while running, in cores (1.0 = one core busy)."""
        return self.cpu_seconds / self.wall_seconds


def throughput(name: str, calls: Sequence[Callable[[], object]], *, per_thread: int,
               setup: Callable[[], object] | None = None,
               teardown: Callable[[], object] | None = None) -> Throughput:
    """Run ``calls[i]`` ``per_thread`` times in thread ``i``, all threads
    starting together; ``setup``/``teardown`` run in each thread, untimed.

    A failing call ends the run with its exception.
    """
    threads = len(calls)
    start = threading.Barrier(threads + 1)
    latencies: list[list[float]] = [[] for _ in range(threads)]
    finished = [0.0] * threads
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        clock = time.perf_counter
        call, mine = calls[index], latencies[index]
        try:
            if setup is not None:
                setup()
            start.wait()
            for _ in range(per_thread):
                began = clock()
                call()
                mine.append(clock() - began)
            finished[index] = clock()
        except threading.BrokenBarrierError:
            pass
        except BaseException as exc:  # re-raised by the calling thread
            errors.append(exc)
            start.abort()
        finally:
            if teardown is not None:
                teardown()

    workers = [threading.Thread(target=worker, args=(i,), name=f"bench-{i}") for i in range(threads)]
    for thread in workers:
        thread.start()
    try:
        start.wait(timeout=60)
    except threading.BrokenBarrierError:
        pass
    started, cpu_started = time.perf_counter(), time.process_time()
    for thread in workers:
        thread.join()
    cpu = time.process_time() - cpu_started
    if errors:
        raise errors[0]
    merged = tuple(t for mine in latencies for t in mine)
    return Throughput(threads, len(merged), max(finished) - started, cpu, Samples(name, merged))
