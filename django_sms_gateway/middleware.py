"""``SMSRequestMiddleware``: lets the sending limits see the current request.

django-otp's forms call ``device.generate_challenge()`` without the request,
and django-two-factor-auth's gateway gets none either, so the per-IP limit
could not know the client. This middleware keeps the request in a
:class:`~contextvars.ContextVar` while it is handled (reset afterwards, also
on errors); :func:`current_request` reads it. A request passed explicitly to
``generate_challenge(request)`` is used instead.

Add it anywhere in ``MIDDLEWARE``::

    MIDDLEWARE = [..., "django_sms_gateway.middleware.SMSRequestMiddleware"]
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse

MIDDLEWARE_PATH = "django_sms_gateway.middleware.SMSRequestMiddleware"

_request: ContextVar[HttpRequest | None] = ContextVar("django_sms_gateway_request", default=None)


def current_request() -> HttpRequest | None:
    """The request being handled in this context, if the middleware is installed."""
    return _request.get()


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
        token = _request.set(request)
        try:
            return self.get_response(request)
        finally:
            _request.reset(token)

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        token = _request.set(request)
        try:
            response: Awaitable[HttpResponse] = self.get_response(request)
            return await response
        finally:
            _request.reset(token)
