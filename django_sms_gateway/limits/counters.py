"""Every cache operation of the sending limits: sliding-window counters.

A counter allows ``count`` sends in any ``seconds``. Its window is cut into
:data:`BUCKETS` buckets of ``seconds / BUCKETS`` each, one cache key per
bucket; a send adds one to the current bucket, and the count is the sum of
the last :data:`BUCKETS` buckets. So there is no window boundary to burst
across (a fixed window lets twice its budget through within seconds around
its end), and a send leaves the count between ``seconds - seconds/BUCKETS``
and ``seconds`` after it was made.

On Django's Redis cache every counter of one send is raised, and the other
buckets read, in one pipelined round trip (``INCR``, ``EXPIRE``, ``MGET`` per
counter); each key goes through the cache's ``make_key`` (its prefix,
version and ``KEY_FUNCTION``), and one key per counter through its
``validate_key``. Other caches use ``incr`` (``add`` for a new bucket) and one
``get_many``. Django's ``BaseCache.incr``, which the database and file
caches use, is a get and a set that gives the key the cache's default
``TIMEOUT``; :func:`add_to` keeps each bucket's own expiry instead.

When the shared cache fails, :func:`raise_counters` can count in this
process instead (:func:`local_cache`) and keeps doing so for
:data:`FALLBACK_SECONDS` before it tries the shared cache again, so a hung
cache costs one socket timeout per process every few seconds, not one per login.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from django.core.cache import BaseCache, caches
from django.core.cache.backends.locmem import LocMemCache

from ..conf import Limit

__all__ = [
    "BUCKETS",
    "FALLBACK_SECONDS",
    "Bucket",
    "Counter",
    "SharedCacheDown",
    "Tally",
    "add_counts",
    "add_to",
    "clear",
    "local_cache",
    "lower",
    "raise_counters",
    "read",
]

#: Buckets per window: a send leaves its count at most ``seconds / BUCKETS`` early.
BUCKETS = 12
#: Seconds the limits count in this process after the shared cache failed.
FALLBACK_SECONDS = 10.0
#: Seconds a bucket outlives its last use, so a send at its end still finds it.
TTL_MARGIN = 5


@dataclass(frozen=True, slots=True)
class Counter:
    """One subject's counter: ``key`` (no number or address in it) and the ``limit`` it counts against."""

    key: str
    limit: Limit
    #: Buckets its window is cut into.
    buckets: int = BUCKETS


@dataclass(frozen=True, slots=True)
class Bucket:
    """The bucket a send was counted in, to give it back: its cache key and when it expires."""

    key: str
    expires: float

    def ttl(self, now: float) -> int:
        return math.ceil(self.expires - now)


@dataclass(frozen=True, slots=True)
class Tally:
    """What :func:`raise_counters` did: the cache counted in (the shared one, or
    this process's), the bucket raised per counter, and each counter's
    buckets (oldest first; the last, current one includes this send)."""

    cache: BaseCache
    shared: bool
    raised: tuple[Bucket, ...]
    buckets: tuple[tuple[int, ...], ...]
    #: Why the shared cache was not used (the exception class), when it was not.
    error: str | None = None
    #: The whole-number values of the keys ``raise_counters`` was asked to peek at (0 when absent).
    peeked: tuple[int, ...] = ()


class SharedCacheDown(Exception):
    """The shared limits cache failed (or failed less than ``FALLBACK_SECONDS`` ago)."""

    def __init__(self, alias: str, error: str) -> None:
        super().__init__(f"limits cache {alias!r} is unreachable ({error})")
        self.alias = alias
        self.error = error


def bucket_seconds(counter: Counter) -> float:
    return counter.limit.seconds / counter.buckets


def retry_after(counter: Counter, buckets: Sequence[int], now: float) -> int:
    """Whole seconds until a refused send would fit in ``counter``, whose
    ``buckets`` (oldest first) count that send in the last one, if nothing
    else is sent meanwhile: buckets leave the window oldest first."""
    width = bucket_seconds(counter)
    current = math.floor(now / width)
    over = sum(buckets) - counter.limit.count
    leaving = 0  # how many of the oldest buckets must leave the window
    while over > 0:
        over -= buckets[leaving]
        leaving += 1
    # the oldest bucket left is ``current - buckets + 1``; the n-th leaves when bucket ``current + n`` begins
    return max(1, math.ceil((current + leaving) * width - now))


_local: LocMemCache | None = None
_down_until: dict[str, float] = {}
_down_lock = threading.Lock()


def local_cache() -> BaseCache:
    """This process's own counters, used while the shared cache is down."""
    global _local
    if _local is None:
        _local = LocMemCache("django_sms_gateway.limits.local", {"OPTIONS": {"MAX_ENTRIES": 100_000}})
    return _local


def raise_counters(
    alias: str, counters: Sequence[Counter], now: float, *, fallback: bool, peek: Sequence[str] = ()
) -> Tally:
    """Add one to each counter in the cache ``alias`` and read their buckets,
    and the whole numbers kept under the keys ``peek``, in the same round trip.

    When that cache fails (or failed in the last ``FALLBACK_SECONDS``), the
    counters are raised in :func:`local_cache` if ``fallback`` is true, and
    :class:`SharedCacheDown` is raised if not. Counts the failed call may
    have raised in the shared cache (a connection lost after Redis ran the
    pipeline) are left to expire with their bucket.
    """
    error = "failed in the last few seconds"
    if not shared_cache_failed_recently(alias):
        try:
            return _raise_in(caches[alias], counters, now, shared=True, peek=peek)
        except Exception as exc:  # any cache backend's error: redis-py, pymemcache, a database
            with _down_lock:
                _down_until[alias] = time.monotonic() + FALLBACK_SECONDS
            error = type(exc).__name__
    if not fallback:
        raise SharedCacheDown(alias, error)
    return replace(_raise_in(local_cache(), counters, now, shared=False, peek=peek), error=error)


def add_counts(alias: str, counters: Sequence[Counter], now: float, delta: int) -> bool:
    """Add ``delta`` to the current bucket of each counter in the cache
    ``alias`` (in one round trip on Redis), reading nothing. While that cache
    fails (or failed in the last ``FALLBACK_SECONDS``) the counts go to
    :func:`local_cache`. Returns whether the shared cache took them; never raises
    for a cache error."""
    plan = [_bucket_keys(counter, now)[1] for counter in counters]
    if not shared_cache_failed_recently(alias):
        try:
            _add_in(caches[alias], plan, now, delta)
            return True
        except Exception:  # any cache backend's error: redis-py, pymemcache, a database
            with _down_lock:
                _down_until[alias] = time.monotonic() + FALLBACK_SECONDS
    _add_in(local_cache(), plan, now, delta)
    return False


def _add_in(cache: BaseCache, plan: Sequence[Bucket], now: float, delta: int) -> None:
    client = _redis_client(cache)
    if client is not None:
        pipe = client.pipeline(transaction=False)
        for bucket in plan:
            key = cache.make_key(bucket.key)  # a bucket's key, checked when a send raised it
            pipe.incrby(key, delta)
            pipe.expire(key, bucket.ttl(now))
        pipe.execute()
        return
    for bucket in plan:
        for _try in range(3):
            try:
                add_to(cache, bucket.key, delta, bucket.ttl(now))
                break
            except ValueError:  # no such bucket yet
                if cache.add(bucket.key, delta, bucket.ttl(now)):
                    break


def shared_cache_failed_recently(alias: str) -> bool:
    with _down_lock:
        return _down_until.get(alias, 0.0) > time.monotonic()


def forget_failures() -> None:
    """Try the shared caches again at the next send, and drop this process's
    own counts (when ``CACHES`` change, and in tests)."""
    with _down_lock:
        _down_until.clear()
    if _local is not None:
        _local.clear()


def _bucket_keys(counter: Counter, now: float, *, ahead: int = 0) -> tuple[list[str], Bucket]:
    """The keys of the window's buckets (oldest first, then ``ahead`` buckets
    not yet begun) and the current bucket."""
    width = bucket_seconds(counter)
    current = math.floor(now / width)
    count = counter.buckets
    indexes = range(current - count + 1, current + 1 + ahead)
    base = f"{counter.key}:{counter.limit.seconds}:"
    keys = [f"{base}{index}" for index in indexes]
    # The current bucket is counted until the one ``count`` later begins.
    return keys, Bucket(keys[count - 1], (current + count) * width + TTL_MARGIN)


def read(alias: str, counters: Sequence[Counter], now: float, peek: Sequence[str] = ()) -> Tally:
    """Read each counter's buckets (oldest first) and the whole numbers under
    ``peek`` from the cache ``alias`` without raising anything (for the admin).
    Raises :class:`SharedCacheDown` when the cache fails."""
    plan = [_bucket_keys(counter, now)[0] for counter in counters]
    cache = caches[alias]
    try:
        found = cache.get_many([key for keys in plan for key in keys] + list(peek))
    except Exception as exc:  # any cache backend's error: redis-py, pymemcache, a database
        raise SharedCacheDown(alias, type(exc).__name__) from exc
    buckets = tuple(tuple(_whole(found.get(key)) for key in keys) for keys in plan)
    return Tally(cache, True, (), buckets, peeked=tuple(_whole(found.get(key)) for key in peek))


def clear(alias: str, counters: Sequence[Counter], now: float) -> tuple[int, ...]:
    """Delete every bucket of each counter's window from the cache ``alias``
    and from this process's own counters (:func:`local_cache`), and return the
    sends each counter held in them. The bucket after the current one goes
    too: a server whose clock runs a little ahead may have begun it. Raises
    :class:`SharedCacheDown` when the shared cache fails."""
    plan = [_bucket_keys(counter, now, ahead=1)[0] for counter in counters]
    keys = [key for window in plan for key in window]
    held = [0] * len(plan)
    for cache in (caches[alias], local_cache()):
        try:
            found = cache.get_many(keys)
            cache.delete_many(keys)
        except Exception as exc:  # any cache backend's error: redis-py, pymemcache, a database
            raise SharedCacheDown(alias, type(exc).__name__) from exc
        for index, window in enumerate(plan):
            held[index] += sum(max(0, int(found.get(key) or 0)) for key in window)
    return tuple(held)


def _raise_in(
    cache: BaseCache, counters: Sequence[Counter], now: float, *, shared: bool, peek: Sequence[str] = ()
) -> Tally:
    plan = [_bucket_keys(counter, now) for counter in counters]
    client = _redis_client(cache)
    if client is not None:
        buckets, peeked = _redis_raise(client, cache, plan, now, peek)
    else:
        buckets, peeked = _plain_raise(cache, plan, now, peek)
    return Tally(cache, shared, tuple(bucket for _keys, bucket in plan), buckets, peeked=peeked)


def _redis_client(cache: BaseCache) -> Any:
    """The write client of Django's Redis cache, or None for other caches."""
    try:
        from django.core.cache.backends.redis import RedisCache
    except ImportError:  # pragma: no cover  (Django without redis support)
        return None
    if not isinstance(cache, RedisCache):
        return None
    return cache._cache.get_client(write=True)


def _redis_raise(
    client: Any, cache: BaseCache, plan: Sequence[tuple[list[str], Bucket]], now: float, peek: Sequence[str]
) -> tuple[tuple[tuple[int, ...], ...], tuple[int, ...]]:
    pipe = client.pipeline(transaction=False)
    make_key = cache.make_key
    for keys, bucket in plan:
        made = [make_key(key) for key in keys]
        current = made[-1]
        # One key per counter is checked (the cache's warnings about odd keys): its others differ only in a number.
        cache.validate_key(current)
        pipe.incrby(current, 1)
        pipe.expire(current, bucket.ttl(now))
        pipe.mget(made[:-1])
    if peek:
        pipe.mget([cache.make_and_validate_key(key) for key in peek])
    results = pipe.execute()
    buckets = []
    for index in range(len(plan)):
        count, _expiry, older = results[3 * index : 3 * index + 3]
        buckets.append((*(int(value or 0) for value in older), int(count)))
    peeked = tuple(_whole(value) for value in results[-1]) if peek else ()
    return tuple(buckets), peeked


def _whole(value: Any) -> int:
    """A whole number kept in the cache (Django's Redis cache keeps integers as their digits), else 0."""
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _plain_raise(
    cache: BaseCache, plan: Sequence[tuple[list[str], Bucket]], now: float, peek: Sequence[str]
) -> tuple[tuple[tuple[int, ...], ...], tuple[int, ...]]:
    raised: list[Bucket] = []
    try:
        currents = []
        for _keys, bucket in plan:
            currents.append(_add_one(cache, bucket, now))
            raised.append(bucket)
        older = cache.get_many([key for keys, _bucket in plan for key in keys[:-1]] + list(peek))
    except Exception:
        lower(cache, raised, now)  # nothing stays counted for a send that is refused
        raise
    buckets = tuple(
        (*(int(older.get(key) or 0) for key in keys[:-1]), current)
        for (keys, _bucket), current in zip(plan, currents, strict=True)
    )
    return buckets, tuple(_whole(older.get(key)) for key in peek)


def _add_one(cache: BaseCache, bucket: Bucket, now: float) -> int:
    for _try in range(3):
        try:
            return add_to(cache, bucket.key, 1, bucket.ttl(now))
        except ValueError:  # no such bucket yet
            if cache.add(bucket.key, 1, bucket.ttl(now)):
                return 1
    raise RuntimeError(f"counter {bucket.key!r} vanished while it was being raised")


def lower(cache: BaseCache, raised: Sequence[Bucket], now: float | None = None) -> None:
    """Take one off each bucket in ``raised`` (a send that is given back).
    Buckets that have expired meanwhile are left alone. May raise the cache's error."""
    now = time.time() if now is None else now
    live = [bucket for bucket in raised if bucket.ttl(now) > 0]
    if not live:
        return
    client = _redis_client(cache)
    if client is not None:
        pipe = client.pipeline(transaction=False)
        for bucket in live:
            key = cache.make_key(bucket.key)  # checked when it was raised
            pipe.decrby(key, 1)
            # A bucket that expired between the check and DECR must not stay forever at -1.
            pipe.expire(key, bucket.ttl(now))
        pipe.execute()
        return
    for bucket in live:
        try:
            add_to(cache, bucket.key, -1, bucket.ttl(now))
        except ValueError:
            pass


def add_to(cache: BaseCache, key: str, delta: int, ttl: int) -> int:
    """Add ``delta`` to the counter ``key`` and return its new value; raise
    ``ValueError`` when there is no such counter. ``ttl`` (seconds) is the
    counter's remaining lifetime, re-applied where the cache's own
    ``incr`` would lose it."""
    if type(cache).incr is not BaseCache.incr:
        return int(cache.incr(key, delta) if delta >= 0 else cache.decr(key, -delta))
    value = cache.get(key)
    if value is None:
        raise ValueError(f"no counter {key!r}")
    value += delta
    cache.set(key, value, ttl)
    return int(value)
