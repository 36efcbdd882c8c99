"""Sending a code from a page: user-safe outcomes and the remaining cooldown."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from django_otp.models import GenerateNotAllowed

from django_sms_gateway.exceptions import DeliveryFailed, SendLimitExceeded
from django_sms_gateway.models import SMSDevice

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChallengeOutcome:
    """What happened when a code was asked for.

    ``status`` is ``"sent"``, ``"cooldown"`` (nothing sent: too soon after the
    last code, the message says how long to wait) or ``"failed"``; ``message``
    is safe to show to the user.
    """

    status: str
    message: str

    @property
    def failed(self) -> bool:
        return self.status == "failed"


def send_challenge(device: SMSDevice, request: HttpRequest | None = None) -> ChallengeOutcome:
    """Call ``device.generate_challenge()`` and turn every outcome into a
    sentence for the user.

    ``DeliveryFailed`` and ``SendLimitExceeded`` have user-safe texts and are
    shown as they are. Anything else is a bug: it is logged with its traceback
    and the user gets a generic sentence, never the exception's text.
    """
    allowed, _details = device.generate_is_allowed()
    try:
        message = device.generate_challenge(request)
    except (DeliveryFailed, SendLimitExceeded) as exc:
        return ChallengeOutcome("failed", str(exc))
    except Exception:
        logger.exception("Sending a code to %s failed unexpectedly", device.masked_number)
        return ChallengeOutcome(
            "failed", _("The code could not be sent because of an error on our side. Please try again later.")
        )
    return ChallengeOutcome("sent" if allowed else "cooldown", message)


def cooldown_seconds(device: SMSDevice) -> int:
    """Whole seconds until ``device`` may send a new code; 0 when it may now."""
    allowed, details = device.generate_is_allowed()
    if allowed:
        return 0
    details = details or {}
    when: Any = details.get("next_generation_at")
    if details.get("reason") != GenerateNotAllowed.COOLDOWN_DURATION_PENDING or when is None:
        return 0
    remaining = (when - timezone.now()).total_seconds()
    return max(1, int(remaining + 0.999))


def has_pending_code(device: SMSDevice) -> bool:
    """True while a code sent to ``device`` is unused and not expired."""
    return bool(device.token) and device.valid_until is not None and device.valid_until > timezone.now()
