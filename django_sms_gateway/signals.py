"""Signals sites can connect to (for alerting, metrics, audit).

Every signal carries ``number`` already masked (``+47******32``); none
carries a code.

Each signal's arguments are documented where it is defined, below.

For ``code_verified`` and ``code_refused``, ``alias`` is the gateway that
checked the code when the vendor holds it (iP1), and None when the code was
checked here. ``code_sent`` may also come from the django-two-factor-auth
gateway (:mod:`django_sms_gateway.integrations.two_factor`), whose ``device``
is a two_factor ``PhoneDevice``.

They are notices: a receiver that raises is logged (logger
``django_sms_gateway``, with its traceback) and never stops a send, a
fallback or a verification halfway, nor reaches the user.

:class:`LogThrottle` keeps warnings that could repeat on every login to one a minute.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Hashable
from typing import Any

import django
from django.dispatch import Signal
from django.dispatch.dispatcher import NO_RECEIVERS

logger = logging.getLogger("django_sms_gateway")


class RobustSignal(Signal):
    """A signal whose receivers cannot break the code that sends it."""

    if django.VERSION >= (5, 0):
        #: Django's ``send_robust``, which logs a receiver's error through ``_log_robust_failure`` below.
        send = Signal.send_robust  # type: ignore[assignment]
    else:

        def send(self, sender: Any, **named: Any) -> list[tuple[Any, Any]]:  # type: ignore[misc, override]
            """Call every receiver like ``send_robust``; log what one raised.

            Django 4.2's ``send_robust`` logs a failure inline with
            ``receiver.__qualname__``, which a ``functools.partial`` or a
            callable object lacks: the AttributeError would escape."""
            if not self.receivers or self.sender_receivers_cache.get(sender) is NO_RECEIVERS:
                return []
            responses: list[tuple[Any, Any]] = []
            live: list[Any] = self._live_receivers(sender)  # type: ignore[assignment]  # a list on 4.2
            for receiver in live:
                try:
                    response = receiver(signal=self, sender=sender, **named)
                except Exception as err:
                    self._log_robust_failure(receiver, err)
                    response = err
                responses.append((receiver, response))
            return responses

    def _log_robust_failure(self, receiver: Any, err: Exception) -> None:
        # Replaces Django's (5.0+), which reads receiver.__qualname__ unguarded.
        logger.error(
            "SMS signal receiver %s raised %s",
            _name(receiver), type(err).__name__,
            exc_info=err,
        )


def _name(receiver: Any) -> str:
    """The receiver's name; never its repr, which for a partial shows its arguments."""
    named = getattr(receiver, "func", receiver)  # functools.partial
    return str(getattr(named, "__qualname__", type(named).__qualname__))


#: ``(alias, number, device, delivery)``: a gateway accepted the code.
code_sent = RobustSignal()
#: ``(alias, number, reason, error)``: one gateway failed; the next is tried.
gateway_failed = RobustSignal()
#: ``(aliases, number, attempts, error)``: no gateway delivered the code;
#: ``aliases`` are the gateways that failed, in order.
delivery_failed = RobustSignal()
#: ``(limit, number, key, retry_after)``: a sending limit refused a send; ``key``
#: is an opaque id of the counter (never the number or address), or None.
limit_hit = RobustSignal()
#: ``(alias, number, device)``: a code was accepted.
code_verified = RobustSignal()
#: ``(alias, number, device, reason)``: a code was refused.
code_refused = RobustSignal()
#: ``(alias, failures, cooloff)``: the gateway is skipped for ``cooloff`` seconds;
#: sent once per opening in the whole cluster, by the process whose failure opened it.
breaker_opened = RobustSignal()
#: ``(alias)``: the trial after a cool-off succeeded; the gateway is used again.
breaker_closed = RobustSignal()
#: ``(alias, region, delivered, seconds)``: one sent record's delivery became
#: final: a vendor receipt said delivered (``delivered`` True) or failed, or no
#: final receipt came by ``OTP_SMS_DELIVERY_DEADLINE`` (missing). ``region`` is
#: the number's ISO 3166 region ("" when unknown); ``seconds`` runs from the
#: send to the delivered receipt (None unless delivered). Sent once per record.
delivery_reported = RobustSignal()
#: ``(number, device, action)``: a device whose number is listed in ``OTP_SMS_TEST_NUMBERS`` was
#: used: ``action`` is ``"sent"`` (its fixed code became the challenge; no text message was sent) or
#: ``"verified"`` (its fixed code was accepted). Logged at WARNING too.
test_number_used = RobustSignal()
#: ``(check, number, reason, device)``: a risk check refused a send (nothing was sent or
#: counted); ``check`` is the entry's ``NAME``, ``device`` None outside an ``SMSDevice``.
risk_check_refused = RobustSignal()
#: ``(check, number, reason, fail_closed)``: a risk check's lookup could not answer (down,
#: hung, refused our credentials); with ``fail_closed`` the send was refused, else it went on.
risk_check_unavailable = RobustSignal()
#: ``(alias, region, failures, reports, cooloff)``: of the last ``reports`` final
#: delivery reports of gateway ``alias`` for ``region``, ``failures`` were failed
#: or missing, so it is skipped for that country for ``cooloff`` seconds (then one
#: trial); sent once per trip in the whole cluster (``failures = reports = 1``
#: when a trial failed).
delivery_health_tripped = RobustSignal()
#: ``(range, state, sends, verified, baseline, refused)``: the fraud guard throttles or blocks the number
#: range ``range`` (``"+47 9876"``: calling code and leading national digits, never a whole number);
#: ``state`` is ``"throttled"`` or ``"blocked"``, ``sends`` and ``verified`` the range's judged sends
#: and entered codes in the window, ``baseline`` the rest of the site's conversion (0 to 1), and
#: ``refused`` whether this send was refused (False in monitor mode). Sent for each send the guard refuses
#: (or would refuse, in monitor mode).
fraud_guard_tripped = RobustSignal()


#: Seconds between two warnings of the same kind (per process).
WARN_INTERVAL = 60.0


class LogThrottle:
    """Lets one warning per key through every ``WARN_INTERVAL`` seconds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: dict[Hashable, float] = {}
        self._held_back: dict[Hashable, int] = {}

    def allow(self, key: Hashable = None) -> int | None:
        """How many warnings of ``key`` were held back since the last one
        let through, or None: hold this one back too."""
        now = time.monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < WARN_INTERVAL:
                self._held_back[key] = self._held_back.get(key, 0) + 1
                return None
            self._last[key] = now
            return self._held_back.pop(key, 0)
