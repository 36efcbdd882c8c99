"""``make bench`` / ``python -m benchmarks.run``: measure the SMS login step.

Starts the vendor sandbox in its own process, runs every scenario against it
(loopback only), prints the tables and exits non-zero when a target is
missed (``--no-fail``: report only). ``--profile`` prints a cProfile of the
healthy path instead.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Sequence

#: Seconds the sandbox waits before answering in the scenarios with a target (real vendors: 50-500 ms).
VENDOR_LATENCY = 0.02


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=300,
                        help="timed calls per scenario, vendor answering in 20 ms (default 300)")
    parser.add_argument("--loopback-samples", type=int, default=500,
                        help="timed calls per context scenario, instant loopback answer (default 500)")
    parser.add_argument("--warmup", type=int, default=100, help="untimed calls first (default 100)")
    parser.add_argument("--messages", type=int, default=1000,
                        help="sequential sends for the token/connection counts (default 1000)")
    parser.add_argument("--threads", type=int, default=8, help="threads of the concurrency scenario (default 8)")
    parser.add_argument("--no-fail", action="store_true", help="exit 0 even when a target is missed")
    parser.add_argument("--profile", action="store_true",
                        help="print the login step in parts and a cProfile of it instead of the tables")
    parser.add_argument("--profile-setup", choices=("twilio-limits", "twilio", "signicat-limits", "signicat"),
                        default="twilio-limits",
                        help="--profile's gateways and sending limits (default: one Twilio gateway, limits on)")
    parser.add_argument("--show-sql", action="store_true", help="also print the SQL of the counted calls")
    return parser


def _stop_on_sigterm() -> None:
    """SIGTERM ends the run like Ctrl-C does: cleanup code still runs."""
    def handler(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, handler)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.samples < 20 or args.loopback_samples < 20 or args.warmup < 0 or args.threads < 2 or args.messages < 1:
        print("--samples and --loopback-samples must be >= 20, --threads >= 2, --messages >= 1, --warmup >= 0",
              file=sys.stderr)
        return 2
    _stop_on_sigterm()
    workdir = tempfile.mkdtemp(prefix="sms-bench-")
    os.environ["SMS_BENCH_SQLITE_PATH"] = os.path.join(workdir, "bench.sqlite3")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")
    try:
        return _run(args)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _run(args: argparse.Namespace) -> int:
    import django

    django.setup()
    from django.conf import settings
    from django.core.cache import caches

    from . import database
    from .report import Results, checks, render
    from .sandbox_process import SandboxProcess
    from .scenarios import Bench

    old_name = settings.DATABASES["default"]["NAME"]
    database.create()
    try:
        with SandboxProcess() as sandbox:
            bench = Bench(sandbox, samples=args.loopback_samples, warmup=args.warmup)
            if args.profile:
                from .profiling import breakdown, profile_healthy

                setup = {"twilio": args.profile_setup.startswith("twilio"),
                         "limits_on": args.profile_setup.endswith("-limits")}
                print(breakdown(bench, calls=args.samples, vendor_latency=VENDOR_LATENCY, **setup))
                print(profile_healthy(bench, **setup))
                return 0
            started = time.perf_counter()
            core = bench.interleaved(vendor_latency=VENDOR_LATENCY, samples=args.samples)
            loopback = bench.floor_and_healthy()
            limited = bench.floor_and_healthy(limits_on=True)
            naive = bench.naive(vendor_latency=VENDOR_LATENCY, samples=args.samples)
            counts = bench.counts(args.messages)
            threads = bench.threads(args.threads, vendor_latency=VENDOR_LATENCY)
            parts = bench.parts(VENDOR_LATENCY, args.samples)
            elapsed = time.perf_counter() - started
            sandbox_pid = sandbox.process.pid if sandbox.process else "?"
        context = (
            ("instant loopback answer (our own CPU)", *loopback),
            ("instant loopback answer, sending limits on", *limited),
        )
        results = Results(core.floor, core.healthy, core.refused, core.zignsec_connections, core.hung, naive,
                          counts, threads, context, core.zignsec_alone, VENDOR_LATENCY, parts)
        print(
            f"django-otp-sms-gateway benchmark: {args.samples} timed calls per scenario with the vendor "
            f"answering in {VENDOR_LATENCY * 1000:.0f} ms, {args.loopback_samples} per instant-answer "
            f"scenario, after up to {args.warmup} warm-up calls; {database.describe()}, "
            f"{'Redis' if 'redis' in type(caches['default']).__module__ else 'local-memory'} cache; "
            f"sandbox in its own process (pid {sandbox_pid}); "
            f"Python {platform.python_version()}, {os.cpu_count()} CPUs; {elapsed:.0f}s.\n"
        )
        print(render(results))
        if args.show_sql:
            for call, queries in counts.sql.items():
                print(f"\n{call}:")
                for sql in queries:
                    print(f"  {sql}")
    finally:
        database.destroy(old_name)
    failed = [check for check in checks(results) if not check.ok]
    if failed:
        print(f"\n{len(failed)} target(s) missed: " + "; ".join(f"{c.label} = {c.value}" for c in failed))
        return 0 if args.no_fail else 1
    print("\nAll targets met.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
