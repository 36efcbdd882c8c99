"""Every setting django-sms-gateway reads, with its default.

Read through the ``settings`` object below (``settings.OTP_SMS_TOKEN_LENGTH``)
so that ``override_settings`` works and defaults live in one place.
"""

from __future__ import annotations

from typing import Any

import django.conf
from django.utils.translation import gettext_lazy as _

DEFAULTS: dict[str, Any] = {
    # Ordered gateways, like CACHES. None: one console backend (development).
    "SMS_GATEWAYS": None,
    # The code.
    "OTP_SMS_TOKEN_LENGTH": 6,
    "OTP_SMS_TOKEN_VALIDITY": 300,
    "OTP_SMS_THROTTLE_FACTOR": 1,
    "OTP_SMS_COOLDOWN_DURATION": 60,
    # The message.
    "OTP_SMS_SENDER": None,
    "OTP_SMS_MESSAGE": _("Your verification code is {token}. It expires in {minutes} minutes."),
    "OTP_SMS_SITE_NAME": "",
    # Numbers written without a country code are read as this region (None: refuse them).
    "OTP_SMS_DEFAULT_REGION": None,
    # Seconds: one vendor call (a gateway's TIMEOUT overrides it), and the whole challenge.
    "OTP_SMS_GATEWAY_TIMEOUT": 5.0,
    "OTP_SMS_CHALLENGE_BUDGET": 12.0,
    # Days DeliveryRecord rows are kept; `manage.py prunesmsdeliveries` deletes older ones (None: keep all).
    "OTP_SMS_DELIVERY_RECORD_DAYS": 90,
    # Vendor webhooks: seconds a signed timestamp may differ from now, and the largest body read.
    "OTP_SMS_WEBHOOK_TOLERANCE": 300,
    "OTP_SMS_WEBHOOK_MAX_BYTES": 16 * 1024,
    # Alias in CACHES holding the sending-limit counters (shared between processes in production).
    "OTP_SMS_LIMITS_CACHE": "default",
    # Sending limits: name -> (sends, seconds) per fixed window, or None to turn one off. A site's
    # dict is merged over these; OTP_SMS_LIMITS = None turns every counter off. See limits.py.
    "OTP_SMS_LIMITS": {
        "number": (5, 3600),
        "prefix": (20, 3600),
        "ip": (20, 3600),
        "user": (10, 3600),
        "global": (1000, 3600),
    },
    # Digits dropped from the end of a number to make its "prefix" (the neighbours it is counted with).
    "OTP_SMS_LIMIT_PREFIX_DIGITS": 3,
    # ISO 3166 region codes may be sent to (empty: every region) and phonenumbers types by name.
    "OTP_SMS_ALLOWED_COUNTRIES": (),
    "OTP_SMS_ALLOWED_NUMBER_TYPES": ("MOBILE", "FIXED_LINE_OR_MOBILE"),
    # Client IP for the "ip" limit: request.META key set by the site's proxy (None: REMOTE_ADDR),
    # and how many proxies in front of the site append to it.
    "OTP_SMS_CLIENT_IP_HEADER": None,
    "OTP_SMS_TRUSTED_PROXIES": 1,
}


class Settings:
    """Attribute access to Django settings with this package's defaults."""

    def __getattr__(self, name: str) -> Any:
        if name in DEFAULTS:
            return getattr(django.conf.settings, name, DEFAULTS[name])
        return getattr(django.conf.settings, name)


settings = Settings()
