"""Every system check of the package, and every check id.

The ids are defined here and nowhere else. A setting is validated where it is
read (:mod:`.conf` for the settings, :mod:`.dispatch` for a gateway's
backend, each backend for its own ``OPTIONS``), raising
:class:`~.exceptions.ConfigurationError` with one of these ids; the checks
below call those readers and report what they raise, plus the rules that
only a start-up check needs (a message that no longer fits a gateway, a
misspelt setting, a missing middleware). The operations documentation
lists every id.

Any layer may import the ids, so this module imports only the exceptions
when it loads; each check imports the layers it checks when it runs (after
the app registry is ready).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import django.conf
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured

from .exceptions import ConfigurationError, ConfigurationWarning

# -- errors ------------------------------------------------------------------------------------------
#: ``SMS_GATEWAYS`` or an entry has the wrong shape (or a ``TIMEOUT`` that is no positive number).
E001 = "sms_gateway.E001"
#: ``OTP_SMS_MESSAGE`` (in some language) is no usable template, or cannot be iP1's MessageFormat.
E002 = "sms_gateway.E002"
#: ``OTP_SMS_MESSAGE`` needs more SMS parts than a gateway may send.
E003 = "sms_gateway.E003"
#: A gateway's ``BACKEND`` cannot be imported or is no backend class.
E004 = "sms_gateway.E004"
#: A gateway's ``OPTIONS`` are wrong.
E005 = "sms_gateway.E005"
#: A gateway's ``COUNTRIES`` are no ISO 3166 region codes.
E006 = "sms_gateway.E006"
#: ``django_otp`` is not installed.
E007 = "sms_gateway.E007"
#: ``OTPMiddleware`` comes before ``AuthenticationMiddleware``.
E008 = "sms_gateway.E008"
#: ``OTP_SMS_LIMITS_CACHE`` is not in ``CACHES``.
E009 = "sms_gateway.E009"
#: ``TWO_FACTOR_CALL_GATEWAY`` points at our gateway, which only texts.
E010 = "sms_gateway.E010"
#: ``TWO_FACTOR_SMS_GATEWAY`` points at our gateway, but every gateway makes its own codes.
E011 = "sms_gateway.E011"
#: A sending-limit or client-IP setting is wrong.
E012 = "sms_gateway.E012"
#: An allowlist (countries, number types, non-geographic prefixes) is wrong.
E013 = "sms_gateway.E013"
#: A circuit breaker setting is wrong, or ``OTP_SMS_BREAKER_CACHE`` is not in ``CACHES``.
E014 = "sms_gateway.E014"
#: An origin-bound setting is wrong, or a text has an origin-bound line of its own.
E015 = "sms_gateway.E015"
#: A lock-out setting is wrong.
E020 = "sms_gateway.E020"
#: A vendor ``base_url`` is plain HTTP to a host that is not loopback (with ``DEBUG = False``).
E021 = "sms_gateway.E021"
#: A code, time, text or size setting is of the wrong kind or out of range.
E022 = "sms_gateway.E022"
#: Neither phonenumbers nor phonenumberslite is installed.
E023 = "sms_gateway.E023"
#: ``TWO_FACTOR_SMS_GATEWAY`` points at our gateway, but django-two-factor-auth (or its phone plugin) is not installed.
E024 = "sms_gateway.E024"
#: ``OTP_SMS_DELIVERY_DEADLINE`` is not a number of seconds above 0 or None.
E030 = "sms_gateway.E030"
#: ``OTP_SMS_DELIVERY_HEALTH`` is wrong.
E033 = "sms_gateway.E033"
#: A Sinch ``callback_url`` or Infobip ``notify_url`` is plain HTTP to a host that is not loopback (``DEBUG = False``).
E035 = "sms_gateway.E035"
#: ``OTP_SMS_TEST_NUMBERS`` is wrong: a number not in E.164, or a code that is not ASCII digits of
#: ``OTP_SMS_TOKEN_LENGTH`` (at least six).
E043 = "sms_gateway.E043"
#: ``OTP_SMS_ALTERNATIVE_URL`` is no URL or URL name (or does not resolve), or
#: ``OTP_SMS_RESTRICTED_NOTICE`` is not True or False.
E044 = "sms_gateway.E044"
#: ``OTP_SMS_RISK_CHECKS`` or an entry has the wrong shape (a key, ``TIMEOUT``, ``FAIL_CLOSED`` or ``NAME``).
E046 = "sms_gateway.E046"
#: A risk check's ``BACKEND`` cannot be imported or is no risk check class.
E047 = "sms_gateway.E047"
#: A risk check's ``OPTIONS`` are wrong.
E048 = "sms_gateway.E048"
#: ``OTP_SMS_FRAUD_GUARD`` is wrong.
E040 = "sms_gateway.E040"
#: ``OTP_SMS_DELIVERY_RECORD_CACHE`` is not a Redis cache (Django's ``RedisCache``) in ``CACHES``.
E049 = "sms_gateway.E049"

# -- warnings ----------------------------------------------------------------------------------------
#: A console or locmem backend (which sends nothing) with ``DEBUG = False``.
W001 = "sms_gateway.W001"
#: ``OTPMiddleware`` is missing.
W002 = "sms_gateway.W002"
#: The limits cache shares no counts between processes (``DEBUG = False``).
W003 = "sms_gateway.W003"
#: The ``ip`` limit is on but ``SMSRequestMiddleware`` is missing.
W004 = "sms_gateway.W004"
#: ``OTP_SMS_ORIGIN`` is set but a vendor renders its own text.
W005 = "sms_gateway.W005"
#: ``OTP_SMS_ANDROID_APP_HASH`` is set but the message needs more than one SMS.
W006 = "sms_gateway.W006"
#: Wrong codes are never throttled.
W011 = "sms_gateway.W011"
#: Codes shorter than NIST SP 800-63B allows.
W012 = "sms_gateway.W012"
#: Codes valid longer than NIST SP 800-63B allows.
W013 = "sms_gateway.W013"
#: An ``OTP_SMS_*`` setting that nothing reads.
W014 = "sms_gateway.W014"
#: No ``SMS_GATEWAYS`` with ``DEBUG = False``: every code is withheld.
W015 = "sms_gateway.W015"
#: A Redis or Memcached cache without socket timeouts holds limits or breaker state.
W016 = "sms_gateway.W016"
#: The site is behind a proxy but the ``ip`` limit would not see clients.
W017 = "sms_gateway.W017"
#: Delivery health is on but the breaker cache keeps its counts in each process (``DEBUG = False``).
W022 = "sms_gateway.W022"
#: A Sinch or Infobip gateway's receipt URL is not a path this site serves its receipt webhook at.
W024 = "sms_gateway.W024"
#: No django-otp device type but text-message ones is installed: users have no unrestricted
#: alternative (NIST SP 800-63B rev. 4, 3.2.9).
W032 = "sms_gateway.W032"
#: ``OTP_SMS_TEST_NUMBERS`` is set with ``DEBUG = False``.
W033 = "sms_gateway.W033"
#: A number in ``OTP_SMS_TEST_NUMBERS`` is a valid, assignable number (it could be someone's phone).
W034 = "sms_gateway.W034"
#: The risk checks' timeouts leave the first gateway too little of ``OTP_SMS_CHALLENGE_BUDGET``.
W035 = "sms_gateway.W035"

#: The settings of the wrong-code throttle, reported by :func:`check_lockout`.
LOCKOUT_SETTINGS = ("OTP_SMS_THROTTLE_FACTOR", "OTP_SMS_THROTTLE_MAX_DELAY", "OTP_SMS_MAX_FAILURES")

#: Settings of the restricted-authenticator kit and the test numbers, reported by their own checks.
RESTRICTED_SETTINGS = ("OTP_SMS_ALTERNATIVE_URL", "OTP_SMS_RESTRICTED_NOTICE", "OTP_SMS_TEST_NUMBERS")

Problem = ConfigurationError | ConfigurationWarning


def report(problem: ImproperlyConfigured | ConfigurationWarning, *, check_id: str = "", hint: str = "",
           obj: str | None = None) -> CheckMessage:
    """The check message for one problem: its own id, hint and object, or the
    given ones for an ``ImproperlyConfigured`` that carries none."""
    if isinstance(problem, ConfigurationWarning):
        return Warning(problem.message, hint=problem.hint, obj=problem.obj, id=problem.check_id)
    if isinstance(problem, ConfigurationError):
        return Error(problem.message, hint=problem.hint or hint, obj=problem.obj or obj, id=problem.check_id)
    return Error(str(problem), hint=hint, obj=obj, id=check_id)


def report_all(problems: Iterable[Problem]) -> list[CheckMessage]:
    return [report(problem) for problem in problems]


def errors_of(*readers: Any) -> list[Problem]:
    """What each of ``readers`` (called without arguments) raises."""
    found: list[Problem] = []
    for read in readers:
        try:
            read()
        except ConfigurationError as exc:
            found.append(exc)
    return found


def configured_backends() -> tuple[list[Any], list[CheckMessage]]:
    """Every gateway that builds, and a message for every one that does not."""
    from .conf import gateway_entries, settings
    from .dispatch import build_backend

    try:
        entries = gateway_entries(settings.raw("SMS_GATEWAYS"), bool(django.conf.settings.DEBUG))
    except ConfigurationError as exc:
        return [], [report(exc)]
    backends: list[Any] = []
    messages: list[CheckMessage] = []
    for alias, entry in entries.items():
        try:
            backends.append(build_backend(alias, entry))
        except ImproperlyConfigured as exc:
            messages.append(report(exc, check_id=E001, obj=f"SMS_GATEWAYS[{alias!r}]"))
    return backends, messages


# -- the checks ----------------------------------------------------------------------------------------


@register(Tags.compatibility)
def check_phonenumbers(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """phonenumbers or phonenumberslite is installed."""
    from .phone import phonenumbers_problems

    return report_all(phonenumbers_problems())


@register(Tags.compatibility)
def check_gateways(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Every gateway builds; the message fits each; development backends
    and the implicit console backend with ``DEBUG = False``."""
    from . import conf, dispatch

    backends, messages = configured_backends()
    try:
        messages.extend(report_all(dispatch.message_problems(backends)))
        messages.extend(report_all(conf.implicit_console_problems()))
        messages.extend(report_all(dispatch.development_backend_problems(backends)))
    finally:
        for backend in backends:
            backend.close()
    return messages


@register(Tags.urls)
def check_receipt_urls(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Each Sinch or Infobip receipt URL is one this site routes to the alias's webhook."""
    from .webhooks.infobip import receipt_url_problems

    backends, _messages = configured_backends()
    try:
        return report_all(receipt_url_problems(backends))
    finally:
        for backend in backends:
            backend.close()


@register(Tags.security)
def check_codes(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Every plain setting converts; code settings that remove a cap; misspelt setting names."""
    from . import conf

    elsewhere = {*LOCKOUT_SETTINGS, "OTP_SMS_ALLOWED_NON_GEOGRAPHIC", "OTP_SMS_LIMITS_CACHE", "OTP_SMS_BREAKER_CACHE",
                 "OTP_SMS_RISK_CHECKS", *RESTRICTED_SETTINGS}
    readers = (lambda name=name: getattr(conf.settings, name) for name in conf.READERS if name not in elsewhere)
    return report_all([*errors_of(*readers), *conf.code_problems(), *conf.unknown_setting_problems()])


@register(Tags.compatibility)
def check_django_otp(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """django_otp installed; its middleware present, after authentication."""
    from .middleware import installation_problems

    return report_all(installation_problems())


@register(Tags.caches)
def check_caches(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """The limits and breaker caches exist, the limits cache is shared in
    production, and neither could hang a login."""
    from .conf import cache_problems

    return report_all(cache_problems())


@register(Tags.security)
def check_limits(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """The limit, client-IP, allowlist and fraud guard settings, a proxy the ``ip`` limit
    cannot see past, and the middleware the ``ip`` limit needs."""
    from . import conf
    from .middleware import request_middleware_problems

    s = conf.settings
    errors = errors_of(
        lambda: conf.limit_settings(s.raw("OTP_SMS_LIMITS"), s.raw("OTP_SMS_LIMIT_PREFIX_DIGITS")),
        lambda: conf.country_limits(s.raw("OTP_SMS_COUNTRY_LIMITS")),
        lambda: conf.fail_closed(s.raw("OTP_SMS_LIMITS_FAIL_CLOSED")),
        lambda: conf.ip_settings(s.raw("OTP_SMS_CLIENT_IP_HEADER"), s.raw("OTP_SMS_TRUSTED_PROXIES")),
        lambda: conf.allowlists(s.raw("OTP_SMS_ALLOWED_COUNTRIES"), s.raw("OTP_SMS_ALLOWED_NUMBER_TYPES")),
        lambda: s.OTP_SMS_ALLOWED_NON_GEOGRAPHIC,
        lambda: conf.fraud_guard(s.raw("OTP_SMS_FRAUD_GUARD")),
    )
    if errors:
        return report_all(errors)
    ip_limit_on = any(limit.name == "ip" for limit in conf.limit_settings(
        s.raw("OTP_SMS_LIMITS"), s.raw("OTP_SMS_LIMIT_PREFIX_DIGITS"))[0])
    return report_all([*conf.proxy_problems(ip_limit_on), *request_middleware_problems(ip_limit_on)])


@register(Tags.security)
def check_lockout(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """The wrong-code throttle and lock-out settings."""
    from .conf import settings

    return report_all(errors_of(lambda: settings.lockout))


@register(Tags.compatibility)
def check_two_factor(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """The django-two-factor-auth gateway settings can work."""
    from .integrations.two_factor import GATEWAY_PATH, two_factor_problems

    if getattr(django.conf.settings, "TWO_FACTOR_SMS_GATEWAY", None) != GATEWAY_PATH:
        return report_all(two_factor_problems(None))
    backends, problems = configured_backends()
    try:
        return report_all(two_factor_problems(None if problems else backends))
    finally:
        for backend in backends:
            backend.close()


@register(Tags.security)
def check_restricted_authenticator(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """The notice settings and the alternative factor's URL; an unrestricted
    device type besides text messages (NIST SP 800-63B rev. 4, 3.2.9)."""
    from .conf import alternative_problems

    return report_all(alternative_problems())


@register(Tags.security)
def check_test_numbers(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """``OTP_SMS_TEST_NUMBERS``: its numbers and codes; a warning whenever it
    is set with ``DEBUG = False``, and for a number that could be someone's."""
    from .conf import listed_number_problems

    return report_all(listed_number_problems())


@register(Tags.security)
def check_risk_checks(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """``OTP_SMS_RISK_CHECKS``: each entry's shape, class and options, and the
    time they leave the gateways."""
    from . import conf

    try:
        configured = conf.settings.OTP_SMS_RISK_CHECKS
    except ConfigurationError as exc:
        return [report(exc)]
    if not configured:
        return []
    from .risk import build_check

    problems: list[Problem] = []
    for entry in configured:
        try:
            build_check(entry).close()
        except ConfigurationError as exc:
            problems.append(exc)
    return report_all([*problems, *conf.risk_budget_problems()])
