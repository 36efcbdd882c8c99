"""The SMS device for django-otp, and the record of every send attempt.

:class:`SMSDevice` owns its state: the claim of a cooldown slot, the writes
around the vendor call, the check of a typed code and the lock-out are its
own methods, and only they write its fields. :class:`DeliveryRecord` is one
row per gateway tried.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import operator
import secrets
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial, reduce
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import DatabaseError, InterfaceError, OperationalError, connections, models, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import F, Q, QuerySet, Value
from django.db.models.functions import Concat
from django.http import HttpRequest
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django_otp.models import (
    CooldownMixin,
    DeviceManager,
    GenerateNotAllowed,
    SideChannelDevice,
    ThrottlingMixin,
    TimestampMixin,
    VerifyNotAllowed,
)

from . import limits, signals
from .backends.base import SEGMENTS_MAX, BaseBackend, SMSMessage
from .conf import settings
from .dispatch import Delivery, build_message, gateways, send_message
from .exceptions import Attempt, DeliveryFailed, GatewayError, user_message, user_safe_error
from .phone import TEST_NUMBER_SENT, FixedCodeChallenge, mask_number, normalize_number, region_of, report_test_number
from .text import whole_seconds

__all__ = [
    "CHARGE_MAX", "REBIND_REQUIRED", "RESERVATION_MARGIN", "SEGMENTS_MAX", "ChallengeOutcome", "DeliveryRecord",
    "DeliveryRecordQuerySet", "SMSDevice", "SMSDeviceQuerySet", "ScheduledDelivery", "generate_code",
]

logger = logging.getLogger("django_sms_gateway")

#: ``SMSDevice.verify_is_allowed()``'s reason once ``OTP_SMS_MAX_FAILURES`` is reached.
REBIND_REQUIRED = "rebind_required"
#: Seconds past the vendor's timeout that a reserved vendor code stays reserved.
RESERVATION_MARGIN = 5.0
#: Largest value the ``charge`` column holds (on every database Django supports).
CHARGE_MAX = 2**31 - 1

# -- codes ------------------------------------------------------------------------------------------

_SALT = "django_sms_gateway.codes"
#: Start of the token column's value while one request checks a vendor's code.
_IN_PROGRESS_PREFIX = "checking:"


def generate_code(length: int) -> str:
    """A uniformly random string of ``length`` ASCII digits, from :mod:`secrets`."""
    return f"{secrets.randbelow(10**length):0{length}d}"


def _hash_code(device_id: object, code: str) -> str:
    """HMAC-SHA256 of ``code`` bound to the device, keyed with ``SECRET_KEY``
    (so a copy of the database alone does not reveal or test codes)."""
    return salted_hmac(_SALT, f"{device_id}:{code}", algorithm="sha256").hexdigest()


def _code_matches(device_id: object, code: str, stored_hash: str) -> bool:
    """Constant-time comparison of ``code`` with ``stored_hash``."""
    return hmac.compare_digest(_hash_code(device_id, code), stored_hash)


def _any_code_matches(device_id: object, code: str, stored_hashes: Iterable[str]) -> bool:
    """Whether ``code`` is one of the codes of ``stored_hashes``: each is
    compared in constant time, and all are compared, so timing tells nothing
    about which one matched."""
    typed = _hash_code(device_id, code)
    matched = False
    for stored in stored_hashes:
        matched |= hmac.compare_digest(typed, stored)
    return matched


def new_challenge_id() -> str:
    """A random id shared by every send of one challenge (32 hex digits)."""
    return secrets.token_hex(16)


def _vendor_marker() -> str:
    """A value for the token column when the vendor holds the code: matches no typed code."""
    return "vendor:" + secrets.token_hex(24)


def _in_progress_marker(until: float) -> str:
    """A value for the token column while one request asks the vendor
    whether a code is right, until ``until`` (epoch seconds) at the latest.
    Unique per request; nothing secret in it."""
    return f"{_IN_PROGRESS_PREFIX}{math.ceil(until)}:{secrets.token_hex(24)}"


def _is_check_in_progress(token: str, now: float) -> bool:
    """Whether ``token`` is an in-progress marker whose request may still be
    asking the vendor (one left behind by a dead process is not, once its
    time is up)."""
    if not token.startswith(_IN_PROGRESS_PREFIX):
        return False
    until = token[len(_IN_PROGRESS_PREFIX):].split(":", 1)[0]
    return not until.isdigit() or now < int(until)


def _well_formed(token: Any, *, vendor: bool) -> str | None:
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


def _no_code(now: datetime) -> dict[str, Any]:
    """The device's code fields with no code: none stored or held by a
    vendor, expired ``now``, no failures counted and no cooldown running."""
    return {
        "token": None,
        "vendor_gateway": "",
        "other_tokens": "",
        "challenge": "",
        "valid_until": now,
        "throttling_failure_count": 0,
        "throttling_failure_timestamp": None,
        "last_generated_timestamp": None,
    }


def _failure(now: datetime) -> dict[str, Any]:
    """What a wrong code writes: one more failure, counted atomically."""
    return {"throttling_failure_count": F("throttling_failure_count") + 1, "throttling_failure_timestamp": now}


def _spent(now: datetime) -> dict[str, Any]:
    """What a success writes: the code is spent and the device was used ``now``."""
    return {**_no_code(now), "last_used_at": now}


def _deliver_by(delivery: Delivery, sent_at: datetime) -> datetime | None:
    """When a "delivered" receipt for ``delivery`` is due: None when its
    gateway gives no receipts or ``OTP_SMS_DELIVERY_DEADLINE`` is None."""
    deadline = settings.OTP_SMS_DELIVERY_DEADLINE
    if deadline is None or not delivery.backend.receipts:
        return None
    return sent_at + timedelta(seconds=deadline)


def _watch_deadline(challenge: str, deliver_by: datetime) -> None:
    """Have the deadline task look at ``challenge`` at ``deliver_by``, when the
    site's task backend can run a task later (see :mod:`.failover`)."""
    from .failover import schedule  # only sends that get a deadline load the fail-over machinery

    schedule(challenge, deliver_by)


def _vendor_timeout(alias: str) -> float:
    try:
        return gateways[alias].timeout
    except KeyError:  # the gateway is gone: SMSDevice._vendor_says_valid reports it
        return 0.0


# -- the caller's transaction --------------------------------------------------------------------------

#: Errors that say the database connection was lost (not that a statement was wrong).
_CONNECTION_LOST = (OperationalError, InterfaceError)

_warned_about_transactions = threading.Event()


def _in_callers_transaction(connection: BaseDatabaseWrapper) -> bool:
    """Whether the caller has a transaction open on ``connection``.

    The transaction a test case wraps each test in does not count: it stands
    for autocommit, and never commits."""
    return connection.in_atomic_block and not getattr(connection.atomic_blocks[0], "_from_testcase", False)


def _warn_once_about_transaction() -> None:
    if _warned_about_transactions.is_set():
        return
    _warned_about_transactions.set()
    logger.warning(
        "SMSDevice.generate_challenge() was called inside a database transaction (django-otp's OTPTokenForm "
        "does this): the code is sent when that transaction commits, so that no vendor call holds its row "
        "locks and no rollback loses a code that was sent, but a failure to send can no longer be shown "
        "on the page. Call generate_challenge() outside a transaction (django_sms_gateway's SMSVerifyView "
        "does) to send at once. Logged once per process."
    )


# -- outcomes ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScheduledDelivery:
    """What :meth:`SMSDevice.send_code` returns when the code goes out once
    the caller's transaction on ``database`` commits."""

    database: str


@dataclass(frozen=True)
class ChallengeOutcome:
    """What happened when a code was asked for (:meth:`SMSDevice.send_challenge`).

    ``status`` is ``"sent"`` (inside the caller's transaction: due to be
    sent when it commits, and the message says so), ``"cooldown"`` (nothing
    sent: too soon after the last code; the message says how long to wait)
    or ``"failed"``; ``message`` is safe to show to the user.
    """

    SENT: ClassVar[str] = "sent"
    COOLDOWN: ClassVar[str] = "cooldown"
    FAILED: ClassVar[str] = "failed"

    status: str
    message: str

    @property
    def failed(self) -> bool:
        return self.status == self.FAILED


class _Releasable(Protocol):
    """What :func:`limits.check_send` returns: the counts one send raised."""

    def release(self) -> None: ...


@dataclass(frozen=True, slots=True)
class _Claim:
    """A cooldown slot one send won: what the writes after the vendor call need."""

    database: str
    message: SMSMessage
    token_hash: str
    #: The id every send of this challenge records (:attr:`DeliveryRecord.challenge`).
    challenge: str
    #: ``last_generated_timestamp`` before the claim, given back when nothing was sent.
    previous: datetime | None
    claimed_at: datetime
    reservation: _Releasable
    #: The gateways to walk, in order (None: ``SMS_GATEWAYS``).
    backends: list[BaseBackend] | None = None
    #: Seconds of ``OTP_SMS_CHALLENGE_BUDGET`` the risk checks took, which the walk no longer gets.
    risk_seconds: float = 0.0


# -- the device -------------------------------------------------------------------------------------


class SMSDeviceQuerySet(models.QuerySet["SMSDevice"]):
    """Changes to many devices at once (the admin's actions); each returns the rows changed."""

    def reset_throttling(self) -> int:
        """Forget the failure counts, and with them a lock-out."""
        return self.update(throttling_failure_count=0, throttling_failure_timestamp=None)

    def reset_cooldown(self) -> int:
        """Let a new code be sent at once."""
        return self.update(last_generated_timestamp=None)

    def clear_codes(self) -> int:
        """Clear the devices' codes, cooldowns and failure counts (a clean
        slate; confirmation is kept)."""
        return self.update(**_no_code(timezone.now()))

    def require_new_binding(self) -> int:
        """Unconfirm the devices and clear their codes, cooldowns and failure
        counts, as a changed number would: each must be confirmed again."""
        return self.update(confirmed=False, **_no_code(timezone.now()))


class SMSDevice(TimestampMixin, CooldownMixin, ThrottlingMixin, SideChannelDevice):
    """A django-otp device that sends its code by SMS to ``number``.

    - :meth:`send_challenge` (for a page) and :meth:`generate_challenge`
      (django-otp's API) make a code with :mod:`secrets`, store only its keyed
      hash, and send it through ``SMS_GATEWAYS`` in order (:meth:`send_code`).
    - :meth:`verify_token` accepts the code once, even when requests race:
      success is a conditional UPDATE, failures an atomic increment. A code
      held by the vendor (iP1, Twilio Verify) is checked with that vendor, one
      request at a time.
    - Wrong codes are throttled with a bounded wait; after
      ``OTP_SMS_MAX_FAILURES`` of them the device is locked until it is bound
      again (:meth:`rebind`). Changing ``number`` is a new binding:
      unconfirmed, old code cleared.

    Only these methods write the device's fields. Settings:
    ``OTP_SMS_TOKEN_LENGTH``, ``OTP_SMS_TOKEN_VALIDITY``,
    ``OTP_SMS_COOLDOWN_DURATION``, ``OTP_SMS_THROTTLE_FACTOR``,
    ``OTP_SMS_THROTTLE_MAX_DELAY``, ``OTP_SMS_MAX_FAILURES`` and the message
    settings read by :mod:`django_sms_gateway.dispatch`.
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
    other_tokens = models.TextField(
        blank=True,
        default="",
        editable=False,
        help_text="Keyed hashes of the codes that fail-overs sent for the current challenge, space-separated.",
    )
    challenge = models.CharField(
        max_length=32,
        blank=True,
        default="",
        editable=False,
        help_text="Id of the current challenge, shared by the delivery records of every send of it.",
    )

    objects = DeviceManager.from_queryset(SMSDeviceQuerySet)()

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
    def from_db(cls, db: Any, field_names: Any, values: Any, *args: Any, **kwargs: Any) -> SMSDevice:
        device = super().from_db(db, field_names, values, *args, **kwargs)
        device._bound_number = device.__dict__.get("number")
        return device

    def refresh_from_db(self, using: Any = None, fields: Any = None, *args: Any, **kwargs: Any) -> None:
        super().refresh_from_db(using, fields, *args, **kwargs)
        if fields is None or "number" in fields:
            self._bound_number = self.__dict__.get("number")

    #: Fields a new binding resets, with :meth:`_unbind`.
    BINDING_FIELDS = (
        "number", "confirmed", "token", "vendor_gateway", "other_tokens", "challenge", "valid_until",
        "last_generated_timestamp", "throttling_failure_count", "throttling_failure_timestamp",
    )

    def _unbind(self) -> None:
        self.confirmed = False
        for name, value in _no_code(timezone.now()).items():
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
        consecutive wrong codes, refused (reason :data:`REBIND_REQUIRED`)
        until the device is bound again (:meth:`rebind`) or an administrator
        resets it. The failure count itself stays exact."""
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

    # -- sending a code -----------------------------------------------------

    def generate_token(self, length: int | None = None, valid_secs: int | None = None, commit: bool = True) -> str:
        """Make a code, keep only its hash (and expiry); return the code."""
        code = generate_code(length or settings.OTP_SMS_TOKEN_LENGTH)
        self.token = _hash_code(self.pk, code)
        self.vendor_gateway = self.other_tokens = ""
        self.challenge = new_challenge_id()
        self.valid_until = timezone.now() + timedelta(seconds=valid_secs or settings.OTP_SMS_TOKEN_VALIDITY)
        if commit:
            self.save(update_fields=["token", "vendor_gateway", "other_tokens", "challenge", "valid_until"])
        return code

    def send_challenge(self, request: HttpRequest | None = None, *, reroute: bool = False) -> ChallengeOutcome:
        """Send a fresh code, as :meth:`generate_challenge` does, and say what
        happened in a sentence safe to show (for a failure, see
        :func:`~django_sms_gateway.exceptions.user_message`); never raises for
        a code that could not be sent.

        ``reroute`` (the shipped SMS step's "send a new code"): when the
        device still holds an unused code and the last send has no
        "delivered" receipt, the gateways that sent without one are tried
        after the others (:meth:`gateway_order`)."""
        try:
            return self._challenge(request, reroute=reroute)
        except Exception as exc:
            # A code a vendor may have sent stays good (see _deliver).
            return ChallengeOutcome(ChallengeOutcome.FAILED, user_message(user_safe_error(exc), code_kept=True))

    def generate_challenge(self, request: HttpRequest | None = None) -> str:
        """Send a fresh code; return a sentence for the user.

        During the cooldown nothing is sent and the sentence says when a new
        code may be asked for. Raises ``DeliveryFailed`` when no gateway
        delivered the code, ``SendLimitExceeded`` when a sending limit
        refused it, and ``SMSUnavailable`` (the real error logged at ERROR)
        for anything else: django-otp shows ``str()`` of what this raises, so
        it is always user-safe. Called inside a transaction (django-otp's
        forms), the code is sent when it commits (see :meth:`send_code`), and
        the sentence says that it will be sent, not that it was.
        """
        try:
            return self._challenge(request).message
        except Exception as exc:
            safe = user_safe_error(exc)
            if safe is exc:
                raise
            raise safe from exc

    def _challenge(self, request: HttpRequest | None, *, reroute: bool = False) -> ChallengeOutcome:
        """Send a code unless the cooldown runs; errors are raised as they come."""
        allowed, details = self.generate_is_allowed()
        if allowed:
            delivery = self.send_code(request=request, reroute=reroute)
            if isinstance(delivery, ScheduledDelivery):
                sentence = gettext("A code will be sent by text message to %(number)s.")
                return ChallengeOutcome(ChallengeOutcome.SENT, sentence % {"number": self.masked_number})
            if delivery is not None:
                sentence = gettext("We sent a code by text message to %(number)s.") % {"number": self.masked_number}
                return ChallengeOutcome(ChallengeOutcome.SENT, sentence)
            details = self.generate_is_allowed()[1]  # another request took the slot
        when = (details or {}).get("next_generation_at")
        if when is None:
            sentence = gettext("A new code cannot be sent right now.")
        else:
            seconds = whole_seconds((when - timezone.now()).total_seconds())
            sentence = ngettext(
                "A code was sent recently. You can ask for a new one in %(seconds)d second.",
                "A code was sent recently. You can ask for a new one in %(seconds)d seconds.",
                seconds,
            ) % {"seconds": seconds}
        return ChallengeOutcome(ChallengeOutcome.COOLDOWN, sentence)

    def cooldown_seconds(self) -> int:
        """Whole seconds until a new code may be sent; 0 when it may now."""
        allowed, details = self.generate_is_allowed()
        if allowed or not details or details.get("reason") != GenerateNotAllowed.COOLDOWN_DURATION_PENDING:
            return 0
        when: datetime | None = details.get("next_generation_at")
        return 0 if when is None else whole_seconds((when - timezone.now()).total_seconds())

    def has_pending_code(self) -> bool:
        """Whether a code sent to the device is unused and not expired."""
        return bool(self.token) and self.valid_until is not None and self.valid_until > timezone.now()

    def gateway_order(self, now: datetime | None = None) -> list[BaseBackend] | None:
        """The gateways for a new code while the user waits for one: None
        (the usual order) when the last send to the device has a "delivered"
        receipt, or nothing was sent since the device was last used (within
        ``OTP_SMS_TOKEN_VALIDITY``); else ``SMS_GATEWAYS`` with the gateways
        that sent since then without a "delivered" receipt moved to the end,
        in their order, so that each new code tries a gateway not yet tried."""
        now = now or timezone.now()
        since = now - timedelta(seconds=settings.OTP_SMS_TOKEN_VALIDITY)
        if self.last_used_at is not None and self.last_used_at > since:
            since = self.last_used_at
        sent = list(
            DeliveryRecord.objects.filter(device_id=self.pk, outcome=DeliveryRecord.Outcome.SENT, created_at__gt=since)
            .order_by("created_at", "id").values_list("gateway", "delivery")
        )
        if not sent or sent[-1][1] == DeliveryRecord.Delivery.DELIVERED:
            return None
        unconfirmed = {alias for alias, delivery in sent if delivery != DeliveryRecord.Delivery.DELIVERED}
        backends = gateways.all()
        return [b for b in backends if b.alias not in unconfirmed] + [b for b in backends if b.alias in unconfirmed]

    def send_code(
        self, request: HttpRequest | None = None, *, reroute: bool = False
    ) -> Delivery | ScheduledDelivery | FixedCodeChallenge | None:
        """Claim the cooldown slot, store the new code's hash and send it.

        Returns the :class:`~django_sms_gateway.dispatch.Delivery`, or None
        when another request took the cooldown slot first. The sending limits
        (:mod:`django_sms_gateway.limits`) come first: when one refuses, it
        raises :class:`~django_sms_gateway.exceptions.SendLimitExceeded` and
        nothing is written or sent. The risk checks (``OTP_SMS_RISK_CHECKS``)
        come before them: a refusal raises
        :class:`~django_sms_gateway.exceptions.RiskCheckRefused`, and nothing
        is counted, written or sent. Raises ``DeliveryFailed`` when no gateway
        took the code.

        Outside a transaction each write commits on its own: the claim before
        the vendor is called (so no row lock is held during the call), the
        records after it, on a new connection if the old one was lost
        meanwhile (or they wait in Redis: ``OTP_SMS_DELIVERY_RECORD_CACHE``).
        Inside the caller's transaction the claim joins it, and the vendor is
        called once it commits (a :class:`ScheduledDelivery` is
        returned): a rollback then undoes a claim whose code was never sent,
        and never one that was, and the caller's row locks are released
        before the call. ``reroute``: see :meth:`send_challenge`.

        A number listed in ``OTP_SMS_TEST_NUMBERS`` claims the slot with its
        listed code and sends nothing (no limits, no vendor, no record): a
        :class:`~django_sms_gateway.phone.FixedCodeChallenge` is returned.
        """
        # -- fixed test numbers (OTP_SMS_TEST_NUMBERS): the one branch point; see phone.report_test_number --
        if self.number in settings.OTP_SMS_TEST_NUMBERS:
            now = timezone.now()
            token_hash = _hash_code(self.pk, settings.OTP_SMS_TEST_NUMBERS[self.number])
            valid_until = now + timedelta(seconds=settings.OTP_SMS_TOKEN_VALIDITY)
            challenge = new_challenge_id()
            database = router.db_for_write(type(self), instance=self)
            if not self._claim(database, now, token_hash, challenge, valid_until):
                self.refresh_from_db(fields=["last_generated_timestamp"])
                return None
            self.last_generated_timestamp, self.token, self.vendor_gateway = now, token_hash, ""
            self.other_tokens, self.challenge, self.valid_until = "", challenge, valid_until
            return report_test_number(type(self), self, self.number, TEST_NUMBER_SENT)
        # -- end of the test-number branch --
        validity = settings.OTP_SMS_TOKEN_VALIDITY
        # One more query, only when a code is asked for while an unused one is held.
        order = self.gateway_order() if reroute and self.has_pending_code() else None
        code = generate_code(settings.OTP_SMS_TOKEN_LENGTH)
        # A broken template raises here, before anything is counted or written.
        message = build_message(self.number, code, validity=validity)
        risk_seconds = 0.0
        if settings.OTP_SMS_RISK_CHECKS:  # imported only then: a site without checks never loads them
            from .risk import run_risk_checks

            risk_seconds = run_risk_checks(self.number, device=self, request=request)
        reservation = limits.check_send(
            self.number, user_id=self.user_id, request=request, sender=type(self), confirmed=bool(self.confirmed)
        )
        database = router.db_for_write(type(self), instance=self)
        now = timezone.now()
        claim = _Claim(database, message, _hash_code(self.pk, code), new_challenge_id(),
                       self.last_generated_timestamp, now, reservation, order, risk_seconds)
        valid_until = now + timedelta(seconds=validity)
        try:
            claimed = self._claim(database, now, claim.token_hash, claim.challenge, valid_until)
        except BaseException:
            reservation.release()  # a database error: nothing was sent
            raise
        if not claimed:
            reservation.release()  # nothing is sent: the send must not count against the limits
            self.refresh_from_db(fields=["last_generated_timestamp"])
            return None
        self.last_generated_timestamp, self.token, self.vendor_gateway = now, claim.token_hash, ""
        self.other_tokens, self.challenge, self.valid_until = "", claim.challenge, valid_until
        if _in_callers_transaction(connections[database]):
            _warn_once_about_transaction()
            transaction.on_commit(partial(self._deliver_after_commit, claim), using=database, robust=True)
            return ScheduledDelivery(database)
        return self._deliver(claim)

    def _claim(self, database: str, now: datetime, token_hash: str, challenge: str, valid_until: datetime) -> bool:
        """Take the challenge slot in one conditional UPDATE: store the new
        code's hash and expiry and stamp ``last_generated_timestamp``. With a
        cooldown, only when no code was made within it, so that of two
        requests racing for it exactly one wins."""
        rows = type(self).objects.using(database).filter(pk=self.pk)
        if self.cooldown_enabled:
            since = now - timedelta(seconds=self.get_cooldown_duration())
            rows = rows.filter(Q(last_generated_timestamp__isnull=True) | Q(last_generated_timestamp__lte=since))
        return bool(rows.update(last_generated_timestamp=now, token=token_hash, vendor_gateway="",
                                other_tokens="", challenge=challenge, valid_until=valid_until))

    def _deliver(self, claim: _Claim) -> Delivery:
        """Walk the gateways with the claimed code, then write what followed
        (see :meth:`_write_after_call`).

        When no vendor can have sent it, the counts and the cooldown slot are
        given back and the code is forgotten; when one may have, the code
        stays good until it expires and the cooldown and counts stay, so that
        asking again cannot be charged at once."""
        try:
            delivery = send_message(claim.message, backends=claim.backends, spent=claim.risk_seconds)
        except DeliveryFailed as failure:
            if not failure.may_have_sent:
                claim.reservation.release()
                self._write_after_call(claim, "the released cooldown", lambda: self._claimed_row(claim).update(
                    last_generated_timestamp=claim.previous, token=None, valid_until=claim.claimed_at
                ))
                self.last_generated_timestamp, self.token = claim.previous, None
            attempts = failure.attempts
            self._write_after_call(claim, "the delivery records",
                                   lambda: DeliveryRecord.record(self, attempts, challenge=claim.challenge))
            raise

        if delivery.vendor_verifies:
            marker = _vendor_marker()
            self._write_after_call(claim, "the vendor's code marker", lambda: self._claimed_row(claim).update(
                token=marker, vendor_gateway=delivery.alias
            ))
            self.token, self.vendor_gateway = marker, delivery.alias
        deliver_by = _deliver_by(delivery, claim.claimed_at)
        self._write_after_call(claim, "the delivery records", lambda: DeliveryRecord.record(
            self, delivery.attempts, delivery.result, challenge=claim.challenge, region=delivery.region,
            deliver_by=deliver_by,
        ))
        if deliver_by is not None:
            _watch_deadline(claim.challenge, deliver_by)
        if signals.code_sent.has_listeners(type(self)):  # the healthy send's one signal costs nothing unheard
            signals.code_sent.send(
                sender=type(self), alias=delivery.alias, number=self.masked_number, device=self, delivery=delivery
            )
        return delivery

    def fail_over(self, challenge: str, *, now: datetime | None = None) -> Delivery | None:
        """Send a new code for ``challenge`` through the gateways not yet
        tried for it (``SMS_GATEWAYS`` order; countries, breakers and
        ``OTP_SMS_CHALLENGE_BUDGET`` apply), while the device still holds
        that challenge unused and unexpired; returns the delivery, or None
        when nothing was sent.

        The new code's keyed hash joins the challenge's (``other_tokens``)
        before the vendor is called, so that it works the moment it arrives,
        until the challenge's own expiry; any one of its codes spends them
        all (:meth:`verify_token`). The sending limits are not charged
        again: the user asked for one code. Gateways whose vendor makes its
        own code (``verifies_codes``) are not fail-over targets: a device
        checks at most one vendor-held code. Exactly-once per failed record
        is the caller's (:func:`django_sms_gateway.failover.fail_over`).
        """
        now = now or timezone.now()
        tried = set(
            DeliveryRecord.objects.filter(challenge=challenge, outcome=DeliveryRecord.Outcome.SENT)
            .values_list("gateway", flat=True)
        )
        backends = [b for b in gateways if b.alias not in tried and not b.verifies_codes]
        holds = self._row().filter(challenge=challenge, valid_until__gt=now, token__isnull=False)
        valid_until = holds.values_list("valid_until", flat=True).first()
        if valid_until is None:
            return None
        if not backends:
            logger.warning("SMS to %s: no gateway left to fail over to (tried %s)",
                           self.masked_number, ", ".join(sorted(tried)) or "none")
            return None
        code = generate_code(settings.OTP_SMS_TOKEN_LENGTH)
        message = build_message(self.number, code, validity=max(1, int((valid_until - now).total_seconds())))
        token_hash = _hash_code(self.pk, code)
        added = holds.update(other_tokens=Concat(F("other_tokens"), Value(" " + token_hash),
                                                 output_field=models.TextField()))
        if not added:
            return None
        try:
            delivery = send_message(message, backends=backends)
        except DeliveryFailed as failure:
            DeliveryRecord.record(self, failure.attempts, challenge=challenge)
            return None
        deliver_by = _deliver_by(delivery, now)
        DeliveryRecord.record(self, delivery.attempts, delivery.result, challenge=challenge,
                              region=delivery.region, deliver_by=deliver_by)
        logger.info("SMS to %s failed over to gateway %r", self.masked_number, delivery.alias)
        if deliver_by is not None:
            _watch_deadline(challenge, deliver_by)
        signals.code_sent.send(
            sender=type(self), alias=delivery.alias, number=self.masked_number, device=self, delivery=delivery
        )
        return delivery

    def _deliver_after_commit(self, claim: _Claim) -> None:
        """:meth:`_deliver`, once the caller's transaction has committed; what
        goes wrong is logged (no one is left to tell)."""
        try:
            self._deliver(claim)
        except DeliveryFailed:
            pass  # logged, signalled and recorded by the walk
        except Exception as exc:
            logger.error(
                "SMS code for %s, due when the transaction committed, was not sent: %s",
                self.masked_number, type(exc).__name__, exc_info=True,
            )

    def _claimed_row(self, claim: _Claim) -> QuerySet[SMSDevice]:
        """The device's row, while it still holds the code ``claim`` stored."""
        return type(self).objects.using(claim.database).filter(pk=self.pk, token=claim.token_hash)

    def _write_after_call(self, claim: _Claim, what: str, write: Callable[[], object]) -> None:
        """Run ``write`` after the vendor was called. A connection lost while
        the vendor answered (terminated, or timed out) is opened again once;
        a write that still fails is logged, not raised: the code went out
        (or did not) whatever the database says, and the user is told so.
        Inside a transaction the error is raised: the transaction is lost."""
        connection = connections[claim.database]
        for first_try in (True, False):
            try:
                write()
                return
            except DatabaseError as exc:
                if connection.in_atomic_block:
                    raise
                if first_try and isinstance(exc, _CONNECTION_LOST):
                    logger.warning(
                        "SMS to %s: the database connection was lost while the vendor was called (%s); "
                        "writing %s on a new connection", self.masked_number, type(exc).__name__, what,
                    )
                    try:
                        connection.close()
                    except DatabaseError:
                        pass
                    continue
                logger.error(
                    "SMS to %s: could not write %s after the vendor was called (%s)",
                    self.masked_number, what, type(exc).__name__,
                )
                return

    # -- checking a code ----------------------------------------------------

    def verify_token(self, token: Any) -> bool:
        """True once for a code sent for the current challenge (the first, or
        one a fail-over sent: any one spends them all); False for anything
        else (wrong, expired, reused, malformed, throttled).

        Race-free without row locks, however the instance was loaded: the row
        is read fresh, a success is a conditional UPDATE that only one request
        can win, and a failure is an atomic increment (never lost). Decisions
        use the row as read, never attributes another thread sharing the
        instance might overwrite; the attributes are set for django-otp and
        the caller. A code the vendor holds is checked with that vendor, one
        request at a time (:meth:`_verify_with_vendor`).

        A right code of ours, on a device with no failure counted, is spent
        in one conditional UPDATE (:meth:`_spend_at_once`); anything else
        reads the row and decides as below.

        SQL: 1 statement for a right code of ours with no failure counted; 3
        for a wrong one or one after a failure (the UPDATE that spent
        nothing, SELECT, UPDATE); for a vendor-held code checked with the
        vendor, SELECT, reserve, outcome (and the first UPDATE before them
        when a fail-over code of ours is also held).
        """
        if self._spend_at_once(token):
            return True
        state = self._row().values_list(
            "token", "valid_until", "vendor_gateway", "throttling_failure_count", "throttling_failure_timestamp",
            "other_tokens",
        ).first()
        if state is None:
            return False
        stored, valid_until, vendor, failures, _failed_at, others = state
        (self.token, self.valid_until, self.vendor_gateway, self.throttling_failure_count,
         self.throttling_failure_timestamp, self.other_tokens) = state
        allowed, details = self.verify_is_allowed()
        if not allowed:
            locked = (details or {}).get("reason") == REBIND_REQUIRED
            self._refused("too many failures" if locked else "throttled", vendor)
            return False

        now = timezone.now()
        candidate = _well_formed(token, vendor=bool(vendor))
        if candidate is None or not stored or now >= valid_until:
            matched = False
        elif vendor:
            # A code a fail-over sent beside the vendor's is ours to check.
            if not (others and candidate.isdigit() and _any_code_matches(self.pk, candidate, others.split())):
                return self._verify_with_vendor(candidate, stored, vendor, failures, now)
            matched = True
        else:
            matched = _any_code_matches(self.pk, candidate, [stored, *others.split()])

        if matched:
            # Succeeds for exactly one request: the one that still finds the
            # same code and no failure recorded since it read the row. It
            # spends every code of the challenge (``_spent``).
            if self._unchanged(stored, failures, now).update(**_spent(now)):
                self._succeeded(now, alias=None)
                return True
            self._refused("already used", vendor)
            return False

        self._count_failure(now, failures)
        self._refused("wrong, expired or malformed code", vendor)
        return False

    def _spend_at_once(self, token: Any) -> bool:
        """Spend the challenge when ``token`` is one of its codes of ours,
        unexpired, and the device has no failure counted, in one conditional
        UPDATE; False when it updated nothing (then :meth:`verify_token`
        reads the row and decides, counting a failure as usual).

        The UPDATE matches the candidate's keyed hash (:func:`_hash_code`)
        against the stored hashes with SQL equality (``token``) and a
        substring match (``other_tokens``, fixed-length hex hashes separated
        by spaces, so only a whole hash can match). Whatever the database's
        comparison time reveals is about how two HMAC-SHA256 values keyed with
        ``SECRET_KEY`` compare, which without the key says nothing about the
        code: the same guarantee as the constant-time comparison the read path
        makes. Requiring no failure counted keeps the throttle and lock-out
        exactly as strong (they start at the first failure, which sends every
        later code through the read path and :meth:`verify_is_allowed`), and
        of racing requests only one can match the row before the code is spent.
        A device whose code the vendor holds tries this only for a fail-over
        code of ours (``other_tokens``); this instance's attributes only decide
        whether to try, the row decides the outcome."""
        candidate = _well_formed(token, vendor=False)
        if candidate is None or (self.vendor_gateway and not self.other_tokens):
            return False
        now = timezone.now()
        typed = _hash_code(self.pk, candidate)
        ours = Q(token=typed, vendor_gateway="") | Q(other_tokens__contains=typed)
        rows = self._row().filter(ours, valid_until__gt=now, throttling_failure_count=0)
        if not rows.update(**_spent(now)):
            return False
        self._succeeded(now, alias=None)
        return True

    def _verify_with_vendor(self, candidate: str, stored: str, vendor: str, failures: int, now: datetime) -> bool:
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
        (the vendor's timeout and :data:`RESERVATION_MARGIN`) is up; then the
        next request reserves over it. The marker holds nothing secret.
        """
        if _is_check_in_progress(stored, now.timestamp()):
            self._refused("check in progress", vendor)
            return False
        marker = _in_progress_marker(now.timestamp() + _vendor_timeout(vendor) + RESERVATION_MARGIN)
        if not self._unchanged(stored, failures, now).update(token=marker):
            self._refused("check in progress", vendor)
            return False
        mine = self._row().filter(token=marker)

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
            if mine.update(**_spent(now)):
                self._succeeded(now, alias=vendor)
                return True
            # A new challenge replaced the code while the vendor was asked.
            self._refused("already used", vendor)
            return False
        if mine.update(token=stored, **_failure(now)):
            self.throttling_failure_count, self.throttling_failure_timestamp = failures + 1, now
        else:  # a new challenge replaced the marker; the guess still counts
            self._count_failure(now, failures)
        self._refused("wrong, expired or malformed code", vendor)
        return False

    def _vendor_says_valid(self, code: str, alias: str) -> bool | None:
        """The vendor's verdict on ``code``; None when it could not answer."""
        try:
            backend = gateways[alias]
            return backend.verify(self.number, code, timeout=backend.timeout)
        except (GatewayError, KeyError) as exc:
            logger.warning(
                "SMS gateway %r could not check a code for %s: %s",
                alias, self.masked_number, getattr(exc, "reason", type(exc).__name__),
            )
            return None

    def _row(self) -> QuerySet[SMSDevice]:
        return type(self).objects.filter(pk=self.pk)

    def _unchanged(self, stored: str, failures: int, now: datetime) -> QuerySet[SMSDevice]:
        """The row, while it still holds the unexpired code that was read and
        no failure was recorded since."""
        return self._row().filter(token=stored, valid_until__gt=now, throttling_failure_count=failures)

    def _succeeded(self, now: datetime, *, alias: str | None) -> None:
        for name, value in _spent(now).items():
            setattr(self, name, value)
        limits.note_verified(self.number, owner=bool(self.confirmed) and self.user_id is not None)
        signals.code_verified.send(sender=type(self), alias=alias, number=self.masked_number, device=self)

    def _count_failure(self, now: datetime, failures: int) -> None:
        self._row().update(**_failure(now))
        self.throttling_failure_count, self.throttling_failure_timestamp = failures + 1, now

    def _refused(self, reason: str, alias: str | None = None) -> None:
        signals.code_refused.send(
            sender=type(self), alias=alias or None, number=self.masked_number, device=self, reason=reason
        )


# -- delivery records -------------------------------------------------------------------------------


def _clamped(value: int | None, most: int) -> int | None:
    """A vendor's count, kept within its column: a row must not fail after the SMS went out."""
    return None if value is None else max(0, min(int(value), most))


# -- records waiting in Redis (OTP_SMS_DELIVERY_RECORD_CACHE) ---------------------------------------


class WaitingRecords:
    """Delivery records a send left in the Redis list of
    ``OTP_SMS_DELIVERY_RECORD_CACHE`` instead of writing them itself: one
    RPUSH on the login's critical path instead of an INSERT.

    They are written in batches (``bulk_create``) by the send that finds
    :attr:`batch` of them waiting, and before every query of
    ``DeliveryRecord.objects`` (a receipt's webhook, the deadline task, the
    admin, ``gateway_order``), so no reader misses one. An entry leaves the
    list only after its row is committed, and carries a key (the row's
    ``waiting_key``, unique) that makes writing it twice keep one row: a
    process that dies after the response, or while it writes a batch, loses
    nothing; the next reader or batch writes what it left. What Redis itself
    loses (a restart without persistence) is lost.
    """

    #: The list's key, under the cache's prefix and version.
    key = "sms_gateway:waiting-records"
    #: Entries a send lets wait before it writes them; also the most one INSERT writes.
    batch = 50
    #: Batches one reader writes at most before it reads.
    most_batches = 20
    _warnings = signals.LogThrottle()

    @staticmethod
    def _redis() -> tuple[Any, str]:
        """The Redis client of ``OTP_SMS_DELIVERY_RECORD_CACHE`` and the list's full key."""
        from django.core.cache import caches
        from django.core.cache.backends.redis import RedisCache

        cache = caches[settings.OTP_SMS_DELIVERY_RECORD_CACHE]
        if not isinstance(cache, RedisCache):
            raise TypeError(f"{type(cache).__name__} is not a RedisCache")  # E049 at start-up; here at run time
        return cache._cache.get_client(write=True), cache.make_key(WaitingRecords.key)

    @classmethod
    def park(cls, rows: Sequence[DeliveryRecord], database: str) -> bool:
        """Leave ``rows`` waiting; False (nothing left waiting) when the cache failed."""
        if settings.OTP_SMS_DELIVERY_RECORD_CACHE is None:
            return False
        entries = []
        for row in rows:
            row.waiting_key = secrets.token_hex(16)
            entries.append(json.dumps(_entry(row, database), separators=(",", ":")))
        try:
            client, key = cls._redis()
            waiting = client.rpush(key, *entries)
        except Exception as exc:  # any redis-py error: the caller writes the rows itself
            cls._warn("could not leave delivery records waiting in OTP_SMS_DELIVERY_RECORD_CACHE (%s); "
                      "writing them at once", type(exc).__name__)
            for row in rows:
                row.waiting_key = None
            return False
        if waiting % cls.batch == 0:  # one send in each batch writes it, not every send while it is written
            cls.write(batches=1)
        return True

    @classmethod
    def write(cls, batches: int | None = None) -> int:
        """Write up to ``batches`` batches (default :attr:`most_batches`) of
        waiting records; returns the rows written. Never raises: a failure is
        logged and the records keep waiting."""
        if settings.OTP_SMS_DELIVERY_RECORD_CACHE is None:
            return 0
        written = start = 0
        try:
            client, key = cls._redis()
            for _batch in range(cls.most_batches if batches is None else batches):
                entries = client.lrange(key, start, start + cls.batch - 1)
                if not entries:
                    break
                if not cls._write_batch(client, key, entries):
                    start += len(entries)  # still listed until the caller's transaction commits
                written += len(entries)
                if len(entries) < cls.batch:
                    break
        except Exception as exc:  # redis-py or the database: the records stay for the next reader
            cls._warn("could not write the delivery records waiting in OTP_SMS_DELIVERY_RECORD_CACHE (%s); "
                      "they keep waiting", type(exc).__name__)
        return written

    @classmethod
    def _write_batch(cls, client: Any, key: str, entries: list[bytes]) -> bool:
        """Write ``entries``; returns whether they already left the list."""
        by_database: dict[str, tuple[list[dict[str, Any]], list[bytes]]] = {}
        unreadable: list[bytes] = []
        for entry in entries:
            try:
                fields = _from_entry(json.loads(entry))
                database = fields.pop("database")
                connections[database]  # noqa: B018  (a database alias no longer in DATABASES)
            except Exception:  # written by another version, or by hand: set aside, never retried forever
                unreadable.append(entry)
                continue
            rows, taken = by_database.setdefault(database, ([], []))
            rows.append(fields)
            taken.append(entry)
        if unreadable:
            cls._set_aside(client, key, unreadable)
        forgotten = True
        for database, (rows, taken) in by_database.items():
            written = _written_in_transaction(database)
            if written is not None:  # still listed until the commit: never write one twice in it
                fresh = [index for index, entry in enumerate(taken) if entry not in written]
                rows, taken = [rows[index] for index in fresh], [taken[index] for index in fresh]
                forgotten = False
                if not rows:
                    continue
            devices = {row["device_id"] for row in rows} - {None}
            if devices:  # a device deleted since the send: its rows keep no device, as SET_NULL would have
                found = set(SMSDevice._base_manager.using(database).filter(pk__in=devices)
                            .values_list("pk", flat=True))
                for row in rows:
                    if row["device_id"] not in found:
                        row["device_id"] = None
            with transaction.atomic(using=database):
                DeliveryRecord._base_manager.using(database).bulk_create(
                    [DeliveryRecord(**row) for row in rows], ignore_conflicts=True
                )
            if written is not None:
                written.update(taken)
            # Only once the rows are committed (at once outside a transaction): a rollback leaves them waiting.
            transaction.on_commit(partial(cls._forget, client, key, taken), using=database)
        return forgotten

    @staticmethod
    def _set_aside(client: Any, key: str, entries: list[bytes]) -> None:
        """Move entries no database can take to the list ``<key>:unreadable``, for an operator."""
        pipe = client.pipeline(transaction=True)
        pipe.rpush(f"{key}:unreadable", *entries)
        for entry in entries:
            pipe.lrem(key, 1, entry)
        pipe.execute()
        logger.error("%d delivery record(s) waiting in OTP_SMS_DELIVERY_RECORD_CACHE could not be read (another "
                     "version's, or a database alias no longer in DATABASES); moved to the list %r",
                     len(entries), f"{key}:unreadable")

    @staticmethod
    def _forget(client: Any, key: str, entries: list[bytes]) -> None:
        pipe = client.pipeline(transaction=False)
        for entry in entries:
            pipe.lrem(key, 1, entry)
        pipe.execute()

    @classmethod
    def _warn(cls, message: str, *args: Any) -> None:
        if cls._warnings.allow(message) is not None:
            logger.warning(message, *args)


def _written_in_transaction(database: str) -> set[bytes] | None:
    """The entries written in the transaction open on ``database`` (None
    outside one): they stay listed until it commits, and a row deleted in it
    must not come back at its next read."""
    connection = connections[database]
    if not connection.in_atomic_block:
        return None
    outermost = connection.atomic_blocks[0]
    memo = getattr(connection, "_sms_waiting_written", None)
    if memo is None or memo[0] is not outermost:  # another transaction since: a rolled-back one's are listed again
        memo = (outermost, set())
        connection._sms_waiting_written = memo  # type: ignore[attr-defined]
    return memo[1]


_DATES = ("created_at", "updated_at", "deliver_by")
_ENTRY_FIELDS = (
    "waiting_key", "created_at", "updated_at", "device_id", "gateway", "reference", "outcome", "status", "reason",
    "segments", "charge", "elapsed_ms", "number_masked", "delivery", "region", "challenge", "deliver_by",
)


def _entry(row: DeliveryRecord, database: str) -> dict[str, Any]:
    fields = {name: getattr(row, name) for name in _ENTRY_FIELDS}
    for name in _DATES:
        if fields[name] is not None:
            fields[name] = fields[name].isoformat()
    fields["database"] = database
    return fields


def _from_entry(fields: dict[str, Any]) -> dict[str, Any]:
    """The model fields (and ``database``) of a waiting entry; raises on anything else."""
    if set(_ENTRY_FIELDS) - set(fields) or not isinstance(fields.get("database"), str):
        raise ValueError("not a waiting delivery record")
    known = {name: fields[name] for name in (*_ENTRY_FIELDS, "database")}
    for name in _DATES:
        if known.get(name) is not None:
            known[name] = datetime.fromisoformat(known[name])
    return known


class DeliveryRecordQuerySet(models.QuerySet["DeliveryRecord"]):
    """Delivery records as vendor status reports find them. Each query
    first writes the records waiting in ``OTP_SMS_DELIVERY_RECORD_CACHE``
    (:class:`WaitingRecords`), so that none is missed, however early the
    queryset was made."""

    def _fetch_all(self) -> None:
        if self._result_cache is None:
            WaitingRecords.write()
        super()._fetch_all()

    def count(self) -> int:
        if self._result_cache is None:
            WaitingRecords.write()
        return super().count()

    def exists(self) -> bool:
        if self._result_cache is None:
            WaitingRecords.write()
        return super().exists()

    def aggregate(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        WaitingRecords.write()
        return super().aggregate(*args, **kwargs)

    def iterator(self, *args: Any, **kwargs: Any) -> Any:
        WaitingRecords.write()
        return super().iterator(*args, **kwargs)

    def update(self, **kwargs: Any) -> int:
        WaitingRecords.write()
        return super().update(**kwargs)

    def delete(self) -> tuple[int, dict[str, int]]:
        WaitingRecords.write()
        return super().delete()

    def for_reference(self, gateway: str, reference: str) -> DeliveryRecordQuerySet:
        """The sent records of vendor reference ``reference`` through gateway ``gateway``."""
        return self.filter(gateway=gateway, reference=reference, outcome=DeliveryRecord.Outcome.SENT)

    def update_status(
        self, status: str, *, segments: int | None = None, final_statuses: Iterable[str] = ()
    ) -> int:
        """Store a vendor-reported ``status`` (kept raw, cut to the column) and
        part count; returns the rows updated.

        A record in one of ``final_statuses`` (compared case-insensitively)
        keeps its status and part count: no report replaces a final status,
        not even another final one, so a captured report replayed later
        cannot turn "delivered" into "failed" or back. A report of what a
        record already holds (the same status, and the same part count when
        one is given) writes nothing, not even ``updated_at``. Each row is
        decided by the one UPDATE, so two reports racing cannot both win."""
        status = status[:32]
        clamped = None if segments is None else _clamped(segments, SEGMENTS_MAX)
        rows = self.exclude(Q(status=status) if clamped is None else Q(status=status, segments=clamped))
        finals = {word.casefold() for word in final_statuses}
        if finals:
            rows = rows.exclude(reduce(operator.or_, (Q(status__iexact=word) for word in finals)))
        changes: dict[str, Any] = {"status": status, "updated_at": timezone.now()}
        if clamped is not None:
            changes["segments"] = clamped
        return rows.update(**changes)


class DeliveryRecord(models.Model):
    """One attempt to send a code through one gateway. Never holds the code
    or the full number."""

    class Outcome(models.TextChoices):
        SENT = "sent", _("sent")
        FAILED = "failed", _("failed")
        SKIPPED = "skipped", _("skipped")

    class Delivery(models.TextChoices):
        """What the vendor said became of a sent message ("" on rows not sent)."""

        #: The vendor took it; no final receipt yet.
        ACCEPTED = "accepted", _("accepted")
        #: Final: the vendor says the handset got it.
        DELIVERED = "delivered", _("delivered")
        #: Final: the vendor says it will not be delivered (in its own words: undelivered, rejected, expired...).
        FAILED = "failed", _("failed")
        #: Final for us: no final receipt by the deadline (``OTP_SMS_DELIVERY_DEADLINE``).
        MISSING = "missing", _("missing")

    created_at = models.DateTimeField(_("created"), default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    device = models.ForeignKey(
        "django_sms_gateway.SMSDevice", null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries"
    )
    gateway = models.CharField(_("gateway"), max_length=64, db_index=True)
    reference = models.CharField(_("vendor reference"), max_length=128, blank=True, db_index=True)
    outcome = models.CharField(_("outcome"), max_length=8, choices=Outcome.choices)
    status = models.CharField(_("vendor status"), max_length=32, blank=True)
    reason = models.CharField(_("reason"), max_length=255, blank=True)
    segments = models.PositiveSmallIntegerField(_("segments"), null=True, blank=True)
    charge = models.PositiveIntegerField(_("charge"), null=True, blank=True)
    elapsed_ms = models.PositiveIntegerField(_("elapsed (ms)"), default=0)
    number_masked = models.CharField(_("number"), max_length=24, blank=True)
    delivery = models.CharField(_("delivery"), max_length=12, choices=Delivery.choices, blank=True)
    region = models.CharField(_("region"), max_length=2, blank=True)
    challenge = models.CharField(_("challenge"), max_length=32, blank=True, db_index=True)
    deliver_by = models.DateTimeField(_("delivered receipt due"), null=True, blank=True, db_index=True)
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)
    failed_over_at = models.DateTimeField(_("failed over"), null=True, blank=True)
    #: The key of a row that waited in ``OTP_SMS_DELIVERY_RECORD_CACHE``: written twice, it stays one row.
    waiting_key = models.CharField(max_length=32, null=True, blank=True, editable=False)

    objects = DeliveryRecordQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["waiting_key"], condition=Q(waiting_key__isnull=False),
                                    name="sms_delivery_unique_waiting_key"),
        ]
        verbose_name = _("SMS delivery")
        verbose_name_plural = _("SMS deliveries")

    def __str__(self) -> str:
        return f"{self.gateway} {self.outcome} {self.number_masked}"

    @classmethod
    def record(
        cls, device: SMSDevice | None, attempts: tuple[Attempt, ...], result: Any = None, *, number: str = "",
        challenge: str = "", region: str | None = None, deliver_by: datetime | None = None,
    ) -> int:
        """Write one row per attempt, the sent attempt with ``result``, in one
        INSERT; returns the number of rows written. Without a ``device`` (a
        send for another package's device, such as django-two-factor-auth's),
        ``number`` (E.164) is stored masked.

        Every row gets ``challenge`` and ``region`` (the number's, looked up
        when not given); the sent row is ``Delivery.ACCEPTED`` and gets
        ``deliver_by``.

        One row (the usual send) is saved on its own, in autocommit; several
        go in with one ``bulk_create``. With ``OTP_SMS_DELIVERY_RECORD_CACHE``
        set, the rows wait in Redis instead, written later in batches
        (:class:`WaitingRecords`); every read of ``DeliveryRecord.objects``
        sees them."""
        masked = device.masked_number if device is not None else mask_number(number)
        if region is None:
            region = region_of(device.number if device is not None else number) if (device or number) else None
        now = timezone.now()
        rows: list[DeliveryRecord] = []
        for attempt in attempts:
            sent = attempt.outcome == cls.Outcome.SENT and result is not None
            rows.append(
                cls(
                    created_at=now,
                    updated_at=now,
                    device_id=device.pk if device is not None else None,
                    gateway=attempt.alias[:64],
                    reference=(attempt.reference or "")[:128],
                    outcome=attempt.outcome,
                    status=(result.status if sent else "")[:32],
                    reason=attempt.reason[:255],
                    segments=_clamped(result.segments, SEGMENTS_MAX) if sent else None,
                    charge=_clamped(result.charge, CHARGE_MAX) if sent else None,
                    elapsed_ms=int(attempt.elapsed * 1000),
                    number_masked=masked,
                    delivery=cls.Delivery.ACCEPTED if sent else "",
                    region=(region or "")[:2],
                    challenge=challenge,
                    deliver_by=deliver_by if sent else None,
                )
            )
        if not rows:
            return 0
        database = router.db_for_write(cls, instance=device)
        if WaitingRecords.park(rows, database):
            return len(rows)
        if len(rows) == 1:
            rows[0].save(force_insert=True, using=database)
            return 1
        return len(DeliveryRecord.objects.using(database).bulk_create(rows))

    def settle(
        self, delivery: str, *, status: str | None = None, segments: int | None = None, now: datetime | None = None
    ) -> bool:
        """Make this record's delivery final (``Delivery.DELIVERED``,
        ``FAILED`` or ``MISSING``) if it is still ``ACCEPTED``; returns
        whether this call did. One conditional UPDATE: of reports racing,
        replayed or out of order, exactly one moves the record, and a final
        delivery never changes. The one that does sends
        :data:`~django_sms_gateway.signals.delivery_reported`. ``status``
        (the vendor's raw word) and ``segments`` are stored with it."""
        now = now or timezone.now()
        changes: dict[str, Any] = {"delivery": delivery, "updated_at": now}
        if status is not None:
            changes["status"] = status[:32]
        if segments is not None:
            changes["segments"] = _clamped(segments, SEGMENTS_MAX)
        delivered = delivery == self.Delivery.DELIVERED
        if delivered:
            changes["delivered_at"] = now
        rows = type(self).objects.filter(pk=self.pk, delivery=self.Delivery.ACCEPTED)
        if not rows.update(**changes):
            return False
        for name, value in changes.items():
            setattr(self, name, value)
        seconds = max(0.0, (now - self.created_at).total_seconds()) if delivered else None
        signals.delivery_reported.send(
            sender=type(self), alias=self.gateway, region=self.region, delivered=delivered, seconds=seconds
        )
        return True

# -- the fraud guard's number ranges ----------------------------------------------------------------


class NumberRange(models.Model):
    """A number range the fraud guard throttled or blocked, or an operator
    decided on (:mod:`django_sms_gateway.limits`, "The fraud guard" in
    docs/limits.md). ``range`` is a calling code and leading national digits
    (``"+47 9876"``). ``decision`` overrides the guard: ``released`` ranges are
    never refused by it, ``blocked`` ones always (confirmed owners aside); the
    limits cache keeps a copy that every send reads. The figures are in the cache."""

    class Decision(models.TextChoices):
        AUTOMATIC = "", _("the guard decides")
        RELEASED = "released", _("released")
        BLOCKED = "blocked", _("blocked")

    range = models.CharField(
        _("number range"), max_length=24, unique=True,
        help_text=_("A calling code and the leading national digits, such as “+47 9876”."),
        validators=[RegexValidator(r"^\+[1-9][0-9]{0,2} [0-9]{4,12}$",
                                   _("Write a calling code and 4 to 12 national digits, such as “+47 9876”."))],
    )
    decision = models.CharField(_("decision"), max_length=16, choices=Decision.choices, blank=True, default="")
    last_state = models.CharField(_("last state found"), max_length=16, blank=True, default="")
    last_tripped_at = models.DateTimeField(_("last throttled"), null=True, blank=True)
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)

    class Meta:
        verbose_name = _("SMS number range")
        verbose_name_plural = _("SMS number ranges")
        ordering = ("range",)

    def __str__(self) -> str:
        return self.range
