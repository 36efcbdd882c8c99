"""Errors of django-otp-sms-gateway.

Configuration mistakes are :class:`ConfigurationError` (an
``ImproperlyConfigured``), raised when settings are read; each carries the id
of the system check that reports it, so validation lives where the setting is
read and :mod:`django_sms_gateway.checks` only reports.

A vendor backend raises a :class:`GatewayError` subclass for one failed send;
its ``retry_next`` says whether the dispatcher tries the next gateway. The
dispatcher collects the attempts and, when no gateway delivered, raises
:class:`DeliveryFailed`, whose ``str()`` is safe to show to an end user.

:func:`user_safe_error` turns whatever a send raised into such an error: any
other exception, above all a configuration mistake found at run time (a typo
in ``SMS_GATEWAYS`` under a server that runs no system checks), names
settings, options or code paths; it is logged at ERROR, once per cause and
process, and the user gets :class:`SMSUnavailable`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.utils.functional import lazy
from django.utils.translation import gettext, ngettext, ngettext_lazy
from django.utils.translation import gettext_lazy as _

from .text import TemplateError, whole_minutes, whole_seconds

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


class _SettingProblem(Exception):
    """What :class:`ConfigurationError` and :class:`ConfigurationWarning`
    carry: the message, the check id that reports it, a hint and the setting."""

    def __init__(self, message: str, *, check_id: str, hint: str = "", obj: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.check_id = check_id
        self.hint = hint
        self.obj = obj


class ConfigurationError(_SettingProblem, ImproperlyConfigured):
    """A setting is wrong. ``str()`` names the setting and the problem.

    ``check_id`` is the system check id that reports it (:data:`~django_sms_gateway.checks.E005`),
    ``hint`` says how to fix it and ``obj`` names the setting (such as
    ``SMS_GATEWAYS['signicat']``). Never shown to end users.
    """


class ConfigurationWarning(_SettingProblem, UserWarning):
    """A setting that works but weakens a defence or is likely a mistake
    (a code shorter than NIST allows, a misspelt setting name). Carries
    ``check_id``, ``hint`` and ``obj`` like :class:`ConfigurationError`; the
    system checks report it as a warning."""


class SMSGatewayError(Exception):
    """Base class of every runtime error this package raises."""


class GatewayError(SMSGatewayError):
    """One gateway could not deliver one message.

    ``reason`` is a stable word or phrase we can vouch for, the same for every
    failure of one kind so that failures can be grouped: ``timeout``,
    ``connection refused``, ``connection failed``, ``HTTP 500``, ``credentials
    refused``, ``rate limited``, or a vendor's error code from the list its
    module knows. It never holds a vendor body, a credential, a code, a number
    or a measured time (the dispatcher keeps that in ``Attempt.elapsed``), so
    it can go to logs and the admin. The vendor-level cause is chained with
    ``raise ... from``.
    """

    #: Try the next gateway in ``SMS_GATEWAYS`` after this failure.
    retry_next: bool = True
    #: The request surely never reached the vendor (no connection was made), so
    #: the vendor cannot have sent or billed it (see ``DeliveryFailed.may_have_sent``).
    not_sent: bool = False
    #: This failure is a sign that the vendor is unhealthy and counts towards
    #: its circuit breaker. False for failures the request itself caused (its
    #: recipient or payload): whoever picks the number must not be able to
    #: open a gateway's circuit for everyone.
    counts_against_vendor: bool = True

    def __init__(
        self,
        reason: str,
        *,
        alias: str | None = None,
        status_code: int | None = None,
        vendor_status: str | None = None,
        not_sent: bool | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        if not_sent is not None:
            self.not_sent = not_sent
        self.alias = alias
        self.status_code = status_code
        self.vendor_status = vendor_status

    def __str__(self) -> str:
        where = f"[{self.alias}] " if self.alias else ""
        return f"{where}{self.reason}"


class GatewayUnavailable(GatewayError):
    """The vendor could not take the message now (5xx, unreadable answer)."""


class GatewayTimeout(GatewayUnavailable):
    """The vendor did not answer within the time allowed."""


class GatewayConnectionError(GatewayUnavailable):
    """The connection to the vendor failed or broke."""


class GatewayAuthError(GatewayUnavailable):
    """The vendor refused our credentials (401/403): a configuration problem
    at that vendor, so the next one is tried."""


class GatewayRateLimited(GatewayUnavailable):
    """The vendor throttled us (429 or its own quota status)."""


class RecipientRateLimited(GatewayRateLimited):
    """The vendor throttles this one recipient (too many codes to one
    number), not our account: another vendor may still send. Whoever picks
    the number can cause it, so it never counts against the vendor's
    circuit breaker."""

    counts_against_vendor = False


class RequestRejected(GatewayError):
    """The vendor refused our request as malformed (a 400 about our payload).

    That is our bug or a mismatch with this vendor, not the recipient's fault,
    so the next vendor, which gets its own payload, is tried. A 400 may be
    about the recipient the user typed, so it never counts against the
    vendor's circuit breaker."""

    counts_against_vendor = False


class RecipientRefused(GatewayError):
    """The recipient is refused in a way every vendor would refuse (not a
    valid mobile number); trying further gateways would not help."""

    retry_next = False
    counts_against_vendor = False


@dataclass(frozen=True, slots=True)
class Attempt:
    """What happened at one gateway during one challenge."""

    alias: str
    outcome: str  # "sent", "failed" or "skipped"
    reason: str = ""
    elapsed: float = 0.0
    error: GatewayError | None = None
    reference: str | None = None


class DeliveryFailed(SMSGatewayError):
    """No gateway delivered the code.

    ``str()`` is a sentence for the end user. ``attempts`` keeps every
    :class:`Attempt` (alias, reason, elapsed seconds) for logs and admins.
    """

    default_message = _("We could not send the text message. Please try again in a few minutes.")

    def __init__(self, attempts: list[Attempt] | tuple[Attempt, ...] = (), message: str | None = None) -> None:
        self.attempts = tuple(attempts)
        self.message = message if message is not None else self.default_message
        super().__init__(str(self.message))

    def __str__(self) -> str:
        return str(self.message)

    @property
    def may_have_sent(self) -> bool:
        """Whether some vendor may have accepted the message: an attempt
        failed after its request could have reached the vendor. False when
        every gateway was skipped or every attempt failed with ``not_sent``:
        nothing was billed, so nothing is charged against the limits."""
        return any(
            attempt.outcome == "failed" and not (attempt.error is not None and attempt.error.not_sent)
            for attempt in self.attempts
        )

    def summary(self) -> str:
        """One line per attempt, for logs and admins (not for end users)."""
        lines = (f"{a.alias}: {a.outcome} ({a.reason}, {a.elapsed:.3f}s)" for a in self.attempts)
        return "; ".join(lines) or "no gateway tried"


class SMSUnavailable(DeliveryFailed):
    """Text messages cannot be sent at all now: a setting is wrong, or a bug.

    Raised in place of the real error (a ``ConfigurationError`` or any
    unexpected exception), which is logged at ERROR and chained as
    ``__cause__``; ``str()`` never shows it.
    """

    default_message = _("Text messages are not available right now. Please try again later.")


class NoGatewayForNumber(DeliveryFailed):
    """No configured gateway may serve the number's country."""

    default_message = _("Text messages cannot be sent to this phone number's country.")


class RecipientNotReachable(DeliveryFailed):
    """A gateway refused the recipient in a way every gateway would."""

    default_message = _("This phone number cannot receive text messages. Please check it.")


class RiskCheckRefused(SMSGatewayError):
    """A risk check (``OTP_SMS_RISK_CHECKS``) refused the send: nothing was
    sent, counted or written. ``str()`` is a sentence for the end user, which
    asks them to use another way to verify; ``check`` names the check and
    ``reason`` says why (for logs, signals and admins, never the user)."""

    default_message = _(
        "For your security, we cannot send a code by text message to this phone number right now. "
        "Please use another way to verify, such as an authenticator app or a security key."
    )

    def __init__(self, check: str, reason: str, message: str | None = None) -> None:
        self.check = check
        self.reason = reason
        self.message: StrOrPromise = message or self.default_message
        super().__init__(str(self.message))

    def __str__(self) -> str:
        return str(self.message)


def _try_again_in(seconds: int) -> str:
    minutes = whole_minutes(seconds)
    return ngettext(
        "Too many text messages were requested. Please try again in %(minutes)d minute.",
        "Too many text messages were requested. Please try again in %(minutes)d minutes.",
        minutes,
    ) % {"minutes": minutes}


class SendLimitExceeded(SMSGatewayError):
    """A sending limit was hit; ``str()`` is safe for end users.

    ``limit`` names which limit (for logs, signals and the admin) and
    ``retry_after`` is the number of seconds until sending may succeed, if
    known; the default message then tells the user when, in whole minutes.
    """

    default_message = _("Too many text messages were requested. Please try again later.")

    def __init__(self, limit: str, message: str | None = None, retry_after: int | None = None) -> None:
        self.limit = limit
        self.retry_after = retry_after
        self.message: StrOrPromise
        if message:
            self.message = message
        elif retry_after is not None:
            self.message = lazy(_try_again_in, str)(retry_after)  # translated when shown
        else:
            self.message = self.default_message
        super().__init__(str(self.message))

    def __str__(self) -> str:
        return str(self.message)


class FraudGuardRefused(SendLimitExceeded):
    """The fraud guard refused a send to a number range whose codes are sent
    but rarely entered (SMS pumping). ``limit`` is ``"fraud_guard"``;
    ``range`` is the range (``"+47 9876"``, never a whole number)."""

    default_message = _(
        "Text messages to this phone number cannot be sent right now. Please try again later or use another "
        "way to sign in."
    )

    def __init__(self, range: str, retry_after: int | None = None) -> None:
        self.range = range
        super().__init__("fraud_guard", message=str(self.default_message), retry_after=retry_after)


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


#: A sending limit's wait, counted in seconds and in minutes (see :func:`wait_text`).
NEW_CODE_WAIT = (
    ngettext_lazy(
        "Too many text messages were requested. You can ask for a new code in %(count)d second.",
        "Too many text messages were requested. You can ask for a new code in %(count)d seconds.",
        "count",
    ),
    ngettext_lazy(
        "Too many text messages were requested. You can ask for a new code in %(count)d minute.",
        "Too many text messages were requested. You can ask for a new code in %(count)d minutes.",
        "count",
    ),
)


def wait_text(seconds: float, sentences: tuple[Any, Any]) -> str:
    """The sentence for a wait of ``seconds``, from ``sentences``: the first
    counts seconds (used below two minutes), the second whole minutes
    (rounded up). Each is an ``ngettext_lazy(..., "count")``, so the count
    picks its plural form."""
    whole = whole_seconds(seconds)
    if whole < 120:
        return str(sentences[0] % {"count": whole})
    return str(sentences[1] % {"count": (whole + 59) // 60})


def user_message(error: SMSGatewayError, *, code_kept: bool = False) -> str:
    """The sentence to show for ``error`` (a user-safe error): its text, or
    for a sending limit with the generic text that knows when sending may
    work again, a sentence with that wait. ``code_kept``: the code stays
    good after a failed send, so one that some vendor may still deliver
    (:attr:`DeliveryFailed.may_have_sent`) is not said to be unsent."""
    if isinstance(error, SendLimitExceeded) and error.retry_after and str(error) == gettext(GENERIC_LIMIT_TEXT):
        return wait_text(error.retry_after, NEW_CODE_WAIT)
    if code_kept and type(error) is DeliveryFailed and error.message is DeliveryFailed.default_message \
            and error.may_have_sent:
        return gettext("We could not confirm that the text message was sent. If no code arrives, try again.")
    return str(error)


def forget_logged_causes(**kwargs: object) -> None:
    """Log every cause again (connected to ``setting_changed``: a changed
    setting may bring the same mistake back)."""
    with _lock:
        _logged.clear()


setting_changed.connect(forget_logged_causes, dispatch_uid="django_sms_gateway.exceptions")
