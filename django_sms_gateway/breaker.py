"""Per-gateway circuit breaker whose state lives in Django's cache.

The state is shared by every process and server that uses the same cache
(``OTP_SMS_BREAKER_CACHE``, by default the limits cache), so a vendor that
hangs costs the cluster its timeout once per cool-off, not once per login.

- **Closed**: the gateway is tried. Each failure that says the vendor is
  unhealthy (a :class:`~django_sms_gateway.exceptions.GatewayError` whose
  ``retry_next`` is true: connection, timeout, 5xx, 401/403, 429, unreadable
  answer) adds one to its consecutive-failure count; an answer from the
  vendor (accepted, or a recipient refusal) resets the count.
- **Open**: after ``threshold`` consecutive failures the gateway is skipped
  for ``cooloff`` seconds (:data:`~django_sms_gateway.signals.breaker_opened`
  is sent once, cluster-wide).
- **Half-open**: after the cool-off exactly one request in the cluster claims
  the trial (``cache.add``); the others keep skipping. Its success closes the
  breaker, its failure opens it for another cool-off.

Keys, per gateway alias (``sms_gateway:breaker:<alias>:<name>``):
``failures`` (consecutive count, ``incr``), ``open`` (the time the cool-off
ends, a timestamp, so sub-second cool-offs work on caches that round TTLs to
seconds), ``trial`` (held by the trial request, expires after the gateway's
timeout plus a margin if that request dies).

A healthy walk reads all its gateways' state in one ``get_many`` and writes
nothing. When the cache cannot be reached the breaker fails open: every
gateway is tried, and a warning naming the cache alias is logged (at most
once a minute per process).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple
from urllib.parse import quote

from django.core.cache import BaseCache, caches

from . import signals
from .backends.base import BaseBackend
from .conf import settings
from .counters import add_to
from .exceptions import GatewayError
from .log_throttle import LogThrottle

logger = logging.getLogger("django_sms_gateway")

KEY_PREFIX = "sms_gateway:breaker:"
#: Seconds a run of failures is remembered (from its first failure on most caches).
FAILURE_TTL = 24 * 3600
#: Seconds past the gateway's timeout that a trial claim outlives its request.
TRIAL_MARGIN = 5.0
#: Seconds between two "breaker cache unreachable" warnings of one process.

#: Skip reasons, as shown in :class:`~django_sms_gateway.exceptions.Attempt`.
OPEN = "circuit open"
TRIAL_ELSEWHERE = "circuit open (trial in progress)"

_now = time.time  # wall clock: the state is compared across servers
_cache_warnings = LogThrottle()


class StateKeys(NamedTuple):
    failures: str
    open: str
    trial: str


@lru_cache(maxsize=256)
def state_keys(alias: str) -> StateKeys:
    """The cache keys of ``alias``'s breaker (alias quoted: safe for memcached)."""
    base = f"{KEY_PREFIX}{quote(alias, safe='')}:"
    return StateKeys(base + "failures", base + "open", base + "trial")


def cache_alias() -> str:
    """The ``CACHES`` alias holding breaker state."""
    return str(settings.OTP_SMS_BREAKER_CACHE or settings.OTP_SMS_LIMITS_CACHE)


def policy(backend: BaseBackend) -> tuple[int, float]:
    """``(threshold, cooloff)`` for ``backend``: its ``SMS_GATEWAYS`` entry's
    ``BREAKER_THRESHOLD``/``BREAKER_COOLOFF``, else the global settings.
    A threshold of 0 means the breaker is off for that gateway."""
    threshold = backend.breaker_threshold
    if threshold is None:
        threshold = settings.OTP_SMS_BREAKER_THRESHOLD
    cooloff = backend.breaker_cooloff
    if cooloff is None:
        cooloff = settings.OTP_SMS_BREAKER_COOLOFF
    return int(threshold or 0), float(cooloff)


def _cache_failed(alias: str, exc: BaseException) -> None:
    """Log (rate-limited per process) that the breaker cache is unusable."""
    if _cache_warnings.allow(alias) is None:
        return
    logger.warning(
        "SMS circuit breaker cache %r unavailable (%s); gateways are tried as if every breaker were closed",
        alias, type(exc).__name__,
    )


@dataclass(slots=True)
class _Gate:
    threshold: int
    cooloff: float
    failures: int = 0
    trial: bool = False


class Circuit:
    """The breakers of one walk over the gateways.

    Built by :meth:`read` with one cache round trip; then :meth:`admit`
    before each send, and :meth:`record` after it.
    """

    def __init__(self, cache: BaseCache | None, alias: str, gates: dict[str, _Gate], state: dict[str, Any],
                 *, bypass: bool = False) -> None:
        self._cache = cache
        self._alias = alias
        self._gates = gates
        self._state = state
        self._bypass = bypass

    @classmethod
    def read(cls, backends: Iterable[BaseBackend], *, bypass: bool = False) -> Circuit:
        """The breaker state of ``backends`` in one ``get_many``. With
        ``bypass`` no gateway is skipped, but outcomes are still recorded
        (``manage.py sendtestsms`` testing a gateway on purpose)."""
        gates = {}
        for backend in backends:
            threshold, cooloff = policy(backend)
            if threshold > 0:
                gates[backend.alias] = _Gate(threshold, cooloff)
        alias = cache_alias()
        if not gates:
            return cls(None, alias, {}, {})
        # The trial key is not read: only the half-open state needs it, and there add() decides.
        keys = [key for name in gates for key in state_keys(name)[:2]]
        try:
            cache = caches[alias]
            state = cache.get_many(keys)
        except Exception as exc:
            _cache_failed(alias, exc)
            return cls(None, alias, {}, {})
        for name, gate in gates.items():
            gate.failures = _as_int(state.get(state_keys(name).failures))
        return cls(cache, alias, gates, state, bypass=bypass)

    def admit(self, backend: BaseBackend) -> str | None:
        """None when ``backend`` may be tried now, else why it is skipped.
        May claim the half-open trial for this request (one cache write)."""
        gate = self._gates.get(backend.alias)
        if gate is None or self._cache is None or self._bypass:
            return None
        keys = state_keys(backend.alias)
        until = self._state.get(keys.open)
        if until is not None:
            if _now() < _as_float(until):
                return OPEN
        elif gate.failures < gate.threshold:
            return None
        # Cool-off over (or its key gone with failures still counted): half-open.
        try:
            claimed = self._cache.add(keys.trial, _now(), timeout=math.ceil(backend.timeout + TRIAL_MARGIN))
        except Exception as exc:
            _cache_failed(self._alias, exc)
            return None
        if not claimed:
            return TRIAL_ELSEWHERE
        gate.trial = True
        logger.info("SMS gateway %r: cool-off over, this request is the circuit trial", backend.alias)
        return None

    def record(self, backend: BaseBackend, error: GatewayError | None = None, *, cut_short: bool = False) -> None:
        """Note the outcome of one try of ``backend``: ``error`` None for an
        accepted message. A failure counts when ``error.retry_next`` says the
        vendor is unhealthy, unless ``cut_short`` (the time budget, not the
        gateway's timeout, ended a wait); a refusal of the recipient is an
        answer, so it counts as health."""
        gate = self._gates.get(backend.alias)
        cache = self._cache
        if gate is None or cache is None:
            return
        keys = state_keys(backend.alias)
        alias = backend.alias
        try:
            if error is None or not error.retry_next:
                closed, opened_after = self._healthy(cache, gate, keys), 0
            elif not cut_short:
                closed, opened_after = False, self._failed(cache, gate, keys)
            else:
                closed, opened_after = False, 0
                if gate.trial:  # not a verdict: let the next request try
                    cache.delete(keys.trial)
        except Exception as exc:
            _cache_failed(self._alias, exc)
            return
        # Signals outside the try: a receiver's error is not a cache error.
        if closed:
            logger.info("SMS gateway %r circuit closed: the vendor answered again", alias)
            signals.breaker_closed.send(sender=Circuit, alias=alias)
        elif opened_after:
            logger.warning(
                "SMS gateway %r circuit opened after %d %s; skipped for %s s", alias, opened_after,
                "failure" if opened_after == 1 else "failures", f"{gate.cooloff:g}",
            )
            signals.breaker_opened.send(sender=Circuit, alias=alias, failures=opened_after, cooloff=gate.cooloff)

    def _healthy(self, cache: BaseCache, gate: _Gate, keys: StateKeys) -> bool:
        """Forget failures; True when this closed an open circuit."""
        if gate.trial or (self._bypass and (gate.failures or self._state.get(keys.open) is not None)):
            cache.delete_many([keys.failures, keys.open, keys.trial])
            return True
        if gate.failures:
            cache.delete(keys.failures)
        return False

    def _failed(self, cache: BaseCache, gate: _Gate, keys: StateKeys) -> int:
        """Count a failure; the count when this opened the circuit, else 0."""
        try:
            failures = add_to(cache, keys.failures, 1, FAILURE_TTL)
        except ValueError:  # no count yet (or it just expired)
            added = cache.add(keys.failures, 1, timeout=FAILURE_TTL)
            failures = 1 if added else add_to(cache, keys.failures, 1, FAILURE_TTL)
        if failures < gate.threshold:
            return 0
        until = _now() + gate.cooloff
        # A cool-off key outlives its end by a second or more: caches round TTLs to whole seconds.
        ttl = math.ceil(gate.cooloff) + 1
        if gate.trial:
            cache.set(keys.open, until, timeout=ttl)
            cache.delete(keys.trial)
        elif not cache.add(keys.open, until, timeout=ttl):
            return 0  # another request opened it, or a trial will decide
        return int(failures)


@dataclass(frozen=True, slots=True)
class BreakerState:
    """One gateway's breaker as the cache holds it now (admin, sendtestsms)."""

    alias: str
    state: str  # "closed", "open", "half-open" or "off" (no threshold), "unknown" (cache error)
    failures: int = 0
    open_until: float | None = None  # epoch seconds


def states(backends: Sequence[BaseBackend]) -> dict[str, BreakerState]:
    """The breaker state of each of ``backends`` (one cache round trip)."""
    result: dict[str, BreakerState] = {}
    circuit = Circuit.read(backends)
    for backend in backends:
        gate = circuit._gates.get(backend.alias)
        threshold, _cooloff = policy(backend)
        if threshold <= 0:
            result[backend.alias] = BreakerState(backend.alias, "off")
            continue
        if gate is None or circuit._cache is None:
            result[backend.alias] = BreakerState(backend.alias, "unknown")
            continue
        until = circuit._state.get(state_keys(backend.alias).open)
        open_until = None if until is None else _as_float(until)
        if open_until is not None and _now() < open_until:
            state = "open"
        elif open_until is not None or gate.failures >= gate.threshold:
            state = "half-open"
        else:
            state = "closed"
        result[backend.alias] = BreakerState(backend.alias, state, gate.failures, open_until)
    return result


def reset(aliases: Iterable[str]) -> None:
    """Close the breakers of ``aliases`` (forget failures, cool-off, trial)."""
    keys = [key for alias in aliases for key in state_keys(alias)]
    if keys:
        caches[cache_alias()].delete_many(keys)


def _as_int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _as_float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0
