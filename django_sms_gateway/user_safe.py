"""Turn whatever a send raised into an error whose text may be shown to users.

Our own runtime errors (:class:`~django_sms_gateway.exceptions.SMSGatewayError`:
``DeliveryFailed``, ``SendLimitExceeded``) already carry user-safe text. Any
other exception, above all a configuration mistake found at run time (a typo
in ``SMS_GATEWAYS`` under a server that runs no system checks), names
settings, options or code paths: it is logged at ERROR, once per cause and
process, and the user gets :class:`~django_sms_gateway.exceptions.SMSUnavailable`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Hashable

from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.utils.translation import gettext, ngettext

from .exceptions import ConfigurationError, SendLimitExceeded, SMSGatewayError, SMSUnavailable
from .text import TemplateError, whole_seconds

__all__ = ["user_safe_error", "user_message", "wait_text"]

logger = logging.getLogger("django_sms_gateway")

#: SendLimitExceeded's text when the limit gave none of its own (its msgid).
GENERIC_LIMIT_TEXT = "Too many text messages were requested. Please try again later."

#: Causes remembered per process; past this many, the oldest are forgotten.
MAX_CAUSES = 256

_logged: dict[Hashable, None] = {}
_lock = threading.Lock()


def _first_time(cause: Hashable) -> bool:
    with _lock:
        if cause in _logged:
            return False
        if len(_logged) >= MAX_CAUSES:
            del _logged[next(iter(_logged))]
        _logged[cause] = None
        return True


def user_safe_error(exc: BaseException) -> SMSGatewayError:
    """``exc`` itself when its text is user-safe, else a new
    :class:`SMSUnavailable` (raise it ``from exc``), after logging ``exc``.

    A configuration error is logged with its message (which names the
    gateway alias and the option) and check id; an unexpected exception with
    its traceback. Each cause is logged once per process: every login would
    otherwise repeat it.
    """
    if isinstance(exc, SMSGatewayError):
        return exc
    if isinstance(exc, (ImproperlyConfigured, TemplateError)):
        check_id = getattr(exc, "check_id", None) if isinstance(exc, ConfigurationError) else None
        if _first_time(("config", check_id, str(exc))):
            logger.error(
                "SMS not available: configuration error%s: %s. Users are told text messages are not "
                "available until it is fixed (run `manage.py check`).",
                f" {check_id}" if check_id else "",
                str(exc).rstrip("."),
            )
    elif _first_time(("bug", type(exc).__qualname__, str(exc))):
        logger.error("SMS not available: unexpected %s while sending a code", type(exc).__name__, exc_info=exc)
    return SMSUnavailable()


def wait_text(seconds: float) -> str:
    """``seconds`` as a person says it: "45 seconds", "3 minutes" (rounded up)."""
    whole = whole_seconds(seconds)
    if whole < 120:
        return ngettext("%(count)d second", "%(count)d seconds", whole) % {"count": whole}
    minutes = (whole + 59) // 60
    return ngettext("%(count)d minute", "%(count)d minutes", minutes) % {"count": minutes}


def user_message(error: SMSGatewayError) -> str:
    """The sentence to show for ``error`` (a user-safe error): its text, or
    for a sending limit with the generic text that knows when sending may
    work again, a sentence with that wait."""
    if isinstance(error, SendLimitExceeded) and error.retry_after and str(error) == gettext(GENERIC_LIMIT_TEXT):
        return gettext("Too many text messages were requested. You can ask for a new code in %(wait)s.") % {
            "wait": wait_text(error.retry_after)
        }
    return str(error)


def forget_logged_causes(**kwargs: object) -> None:
    """Log every cause again (connected to ``setting_changed``: a changed
    setting may bring the same mistake back)."""
    with _lock:
        _logged.clear()


setting_changed.connect(forget_logged_causes, dispatch_uid="django_sms_gateway.user_safe")
