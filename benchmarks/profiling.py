"""``python -m benchmarks.run --profile``: where the healthy login step spends its time.

Two views of many ``generate_challenge()`` calls against the sandbox:

- :func:`profile_healthy`: cProfile (own time, then cumulative), Signicat;
- :func:`breakdown` (``--profile --limits``/``--twilio`` choose the set-up):
  each part of the step timed in place by a thin wrapper, wall clock and
  thread CPU (means per step, which add up), with the SQL of one step and
  each statement's median time. The wrapper
  costs a microsecond or two per part, far less than cProfile's per-call
  overhead, so its shares are the ones to rank changes by.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

from .scenarios import UNREACHABLE_LIMITS, Bench

__all__ = ["breakdown", "profile_healthy"]


def _login_settings(bench: Bench, *, limits_on: bool, twilio: bool) -> dict[str, Any]:
    """Settings of the profiled step: one Twilio gateway (as ``make bench-peers``) or Signicat and
    ZignSec, the breaker on, all five sending limits counting (caps out of reach) or none."""
    from sms_sandbox import CREDENTIALS

    gateways = ({"twilio": {
        "BACKEND": "django_sms_gateway.backends.twilio.TwilioBackend",
        "OPTIONS": {**CREDENTIALS["twilio"], "base_url": bench.sandbox.base_url("twilio"), "sender": "Bench"},
        "TIMEOUT": bench.timeout,
    }} if twilio else {"signicat": bench.signicat(), "zignsec": bench.zignsec()})
    found: dict[str, Any] = {"SMS_GATEWAYS": gateways}
    if limits_on:
        found["OTP_SMS_LIMITS"] = dict.fromkeys(UNREACHABLE_LIMITS, (10**9, 3600))
    return found


def _setup_text(*, limits_on: bool, twilio: bool) -> str:
    return f"{'Twilio' if twilio else 'Signicat'}, limits {'on' if limits_on else 'off'}, breaker on"


def profile_healthy(bench: Bench, calls: int = 2000, top: int = 35, *, limits_on: bool = True,
                    twilio: bool = True) -> str:
    """cProfile of ``calls`` steps with an instant loopback answer."""
    from django.core.cache import cache
    from django.test import override_settings

    device = bench.device()
    bench.sandbox.reset()
    cache.clear()
    with override_settings(**_login_settings(bench, limits_on=limits_on, twilio=twilio)):
        for _ in range(bench.warmup):
            device.generate_challenge()
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(calls):
            device.generate_challenge()
        profiler.disable()
    cache.clear()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    out.write(f"cProfile of {calls} generate_challenge() calls ({_setup_text(limits_on=limits_on, twilio=twilio)}; "
              "instant loopback answer)\n")
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


@dataclass
class _Part:
    label: str
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)


@contextmanager
def _wrapped(owner: Any, name: str, part: _Part) -> Iterator[None]:
    """Time every call of ``owner.name`` (a function of a module, or a method
    or classmethod of a class, its own or inherited) into ``part``."""
    own = vars(owner).get(name) if isinstance(owner, type) else None
    original = getattr(owner, name)
    wall_clock, cpu_clock = time.perf_counter, time.thread_time

    def timed(*args: Any, **kwargs: Any) -> Any:
        wall, cpu = wall_clock(), cpu_clock()
        try:
            return original(*args, **kwargs)
        finally:
            part.cpu.append(cpu_clock() - cpu)
            part.wall.append(wall_clock() - wall)

    setattr(owner, name, timed)
    try:
        yield
    finally:
        if isinstance(owner, type) and own is None:
            delattr(owner, name)
        else:
            setattr(owner, name, own if own is not None else original)


def _parts() -> list[tuple[Any, str, str]]:
    from django_sms_gateway import breaker, dispatch, limits, models

    return [
        (models.SMSDevice, "generate_is_allowed", "cooldown check (django-otp, in memory)"),
        (models, "generate_code", "code (secrets)"),
        (models, "build_message", "message text (template, segments)"),
        (limits, "check_send", "sending limits (allowlists, HMAC keys, cache)"),
        (models, "_hash_code", "keyed hash of the code"),
        (models.SMSDevice, "_claim", "claim: conditional UPDATE, autocommit"),
        (breaker.Circuit, "read", "breaker state: one cache read"),
        (dispatch, "_call", "vendor call: backend.send (HTTP POST, vendor waits)"),
        (breaker.Circuit, "record", "breaker bookkeeping after the call"),
        (models.DeliveryRecord, "record", "delivery record: INSERT, autocommit"),
    ]


def breakdown(bench: Bench, *, calls: int = 300, vendor_latency: float = 0.02, limits_on: bool = True,
              twilio: bool = True) -> str:
    """The login step split into its parts, timed in place (mean ms per
    step, wall and this thread's CPU), against the sandbox answering after
    ``vendor_latency`` seconds; then the SQL of one step with each
    statement's median time."""
    from django.core.cache import cache
    from django.db import connection
    from django.test import override_settings

    from django_sms_gateway import models

    device = bench.device()
    step = _Part("the whole step: generate_challenge()")
    parts = [_Part(label) for _, _, label in _parts()]
    statements: dict[str, list[float]] = {}

    def time_sql(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            statements.setdefault(sql.split(" WHERE ")[0][:110], []).append(time.perf_counter() - started)

    bench.sandbox.reset()
    cache.clear()
    with override_settings(**_login_settings(bench, limits_on=limits_on, twilio=twilio)):
        for _ in range(min(bench.warmup, 50)):
            device.generate_challenge()
        bench.sandbox.set_latency(vendor_latency)
        try:
            with ExitStack() as stack:
                for (owner, name, _label), part in zip(_parts(), parts, strict=True):
                    stack.enter_context(_wrapped(owner, name, part))
                stack.enter_context(_wrapped(models.SMSDevice, "generate_challenge", step))
                stack.enter_context(connection.execute_wrapper(time_sql))
                for _ in range(calls):
                    device.generate_challenge()
        finally:
            bench.sandbox.set_latency(0)

    def ms(values: list[float]) -> float:
        return statistics.median(values) * 1000 if values else 0.0

    def per_step(values: list[float]) -> float:
        return sum(values) * 1000 / calls

    # Means per step, so that the parts and the rest add up to the whole.
    total_wall, total_cpu = per_step(step.wall), per_step(step.cpu)
    rows = [(part.label, per_step(part.wall), per_step(part.cpu)) for part in parts]
    accounted_wall = sum(wall for _, wall, _ in rows)
    accounted_cpu = sum(cpu for _, _, cpu in rows)
    out = io.StringIO()
    settings_text = _setup_text(limits_on=limits_on, twilio=twilio)
    out.write(f"The login step in parts: {calls} calls, vendor answering in {vendor_latency * 1000:.0f} ms, "
              f"{settings_text}; mean ms per step (the step's median: {ms(step.wall):.3f} wall, "
              f"{ms(step.cpu):.3f} CPU).\n\n")
    out.write("| part | wall ms | share of wall | CPU ms | share of CPU |\n|---|---:|---:|---:|---:|\n")
    out.write(f"| {step.label} | {total_wall:.3f} | 100% | {total_cpu:.3f} | 100% |\n")
    for label, wall, cpu in rows:
        out.write(f"| {label} | {wall:.3f} | {wall / total_wall:.0%} | {cpu:.3f} | {cpu / total_cpu:.0%} |\n")
    out.write(f"| everything else (sentence, masked number, signals, glue) | {total_wall - accounted_wall:.3f} | "
              f"{(total_wall - accounted_wall) / total_wall:.0%} | {total_cpu - accounted_cpu:.3f} | "
              f"{(total_cpu - accounted_cpu) / total_cpu:.0%} |\n")
    out.write(f"\nSQL of one step ({sum(len(v) for v in statements.values()) / calls:.1f} statements per step; "
              "median wall ms of each, from sending it to reading the answer):\n\n")
    for sql, seconds in statements.items():
        out.write(f"- {ms(seconds):.3f} ms x {len(seconds) / calls:.1f}: {sql}\n")
    return out.getvalue()
