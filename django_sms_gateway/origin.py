"""The origin-bound lines every message ends with, from the settings.

``OTP_SMS_ORIGIN = "example.com"`` ends each SMS with ``@example.com #123456``
(``OTP_SMS_EMBEDDED_ORIGIN`` adds `` %embedded.example``);
``OTP_SMS_ANDROID_APP_HASH`` puts Android's SMS Retriever hash on the line
before it. The format itself lives in :mod:`django_sms_gateway.text`.
"""

from __future__ import annotations

from .conf import settings
from .exceptions import ConfigurationError
from .text import OriginBinding, OriginError

__all__ = ["ORIGIN_CHECK_ID", "origin_binding"]

#: The system check reporting a wrong origin setting, or a text that would break the last-line rule.
ORIGIN_CHECK_ID = "sms_gateway.E015"


def origin_binding() -> OriginBinding | None:
    """The binding the settings ask for, or None when they ask for none.

    Raises :class:`~django_sms_gateway.exceptions.ConfigurationError`
    (``sms_gateway.E015``) for a value that cannot go into the lines.
    """
    origin = settings.OTP_SMS_ORIGIN
    embedded = settings.OTP_SMS_EMBEDDED_ORIGIN
    app_hash = settings.OTP_SMS_ANDROID_APP_HASH
    if not (origin or embedded or app_hash):
        return None
    try:
        return OriginBinding.checked(origin, embedded, app_hash)
    except OriginError as exc:
        raise ConfigurationError(
            str(exc),
            check_id=ORIGIN_CHECK_ID,
            hint="OTP_SMS_ORIGIN is the site's host as the browser sees it, such as 'example.com'.",
            obj="OTP_SMS_ORIGIN",
        ) from None
