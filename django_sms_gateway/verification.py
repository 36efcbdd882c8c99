"""Checking a typed code against the device's row, race-free without row
locks however the instance was loaded.

The row is read fresh, a success is a conditional UPDATE that only one
request can win, and a failure is an atomic increment (never lost). A code
the vendor holds (iP1) is first *reserved*, so that only one request at a
time asks the vendor (see :meth:`CodeCheck.with_vendor`).

SQL: 2 statements for our own codes (SELECT, UPDATE); 3 for a vendor-held
code that is checked with the vendor (SELECT, reserve, outcome).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db.models import F, QuerySet
from django.utils import timezone

from . import signals
from .codes import code_matches, in_progress_marker, is_check_in_progress
from .conf import settings
from .dispatch import gateways
from .exceptions import GatewayError
from .lockout import REBIND_REQUIRED

if TYPE_CHECKING:
    from .models import SMSDevice

__all__ = ["RESERVATION_MARGIN", "CodeCheck", "cleared_code", "well_formed_code"]

logger = logging.getLogger("django_sms_gateway")

#: Seconds past the vendor's timeout that a reserved vendor code stays reserved.
RESERVATION_MARGIN = 5.0


def cleared_code(now: datetime) -> dict[str, Any]:
    """The device's code fields with no code: none stored or held by a
    vendor, expired ``now``, no failures counted and no cooldown running."""
    return {
        "token": None,
        "vendor_gateway": "",
        "valid_until": now,
        "throttling_failure_count": 0,
        "throttling_failure_timestamp": None,
        "last_generated_timestamp": None,
    }


def well_formed_code(token: Any, *, vendor: bool = False) -> str | None:
    """The code as typed if it has the right shape, else None.

    Outer whitespace is forgiven; anything else (inner whitespace, non-ASCII
    digits, a length other than ``OTP_SMS_TOKEN_LENGTH``) is refused. A
    vendor's code may hold ASCII letters too.
    """
    if isinstance(token, int) and not isinstance(token, bool):
        token = str(token)
    if not isinstance(token, str):
        return None
    token = token.strip()
    if len(token) != settings.OTP_SMS_TOKEN_LENGTH or not token.isascii():
        return None
    if vendor:
        return token if token.isalnum() else None
    return token if token.isdigit() else None


class CodeCheck:
    """One call of :meth:`SMSDevice.verify_token`: the row as read, and the
    one write that settles it.

    Decisions use what was read, never the device's attributes, which
    another thread sharing the instance might overwrite; the attributes are
    set for django-otp and the caller.
    """

    def __init__(self, device: SMSDevice) -> None:
        self.device = device
        self.row: QuerySet[Any] = type(device).objects.filter(pk=device.pk)

    def verdict(self, token: Any) -> bool:
        device = self.device
        state = self.row.values_list(
            "token", "valid_until", "vendor_gateway", "throttling_failure_count", "throttling_failure_timestamp"
        ).first()
        if state is None:
            return False
        stored, valid_until, vendor, failures, _failed_at = state
        (device.token, device.valid_until, device.vendor_gateway, device.throttling_failure_count,
         device.throttling_failure_timestamp) = state
        allowed, details = device.verify_is_allowed()
        if not allowed:
            locked = (details or {}).get("reason") == REBIND_REQUIRED
            self._refused("too many failures" if locked else "throttled", vendor)
            return False

        now = timezone.now()
        candidate = well_formed_code(token, vendor=bool(vendor))
        if candidate is None or not stored or now >= valid_until:
            matched = False
        elif vendor:
            return self.with_vendor(candidate, stored, vendor, failures, now)
        else:
            matched = code_matches(device.pk, candidate, stored)

        if matched:
            # Succeeds for exactly one request: the one that still finds the
            # same code and no failure recorded since it read the row.
            if self._unchanged(stored, failures, now).update(**self._spent(now)):
                self._succeeded(now, alias=None)
                return True
            self._refused("already used", vendor)
            return False

        self._count_failure(now, failures)
        self._refused("wrong, expired or malformed code", vendor)
        return False

    def with_vendor(self, candidate: str, stored: str, vendor: str, failures: int, now: datetime) -> bool:
        """Check a well-formed, unexpired ``candidate`` with the vendor that
        holds the code, one request at a time.

        1. Reserve: a conditional UPDATE swaps the stored value for a fresh
           in-progress marker. Only one request wins; the others are refused
           ("check in progress") without asking the vendor and without
           counting a failure, so the vendor's single-use code is never spent
           by a request that could not then be let in.
        2. Ask the vendor, then settle in one UPDATE guarded by the marker:
           right: success; wrong: restore the stored value and count one
           failure; vendor unable to answer: restore, not counted.

        If the process dies between 1 and 2 the marker stays until its time
        (the vendor's timeout and a margin) is up; then the next request
        reserves over it. The marker holds nothing secret.
        """
        if is_check_in_progress(stored, now.timestamp()):
            self._refused("check in progress", vendor)
            return False
        marker = in_progress_marker(now.timestamp() + _vendor_timeout(vendor) + RESERVATION_MARGIN)
        if not self._unchanged(stored, failures, now).update(token=marker):
            self._refused("check in progress", vendor)
            return False
        mine = self.row.filter(token=marker)

        try:
            verdict = self._vendor_says_valid(candidate, vendor)
        except Exception:  # an unforeseen error must not leave the marker until its time is up
            mine.update(token=stored)
            raise
        if verdict is None:  # vendor unreachable: not the user's fault, not counted
            mine.update(token=stored)
            self._refused("vendor unavailable", vendor)
            return False
        if verdict:
            if mine.update(**self._spent(now)):
                self._succeeded(now, alias=vendor)
                return True
            # A new challenge replaced the code while the vendor was asked.
            self._refused("already used", vendor)
            return False
        settled = mine.update(token=stored, **self._failure(now))
        if not settled:  # a new challenge replaced the marker; the guess still counts
            self._count_failure(now, failures)
        else:
            self.device.throttling_failure_count, self.device.throttling_failure_timestamp = failures + 1, now
        self._refused("wrong, expired or malformed code", vendor)
        return False

    def _vendor_says_valid(self, code: str, alias: str) -> bool | None:
        """The vendor's verdict on ``code``; None when it could not answer."""
        try:
            backend = gateways[alias]
            return backend.verify(self.device.number, code, timeout=backend.timeout)
        except (GatewayError, KeyError) as exc:
            logger.warning(
                "SMS gateway %r could not check a code for %s: %s",
                alias, self.device.masked_number, getattr(exc, "reason", type(exc).__name__),
            )
            return None

    def _unchanged(self, stored: str, failures: int, now: datetime) -> QuerySet[Any]:
        """The row, while it still holds the unexpired code that was read and
        no failure was recorded since."""
        return self.row.filter(token=stored, valid_until__gt=now, throttling_failure_count=failures)

    @staticmethod
    def _spent(now: datetime) -> dict[str, Any]:
        """What a success writes: the code is spent and the device was used ``now``."""
        return {**cleared_code(now), "last_used_at": now}

    @staticmethod
    def _failure(now: datetime) -> dict[str, Any]:
        return {"throttling_failure_count": F("throttling_failure_count") + 1, "throttling_failure_timestamp": now}

    def _succeeded(self, now: datetime, *, alias: str | None) -> None:
        device = self.device
        for name, value in self._spent(now).items():
            setattr(device, name, value)
        signals.code_verified.send(sender=type(device), alias=alias, number=device.masked_number, device=device)

    def _count_failure(self, now: datetime, failures: int) -> None:
        self.row.update(**self._failure(now))
        self.device.throttling_failure_count, self.device.throttling_failure_timestamp = failures + 1, now

    def _refused(self, reason: str, alias: str | None = None) -> None:
        device = self.device
        signals.code_refused.send(
            sender=type(device), alias=alias or None, number=device.masked_number, device=device, reason=reason
        )


def _vendor_timeout(alias: str) -> float:
    try:
        return gateways[alias].timeout
    except KeyError:  # the gateway is gone: CodeCheck._vendor_says_valid reports it
        return 0.0
