"""System checks: configuration mistakes are found at start-up, not at login.

Every message names what is wrong and its hint says how to fix it.

==================  =========================================================
``E001``            ``SMS_GATEWAYS`` (or one entry) has the wrong shape: not a
                    dict, an unknown key, a missing ``BACKEND``, a bad ``TIMEOUT``.
``E002``            ``OTP_SMS_MESSAGE`` (in some enabled language) is not a
                    usable template, e.g. it lacks ``{token}``.
``E003``            ``OTP_SMS_MESSAGE`` (in some enabled language) needs more
                    SMS parts than a gateway may send.
``E004``            A gateway's ``BACKEND`` cannot be imported or is not a
                    backend class.
``E005``            A gateway's ``OPTIONS`` are wrong: unknown, missing
                    required or invalid values.
``E006``            A gateway's ``COUNTRIES`` are not ISO 3166 region codes.
``E007``            ``django_otp`` is not in ``INSTALLED_APPS``.
``E008``            ``OTPMiddleware`` comes before ``AuthenticationMiddleware``.
``E009``            ``OTP_SMS_LIMITS_CACHE`` names a cache not in ``CACHES``.
``E010``            ``TWO_FACTOR_CALL_GATEWAY`` points at our gateway (SMS only).
``E011``            ``TWO_FACTOR_SMS_GATEWAY`` points at our gateway, but every
                    gateway makes its own codes (iP1), so none can send
                    django-two-factor-auth's.
``E012``            A sending-limit setting is wrong: ``OTP_SMS_LIMITS`` (unknown
                    limit, not ``(sends, seconds)``), ``OTP_SMS_LIMIT_PREFIX_DIGITS``,
                    ``OTP_SMS_CLIENT_IP_HEADER`` or ``OTP_SMS_TRUSTED_PROXIES``.
``E013``            ``OTP_SMS_ALLOWED_COUNTRIES`` has a non-ISO region, or
                    ``OTP_SMS_ALLOWED_NUMBER_TYPES`` a name that is not a type
                    that can receive codes.
``E014``            The circuit breaker settings are wrong: a threshold that is
                    not a whole number >= 0, a cool-off that is not a positive
                    number (globally or in an ``SMS_GATEWAYS`` entry), or an
                    ``OTP_SMS_BREAKER_CACHE`` not in ``CACHES``.
``W001``            A console or locmem backend (sends nothing) with ``DEBUG = False``.
``W002``            ``django_otp.middleware.OTPMiddleware`` is not in ``MIDDLEWARE``.
``W003``            The limits cache cannot share counts between processes
                    (local-memory, dummy or file-based) with ``DEBUG = False``.
``W004``            The ``ip`` limit is on but ``SMSRequestMiddleware`` is not in
                    ``MIDDLEWARE``, so sends made without a request (django-otp's
                    forms) are not counted per client IP.
``E015``            ``OTP_SMS_ORIGIN``, ``OTP_SMS_EMBEDDED_ORIGIN`` or
                    ``OTP_SMS_ANDROID_APP_HASH`` is wrong, or a message template
                    or vendor format has its own ``@host #code`` line, which
                    would break the rule that the origin-bound line is the last.
``W005``            Origin-bound codes are on, but a gateway's vendor renders the
                    text from its own template (AccuAuth): the line cannot be added.
``W006``            ``OTP_SMS_ANDROID_APP_HASH`` is set but the message needs more
                    than one SMS (140 bytes), which the SMS Retriever ignores.
==================  =========================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import phonenumbers
from django.apps import apps
from django.conf import settings as django_settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured
from django.utils import translation
from django.utils.functional import Promise
from django.utils.module_loading import import_string

from .backends.base import REQUIRED, BaseBackend
from .backends.console import ConsoleBackend
from .backends.locmem import LocmemBackend
from .conf import settings
from .exceptions import ConfigurationError
from .gateways import GatewayHandler, breaker_settings, build_backend
from .origin import ORIGIN_CHECK_ID, origin_binding
from .text import OriginBinding, TemplateError, compile_template, origin_line_problem

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
_EXAMPLE_BACKEND = "django_sms_gateway.backends.signicat.SignicatBackend"


def _gateway_error(alias: str, msg: str, hint: str, id: str) -> Error:
    return Error(msg, hint=hint, obj=f"SMS_GATEWAYS[{alias!r}]", id=id)


def _options_hint(alias: str, backend_class: type[BaseBackend]) -> str:
    required = sorted(name for name, default in backend_class.options.items() if default is REQUIRED)
    optional = sorted(name for name, default in backend_class.options.items() if default is not REQUIRED)
    return (
        f"Fix SMS_GATEWAYS[{alias!r}]['OPTIONS'] for {backend_class.__name__}: "
        f"required: {', '.join(required) or 'none'}; optional: {', '.join(optional) or 'none'}."
    )


def _check_entry(alias: str, entry: Any) -> tuple[BaseBackend | None, list[CheckMessage]]:
    """Build one gateway the way the registry does, turning each kind of
    mistake into its own check message."""
    where = f"SMS_GATEWAYS[{alias!r}]"
    if isinstance(entry, Mapping):
        path = entry.get("BACKEND")
        if isinstance(path, str) and path:
            try:
                backend_class = import_string(path)
            except ImportError as exc:
                return None, [
                    _gateway_error(
                        alias,
                        f"{where}: cannot import BACKEND {path!r} ({exc}).",
                        f"Set BACKEND to the dotted path of a backend class, such as {_EXAMPLE_BACKEND!r}, "
                        "and make sure its package is installed.",
                        "sms_gateway.E004",
                    )
                ]
            if not (isinstance(backend_class, type) and issubclass(backend_class, BaseBackend)):
                return None, [
                    _gateway_error(
                        alias,
                        f"{where}: BACKEND {path!r} is not a django_sms_gateway backend class.",
                        "Point BACKEND at a subclass of django_sms_gateway.backends.base.BaseBackend, "
                        f"such as {_EXAMPLE_BACKEND!r}.",
                        "sms_gateway.E004",
                    )
                ]
            countries = entry.get("COUNTRIES")
            if countries is not None:
                if isinstance(countries, str) or not all(isinstance(c, str) for c in countries):
                    bad_countries = [countries]
                else:
                    bad_countries = [c for c in countries if c.upper() not in phonenumbers.SUPPORTED_REGIONS]
                if bad_countries:
                    return None, [
                        _gateway_error(
                            alias,
                            f"{where}: COUNTRIES has {bad_countries[0]!r}, which is not an ISO 3166 region code.",
                            "Make COUNTRIES a list of two-letter ISO 3166 region codes, such as ['NO', 'SE'], "
                            "or leave it out to serve every country.",
                            "sms_gateway.E006",
                        )
                    ]
            try:
                breaker_settings(alias, entry)
            except ImproperlyConfigured as exc:
                return None, [
                    _gateway_error(
                        alias,
                        str(exc),
                        "Set BREAKER_THRESHOLD (or OTP_SMS_BREAKER_THRESHOLD) to the number of consecutive "
                        "failures that open the circuit, such as 3 (0 turns the breaker off), and "
                        "BREAKER_COOLOFF (or OTP_SMS_BREAKER_COOLOFF) to the seconds it stays open, such as 30.",
                        "sms_gateway.E014",
                    )
                ]
            try:
                return build_backend(alias, entry), []
            except ImproperlyConfigured as exc:
                # BaseBackend.config_error() prefixes "SMS_GATEWAYS['x'] (ClassName):".
                if str(exc).startswith(f"{where} ({backend_class.__name__}):"):
                    return None, [
                        _gateway_error(alias, str(exc), _options_hint(alias, backend_class), "sms_gateway.E005")
                    ]
                return None, [_gateway_error(alias, str(exc), _entry_hint(alias), "sms_gateway.E001")]
    try:
        build_backend(alias, entry)
    except ImproperlyConfigured as exc:
        return None, [_gateway_error(alias, str(exc), _entry_hint(alias), "sms_gateway.E001")]
    raise AssertionError("build_backend accepted an entry without a BACKEND")  # pragma: no cover


def _entry_hint(alias: str) -> str:
    return (
        f"Make SMS_GATEWAYS[{alias!r}] a dict with 'BACKEND' (dotted path) and optionally 'OPTIONS' (dict), "
        "'COUNTRIES' (list of region codes), 'TIMEOUT' (positive seconds), 'BREAKER_THRESHOLD' "
        "(consecutive failures, 0: no breaker) and 'BREAKER_COOLOFF' (positive seconds)."
    )


def configured_backends() -> tuple[list[BaseBackend], list[CheckMessage]]:
    """Every gateway that builds, and a message for every one that does not."""
    try:
        entries = GatewayHandler.configured()
    except ImproperlyConfigured as exc:
        return [], [
            Error(
                str(exc),
                hint="Set SMS_GATEWAYS to a dict of alias -> {'BACKEND': ..., 'OPTIONS': {...}}, "
                "or remove it to print messages to the console during development.",
                id="sms_gateway.E001",
            )
        ]
    backends: list[BaseBackend] = []
    messages: list[CheckMessage] = []
    for alias, entry in entries.items():
        backend, problems = _check_entry(str(alias), entry)
        messages.extend(problems)
        if backend is not None:
            backends.append(backend)
    return backends, messages


@register(Tags.compatibility)
def check_gateways(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """E001, E004, E005, E006 for every gateway; E002/E003 for the message;
    W001 for development backends in production."""
    backends, messages = configured_backends()
    try:
        messages.extend(_template_messages(backends))
        if not django_settings.DEBUG:
            for backend in backends:
                if isinstance(backend, (ConsoleBackend, LocmemBackend)):
                    messages.append(
                        Warning(
                            f"SMS gateway {backend.alias!r} uses {type(backend).__name__}, which sends nothing, "
                            "while DEBUG is False.",
                            hint="Configure a vendor backend in SMS_GATEWAYS for production "
                            f"(for example {_EXAMPLE_BACKEND!r}).",
                            obj=f"SMS_GATEWAYS[{backend.alias!r}]",
                            id="sms_gateway.W001",
                        )
                    )
    finally:
        for backend in backends:
            backend.close()
    return messages


def message_sources() -> dict[str, list[str]]:
    """``OTP_SMS_MESSAGE`` as each enabled language renders it: text -> language codes.

    A lazily translated message is rendered in every language of
    ``LANGUAGES`` (and ``LANGUAGE_CODE``); a plain string only once.
    """
    message = settings.OTP_SMS_MESSAGE
    default = str(django_settings.LANGUAGE_CODE)
    if not isinstance(message, Promise) or not django_settings.USE_I18N:
        return {str(message): [default]}
    codes = [default] + [code for code, _name in django_settings.LANGUAGES if code != default]
    sources: dict[str, list[str]] = {}
    for code in codes:
        with translation.override(code):
            sources.setdefault(str(message), []).append(code)
    return sources


def _languages(codes: list[str]) -> str:
    shown = ", ".join(codes[:6]) + (f" and {len(codes) - 6} more" if len(codes) > 6 else "")
    return f"language{'s' if len(codes) > 1 else ''} {shown}"


def _origin_messages(backends: list[BaseBackend]) -> tuple[OriginBinding | None, list[CheckMessage]]:
    """E015 for origin settings, W005 for vendors that cannot carry the line."""
    try:
        binding = origin_binding()
    except ConfigurationError as exc:
        return None, [Error(exc.message, hint=exc.hint, obj=exc.obj, id=exc.check_id)]
    messages: list[CheckMessage] = []
    if binding is not None and binding.origin:
        for backend in backends:
            if not backend.adds_origin_lines:
                messages.append(
                    Warning(
                        f"OTP_SMS_ORIGIN is set, but gateway {backend.alias!r} ({type(backend).__name__}) "
                        "sends a text the vendor renders from its own template, so the origin-bound line "
                        "cannot be added.",
                        hint=f"Add the line '@{binding.origin} #' followed by the code as the last line of the "
                        "template registered at the vendor.",
                        obj=f"SMS_GATEWAYS[{backend.alias!r}]",
                        id="sms_gateway.W005",
                    )
                )
    return binding, messages


def _template_messages(backends: list[BaseBackend]) -> list[CheckMessage]:
    binding, messages = _origin_messages(backends)
    validity = int(settings.OTP_SMS_TOKEN_VALIDITY)
    for source, codes in message_sources().items():
        problem = origin_line_problem(source) if binding is not None and binding.origin else None
        if problem:
            messages.append(
                Error(f"OTP_SMS_MESSAGE in {_languages(codes)} {problem}.", obj="OTP_SMS_MESSAGE", id=ORIGIN_CHECK_ID)
            )
        try:
            template = compile_template(source, binding)
        except TemplateError as exc:
            messages.append(
                Error(
                    f"OTP_SMS_MESSAGE in {_languages(codes)}: {exc}.",
                    hint="Include {token} in OTP_SMS_MESSAGE (and in every translation of it); "
                    "only {token}, {minutes} and {site_name} are allowed.",
                    id="sms_gateway.E002",
                )
            )
            continue
        worst = template.worst_case(
            int(settings.OTP_SMS_TOKEN_LENGTH),
            minutes=max(1, (validity + 59) // 60),
            site_name=str(settings.OTP_SMS_SITE_NAME or ""),
        )
        for backend in backends:
            if backend.uses_site_message and worst.segments > backend.max_segments:
                messages.append(
                    Error(
                        f"OTP_SMS_MESSAGE in {_languages(codes)} needs {worst.segments} SMS parts "
                        f"({worst.units} {worst.encoding} units), but gateway {backend.alias!r} "
                        f"sends at most {backend.max_segments}.",
                        hint="Shorten the message (or its translation, or OTP_SMS_SITE_NAME), or avoid "
                        "characters outside GSM-7: one of them makes the whole message UCS-2 (70 "
                        "characters per SMS instead of 160).",
                        obj=f"SMS_GATEWAYS[{backend.alias!r}]",
                        id="sms_gateway.E003",
                    )
                )
        if binding is not None and binding.app_hash and worst.segments > 1:
            messages.append(
                Warning(
                    f"OTP_SMS_MESSAGE in {_languages(codes)} needs {worst.segments} SMS parts with the app "
                    "hash line; Android's SMS Retriever only reads messages of at most 140 bytes (one SMS).",
                    hint="Shorten the message so that it fits one SMS.",
                    obj="OTP_SMS_ANDROID_APP_HASH",
                    id="sms_gateway.W006",
                )
            )
    return messages


@register(Tags.compatibility)
def check_django_otp(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """E007: django_otp installed; W002/E008: its middleware present, after authentication."""
    messages: list[CheckMessage] = []
    if not apps.is_installed("django_otp"):
        messages.append(
            Error(
                "'django_otp' is not in INSTALLED_APPS; django_sms_gateway's SMSDevice is a django-otp device.",
                hint="Add 'django_otp' to INSTALLED_APPS, before 'django_sms_gateway'.",
                id="sms_gateway.E007",
            )
        )
    middleware = list(django_settings.MIDDLEWARE or [])
    otp_at = _position(middleware, OTP_MIDDLEWARE)
    if otp_at is None:
        messages.append(
            Warning(
                f"{OTP_MIDDLEWARE!r} is not in MIDDLEWARE, so request.user.is_verified() and "
                "django-otp's otp_required do not work.",
                hint=f"Add {OTP_MIDDLEWARE!r} to MIDDLEWARE, after {AUTH_MIDDLEWARE!r}. "
                "Silence sms_gateway.W002 if you verify devices yourself.",
                id="sms_gateway.W002",
            )
        )
    else:
        auth_at = _position(middleware, AUTH_MIDDLEWARE)
        if auth_at is None or auth_at > otp_at:
            messages.append(
                Error(
                    f"{OTP_MIDDLEWARE!r} must come after {AUTH_MIDDLEWARE!r} in MIDDLEWARE "
                    "(it reads request.user).",
                    hint=f"Move {OTP_MIDDLEWARE!r} below {AUTH_MIDDLEWARE!r} in MIDDLEWARE"
                    + ("" if auth_at is not None else f", and add {AUTH_MIDDLEWARE!r}")
                    + ".",
                    id="sms_gateway.E008",
                )
            )
    return messages


def _position(middleware: list[str], wanted: str) -> int | None:
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


@register(Tags.caches)
def check_limits_cache(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """E009: the limits cache exists; W003: it is shared between processes in production."""
    alias = settings.OTP_SMS_LIMITS_CACHE
    caches = django_settings.CACHES or {}
    if alias not in caches:
        return [
            Error(
                f"OTP_SMS_LIMITS_CACHE is {alias!r}, which is not in CACHES.",
                hint=f"Set OTP_SMS_LIMITS_CACHE to one of {sorted(caches)} or add a {alias!r} cache to CACHES.",
                id="sms_gateway.E009",
            )
        ]
    backend = str(caches[alias].get("BACKEND", ""))
    if backend in UNSHARED_CACHES and not django_settings.DEBUG:
        return [
            Warning(
                f"The SMS sending limits use cache {alias!r} ({backend.rsplit('.', 1)[-1]}), which does not "
                "share counts between processes or servers, so each worker enforces its own limits.",
                hint="Point OTP_SMS_LIMITS_CACHE at a shared cache such as "
                "'django.core.cache.backends.redis.RedisCache' or Memcached.",
                id="sms_gateway.W003",
            )
        ]
    return []


@register(Tags.caches)
def check_breaker_cache(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """E014: ``OTP_SMS_BREAKER_CACHE``, when set, names a cache in ``CACHES``
    (when unset the limits cache is used, which E009 and W003 check)."""
    alias = settings.OTP_SMS_BREAKER_CACHE
    caches = django_settings.CACHES or {}
    if alias is None or (isinstance(alias, str) and alias in caches):
        return []
    return [
        Error(
            f"OTP_SMS_BREAKER_CACHE is {alias!r}, which is not in CACHES.",
            hint=f"Set OTP_SMS_BREAKER_CACHE to one of {sorted(caches)}, add a {alias!r} cache to CACHES, "
            "or remove it to keep breaker state in the limits cache (OTP_SMS_LIMITS_CACHE).",
            id="sms_gateway.E014",
        )
    ]


@register(Tags.security)
def check_limits(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """E012: the limit and client-IP settings; E013: the allowlists; W004: the middleware."""
    from .client_ip import ip_settings
    from .limits import allowlist_settings, limit_settings
    from .middleware import MIDDLEWARE_PATH

    messages: list[CheckMessage] = []
    limits: tuple[Any, ...] = ()
    try:
        limits = limit_settings()[0]
    except ImproperlyConfigured as exc:
        messages.append(
            Error(
                str(exc),
                hint="Write OTP_SMS_LIMITS as {'number': (5, 3600), 'ip': None, ...} with the limits "
                "number, prefix, user, ip and global; see 'Sending limits' in the README.",
                id="sms_gateway.E012",
            )
        )
    try:
        ip_settings()
    except ImproperlyConfigured as exc:
        messages.append(
            Error(
                str(exc),
                hint="Behind a proxy, set OTP_SMS_CLIENT_IP_HEADER = 'HTTP_X_FORWARDED_FOR' and "
                "OTP_SMS_TRUSTED_PROXIES to the number of proxies in front of the site; see "
                "'Client IP behind a proxy' in the README.",
                id="sms_gateway.E012",
            )
        )
    try:
        allowlist_settings()
    except ImproperlyConfigured as exc:
        messages.append(
            Error(
                str(exc),
                hint="Write OTP_SMS_ALLOWED_COUNTRIES as ISO 3166 codes (['NO', 'SE'], empty for all) and "
                "OTP_SMS_ALLOWED_NUMBER_TYPES as ['MOBILE', 'FIXED_LINE_OR_MOBILE'] or a part of it.",
                id="sms_gateway.E013",
            )
        )
    if any(limit.name == "ip" for limit in limits) and _position(list(django_settings.MIDDLEWARE or []),
                                                                  MIDDLEWARE_PATH) is None:
        messages.append(
            Warning(
                "The 'ip' sending limit is on, but SMSRequestMiddleware is not in MIDDLEWARE, so codes "
                "asked for through django-otp's forms (which pass no request) are not counted per client IP.",
                hint=f"Add {MIDDLEWARE_PATH!r} to MIDDLEWARE, or set OTP_SMS_LIMITS = {{'ip': None}} to "
                "turn the limit off.",
                id="sms_gateway.W004",
            )
        )
    return messages


TWO_FACTOR_GATEWAY = "django_sms_gateway.integrations.two_factor.Gateway"


@register(Tags.compatibility)
def check_two_factor(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """E010/E011: the django-two-factor-auth gateway settings can work."""
    messages: list[CheckMessage] = []
    if getattr(django_settings, "TWO_FACTOR_CALL_GATEWAY", None) == TWO_FACTOR_GATEWAY:
        messages.append(
            Error(
                f"TWO_FACTOR_CALL_GATEWAY is {TWO_FACTOR_GATEWAY!r}, which sends text messages only.",
                hint="Remove TWO_FACTOR_CALL_GATEWAY or point it at a voice gateway; keep "
                f"TWO_FACTOR_SMS_GATEWAY = {TWO_FACTOR_GATEWAY!r} for text messages.",
                id="sms_gateway.E010",
            )
        )
    if getattr(django_settings, "TWO_FACTOR_SMS_GATEWAY", None) == TWO_FACTOR_GATEWAY:
        backends, problems = configured_backends()
        try:
            if backends and not problems and all(backend.verifies_codes for backend in backends):
                messages.append(
                    Error(
                        "TWO_FACTOR_SMS_GATEWAY sends through SMS_GATEWAYS, but every gateway there makes "
                        "its own codes, so none can send django-two-factor-auth's code.",
                        hint="Add a gateway whose vendor sends the text it is given (Signicat, ZignSec, "
                        "AccuAuth) to SMS_GATEWAYS.",
                        id="sms_gateway.E011",
                    )
                )
        finally:
            for backend in backends:
                backend.close()
    return messages
