"""Sending limits: the policy against SMS pumping (toll fraud) and floods.

Every code sent costs money, and a premium or fraudulent number range can
turn a login page into a money pump. Before anything is written or sent,
:func:`check_send` applies, in this order:

1. the allowlists (no cache cost): ``OTP_SMS_ALLOWED_COUNTRIES``,
   ``OTP_SMS_ALLOWED_NUMBER_TYPES`` and the refusal of non-geographic
   numbers (:func:`~django_sms_gateway.phone.non_geographic_refused`);
2. the budgets of whoever asks: ``user`` (one account) and ``ip`` (one
   client address, an IPv6 /64). A send they refuse touches nothing else;
3. the budgets shared with others: ``number``, ``prefix`` (the number without
   its last ``OTP_SMS_LIMIT_PREFIX_DIGITS`` digits) and ``global`` (every send
   to one destination country; ``OTP_SMS_COUNTRY_LIMITS`` sizes it per country).

Nobody can use up the budget of a number's owner. A send for a *confirmed*
device (its user proved they receive texts at the number) is counted in
``number`` per owner, and not in ``prefix``. Every other send to the number
(enrolment, another account that typed the number) shares one ``number``
budget and the ``prefix`` budget, which the owner's logins never need.

Each counter is a sliding window (:mod:`django_sms_gateway.counters`): at most
``sends`` in any ``seconds``, with no boundary to burst across. A refused
send counts against nothing, and :meth:`Reservation.release` gives a send's
counts back when it reached no vendor. A counter whose subject is unknown
(no client IP without a request, no user) is not applied. Cache keys never
hold a raw number or address: they are an HMAC (keyed with ``SECRET_KEY``).

When the limits cache cannot be reached, the limits count in each process
for a few seconds (an ERROR log line, at most once a minute) instead of
refusing every login; ``OTP_SMS_LIMITS_FAIL_CLOSED = True`` refuses instead.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import phonenumbers
from django.conf import settings as django_settings
from django.core.cache import BaseCache
from django.core.checks import CheckMessage
from django.core.signals import setting_changed
from django.dispatch import receiver
from phonenumbers import NumberParseException, PhoneNumberType

from . import counters, signals
from .client_ip import client_address, ip_settings, limit_key, proxy_warnings
from .conf import DEFAULTS, settings
from .exceptions import (
    Attempt,
    ConfigurationError,
    DeliveryFailed,
    NoGatewayForNumber,
    RecipientNotReachable,
    SendLimitExceeded,
)
from .log_throttle import LogThrottle
from .middleware import current_request
from .phone import allowed_non_geographic, mask_number, non_geographic_refused

logger = logging.getLogger("django_sms_gateway")

#: The counters, most specific first: when several are hit, the first names the refusal.
LIMIT_NAMES = ("number", "prefix", "user", "ip", "global")
#: Budgets of the one who asks, applied before the budgets shared with others.
REQUESTER_LIMITS = ("user", "ip")
#: Types a number may have to pass :func:`~django_sms_gateway.phone.normalize_number`;
#: an allowlist can only narrow them.
RECEIVING_TYPES = ("MOBILE", "FIXED_LINE_OR_MOBILE")
#: ``limit`` of the refusal when the limits cache cannot be reached (fail closed).
UNAVAILABLE = "unavailable"
KEY_PREFIX = "sms_gateway:limit"
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
class Limit:
    """One counter: at most ``count`` sends in any ``seconds``."""

    name: str
    count: int
    seconds: int


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
_cache_warnings = LogThrottle()


@receiver(setting_changed)
def _forget_config(*, setting: str, **kwargs: Any) -> None:
    global _config, _cache_warnings
    if setting in _SETTINGS:
        _config = None
    if setting in ("CACHES", "OTP_SMS_LIMITS_CACHE"):
        counters.forget_failures()
        _cache_warnings = LogThrottle()


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


def setting_warnings() -> list[CheckMessage]:
    """``sms_gateway.W012``: the limits or breaker cache could hang a login;
    ``sms_gateway.W013``: the site is behind a proxy but the ``ip`` limit would not see clients."""
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


@lru_cache(maxsize=4096)
def _number_info(e164: str) -> tuple[str | None, int | None]:
    try:
        parsed = phonenumbers.parse(e164, None)
    except NumberParseException:
        return None, None
    return phonenumbers.region_code_for_number(parsed), phonenumbers.number_type(parsed)


class Reservation:
    """The counts one allowed send holds. :meth:`release` gives them back, for
    a send that then reached no vendor (every gateway skipped or refused
    before anything was sent, a lost cooldown race, a database error)."""

    def __init__(self, held: Sequence[counters.Tally] = (), alias: str = "") -> None:
        self._held = tuple(held)
        self._alias = alias

    def release(self) -> None:
        """Give the counts back (once; later calls do nothing). Never raises,
        and leaves a shared cache that just failed alone rather than wait on it."""
        held, self._held = self._held, ()
        for tally in held:
            if tally.shared and counters.shared_cache_failed_recently(self._alias):
                continue
            _lower_quietly(tally.cache, tally.raised)

    #: Deprecated alias of :meth:`release`.
    refund = release


#: Deprecated alias of :class:`Reservation`.
Charge = Reservation


def reached_a_vendor(attempts: Iterable[Attempt]) -> bool:
    """Whether any attempt may have reached a vendor (and been billed): a
    failure that surely never left (``not_sent``, such as a refused
    connection) or a skipped gateway did not."""
    return any(
        attempt.outcome == "sent" or (attempt.outcome == "failed" and not (attempt.error and attempt.error.not_sent))
        for attempt in attempts
    )


def _lower_quietly(cache: BaseCache, raised: Sequence[counters.Bucket]) -> None:
    try:
        counters.lower(cache, raised)
    except Exception as exc:
        logger.warning(
            "SMS sending limits cache %r: could not give back the counts of a send (%s)",
            settings.OTP_SMS_LIMITS_CACHE, type(exc).__name__,
        )


def _digest(cfg: LimitsConfig, name: str, subject: str) -> str:
    mac = cfg.hmac.copy()
    mac.update(f"{name}\0{subject}".encode())
    return str(mac.hexdigest()[:24])


def _refuse(sender: Any, limit: str, masked: str, message: Any) -> SendLimitExceeded:
    """Send ``limit_hit`` for a refusal that no counter made and build the exception."""
    signals.limit_hit.send(sender=sender, limit=limit, number=masked, key=None, retry_after=None)
    return SendLimitExceeded(limit=limit, message=str(message))


def _check_number(cfg: LimitsConfig, number: str, sender: Any) -> str | None:
    """Apply the allowlists; return the number's region."""
    region, kind = _number_info(number)
    if cfg.countries and region not in cfg.countries:
        masked = mask_number(number)
        logger.warning("SMS to %s refused: its country %s is not in OTP_SMS_ALLOWED_COUNTRIES", masked, region)
        raise _refuse(sender, "country", masked, NoGatewayForNumber.default_message)
    if kind not in cfg.number_types:
        masked = mask_number(number)
        logger.warning("SMS to %s refused: its number type is not in OTP_SMS_ALLOWED_NUMBER_TYPES", masked)
        raise _refuse(sender, "number_type", masked, RecipientNotReachable.default_message)
    if non_geographic_refused(number):
        masked = mask_number(number)
        logger.warning("SMS to %s refused: non-geographic, not in OTP_SMS_ALLOWED_NON_GEOGRAPHIC", masked)
        raise _refuse(sender, "non_geographic", masked, RecipientNotReachable.default_message)
    return region


def _counters(
    cfg: LimitsConfig, number: str, region: str | None, user_id: Any, confirmed: bool, request: Any
) -> tuple[list[tuple[Limit, str]], list[tuple[Limit, str]]]:
    """The requester's and the shared counters that apply, each as (limit, opaque key)."""
    user = None if user_id is None else str(user_id)
    owner = confirmed and user is not None
    subjects: dict[str, str | None] = {
        "number": f"{number}\0owner\0{user}" if owner else f"{number}\0others",
        "prefix": None if owner else number[: -cfg.prefix_digits],
        "user": user,
        "ip": None,
        "global": region or "unknown",
    }
    if any(limit.name == "ip" for limit in cfg.limits):
        if request is None:
            request = current_request()
        address = client_address(request, cfg.ip_header, cfg.ip_proxies) if request is not None else None
        subjects["ip"] = limit_key(address) if address is not None else None
    requester: list[tuple[Limit, str]] = []
    shared: list[tuple[Limit, str]] = []
    for configured in cfg.limits:
        subject = subjects[configured.name]
        limit = cfg.country_limits.get(subject, configured) if configured.name == "global" and subject else configured
        if subject is None or limit is None:
            continue
        opaque = f"global:{subject}" if limit.name == "global" else f"{limit.name}:{_digest(cfg, limit.name, subject)}"
        (requester if limit.name in REQUESTER_LIMITS else shared).append((limit, opaque))
    return requester, shared


def check_send(
    number: str, *, user_id: Any = None, request: Any = None, sender: Any = None, confirmed: bool = False
) -> Reservation:
    """Apply every sending limit to one send to ``number`` (E.164) and count it.

    ``request`` gives the client IP; without one, the request kept by
    :class:`~django_sms_gateway.middleware.SMSRequestMiddleware` is used.
    ``user_id`` feeds the ``user`` limit; ``confirmed`` says the device is
    confirmed, so the send counts in its owner's own ``number`` budget.
    Returns the :class:`Reservation` of the counts taken. Raises
    :class:`~django_sms_gateway.exceptions.SendLimitExceeded` (user-safe
    text, ``retry_after`` in seconds) after sending ``signals.limit_hit``
    and logging the masked number.
    """
    cfg = config()
    sender = sender if sender is not None else check_send
    region = _check_number(cfg, number, sender)
    if not cfg.limits:
        return Reservation()
    now = time.time()
    held: list[counters.Tally] = []
    for group in _counters(cfg, number, region, user_id, confirmed, request):
        if not group:
            continue
        tally = _count(cfg, group, now, number, sender, held)
        held.append(tally)
        hit = [
            (limit, opaque, counters.retry_after(_as_counter(limit, opaque), buckets, now))
            for (limit, opaque), buckets in zip(group, tally.buckets, strict=True)
            if sum(buckets) > limit.count
        ]
        if hit:
            Reservation(held, cfg.cache_alias).release()
            raise _refused_by(hit, number, sender)
    return Reservation(held, cfg.cache_alias)


def _as_counter(limit: Limit, opaque: str) -> counters.Counter:
    return counters.Counter(f"{KEY_PREFIX}:{opaque}", limit.count, limit.seconds)


def _count(
    cfg: LimitsConfig, group: Sequence[tuple[Limit, str]], now: float, number: str, sender: Any,
    held: list[counters.Tally],
) -> counters.Tally:
    alias = cfg.cache_alias
    try:
        tally = counters.raise_counters(
            alias, [_as_counter(limit, opaque) for limit, opaque in group], now, fallback=not cfg.fail_closed
        )
    except counters.SharedCacheDown as down:
        Reservation(held, alias).release()
        masked = mask_number(number)
        held_back = _cache_warnings.allow((alias, "closed"))
        if held_back is not None:
            logger.error(
                "SMS sending limits cache %r is unreachable (%s); refusing to send to %s (limits fail closed: "
                "OTP_SMS_LIMITS_FAIL_CLOSED; %d more such refusals since the last line)",
                alias, down.error, masked, held_back,
            )
        raise _refuse(sender, UNAVAILABLE, masked, DeliveryFailed.default_message) from None
    if not tally.shared:
        held_back = _cache_warnings.allow((alias, "local"))
        if held_back is not None:
            logger.error(
                "SMS sending limits cache %r is unreachable (%s); counting in this process only for the next "
                "%d s (%d more sends since the last such line)",
                alias, tally.error, counters.FALLBACK_SECONDS, held_back,
            )
    return tally


def _refused_by(hit: Sequence[tuple[Limit, str, int]], number: str, sender: Any) -> SendLimitExceeded:
    masked = mask_number(number)
    retry_after = max(wait for _limit, _opaque, wait in hit)
    logger.warning(
        "SMS to %s refused: sending limit %s hit (retry in %d s)",
        masked, ", ".join(f"{limit.name} {limit.count}/{limit.seconds}s" for limit, _opaque, _wait in hit),
        retry_after,
    )
    for limit, opaque, wait in hit:
        signals.limit_hit.send(sender=sender, limit=limit.name, number=masked, key=opaque, retry_after=wait)
    return SendLimitExceeded(limit=hit[0][0].name, retry_after=retry_after)
