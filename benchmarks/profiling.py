"""``python -m benchmarks.run --profile``: where the healthy path spends its time.

cProfile over many ``generate_challenge()`` calls against the sandbox; the
listing is sorted by own time, the second by cumulative time, both limited
to the top entries.
"""

from __future__ import annotations

import cProfile
import io
import pstats

from .scenarios import Bench

__all__ = ["profile_healthy"]


def profile_healthy(bench: Bench, calls: int = 2000, top: int = 35) -> str:
    device = bench.device()
    with bench.gateways():
        for _ in range(bench.warmup):
            device.generate_challenge()
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(calls):
            device.generate_challenge()
        profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    out.write(f"cProfile of {calls} generate_challenge() calls (Signicat through the sandbox)\n")
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()
