"""Per-gateway circuit breaker whose state lives in Django's cache.

The state is shared by every process and server that uses the same cache
(``OTP_SMS_BREAKER_CACHE``, by default the limits cache), so a vendor that
hangs costs the cluster its timeout once per cool-off, not once per login.

- **Closed**: the gateway is tried. Each failure that says the vendor is
  unhealthy (a :class:`~django_sms_gateway.exceptions.GatewayError` whose
  ``counts_against_vendor`` is true: connection, timeout, 5xx, 401/403, 429,
  unreadable answer) adds one to its consecutive-failure count; an accepted
  message resets the count. A failure the request caused (the vendor refused
  its recipient or its payload) neither counts nor resets: the user picks the
  number, and must neither open a gateway's circuit for everyone nor keep a
  failing one closed.
- **Open**: after ``threshold`` consecutive failures the gateway is skipped
  for ``cooloff`` seconds (:data:`~django_sms_gateway.signals.breaker_opened`
  is sent once, cluster-wide).
- **Half-open**: after the cool-off exactly one request in the cluster claims
  the trial (``cache.add``); the others keep skipping. Its success closes the
  breaker, its failure opens it for another cool-off.
- **All open**: when every gateway a walk could use is open, the one whose
  cool-off ends soonest is half-open for that walk: it gets its trial now
  (still one at a time in the cluster) rather than failing the login.

Keys, per gateway alias (``sms_gateway:breaker:<alias>:<name>``):
``failures`` (consecutive count, ``incr``), ``open`` (the time the cool-off
ends, a timestamp, so sub-second cool-offs work on caches that round TTLs to
seconds), ``trial`` (held by the trial request, expires after the gateway's
timeout plus a margin if that request dies).

A healthy walk reads all its gateways' state in one ``get_many`` and writes
nothing. A read that finds every circuit of the walk closed with no failure
and no delivery-health flag is remembered in the process for
``OTP_SMS_BREAKER_MEMO`` seconds (0: never): the next walks over the same
gateways within that time skip the cache read. A circuit another process
opens is therefore seen up to that long late here; any vendor failure, and
any delivery-health trip, this process records forgets the memo at once.
When the cache cannot be reached the breaker fails open: every
gateway is tried, and a warning naming the cache alias is logged (at most
once a minute per process).

Each gateway's policy is read in :mod:`.conf` (:class:`~.conf.BreakerPolicy`).

**Delivery health** (``OTP_SMS_DELIVERY_HEALTH``, :class:`~.conf.DeliveryHealthPolicy`)
is a second breaker per gateway *and destination country*, fed by the
vendors' receipts (:data:`~django_sms_gateway.signals.delivery_reported`)
rather than by their HTTP answers. Each final report is counted in the
pair's sliding window (``HEALTH_BUCKETS`` buckets of ``window / HEALTH_BUCKETS``
seconds); when at least ``min_reports`` came and at least
``max_failure_share`` of them were failed or missing, the pair trips: the
gateway is skipped for that country for ``cooloff`` seconds
(:data:`~django_sms_gateway.signals.delivery_health_tripped`, once per trip in
the cluster), then one send for that country is its trial and the first final
report after the trial began decides: delivered closes it (and starts a new
window), failed or missing trips it again. A tripped pair is not skipped when
no gateway after it in the walk could take the message (each later one is
tripped for that country or its circuit is open): a vendor that delivers half
its messages beats none.

Keys, per gateway alias and region (``sms_gateway:health:<alias>:<region>:``):
``trip`` (the time the cool-off ends; it lives ``cooloff + window`` seconds,
after which a pair that had no trial starts afresh), ``trial``, and the window's
counters ``n<bucket>`` (reports) and ``f<bucket>`` (failed or missing). Per
alias, ``sms_gateway:health:<alias>:flag`` says that some country of the
gateway may be tripped: the walk reads the flags in its one ``get_many``, and
reads the flagged gateways' ``trip`` keys for the message's country (one more
round trip) only when a flag is set.
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
from django.core.signals import setting_changed

from . import signals
from .backends.base import BaseBackend
from .conf import BreakerPolicy, DeliveryHealthPolicy, breaker_policy, settings
from .exceptions import GatewayError
from .limits.counters import add_to
from .signals import LogThrottle

logger = logging.getLogger("django_sms_gateway")

KEY_PREFIX = "sms_gateway:breaker:"
#: Seconds a run of failures is remembered (from its first failure on most caches).
FAILURE_TTL = 24 * 3600
#: Seconds past the gateway's timeout that a trial claim outlives its request.
TRIAL_MARGIN = 5.0

#: Skip reasons, as shown in :class:`~django_sms_gateway.exceptions.Attempt`.
OPEN = "circuit open"
TRIAL_ELSEWHERE = "circuit open (trial in progress)"
UNHEALTHY = "poor delivery to this country"
UNHEALTHY_TRIAL_ELSEWHERE = "poor delivery to this country (trial in progress)"

HEALTH_PREFIX = "sms_gateway:health:"
#: Buckets of one delivery-health window: the window slides by a tenth of its length.
HEALTH_BUCKETS = 10

_now = time.time  # wall clock: the state is compared across servers
_monotonic = time.monotonic
_cache_warnings = LogThrottle()

#: (breaker cache alias, the keys a walk reads) -> monotonic time until which
#: those keys are known to be absent: every circuit closed, no failure, no flag.
_closed_memo: dict[tuple[str, tuple[str, ...]], float] = {}
#: Bound on the memo's entries (distinct gateway sets a process walks).
MEMO_ENTRIES = 256
_memo_generation = [0]  # bumped by each forget: a read that began before one is not remembered


def forget_memo(**kwargs: Any) -> None:
    """Forget every remembered all-closed read (connected to ``setting_changed``)."""
    _memo_generation[0] += 1
    _closed_memo.clear()


setting_changed.connect(forget_memo, dispatch_uid="django_sms_gateway.breaker.memo")


def policy(backend: BaseBackend) -> BreakerPolicy:
    """``backend``'s policy: the one the gateway registry resolved when it
    built the backend, else (a backend built by hand) the global settings."""
    if backend.breaker_threshold is None or backend.breaker_cooloff is None:
        return breaker_policy(backend.alias, {}, settings.OTP_SMS_BREAKER_THRESHOLD, settings.OTP_SMS_BREAKER_COOLOFF)
    return BreakerPolicy(int(backend.breaker_threshold), float(backend.breaker_cooloff))


class StateKeys(NamedTuple):
    failures: str
    open: str
    trial: str


@lru_cache(maxsize=256)
def state_keys(alias: str) -> StateKeys:
    """The cache keys of ``alias``'s breaker (alias quoted: safe for memcached)."""
    base = f"{KEY_PREFIX}{quote(alias, safe='')}:"
    return StateKeys(base + "failures", base + "open", base + "trial")


def _cache_failed(alias: str, exc: BaseException) -> None:
    """Log (rate-limited per process) that the breaker cache is unusable."""
    if _cache_warnings.allow(alias) is None:
        return
    logger.warning(
        "SMS circuit breaker cache %r unavailable (%s); gateways are tried as if every breaker were closed",
        alias, type(exc).__name__,
    )


@dataclass(slots=True)
class _GatewayBreaker:
    """One gateway's breaker during one walk: its policy, what the cache
    held when the walk began, and whether this walk holds its trial."""

    policy: BreakerPolicy
    failures: int = 0
    open_until: float | None = None
    trial: bool = False

    def state(self, now: float) -> str:
        if self.open_until is not None and now < self.open_until:
            return "open"
        if self.open_until is not None or self.failures >= self.policy.threshold:
            return "half-open"
        return "closed"


@dataclass(frozen=True, slots=True)
class BreakerState:
    """One gateway's breaker as the cache holds it now (admin, sendtestsms)."""

    alias: str
    state: str  # "closed", "open", "half-open" or "off" (no threshold), "unknown" (cache error)
    failures: int = 0
    open_until: float | None = None  # epoch seconds


class HealthKeys(NamedTuple):
    trip: str
    trial: str
    base: str  # + "n<bucket>" / "f<bucket>": the window's counters


@lru_cache(maxsize=256)
def health_flag(alias: str) -> str:
    """The key saying that some country of ``alias`` may be tripped."""
    return f"{HEALTH_PREFIX}{quote(alias, safe='')}:flag"


@lru_cache(maxsize=1024)
def health_keys(alias: str, region: str) -> HealthKeys:
    """The cache keys of ``alias``'s delivery health for ``region``."""
    base = f"{HEALTH_PREFIX}{quote(alias, safe='')}:{quote(region, safe='')}:"
    return HealthKeys(base + "trip", base + "trial", base)


@dataclass(frozen=True, slots=True)
class HealthState:
    """One gateway's delivery health for one country as the cache holds it now (admin)."""

    alias: str
    region: str
    state: str  # "tripped" (cool-off), "half-open" (a trial may go or is under way), "unknown" (cache error)
    until: float | None = None  # epoch seconds: the end of the cool-off
    trial: bool = False  # a trial send is waiting for its receipt


class Circuit:
    """The breakers of one walk over the gateways.

    Built by :meth:`read` with one cache round trip; then
    :meth:`skip_reason` before each send, and :meth:`record` after it.
    """

    def __init__(self, cache: BaseCache | None, alias: str, breakers: dict[str, _GatewayBreaker],
                 *, bypass: bool = False, unguarded: int = 0, aliases: Sequence[str] = (),
                 flagged: frozenset[str] = frozenset()) -> None:
        self._cache = cache
        self._alias = alias
        self._breakers = breakers
        self._bypass = bypass
        self._aliases = tuple(aliases)  # the walk's gateways, in order
        self._flagged = flagged  # gateways with a delivery-health flag
        self._trips: dict[str, dict[str, float]] = {}  # region -> alias -> end of cool-off
        # A gateway without a breaker (``unguarded``) is always tried: then the walk is never all open.
        self._trial_now = None if unguarded else self._soonest_if_all_open()

    @classmethod
    def read(cls, backends: Iterable[BaseBackend], *, bypass: bool = False, remembered: bool = True) -> Circuit:
        """The breaker state of ``backends`` (the gateways this walk may use)
        in one ``get_many``, or none within ``OTP_SMS_BREAKER_MEMO`` seconds
        of a read that found them all closed (unless not ``remembered``).
        With ``bypass`` no gateway is skipped, but outcomes are still
        recorded (``manage.py sendtestsms`` testing a gateway on purpose)."""
        backends = list(backends)
        breakers = {}
        for backend in backends:
            gateway_policy = policy(backend)
            if gateway_policy.threshold > 0:
                breakers[backend.alias] = _GatewayBreaker(gateway_policy)
        alias = settings.breaker_cache
        aliases = tuple(dict.fromkeys(b.alias for b in backends))
        # The trial keys are not read: only the half-open state needs them, and there add() decides.
        keys = [key for name in breakers for key in state_keys(name)[:2]]
        if settings.OTP_SMS_DELIVERY_HEALTH is not None and len(aliases) > 1:
            keys.extend(health_flag(name) for name in aliases)
        if not keys:
            return cls(None, alias, {})
        memo_key = (alias, tuple(keys))
        memo = settings.OTP_SMS_BREAKER_MEMO
        if memo and remembered and _closed_memo.get(memo_key, 0.0) > _monotonic():
            try:
                cache = caches[alias]
            except Exception as exc:
                _cache_failed(alias, exc)
                return cls(None, alias, {})
            return cls(cache, alias, breakers, bypass=bypass, unguarded=len(aliases) - len(breakers),
                       aliases=aliases)
        generation = _memo_generation[0]
        try:
            cache = caches[alias]
            state = cache.get_many(keys)
        except Exception as exc:
            _cache_failed(alias, exc)
            return cls(None, alias, {})
        if memo and not state and generation == _memo_generation[0]:
            if len(_closed_memo) >= MEMO_ENTRIES:
                _closed_memo.clear()
            _closed_memo[memo_key] = _monotonic() + memo
        for name, breaker in breakers.items():
            keys_of = state_keys(name)
            breaker.failures = _as_int(state.get(keys_of.failures))
            until = state.get(keys_of.open)
            breaker.open_until = None if until is None else _as_float(until)
        flagged = frozenset(name for name in aliases if health_flag(name) in state)
        return cls(cache, alias, breakers, bypass=bypass, unguarded=len(aliases) - len(breakers), aliases=aliases,
                   flagged=flagged)

    def _soonest_if_all_open(self) -> str | None:
        """The alias whose cool-off ends soonest, when every gateway of this
        walk is open (it gets its trial now); else None."""
        if self._cache is None or self._bypass or not self._breakers:
            return None
        now = _now()
        if any(breaker.state(now) != "open" for breaker in self._breakers.values()):
            return None
        return min(self._breakers, key=lambda name: self._breakers[name].open_until or 0.0)

    def skip_reason(self, backend: BaseBackend, region: str | None = None) -> str | None:
        """Why ``backend`` is skipped now for a message to ``region``, or None
        when it may be tried. May claim a half-open trial for this request
        (one cache write); reads the delivery health of ``region`` (one cache
        read per walk) only when some gateway of the walk is flagged."""
        reason = self._breaker_skip(backend)
        if reason is not None or not region or backend.alias not in self._flagged:
            return reason
        breaker = self._breakers.get(backend.alias)
        if breaker is not None and breaker.trial:  # the circuit's trial probes the vendor already
            return None
        return self._health_skip(backend, region)

    def _breaker_skip(self, backend: BaseBackend) -> str | None:
        breaker = self._breakers.get(backend.alias)
        if breaker is None or self._cache is None or self._bypass:
            return None
        state = breaker.state(_now())
        if state == "closed":
            return None
        if state == "open" and backend.alias != self._trial_now:
            return OPEN
        try:
            claimed = self._cache.add(
                state_keys(backend.alias).trial, _now(), timeout=math.ceil(backend.timeout + TRIAL_MARGIN)
            )
        except Exception as exc:
            _cache_failed(self._alias, exc)
            return None
        if not claimed:
            return TRIAL_ELSEWHERE
        breaker.trial = True
        if state == "open":
            logger.info("SMS gateway %r: every circuit is open; its cool-off ends first, so it is tried now",
                        backend.alias)
        else:
            logger.info("SMS gateway %r: cool-off over, this request is the circuit trial", backend.alias)
        return None

    def _health_skip(self, backend: BaseBackend, region: str) -> str | None:
        """The delivery-health verdict on ``backend`` for ``region`` (a
        flagged gateway, its circuit not in the way)."""
        health = settings.OTP_SMS_DELIVERY_HEALTH
        if self._cache is None or self._bypass or health is None:
            return None
        trips = self._trips_of(region)
        until = trips.get(backend.alias)
        if until is None or not self._alternative_after(backend.alias, trips):
            return None
        if _now() < until:
            return UNHEALTHY
        try:
            claimed = self._cache.add(health_keys(backend.alias, region).trial, _now(),
                                      timeout=math.ceil(max(health.cooloff, backend.timeout + TRIAL_MARGIN)))
        except Exception as exc:
            _cache_failed(self._alias, exc)
            return None
        if not claimed:
            return UNHEALTHY_TRIAL_ELSEWHERE
        logger.info("SMS gateway %r: delivery health cool-off for %s over, this request is the trial",
                    backend.alias, region)
        return None

    def _trips_of(self, region: str) -> dict[str, float]:
        """alias -> end of cool-off of each flagged gateway tripped for ``region`` (read once per walk)."""
        trips = self._trips.get(region)
        if trips is not None:
            return trips
        keys = {health_keys(name, region).trip: name for name in self._flagged}
        try:
            state = self._cache.get_many(list(keys)) if self._cache is not None else {}
        except Exception as exc:
            _cache_failed(self._alias, exc)
            state = {}
        trips = self._trips[region] = {keys[key]: _as_float(until) for key, until in state.items() if key in keys}
        return trips

    def _alternative_after(self, alias: str, trips: dict[str, float]) -> bool:
        """Whether a gateway after ``alias`` in this walk could take the
        message: not tripped for its country, its circuit not open."""
        now = _now()
        for name in self._aliases[self._aliases.index(alias) + 1:]:
            breaker = self._breakers.get(name)
            if name in trips or (breaker is not None and breaker.state(now) == "open" and name != self._trial_now):
                continue
            return True
        return False

    def record(self, backend: BaseBackend, error: GatewayError | None = None, *, cut_short: bool = False) -> None:
        """Note the outcome of one try of ``backend``: ``error`` None for an
        accepted message. A failure counts when ``error.counts_against_vendor``,
        unless ``cut_short`` (the time budget, not the gateway's timeout,
        ended a wait). A failure that does not count is no verdict: it
        neither resets the count nor settles a trial."""
        if error is not None:
            forget_memo()
        breaker = self._breakers.get(backend.alias)
        cache = self._cache
        if breaker is None or cache is None:
            return
        keys = state_keys(backend.alias)
        alias = backend.alias
        try:
            if error is None:
                closed, opened_after = self._healthy(cache, breaker, keys), 0
            elif error.counts_against_vendor and not cut_short:
                closed, opened_after = False, self._failed(cache, breaker, keys)
            else:
                closed, opened_after = False, 0
                if breaker.trial:  # not a verdict: let the next request try
                    cache.delete(keys.trial)
                    breaker.trial = False
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
                "failure" if opened_after == 1 else "failures", f"{breaker.policy.cooloff:g}",
            )
            signals.breaker_opened.send(
                sender=Circuit, alias=alias, failures=opened_after, cooloff=breaker.policy.cooloff
            )

    def state_of(self, backend: BaseBackend) -> BreakerState:
        """``backend``'s breaker as read by this walk."""
        if policy(backend).threshold <= 0:
            return BreakerState(backend.alias, "off")
        breaker = self._breakers.get(backend.alias)
        if breaker is None or self._cache is None:
            return BreakerState(backend.alias, "unknown")
        return BreakerState(backend.alias, breaker.state(_now()), breaker.failures, breaker.open_until)

    def _healthy(self, cache: BaseCache, breaker: _GatewayBreaker, keys: StateKeys) -> bool:
        """Forget failures; True when this closed an open circuit."""
        if breaker.trial or (self._bypass and (breaker.failures or breaker.open_until is not None)):
            cache.delete_many([keys.failures, keys.open, keys.trial])
            return True
        if breaker.failures:
            cache.delete(keys.failures)
        return False

    def _failed(self, cache: BaseCache, breaker: _GatewayBreaker, keys: StateKeys) -> int:
        """Count a failure; the count when this opened the circuit, else 0."""
        try:
            failures = add_to(cache, keys.failures, 1, FAILURE_TTL)
        except ValueError:  # no count yet (or it just expired)
            added = cache.add(keys.failures, 1, timeout=FAILURE_TTL)
            failures = 1 if added else add_to(cache, keys.failures, 1, FAILURE_TTL)
        if failures < breaker.policy.threshold:
            return 0
        until = _now() + breaker.policy.cooloff
        # A cool-off key outlives its end by a second or more: caches round TTLs to whole seconds.
        ttl = math.ceil(breaker.policy.cooloff) + 1
        if breaker.trial:
            cache.set(keys.open, until, timeout=ttl)
            cache.delete(keys.trial)
        elif not cache.add(keys.open, until, timeout=ttl):
            return 0  # another request opened it, or a trial will decide
        return int(failures)


def states(backends: Sequence[BaseBackend]) -> dict[str, BreakerState]:
    """The breaker state of each of ``backends`` (one cache round trip, never the memo)."""
    circuit = Circuit.read(backends, remembered=False)
    return {backend.alias: circuit.state_of(backend) for backend in backends}


def health_states(pairs: Iterable[tuple[str, str]]) -> list[HealthState]:
    """The tripped pairs among ``pairs`` (gateway alias, region), in one
    cache round trip; on a cache error, every pair as "unknown"."""
    pairs = [(alias, region) for alias, region in dict.fromkeys(pairs) if alias and region]
    if not pairs or settings.OTP_SMS_DELIVERY_HEALTH is None:
        return []
    keys = [key for alias, region in pairs for key in health_keys(alias, region)[:2]]
    try:
        state = caches[settings.breaker_cache].get_many(keys)
    except Exception as exc:
        _cache_failed(settings.breaker_cache, exc)
        return [HealthState(alias, region, "unknown") for alias, region in pairs]
    now = _now()
    found = []
    for alias, region in pairs:
        keys_of = health_keys(alias, region)
        if keys_of.trip not in state:
            continue
        until = _as_float(state[keys_of.trip])
        found.append(HealthState(alias, region, "tripped" if now < until else "half-open", until,
                                 keys_of.trial in state))
    return found


def _delivery_reported(sender: Any, alias: str = "", region: str = "", delivered: bool = False,
                       **kwargs: Any) -> None:
    """Count one final delivery report in its gateway and country's window
    (the receiver of :data:`~django_sms_gateway.signals.delivery_reported`)."""
    health = settings.OTP_SMS_DELIVERY_HEALTH
    if health is None or not alias or not region:
        return
    cache_alias = settings.breaker_cache
    try:
        verdict = _count_report(caches[cache_alias], health, alias, region, bool(delivered))
    except Exception as exc:
        _cache_failed(cache_alias, exc)
        return
    if verdict is None:
        return
    failures, reports = verdict
    if reports == 0:
        logger.info("SMS gateway %r delivery health for %s restored: its trial was delivered", alias, region)
        return
    logger.warning(
        "SMS gateway %r skipped for %s for %s s: %d of the last %d delivery reports failed or missing",
        alias, region, f"{health.cooloff:g}", failures, reports,
    )
    signals.delivery_health_tripped.send(
        sender=Circuit, alias=alias, region=region, failures=failures, reports=reports, cooloff=health.cooloff
    )


def _count_report(cache: BaseCache, health: DeliveryHealthPolicy, alias: str, region: str,
                  delivered: bool) -> tuple[int, int] | None:
    """Apply one report; ``(failures, reports)`` when this report tripped the
    pair (this process alone, in the cluster), ``(0, 0)`` when its trial
    closed it, else None."""
    keys = health_keys(alias, region)
    now = _now()
    state = cache.get_many([keys.trip, keys.trial])
    if keys.trip in state:
        # Tripped: only the first report after the trial began counts, and decides.
        if keys.trial not in state or now < _as_float(state[keys.trip]) or not cache.delete(keys.trial):
            return None
        if delivered:
            cache.delete(keys.trip)
            return 0, 0
        _trip(cache, health, alias, keys, now)
        return 1, 1
    width = health.window / HEALTH_BUCKETS
    bucket = int(now // width)
    ttl = math.ceil(health.window + width) + 1
    _count(cache, f"{keys.base}n{bucket}", ttl)
    if not delivered:
        _count(cache, f"{keys.base}f{bucket}", ttl)
    counters = [f"{keys.base}{kind}{b}" for b in range(bucket - HEALTH_BUCKETS + 1, bucket + 1) for kind in "nf"]
    counts = cache.get_many(counters)
    reports = sum(_as_int(value) for key, value in counts.items() if key[len(keys.base)] == "n")
    failures = sum(_as_int(value) for key, value in counts.items() if key[len(keys.base)] == "f")
    if reports < health.min_reports or failures < math.ceil(health.max_failure_share * reports - 1e-9):
        return None
    if not _trip(cache, health, alias, keys, now, first=True):
        return None  # another process tripped it
    cache.delete_many(counters)
    return failures, reports


def _trip(cache: BaseCache, health: DeliveryHealthPolicy, alias: str, keys: HealthKeys, now: float,
          *, first: bool = False) -> bool:
    """Start a cool-off; with ``first``, only when no process started one (``add``)."""
    until = now + health.cooloff
    ttl = math.ceil(health.cooloff + health.window) + 1
    forget_memo()
    if first:
        if not cache.add(keys.trip, until, timeout=ttl):
            return False
    else:
        cache.set(keys.trip, until, timeout=ttl)
    cache.set(health_flag(alias), now, timeout=ttl)
    return True


def _count(cache: BaseCache, key: str, ttl: int) -> int:
    try:
        return add_to(cache, key, 1, ttl)
    except ValueError:  # no count yet (or it just expired)
        return 1 if cache.add(key, 1, timeout=ttl) else add_to(cache, key, 1, ttl)


signals.delivery_reported.connect(_delivery_reported, dispatch_uid="django_sms_gateway.breaker.delivery_health")


def reset_health(pairs: Iterable[tuple[str, str]]) -> None:
    """Forget the delivery health of ``pairs`` (gateway alias, region): trip,
    trial and the current window's counts, and the flags of those gateways."""
    health = settings.OTP_SMS_DELIVERY_HEALTH or DeliveryHealthPolicy(900.0, 1, 1.0, 1.0)
    bucket = int(_now() // (health.window / HEALTH_BUCKETS))
    keys: list[str] = []
    for alias, region in dict.fromkeys(pairs):
        trip, trial, base = health_keys(alias, region)
        keys += [health_flag(alias), trip, trial]
        keys += [f"{base}{kind}{b}" for b in range(bucket - 2 * HEALTH_BUCKETS, bucket + 2) for kind in "nf"]
    if keys:
        caches[settings.breaker_cache].delete_many(keys)


def reset(aliases: Iterable[str]) -> None:
    """Close the breakers of ``aliases`` (forget failures, cool-off, trial)."""
    keys = [key for alias in aliases for key in state_keys(alias)]
    if keys:
        caches[settings.breaker_cache].delete_many(keys)


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
