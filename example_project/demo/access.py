"""Who may see which page, and where to go next.

- :func:`verified_required`: signed in (else the password page) and verified
  by a second factor (else django-otp's ``OTP_LOGIN_URL``, the SMS step).
- :func:`verified_if_enrolled`: signed in, and verified if the user has a
  confirmed device; a user without one may come in to enrol.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme
from django_otp.decorators import otp_required

View = Callable[..., Any]


def verified_required(view: View) -> View:
    """``login_required`` then django-otp's ``otp_required``."""
    return login_required(otp_required(view))


def verified_if_enrolled(view: View) -> View:
    """``login_required`` then ``otp_required(if_configured=True)``."""
    return login_required(otp_required(view, if_configured=True))


def next_url(request: HttpRequest, default: str | None = None) -> str | None:
    """The ``next`` parameter (POST first, then GET) if it is a safe local URL, else ``default``."""
    candidate = request.POST.get("next") or request.GET.get("next")
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return default


def with_next(url: str, target: str | None) -> str:
    """``url`` with ``?next=target`` when there is a target."""
    return f"{url}?{urlencode({'next': target})}" if target else url
