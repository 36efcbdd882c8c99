"""Sending limits: the policy against SMS pumping (toll fraud) and floods.

Every code sent costs money, and a premium or fraudulent number range can
turn a login page into a money pump. Before anything is written or sent,
:func:`check_send` applies, in this order:

1. the allowlists (no cache cost): ``OTP_SMS_ALLOWED_COUNTRIES``,
   ``OTP_SMS_ALLOWED_NUMBER_TYPES`` and ``OTP_SMS_ALLOWED_NON_GEOGRAPHIC``
   (non-geographic numbers outside it are refused);
2. the budgets of whoever asks: ``user`` (one account) and ``ip`` (one
   client address, an IPv6 /64). A send they refuse is judged by nothing
   else, and every count it took is given back at once;
3. the budgets shared with others: ``number``, ``prefix`` (the number without
   its last ``OTP_SMS_LIMIT_PREFIX_DIGITS`` digits) and ``global`` (every send
   to one destination country; ``OTP_SMS_COUNTRY_LIMITS`` sizes it per country).

Nobody can use up the budget of a number's owner. A send for a *confirmed*
device (its user proved they receive texts at the number) is counted in
``number`` per owner, and not in ``prefix``. Every other send to the number
(enrolment, another account that typed the number) shares one ``number``
budget and the ``prefix`` budget, which the owner's logins never need.

The fraud guard (``OTP_SMS_FRAUD_GUARD``, :func:`note_verified`) counts, in
the same round trip as the shared budgets, each send and each entered code
per number range (calling code and leading national digits) and for the
site, and throttles, then blocks, the ranges whose codes are sent but rarely
entered against the rest of the site's conversion (SMS pumping). Confirmed
owners are neither counted nor refused by it. Operators' decisions
(:func:`decide_range`, the ``NumberRange`` model) are kept in the cache and
read by every send.

Every counter of one send (both groups of budgets and the guard's) is raised
in one cache round trip (one Redis pipeline). So a send the requester's
budgets refuse holds one count in the shared budgets and the guard's ranges
for as long as that round trip and the one giving it back take (a
millisecond or two on Redis): a concurrent send to the same number or
prefix can be refused in that moment by a budget it would just fit in.

Each counter is a sliding window (:mod:`django_sms_gateway.limits.counters`): at most
``sends`` in any ``seconds``, with no boundary to burst across. A refused
send counts against nothing, and :meth:`Reservation.release` gives a send's
counts back when it reached no vendor. A counter whose subject is unknown
(no client IP without a request, no user) is not applied. Cache keys never
hold a raw number or address: they are an HMAC (keyed with ``SECRET_KEY``).

The client's address (:func:`client_ip`) is read by python-ipware. By default
it is ``REMOTE_ADDR``, the address that connected to Django. Behind reverse
proxies a site names the header they fill (``OTP_SMS_CLIENT_IP_HEADER``, a
``request.META`` key such as ``"HTTP_X_FORWARDED_FOR"``) and how many proxies
append to it (``OTP_SMS_TRUSTED_PROXIES``). Each proxy appends the address it
received the request from, so with ``N`` trusted proxies the client is the
``N``-th entry from the right; anything left of it may have been written by the
client and is ignored.

The settings are read and validated in :mod:`django_sms_gateway.conf`
(``settings.limits``); every cache operation is in :mod:`django_sms_gateway.limits.counters`.

When the limits cache cannot be reached, the limits count in each process
for a few seconds (an ERROR log line, at most once a minute) instead of
refusing every login; ``OTP_SMS_LIMITS_FAIL_CLOSED = True`` refuses instead.

:func:`clear` empties the counters of a user, a number or an address (for
support: ``manage.py clearsmslimits`` and the admin's "Clear sending limits").
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from collections.abc import Iterable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.core.cache import BaseCache
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest
from python_ipware import IpWare

from .. import signals
from ..conf import GUARD_BUCKETS, FraudGuard, Limit, LimitsConfig, settings
from ..exceptions import (
    DeliveryFailed,
    FraudGuardRefused,
    NoGatewayForNumber,
    RecipientNotReachable,
    SendLimitExceeded,
)
from ..phone import NON_GEOGRAPHIC_REGION, mask_number, phonenumbers, region_and_type
from ..signals import LogThrottle
from . import counters

__all__ = [
    "FORWARDED_HEADERS", "IPV6_PREFIX", "KEY_PREFIX", "REQUESTER_LIMITS", "UNAVAILABLE", "Cleared", "Reservation",
    "RangeFigures", "check_send", "clear", "client_ip", "decide_range", "limit_key", "note_verified",
    "range_figures", "ranges_of",
]

logger = logging.getLogger("django_sms_gateway")

#: The request being handled, kept by :class:`~django_sms_gateway.middleware.SMSRequestMiddleware`
#: for sends that are given none (django-otp's forms, django-two-factor-auth's gateway).
handled_request: ContextVar[HttpRequest | None] = ContextVar("django_sms_gateway_request", default=None)


def current_request() -> HttpRequest | None:
    """The request being handled in this context, if the middleware is installed."""
    return handled_request.get()

#: Budgets of the one who asks, applied before the budgets shared with others.
REQUESTER_LIMITS = ("user", "ip")
#: ``limit`` of the refusal when the limits cache cannot be reached (fail closed).
UNAVAILABLE = "unavailable"
KEY_PREFIX = "sms_gateway:limit"
#: Subject digests (HMACs) remembered per process: a number's, its prefix's and ranges', a user's, an address's.
DIGESTS_KEPT = 2048
#: IPv6 clients are counted per /64: one subscriber usually gets a whole /64.
IPV6_PREFIX = 64
#: ``request.META`` keys a reverse proxy or load balancer sets.
FORWARDED_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")

#: python-ipware reads the one address it is given under this name.
_ENTRY = "ADDRESS"
_ADDRESS_READER = IpWare(precedence=(_ENTRY,), proxy_count=0, algorithm="modern")

_cache_warnings = LogThrottle()
_fallback_warnings = LogThrottle()
_proxy_warnings = LogThrottle()


@receiver(setting_changed)
def _forget_cache_state(*, setting: str, **kwargs: Any) -> None:
    global _cache_warnings
    if setting in ("CACHES", "OTP_SMS_LIMITS_CACHE"):
        counters.forget_failures()
        _cache_warnings = LogThrottle()


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
            _lower_quietly(tally.cache, tally.raised, self._alias)


def _lower_quietly(cache: BaseCache, raised: Sequence[counters.Bucket], alias: str) -> None:
    try:
        counters.lower(cache, raised)
    except Exception as exc:
        logger.warning(
            "SMS sending limits cache %r: could not give back the counts of a send (%s)", alias, type(exc).__name__
        )


def _digest(cfg: LimitsConfig, name: str, subject: str) -> str:
    return _keyed_digest(cfg.hmac, name, subject)


@lru_cache(maxsize=DIGESTS_KEPT)
def _keyed_digest(keyed: Any, name: str, subject: str) -> str:
    """HMAC of one subject under ``keyed`` (the settings' HMAC, which a new
    ``SECRET_KEY`` replaces: the old one's digests are then never looked up)."""
    mac = keyed.copy()
    mac.update(f"{name}\0{subject}".encode())
    return str(mac.hexdigest()[:24])


def _refuse(sender: Any, limit: str, masked: str, message: Any) -> SendLimitExceeded:
    """Send ``limit_hit`` for a refusal that no counter made and build the exception."""
    signals.limit_hit.send(sender=sender, limit=limit, number=masked, key=None, retry_after=None)
    return SendLimitExceeded(limit=limit, message=str(message))


def _check_number(cfg: LimitsConfig, number: str, sender: Any) -> str | None:
    """Apply the allowlists; return the number's region."""
    region, kind = region_and_type(number)
    if cfg.countries and region not in cfg.countries:
        masked = mask_number(number)
        logger.warning("SMS to %s refused: its country %s is not in OTP_SMS_ALLOWED_COUNTRIES", masked, region)
        raise _refuse(sender, "country", masked, NoGatewayForNumber.default_message)
    if kind not in cfg.number_types:
        masked = mask_number(number)
        logger.warning("SMS to %s refused: its number type is not in OTP_SMS_ALLOWED_NUMBER_TYPES", masked)
        raise _refuse(sender, "number_type", masked, RecipientNotReachable.default_message)
    if region == NON_GEOGRAPHIC_REGION and not number.startswith(cfg.non_geographic):
        masked = mask_number(number)
        logger.warning("SMS to %s refused: non-geographic, not in OTP_SMS_ALLOWED_NON_GEOGRAPHIC", masked)
        raise _refuse(sender, "non_geographic", masked, RecipientNotReachable.default_message)
    return region


def _number_subject(number: str, owner: str | None) -> str:
    """The subject of the ``number`` budget: the confirmed owner's own, or everyone else's."""
    return f"{number}\0owner\0{owner}" if owner is not None else f"{number}\0others"


def _opaque(cfg: LimitsConfig, name: str, subject: str) -> str:
    """The opaque key of one subject's counter of the limit ``name`` (no number or address in it)."""
    return f"global:{subject}" if name == "global" else f"{name}:{_digest(cfg, name, subject)}"


def _counters(
    cfg: LimitsConfig, number: str, region: str | None, user_id: Any, confirmed: bool, request: Any
) -> tuple[list[tuple[Limit, str]], list[tuple[Limit, str]]]:
    """The requester's and the shared counters that apply, each as (limit, opaque key)."""
    user = None if user_id is None else str(user_id)
    owner = confirmed and user is not None
    subjects: dict[str, str | None] = {
        "number": _number_subject(number, user if owner else None),
        "prefix": None if owner else number[: -cfg.prefix_digits],
        "user": user,
        "ip": None,
        "global": region or "unknown",
    }
    if any(limit.name == "ip" for limit in cfg.limits):
        address = _client_ip(current_request() if request is None else request, cfg)
        subjects["ip"] = limit_key(address) if address is not None else None
    requester: list[tuple[Limit, str]] = []
    shared: list[tuple[Limit, str]] = []
    for configured in cfg.limits:
        subject = subjects[configured.name]
        limit = cfg.country_limits.get(subject, configured) if configured.name == "global" and subject else configured
        if subject is None or limit is None:
            continue
        (requester if limit.name in REQUESTER_LIMITS else shared).append((limit, _opaque(cfg, limit.name, subject)))
    return requester, shared


def check_send(
    number: str, *, user_id: Any = None, request: Any = None, sender: Any = None, confirmed: bool = False
) -> Reservation:
    """Apply every sending limit and the fraud guard to one send to ``number`` (E.164) and count it.

    ``request`` gives the client IP; without one, the request kept by
    :class:`~django_sms_gateway.middleware.SMSRequestMiddleware` is used.
    ``user_id`` feeds the ``user`` limit; ``confirmed`` says the device is
    confirmed, so the send counts in its owner's own ``number`` budget and
    the fraud guard never refuses it.
    Returns the :class:`Reservation` of the counts taken. Raises
    :class:`~django_sms_gateway.exceptions.SendLimitExceeded` (user-safe
    text, ``retry_after`` in seconds) after sending ``signals.limit_hit``
    and logging the masked number, or its subclass
    :class:`~django_sms_gateway.exceptions.FraudGuardRefused` after sending
    ``signals.fraud_guard_tripped``.
    """
    cfg = settings.limits
    sender = sender if sender is not None else check_send
    region = _check_number(cfg, number, sender)
    guard = cfg.guard
    # A confirmed owner's logins are never refused by the guard, nor counted in it: it judges the sends it may refuse.
    owner = confirmed and user_id is not None
    ranges = ranges_of(number, guard.depths) if guard is not None and not owner else ()
    if not cfg.limits and not ranges:
        return Reservation()
    now = time.time()
    requester, shared = _counters(cfg, number, region, user_id, confirmed, request)
    # The guard's counters ride in the same round trip as the budgets.
    guard_counters, peek = _guard_counters(cfg, guard, ranges) if guard is not None and ranges else ((), ())
    group = [*requester, *shared]
    if not group and not guard_counters:
        return Reservation()
    tally = _count(cfg, group, now, number, sender, [], guard_counters, peek)
    held = [tally]
    fixed = tally.buckets[: len(group)]
    # The requester's budgets are judged first: when they refuse, the shared ones (and the guard) are not judged,
    # and the counts this send took in them go back with the rest.
    for part, start in ((requester, 0), (shared, len(requester))):
        hit = [
            (limit, opaque, counters.retry_after(_as_counter(limit, opaque), buckets, now))
            for (limit, opaque), buckets in zip(part, fixed[start : start + len(part)], strict=True)
            if sum(buckets) > limit.count
        ]
        if hit:
            Reservation(held, cfg.cache_alias).release()
            raise _refused_by(hit, number, sender)
    if guard is not None and ranges:
        verdict = _judge(guard, ranges, tally.buckets[len(group):], tally.peeked)
        if verdict.state != "watching" and _tripped(cfg, guard, verdict, tally, sender):
            Reservation(held, cfg.cache_alias).release()
            raise FraudGuardRefused(verdict.range)
    return Reservation(held, cfg.cache_alias)


def _as_counter(limit: Limit, opaque: str) -> counters.Counter:
    return counters.Counter(f"{KEY_PREFIX}:{opaque}", limit)


def _count(
    cfg: LimitsConfig, group: Sequence[tuple[Limit, str]], now: float, number: str, sender: Any,
    held: list[counters.Tally], extra: Sequence[counters.Counter] = (), peek: Sequence[str] = (),
) -> counters.Tally:
    alias = cfg.cache_alias
    try:
        tally = counters.raise_counters(
            alias, [*(_as_counter(limit, opaque) for limit, opaque in group), *extra], now,
            fallback=not cfg.fail_closed, peek=peek,
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


# -- the fraud guard: conversion per number range ------------------------------------------------------

#: A verified code adds this much to a range's bucket, which counts sends below it: one cache key per
#: bucket holds both (sends ``value % VERIFIED``, entered codes ``value // VERIFIED``).
VERIFIED = 1 << 20
#: The baseline starts from this many sends at this conversion, so that a site with few sends of its
#: own (or whose only traffic is the attack) is judged against a low conversion, never a high one.
PRIOR_SENDS = 50
PRIOR_CONVERSION = 0.2
#: Below this conversion of the rest of the site nothing is judged (a site whose codes are entered
#: elsewhere, such as django-two-factor-auth's, or that barely converts at all).
LOWEST_BASELINE = 0.05
#: Buckets at the end of the window that are not judged yet: codes sent then may still be entered.
UNSETTLED = 2
#: What operators decided for a range (kept in the cache as these whole numbers).
RELEASED, BLOCKED = 1, 2
DECISIONS = {"released": RELEASED, "blocked": BLOCKED}
#: Where the operators' decisions are kept in the limits cache (without expiry: they are no counters).
DECISIONS_PREFIX = "sms_gateway:fraud-decision"
_DECISIONS_LOADED = f"{DECISIONS_PREFIX}:loaded"
#: Seconds before decisions are read from the database again after that failed.
DECISIONS_RETRY = 60

_guard_warnings = LogThrottle()
_decisions_retry_at = 0.0


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the guard found for one send: the range it judged (the deepest at
    its worst state), that state, the range's judged sends and entered codes,
    the rest of the site's conversion, and whether the send is refused."""

    range: str
    state: str  # "watching", "throttled" or "blocked"
    sends: int
    verified: int
    baseline: float
    refused: bool


def _calling_code(number: str) -> str | None:
    digits = number[1:]
    for length in (1, 2, 3):
        if int(digits[:length] or 0) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            return digits[:length]
    return None


def ranges_of(number: str, depths: Sequence[int]) -> tuple[str, ...]:
    """The ranges ``number`` (E.164) is counted in, shallowest first, written
    ``"+47 9876"``: its calling code and ``depth`` leading national digits for
    each of ``depths`` that leaves at least 3 digits out (a range holds at
    least 1,000 numbers, and no range is a whole number)."""
    if not number.startswith("+") or not number[1:].isdigit() or phonenumbers is None:
        return ()
    code = _calling_code(number)
    if code is None:
        return ()
    national = number[1 + len(code):]
    return tuple(f"+{code} {national[:depth]}" for depth in depths if depth <= len(national) - 3)


def _range_counter(cfg: LimitsConfig, subject: str, window: int) -> counters.Counter:
    key = "fraud:site" if subject == "site" else _opaque(cfg, "fraud", subject)
    return counters.Counter(f"{KEY_PREFIX}:{key}", Limit("fraud_guard", VERIFIED - 1, window), GUARD_BUCKETS)


def _decision_key(cfg: LimitsConfig, range: str) -> str:
    return f"{DECISIONS_PREFIX}:{_digest(cfg, 'fraud-decision', range)}"


def _guard_counters(
    cfg: LimitsConfig, guard: FraudGuard, ranges: Sequence[str]
) -> tuple[list[counters.Counter], list[str]]:
    """The counters of the site and of each range, and the keys to peek at
    (whether decisions were loaded, each range's decision)."""
    window = guard.window
    found = [_range_counter(cfg, "site", window), *(_range_counter(cfg, found, window) for found in ranges)]
    return found, [_DECISIONS_LOADED, *(_decision_key(cfg, found) for found in ranges)]


def _settled(buckets: Sequence[int]) -> tuple[int, int]:
    """Sends and entered codes of the judged buckets (all but the last ``UNSETTLED``)."""
    sends = verified = 0
    for value in buckets[:-UNSETTLED]:
        if value > 0:
            sends += value % VERIFIED
            verified += value // VERIFIED
    return sends, verified


def _recent_sends(buckets: Sequence[int]) -> int:
    return sum(value % VERIFIED for value in buckets[-UNSETTLED:] if value > 0)


def evidence(sends: int, verified: int, expected: float) -> float:
    """How unlikely (in nats: ``ln`` of the odds) it is that a range whose
    codes are entered at the rate ``expected`` shows only ``verified`` of
    ``sends``: ``sends`` times the Kullback-Leibler divergence of the seen
    rate from ``expected``, the Chernoff bound of the binomial tail (0 when
    the seen rate is not below ``expected``)."""
    if sends <= 0 or expected <= 0:
        return 0.0
    seen = min(verified / sends, 1.0)
    if seen >= expected:
        return 0.0
    divergence = (1 - seen) * math.log((1 - seen) / (1 - expected))
    if seen > 0:
        divergence += seen * math.log(seen / expected)
    return sends * divergence


def _judge(
    guard: FraudGuard, ranges: Sequence[str], buckets: Sequence[Sequence[int]], peeked: Sequence[int]
) -> Verdict:
    """The verdict for one send from the buckets of the site and of each
    range it is in (shallowest first) and the peeked decision keys.

    The deepest range with at least ``MIN_SENDS`` judged sends decides
    (thinner ones are merged into the range above them): it is throttled
    when so few of its codes were entered that an honest range converting at
    ``RATIO`` times the rest of the site's rate would show that fewer than
    once in ``THROTTLE_ODDS``, and blocked at ``BLOCK_ODDS``. A throttled
    range still gets ``TRICKLE`` sends per two buckets, whose codes (if
    entered) let it recover. An operator's decision on the deepest range
    that has one overrides the guard."""
    decisions = peeked[1:] if peeked and peeked[0] else _load_decisions(ranges)
    site_sends, site_verified = _settled(buckets[0])
    verdict = Verdict(ranges[-1], "watching", 0, 0, 0.0, False)
    for depth in reversed(range(len(ranges))):
        sends, verified = _settled(buckets[1 + depth])
        rest_sends, rest_verified = max(site_sends - sends, 0), max(site_verified - verified, 0)
        baseline = min((rest_verified + PRIOR_SENDS * PRIOR_CONVERSION) / (rest_sends + PRIOR_SENDS), 1.0)
        verdict = Verdict(ranges[depth], "watching", sends, verified, baseline, False)
        if sends < guard.min_sends:
            continue
        if baseline >= LOWEST_BASELINE:
            seen = evidence(sends, verified, guard.ratio * baseline)
            state = "blocked" if seen >= guard.block_at else "throttled" if seen >= guard.throttle_at else "watching"
            trickle = state == "throttled" and _recent_sends(buckets[1 + depth]) <= guard.trickle
            verdict = Verdict(ranges[depth], state, sends, verified, baseline, state != "watching" and not trickle)
        break
    decided = max((index for index, decision in enumerate(decisions) if decision), default=None)
    if decided is None:
        return verdict
    if decisions[decided] == RELEASED:
        return Verdict(verdict.range, verdict.state, verdict.sends, verdict.verified, verdict.baseline, False)
    sends, verified = _settled(buckets[1 + decided])
    return Verdict(ranges[decided], "blocked", sends, verified, verdict.baseline, True)


def _tripped(cfg: LimitsConfig, guard: FraudGuard, verdict: Verdict, tally: counters.Tally, sender: Any) -> bool:
    """Signal and log a verdict that throttles or blocks a range; return
    whether the send is refused (never in monitor mode)."""
    refuse = verdict.refused and guard.enforce
    if verdict.refused:
        signals.fraud_guard_tripped.send(
            sender=sender, range=verdict.range, state=verdict.state, sends=verdict.sends,
            verified=verdict.verified, baseline=round(verdict.baseline, 3), refused=refuse,
        )
        _note_trip(cfg, guard, verdict, tally, refuse)
    return refuse


def _note_trip(cfg: LimitsConfig, guard: FraudGuard, verdict: Verdict, tally: counters.Tally, refused: bool) -> None:
    """One WARNING per range and window in the whole cluster (in each process
    while the shared cache is down), and the range's row for the admin."""
    key = f"{KEY_PREFIX}:fraud:warned:{_digest(cfg, 'fraud-warned', verdict.range)}"
    try:
        first = bool(tally.cache.add(key, 1, guard.window))
    except Exception:  # any cache backend's error: count it as the first, per process
        first = _guard_warnings.allow(verdict.range) is not None
    if not first:
        return
    logger.warning(
        "SMS fraud guard: number range %s is %s (%d of its %d codes in the window entered, against %.0f%% "
        "for the rest of the site)%s",
        verdict.range, verdict.state, verdict.verified, verdict.sends, 100 * verdict.baseline,
        "" if refused else "; monitor mode: nothing refused" if not guard.enforce else "",
    )
    _save_range(verdict.range, state=verdict.state)


def _range_model() -> Any:
    # The model is in the device layer, above this one: looked up by name, never imported.
    from django.apps import apps

    return apps.get_model("django_sms_gateway", "NumberRange")


def _save_range(range: str, *, state: str) -> None:
    from django.utils import timezone

    try:
        _range_model().objects.update_or_create(
            range=range, defaults={"last_state": state, "last_tripped_at": timezone.now()}
        )
    except Exception as exc:  # a database error must not stop the send it was noticed in
        logger.warning("SMS fraud guard: could not record number range %s (%s)", range, type(exc).__name__)


def _load_decisions(ranges: Sequence[str]) -> list[int]:
    """The operators' decisions, read from the database into the cache after
    the cache lost them (a flush, a new server; also into this process's own
    counts, read while the shared cache is down); the decisions of ``ranges``."""
    global _decisions_retry_at
    if time.monotonic() < _decisions_retry_at:
        return [0] * len(ranges)
    cfg = settings.limits
    try:
        decided = dict(_range_model().objects.exclude(decision="").values_list("range", "decision"))
    except Exception as exc:  # no table yet, a database error: try again in a minute
        _decisions_retry_at = time.monotonic() + DECISIONS_RETRY
        held_back = _guard_warnings.allow("decisions")
        if held_back is not None:
            logger.warning("SMS fraud guard: could not load the operators' range decisions (%s)", type(exc).__name__)
        return [0] * len(ranges)
    kept = {_decision_key(cfg, found): DECISIONS[decision] for found, decision in decided.items()}
    kept[_DECISIONS_LOADED] = 1
    from django.core.cache import caches

    for cache in (counters.local_cache(), caches[cfg.cache_alias]):
        try:
            cache.set_many(kept, None)
        except Exception:  # the shared cache is down: this process's copy serves meanwhile
            _decisions_retry_at = time.monotonic() + DECISIONS_RETRY
    return [DECISIONS.get(decided.get(found, ""), 0) for found in ranges]


def decide_range(range: str, decision: str) -> None:
    """Keep an operator's ``decision`` (``"released"``, ``"blocked"`` or ``""``
    for the guard's own judgement) for ``range`` in the limits cache, where
    every send reads it; the database row is the caller's. Raises
    :class:`~django_sms_gateway.limits.counters.SharedCacheDown` when the cache fails."""
    from django.core.cache import caches

    cfg = settings.limits
    try:
        cache = caches[cfg.cache_alias]
        if decision:
            cache.set(_decision_key(cfg, range), DECISIONS[decision], None)
        else:
            cache.delete(_decision_key(cfg, range))
        cache.delete(f"{KEY_PREFIX}:fraud:warned:{_digest(cfg, 'fraud-warned', range)}")
    except Exception as exc:  # any cache backend's error
        raise counters.SharedCacheDown(cfg.cache_alias, type(exc).__name__) from exc
    counters.local_cache().delete(_decision_key(cfg, range))


def note_verified(number: str, *, owner: bool = False) -> None:
    """Count one entered code for ``number`` (E.164): the conversion of each
    range it is in and of the site. Called after a successful ``verify_token``;
    ``owner``: the device is confirmed and has a user, so its send was not
    counted either (see :func:`check_send`). Never raises (a cache that is
    down counts in this process, as sends do)."""
    cfg = settings.limits
    if cfg.guard is None or owner:
        return
    ranges = ranges_of(number, cfg.guard.depths)
    if not ranges:
        return
    window = cfg.guard.window
    chosen = [_range_counter(cfg, "site", window), *(_range_counter(cfg, found, window) for found in ranges)]
    counters.add_counts(cfg.cache_alias, chosen, time.time(), VERIFIED)


@dataclass(frozen=True, slots=True)
class RangeFigures:
    """One range's figures in the window, for operators: judged ``sends`` and
    ``verified`` codes, ``recent`` sends not judged yet, the rest of the
    site's ``baseline`` conversion and the guard's ``state``."""

    range: str
    sends: int
    verified: int
    recent: int
    baseline: float
    state: str

    @property
    def conversion(self) -> float | None:
        return self.verified / self.sends if self.sends else None


def range_figures(ranges: Sequence[str]) -> list[RangeFigures]:
    """The figures of ``ranges`` (as :func:`ranges_of` writes them) from the
    limits cache, judged as a send to each would be (operators' decisions
    aside). Raises :class:`~django_sms_gateway.limits.counters.SharedCacheDown`."""
    cfg = settings.limits
    guard = cfg.guard
    window = guard.window if guard is not None else 3600
    chosen = [_range_counter(cfg, "site", window), *(_range_counter(cfg, found, window) for found in ranges)]
    tally = counters.read(cfg.cache_alias, chosen, time.time())
    site = tally.buckets[0]
    found: list[RangeFigures] = []
    for index, name in enumerate(ranges):
        buckets = tally.buckets[1 + index]
        verdict = _judge(guard, [name], [site, buckets], [1, 0]) if guard is not None else None
        sends, verified = _settled(buckets)
        rest_sends, rest_verified = max(_settled(site)[0] - sends, 0), max(_settled(site)[1] - verified, 0)
        baseline = min((rest_verified + PRIOR_SENDS * PRIOR_CONVERSION) / (rest_sends + PRIOR_SENDS), 1.0)
        found.append(RangeFigures(name, sends, verified, _recent_sends(buckets), baseline,
                                  verdict.state if verdict is not None else "watching"))
    return found


# -- clearing, for support ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cleared:
    """One counter :func:`clear` emptied: its ``limit``, whose budget it was
    (``subject``, printable: a user id, a masked number, an address) and the
    ``sends`` it held."""

    limit: Limit
    subject: str
    sends: int


def clear(
    *,
    user_ids: Iterable[Any] = (),
    numbers: Iterable[str] = (),
    owned: Iterable[tuple[str, Any]] = (),
    addresses: Iterable[str] = (),
) -> list[Cleared]:
    """Empty these subjects' counters, every bucket of their windows, in the
    limits cache (and in this process's own counts, kept while it is down):

    - ``user_ids``: each user's ``user`` budget;
    - ``numbers`` (E.164): each number's ``number`` budget shared by everyone
      but its confirmed owners, and its ``prefix`` budget, which the numbers
      that differ from it only in the last ``OTP_SMS_LIMIT_PREFIX_DIGITS``
      digits share;
    - ``owned``: ``(number, user_id)`` pairs: the ``number`` budget that user
      has as the number's confirmed owner;
    - ``addresses``: each client address's ``ip`` budget (an IPv6 address: its /64).

    The keys are those :func:`check_send` counts in. ``global`` (a whole
    country's budget) is never cleared, nor are limits that are off. Returns
    each counter cleared, also those that held nothing. Raises ``ValueError``
    for an address that is no client address (before anything is cleared),
    and :class:`~django_sms_gateway.limits.counters.SharedCacheDown` when the
    limits cache cannot be reached.
    """
    cfg = settings.limits
    subjects: dict[tuple[str, str], str] = {}  # (limit name, subject) -> what it is, printable
    for user_id in user_ids:
        subjects["user", str(user_id)] = f"user {user_id}"
    for number in numbers:
        masked = mask_number(number)
        subjects["number", _number_subject(number, None)] = f"{masked}, shared by all but its owners"
        subjects["prefix", number[: -cfg.prefix_digits]] = f"the range of {masked}"
    for number, user_id in owned:
        subjects["number", _number_subject(number, str(user_id))] = f"{mask_number(number)}, owner user {user_id}"
    for address in addresses:
        key = _address_key(address)
        subjects["ip", key] = key
    chosen = [
        (limit, printable, _as_counter(limit, _opaque(cfg, name, subject)))
        for (name, subject), printable in subjects.items()
        for limit in cfg.limits
        if limit.name == name
    ]
    if not chosen:
        return []
    held = counters.clear(cfg.cache_alias, [counter for _limit, _printable, counter in chosen], time.time())
    return [
        Cleared(limit, printable, sends) for (limit, printable, _counter), sends in zip(chosen, held, strict=True)
    ]


def _address_key(address: str) -> str:
    """What the ``ip`` limit counts ``address`` by: a client address in any
    form a proxy writes (:func:`_read_address`), or an IPv6 /64 as
    :func:`limit_key` writes it."""
    found = _read_address(address)
    if found is not None:
        return limit_key(str(found))
    try:
        network = ipaddress.ip_network(address.strip(), strict=False)
    except ValueError:
        network = None
    if network is None or network.version != 6 or network.prefixlen != IPV6_PREFIX:
        raise ValueError(f"{address!r} is not a client address (nor an IPv6 /{IPV6_PREFIX})")
    return str(network)


# -- the client's address --------------------------------------------------------------------------


def client_ip(request: Any) -> str | None:
    """The client's address for ``request``, or None when it has none.

    With ``OTP_SMS_CLIENT_IP_HEADER`` set, the ``OTP_SMS_TRUSTED_PROXIES``-th
    address from the right of that header; when the header is missing, holds
    fewer addresses, or that entry is no client address, ``REMOTE_ADDR`` is
    used (such a request did not come through the proxies as configured) and
    a warning is logged, at most once a minute.
    """
    return _client_ip(request, settings.limits)


def _client_ip(request: Any, cfg: LimitsConfig) -> str | None:
    meta = getattr(request, "META", None)
    if not isinstance(meta, dict):
        return None
    header, proxies = cfg.ip_header, cfg.ip_proxies
    if header is not None and header != "REMOTE_ADDR":
        # By position among all entries: python-ipware's proxy_count counts only those it can read, so
        # a proxy's "unix:" or "for=unknown" would move the client onto an entry the client wrote.
        entries = str(meta.get(header, "")).rsplit(",", proxies)
        found = _read_address(entries[-proxies]) if len(entries) >= proxies else None
        if found is not None:
            return str(found)
        held_back = _fallback_warnings.allow()
        if held_back is not None:  # requests that bypass the proxies could otherwise flood the log
            logger.warning(
                "%s has no usable client address for %d trusted prox%s; using REMOTE_ADDR for the SMS "
                "limits (%d more such requests since the last warning)",
                header, proxies, "y" if proxies == 1 else "ies", held_back,
            )
    found = _read_address(meta.get("REMOTE_ADDR"))
    if found is None:
        return None
    if header is None and not found.is_global:
        _warn_if_proxied(meta)
    return str(found)


def _read_address(written: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """One address as a proxy or the server writes it, read by python-ipware
    (a port, brackets, an RFC 7239 ``for=``, IPv4 inside IPv6), or None:
    also for addresses no client sends from (unspecified, multicast, reserved)."""
    found, _trusted = _ADDRESS_READER.get_client_ip({_ENTRY: written}, True)
    return found


def _warn_if_proxied(meta: dict[str, Any]) -> None:
    """A request from a non-public address with forwarding headers came through
    a proxy (a public client forging the headers is not warned about)."""
    found = next((name for name in FORWARDED_HEADERS if meta.get(name)), None)
    if found is None:
        return
    held_back = _proxy_warnings.allow()
    if held_back is not None:
        logger.warning(
            "Requests come through a proxy (%s is set, REMOTE_ADDR is not a public address) but "
            "OTP_SMS_CLIENT_IP_HEADER is not set, so every client shares the proxy's 'ip' sending limit; "
            "set OTP_SMS_CLIENT_IP_HEADER and OTP_SMS_TRUSTED_PROXIES (%d more such requests since the last "
            "warning)",
            found, held_back,
        )


def limit_key(address: str) -> str:
    """What the ``ip`` limit counts ``address`` (as :func:`client_ip` writes it) by:
    an IPv4 address itself, an IPv6 address by the /64 it is in."""
    if ":" not in address:
        return address
    return str(ipaddress.IPv6Network((address, IPV6_PREFIX), strict=False))
