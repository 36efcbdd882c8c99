"""The SMS device for django-otp, and the record of every send attempt."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Self

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django_otp.models import CooldownMixin, SideChannelDevice, ThrottlingMixin, TimestampMixin

from . import limits, signals
from .codes import code_matches, generate_code, hash_code, unguessable_marker
from .conf import settings
from .dispatch import Delivery, send_code
from .exceptions import Attempt, DeliveryFailed, GatewayError
from .gateways import gateways
from .phone import mask_number, normalize_number

logger = logging.getLogger("django_sms_gateway")


class SMSDevice(TimestampMixin, CooldownMixin, ThrottlingMixin, SideChannelDevice):
    """A django-otp device that sends its code by SMS to ``number``.

    - :meth:`generate_challenge` makes a code with :mod:`secrets`, stores only
      its keyed hash, and sends it through ``SMS_GATEWAYS`` in order. It
      returns a short sentence for the user, or raises
      :class:`~django_sms_gateway.exceptions.DeliveryFailed` (user-safe text).
    - :meth:`verify_token` accepts the code once, even when requests race:
      success is a conditional UPDATE, failures an atomic increment. A code
      held by the vendor (iP1) is checked with that vendor.

    Settings: ``OTP_SMS_TOKEN_LENGTH``, ``OTP_SMS_TOKEN_VALIDITY``,
    ``OTP_SMS_THROTTLE_FACTOR``, ``OTP_SMS_COOLDOWN_DURATION`` and the
    message settings read by :mod:`django_sms_gateway.dispatch`.
    """

    number = models.CharField(
        _("phone number"),
        max_length=16,
        help_text=_("Mobile number in international format, such as +4798765432."),
    )
    token = models.CharField(max_length=80, blank=True, null=True, editable=False)
    vendor_gateway = models.CharField(
        max_length=64,
        blank=True,
        default="",
        editable=False,
        help_text="Alias of the gateway that made and checks the current code, if the vendor does.",
    )

    if TYPE_CHECKING:  # fields of django-otp's mixins, which ship no type hints
        valid_until: datetime
        last_generated_timestamp: datetime | None
        throttling_failure_count: int
        throttling_failure_timestamp: datetime | None

    class Meta(SideChannelDevice.Meta):
        verbose_name = _("SMS device")
        verbose_name_plural = _("SMS devices")

    # -- number -----------------------------------------------------------

    def clean_fields(self, exclude: Any = None) -> None:
        errors: dict[str, Any] = {}
        if not exclude or "number" not in exclude:
            try:
                self.number = normalize_number(self.number, settings.OTP_SMS_DEFAULT_REGION)
            except ValidationError as exc:
                errors["number"] = exc.error_list
        try:
            super().clean_fields(exclude=set(exclude or ()) | ({"number"} if errors else set()))
        except ValidationError as exc:
            errors.update(exc.error_dict)
        if errors:
            raise ValidationError(errors)

    @property
    def masked_number(self) -> str:
        return mask_number(self.number)

    # -- django-otp hooks ---------------------------------------------------

    def get_cooldown_duration(self) -> int:
        return int(settings.OTP_SMS_COOLDOWN_DURATION)

    def get_throttle_factor(self) -> float:
        return settings.OTP_SMS_THROTTLE_FACTOR

    # -- challenge ----------------------------------------------------------

    def generate_token(self, length: int | None = None, valid_secs: int | None = None, commit: bool = True) -> str:
        """Make a code, keep only its hash (and expiry); return the code."""
        code = generate_code(length or settings.OTP_SMS_TOKEN_LENGTH)
        self.token = hash_code(self.pk, code)
        self.vendor_gateway = ""
        self.valid_until = timezone.now() + timedelta(seconds=valid_secs or settings.OTP_SMS_TOKEN_VALIDITY)
        if commit:
            self.save(update_fields=["token", "vendor_gateway", "valid_until"])
        return code

    def generate_challenge(self, request: Any = None) -> str:
        """Send a fresh code; return a sentence for the user.

        During the cooldown nothing is sent and the sentence says when a new
        code may be asked for. Raises ``DeliveryFailed`` when no gateway
        delivered the code.
        """
        allowed, details = self.generate_is_allowed()
        if allowed:
            delivery = self.send_code(request=request)
            if delivery is not None:
                return gettext("We sent a code by text message to %(number)s.") % {"number": self.masked_number}
            details = self.generate_is_allowed()[1]
        return self._cooldown_sentence(details)

    def send_code(self, request: Any = None) -> Delivery | None:
        """Claim the cooldown slot, store the new code's hash and send it.

        Returns the :class:`~django_sms_gateway.dispatch.Delivery`, or None
        when another request took the cooldown slot first. The sending limits
        (:mod:`django_sms_gateway.limits`) come first: when one refuses, it
        raises :class:`~django_sms_gateway.exceptions.SendLimitExceeded` and
        nothing is written or sent.
        """
        charge = limits.check_send(self.number, user_id=self.user_id, request=request, sender=type(self))
        now = timezone.now()
        validity = int(settings.OTP_SMS_TOKEN_VALIDITY)
        code = generate_code(int(settings.OTP_SMS_TOKEN_LENGTH))
        token_hash = hash_code(self.pk, code)
        previous = self.last_generated_timestamp
        if self.cooldown_enabled:
            free = Q(last_generated_timestamp__isnull=True) | Q(
                last_generated_timestamp__lte=now - timedelta(seconds=self.get_cooldown_duration())
            )
        else:
            free = Q()  # no cooldown: every challenge sends
        claimed = (
            type(self)
            .objects.filter(free, pk=self.pk)
            .update(
                last_generated_timestamp=now,
                token=token_hash,
                vendor_gateway="",
                valid_until=now + timedelta(seconds=validity),
            )
        )
        if not claimed:
            charge.refund()  # nothing is sent: the send must not count against the limits
            self.refresh_from_db(fields=["last_generated_timestamp"])
            return None
        self.last_generated_timestamp, self.token, self.vendor_gateway = now, token_hash, ""
        self.valid_until = now + timedelta(seconds=validity)

        try:
            delivery = send_code(self.number, code, validity=validity)
        except DeliveryFailed as failure:
            # Nothing reached the user: give the slot back and forget the code.
            type(self).objects.filter(pk=self.pk, token=token_hash).update(
                last_generated_timestamp=previous, token=None, valid_until=now
            )
            self.last_generated_timestamp, self.token = previous, None
            DeliveryRecord.record(self, failure.attempts)
            raise

        if delivery.vendor_verifies:
            marker = unguessable_marker()
            type(self).objects.filter(pk=self.pk, token=token_hash).update(
                token=marker, vendor_gateway=delivery.alias
            )
            self.token, self.vendor_gateway = marker, delivery.alias
        DeliveryRecord.record(self, delivery.attempts, delivery.result)
        signals.code_sent.send(
            sender=type(self), alias=delivery.alias, number=self.masked_number, device=self, delivery=delivery
        )
        return delivery

    def _cooldown_sentence(self, details: dict[str, Any] | None) -> str:
        when = (details or {}).get("next_generation_at")
        if when is None:
            return gettext("A new code cannot be sent right now.")
        seconds = max(1, int((when - timezone.now()).total_seconds() + 0.999))
        return gettext("A code was sent recently. You can ask for a new one in %(seconds)d seconds.") % {
            "seconds": seconds
        }

    # -- verification -------------------------------------------------------

    def verify_token(self, token: Any) -> bool:
        """True once for the code that was sent; False for anything else
        (wrong, expired, reused, malformed, throttled)."""
        state = (
            type(self)
            .objects.filter(pk=self.pk)
            .values_list("token", "valid_until", "vendor_gateway", "throttling_failure_count",
                         "throttling_failure_timestamp")
            .first()
        )
        if state is None:
            return False
        (self.token, self.valid_until, self.vendor_gateway, self.throttling_failure_count,
         self.throttling_failure_timestamp) = state
        allowed, _details = self.verify_is_allowed()
        if not allowed:
            self._refused("throttled")
            return False

        now = timezone.now()
        candidate = self._well_formed(token)
        stored, failures = self.token, self.throttling_failure_count
        matched: bool | None
        if candidate is None or not stored or now >= self.valid_until:
            matched = False
        elif self.vendor_gateway:
            matched = self._vendor_says_valid(candidate)
            if matched is None:  # vendor unreachable: not the user's fault, not counted
                self._refused("vendor unavailable")
                return False
        else:
            matched = code_matches(self.pk, candidate, stored)

        if matched:
            alias = self.vendor_gateway or None
            # Succeeds for exactly one request: the one that still finds the
            # same code and no failure recorded since it read the row.
            won = (
                type(self)
                .objects.filter(
                    pk=self.pk, token=stored, valid_until__gt=now, throttling_failure_count=failures
                )
                .update(
                    token=None,
                    vendor_gateway="",
                    valid_until=now,
                    throttling_failure_count=0,
                    throttling_failure_timestamp=None,
                    last_generated_timestamp=None,
                    last_used_at=now,
                )
            )
            if won:
                self.token, self.vendor_gateway, self.valid_until = None, "", now
                self.throttling_failure_count, self.throttling_failure_timestamp = 0, None
                self.last_generated_timestamp, self.last_used_at = None, now
                signals.code_verified.send(
                    sender=type(self), alias=alias, number=self.masked_number, device=self
                )
                return True
            self._refused("already used")
            return False

        type(self).objects.filter(pk=self.pk).update(
            throttling_failure_count=F("throttling_failure_count") + 1, throttling_failure_timestamp=now
        )
        self.throttling_failure_count = failures + 1
        self.throttling_failure_timestamp = now
        self._refused("wrong, expired or malformed code")
        return False

    def _well_formed(self, token: Any) -> str | None:
        """The code as typed if it has the right shape, else None.

        Outer whitespace is forgiven; anything else (inner whitespace,
        non-ASCII digits, wrong length) is refused.
        """
        if isinstance(token, int) and not isinstance(token, bool):
            token = str(token)
        if not isinstance(token, str):
            return None
        token = token.strip()
        length = int(settings.OTP_SMS_TOKEN_LENGTH)
        if len(token) != length or not token.isascii():
            return None
        if self.vendor_gateway:
            return token if token.isalnum() else None
        return token if token.isdigit() else None

    def _vendor_says_valid(self, code: str) -> bool | None:
        try:
            backend = gateways[self.vendor_gateway]
            return backend.verify(self.number, code, timeout=backend.timeout)
        except (GatewayError, KeyError) as exc:
            logger.warning(
                "SMS gateway %r could not check a code for %s: %s",
                self.vendor_gateway, self.masked_number, getattr(exc, "reason", type(exc).__name__),
            )
            return None

    def _refused(self, reason: str) -> None:
        signals.code_refused.send(
            sender=type(self), alias=self.vendor_gateway or None, number=self.masked_number, device=self, reason=reason
        )


class DeliveryRecord(models.Model):
    """One attempt to send a code through one gateway. Never holds the code
    or the full number."""

    class Outcome(models.TextChoices):
        SENT = "sent", _("sent")
        FAILED = "failed", _("failed")
        SKIPPED = "skipped", _("skipped")

    created_at = models.DateTimeField(_("created"), default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    device = models.ForeignKey(SMSDevice, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries")
    gateway = models.CharField(_("gateway"), max_length=64, db_index=True)
    reference = models.CharField(_("vendor reference"), max_length=128, blank=True, db_index=True)
    outcome = models.CharField(_("outcome"), max_length=8, choices=Outcome.choices)
    status = models.CharField(_("vendor status"), max_length=32, blank=True)
    reason = models.CharField(_("reason"), max_length=255, blank=True)
    segments = models.PositiveSmallIntegerField(_("segments"), null=True, blank=True)
    charge = models.PositiveIntegerField(_("charge"), null=True, blank=True)
    elapsed_ms = models.PositiveIntegerField(_("elapsed (ms)"), default=0)
    number_masked = models.CharField(_("number"), max_length=24, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("SMS delivery")
        verbose_name_plural = _("SMS deliveries")

    def __str__(self) -> str:
        return f"{self.gateway} {self.outcome} {self.number_masked}"

    @classmethod
    def record(
        cls, device: SMSDevice | None, attempts: tuple[Attempt, ...], result: Any = None, *, number: str = ""
    ) -> list[Self]:
        """Write one row per attempt; the sent attempt gets ``result``.

        One INSERT per row, each standing alone: a login usually makes one
        attempt, and ``bulk_create`` would wrap even a single row in
        BEGIN/COMMIT (two more statements, and round trips on PostgreSQL).
        Without a ``device`` (a send for another package's device, such as
        django-two-factor-auth's), ``number`` (E.164) is stored masked."""
        masked = device.masked_number if device is not None else mask_number(number)
        rows: list[Self] = []
        for attempt in attempts:
            sent = attempt.outcome == cls.Outcome.SENT and result is not None
            rows.append(
                cls(
                    device=device,
                    gateway=attempt.alias[:64],
                    reference=(attempt.reference or "")[:128],
                    outcome=attempt.outcome,
                    status=(result.status if sent else "")[:32],
                    reason=attempt.reason[:255],
                    segments=result.segments if sent else None,
                    charge=result.charge if sent else None,
                    elapsed_ms=int(attempt.elapsed * 1000),
                    number_masked=masked,
                )
            )
        for row in rows:
            row.save(force_insert=True)
        return rows
