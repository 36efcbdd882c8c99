"""How long wrong codes lock a device, and when they lock it for good.

django-otp doubles the wait after each consecutive wrong code
(``OTP_SMS_THROTTLE_FACTOR`` × 2^(failures - 1) seconds). The count stays
exact, but the wait is capped at ``OTP_SMS_THROTTLE_MAX_DELAY`` seconds, so
a burst of parallel wrong guesses cannot lock a real user out for weeks.
After ``OTP_SMS_MAX_FAILURES`` consecutive failures (NIST SP 800-63B allows
at most 100) the device refuses every code until its number is bound again
(:meth:`~django_sms_gateway.models.SMSDevice.rebind`) or an administrator
resets it.
"""

from __future__ import annotations

from typing import NamedTuple

from .conf import settings
from .exceptions import ConfigurationError

__all__ = ["CHECK_ID", "REBIND_REQUIRED", "LockoutPolicy", "lockout_policy"]

#: Check id of every lock-out setting mistake.
CHECK_ID = "sms_gateway.E020"
#: ``SMSDevice.verify_is_allowed()``'s reason once ``OTP_SMS_MAX_FAILURES`` is reached.
REBIND_REQUIRED = "rebind_required"


class LockoutPolicy(NamedTuple):
    """The throttle of wrong codes: the first wait (seconds; 0 turns the
    throttle off), the longest wait, and the failures that lock the device
    until it is bound again (0: never)."""

    factor: float
    max_delay: float
    max_failures: int

    def delay(self, failures: int) -> float:
        """Seconds to wait after ``failures`` consecutive wrong codes."""
        if self.factor <= 0 or failures <= 0:
            return 0.0
        # 2**64 seconds is past any cap: the exponent stays small, the float finite.
        return min(self.factor * 2.0 ** min(failures - 1, 64), self.max_delay)

    def locked_for_good(self, failures: int) -> bool:
        """Whether ``failures`` consecutive wrong codes lock the device until re-binding."""
        return 0 < self.max_failures <= failures


def _number(name: str, *, whole: bool, minimum: float) -> float:
    value = getattr(settings, name)
    kind = int if whole else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or not minimum <= value < float("inf"):
        what = "a whole number" if whole else "a number of seconds"
        raise ConfigurationError(
            f"{name} must be {what} of at least {minimum:g}, not {value!r}.",
            check_id=CHECK_ID,
            hint="The defaults are OTP_SMS_THROTTLE_FACTOR = 1, OTP_SMS_THROTTLE_MAX_DELAY = 3600 (one hour) "
            "and OTP_SMS_MAX_FAILURES = 100 (NIST SP 800-63B's most).",
            obj=name,
        )
    return value


def lockout_policy() -> LockoutPolicy:
    """The lock-out settings, validated; raises
    :class:`~django_sms_gateway.exceptions.ConfigurationError`
    (``sms_gateway.E020``) naming the setting that is wrong."""
    return LockoutPolicy(
        factor=float(_number("OTP_SMS_THROTTLE_FACTOR", whole=False, minimum=0)),
        max_delay=float(_number("OTP_SMS_THROTTLE_MAX_DELAY", whole=False, minimum=1)),
        max_failures=int(_number("OTP_SMS_MAX_FAILURES", whole=True, minimum=0)),
    )
