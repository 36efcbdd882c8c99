"""Send one code through the gateways in order, within the challenge's time budget.

The same code goes to every gateway tried. Gateways whose ``COUNTRIES``
exclude the number are skipped, and so are gateways whose circuit breaker is
open (:mod:`django_sms_gateway.breaker`; when all are open, the one whose
cool-off ends first is tried). The first gateway that accepts the message
ends the walk; a failure whose ``retry_next`` is false ends it too.

Nothing here touches the database: :class:`~django_sms_gateway.models.SMSDevice`
writes before and after the walk (see its ``send_code``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from . import signals
from .backends.base import BaseBackend, SendResult, SMSMessage
from .breaker import Circuit
from .conf import settings
from .exceptions import (
    Attempt,
    DeliveryFailed,
    GatewayError,
    GatewayTimeout,
    GatewayUnavailable,
    NoGatewayForNumber,
    RecipientNotReachable,
)
from .gateways import gateways
from .origin import origin_binding
from .phone import mask_number, region_of
from .text import compile_template, whole_minutes

logger = logging.getLogger("django_sms_gateway")


@dataclass(frozen=True, slots=True)
class Delivery:
    """The outcome of a successful :func:`send_code`."""

    backend: BaseBackend
    result: SendResult
    attempts: tuple[Attempt, ...]

    @property
    def alias(self) -> str:
        return self.backend.alias

    @property
    def vendor_verifies(self) -> bool:
        return self.backend.verifies_codes


def build_message(recipient: str, code: str, *, validity: int | None = None) -> SMSMessage:
    """The :class:`SMSMessage` for ``code``, rendered in the active language."""
    validity = settings.OTP_SMS_TOKEN_VALIDITY if validity is None else validity
    template = compile_template(str(settings.OTP_SMS_MESSAGE), origin_binding())
    site_name = str(settings.OTP_SMS_SITE_NAME or "")
    return SMSMessage(
        recipient=recipient,
        text=template.render(code, minutes=whole_minutes(validity), site_name=site_name),
        code=code,
        sender=settings.OTP_SMS_SENDER,
        validity=validity,
        template=template,
        site_name=site_name,
    )


def send_code(recipient: str, code: str, *, validity: int | None = None) -> Delivery:
    """Deliver ``code`` to ``recipient`` (E.164) through the first gateway that
    takes it. Raises :class:`DeliveryFailed` (or a subclass) with every attempt."""
    message = build_message(recipient, code, validity=validity)
    return send_message(message)


def send_message(
    message: SMSMessage, *, backends: Sequence[BaseBackend] | None = None, bypass_breaker: bool = False
) -> Delivery:
    """Walk ``backends`` (default: every gateway in ``SMS_GATEWAYS``, in order)
    until one accepts ``message``. Raises :class:`DeliveryFailed` (or a
    subclass) with every attempt when none does.

    ``bypass_breaker`` tries gateways whose circuit is open (an operator's
    test); their outcomes still count for the breaker."""
    deadline = time.monotonic() + float(settings.OTP_SMS_CHALLENGE_BUDGET)
    region = region_of(message.recipient)
    masked = mask_number(message.recipient)
    attempts: list[Attempt] = []
    backends = gateways.all() if backends is None else list(backends)
    if not any(b.serves(region) for b in backends):
        attempts = [Attempt(b.alias, "skipped", f"does not serve {region or 'this region'}") for b in backends]
        logger.warning("SMS to %s not sent: no gateway serves region %s", masked, region)
        raise NoGatewayForNumber(attempts)

    circuit = Circuit.read([b for b in backends if b.serves(region)], bypass=bypass_breaker)
    for backend in backends:
        if not backend.serves(region):
            attempts.append(Attempt(backend.alias, "skipped", f"does not serve {region}"))
            continue
        remaining = deadline - time.monotonic()
        if remaining <= 0.05:
            attempts.append(Attempt(backend.alias, "skipped", "time budget spent"))
            continue
        skipped = circuit.skip_reason(backend)
        if skipped is not None:
            attempts.append(Attempt(backend.alias, "skipped", skipped))
            logger.info("SMS gateway %r skipped for %s (%s)", backend.alias, masked, skipped)
            continue
        started = time.monotonic()
        try:
            result = _send_once(backend, message, remaining, deadline)
        except GatewayError as err:
            elapsed = time.monotonic() - started
            attempts.append(Attempt(backend.alias, "failed", err.reason, elapsed, err))
            logger.warning(
                "SMS gateway %r failed for %s after %.3fs: %s", backend.alias, masked, elapsed, err.reason
            )
            signals.gateway_failed.send(
                sender=type(backend), alias=backend.alias, number=masked, reason=err.reason, error=err
            )
            circuit.record(backend, err, cut_short=isinstance(err, GatewayTimeout) and remaining < backend.timeout)
            if not err.retry_next:
                failure: DeliveryFailed = RecipientNotReachable(attempts)
                _announce_failure(failure, masked)
                raise failure from err
            continue
        elapsed = time.monotonic() - started
        circuit.record(backend)
        attempts.append(Attempt(backend.alias, "sent", "accepted", elapsed, reference=result.reference))
        logger.info("SMS sent to %s via %r in %.3fs", masked, backend.alias, elapsed)
        return Delivery(backend, result, tuple(attempts))

    failure = DeliveryFailed(attempts)
    _announce_failure(failure, masked)
    raise failure


def _send_once(backend: BaseBackend, message: SMSMessage, remaining: float, deadline: float) -> SendResult:
    """One gateway's try; repeated once only when the connection failed
    before the request was sent (``not_sent``: connection refused), so no
    SMS can be sent twice. A check of our own that refused the message
    before any request (``not_sent`` too) would refuse it again."""
    try:
        return _call(backend, message, min(backend.timeout, remaining))
    except GatewayError as err:
        remaining = deadline - time.monotonic()
        if not (err.not_sent and isinstance(err, GatewayUnavailable)) or remaining <= 0.05:
            raise
        return _call(backend, message, min(backend.timeout, remaining))


def _call(backend: BaseBackend, message: SMSMessage, timeout: float) -> SendResult:
    try:
        return backend.send(message, timeout=timeout)
    except GatewayError as err:
        if err.alias is None:
            err.alias = backend.alias
        raise
    except Exception as exc:  # a bug in a backend must not end the walk
        logger.exception("SMS gateway %r raised an unexpected %s", backend.alias, type(exc).__name__)
        raise GatewayUnavailable(f"backend error ({type(exc).__name__})", alias=backend.alias) from exc


def _announce_failure(failure: DeliveryFailed, masked: str) -> None:
    logger.error("SMS to %s not delivered: %s", masked, failure.summary())
    aliases = tuple(a.alias for a in failure.attempts if a.outcome == "failed")
    signals.delivery_failed.send(
        sender=DeliveryFailed, aliases=aliases, number=masked, attempts=failure.attempts, error=failure
    )
