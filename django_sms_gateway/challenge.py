"""Sending a code from a page: a user-safe outcome, and the remaining cooldown."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.http import HttpRequest
from django.utils import timezone
from django_otp.models import GenerateNotAllowed

from .exceptions import SMSGatewayError, user_message, user_safe_error
from .text import whole_seconds

if TYPE_CHECKING:
    from .models import SMSDevice

__all__ = ["ChallengeOutcome", "send_challenge", "cooldown_seconds", "has_pending_code"]

SENT = "sent"
COOLDOWN = "cooldown"
FAILED = "failed"


@dataclass(frozen=True)
class ChallengeOutcome:
    """What happened when a code was asked for.

    ``status`` is ``"sent"``, ``"cooldown"`` (nothing sent: too soon after the
    last code; the message says how long to wait) or ``"failed"``;
    ``message`` is safe to show to the user.
    """

    status: str
    message: str

    @property
    def failed(self) -> bool:
        return self.status == FAILED


def send_challenge(device: SMSDevice, request: HttpRequest | None = None) -> ChallengeOutcome:
    """Call ``device.generate_challenge(request)`` and turn every outcome into
    a sentence for the user (see :func:`~django_sms_gateway.exceptions.user_message`)."""
    allowed, _details = device.generate_is_allowed()
    try:
        message = device.generate_challenge(request)
    except Exception as exc:
        safe: SMSGatewayError = user_safe_error(exc)
        return ChallengeOutcome(FAILED, user_message(safe))
    return ChallengeOutcome(SENT if allowed else COOLDOWN, message)


def cooldown_seconds(device: Any) -> int:
    """Whole seconds until ``device`` may send a new code; 0 when it may now."""
    allowed, details = device.generate_is_allowed()
    if allowed:
        return 0
    details = details or {}
    when: Any = details.get("next_generation_at")
    if details.get("reason") != GenerateNotAllowed.COOLDOWN_DURATION_PENDING or when is None:
        return 0
    return whole_seconds((when - timezone.now()).total_seconds())


def has_pending_code(device: Any) -> bool:
    """True while a code sent to ``device`` is unused and not expired."""
    return bool(device.token) and device.valid_until is not None and device.valid_until > timezone.now()
