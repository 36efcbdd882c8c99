"""Every setting django-sms-gateway reads, with its default and its rules.

Read through the ``settings`` object below (``settings.OTP_SMS_TOKEN_LENGTH``)
so that ``override_settings`` works and defaults live in one place. Values
are looked up once and kept until a setting changes (Django's
``setting_changed`` signal, sent by ``override_settings``): the login step
reads several per call, and a missing setting costs Django an exception
each time it is looked up.

The rules for these settings live in :mod:`django_sms_gateway.rules`.
"""

from __future__ import annotations

from typing import Any

import django.conf
from django.core.signals import setting_changed
from django.utils.translation import gettext_lazy as _

DEFAULTS: dict[str, Any] = {
    # Ordered gateways, like CACHES. None: one console backend (development).
    "SMS_GATEWAYS": None,
    # The code.
    "OTP_SMS_TOKEN_LENGTH": 6,
    "OTP_SMS_TOKEN_VALIDITY": 300,
    "OTP_SMS_THROTTLE_FACTOR": 1,
    # Wrong codes: the longest throttle wait (seconds), and the consecutive failures after which the
    # device refuses every code until its number is bound again or an admin resets it (0: never).
    "OTP_SMS_THROTTLE_MAX_DELAY": 3600,
    "OTP_SMS_MAX_FAILURES": 100,
    "OTP_SMS_COOLDOWN_DURATION": 60,
    # The message.
    "OTP_SMS_SENDER": None,
    "OTP_SMS_MESSAGE": _("Your verification code is {token}. It expires in {minutes} minutes."),
    "OTP_SMS_SITE_NAME": "",
    # Origin-bound codes: the site's host (last line "@host #code"), the host of an iframe asking
    # for the code (" %host" after it), and the Android SMS Retriever app hash (a line before it).
    "OTP_SMS_ORIGIN": None,
    "OTP_SMS_EMBEDDED_ORIGIN": None,
    "OTP_SMS_ANDROID_APP_HASH": None,
    # The template the shipped SMS step extends (None: a plain page of its own), and where it
    # sends a signed-in user who has no confirmed phone (a URL or URL name; None: it says so).
    "OTP_SMS_BASE_TEMPLATE": None,
    "OTP_SMS_ENROL_URL": None,
    # Numbers written without a country code are read as this region (None: refuse them).
    "OTP_SMS_DEFAULT_REGION": None,
    # Seconds: one vendor call (a gateway's TIMEOUT overrides it), and the whole challenge.
    "OTP_SMS_GATEWAY_TIMEOUT": 5.0,
    "OTP_SMS_CHALLENGE_BUDGET": 12.0,
    # Circuit breaker per gateway (an entry's BREAKER_THRESHOLD / BREAKER_COOLOFF override these):
    # consecutive failures that open it (0 or None: off), seconds it stays open before one trial,
    # and the alias in CACHES holding its state (None: the same cache as OTP_SMS_LIMITS_CACHE).
    "OTP_SMS_BREAKER_THRESHOLD": 3,
    "OTP_SMS_BREAKER_COOLOFF": 30.0,
    "OTP_SMS_BREAKER_CACHE": None,
    # Days DeliveryRecord rows are kept; `manage.py prunesmsdeliveries` deletes older ones (None: keep all).
    "OTP_SMS_DELIVERY_RECORD_DAYS": 90,
    # Vendor webhooks: seconds a signed timestamp may differ from now, and the largest body read.
    "OTP_SMS_WEBHOOK_TOLERANCE": 300,
    "OTP_SMS_WEBHOOK_MAX_BYTES": 16 * 1024,
    # Alias in CACHES holding the sending-limit counters (shared between processes in production).
    "OTP_SMS_LIMITS_CACHE": "default",
    # Sending limits: name -> (sends, seconds) in any such sliding window, or None to turn one off.
    # "global" applies to each destination country. A site's dict is merged over these;
    # OTP_SMS_LIMITS = None turns every counter off. See limits.py.
    "OTP_SMS_LIMITS": {
        "number": (5, 3600),
        "prefix": (20, 3600),
        "ip": (50, 3600),
        "user": (10, 3600),
        "global": (100_000, 3600),
    },
    # ISO 3166 region -> (sends, seconds) or None: the "global" limit for that destination country.
    "OTP_SMS_COUNTRY_LIMITS": {},
    # True: refuse every send while the limits cache is unreachable; False: count in each process meanwhile.
    "OTP_SMS_LIMITS_FAIL_CLOSED": False,
    # Digits dropped from the end of a number to make its "prefix" (the neighbours it is counted with).
    "OTP_SMS_LIMIT_PREFIX_DIGITS": 3,
    # ISO 3166 region codes may be sent to (empty: every region) and phonenumbers types by name.
    "OTP_SMS_ALLOWED_COUNTRIES": (),
    "OTP_SMS_ALLOWED_NUMBER_TYPES": ("MOBILE", "FIXED_LINE_OR_MOBILE"),
    # E.164 prefixes of satellite and other non-geographic numbers (region 001) that may get codes.
    "OTP_SMS_ALLOWED_NON_GEOGRAPHIC": (),
    # Client IP for the "ip" limit: request.META key set by the site's proxy (None: REMOTE_ADDR),
    # and how many proxies in front of the site append to it.
    "OTP_SMS_CLIENT_IP_HEADER": None,
    "OTP_SMS_TRUSTED_PROXIES": 1,
}


class Settings:
    """Attribute access to Django settings with this package's defaults."""

    def __init__(self) -> None:
        self._values: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            return getattr(django.conf.settings, name)
        try:
            return self._values[name]
        except KeyError:
            value = self._values[name] = getattr(django.conf.settings, name, DEFAULTS[name])
            return value

    def forget(self, **kwargs: Any) -> None:
        """Drop every kept value (connected to ``setting_changed``)."""
        self._values.clear()


settings = Settings()
setting_changed.connect(settings.forget, dispatch_uid="django_sms_gateway.conf")

#: Other names a site may set (read where they are used).
OTHER_SETTINGS = frozenset({"OTP_SMS_ORIGIN", "OTP_SMS_ANDROID_APP_HASH"})
