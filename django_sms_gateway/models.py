"""The SMS device for django-otp, and (from :mod:`.records`) the record of every send attempt."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import connections, models, router, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django_otp.models import CooldownMixin, SideChannelDevice, ThrottlingMixin, TimestampMixin, VerifyNotAllowed

from . import limits
from .codes import generate_code, hash_code
from .conf import settings
from .dispatch import Delivery, build_message
from .exceptions import user_safe_error
from .lockout import REBIND_REQUIRED
from .phone import mask_number, normalize_number
from .records import CHARGE_MAX, SEGMENTS_MAX, DeliveryRecord, DeliveryRecordQuerySet
from .sending import ClaimedSend, ScheduledDelivery, in_callers_transaction, warn_once_about_transaction
from .text import whole_seconds
from .verification import RESERVATION_MARGIN, CodeCheck, cleared_code


class SMSDevice(TimestampMixin, CooldownMixin, ThrottlingMixin, SideChannelDevice):
    """A django-otp device that sends its code by SMS to ``number``.

    - :meth:`generate_challenge` makes a code with :mod:`secrets`, stores only
      its keyed hash, and sends it through ``SMS_GATEWAYS`` in order. It
      returns a short sentence for the user, or raises
      :class:`~django_sms_gateway.exceptions.DeliveryFailed` (user-safe text).
    - :meth:`verify_token` accepts the code once, even when requests race:
      success is a conditional UPDATE, failures an atomic increment. A code
      held by the vendor (iP1) is checked with that vendor.

    - Changing ``number`` is a new binding (:meth:`rebind`): unconfirmed,
      old code cleared.

    Settings: ``OTP_SMS_TOKEN_LENGTH``, ``OTP_SMS_TOKEN_VALIDITY``,
    ``OTP_SMS_COOLDOWN_DURATION``, the lock-out settings read by
    :mod:`django_sms_gateway.lockout` and the message settings read by
    :mod:`django_sms_gateway.dispatch`.
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

    # -- binding to a number ------------------------------------------------

    #: The number as loaded from the database (None for a new device).
    _bound_number: str | None = None

    @classmethod
    def from_db(cls, db: Any, field_names: Any, values: Any) -> SMSDevice:
        device = super().from_db(db, field_names, values)
        device._bound_number = device.__dict__.get("number")
        return device

    def refresh_from_db(self, using: Any = None, fields: Any = None, *args: Any, **kwargs: Any) -> None:
        super().refresh_from_db(using, fields, *args, **kwargs)
        if fields is None or "number" in fields:
            self._bound_number = self.__dict__.get("number")

    #: Fields a new binding resets, with :meth:`_unbind`.
    BINDING_FIELDS = (
        "number", "confirmed", "token", "vendor_gateway", "valid_until", "last_generated_timestamp",
        "throttling_failure_count", "throttling_failure_timestamp",
    )

    def _unbind(self) -> None:
        self.confirmed = False
        for name, value in cleared_code(timezone.now()).items():
            setattr(self, name, value)

    def rebind(self, number: str) -> None:
        """Bind the device to ``number`` (normalised and validated as by
        ``full_clean``) as a new binding: it is unconfirmed until a code sent
        to the new number is verified, the old code is cleared, and so are
        the cooldown and the failure count (also after
        ``OTP_SMS_MAX_FAILURES`` wrong codes locked the device). Saved at once.
        Raises ``ValidationError`` for a number that cannot be used; then
        nothing changes."""
        normalized = normalize_number(number, settings.OTP_SMS_DEFAULT_REGION)
        self.number = normalized
        self._unbind()
        self.save(update_fields=self.BINDING_FIELDS)

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Save; a changed ``number`` is a new binding (see :meth:`rebind`):
        ``confirmed`` goes False and the old code is cleared. (A queryset
        ``update(number=...)`` bypasses this; use :meth:`rebind`.)"""
        update_fields = kwargs.get("update_fields")
        if self.number_changed and (update_fields is None or "number" in update_fields):
            self._unbind()
            if update_fields is not None:
                kwargs["update_fields"] = {*update_fields, *self.BINDING_FIELDS}
        super().save(*args, **kwargs)
        self._bound_number = self.number

    @property
    def number_changed(self) -> bool:
        """Whether ``number`` differs from the one loaded from the database."""
        return self._bound_number is not None and self.number != self._bound_number

    # -- django-otp hooks ---------------------------------------------------

    def get_cooldown_duration(self) -> int:
        return settings.OTP_SMS_COOLDOWN_DURATION

    def get_throttle_factor(self) -> float:
        return settings.lockout.factor

    def verify_is_allowed(self) -> tuple[bool, dict[str, Any] | None]:
        """django-otp's exponential throttle, with its wait capped at
        ``OTP_SMS_THROTTLE_MAX_DELAY``; after ``OTP_SMS_MAX_FAILURES``
        consecutive wrong codes, refused until the device is bound again
        (:meth:`rebind`) or an administrator resets it. The failure count
        itself stays exact (see :mod:`django_sms_gateway.lockout`)."""
        policy = settings.lockout
        failures = self.throttling_failure_count
        if policy.locked_for_good(failures):
            return False, {
                "reason": REBIND_REQUIRED,
                "failure_count": failures,
                "error_message": gettext(
                    "Too many wrong codes were entered. This phone must be set up again before it can be used."
                ),
            }
        if failures > 0 and self.throttling_failure_timestamp is not None:
            locked_until = self.throttling_failure_timestamp + timedelta(seconds=policy.delay(failures))
            if timezone.now() < locked_until:
                return False, {
                    "reason": VerifyNotAllowed.N_FAILED_ATTEMPTS,
                    "failure_count": failures,
                    "locked_until": locked_until,
                }
        # django-otp's own (uncapped) throttle is replaced, not added to.
        allowed: tuple[bool, dict[str, Any] | None] = super(ThrottlingMixin, self).verify_is_allowed()
        return allowed

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
        delivered the code, ``SendLimitExceeded`` when a sending limit
        refused it, and ``SMSUnavailable`` (the real error logged at ERROR)
        for anything else: django-otp shows ``str()`` of what this raises, so
        it is always user-safe. Called inside a transaction (django-otp's
        forms), the code is sent when it commits: see :meth:`send_code`.
        """
        try:
            allowed, details = self.generate_is_allowed()
            if allowed:
                delivery = self.send_code(request=request)
                if delivery is not None:
                    return gettext("We sent a code by text message to %(number)s.") % {"number": self.masked_number}
                details = self.generate_is_allowed()[1]
            return self._cooldown_sentence(details)
        except Exception as exc:
            safe = user_safe_error(exc)
            if safe is exc:
                raise
            raise safe from exc

    def send_code(self, request: Any = None) -> Delivery | ScheduledDelivery | None:
        """Claim the cooldown slot, store the new code's hash and send it.

        Returns the :class:`~django_sms_gateway.dispatch.Delivery`, or None
        when another request took the cooldown slot first. The sending limits
        (:mod:`django_sms_gateway.limits`) come first: when one refuses, it
        raises :class:`~django_sms_gateway.exceptions.SendLimitExceeded` and
        nothing is written or sent.

        Outside a transaction each write commits on its own: the claim before
        the vendor is called (so no row lock is held during the call), the
        records after it. Inside the caller's transaction the claim joins it,
        and the vendor is called once it commits (a
        :class:`ScheduledDelivery` is returned): a rollback then undoes a
        claim whose code was never sent, and never one that was.
        """
        validity = settings.OTP_SMS_TOKEN_VALIDITY
        code = generate_code(settings.OTP_SMS_TOKEN_LENGTH)
        # A broken template raises here, before anything is counted or written.
        message = build_message(self.number, code, validity=validity)
        reservation = limits.check_send(
            self.number, user_id=self.user_id, request=request, sender=type(self), confirmed=bool(self.confirmed)
        )
        database = router.db_for_write(type(self), instance=self)
        now = timezone.now()
        token_hash = hash_code(self.pk, code)
        previous = self.last_generated_timestamp
        try:
            claimed = self._claim(database, now, token_hash, now + timedelta(seconds=validity))
        except BaseException:
            reservation.release()  # a database error: nothing was sent
            raise
        if not claimed:
            reservation.release()  # nothing is sent: the send must not count against the limits
            self.refresh_from_db(fields=["last_generated_timestamp"])
            return None
        self.last_generated_timestamp, self.token, self.vendor_gateway = now, token_hash, ""
        self.valid_until = now + timedelta(seconds=validity)
        send = ClaimedSend(self, database, message, token_hash, previous, now, reservation)
        if in_callers_transaction(connections[database]):
            warn_once_about_transaction()
            transaction.on_commit(send.after_commit, using=database, robust=True)
            return ScheduledDelivery(database)
        return send.now()

    def _claim(self, database: str, now: datetime, token_hash: str, valid_until: datetime) -> bool:
        """Take the challenge slot in one conditional UPDATE: store the new
        code's hash and expiry and stamp ``last_generated_timestamp``. With a
        cooldown, only when no code was made within it, so that of two
        requests racing for it exactly one wins."""
        rows = type(self).objects.using(database).filter(pk=self.pk)
        if self.cooldown_enabled:
            since = now - timedelta(seconds=self.get_cooldown_duration())
            rows = rows.filter(Q(last_generated_timestamp__isnull=True) | Q(last_generated_timestamp__lte=since))
        return bool(rows.update(last_generated_timestamp=now, token=token_hash, vendor_gateway="",
                                valid_until=valid_until))

    def _cooldown_sentence(self, details: dict[str, Any] | None) -> str:
        when = (details or {}).get("next_generation_at")
        if when is None:
            return gettext("A new code cannot be sent right now.")
        return gettext("A code was sent recently. You can ask for a new one in %(seconds)d seconds.") % {
            "seconds": whole_seconds((when - timezone.now()).total_seconds())
        }

    # -- verification -------------------------------------------------------

    def verify_token(self, token: Any) -> bool:
        """True once for the code that was sent; False for anything else
        (wrong, expired, reused, malformed, throttled).

        Race-free without row locks, however the instance was loaded; a code
        the vendor holds (iP1) is checked with that vendor, one request at a
        time. SQL: 2 statements for our own codes, 3 for a vendor-held code
        (see :mod:`django_sms_gateway.verification`).
        """
        return CodeCheck(self).verdict(token)


__all__ = [
    "CHARGE_MAX", "REBIND_REQUIRED", "RESERVATION_MARGIN", "SEGMENTS_MAX", "DeliveryRecord", "DeliveryRecordQuerySet",
    "ScheduledDelivery", "SMSDevice",
]
