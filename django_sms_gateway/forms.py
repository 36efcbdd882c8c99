"""The SMS step's form: django-otp's ``OTPTokenForm`` made ready for phones.

:class:`SMSTokenForm` keeps django-otp's fields and flow (``otp_device``,
``otp_token``, and the ``otp_challenge`` button that sends a code and keeps
the form invalid; on success ``form.get_user().otp_device`` is the verified
device, ready for :func:`django_otp.login`) and changes what a person sees:

- only the user's confirmed SMS devices, labelled with masked numbers, the
  first one (or ``initial["otp_device"]``) chosen;
- a code input phones and browsers fill in themselves
  (``autocomplete="one-time-code"``, ``inputmode="numeric"``, ``maxlength`` and
  ``pattern`` for ``OTP_SMS_TOKEN_LENGTH``);
- one message per reason a code is refused: wrong, expired, already used,
  none sent, too soon after a wrong one (with the wait), or too many wrong
  codes (``OTP_SMS_MAX_FAILURES``: the phone must be set up again);
- a challenge's outcome kept in :attr:`SMSTokenForm.challenge`, with
  user-safe text only.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext, ngettext_lazy
from django_otp.forms import OTPAuthenticationFormMixin, OTPTokenForm, otp_verification_failed
from django_otp.models import VerifyNotAllowed

from .conf import settings
from .exceptions import wait_text
from .models import REBIND_REQUIRED, ChallengeOutcome, SMSDevice

__all__ = ["SMSTokenForm", "sms_devices", "device_label"]


def sms_devices(user: Any, confirmed: bool = True) -> list[SMSDevice]:
    """The user's SMS devices (confirmed ones by default), oldest first."""
    if user is None or not getattr(user, "pk", None):
        return []
    return list(SMSDevice.objects.filter(user=user, confirmed=confirmed).order_by("pk"))


def device_label(device: SMSDevice) -> str:
    """``"Work phone (+47******32)"``: never the full number."""
    return f"{device.name} ({device.masked_number})"


class CodeInput(forms.TextInput):
    """The code box: one field the phone's keyboard and autofill can fill."""

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(
            {
                "autocomplete": "one-time-code",
                "inputmode": "numeric",
                "autocapitalize": "off",
                "spellcheck": "false",
                **(attrs or {}),
            }
        )


class SMSTokenForm(OTPTokenForm):
    """django-otp's ``OTPTokenForm`` for the SMS step (see the module text).

    ``SMSTokenForm(user, request, data=..., initial={"otp_device": persistent_id})``.
    """

    otp_error_messages = {
        **OTPAuthenticationFormMixin.otp_error_messages,
        "token_required": _("Enter the code from the text message."),
        "invalid_token": _("That code is not right. Check the text message and try again."),
        "expired_token": _("That code has expired. Send a new code."),
        "used_token": _("That code was already used. Send a new code."),
        "no_token": _("No code is waiting for this phone. Send a code first."),
        # The throttle after a wrong code: the wait in seconds, and (from two minutes) in minutes.
        "n_failed_attempts": ngettext_lazy(
            "Wait %(count)d second before the next try.", "Wait %(count)d seconds before the next try.", "count"
        ),
        "n_failed_attempts_minutes": ngettext_lazy(
            "Wait %(count)d minute before the next try.", "Wait %(count)d minutes before the next try.", "count"
        ),
        "verification_not_allowed": _("Codes cannot be checked right now. Please try again later."),
        "device_required": _("Choose the phone to send the code to."),
        "unknown_device": _("Choose one of your phones."),
        "challenge_message": "{0}",
        "challenge_exception": "{0}",
    }

    otp_device = forms.ChoiceField(label=_("Phone"), choices=[], widget=forms.RadioSelect, error_messages={
        "invalid_choice": otp_error_messages["unknown_device"], "required": otp_error_messages["unknown_device"],
    })
    otp_token = forms.CharField(label=_("Code from the text message"), required=False, widget=CodeInput())

    def __init__(self, user: Any, request: HttpRequest | None = None, *args: Any, **kwargs: Any) -> None:
        self.devices = sms_devices(user)
        super().__init__(user, request, *args, **kwargs)
        self.request = request
        #: The outcome of the last ``otp_challenge``, for the view to report.
        self.challenge: ChallengeOutcome | None = None
        device_field = self.fields["otp_device"]
        if len(self.devices) <= 1:
            device_field.widget = forms.HiddenInput()
        if self.devices and not self.initial.get("otp_device"):
            self.initial["otp_device"] = self.devices[0].persistent_id
        self._shape_code_input()

    @property
    def chosen_device(self) -> SMSDevice | None:
        """The device the form is about: the posted one, else the initial one."""
        wanted = (self.data.get("otp_device") if self.is_bound else None) or self.initial.get("otp_device")
        return next((d for d in self.devices if d.persistent_id == wanted), self.devices[0] if self.devices else None)

    def _shape_code_input(self) -> None:
        length = settings.OTP_SMS_TOKEN_LENGTH
        chosen = self.chosen_device
        attrs = self.fields["otp_token"].widget.attrs
        attrs["maxlength"] = str(length)
        if chosen is not None and chosen.vendor_gateway:
            # The vendor (iP1) made this code: it may hold letters.
            attrs["pattern"] = f"[0-9A-Za-z]{{{length}}}"
            attrs["inputmode"] = "text"
        else:
            attrs["pattern"] = f"[0-9]{{{length}}}"
        attrs["title"] = ngettext(
            "The %(count)d-character code from the text message", "The %(count)d-character code from the text message",
            length,
        ) % {"count": length}

    def device_choices(self, user: Any) -> list[tuple[str, str]]:
        return [(device.persistent_id, device_label(device)) for device in self.devices]

    def clean_otp(self, user: Any) -> None:
        """django-otp's checks, then the send: django-otp runs its part in
        ``atomic()`` with the device row locked, and a vendor call in there
        would hold that lock and could lose a sent code to a rollback."""
        self._challenge_device: SMSDevice | None = None
        try:
            super().clean_otp(user)
        except ValidationError:
            if self._challenge_device is None:
                raise
        if self._challenge_device is not None:
            # A new code asked for while one is held goes first to a gateway that did not fail to confirm it.
            self.challenge = self._challenge_device.send_challenge(self.request, reroute=True)
            # Keep the form invalid: sending a code must never sign anybody in.
            raise ValidationError(self.challenge.message, code="challenge_message")

    def _handle_challenge(self, device: Any) -> None:
        if not isinstance(device, SMSDevice):
            raise ValidationError(self.otp_error_messages["device_required"], code="device_required")
        self._challenge_device = device  # sent by clean_otp, once the transaction is over
        raise ValidationError("", code="challenge_pending")

    def _verify_token(self, user: Any, token: Any, device: Any = None) -> Any:
        if not isinstance(device, SMSDevice):
            return super()._verify_token(user, token, device)
        allowed, details = device.verify_is_allowed()
        if not allowed:
            raise self._not_allowed(details or {})
        if device.verify_token(token):
            return device
        otp_verification_failed.send(sender=type(self), user=user)
        raise self._refusal(device)

    def _not_allowed(self, details: dict[str, Any]) -> ValidationError:
        """The throttle's wait after a wrong code, or the lock-out after too many."""
        reason, locked_until = details.get("reason"), details.get("locked_until")
        if reason == VerifyNotAllowed.N_FAILED_ATTEMPTS and locked_until is not None:
            messages = self.otp_error_messages
            wait = wait_text((locked_until - timezone.now()).total_seconds(),
                             (messages["n_failed_attempts"], messages["n_failed_attempts_minutes"]))
            return ValidationError(wait, code="n_failed_attempts")
        if reason == REBIND_REQUIRED:
            return ValidationError(details["error_message"], code="too_many_failures")
        return ValidationError(self.otp_error_messages["verification_not_allowed"], code="verification_not_allowed")

    def _refusal(self, device: SMSDevice) -> ValidationError:
        """Why ``device.verify_token()`` just said no, from the row it read."""
        if not device.token:
            code = "used_token" if device.last_used_at and device.last_generated_timestamp is None else "no_token"
        elif device.valid_until is not None and device.valid_until <= timezone.now():
            code = "expired_token"
        else:
            code = "invalid_token"
        return ValidationError(self.otp_error_messages[code], code=code)
