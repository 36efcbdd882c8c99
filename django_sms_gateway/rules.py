"""The rules of django-sms-gateway's settings, and of the Django settings it
depends on, that no single reader checks: each function returns the
:class:`~django_sms_gateway.exceptions.ConfigurationError` and
:class:`~django_sms_gateway.exceptions.ConfigurationWarning` it finds, each
with its check id and hint; :mod:`django_sms_gateway.checks` reports them.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

import django.conf
from django.apps import apps
from django.utils import translation
from django.utils.functional import Promise
from django.utils.module_loading import import_string

from .conf import DEFAULTS, OTHER_SETTINGS, settings
from .exceptions import ConfigurationError, ConfigurationWarning
from .origin import ORIGIN_CHECK_ID, origin_binding
from .text import TemplateError, compile_template, origin_line_problem, whole_minutes

#: NIST SP 800-63B rev. 4, 3.1.3: at least six digits, valid for at most ten minutes.
NIST_MIN_CODE_LENGTH = 6
NIST_MAX_CODE_VALIDITY = 600
OTP_MIDDLEWARE = "django_otp.middleware.OTPMiddleware"
AUTH_MIDDLEWARE = "django.contrib.auth.middleware.AuthenticationMiddleware"
#: Cache backends whose counts live in one process (or cannot be updated atomically).
UNSHARED_CACHES = frozenset(
    {
        "django.core.cache.backends.locmem.LocMemCache",
        "django.core.cache.backends.dummy.DummyCache",
        "django.core.cache.backends.filebased.FileBasedCache",
    }
)
EXAMPLE_BACKEND = "django_sms_gateway.backends.signicat.SignicatBackend"

Problem = ConfigurationError | ConfigurationWarning


def code_problems() -> list[Problem]:
    """Warnings for code settings that remove a cap: no throttling, codes
    shorter or longer-lived than NIST SP 800-63B allows."""
    problems: list[Problem] = []
    if settings.OTP_SMS_THROTTLE_FACTOR == 0:
        problems.append(ConfigurationWarning(
            "OTP_SMS_THROTTLE_FACTOR is 0, so wrong codes are never throttled: a device can be guessed at "
            "as fast as requests arrive.",
            check_id="sms_gateway.W011",
            hint="Remove OTP_SMS_THROTTLE_FACTOR (default 1) or set it to a positive number of seconds.",
        ))
    length = settings.OTP_SMS_TOKEN_LENGTH
    if isinstance(length, int) and length < NIST_MIN_CODE_LENGTH:
        problems.append(ConfigurationWarning(
            f"OTP_SMS_TOKEN_LENGTH is {length}: codes shorter than {NIST_MIN_CODE_LENGTH} digits are easier "
            "to guess than NIST SP 800-63B allows.",
            check_id="sms_gateway.W012",
            hint=f"Set OTP_SMS_TOKEN_LENGTH to {NIST_MIN_CODE_LENGTH} or more (default 6).",
        ))
    validity = settings.OTP_SMS_TOKEN_VALIDITY
    if isinstance(validity, int | float) and validity > NIST_MAX_CODE_VALIDITY:
        problems.append(ConfigurationWarning(
            f"OTP_SMS_TOKEN_VALIDITY is {validity} seconds: codes stay valid longer than the "
            f"{NIST_MAX_CODE_VALIDITY // 60} minutes NIST SP 800-63B allows.",
            check_id="sms_gateway.W013",
            hint=f"Set OTP_SMS_TOKEN_VALIDITY to {NIST_MAX_CODE_VALIDITY} seconds or less (default 300).",
        ))
    return problems


def unknown_setting_problems() -> list[Problem]:
    """A warning for each ``OTP_SMS_*`` (or ``SMS_GATEWAY*``) setting that
    nothing reads, naming the closest known setting: a misspelt name is
    otherwise ignored without a word."""
    known = sorted(set(DEFAULTS) | OTHER_SETTINGS)
    problems: list[Problem] = []
    for name in sorted(dir(django.conf.settings)):
        if name in known or not (name.startswith("OTP_SMS_") or name.startswith("SMS_GATEWAY")):
            continue
        closest = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        problems.append(ConfigurationWarning(
            f"{name} is not a django-otp-sms-gateway setting, so it is ignored.",
            check_id="sms_gateway.W014",
            hint=f"Did you mean {closest[0]}?" if closest else "See the settings reference for the known names.",
            obj=name,
        ))
    return problems


def implicit_console_problems() -> list[Problem]:
    """With no ``SMS_GATEWAYS`` and ``DEBUG = False`` the implicit console
    backend withholds every message (codes must not go to a production
    server's logs), so nobody receives a code."""
    if settings.SMS_GATEWAYS is not None or django.conf.settings.DEBUG:
        return []
    return [ConfigurationWarning(
        "SMS_GATEWAYS is not set and DEBUG is False: the implicit console backend withholds every message "
        "(it would print codes into the server's logs), so no user receives a code.",
        check_id="sms_gateway.W015",
        hint=f"Configure a vendor backend in SMS_GATEWAYS (for example {EXAMPLE_BACKEND!r}).",
    )]


def development_backend_problems(backends: Iterable[Any], development_types: tuple[type, ...]) -> list[Problem]:
    """With ``DEBUG = False``, a gateway of ``SMS_GATEWAYS`` whose backend is
    one of ``development_types`` (console, locmem: they send nothing) is
    reported (W001). The implicit console backend is W015's."""
    if django.conf.settings.DEBUG or settings.SMS_GATEWAYS is None:
        return []
    return [
        ConfigurationWarning(
            f"SMS gateway {backend.alias!r} uses {type(backend).__name__}, which sends nothing, while DEBUG is "
            "False.",
            check_id="sms_gateway.W001",
            hint=f"Configure a vendor backend in SMS_GATEWAYS for production (for example {EXAMPLE_BACKEND!r}).",
            obj=f"SMS_GATEWAYS[{backend.alias!r}]",
        )
        for backend in backends
        if issubclass(type(backend), development_types)
    ]


def cache_problems() -> list[Problem]:
    """The limits cache (``OTP_SMS_LIMITS_CACHE``) and breaker cache
    (``OTP_SMS_BREAKER_CACHE``) name caches in ``CACHES``; the limits cache
    is shared between processes in production."""
    problems: list[Problem] = []
    caches = django.conf.settings.CACHES or {}
    alias = settings.OTP_SMS_LIMITS_CACHE
    if alias not in caches:
        problems.append(ConfigurationError(
            f"OTP_SMS_LIMITS_CACHE is {alias!r}, which is not in CACHES.",
            check_id="sms_gateway.E009",
            hint=f"Set OTP_SMS_LIMITS_CACHE to one of {sorted(caches)} or add a {alias!r} cache to CACHES.",
        ))
    else:
        backend = str(caches[alias].get("BACKEND", ""))
        if backend in UNSHARED_CACHES and not django.conf.settings.DEBUG:
            problems.append(ConfigurationWarning(
                f"The SMS sending limits use cache {alias!r} ({backend.rsplit('.', 1)[-1]}), which does not "
                "share counts between processes or servers, so each worker enforces its own limits.",
                check_id="sms_gateway.W003",
                hint="Point OTP_SMS_LIMITS_CACHE at a shared cache such as "
                "'django.core.cache.backends.redis.RedisCache' or Memcached.",
            ))
    breaker_alias = settings.OTP_SMS_BREAKER_CACHE
    if breaker_alias is not None and not (isinstance(breaker_alias, str) and breaker_alias in caches):
        problems.append(ConfigurationError(
            f"OTP_SMS_BREAKER_CACHE is {breaker_alias!r}, which is not in CACHES.",
            check_id="sms_gateway.E014",
            hint=f"Set OTP_SMS_BREAKER_CACHE to one of {sorted(caches)}, add a {breaker_alias!r} cache to "
            "CACHES, or remove it to keep breaker state in the limits cache (OTP_SMS_LIMITS_CACHE).",
        ))
    return problems


def message_sources() -> dict[str, list[str]]:
    """``OTP_SMS_MESSAGE`` as each enabled language renders it: text -> language codes.

    A lazily translated message is rendered in every language of
    ``LANGUAGES`` (and ``LANGUAGE_CODE``); a plain string only once.
    """
    message = settings.OTP_SMS_MESSAGE
    site = django.conf.settings
    default = str(site.LANGUAGE_CODE)
    if not isinstance(message, Promise) or not site.USE_I18N:
        return {str(message): [default]}
    codes = [default] + [code for code, _name in site.LANGUAGES if code != default]
    sources: dict[str, list[str]] = {}
    for code in codes:
        with translation.override(code):
            sources.setdefault(str(message), []).append(code)
    return sources


def _languages(codes: list[str]) -> str:
    shown = ", ".join(codes[:6]) + (f" and {len(codes) - 6} more" if len(codes) > 6 else "")
    return f"language{'s' if len(codes) > 1 else ''} {shown}"


def origin_problems(backends: Iterable[Any]) -> tuple[Any, list[Problem]]:
    """The origin-bound line's settings (E015) and the gateways whose vendor
    renders its own text, so that the line cannot be added (W005); returns
    the binding too (None when origin-bound codes are off or wrong)."""
    try:
        binding = origin_binding()
    except ConfigurationError as exc:
        return None, [exc]
    problems: list[Problem] = []
    if binding is not None and binding.origin:
        for backend in backends:
            if not backend.adds_origin_lines:
                problems.append(ConfigurationWarning(
                    f"OTP_SMS_ORIGIN is set, but gateway {backend.alias!r} ({type(backend).__name__}) "
                    "sends a text the vendor renders from its own template, so the origin-bound line "
                    "cannot be added.",
                    check_id="sms_gateway.W005",
                    hint=f"Add the line '@{binding.origin} #' followed by the code as the last line of the "
                    "template registered at the vendor.",
                    obj=f"SMS_GATEWAYS[{backend.alias!r}]",
                ))
    return binding, problems


def message_problems(backends: Iterable[Any]) -> list[Problem]:
    """``OTP_SMS_MESSAGE``, in every enabled language, is a usable template
    (E002) without an origin-bound line of its own (E015) that fits, with the
    origin-bound lines, in the SMS parts each of ``backends`` may send (E003),
    and in one SMS when an Android app hash is set (W006); plus
    :func:`origin_problems`."""
    backends = list(backends)
    binding, problems = origin_problems(backends)
    validity = int(settings.OTP_SMS_TOKEN_VALIDITY)
    for source, codes in message_sources().items():
        problem = origin_line_problem(source) if binding is not None and binding.origin else None
        if problem:
            problems.append(ConfigurationError(
                f"OTP_SMS_MESSAGE in {_languages(codes)} {problem}.", check_id=ORIGIN_CHECK_ID,
                obj="OTP_SMS_MESSAGE",
                hint="The origin-bound line is added for you: remove it from OTP_SMS_MESSAGE.",
            ))
        try:
            template = compile_template(source, binding)
        except TemplateError as exc:
            problems.append(ConfigurationError(
                f"OTP_SMS_MESSAGE in {_languages(codes)}: {exc}.",
                check_id="sms_gateway.E002",
                hint="Include {token} in OTP_SMS_MESSAGE (and in every translation of it); "
                "only {token}, {minutes} and {site_name} are allowed.",
            ))
            continue
        worst = template.worst_case(
            int(settings.OTP_SMS_TOKEN_LENGTH),
            minutes=whole_minutes(validity),
            site_name=str(settings.OTP_SMS_SITE_NAME or ""),
        )
        for backend in backends:
            if backend.uses_site_message and worst.segments > backend.max_segments:
                problems.append(ConfigurationError(
                    f"OTP_SMS_MESSAGE in {_languages(codes)} needs {worst.segments} SMS parts "
                    f"({worst.units} {worst.encoding} units), but gateway {backend.alias!r} "
                    f"sends at most {backend.max_segments}.",
                    check_id="sms_gateway.E003",
                    hint="Shorten the message (or its translation, or OTP_SMS_SITE_NAME), or avoid "
                    "characters outside GSM-7: one of them makes the whole message UCS-2 (70 "
                    "characters per SMS instead of 160).",
                    obj=f"SMS_GATEWAYS[{backend.alias!r}]",
                ))
        if binding is not None and binding.app_hash and worst.segments > 1:
            problems.append(ConfigurationWarning(
                f"OTP_SMS_MESSAGE in {_languages(codes)} needs {worst.segments} SMS parts with the app "
                "hash line; Android's SMS Retriever only reads messages of at most 140 bytes (one SMS).",
                check_id="sms_gateway.W006",
                hint="Shorten the message so that it fits one SMS.",
                obj="OTP_SMS_ANDROID_APP_HASH",
            ))
    return problems


def installation_problems() -> list[Problem]:
    """``django_otp`` is installed (E007) and its middleware is present
    (W002), after authentication (E008)."""
    problems: list[Problem] = []
    if not apps.is_installed("django_otp"):
        problems.append(ConfigurationError(
            "'django_otp' is not in INSTALLED_APPS; django_sms_gateway's SMSDevice is a django-otp device.",
            check_id="sms_gateway.E007",
            hint="Add 'django_otp' to INSTALLED_APPS, before 'django_sms_gateway'.",
        ))
    middleware = list(django.conf.settings.MIDDLEWARE or [])
    otp_at = middleware_position(middleware, OTP_MIDDLEWARE)
    if otp_at is None:
        problems.append(ConfigurationWarning(
            f"{OTP_MIDDLEWARE!r} is not in MIDDLEWARE, so request.user.is_verified() and "
            "django-otp's otp_required do not work.",
            check_id="sms_gateway.W002",
            hint=f"Add {OTP_MIDDLEWARE!r} to MIDDLEWARE, after {AUTH_MIDDLEWARE!r}. "
            "Silence sms_gateway.W002 if you verify devices yourself.",
        ))
        return problems
    auth_at = middleware_position(middleware, AUTH_MIDDLEWARE)
    if auth_at is None or auth_at > otp_at:
        problems.append(ConfigurationError(
            f"{OTP_MIDDLEWARE!r} must come after {AUTH_MIDDLEWARE!r} in MIDDLEWARE (it reads request.user).",
            check_id="sms_gateway.E008",
            hint=f"Move {OTP_MIDDLEWARE!r} below {AUTH_MIDDLEWARE!r} in MIDDLEWARE"
            + ("" if auth_at is not None else f", and add {AUTH_MIDDLEWARE!r}")
            + ".",
        ))
    return problems


def middleware_position(middleware: list[str], wanted: str) -> int | None:
    """Index of ``wanted`` (or a subclass of it) in ``middleware``."""
    try:
        wanted_class = import_string(wanted)
    except ImportError:
        wanted_class = None
    for index, path in enumerate(middleware):
        if path == wanted:
            return index
        if wanted_class is not None:
            try:
                candidate = import_string(path)
            except ImportError:
                continue
            if isinstance(candidate, type) and issubclass(candidate, wanted_class):
                return index
    return None


TWO_FACTOR_GATEWAY = "django_sms_gateway.integrations.two_factor.Gateway"


def two_factor_problems(backends: Iterable[Any] | None) -> list[Problem]:
    """django-two-factor-auth's gateway settings can work: our gateway is not
    its call gateway (E010), and when it is its SMS gateway, some gateway of
    ``backends`` (all of them built; None when some do not build) sends the
    text it is given (E011)."""
    site = django.conf.settings
    problems: list[Problem] = []
    if getattr(site, "TWO_FACTOR_CALL_GATEWAY", None) == TWO_FACTOR_GATEWAY:
        problems.append(ConfigurationError(
            f"TWO_FACTOR_CALL_GATEWAY is {TWO_FACTOR_GATEWAY!r}, which sends text messages only.",
            check_id="sms_gateway.E010",
            hint="Remove TWO_FACTOR_CALL_GATEWAY or point it at a voice gateway; keep "
            f"TWO_FACTOR_SMS_GATEWAY = {TWO_FACTOR_GATEWAY!r} for text messages.",
        ))
    built = list(backends) if backends is not None else []
    if getattr(site, "TWO_FACTOR_SMS_GATEWAY", None) == TWO_FACTOR_GATEWAY and built \
            and all(backend.verifies_codes for backend in built):
        problems.append(ConfigurationError(
            "TWO_FACTOR_SMS_GATEWAY sends through SMS_GATEWAYS, but every gateway there makes its own codes, "
            "so none can send django-two-factor-auth's code.",
            check_id="sms_gateway.E011",
            hint="Add a gateway whose vendor sends the text it is given (Signicat, ZignSec, AccuAuth) "
            "to SMS_GATEWAYS.",
        ))
    return problems


def request_middleware_problems(active_limits: Iterable[str], middleware_path: str) -> list[Problem]:
    """With the ``ip`` limit among ``active_limits``, the middleware that
    records each request (``middleware_path``) is in ``MIDDLEWARE`` (W004)."""
    middleware = list(django.conf.settings.MIDDLEWARE or [])
    if "ip" not in set(active_limits) or middleware_position(middleware, middleware_path) is not None:
        return []
    return [ConfigurationWarning(
        "The 'ip' sending limit is on, but SMSRequestMiddleware is not in MIDDLEWARE, so codes asked for "
        "through django-otp's forms (which pass no request) are not counted per client IP.",
        check_id="sms_gateway.W004",
        hint=f"Add {middleware_path!r} to MIDDLEWARE, or set OTP_SMS_LIMITS = {{'ip': None}} to turn the "
        "limit off.",
    )]
