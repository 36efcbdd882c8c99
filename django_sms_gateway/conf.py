"""Every setting django-otp-sms-gateway reads, with its default, its rules and its converted value.

Read through the ``settings`` object below (``settings.OTP_SMS_TOKEN_LENGTH``):
each of the package's settings is read, defaulted, validated and converted
here and nowhere else. A wrong value raises
:class:`~django_sms_gateway.exceptions.ConfigurationError` carrying the id of
the system check that reports it (ids in :mod:`django_sms_gateway.checks`).

A value is converted on its first read and then kept as a plain attribute, so
the login step pays nothing to read it again; every kept value is dropped when
any setting changes (Django's ``setting_changed``, which ``override_settings``
sends). Names that are not the package's pass through to Django's settings.

Besides the settings themselves, a few values are derived from several of
them: :attr:`Settings.lockout`, :attr:`Settings.limits`,
:attr:`Settings.origin`, :attr:`Settings.gateways` and
:attr:`Settings.breaker_cache`.
"""

from __future__ import annotations

import difflib
import hashlib
import hmac
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple

import django.conf
from django.core.signals import setting_changed
from django.urls import NoReverseMatch, reverse
from django.utils.functional import Promise
from django.utils.translation import ngettext_lazy

from .checks import (
    E001,
    E002,
    E006,
    E009,
    E012,
    E013,
    E014,
    E015,
    E020,
    E022,
    E030,
    E033,
    E040,
    E043,
    E044,
    E046,
    E049,
    W003,
    W011,
    W012,
    W013,
    W014,
    W015,
    W016,
    W017,
    W022,
    W032,
    W033,
    W034,
    W035,
)
from .exceptions import ConfigurationError, ConfigurationWarning
from .text import MessageText, OriginBinding, OriginError

try:
    import phonenumbers
except ImportError:  # neither phonenumbers nor phonenumberslite (check E023): phone.py raises E023's error
    phonenumbers = None  # type: ignore[assignment]

__all__ = [
    "DEFAULTS", "LIMIT_NAMES", "RECEIVING_TYPES", "BreakerPolicy", "GatewaySettings", "Limit", "LimitsConfig",
    "DeliveryHealthPolicy", "LockoutPolicy", "RiskCheckSettings", "settings",
    "DEFAULTS", "LIMIT_NAMES", "RECEIVING_TYPES", "BreakerPolicy", "FraudGuard", "GatewaySettings", "Limit",
    "LimitsConfig", "LockoutPolicy", "settings",
]

DEFAULTS: dict[str, Any] = {
    # Ordered gateways, like CACHES. None: one console backend (development).
    "SMS_GATEWAYS": None,
    # The code.
    "OTP_SMS_TOKEN_LENGTH": 6,
    "OTP_SMS_TOKEN_VALIDITY": 300,
    "OTP_SMS_THROTTLE_FACTOR": 1,
    # Wrong codes: the longest throttle wait (seconds), and the consecutive failures after which the
    # device refuses every code until its number is bound again or an admin resets it (0: never).
    "OTP_SMS_THROTTLE_MAX_DELAY": 3600,
    "OTP_SMS_MAX_FAILURES": 100,
    "OTP_SMS_COOLDOWN_DURATION": 60,
    # The message.
    "OTP_SMS_SENDER": None,
    # A string, a lazy translation, ngettext_lazy(one minute, more) or a pair (one minute, more).
    "OTP_SMS_MESSAGE": ngettext_lazy(
        "Your verification code is {token}. It expires in {minutes} minute.",
        "Your verification code is {token}. It expires in {minutes} minutes.",
        "minutes",
    ),
    "OTP_SMS_SITE_NAME": "",
    # Origin-bound codes: the site's host (last line "@host #code"), the host of an iframe asking
    # for the code (" %host" after it), and the Android SMS Retriever app hash (a line before it).
    "OTP_SMS_ORIGIN": None,
    "OTP_SMS_EMBEDDED_ORIGIN": None,
    "OTP_SMS_ANDROID_APP_HASH": None,
    # The template the shipped SMS step extends (None: a plain page of its own), and where it
    # sends a signed-in user who has no confirmed phone (a URL or URL name; None: it says so).
    "OTP_SMS_BASE_TEMPLATE": "django_sms_gateway/page.html",
    "OTP_SMS_ENROL_URL": None,
    # Numbers written without a country code are read as this region (None: refuse them).
    "OTP_SMS_DEFAULT_REGION": None,
    # Seconds: one vendor call (a gateway's TIMEOUT overrides it), and the whole challenge.
    "OTP_SMS_GATEWAY_TIMEOUT": 5.0,
    "OTP_SMS_CHALLENGE_BUDGET": 12.0,
    # Circuit breaker per gateway (an entry's BREAKER_THRESHOLD / BREAKER_COOLOFF override these):
    # consecutive failures that open it (0 or None: off), seconds it stays open before one trial,
    # and the alias in CACHES holding its state (None: the same cache as OTP_SMS_LIMITS_CACHE).
    "OTP_SMS_BREAKER_THRESHOLD": 3,
    "OTP_SMS_BREAKER_COOLOFF": 30.0,
    "OTP_SMS_BREAKER_CACHE": None,
    # Seconds a process may remember a read that found every circuit of a walk closed (0: never).
    "OTP_SMS_BREAKER_MEMO": 1.0,
    # Delivery health per gateway and destination country (state in the breaker cache; None: off).
    # A site's dict is merged over these; see DeliveryHealthPolicy.
    "OTP_SMS_DELIVERY_HEALTH": {"WINDOW": 900.0, "MIN_REPORTS": 10, "MAX_FAILURE_SHARE": 0.5, "COOLOFF": 300.0},
    # Days DeliveryRecord rows are kept; `manage.py prunesmsdeliveries` deletes older ones (None: keep all).
    "OTP_SMS_DELIVERY_RECORD_DAYS": 90,
    # Alias in CACHES (a Redis cache) where a send's delivery records wait to be written to the
    # database in batches, off the login's critical path (None: each send writes its rows at once).
    "OTP_SMS_DELIVERY_RECORD_CACHE": None,
    # Vendor webhooks: seconds a signed timestamp may differ from now, and the largest body read.
    "OTP_SMS_WEBHOOK_TOLERANCE": 300,
    "OTP_SMS_WEBHOOK_MAX_BYTES": 16 * 1024,
    # Seconds after a send through a gateway with receipts by which a "delivered" receipt is due;
    # without one the challenge fails over to the next gateway (None: no deadline, no fail-over on silence).
    "OTP_SMS_DELIVERY_DEADLINE": 30.0,
    # Alias in CACHES holding the sending-limit counters (shared between processes in production).
    "OTP_SMS_LIMITS_CACHE": "default",
    # Sending limits: name -> (sends, seconds) in any such sliding window, or None to turn one off.
    # "global" applies to each destination country. A site's dict is merged over these;
    # OTP_SMS_LIMITS = None turns every counter off.
    "OTP_SMS_LIMITS": {
        "number": (5, 3600),
        "prefix": (20, 3600),
        "ip": (50, 3600),
        "user": (10, 3600),
        "global": (100_000, 3600),
    },
    # ISO 3166 region -> (sends, seconds) or None: the "global" limit for that destination country.
    "OTP_SMS_COUNTRY_LIMITS": {},
    # True: refuse every send while the limits cache is unreachable; False: count in each process meanwhile.
    "OTP_SMS_LIMITS_FAIL_CLOSED": False,
    # Digits dropped from the end of a number to make its "prefix" (the neighbours it is counted with).
    "OTP_SMS_LIMIT_PREFIX_DIGITS": 3,
    # ISO 3166 region codes may be sent to (empty: every region) and phonenumbers types by name.
    "OTP_SMS_ALLOWED_COUNTRIES": (),
    "OTP_SMS_ALLOWED_NUMBER_TYPES": ("MOBILE", "FIXED_LINE_OR_MOBILE"),
    # E.164 prefixes of satellite and other non-geographic numbers (region 001) that may get codes.
    "OTP_SMS_ALLOWED_NON_GEOGRAPHIC": (),
    # Client IP for the "ip" limit: request.META key set by the site's proxy (None: REMOTE_ADDR),
    # and how many proxies in front of the site append to it.
    "OTP_SMS_CLIENT_IP_HEADER": None,
    "OTP_SMS_TRUSTED_PROXIES": 1,
    # The SMS step's notice that text messages are a restricted authenticator (NIST SP 800-63B rev. 4,
    # 3.2.9), and where a user enrols a stronger factor (a URL or URL name; None: no link).
    "OTP_SMS_RESTRICTED_NOTICE": True,
    "OTP_SMS_ALTERNATIVE_URL": None,
    # E.164 number -> fixed code: such a device sends nothing and takes only its code (reviewers, CI).
    "OTP_SMS_TEST_NUMBERS": {},
    # Checks run before each send (SIM swap, line type): dotted paths of RiskCheck classes, or dicts
    # {"BACKEND", "OPTIONS", "TIMEOUT", "FAIL_CLOSED", "NAME"}; see docs/risk-checks.md.
    "OTP_SMS_RISK_CHECKS": (),
    # The fraud guard: conversion (codes entered / codes sent) per number range against the site's own.
    # A site's dict is merged over these; see docs/limits.md for how they were chosen.
    "OTP_SMS_FRAUD_GUARD": {
        "MODE": "enforce",  # "enforce", "monitor" (decide and signal, refuse nothing) or "off"
        "WINDOW": 3600,  # seconds of the sliding window sends and entered codes are counted in
        "DEPTHS": (4, 5, 6),  # national digits of the ranges counted (at least 4)
        "MIN_SENDS": 20,  # judged sends a range needs before it can be throttled
        "RATIO": 0.5,  # a range is suspect when it converts significantly below RATIO x the site's conversion
        "THROTTLE_ODDS": 10**6,  # how unlikely its few entered codes must be for an honest range to throttle it
        "BLOCK_ODDS": 10**12,  # ... to refuse it every send
        "TRICKLE": 3,  # sends a throttled range still gets per two buckets (about four minutes at 3600 s)
    },
}

#: The counters, most specific first: when several are hit, the first names the refusal.
LIMIT_NAMES = ("number", "prefix", "user", "ip", "global")
#: Types a number may have to pass :func:`~django_sms_gateway.phone.normalize_number`;
#: an allowlist can only narrow them.
RECEIVING_TYPES = ("MOBILE", "FIXED_LINE_OR_MOBILE")
#: The backend that prints messages, used when ``SMS_GATEWAYS`` is not set.
CONSOLE_BACKEND = "django_sms_gateway.backends.console.ConsoleBackend"
#: Keys an ``SMS_GATEWAYS`` entry may have.
ENTRY_KEYS = frozenset({"BACKEND", "OPTIONS", "COUNTRIES", "TIMEOUT", "BREAKER_THRESHOLD", "BREAKER_COOLOFF"})
#: Calling codes of region 001 (satellite phones, international networks), for OTP_SMS_ALLOWED_NON_GEOGRAPHIC.
NON_GEOGRAPHIC_CODES = tuple(
    sorted(str(code) for code in phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS) if phonenumbers else ()
)

#: Keys an ``OTP_SMS_RISK_CHECKS`` entry may have.
RISK_CHECK_KEYS = frozenset({"BACKEND", "OPTIONS", "TIMEOUT", "FAIL_CLOSED", "NAME"})
#: Seconds one risk check may take when its entry gives no ``TIMEOUT``.
RISK_CHECK_TIMEOUT = 2.0

#: NIST SP 800-63B rev. 4, 3.1.3: at least six digits, valid for at most ten minutes.
NIST_MIN_CODE_LENGTH = 6
NIST_MAX_CODE_VALIDITY = 600
#: An importable vendor backend, named in hints.
EXAMPLE_BACKEND = "django_sms_gateway.backends.signicat.SignicatBackend"
#: Cache backends whose counts live in one process (or cannot be updated atomically).
UNSHARED_CACHES = frozenset(
    {
        "django.core.cache.backends.locmem.LocMemCache",
        "django.core.cache.backends.dummy.DummyCache",
        "django.core.cache.backends.filebased.FileBasedCache",
    }
)
#: Cache backends that wait forever on a hung server unless OPTIONS bound them, and the options that do.
SOCKET_TIMEOUTS = {
    "django.core.cache.backends.redis.RedisCache": ("socket_timeout", "socket_connect_timeout"),
    "django_redis.cache.RedisCache": ("SOCKET_TIMEOUT", "SOCKET_CONNECT_TIMEOUT"),
    "django.core.cache.backends.memcached.PyMemcacheCache": ("timeout", "connect_timeout"),
}

_LIMITS_HINT = (
    "Write OTP_SMS_LIMITS as {'number': (5, 3600), 'ip': None, ...} with the limits number, prefix, user, ip "
    "and global; see docs/limits.md."
)
_ALLOWLIST_HINT = (
    "Write OTP_SMS_ALLOWED_COUNTRIES as ISO 3166 codes (['NO', 'SE'], empty for all) and "
    "OTP_SMS_ALLOWED_NUMBER_TYPES as ['MOBILE', 'FIXED_LINE_OR_MOBILE'] or a part of it."
)
_IP_HINT = (
    "Behind a proxy, set OTP_SMS_CLIENT_IP_HEADER = 'HTTP_X_FORWARDED_FOR' and OTP_SMS_TRUSTED_PROXIES to the "
    "number of proxies in front of the site; see 'Client IP behind a proxy' in docs/limits.md."
)
_LOCKOUT_HINT = (
    "The defaults are OTP_SMS_THROTTLE_FACTOR = 1, OTP_SMS_THROTTLE_MAX_DELAY = 3600 (one hour) "
    "and OTP_SMS_MAX_FAILURES = 100 (NIST SP 800-63B's most)."
)
_BREAKER_HINT = (
    "Set BREAKER_THRESHOLD (or OTP_SMS_BREAKER_THRESHOLD) to the number of consecutive failures that "
    "open the circuit, such as 3 (0 turns the breaker off), and BREAKER_COOLOFF (or "
    "OTP_SMS_BREAKER_COOLOFF) to the seconds it stays open, such as 30."
)


# -- what the settings become ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Limit:
    """One counter: at most ``count`` sends in any ``seconds``."""

    name: str
    count: int
    seconds: int


@dataclass(frozen=True, slots=True)
class LimitsConfig:
    """Every sending-limit setting, validated: the enabled counters (in
    :data:`LIMIT_NAMES` order), the per-country ``global`` limits, the prefix
    digits, the allowlists, the cache, the client-IP rule and the key of the
    HMAC that keeps numbers and addresses out of cache keys."""

    limits: tuple[Limit, ...]
    country_limits: Mapping[str, Limit | None]
    prefix_digits: int
    countries: frozenset[str]
    number_types: frozenset[int]
    cache_alias: str
    fail_closed: bool
    ip_header: str | None
    ip_proxies: int
    non_geographic: tuple[str, ...]
    hmac: Any  # keyed HMAC-SHA256, copied for each subject
    #: The fraud guard (``OTP_SMS_FRAUD_GUARD``), None when it is off.
    guard: FraudGuard | None = None


#: Buckets of the fraud guard's window (one cache key each per range); the last two are not judged yet.
GUARD_BUCKETS = 30
#: The fraud guard's modes.
GUARD_MODES = ("enforce", "monitor", "off")


@dataclass(frozen=True, slots=True)
class FraudGuard:
    """``OTP_SMS_FRAUD_GUARD``, validated: ``enforce`` (False: monitor mode),
    the window, the depths (national digits) of the ranges counted, deepest
    last, and the thresholds, the odds as natural logarithms (nats)."""

    enforce: bool
    window: int
    depths: tuple[int, ...]
    min_sends: int
    ratio: float
    throttle_at: float
    block_at: float
    trickle: int


class LockoutPolicy(NamedTuple):
    """The throttle of wrong codes: the first wait (seconds; 0 turns the
    throttle off), the longest wait, and the failures that lock the device
    until it is bound again (0: never)."""

    factor: float
    max_delay: float
    max_failures: int

    def delay(self, failures: int) -> float:
        """Seconds to wait after ``failures`` consecutive wrong codes."""
        if self.factor <= 0 or failures <= 0:
            return 0.0
        # 2**64 seconds is past any cap: the exponent stays small, the float finite.
        return min(self.factor * 2.0 ** min(failures - 1, 64), self.max_delay)

    def locked_for_good(self, failures: int) -> bool:
        """Whether ``failures`` consecutive wrong codes lock the device until re-binding."""
        return 0 < self.max_failures <= failures


class BreakerPolicy(NamedTuple):
    """One gateway's breaker settings: consecutive failures that open it
    (0: the breaker is off) and seconds it then stays open."""

    threshold: int
    cooloff: float


class DeliveryHealthPolicy(NamedTuple):
    """``OTP_SMS_DELIVERY_HEALTH``: a gateway is skipped for a country when,
    of the final delivery reports of the last ``window`` seconds for that
    pair, at least ``min_reports`` came and at least ``max_failure_share`` of
    them were failed or missing; then for ``cooloff`` seconds before one trial."""

    window: float
    min_reports: int
    max_failure_share: float
    cooloff: float


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    """One ``SMS_GATEWAYS`` entry, validated and with its defaults applied:
    ``sender`` is the entry's ``OPTIONS['sender']``, else ``OTP_SMS_SENDER``;
    ``countries`` is None for every country. ``backend`` is the dotted path,
    imported and checked by the gateway registry, which also validates
    ``options`` through the backend."""

    alias: str
    backend: str
    options: Mapping[str, Any]
    countries: frozenset[str] | None
    timeout: float
    breaker: BreakerPolicy
    sender: str | None


@dataclass(frozen=True, slots=True)
class RiskCheckSettings:
    """One ``OTP_SMS_RISK_CHECKS`` entry, validated: its place in the list,
    its ``NAME`` (for logs and signals; the class name by default), the
    dotted path of its class (imported and given ``options`` by
    :mod:`django_sms_gateway.risk`), its ``TIMEOUT`` in seconds and whether
    it refuses the send when its lookup cannot answer (``FAIL_CLOSED``)."""

    index: int
    name: str
    backend: str
    options: Mapping[str, Any]
    timeout: float
    fail_closed: bool

    @property
    def where(self) -> str:
        """The entry as a site finds it in its settings: ``OTP_SMS_RISK_CHECKS[0]``."""
        return f"OTP_SMS_RISK_CHECKS[{self.index}]"


# -- reading one value ----------------------------------------------------------------------------


def _error(message: str, check_id: str, hint: str, obj: str) -> ConfigurationError:
    return ConfigurationError(message, check_id=check_id, hint=hint, obj=obj)


def _is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value  # NaN is no number


def whole_number(name: str, value: Any, *, minimum: int, check_id: str = E022, hint: str = "") -> int:
    """``value`` of setting ``name`` as a whole number of at least ``minimum``."""
    if not _is_whole(value) or value < minimum:
        raise _error(f"{name} must be a whole number of at least {minimum}, not {value!r}.", check_id,
                     hint or f"The default is {DEFAULTS.get(name)!r}.", name)
    return int(value)


def seconds(name: str, value: Any, *, minimum: float = 0.0, check_id: str = E022, hint: str = "",
            allow_minimum: bool = False) -> float:
    """``value`` of setting ``name`` as finite seconds above ``minimum`` (or equal, with ``allow_minimum``)."""
    low_ok = _is_number(value) and (value >= minimum if allow_minimum else value > minimum)
    if not low_ok or value == float("inf"):
        bound = "at least" if allow_minimum else "more than"
        raise _error(f"{name} must be a number of seconds {bound} {minimum:g}, not {value!r}.", check_id,
                     hint or f"The default is {DEFAULTS.get(name)!r}.", name)
    return float(value)


def _optional_text(name: str, value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _error(f"{name} must be a string or None, not {value!r}.", E022,
                     f"The default is {DEFAULTS.get(name)!r}.", name)
    return value


def _is_region(value: Any) -> bool:
    """Whether ``value`` is an ISO 3166 region code phonenumbers knows (``"NO"``, any case).
    Without phonenumbers any two letters pass: check E023 reports the missing library instead."""
    if not isinstance(value, str):
        return False
    if phonenumbers is None:
        return len(value) == 2 and value.isascii() and value.isalpha()
    return value.upper() in phonenumbers.SUPPORTED_REGIONS


def _region(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if not _is_region(value):
        raise _error(f"{name} must be an ISO 3166 region code such as 'NO', or None, not {value!r}.", E022,
                     "Numbers typed without a country code are read as this region; None refuses them.", name)
    return value.upper()


def limit(name: str, value: Any, where: str) -> Limit | None:
    """One ``(sends, seconds)`` pair of the limit settings, or None (turned off)."""
    if value is None:
        return None
    if (
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and len(value) == 2
        and all(_is_whole(part) and part >= 1 for part in value)
    ):
        return Limit(name, value[0], value[1])
    raise _error(f"{where} is {value!r}; write (sends, seconds) with whole numbers of at least 1, such as "
                 f"(5, 3600), or None to turn it off.", E012, _LIMITS_HINT, where)


def limit_settings(configured: Any, digits: Any) -> tuple[tuple[Limit, ...], int]:
    """``OTP_SMS_LIMITS`` (merged over the defaults; ``None`` turns every
    counter off) and ``OTP_SMS_LIMIT_PREFIX_DIGITS``."""
    merged: dict[str, Any]
    if configured is None:
        merged = dict.fromkeys(LIMIT_NAMES)
    elif isinstance(configured, Mapping):
        unknown = [key for key in configured if key not in LIMIT_NAMES]
        if unknown:
            raise _error(f"OTP_SMS_LIMITS has an unknown limit {unknown[0]!r}; the limits are "
                         f"{', '.join(LIMIT_NAMES)}.", E012, _LIMITS_HINT, "OTP_SMS_LIMITS")
        merged = {**DEFAULTS["OTP_SMS_LIMITS"], **configured}
    else:
        raise _error(f"OTP_SMS_LIMITS must be a dict of limit name -> (sends, seconds) or None, not "
                     f"{configured!r}.", E012, _LIMITS_HINT, "OTP_SMS_LIMITS")
    limits = [limit(name, merged.get(name), f"OTP_SMS_LIMITS[{name!r}]") for name in LIMIT_NAMES]
    if not _is_whole(digits) or not 1 <= digits <= 6:
        raise _error(f"OTP_SMS_LIMIT_PREFIX_DIGITS must be a whole number from 1 to 6 (digits dropped from the "
                     f"end of a number for the 'prefix' limit), not {digits!r}.", E012,
                     "The default, 3, counts ranges of 1,000 neighbouring numbers.", "OTP_SMS_LIMIT_PREFIX_DIGITS")
    return tuple(found for found in limits if found is not None), digits


def country_limits(configured: Any) -> dict[str, Limit | None]:
    """``OTP_SMS_COUNTRY_LIMITS``: region -> its ``global`` limit (None: off)."""
    configured = configured or {}
    hint = ("Write OTP_SMS_COUNTRY_LIMITS as {'NO': (200000, 3600), 'NG': (50, 3600)}; other countries get "
            "OTP_SMS_LIMITS['global'].")
    if not isinstance(configured, Mapping):
        raise _error(f"OTP_SMS_COUNTRY_LIMITS must be a dict of ISO 3166 region -> (sends, seconds), not "
                     f"{configured!r}.", E012, hint, "OTP_SMS_COUNTRY_LIMITS")
    found: dict[str, Limit | None] = {}
    for region, value in configured.items():
        if not _is_region(region):
            raise _error(f"OTP_SMS_COUNTRY_LIMITS has {region!r}, which is not an ISO 3166 region code (such as "
                         "'NO').", E012, hint, "OTP_SMS_COUNTRY_LIMITS")
        found[region.upper()] = limit("global", value, f"OTP_SMS_COUNTRY_LIMITS[{region!r}]")
    return found


def fail_closed(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _error(f"OTP_SMS_LIMITS_FAIL_CLOSED must be True or False, not {value!r}.", E012,
                     "False (the default) counts in each process while the limits cache is down; True refuses "
                     "every send meanwhile.", "OTP_SMS_LIMITS_FAIL_CLOSED")
    return value


_GUARD_HINT = (
    "Write OTP_SMS_FRAUD_GUARD as {'MODE': 'enforce', 'WINDOW': 3600, ...} with the keys MODE, WINDOW, DEPTHS, "
    "MIN_SENDS, RATIO, THROTTLE_ODDS, BLOCK_ODDS and TRICKLE; see 'The fraud guard' in docs/limits.md."
)


def fraud_guard(configured: Any, limits_on: bool = True) -> FraudGuard | None:
    """``OTP_SMS_FRAUD_GUARD`` merged over its defaults; None when ``MODE`` is
    ``"off"`` or ``OTP_SMS_LIMITS`` is None (``limits_on`` False), which
    turns every counter off."""
    name = "OTP_SMS_FRAUD_GUARD"
    if configured is None:
        configured = {"MODE": "off"}
    if not isinstance(configured, Mapping):
        raise _error(f"{name} must be a dict, not {configured!r}.", E040, _GUARD_HINT, name)
    defaults = DEFAULTS[name]
    unknown = [key for key in configured if key not in defaults]
    if unknown:
        raise _error(f"{name} has an unknown key {unknown[0]!r}; the keys are {', '.join(defaults)}.", E040,
                     _GUARD_HINT, name)
    merged = {**defaults, **configured}

    def bad(key: str, rule: str) -> ConfigurationError:
        return _error(f"{name}[{key!r}] must be {rule}, not {merged[key]!r}.", E040, _GUARD_HINT, name)

    mode = merged["MODE"]
    if mode not in GUARD_MODES:
        raise bad("MODE", "'enforce', 'monitor' or 'off'")
    window = merged["WINDOW"]
    if not _is_whole(window) or window < 10 * GUARD_BUCKETS:
        raise bad("WINDOW", f"a whole number of seconds, at least {10 * GUARD_BUCKETS}")
    depths = merged["DEPTHS"]
    if (not isinstance(depths, list | tuple) or not depths or not all(_is_whole(d) and 4 <= d <= 12 for d in depths)
            or len(set(depths)) != len(depths)):
        raise bad("DEPTHS", "a list of different whole numbers of national digits from 4 to 12, such as [4, 5, 6]")
    min_sends = merged["MIN_SENDS"]
    if not _is_whole(min_sends) or min_sends < 10:
        raise bad("MIN_SENDS", "a whole number of at least 10")
    ratio = merged["RATIO"]
    if not _is_number(ratio) or not 0 < ratio < 1:
        raise bad("RATIO", "a number between 0 and 1")
    odds = {}
    for key in ("THROTTLE_ODDS", "BLOCK_ODDS"):
        if not _is_number(merged[key]) or not 100 <= merged[key] < float("inf"):
            raise bad(key, "a number of at least 100 (one honest range in that many would be refused)")
        odds[key] = math.log(merged[key])
    if odds["BLOCK_ODDS"] < odds["THROTTLE_ODDS"]:
        raise bad("BLOCK_ODDS", "at least THROTTLE_ODDS")
    trickle = merged["TRICKLE"]
    if not _is_whole(trickle) or trickle < 0:
        raise bad("TRICKLE", "a whole number of at least 0")
    if mode == "off" or not limits_on:
        return None
    return FraudGuard(mode == "enforce", window, tuple(sorted(depths)), min_sends, float(ratio),
                      odds["THROTTLE_ODDS"], odds["BLOCK_ODDS"], trickle)


def ip_settings(header: Any, proxies: Any) -> tuple[str | None, int]:
    """``(OTP_SMS_CLIENT_IP_HEADER, OTP_SMS_TRUSTED_PROXIES)``."""
    if header is not None:
        if not isinstance(header, str) or not header:
            raise _error(f"OTP_SMS_CLIENT_IP_HEADER must be a request.META key such as 'HTTP_X_FORWARDED_FOR' "
                         f"or None, not {header!r}.", E012, _IP_HINT, "OTP_SMS_CLIENT_IP_HEADER")
        if header != header.upper() or "-" in header or not (header.startswith("HTTP_") or header == "REMOTE_ADDR"):
            suggestion = "HTTP_" + header.upper().replace("-", "_").removeprefix("HTTP_")
            raise _error(f"OTP_SMS_CLIENT_IP_HEADER is {header!r}, which is not how Django names a header in "
                         f"request.META; write {suggestion!r}.", E012, _IP_HINT, "OTP_SMS_CLIENT_IP_HEADER")
    if not _is_whole(proxies) or proxies < 1:
        raise _error(f"OTP_SMS_TRUSTED_PROXIES must be a whole number of proxies, at least 1, not {proxies!r}.",
                     E012, _IP_HINT, "OTP_SMS_TRUSTED_PROXIES")
    return header, proxies


def allowlists(countries: Any, names: Any) -> tuple[frozenset[str], frozenset[int]]:
    """``OTP_SMS_ALLOWED_COUNTRIES`` and ``OTP_SMS_ALLOWED_NUMBER_TYPES``."""
    countries = countries or ()
    if isinstance(countries, str) or not isinstance(countries, Iterable) or not all(
        isinstance(c, str) for c in countries
    ):
        raise _error(f"OTP_SMS_ALLOWED_COUNTRIES must be a list of ISO 3166 region codes such as ['NO', 'SE'], "
                     f"not {countries!r}.", E013, _ALLOWLIST_HINT, "OTP_SMS_ALLOWED_COUNTRIES")
    for country in countries:
        if not _is_region(country):
            raise _error(f"OTP_SMS_ALLOWED_COUNTRIES has {country!r}, which is not an ISO 3166 region code "
                         "(two letters, such as 'NO').", E013, _ALLOWLIST_HINT, "OTP_SMS_ALLOWED_COUNTRIES")
    if isinstance(names, str) or not isinstance(names, Iterable) or not names or not all(
        isinstance(n, str) for n in names
    ):
        raise _error(f"OTP_SMS_ALLOWED_NUMBER_TYPES must be a non-empty list of phonenumbers type names, "
                     f"such as {list(RECEIVING_TYPES)}, not {names!r}.", E013, _ALLOWLIST_HINT,
                     "OTP_SMS_ALLOWED_NUMBER_TYPES")
    for name in names:
        if name.upper() not in RECEIVING_TYPES:
            known = phonenumbers is None or hasattr(phonenumbers.PhoneNumberType, name.upper())
            kind = "a kind of number that cannot receive codes" if known else "which is not a phonenumbers type"
            raise _error(f"OTP_SMS_ALLOWED_NUMBER_TYPES has {name!r}, {kind}; choose from "
                         f"{', '.join(RECEIVING_TYPES)}.", E013, _ALLOWLIST_HINT, "OTP_SMS_ALLOWED_NUMBER_TYPES")
    # Without phonenumbers no number has a type (check E023): nothing is sent, so none is allowed.
    types = {getattr(phonenumbers.PhoneNumberType, name.upper()) for name in names} if phonenumbers else set()
    return frozenset(c.upper() for c in countries), frozenset(types)


def non_geographic(value: Any) -> tuple[str, ...]:
    """``OTP_SMS_ALLOWED_NON_GEOGRAPHIC``: E.164 prefixes of region 001 that may receive codes."""
    hint = (
        "Write E.164 prefixes of satellite or other non-geographic numbers, such as ['+8816'] (Iridium) or "
        f"['+870'] (Inmarsat); their calling codes are {', '.join('+' + c for c in NON_GEOGRAPHIC_CODES)}."
    )
    if isinstance(value, str) or not isinstance(value, list | tuple | set | frozenset):
        raise _error(f"OTP_SMS_ALLOWED_NON_GEOGRAPHIC must be a list of E.164 prefixes, not {value!r}.", E013, hint,
                     "OTP_SMS_ALLOWED_NON_GEOGRAPHIC")
    for prefix in value:
        if not (
            isinstance(prefix, str) and prefix.startswith("+") and prefix[1:].isascii() and prefix[1:].isdigit()
            and (phonenumbers is None or any(prefix[1:].startswith(code) for code in NON_GEOGRAPHIC_CODES))
        ):
            raise _error(f"OTP_SMS_ALLOWED_NON_GEOGRAPHIC has {prefix!r}, which is not the E.164 prefix of a "
                         "non-geographic number ('+' and digits starting with one of their calling codes).", E013,
                         hint, "OTP_SMS_ALLOWED_NON_GEOGRAPHIC")
    return tuple(value)


def breaker_policy(alias: str, entry: Mapping[str, Any], threshold: Any, cooloff: Any) -> BreakerPolicy:
    """Gateway ``alias``'s breaker: its entry's ``BREAKER_THRESHOLD`` /
    ``BREAKER_COOLOFF``, else the global ``threshold`` / ``cooloff``
    (``OTP_SMS_BREAKER_*``). A threshold of 0 or None turns it off."""
    where = f"SMS_GATEWAYS[{alias!r}]"
    source = f"{where}: 'BREAKER_THRESHOLD'" if "BREAKER_THRESHOLD" in entry else \
        f"OTP_SMS_BREAKER_THRESHOLD (used by {where})"
    threshold = entry.get("BREAKER_THRESHOLD", threshold)
    if threshold is None:
        threshold = 0
    if not _is_whole(threshold) or threshold < 0:
        raise _error(f"{source} must be a whole number of consecutive failures (0 or None: no breaker), not "
                     f"{threshold!r}.", E014, _BREAKER_HINT, where)
    source = f"{where}: 'BREAKER_COOLOFF'" if "BREAKER_COOLOFF" in entry else \
        f"OTP_SMS_BREAKER_COOLOFF (used by {where})"
    cooloff = entry.get("BREAKER_COOLOFF", cooloff)
    if not _is_number(cooloff) or not 0 < cooloff < float("inf"):
        raise _error(f"{source} must be a positive number of seconds, not {cooloff!r}.", E014, _BREAKER_HINT, where)
    return BreakerPolicy(threshold, float(cooloff))


def _entry_hint(alias: str) -> str:
    return (
        f"Make SMS_GATEWAYS[{alias!r}] a dict with 'BACKEND' (dotted path) and optionally 'OPTIONS' (dict), "
        "'COUNTRIES' (list of region codes), 'TIMEOUT' (positive seconds), 'BREAKER_THRESHOLD' "
        "(consecutive failures, 0: no breaker) and 'BREAKER_COOLOFF' (positive seconds)."
    )


def gateway_entries(value: Any, debug: bool) -> dict[str, Any]:
    """``SMS_GATEWAYS`` as alias -> raw entry; without the setting, one
    console backend, which withholds codes unless ``debug``."""
    if value is None:
        return {"console": {"BACKEND": CONSOLE_BACKEND, "OPTIONS": {"withhold_codes": not debug}}}
    if not isinstance(value, Mapping) or not value:
        raise ConfigurationError(
            "SMS_GATEWAYS must be a non-empty dict of alias -> gateway settings.", check_id=E001,
            hint="Set SMS_GATEWAYS to a dict of alias -> {'BACKEND': ..., 'OPTIONS': {...}}, "
            "or remove it to print messages to the console during development.",
        )
    return {str(alias): entry for alias, entry in value.items()}


def gateway_settings(alias: str, entry: Any, current: Settings) -> GatewaySettings:
    """One ``SMS_GATEWAYS`` entry, validated (E001 shape, E006 ``COUNTRIES``,
    E014 breaker), with the global defaults of ``current`` applied."""
    where = f"SMS_GATEWAYS[{alias!r}]"
    if not isinstance(entry, Mapping):
        raise _error(f"{where} must be a dict with a 'BACKEND' key.", E001, _entry_hint(alias), where)
    unknown = sorted(set(entry) - ENTRY_KEYS)
    if unknown:
        raise _error(f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(ENTRY_KEYS))}).", E001,
                     _entry_hint(alias), where)
    path = entry.get("BACKEND")
    if not path or not isinstance(path, str):
        raise _error(f"{where}: 'BACKEND' is required (a dotted path to a backend class).", E001,
                     _entry_hint(alias), where)
    options = entry.get("OPTIONS") or {}
    if not isinstance(options, Mapping):
        raise _error(f"{where}: 'OPTIONS' must be a dict.", E001, _entry_hint(alias), where)
    countries = entry.get("COUNTRIES")
    if countries is not None:
        if isinstance(countries, str) or not all(isinstance(c, str) for c in countries):
            problem = "'COUNTRIES' must be a list of ISO 3166 region codes."
        else:
            bad = [c for c in countries if not _is_region(c)]
            problem = f"'COUNTRIES' has {bad[0]!r}, which is not an ISO 3166 region code." if bad else ""
        if problem:
            raise _error(f"{where}: {problem}", E006, "Make COUNTRIES a list of two-letter ISO 3166 region codes, "
                         "such as ['NO', 'SE'], or leave it out to serve every country.", where)
        countries = frozenset(c.upper() for c in countries)
    timeout = entry.get("TIMEOUT", current.OTP_SMS_GATEWAY_TIMEOUT)
    if not _is_number(timeout) or not 0 < timeout < float("inf"):
        raise _error(f"{where}: 'TIMEOUT' must be a positive number of seconds.", E001, _entry_hint(alias), where)
    breaker = breaker_policy(alias, entry, current.OTP_SMS_BREAKER_THRESHOLD, current.OTP_SMS_BREAKER_COOLOFF)
    sender = options.get("sender")
    return GatewaySettings(alias, path, options, countries, float(timeout), breaker,
                           current.OTP_SMS_SENDER if sender is None else sender)


# -- the settings object ---------------------------------------------------------------------------


def _lockout(s: Settings) -> LockoutPolicy:
    return LockoutPolicy(s.OTP_SMS_THROTTLE_FACTOR, s.OTP_SMS_THROTTLE_MAX_DELAY, s.OTP_SMS_MAX_FAILURES)


def _limits(s: Settings) -> LimitsConfig:
    limits, digits = limit_settings(s.raw("OTP_SMS_LIMITS"), s.raw("OTP_SMS_LIMIT_PREFIX_DIGITS"))
    countries, types = allowlists(s.raw("OTP_SMS_ALLOWED_COUNTRIES"), s.raw("OTP_SMS_ALLOWED_NUMBER_TYPES"))
    header, proxies = ip_settings(s.raw("OTP_SMS_CLIENT_IP_HEADER"), s.raw("OTP_SMS_TRUSTED_PROXIES"))
    key = hashlib.sha256(b"django_sms_gateway.limits\0" + str(django.conf.settings.SECRET_KEY).encode()).digest()
    return LimitsConfig(
        limits, country_limits(s.raw("OTP_SMS_COUNTRY_LIMITS")), digits, countries, types,
        s.OTP_SMS_LIMITS_CACHE, fail_closed(s.raw("OTP_SMS_LIMITS_FAIL_CLOSED")), header, proxies,
        s.OTP_SMS_ALLOWED_NON_GEOGRAPHIC, hmac.new(key, digestmod=hashlib.sha256),
        fraud_guard(s.raw("OTP_SMS_FRAUD_GUARD"), s.raw("OTP_SMS_LIMITS") is not None),
    )


def _origin(s: Settings) -> OriginBinding | None:
    origin, embedded = s.raw("OTP_SMS_ORIGIN"), s.raw("OTP_SMS_EMBEDDED_ORIGIN")
    app_hash = s.raw("OTP_SMS_ANDROID_APP_HASH")
    if not (origin or embedded or app_hash):
        return None
    try:
        return OriginBinding.checked(origin, embedded, app_hash)
    except OriginError as exc:
        raise _error(str(exc), E015, "OTP_SMS_ORIGIN is the site's host as the browser sees it, such as "
                     "'example.com'.", "OTP_SMS_ORIGIN") from None


def _gateways(s: Settings) -> dict[str, GatewaySettings]:
    entries = gateway_entries(s.raw("SMS_GATEWAYS"), bool(django.conf.settings.DEBUG))
    return {alias: gateway_settings(alias, entry, s) for alias, entry in entries.items()}


def _lockout_number(name: str, *, whole: bool, minimum: float) -> Callable[[Any], float]:
    def read(value: Any) -> float:
        if whole:
            return whole_number(name, value, minimum=int(minimum), check_id=E020, hint=_LOCKOUT_HINT)
        return seconds(name, value, minimum=minimum, allow_minimum=True, check_id=E020, hint=_LOCKOUT_HINT)
    return read


def _lazy_plural(value: Promise) -> Any:
    """The translation function of an ``ngettext_lazy()`` (or ``npgettext_lazy()``)
    string, with its msgids bound, called as ``f(number=n)``; None for any other
    lazy string. Read from the recipe Django gives such a string for pickling."""
    try:
        recipe: Any = value.__reduce__()
        _rebuild, (function, _result, _number, arguments) = recipe
    except (TypeError, ValueError):
        return None
    if not (callable(function) and isinstance(arguments, dict) and {"singular", "plural"} <= arguments.keys()):
        return None
    return partial(function, **{key: text for key, text in arguments.items() if key != "number"})


def message_text(value: Any) -> MessageText:
    """``OTP_SMS_MESSAGE`` as a :class:`~django_sms_gateway.text.MessageText`: a
    string or lazy translation for every number of minutes, a lazy plural whose
    form the number picks in each language, or a pair (one minute, any other)."""
    if isinstance(value, str):
        return MessageText(value)
    if isinstance(value, tuple | list) and len(value) == 2 and all(isinstance(v, str | Promise) for v in value):
        return MessageText(value[0], value[1])
    if isinstance(value, Promise):
        return MessageText(value, choose=_lazy_plural(value))
    raise _error(
        f"OTP_SMS_MESSAGE must be a string, a lazy translation, ngettext_lazy(one, other) or a pair "
        f"(one minute, other), not {value!r}.", E002,
        "Use ngettext_lazy(singular, plural, 'minutes') for a text that names the minutes in several "
        "languages, or a plain string.", "OTP_SMS_MESSAGE",
    )


def _record_days(value: Any) -> int | None:
    return None if value is None else whole_number("OTP_SMS_DELIVERY_RECORD_DAYS", value, minimum=1)


def _delivery_deadline(value: Any) -> float | None:
    if value is None:
        return None
    return seconds("OTP_SMS_DELIVERY_DEADLINE", value, check_id=E030,
                   hint="Give the seconds a vendor has to report delivery (the default is 30), or None to wait "
                   "for receipts without a deadline.")


_HEALTH_KEYS = ("WINDOW", "MIN_REPORTS", "MAX_FAILURE_SHARE", "COOLOFF")
_HEALTH_HINT = (
    "Write OTP_SMS_DELIVERY_HEALTH as {'WINDOW': 900, 'MIN_REPORTS': 10, 'MAX_FAILURE_SHARE': 0.5, "
    "'COOLOFF': 300} (any of these keys; the others keep their defaults), or None to turn it off."
)


def delivery_health(value: Any) -> DeliveryHealthPolicy | None:
    """``OTP_SMS_DELIVERY_HEALTH`` merged over its defaults, or None (off)."""
    name = "OTP_SMS_DELIVERY_HEALTH"
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise _error(f"{name} must be a dict or None, not {value!r}.", E033, _HEALTH_HINT, name)
    unknown = sorted(str(key) for key in value if key not in _HEALTH_KEYS)
    if unknown:
        raise _error(f"{name}: unknown key {unknown[0]!r} (allowed: {', '.join(_HEALTH_KEYS)}).", E033,
                     _HEALTH_HINT, name)
    merged = {**DEFAULTS[name], **value}
    share = merged["MAX_FAILURE_SHARE"]
    if not _is_number(share) or not 0 < share <= 1:
        raise _error(f"{name}['MAX_FAILURE_SHARE'] must be a number above 0 and at most 1, not {share!r}.", E033,
                     _HEALTH_HINT, name)
    return DeliveryHealthPolicy(
        seconds(f"{name}['WINDOW']", merged["WINDOW"], check_id=E033, hint=_HEALTH_HINT),
        whole_number(f"{name}['MIN_REPORTS']", merged["MIN_REPORTS"], minimum=1, check_id=E033, hint=_HEALTH_HINT),
        float(share),
        seconds(f"{name}['COOLOFF']", merged["COOLOFF"], check_id=E033, hint=_HEALTH_HINT),
    )


def _cache_alias(name: str, check_id: str, *, optional: bool) -> Callable[[Any], str | None]:
    def read(value: Any) -> str | None:
        if value is None and optional:
            return None
        if not isinstance(value, str) or not value:
            raise _error(f"{name} is {value!r}, which is not in CACHES.", check_id,
                         f"Set {name} to an alias in CACHES (the default is {DEFAULTS[name]!r}).", name)
        return value
    return read


# -- the restricted-authenticator kit and the test numbers ---------------------------------------------

#: An E.164 number as ``OTP_SMS_TEST_NUMBERS`` lists it: ``+``, then 8 to 15 digits, the first not 0.
E164 = re.compile(r"\+[1-9][0-9]{7,14}")
#: A URL name as ``reverse()`` takes it, namespaces included (``"accounts:security"``).
URL_NAME = re.compile(r"[\w.-]+(:[\w.-]+)*")

_TEST_NUMBERS_HINT = (
    "Write OTP_SMS_TEST_NUMBERS as {'+15555550100': '246810'}: numbers in E.164, each with a code of "
    "OTP_SMS_TOKEN_LENGTH ASCII digits (at least 6); see 'Test numbers' in docs/testing.md."
)
_ALTERNATIVE_HINT = (
    "Set OTP_SMS_ALTERNATIVE_URL to the URL name of the page where a user sets up an authenticator app or "
    "a security key (such as 'two_factor:setup'), a path on this site ('/account/security/') or an https:// "
    "URL; None shows the notice without a link."
)


def _hidden(number: str) -> str:
    """A listed number for a message: its first three and last two characters."""
    return f"{number[:3]}{'*' * max(len(number) - 5, 0)}{number[-2:]}" if len(number) > 5 else "***"


def read_test_numbers(value: Any) -> dict[str, str]:
    """``OTP_SMS_TEST_NUMBERS``: E.164 number -> its fixed code, ASCII digits
    as many as ``OTP_SMS_TOKEN_LENGTH`` (the length the step accepts) and at
    least :data:`NIST_MIN_CODE_LENGTH`. Errors never show a code."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _error(f"OTP_SMS_TEST_NUMBERS must be a dict of E.164 number -> code, not {type(value).__name__}.",
                     E043, _TEST_NUMBERS_HINT, "OTP_SMS_TEST_NUMBERS")
    length = settings.raw("OTP_SMS_TOKEN_LENGTH")
    found: dict[str, str] = {}
    for number, code in value.items():
        if not isinstance(number, str) or not E164.fullmatch(number) or not _known_country(number):
            shown = _hidden(number) if isinstance(number, str) else repr(number)
            raise _error(f"OTP_SMS_TEST_NUMBERS has {shown}, which is not an E.164 number such as "
                         "'+15555550100' (a plus, a known country code, no spaces).", E043, _TEST_NUMBERS_HINT,
                         "OTP_SMS_TEST_NUMBERS")
        if not isinstance(code, str) or not (code.isascii() and code.isdigit()) or len(code) < NIST_MIN_CODE_LENGTH:
            raise _error(f"The code of test number {_hidden(number)} in OTP_SMS_TEST_NUMBERS must be a string of "
                         f"at least {NIST_MIN_CODE_LENGTH} ASCII digits.", E043, _TEST_NUMBERS_HINT,
                         "OTP_SMS_TEST_NUMBERS")
        if _is_whole(length) and len(code) != length:
            raise _error(f"The code of test number {_hidden(number)} in OTP_SMS_TEST_NUMBERS has {len(code)} "
                         f"digits, but OTP_SMS_TOKEN_LENGTH is {length}: the step would refuse it as typed.",
                         E043, _TEST_NUMBERS_HINT, "OTP_SMS_TEST_NUMBERS")
        found[number] = code
    return found


def _known_country(number: str) -> bool:
    """Whether E.164 ``number`` starts with a calling code phonenumbers knows
    (any, without phonenumbers: check E023 reports the missing library)."""
    if phonenumbers is None:
        return True
    return any(
        phonenumbers.region_code_for_country_code(int(number[1:1 + digits])) != phonenumbers.UNKNOWN_REGION
        for digits in (1, 2, 3)
    )


def _is_link(value: str) -> bool:
    """Whether ``value`` is a link as written: a path on this site or an http(s) URL."""
    if value.startswith("/"):
        return not value.startswith("//")
    return value.startswith(("https://", "http://")) and len(value.split("://", 1)[1].split("/", 1)[0]) > 0


def alternative_url(value: Any) -> str | None:
    """``OTP_SMS_ALTERNATIVE_URL``: None, a link as written (a path on this
    site or an http(s) URL) or a URL name, reversed on each use
    (:func:`alternative_link`). Anything else (a relative path, another
    scheme such as ``javascript:``) is refused."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not (_is_link(value) or URL_NAME.fullmatch(value)):
        raise _error(f"OTP_SMS_ALTERNATIVE_URL must be a URL name, a path starting with / or an http(s) URL, not "
                     f"{value!r}.", E044, _ALTERNATIVE_HINT, "OTP_SMS_ALTERNATIVE_URL")
    return value


def alternative_link() -> str | None:
    """Where the SMS step's notice links to: ``OTP_SMS_ALTERNATIVE_URL`` as
    written, or its URL name reversed now (in the request's script prefix);
    None when it is not set. Raises the ``E044`` error for a name that does
    not reverse."""
    value = settings.OTP_SMS_ALTERNATIVE_URL
    if value is None or _is_link(value):
        return value
    try:
        return reverse(value)
    except NoReverseMatch:
        raise _error(f"OTP_SMS_ALTERNATIVE_URL is {value!r}, which is no URL name of this site (it does not "
                     "reverse without arguments).", E044, _ALTERNATIVE_HINT, "OTP_SMS_ALTERNATIVE_URL") from None


def _notice(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _error(f"OTP_SMS_RESTRICTED_NOTICE must be True or False, not {value!r}.", E044,
                     "True (the default) shows the SMS step's notice that text messages are the weaker factor.",
                     "OTP_SMS_RESTRICTED_NOTICE")
    return value


_RISK_HINT = (
    "Write OTP_SMS_RISK_CHECKS as a list of dotted paths to RiskCheck classes, or of dicts "
    "{'BACKEND': path, 'OPTIONS': {...}, 'TIMEOUT': 2, 'FAIL_CLOSED': False, 'NAME': 'sim-swap'}; "
    "see docs/risk-checks.md."
)


def risk_checks(value: Any) -> tuple[RiskCheckSettings, ...]:
    """``OTP_SMS_RISK_CHECKS``, each entry validated (E046): a dotted path
    stands for ``{"BACKEND": path}``; ``TIMEOUT`` is positive seconds
    (default :data:`RISK_CHECK_TIMEOUT`), ``FAIL_CLOSED`` True or False
    (default False), ``NAME`` unique printable text (default: the class's
    name)."""
    if value is None:
        return ()
    if isinstance(value, str | Mapping) or not isinstance(value, list | tuple):
        raise _error(f"OTP_SMS_RISK_CHECKS must be a list, not {value!r}.", E046, _RISK_HINT, "OTP_SMS_RISK_CHECKS")
    found: list[RiskCheckSettings] = []
    for index, entry in enumerate(value):
        where = f"OTP_SMS_RISK_CHECKS[{index}]"
        if isinstance(entry, str):
            entry = {"BACKEND": entry}
        if not isinstance(entry, Mapping):
            raise _error(f"{where} must be a dotted path or a dict with a 'BACKEND' key, not {entry!r}.", E046,
                         _RISK_HINT, where)
        unknown = sorted(str(key) for key in set(entry) - RISK_CHECK_KEYS)
        if unknown:
            raise _error(f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(RISK_CHECK_KEYS))}).",
                         E046, _RISK_HINT, where)
        path = entry.get("BACKEND")
        if not isinstance(path, str) or "." not in path.strip("."):
            raise _error(f"{where}: 'BACKEND' must be the dotted path of a risk check class, not {path!r}.", E046,
                         _RISK_HINT, where)
        options = entry.get("OPTIONS") or {}
        if not isinstance(options, Mapping):
            raise _error(f"{where}: 'OPTIONS' must be a dict, not {options!r}.", E046, _RISK_HINT, where)
        timeout = seconds(f"{where}['TIMEOUT']", entry.get("TIMEOUT", RISK_CHECK_TIMEOUT), check_id=E046,
                          hint=f"TIMEOUT is the seconds one lookup may take (default {RISK_CHECK_TIMEOUT:g}).")
        closed = entry.get("FAIL_CLOSED", False)
        if not isinstance(closed, bool):
            raise _error(f"{where}: 'FAIL_CLOSED' must be True or False, not {closed!r}.", E046,
                         "False (the default) sends the code when the lookup cannot answer; True refuses it.", where)
        name = entry.get("NAME") or path.rsplit(".", 1)[-1]
        if not isinstance(name, str) or not name.isprintable() or len(name) > 64:
            raise _error(f"{where}: 'NAME' must be printable text of at most 64 characters, not {name!r}.", E046,
                         _RISK_HINT, where)
        if any(other.name == name for other in found):
            raise _error(f"{where}: two risk checks are named {name!r}; give one a 'NAME' of its own.", E046,
                         _RISK_HINT, where)
        found.append(RiskCheckSettings(index, name, path, dict(options), timeout, closed))
    return tuple(found)


#: How each setting is converted on its first read (a setting not listed is used as written).
READERS: dict[str, Callable[[Any], Any]] = {
    "OTP_SMS_TOKEN_LENGTH": lambda v: whole_number("OTP_SMS_TOKEN_LENGTH", v, minimum=1),
    "OTP_SMS_TOKEN_VALIDITY": lambda v: whole_number("OTP_SMS_TOKEN_VALIDITY", v, minimum=1),
    "OTP_SMS_COOLDOWN_DURATION": lambda v: whole_number("OTP_SMS_COOLDOWN_DURATION", v, minimum=0),
    "OTP_SMS_THROTTLE_FACTOR": _lockout_number("OTP_SMS_THROTTLE_FACTOR", whole=False, minimum=0),
    "OTP_SMS_THROTTLE_MAX_DELAY": _lockout_number("OTP_SMS_THROTTLE_MAX_DELAY", whole=False, minimum=1),
    "OTP_SMS_MAX_FAILURES": _lockout_number("OTP_SMS_MAX_FAILURES", whole=True, minimum=0),
    "OTP_SMS_SENDER": lambda v: _optional_text("OTP_SMS_SENDER", v),
    "OTP_SMS_MESSAGE": message_text,
    "OTP_SMS_SITE_NAME": lambda v: "" if v is None else v,
    "OTP_SMS_BASE_TEMPLATE": lambda v: v or DEFAULTS["OTP_SMS_BASE_TEMPLATE"],
    "OTP_SMS_DEFAULT_REGION": lambda v: _region("OTP_SMS_DEFAULT_REGION", v),
    "OTP_SMS_GATEWAY_TIMEOUT": lambda v: seconds("OTP_SMS_GATEWAY_TIMEOUT", v),
    "OTP_SMS_CHALLENGE_BUDGET": lambda v: seconds("OTP_SMS_CHALLENGE_BUDGET", v),
    "OTP_SMS_BREAKER_CACHE": _cache_alias("OTP_SMS_BREAKER_CACHE", E014, optional=True),
    "OTP_SMS_BREAKER_MEMO": lambda v: seconds("OTP_SMS_BREAKER_MEMO", v, minimum=0, allow_minimum=True,
                                              check_id=E014, hint="Such as 1; 0 turns the memo off."),
    "OTP_SMS_DELIVERY_HEALTH": delivery_health,
    "OTP_SMS_DELIVERY_RECORD_DAYS": _record_days,
    "OTP_SMS_DELIVERY_RECORD_CACHE": _cache_alias("OTP_SMS_DELIVERY_RECORD_CACHE", E049, optional=True),
    "OTP_SMS_WEBHOOK_TOLERANCE": lambda v: seconds("OTP_SMS_WEBHOOK_TOLERANCE", v),
    "OTP_SMS_WEBHOOK_MAX_BYTES": lambda v: whole_number("OTP_SMS_WEBHOOK_MAX_BYTES", v, minimum=1),
    "OTP_SMS_DELIVERY_DEADLINE": _delivery_deadline,
    "OTP_SMS_LIMITS_CACHE": _cache_alias("OTP_SMS_LIMITS_CACHE", E009, optional=False),
    "OTP_SMS_ALLOWED_NON_GEOGRAPHIC": non_geographic,
    "OTP_SMS_RESTRICTED_NOTICE": _notice,
    "OTP_SMS_ALTERNATIVE_URL": alternative_url,
    "OTP_SMS_TEST_NUMBERS": read_test_numbers,
    "OTP_SMS_RISK_CHECKS": risk_checks,
}

#: Values derived from several settings.
DERIVED: dict[str, Callable[[Settings], Any]] = {
    "lockout": _lockout,
    "limits": _limits,
    "origin": _origin,
    "gateways": _gateways,
    "breaker_cache": lambda s: s.OTP_SMS_BREAKER_CACHE or s.OTP_SMS_LIMITS_CACHE,
}


class Settings:
    """The package's settings, converted; other names read Django's settings.

    ``lockout`` (:class:`LockoutPolicy`), ``limits`` (:class:`LimitsConfig`),
    ``origin`` (the origin-bound lines' :class:`~django_sms_gateway.text.OriginBinding`
    or None), ``gateways`` (alias -> :class:`GatewaySettings`, in order) and
    ``breaker_cache`` (the ``CACHES`` alias of the breaker state) are derived.
    """

    lockout: LockoutPolicy
    limits: LimitsConfig
    origin: OriginBinding | None
    gateways: dict[str, GatewaySettings]
    breaker_cache: str

    def raw(self, name: str) -> Any:
        """Setting ``name`` as the site wrote it, or its default."""
        return getattr(django.conf.settings, name, DEFAULTS[name])

    def __getattr__(self, name: str) -> Any:
        if name in DERIVED:
            value = DERIVED[name](self)
        elif name in DEFAULTS:
            raw = self.raw(name)
            reader = READERS.get(name)
            value = raw if reader is None else reader(raw)
        else:
            return getattr(django.conf.settings, name)
        self.__dict__[name] = value
        return value

    def forget(self, **kwargs: Any) -> None:
        """Drop every kept value (connected to ``setting_changed``)."""
        self.__dict__.clear()


settings = Settings()
setting_changed.connect(settings.forget, dispatch_uid="django_sms_gateway.conf")


# -- what only a start-up check reports -----------------------------------------------------------

Problem = ConfigurationError | ConfigurationWarning


def code_problems() -> list[Problem]:
    """Warnings for code settings that remove a cap: no throttling, codes
    shorter or longer-lived than NIST SP 800-63B allows."""

    problems: list[Problem] = []
    raw = settings.raw
    if raw("OTP_SMS_THROTTLE_FACTOR") == 0:
        problems.append(ConfigurationWarning(
            "OTP_SMS_THROTTLE_FACTOR is 0, so wrong codes are never throttled: a device can be guessed at "
            "as fast as requests arrive.",
            check_id=W011,
            hint="Remove OTP_SMS_THROTTLE_FACTOR (default 1) or set it to a positive number of seconds.",
        ))
    length = raw("OTP_SMS_TOKEN_LENGTH")
    if isinstance(length, int) and length < NIST_MIN_CODE_LENGTH:
        problems.append(ConfigurationWarning(
            f"OTP_SMS_TOKEN_LENGTH is {length}: codes shorter than {NIST_MIN_CODE_LENGTH} digits are easier "
            "to guess than NIST SP 800-63B allows.",
            check_id=W012,
            hint=f"Set OTP_SMS_TOKEN_LENGTH to {NIST_MIN_CODE_LENGTH} or more (default 6).",
        ))
    validity = raw("OTP_SMS_TOKEN_VALIDITY")
    if isinstance(validity, int | float) and validity > NIST_MAX_CODE_VALIDITY:
        problems.append(ConfigurationWarning(
            f"OTP_SMS_TOKEN_VALIDITY is {validity} seconds: codes stay valid longer than the "
            f"{NIST_MAX_CODE_VALIDITY // 60} minutes NIST SP 800-63B allows.",
            check_id=W013,
            hint=f"Set OTP_SMS_TOKEN_VALIDITY to {NIST_MAX_CODE_VALIDITY} seconds or less (default 300).",
        ))
    return problems


def unknown_setting_problems() -> list[Problem]:
    """A warning for each ``OTP_SMS_*`` (or ``SMS_GATEWAY*``) setting that
    nothing reads, naming the closest known setting: a misspelt name is
    otherwise ignored without a word."""

    known = sorted(DEFAULTS)
    problems: list[Problem] = []
    for name in sorted(dir(django.conf.settings)):
        if name in known or not (name.startswith("OTP_SMS_") or name.startswith("SMS_GATEWAY")):
            continue
        closest = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        problems.append(ConfigurationWarning(
            f"{name} is not a django-otp-sms-gateway setting, so it is ignored.",
            check_id=W014,
            hint=f"Did you mean {closest[0]}?" if closest else "See the settings reference for the known names.",
            obj=name,
        ))
    return problems


def implicit_console_problems() -> list[Problem]:
    """With no ``SMS_GATEWAYS`` and ``DEBUG = False`` the implicit console
    backend withholds every message (codes must not go to a production
    server's logs), so nobody receives a code."""

    if settings.raw("SMS_GATEWAYS") is not None or django.conf.settings.DEBUG:
        return []
    return [ConfigurationWarning(
        "SMS_GATEWAYS is not set and DEBUG is False: the implicit console backend withholds every message "
        "(it would print codes into the server's logs), so no user receives a code.",
        check_id=W015,
        hint=f"Configure a vendor backend in SMS_GATEWAYS (for example {EXAMPLE_BACKEND!r}).",
    )]


def cache_problems() -> list[Problem]:
    """The limits cache (``OTP_SMS_LIMITS_CACHE``) and breaker cache
    (``OTP_SMS_BREAKER_CACHE``) name caches in ``CACHES``; the limits cache
    is shared between processes in production; neither could hang a login."""

    problems: list[Problem] = []
    for name in ("OTP_SMS_LIMITS_CACHE", "OTP_SMS_BREAKER_CACHE"):
        try:
            getattr(settings, name)
        except ConfigurationError as exc:
            problems.append(exc)
    if problems:
        return problems
    caches = django.conf.settings.CACHES or {}
    alias = settings.OTP_SMS_LIMITS_CACHE
    if alias not in caches:
        problems.append(ConfigurationError(
            f"OTP_SMS_LIMITS_CACHE is {alias!r}, which is not in CACHES.",
            check_id=E009,
            hint=f"Set OTP_SMS_LIMITS_CACHE to one of {sorted(caches)} or add a {alias!r} cache to CACHES.",
        ))
    else:
        backend = str(caches[alias].get("BACKEND", ""))
        if backend in UNSHARED_CACHES and not django.conf.settings.DEBUG:
            problems.append(ConfigurationWarning(
                f"The SMS sending limits use cache {alias!r} ({backend.rsplit('.', 1)[-1]}), which does not "
                "share counts between processes or servers, so each worker enforces its own limits.",
                check_id=W003,
                hint="Point OTP_SMS_LIMITS_CACHE at a shared cache such as "
                "'django.core.cache.backends.redis.RedisCache' or Memcached.",
            ))
    breaker_alias = settings.OTP_SMS_BREAKER_CACHE
    if breaker_alias is not None and breaker_alias not in caches:
        problems.append(ConfigurationError(
            f"OTP_SMS_BREAKER_CACHE is {breaker_alias!r}, which is not in CACHES.",
            check_id=E014,
            hint=f"Set OTP_SMS_BREAKER_CACHE to one of {sorted(caches)}, add a {breaker_alias!r} cache to "
            "CACHES, or remove it to keep breaker state in the limits cache (OTP_SMS_LIMITS_CACHE).",
        ))
    problems.extend(record_cache_problems())
    uses: dict[str, list[str]] = {}
    try:
        limits_on = bool(limit_settings(settings.raw("OTP_SMS_LIMITS"), settings.raw("OTP_SMS_LIMIT_PREFIX_DIGITS"))[0])
    except ConfigurationError:
        limits_on = False  # check_limits reports it
    if limits_on:
        uses.setdefault(alias, []).append("sending limits")
    uses.setdefault(settings.breaker_cache, []).append("circuit breaker state")
    problems.extend(unbounded_cache_problems({name: " and ".join(held) for name, held in uses.items()}))
    problems.extend(delivery_health_cache_problems())
    return problems


REDIS_CACHE = "django.core.cache.backends.redis.RedisCache"


def record_cache_problems() -> list[Problem]:
    """``E049``: ``OTP_SMS_DELIVERY_RECORD_CACHE`` names no Redis cache in ``CACHES``."""
    name = "OTP_SMS_DELIVERY_RECORD_CACHE"
    try:
        alias = settings.OTP_SMS_DELIVERY_RECORD_CACHE
    except ConfigurationError as exc:
        return [exc]
    if alias is None:
        return []
    backend = str(((django.conf.settings.CACHES or {}).get(alias) or {}).get("BACKEND", ""))
    if backend == REDIS_CACHE:
        return []
    found = f"a {backend.rsplit('.', 1)[-1]} cache" if backend else "not in CACHES"
    return [ConfigurationError(
        f"{name} is {alias!r}, which is {found}; delivery records wait only in a Redis cache.",
        check_id=E049,
        hint=f"Point {name} at a cache whose BACKEND is {REDIS_CACHE!r}, or set it to None to write each "
        "send's records at once.",
        obj=name,
    )]


def delivery_health_cache_problems() -> list[Problem]:
    """``W022``: delivery health is on, ``DEBUG`` is False, and the breaker
    cache keeps its counts in each process: a receipt is counted by the
    process its webhook reached, so no process may see enough to trip."""
    try:
        if settings.OTP_SMS_DELIVERY_HEALTH is None or django.conf.settings.DEBUG:
            return []
    except ConfigurationError:
        return []  # E033, reported by check_codes
    alias = settings.breaker_cache
    backend = str(((django.conf.settings.CACHES or {}).get(alias) or {}).get("BACKEND", ""))
    if backend not in UNSHARED_CACHES:
        return []
    return [ConfigurationWarning(
        f"Delivery health (OTP_SMS_DELIVERY_HEALTH) counts receipts in cache {alias!r} "
        f"({backend.rsplit('.', 1)[-1]}), which each process keeps apart: a receipt is counted only by the "
        "process its webhook reached, so a gateway that fails a country may never be skipped.",
        check_id=W022,
        hint="Point OTP_SMS_BREAKER_CACHE (or OTP_SMS_LIMITS_CACHE) at a shared cache such as Redis or "
        "Memcached, or set OTP_SMS_DELIVERY_HEALTH = None.",
        obj="OTP_SMS_DELIVERY_HEALTH",
    )]


def unbounded_cache_problems(uses: dict[str, str]) -> list[Problem]:
    """``W016`` for each cache in ``uses`` (alias -> what it holds) whose
    server could hang a login: a Redis or Memcached cache without a socket
    timeout in its ``OPTIONS``."""
    found: list[Problem] = []
    for alias, held in uses.items():
        entry: dict[str, Any] = dict((django.conf.settings.CACHES or {}).get(alias) or {})
        needed = SOCKET_TIMEOUTS.get(str(entry.get("BACKEND", "")))
        options = entry.get("OPTIONS") or {}
        if needed is None or all(options.get(name) is not None for name in needed):
            continue
        example = ", ".join(f"{name!r}: 0.5" for name in needed)
        found.append(ConfigurationWarning(
            f"Cache {alias!r} holds the SMS {held} but sets no {' / '.join(needed)} in OPTIONS: "
            "a hung cache server would hold every login until the operating system gives up.",
            hint=f"Add {{{example}}} to CACHES[{alias!r}]['OPTIONS'] (seconds).",
            obj=f"CACHES[{alias!r}]",
            check_id=W016,
        ))
    return found


def proxy_problems(ip_limit_on: bool) -> list[Problem]:
    """``W017``: the settings say the site is behind a proxy
    (``SECURE_PROXY_SSL_HEADER``, ``USE_X_FORWARDED_HOST``/``_PORT``) but no
    client-IP header is configured, so every user would share one ``ip`` counter."""

    if not ip_limit_on or settings.raw("OTP_SMS_CLIENT_IP_HEADER") is not None:
        return []
    signs = [
        name for name in ("SECURE_PROXY_SSL_HEADER", "USE_X_FORWARDED_HOST", "USE_X_FORWARDED_PORT")
        if getattr(django.conf.settings, name, None)
    ]
    if not signs:
        return []
    return [ConfigurationWarning(
        f"{signs[0]} says the site runs behind a proxy, but OTP_SMS_CLIENT_IP_HEADER is not set: the 'ip' "
        "sending limit would count every user as the proxy's address.",
        hint="Behind a proxy, set OTP_SMS_CLIENT_IP_HEADER = 'HTTP_X_FORWARDED_FOR' and OTP_SMS_TRUSTED_PROXIES "
        "to the number of proxies in front of the site; see 'Client IP behind a proxy' in docs/limits.md.",
        obj="OTP_SMS_CLIENT_IP_HEADER",
        check_id=W017,
    )]


#: django-otp device classes (by module and name, with their subclasses) that are no unrestricted
#: alternative to a text message: text messages and calls (PSTN, NIST SP 800-63B rev. 4, 3.1.3.3),
#: email (3.1.3.1: never out-of-band) and printed backup codes (for recovery, not everyday sign-in).
RESTRICTED_DEVICES = frozenset({
    "django_sms_gateway.models.SMSDevice",
    "two_factor.plugins.phonenumber.models.PhoneDevice",
    "django_otp.plugins.otp_email.models.EmailDevice",
    "django_otp.plugins.otp_static.models.StaticDevice",
})
#: Apps whose second factors (TOTP, WebAuthn) are not django-otp devices.
OTHER_FACTOR_APPS = ("allauth.mfa",)


def unrestricted_factors() -> list[str]:
    """The installed second factors that are not restricted: every concrete
    django-otp ``Device`` model (``app_label.Model``) that is not, and does not
    extend, one of :data:`RESTRICTED_DEVICES`, and each installed app of
    :data:`OTHER_FACTOR_APPS`. Empty without django-otp (check E007)."""
    from django.apps import apps

    try:
        from django_otp.models import Device
    except ImportError:
        return []
    found: list[str] = []
    for model in apps.get_models():
        if not issubclass(model, Device) or model._meta.proxy:
            continue
        names = {f"{base.__module__}.{base.__qualname__}" for base in model.__mro__}
        if not names & RESTRICTED_DEVICES:
            found.append(model._meta.label)
    found.extend(app for app in OTHER_FACTOR_APPS if apps.is_installed(app))
    return found


def alternative_problems() -> list[Problem]:
    """``E044`` for a wrong notice setting or an ``OTP_SMS_ALTERNATIVE_URL``
    that does not resolve; ``W032`` when no unrestricted second factor is
    installed beside text messages (NIST SP 800-63B rev. 4, 3.2.9: a verifier
    that accepts a restricted authenticator offers at least one that is not)."""
    problems: list[Problem] = []
    for name in ("OTP_SMS_RESTRICTED_NOTICE", "OTP_SMS_ALTERNATIVE_URL"):
        try:
            getattr(settings, name)
        except ConfigurationError as exc:
            problems.append(exc)
    if not problems:
        try:
            alternative_link()
        except ConfigurationError as exc:
            problems.append(exc)
    from django.apps import apps

    if apps.is_installed("django_otp") and not unrestricted_factors():
        problems.append(ConfigurationWarning(
            "No second factor but text messages is installed: NIST SP 800-63B rev. 4 (3.2.9) restricts text "
            "messages and asks that users be offered at least one unrestricted alternative.",
            check_id=W032,
            hint="Add an authenticator-app or security-key device to INSTALLED_APPS, such as "
            "'django_otp.plugins.otp_totp' or django-otp-webauthn, and set OTP_SMS_ALTERNATIVE_URL to the page "
            "where users set it up. If the alternative lives outside django-otp, silence this with "
            "SILENCED_SYSTEM_CHECKS = ['sms_gateway.W032'].",
        ))
    return problems


def listed_number_problems() -> list[Problem]:
    """``E043`` for a wrong ``OTP_SMS_TEST_NUMBERS``; ``W033`` whenever it is
    set with ``DEBUG = False``, so that a production site lists them on
    purpose; ``W034`` for each listed number that phonenumbers reports as a
    valid number, which someone may own and enrol."""
    try:
        numbers = settings.OTP_SMS_TEST_NUMBERS
    except ConfigurationError as exc:
        return [exc]
    problems: list[Problem] = []
    if numbers and not django.conf.settings.DEBUG:
        problems.append(ConfigurationWarning(
            f"OTP_SMS_TEST_NUMBERS lists {len(numbers)} number(s) with DEBUG = False: a device with such a number "
            "is never sent a text message and takes a fixed code, so whoever knows the code and the account's "
            "password signs in.",
            check_id=W033,
            hint="Keep test numbers to review and staging sites, give each a code no one can guess, and silence "
            "this with SILENCED_SYSTEM_CHECKS = ['sms_gateway.W033'] once it is a deliberate choice.",
            obj="OTP_SMS_TEST_NUMBERS",
        ))
    if phonenumbers is not None:
        for number in numbers:
            try:
                valid = phonenumbers.is_valid_number(phonenumbers.parse(number, None))
            except phonenumbers.NumberParseException:
                valid = False
            if valid:
                problems.append(ConfigurationWarning(
                    f"OTP_SMS_TEST_NUMBERS lists {_hidden(number)}, a number that can be assigned to a real "
                    "phone: its owner would never get a code, and an account bound to it takes the fixed one.",
                    check_id=W034,
                    hint="Use a number from a range set aside for fiction: 555-0100 to 555-0199 after a North "
                    "American area code (such as +15555550100), or the UK's +44 7700 900000 to +44 7700 900999.",
                    obj="OTP_SMS_TEST_NUMBERS",
                ))
    return problems


def risk_budget_problems() -> list[Problem]:
    """``W035``: the risk checks' timeouts and the first gateway's leave no
    room in ``OTP_SMS_CHALLENGE_BUDGET``, so lookups that hang (and then let
    the send through, failing open) would leave the first gateway less than
    its own timeout."""
    try:
        checks, budget = settings.OTP_SMS_RISK_CHECKS, settings.OTP_SMS_CHALLENGE_BUDGET
        first = next(iter(settings.gateways.values()), None)
    except ConfigurationError:
        return []  # reported by the checks of those settings
    if not checks or first is None:
        return []
    lookups = sum(check.timeout for check in checks)
    if lookups + first.timeout <= budget:
        return []
    return [ConfigurationWarning(
        f"The risk checks may take {lookups:g} seconds and gateway {first.alias!r} {first.timeout:g}, more than "
        f"OTP_SMS_CHALLENGE_BUDGET ({budget:g}): lookups that hang would leave the gateway too little time to "
        "send the code.",
        check_id=W035,
        hint="Lower the risk checks' TIMEOUT or raise OTP_SMS_CHALLENGE_BUDGET; the lookups' time comes out of "
        "the same budget as the gateways'.",
        obj="OTP_SMS_RISK_CHECKS",
    )]
