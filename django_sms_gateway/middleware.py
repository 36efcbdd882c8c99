"""``SMSRequestMiddleware``: lets the sending limits see the current request.

django-otp's forms call ``device.generate_challenge()`` without the request,
and django-two-factor-auth's gateway gets none either, so the per-IP limit
could not know the client. This middleware keeps the request in a
:class:`~contextvars.ContextVar` while it is handled (reset afterwards, also
on errors); :func:`~django_sms_gateway.limits.current_request` reads it. A request passed explicitly to
``generate_challenge(request)`` is used instead.

Add it anywhere in ``MIDDLEWARE``::

    MIDDLEWARE = [..., "django_sms_gateway.middleware.SMSRequestMiddleware"]
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import django.conf
from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.apps import apps
from django.http import HttpRequest, HttpResponse
from django.utils.module_loading import import_string

from .checks import E007, E008, W002, W004
from .exceptions import ConfigurationError, ConfigurationWarning
from .limits import handled_request

MIDDLEWARE_PATH = "django_sms_gateway.middleware.SMSRequestMiddleware"
OTP_MIDDLEWARE = "django_otp.middleware.OTPMiddleware"
AUTH_MIDDLEWARE = "django.contrib.auth.middleware.AuthenticationMiddleware"


class SMSRequestMiddleware:
    """Keep the current request where the sending limits can find it (sync and async)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.__acall__(request)
        token = handled_request.set(request)
        try:
            return self.get_response(request)
        finally:
            handled_request.reset(token)

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        token = handled_request.set(request)
        try:
            response: Awaitable[HttpResponse] = self.get_response(request)
            return await response
        finally:
            handled_request.reset(token)


# -- the middleware settings, for the system checks --------------------------------------------------


def installation_problems() -> list[ConfigurationError | ConfigurationWarning]:
    """``django_otp`` is installed (E007) and its middleware is present
    (W002), after authentication (E008)."""
    problems: list[ConfigurationError | ConfigurationWarning] = []
    if not apps.is_installed("django_otp"):
        problems.append(ConfigurationError(
            "'django_otp' is not in INSTALLED_APPS; django_sms_gateway's SMSDevice is a django-otp device.",
            check_id=E007,
            hint="Add 'django_otp' to INSTALLED_APPS, before 'django_sms_gateway'.",
        ))
    middleware = list(django.conf.settings.MIDDLEWARE or [])
    otp_at = middleware_position(middleware, OTP_MIDDLEWARE)
    if otp_at is None:
        problems.append(ConfigurationWarning(
            f"{OTP_MIDDLEWARE!r} is not in MIDDLEWARE, so request.user.is_verified() and "
            "django-otp's otp_required do not work.",
            check_id=W002,
            hint=f"Add {OTP_MIDDLEWARE!r} to MIDDLEWARE, after {AUTH_MIDDLEWARE!r}. "
            f"Silence {W002} if you verify devices yourself.",
        ))
        return problems
    auth_at = middleware_position(middleware, AUTH_MIDDLEWARE)
    if auth_at is None or auth_at > otp_at:
        problems.append(ConfigurationError(
            f"{OTP_MIDDLEWARE!r} must come after {AUTH_MIDDLEWARE!r} in MIDDLEWARE (it reads request.user).",
            check_id=E008,
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


def request_middleware_problems(ip_limit_on: bool) -> list[ConfigurationError | ConfigurationWarning]:
    """With the ``ip`` limit on, the middleware that records each request is in ``MIDDLEWARE`` (W004)."""
    middleware = list(django.conf.settings.MIDDLEWARE or [])
    if not ip_limit_on or middleware_position(middleware, MIDDLEWARE_PATH) is not None:
        return []
    return [ConfigurationWarning(
        "The 'ip' sending limit is on, but SMSRequestMiddleware is not in MIDDLEWARE, so codes asked for "
        "through django-otp's forms (which pass no request) are not counted per client IP.",
        check_id=W004,
        hint=f"Add {MIDDLEWARE_PATH!r} to MIDDLEWARE, or set OTP_SMS_LIMITS = {{'ip': None}} to turn the "
        "limit off.",
    )]
