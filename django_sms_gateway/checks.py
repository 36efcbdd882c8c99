"""System checks: configuration mistakes are found at start-up, not at login.

The rules live where the settings are read (:mod:`.rules`, :mod:`.gateways`,
the backends, :mod:`.limits`, :mod:`.client_ip`) and raise or return
:class:`~.exceptions.ConfigurationError` and
:class:`~.exceptions.ConfigurationWarning`, each carrying its check id and
hint; the checks here only report them. The check ids are listed in the
operations documentation.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings as django_settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured

from . import rules
from .backends.base import BaseBackend
from .backends.console import ConsoleBackend
from .backends.locmem import LocmemBackend
from .exceptions import ConfigurationError, ConfigurationWarning
from .gateways import GatewayHandler, build_backend
from .limits_config import limit_settings, setting_errors, setting_warnings
from .lockout import lockout_policy
from .middleware import MIDDLEWARE_PATH

TWO_FACTOR_GATEWAY = rules.TWO_FACTOR_GATEWAY


def report(problem: ImproperlyConfigured | ConfigurationWarning, *, check_id: str = "", hint: str = "",
           obj: str | None = None) -> CheckMessage:
    """The check message for one problem: its own id, hint and object, or the
    given ones for an ``ImproperlyConfigured`` that carries none."""
    if isinstance(problem, ConfigurationWarning):
        return Warning(problem.message, hint=problem.hint, obj=problem.obj, id=problem.check_id)
    if isinstance(problem, ConfigurationError):
        return Error(problem.message, hint=problem.hint or hint, obj=problem.obj or obj, id=problem.check_id)
    return Error(str(problem), hint=hint, obj=obj, id=check_id)


def report_all(problems: Iterable[ConfigurationError | ConfigurationWarning]) -> list[CheckMessage]:
    return [report(problem) for problem in problems]


def configured_backends() -> tuple[list[BaseBackend], list[CheckMessage]]:
    """Every gateway that builds, and a message for every one that does not."""
    try:
        entries = GatewayHandler.configured()
    except ConfigurationError as exc:
        return [], [report(exc)]
    backends: list[BaseBackend] = []
    messages: list[CheckMessage] = []
    for alias, entry in entries.items():
        try:
            backends.append(build_backend(str(alias), entry))
        except ImproperlyConfigured as exc:
            messages.append(report(exc, check_id="sms_gateway.E001", obj=f"SMS_GATEWAYS[{alias!r}]"))
    return backends, messages


@register(Tags.compatibility)
def check_gateways(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Every gateway builds; the message fits each; development backends
    and the implicit console backend with ``DEBUG = False``."""
    backends, messages = configured_backends()
    try:
        messages.extend(report_all(rules.message_problems(backends)))
        messages.extend(report_all(rules.implicit_console_problems()))
        messages.extend(report_all(rules.development_backend_problems(backends, (ConsoleBackend, LocmemBackend))))
    finally:
        for backend in backends:
            backend.close()
    return messages


def message_sources() -> dict[str, list[str]]:
    """Deprecated alias of :func:`django_sms_gateway.rules.message_sources`."""
    return rules.message_sources()


@register(Tags.security)
def check_codes(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Code settings that remove a cap, and misspelt setting names."""
    return report_all([*rules.code_problems(), *rules.unknown_setting_problems()])


@register(Tags.compatibility)
def check_django_otp(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """django_otp installed; its middleware present, after authentication."""
    return report_all(rules.installation_problems())


@register(Tags.caches)
def check_limits_cache(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """The limits and breaker caches exist, and the limits cache is shared in production."""
    return report_all(rules.cache_problems())


def check_breaker_cache(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Deprecated: :func:`check_limits_cache` reports the breaker cache too."""
    return [message for message in check_limits_cache() if message.id == "sms_gateway.E014"]


@register(Tags.security)
def check_limits(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """The limit, client-IP and allowlist settings, caches that could hang a
    login, a proxy the ``ip`` limit cannot see past, and the middleware the
    ``ip`` limit needs."""
    errors = setting_errors()
    messages = report_all([*errors, *setting_warnings()])
    if not errors:
        enabled = (limit.name for limit in limit_settings()[0])
        messages.extend(report_all(rules.request_middleware_problems(enabled, MIDDLEWARE_PATH)))
    return messages


@register(Tags.security)
def check_lockout(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """The wrong-code throttle and lock-out settings."""
    try:
        lockout_policy()
    except ConfigurationError as exc:
        return [report(exc)]
    return []


@register(Tags.compatibility)
def check_two_factor(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """The django-two-factor-auth gateway settings can work."""
    if getattr(django_settings, "TWO_FACTOR_SMS_GATEWAY", None) != rules.TWO_FACTOR_GATEWAY:
        return report_all(rules.two_factor_problems(None))
    backends, problems = configured_backends()
    try:
        return report_all(rules.two_factor_problems(None if problems else backends))
    finally:
        for backend in backends:
            backend.close()
