"""The sending-limit settings, read and validated in one place.

Every setting is checked where it is read: a wrong value raises
:class:`~django_sms_gateway.exceptions.ConfigurationError` with its check id
(``sms_gateway.E012`` for the limits, the client-IP settings and
``OTP_SMS_LIMITS_FAIL_CLOSED``; ``sms_gateway.E013`` for the allowlists), which
:mod:`django_sms_gateway.checks` only reports. :func:`config` keeps the
validated result until a setting changes.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import phonenumbers
from django.conf import settings as django_settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from phonenumbers import PhoneNumberType

from . import counters
from .client_ip import ip_settings, proxy_warnings
from .conf import DEFAULTS, settings
from .counters import Limit
from .exceptions import ConfigurationError, ConfigurationWarning
from .phone import allowed_non_geographic

#: The counters, most specific first: when several are hit, the first names the refusal.
LIMIT_NAMES = ("number", "prefix", "user", "ip", "global")
#: Types a number may have to pass :func:`~django_sms_gateway.phone.normalize_number`;
#: an allowlist can only narrow them.
RECEIVING_TYPES = ("MOBILE", "FIXED_LINE_OR_MOBILE")
_LIMITS_HINT = (
    "Write OTP_SMS_LIMITS as {'number': (5, 3600), 'ip': None, ...} with the limits number, prefix, user, ip "
    "and global; see docs/limits.md."
)
_ALLOWLIST_HINT = (
    "Write OTP_SMS_ALLOWED_COUNTRIES as ISO 3166 codes (['NO', 'SE'], empty for all) and "
    "OTP_SMS_ALLOWED_NUMBER_TYPES as ['MOBILE', 'FIXED_LINE_OR_MOBILE'] or a part of it."
)
_SETTINGS = frozenset(
    {
        "CACHES",
        "OTP_SMS_LIMITS",
        "OTP_SMS_COUNTRY_LIMITS",
        "OTP_SMS_LIMITS_FAIL_CLOSED",
        "OTP_SMS_LIMIT_PREFIX_DIGITS",
        "OTP_SMS_ALLOWED_COUNTRIES",
        "OTP_SMS_ALLOWED_NUMBER_TYPES",
        "OTP_SMS_ALLOWED_NON_GEOGRAPHIC",
        "OTP_SMS_LIMITS_CACHE",
        "OTP_SMS_CLIENT_IP_HEADER",
        "OTP_SMS_TRUSTED_PROXIES",
        "SECRET_KEY",
    }
)


@dataclass(frozen=True, slots=True)
class LimitsConfig:
    limits: tuple[Limit, ...]
    country_limits: Mapping[str, Limit | None]
    prefix_digits: int
    countries: frozenset[str]
    number_types: frozenset[int]
    cache_alias: str
    fail_closed: bool
    ip_header: str | None
    ip_proxies: int
    hmac: Any  # keyed HMAC-SHA256, copied for each subject


_config: LimitsConfig | None = None


@receiver(setting_changed)
def _forget_config(*, setting: str, **kwargs: Any) -> None:
    global _config
    if setting in _SETTINGS:
        _config = None


def _limit(name: str, value: Any, where: str) -> Limit | None:
    if value is None:
        return None
    if (
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and len(value) == 2
        and all(isinstance(part, int) and not isinstance(part, bool) and part >= 1 for part in value)
    ):
        return Limit(name, value[0], value[1])
    raise ConfigurationError(
        f"{where} is {value!r}; write (sends, seconds) with whole numbers of at least 1, such as "
        f"(5, 3600), or None to turn it off.",
        check_id="sms_gateway.E012", hint=_LIMITS_HINT, obj=where,
    )


def limit_settings() -> tuple[tuple[Limit, ...], int]:
    """The enabled counters (in :data:`LIMIT_NAMES` order) and the prefix digits.

    ``OTP_SMS_LIMITS`` may name only some limits (merged over the defaults);
    ``None`` as a value turns that limit off, and ``OTP_SMS_LIMITS = None``
    turns every counter off. Raises :class:`ConfigurationError`
    (``sms_gateway.E012``) naming the key that is wrong.
    """
    configured = settings.OTP_SMS_LIMITS
    merged: dict[str, Any]
    if configured is None:
        merged = dict.fromkeys(LIMIT_NAMES)
    elif isinstance(configured, Mapping):
        unknown = [key for key in configured if key not in LIMIT_NAMES]
        if unknown:
            raise ConfigurationError(
                f"OTP_SMS_LIMITS has an unknown limit {unknown[0]!r}; the limits are {', '.join(LIMIT_NAMES)}.",
                check_id="sms_gateway.E012", hint=_LIMITS_HINT, obj="OTP_SMS_LIMITS",
            )
        merged = {**DEFAULTS["OTP_SMS_LIMITS"], **configured}
    else:
        raise ConfigurationError(
            f"OTP_SMS_LIMITS must be a dict of limit name -> (sends, seconds) or None, not {configured!r}.",
            check_id="sms_gateway.E012", hint=_LIMITS_HINT, obj="OTP_SMS_LIMITS",
        )
    limits = [_limit(name, merged.get(name), f"OTP_SMS_LIMITS[{name!r}]") for name in LIMIT_NAMES]
    digits = settings.OTP_SMS_LIMIT_PREFIX_DIGITS
    if isinstance(digits, bool) or not isinstance(digits, int) or not 1 <= digits <= 6:
        raise ConfigurationError(
            f"OTP_SMS_LIMIT_PREFIX_DIGITS must be a whole number from 1 to 6 (digits dropped from the end "
            f"of a number for the 'prefix' limit), not {digits!r}.",
            check_id="sms_gateway.E012", hint="The default, 3, counts ranges of 1,000 neighbouring numbers.",
            obj="OTP_SMS_LIMIT_PREFIX_DIGITS",
        )
    return tuple(limit for limit in limits if limit is not None), digits


def country_limit_settings() -> dict[str, Limit | None]:
    """``OTP_SMS_COUNTRY_LIMITS``, validated: region -> its ``global`` limit (None: off)."""
    configured = settings.OTP_SMS_COUNTRY_LIMITS or {}
    hint = "Write OTP_SMS_COUNTRY_LIMITS as {'NO': (200000, 3600), 'NG': (50, 3600)}; other countries get "
    hint += "OTP_SMS_LIMITS['global']."
    if not isinstance(configured, Mapping):
        raise ConfigurationError(
            f"OTP_SMS_COUNTRY_LIMITS must be a dict of ISO 3166 region -> (sends, seconds), not {configured!r}.",
            check_id="sms_gateway.E012", hint=hint, obj="OTP_SMS_COUNTRY_LIMITS",
        )
    limits: dict[str, Limit | None] = {}
    for region, value in configured.items():
        if not isinstance(region, str) or region.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise ConfigurationError(
                f"OTP_SMS_COUNTRY_LIMITS has {region!r}, which is not an ISO 3166 region code (such as 'NO').",
                check_id="sms_gateway.E012", hint=hint, obj="OTP_SMS_COUNTRY_LIMITS",
            )
        limits[region.upper()] = _limit("global", value, f"OTP_SMS_COUNTRY_LIMITS[{region!r}]")
    return limits


def fail_closed_setting() -> bool:
    value = settings.OTP_SMS_LIMITS_FAIL_CLOSED
    if not isinstance(value, bool):
        raise ConfigurationError(
            f"OTP_SMS_LIMITS_FAIL_CLOSED must be True or False, not {value!r}.",
            check_id="sms_gateway.E012",
            hint="False (the default) counts in each process while the limits cache is down; True refuses "
            "every send meanwhile.",
            obj="OTP_SMS_LIMITS_FAIL_CLOSED",
        )
    return value


def allowlist_settings() -> tuple[frozenset[str], frozenset[int]]:
    """``OTP_SMS_ALLOWED_COUNTRIES`` and ``OTP_SMS_ALLOWED_NUMBER_TYPES``, validated.

    Raises :class:`ConfigurationError` (``sms_gateway.E013``) naming the entry that is wrong.
    """
    countries = settings.OTP_SMS_ALLOWED_COUNTRIES or ()
    if isinstance(countries, str) or not isinstance(countries, Iterable) or not all(
        isinstance(c, str) for c in countries
    ):
        raise ConfigurationError(
            f"OTP_SMS_ALLOWED_COUNTRIES must be a list of ISO 3166 region codes such as ['NO', 'SE'], "
            f"not {countries!r}.",
            check_id="sms_gateway.E013", hint=_ALLOWLIST_HINT, obj="OTP_SMS_ALLOWED_COUNTRIES",
        )
    for country in countries:
        if country.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise ConfigurationError(
                f"OTP_SMS_ALLOWED_COUNTRIES has {country!r}, which is not an ISO 3166 region code "
                "(two letters, such as 'NO').",
                check_id="sms_gateway.E013", hint=_ALLOWLIST_HINT, obj="OTP_SMS_ALLOWED_COUNTRIES",
            )
    names = settings.OTP_SMS_ALLOWED_NUMBER_TYPES
    if isinstance(names, str) or not isinstance(names, Iterable) or not names or not all(
        isinstance(n, str) for n in names
    ):
        raise ConfigurationError(
            f"OTP_SMS_ALLOWED_NUMBER_TYPES must be a non-empty list of phonenumbers type names, "
            f"such as {list(RECEIVING_TYPES)}, not {names!r}.",
            check_id="sms_gateway.E013", hint=_ALLOWLIST_HINT, obj="OTP_SMS_ALLOWED_NUMBER_TYPES",
        )
    types = set()
    for name in names:
        if name.upper() not in RECEIVING_TYPES:
            known = hasattr(PhoneNumberType, name.upper())
            raise ConfigurationError(
                f"OTP_SMS_ALLOWED_NUMBER_TYPES has {name!r}, "
                + ("a kind of number that cannot receive codes" if known else "which is not a phonenumbers type")
                + f"; choose from {', '.join(RECEIVING_TYPES)}.",
                check_id="sms_gateway.E013", hint=_ALLOWLIST_HINT, obj="OTP_SMS_ALLOWED_NUMBER_TYPES",
            )
        types.add(getattr(PhoneNumberType, name.upper()))
    return frozenset(c.upper() for c in countries), frozenset(types)


def config() -> LimitsConfig:
    """Every limit setting, validated once (again after ``override_settings``)."""
    global _config
    if _config is None:
        limits, digits = limit_settings()
        countries, types = allowlist_settings()
        allowed_non_geographic()
        header, proxies = ip_settings()
        secret = str(django_settings.SECRET_KEY).encode()
        key = hashlib.sha256(b"django_sms_gateway.limits\0" + secret).digest()
        _config = LimitsConfig(
            limits, country_limit_settings(), digits, countries, types, str(settings.OTP_SMS_LIMITS_CACHE),
            fail_closed_setting(), header, proxies, hmac.new(key, digestmod=hashlib.sha256),
        )
    return _config


def validate() -> None:
    """Raise :class:`ConfigurationError` for the first limit setting that is wrong."""
    limit_settings()
    country_limit_settings()
    fail_closed_setting()
    allowlist_settings()
    allowed_non_geographic()
    ip_settings()


def setting_errors() -> list[ConfigurationError]:
    """Every limit setting's error (at most one per setting group), for the system checks."""
    found = []
    for read in (limit_settings, country_limit_settings, fail_closed_setting, ip_settings, allowlist_settings,
                 allowed_non_geographic):
        try:
            read()
        except ConfigurationError as exc:
            found.append(exc)
    return found


def setting_warnings() -> list[ConfigurationWarning]:
    """``sms_gateway.W016``: the limits or breaker cache could hang a login;
    ``sms_gateway.W017``: the site is behind a proxy but the ``ip`` limit would not see clients."""
    try:
        enabled = {limit.name for limit in limit_settings()[0]}
    except ConfigurationError:
        return []  # reported by setting_errors()
    uses: dict[str, list[str]] = {}
    if enabled:
        uses.setdefault(str(settings.OTP_SMS_LIMITS_CACHE), []).append("sending limits")
    breaker_cache = settings.OTP_SMS_BREAKER_CACHE or settings.OTP_SMS_LIMITS_CACHE
    uses.setdefault(str(breaker_cache), []).append("circuit breaker state")
    return [
        *counters.unbounded_cache_warnings({alias: " and ".join(held) for alias, held in uses.items()}),
        *proxy_warnings("ip" in enabled),
    ]


