"""Counters in Django's cache that keep the expiry they were given.

Django's Redis, Memcached and local-memory caches change a number in place
and keep its expiry. ``BaseCache.incr``, which the database and file caches
use, is a get and a set, and that set gives the key the cache's default
``TIMEOUT`` instead: a counter meant to last an hour would vanish after
five minutes (or never, with ``TIMEOUT = None``). :func:`add_to` keeps the
expiry on every cache with the same number of round trips.
"""

from __future__ import annotations

from django.core.cache import BaseCache

__all__ = ["add_to"]


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
