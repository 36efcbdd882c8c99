"""Sending limits: the defence against SMS pumping (toll fraud) and floods.

Every code sent costs money, and a premium or fraudulent number range can
turn a login page into a money pump. Before anything is written or sent,
:func:`check_send` applies, in this order:

1. the allowlists (no cache cost): ``OTP_SMS_ALLOWED_COUNTRIES`` (ISO
   regions, empty = all) and ``OTP_SMS_ALLOWED_NUMBER_TYPES`` (phonenumbers
   types by name);
2. the counters of ``OTP_SMS_LIMITS`` in the cache ``OTP_SMS_LIMITS_CACHE``,
   shared by every process and server: ``number`` (one recipient),
   ``prefix`` (the number without its last ``OTP_SMS_LIMIT_PREFIX_DIGITS``
   digits: a range of neighbouring numbers), ``user``, ``ip`` (the client
   address; an IPv6 /64) and ``global`` (everything the site sends).

Each counter counts sends attempted in a fixed window (``(sends, seconds)``);
a send that then fails at every vendor still counts, as pumping costs money
whether or not the vendor delivers. A refused send counts against nothing:
the counters it raised are lowered again, so refused attempts cannot use up
the global budget or a neighbour's prefix. A counter whose subject is unknown
(no client IP without a request, no user) is not applied.

Cache keys never hold a raw number or address: they are an HMAC (keyed with
``SECRET_KEY``) of the subject, truncated. With Django's Redis cache every
counter of one send is raised in one pipelined round trip (INCR + EXPIRE
each); other caches use ``incr``, falling back to ``add`` for a new window
(the database and file caches: a get and a set that keeps the window's expiry).

When the cache cannot be reached the send is refused (fail closed), with an
ERROR log line naming the cache alias and the exception class.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import phonenumbers
from django.conf import settings as django_settings
from django.core.cache import BaseCache, caches
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver
from phonenumbers import NumberParseException, PhoneNumberType

from . import signals
from .client_ip import client_address, ip_settings, limit_key
from .conf import settings
from .counters import add_to
from .exceptions import DeliveryFailed, NoGatewayForNumber, RecipientNotReachable, SendLimitExceeded
from .middleware import current_request
from .phone import mask_number

logger = logging.getLogger("django_sms_gateway")

#: The counters, most specific first: when several are hit, the first names the refusal.
LIMIT_NAMES = ("number", "prefix", "user", "ip", "global")
#: Types a number may have to pass :func:`~django_sms_gateway.phone.normalize_number`;
#: an allowlist can only narrow them.
RECEIVING_TYPES = ("MOBILE", "FIXED_LINE_OR_MOBILE")
#: ``limit`` of the refusal when the limits cache cannot be reached.
UNAVAILABLE = "unavailable"
KEY_PREFIX = "sms_gateway:limit"
#: Seconds a counter outlives its window, so a send at the window's end still finds it.
_TTL_MARGIN = 5
_SETTINGS = frozenset(
    {
        "OTP_SMS_LIMITS",
        "OTP_SMS_LIMIT_PREFIX_DIGITS",
        "OTP_SMS_ALLOWED_COUNTRIES",
        "OTP_SMS_ALLOWED_NUMBER_TYPES",
        "OTP_SMS_LIMITS_CACHE",
        "OTP_SMS_CLIENT_IP_HEADER",
        "OTP_SMS_TRUSTED_PROXIES",
        "SECRET_KEY",
    }
)


@dataclass(frozen=True, slots=True)
class Limit:
    """One counter: at most ``count`` sends per fixed window of ``seconds``."""

    name: str
    count: int
    seconds: int


@dataclass(frozen=True, slots=True)
class LimitsConfig:
    limits: tuple[Limit, ...]
    prefix_digits: int
    countries: frozenset[str]
    number_types: frozenset[int]
    cache_alias: str
    ip_header: str | None
    ip_proxies: int
    hmac: Any  # keyed HMAC-SHA256, copied for each subject


_config: LimitsConfig | None = None


@receiver(setting_changed)
def _forget_config(*, setting: str, **kwargs: Any) -> None:
    global _config
    if setting in _SETTINGS:
        _config = None


def limit_settings() -> tuple[tuple[Limit, ...], int]:
    """The enabled counters (in :data:`LIMIT_NAMES` order) and the prefix digits.

    ``OTP_SMS_LIMITS`` may name only some limits (merged over the defaults);
    ``None`` as a value turns that limit off, and ``OTP_SMS_LIMITS = None``
    turns every counter off. Raises ``ImproperlyConfigured`` naming the key
    that is wrong (the ``sms_gateway.E012`` check reports the same).
    """
    from .conf import DEFAULTS

    configured = settings.OTP_SMS_LIMITS
    merged: dict[str, Any]
    if configured is None:
        merged = dict.fromkeys(LIMIT_NAMES)
    elif isinstance(configured, Mapping):
        unknown = [key for key in configured if key not in LIMIT_NAMES]
        if unknown:
            raise ImproperlyConfigured(
                f"OTP_SMS_LIMITS has an unknown limit {unknown[0]!r}; the limits are {', '.join(LIMIT_NAMES)}."
            )
        merged = {**DEFAULTS["OTP_SMS_LIMITS"], **configured}
    else:
        raise ImproperlyConfigured(
            f"OTP_SMS_LIMITS must be a dict of limit name -> (sends, seconds) or None, not {configured!r}."
        )
    limits = []
    for name in LIMIT_NAMES:
        value = merged.get(name)
        if value is None:
            continue
        if (
            isinstance(value, Sequence)
            and not isinstance(value, str)
            and len(value) == 2
            and all(isinstance(part, int) and not isinstance(part, bool) and part >= 1 for part in value)
        ):
            limits.append(Limit(name, value[0], value[1]))
        else:
            raise ImproperlyConfigured(
                f"OTP_SMS_LIMITS[{name!r}] is {value!r}; write (sends, seconds) with whole numbers of at "
                f"least 1, such as (5, 3600), or None to turn the {name!r} limit off."
            )
    digits = settings.OTP_SMS_LIMIT_PREFIX_DIGITS
    if isinstance(digits, bool) or not isinstance(digits, int) or not 1 <= digits <= 6:
        raise ImproperlyConfigured(
            f"OTP_SMS_LIMIT_PREFIX_DIGITS must be a whole number from 1 to 6 (digits dropped from the end "
            f"of a number for the 'prefix' limit), not {digits!r}."
        )
    return tuple(limits), digits


def allowlist_settings() -> tuple[frozenset[str], frozenset[int]]:
    """``OTP_SMS_ALLOWED_COUNTRIES`` and ``OTP_SMS_ALLOWED_NUMBER_TYPES``, validated.

    Raises ``ImproperlyConfigured`` naming the entry that is wrong (the
    ``sms_gateway.E013`` check reports the same).
    """
    countries = settings.OTP_SMS_ALLOWED_COUNTRIES or ()
    if isinstance(countries, str) or not isinstance(countries, Iterable) or not all(
        isinstance(c, str) for c in countries
    ):
        raise ImproperlyConfigured(
            f"OTP_SMS_ALLOWED_COUNTRIES must be a list of ISO 3166 region codes such as ['NO', 'SE'], "
            f"not {countries!r}."
        )
    for country in countries:
        if country.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise ImproperlyConfigured(
                f"OTP_SMS_ALLOWED_COUNTRIES has {country!r}, which is not an ISO 3166 region code "
                "(two letters, such as 'NO')."
            )
    names = settings.OTP_SMS_ALLOWED_NUMBER_TYPES
    if isinstance(names, str) or not isinstance(names, Iterable) or not names or not all(
        isinstance(n, str) for n in names
    ):
        raise ImproperlyConfigured(
            f"OTP_SMS_ALLOWED_NUMBER_TYPES must be a non-empty list of phonenumbers type names, "
            f"such as {list(RECEIVING_TYPES)}, not {names!r}."
        )
    types = set()
    for name in names:
        if name.upper() not in RECEIVING_TYPES:
            known = hasattr(PhoneNumberType, name.upper())
            raise ImproperlyConfigured(
                f"OTP_SMS_ALLOWED_NUMBER_TYPES has {name!r}, "
                + ("a kind of number that cannot receive codes" if known else "which is not a phonenumbers type")
                + f"; choose from {', '.join(RECEIVING_TYPES)}."
            )
        types.add(getattr(PhoneNumberType, name.upper()))
    return frozenset(c.upper() for c in countries), frozenset(types)


def config() -> LimitsConfig:
    """Every limit setting, validated once (again after ``override_settings``)."""
    global _config
    if _config is None:
        limits, digits = limit_settings()
        countries, types = allowlist_settings()
        header, proxies = ip_settings()
        secret = str(django_settings.SECRET_KEY).encode()
        key = hashlib.sha256(b"django_sms_gateway.limits\0" + secret).digest()
        _config = LimitsConfig(
            limits, digits, countries, types, str(settings.OTP_SMS_LIMITS_CACHE), header, proxies,
            hmac.new(key, digestmod=hashlib.sha256),
        )
    return _config


@lru_cache(maxsize=4096)
def _number_info(e164: str) -> tuple[str | None, int | None]:
    try:
        parsed = phonenumbers.parse(e164, None)
    except NumberParseException:
        return None, None
    return phonenumbers.region_code_for_number(parsed), phonenumbers.number_type(parsed)


class Charge:
    """The counters one allowed send raised; :meth:`refund` lowers them again
    (for a send that then did not happen, such as a lost cooldown race)."""

    def __init__(self, cache: BaseCache | None = None, entries: tuple[tuple[str, int], ...] = ()) -> None:
        self._cache = cache
        self._entries = entries

    def refund(self) -> None:
        if self._cache is not None and self._entries:
            entries, self._entries = self._entries, ()
            _lower(self._cache, entries)


def _digest(cfg: LimitsConfig, name: str, subject: str) -> str:
    mac = cfg.hmac.copy()
    mac.update(f"{name}\0{subject}".encode())
    return str(mac.hexdigest()[:24])


def _redis_client(cache: BaseCache) -> Any:
    """The write client of Django's Redis cache, or None for other caches."""
    try:
        from django.core.cache.backends.redis import RedisCache
    except ImportError:  # pragma: no cover
        return None
    if not isinstance(cache, RedisCache):
        return None
    return cache._cache.get_client(write=True)


def _raise(cache: BaseCache, entries: Sequence[tuple[str, int]]) -> list[int]:
    """Add one to every counter ``(key, ttl)``; return the new counts."""
    client = _redis_client(cache)
    if client is not None:
        return _redis_add(client, cache, entries, 1)
    counts: list[int] = []
    try:
        for key, ttl in entries:
            for _try in range(3):
                try:
                    counts.append(add_to(cache, key, 1, ttl))
                    break
                except ValueError:  # no counter yet in this window
                    if cache.add(key, 1, ttl):
                        counts.append(1)
                        break
            else:
                raise RuntimeError(f"counter {key!r} vanished while it was being raised")
    except Exception:
        _lower(cache, entries[: len(counts)])  # the send is refused: it counts against nothing
        raise
    return counts


def _redis_add(client: Any, cache: BaseCache, entries: Sequence[tuple[str, int]], delta: int) -> list[int]:
    """Add ``delta`` to every counter in one pipelined round trip; each gets
    its window's end (+ margin) again, so that a counter lowered after it
    expired does not stay forever."""
    pipe = client.pipeline(transaction=False)
    for key, ttl in entries:
        full = cache.make_and_validate_key(key)
        pipe.incrby(full, delta)
        pipe.expire(full, ttl)
    return [int(value) for value in pipe.execute()[0::2]]


def _lower(cache: BaseCache, entries: Sequence[tuple[str, int]]) -> None:
    try:
        client = _redis_client(cache)
        if client is not None:
            _redis_add(client, cache, entries, -1)
            return
        for key, ttl in entries:
            try:
                add_to(cache, key, -1, ttl)
            except ValueError:
                pass
    except Exception as exc:
        logger.warning(
            "SMS sending limits cache %r: could not lower the counters of a refused send (%s)",
            settings.OTP_SMS_LIMITS_CACHE, type(exc).__name__,
        )


def _refuse(
    sender: Any, limit: str, masked: str, key: str | None, retry_after: int | None, message: Any
) -> SendLimitExceeded:
    """Send ``limit_hit`` and build the exception (``message`` None: the generic limit text)."""
    signals.limit_hit.send(sender=sender, limit=limit, number=masked, key=key, retry_after=retry_after)
    return SendLimitExceeded(limit=limit, message=None if message is None else str(message), retry_after=retry_after)


def check_send(number: str, *, user_id: Any = None, request: Any = None, sender: Any = None) -> Charge:
    """Apply every sending limit to one send to ``number`` (E.164) and count it.

    ``request`` gives the client IP; without one, the request kept by
    :class:`~django_sms_gateway.middleware.SMSRequestMiddleware` is used.
    ``user_id`` feeds the ``user`` limit. Returns the :class:`Charge` of the
    counters raised. Raises
    :class:`~django_sms_gateway.exceptions.SendLimitExceeded` (user-safe
    text) after sending ``signals.limit_hit`` and logging the masked number.
    """
    cfg = config()
    sender = sender if sender is not None else check_send
    if cfg.countries or cfg.number_types:
        region, kind = _number_info(number)
        if cfg.countries and region not in cfg.countries:
            masked = mask_number(number)
            logger.warning("SMS to %s refused: its country %s is not in OTP_SMS_ALLOWED_COUNTRIES", masked, region)
            raise _refuse(sender, "country", masked, None, None, NoGatewayForNumber.default_message)
        if kind not in cfg.number_types:
            masked = mask_number(number)
            logger.warning("SMS to %s refused: its number type is not in OTP_SMS_ALLOWED_NUMBER_TYPES", masked)
            raise _refuse(sender, "number_type", masked, None, None, RecipientNotReachable.default_message)
    if not cfg.limits:
        return Charge()

    now = time.time()
    subjects: dict[str, str | None] = {
        "number": number,
        "prefix": number[: -cfg.prefix_digits],
        "user": None if user_id is None else str(user_id),
        "ip": None,
        "global": "",
    }
    if any(limit.name == "ip" for limit in cfg.limits):
        if request is None:
            request = current_request()
        address = client_address(request, cfg.ip_header, cfg.ip_proxies) if request is not None else None
        subjects["ip"] = limit_key(address) if address is not None else None
    counted: list[tuple[Limit, str, int]] = []  # limit, opaque key, seconds left in its window
    entries: list[tuple[str, int]] = []  # cache key, ttl
    for limit in cfg.limits:
        subject = subjects[limit.name]
        if subject is None:
            continue
        window = int(now // limit.seconds)
        left = (window + 1) * limit.seconds - now
        opaque = limit.name if limit.name == "global" else f"{limit.name}:{_digest(cfg, limit.name, subject)}"
        counted.append((limit, opaque, max(1, math.ceil(left))))
        entries.append((f"{KEY_PREFIX}:{opaque}:{limit.seconds}:{window}", math.ceil(left) + _TTL_MARGIN))
    if not counted:
        return Charge()

    alias = cfg.cache_alias
    try:
        cache = caches[alias]
        counts = _raise(cache, entries)
    except Exception as exc:
        masked = mask_number(number)
        logger.error(
            "SMS sending limits cache %r is unreachable (%s); refusing to send to %s (limits fail closed)",
            alias, type(exc).__name__, masked,
        )
        raise _refuse(sender, UNAVAILABLE, masked, None, None, DeliveryFailed.default_message) from None

    hit = [(limit, opaque, left) for (limit, opaque, left), count in zip(counted, counts, strict=True)
           if count > limit.count]
    if not hit:
        return Charge(cache, tuple(entries))
    _lower(cache, entries)
    masked = mask_number(number)
    retry_after = max(left for _limit, _opaque, left in hit)
    logger.warning(
        "SMS to %s refused: sending limit %s hit (retry in %d s)",
        masked, ", ".join(f"{limit.name} {limit.count}/{limit.seconds}s" for limit, _opaque, _left in hit), retry_after,
    )
    for limit, opaque, left in hit:
        signals.limit_hit.send(sender=sender, limit=limit.name, number=masked, key=opaque, retry_after=left)
    raise SendLimitExceeded(limit=hit[0][0].name, retry_after=retry_after)


def validate() -> None:
    """Raise ``ImproperlyConfigured`` for the first limit setting that is wrong."""
    limit_settings()
    allowlist_settings()
    ip_settings()
