"""Forms of the demo: the SMS step (django-otp's OTPTokenForm) and phone enrolment."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django_otp.forms import OTPAuthenticationFormMixin, OTPTokenForm

from django_sms_gateway.models import SMSDevice

from .challenge import ChallengeOutcome, send_challenge


def sms_devices(user: Any, confirmed: bool = True) -> list[SMSDevice]:
    """The user's SMS devices (confirmed ones by default), oldest first."""
    return list(SMSDevice.objects.filter(user=user, confirmed=confirmed).order_by("pk"))


def device_label(device: SMSDevice) -> str:
    return f"{device.name} ({device.masked_number})"


class SMSTokenForm(OTPTokenForm):
    """django-otp's ``OTPTokenForm`` for the SMS step.

    Unchanged: ``otp_device`` (the persistent id of the chosen device),
    ``otp_token`` (the code), and ``otp_challenge`` (a submit button; when
    pressed, the device's ``generate_challenge()`` sends a code and the form
    stays invalid). On success ``form.get_user().otp_device`` is the verified
    device, ready for :func:`django_otp.login`.

    Changed: only the user's confirmed SMS devices are offered, labelled
    with their masked numbers; a challenge's outcome is kept in
    :attr:`challenge` (a :class:`~demo.challenge.ChallengeOutcome`) for the
    view to report; challenge errors show only user-safe text.
    """

    otp_error_messages = {
        **OTPAuthenticationFormMixin.otp_error_messages,
        "token_required": _("Enter the code from the text message."),
        "invalid_token": _("That code is not right, or it has expired. Check the text message or send a new code."),
        "device_required": _("Choose the phone to send the code to."),
        "challenge_message": "{0}",
    }

    otp_token = forms.CharField(
        label=_("Code"),
        required=False,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "spellcheck": "false"}
        ),
    )

    def __init__(self, user: Any, request: HttpRequest | None = None, *args: Any, **kwargs: Any) -> None:
        super().__init__(user, request, *args, **kwargs)
        self.request = request
        self.challenge: ChallengeOutcome | None = None
        self.fields["otp_device"].label = _("Phone")

    def device_choices(self, user: Any) -> list[tuple[str, str]]:  # type: ignore[override]
        return [(device.persistent_id, device_label(device)) for device in sms_devices(user)]

    def _handle_challenge(self, device: Any) -> None:
        if not isinstance(device, SMSDevice):
            raise ValidationError(self.otp_error_messages["device_required"], code="device_required")
        self.challenge = send_challenge(device, self.request)
        # Keep the form invalid: sending a code must never sign anybody in.
        raise ValidationError(self.challenge.message, code="challenge_message")


class AddPhoneForm(forms.Form):
    """A new, unconfirmed phone for ``user``, checked by ``SMSDevice.full_clean()``.

    After ``is_valid()``, :attr:`device` is the unsaved device with its number
    in E.164.
    """

    name = forms.CharField(
        label=_("Name"),
        max_length=64,
        required=False,
        help_text=_("Optional, for example “Work phone”."),
    )
    number = forms.CharField(
        label=_("Phone number"),
        max_length=32,
        help_text=_("With the country code, for example +47 987 65 432."),
        widget=forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel"}),
    )

    def __init__(self, user: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.device: SMSDevice | None = None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if "number" not in cleaned:
            return cleaned
        device = SMSDevice(
            user=self.user,
            name=cleaned.get("name") or _("Phone"),
            number=cleaned["number"],
            confirmed=False,
        )
        try:
            device.full_clean()
        except ValidationError as exc:
            for field, errors in exc.error_dict.items():
                self.add_error(field if field in self.fields else None, errors)
            return cleaned
        if SMSDevice.objects.filter(user=self.user, number=device.number).exists():
            self.add_error("number", ValidationError(_("This number is already on your account."), code="duplicate"))
            return cleaned
        self.device = device
        return cleaned


class ConfirmPhoneForm(forms.Form):
    """The code sent to a new phone; field ids carry the device's pk
    (``confirm-code-<pk>``), as a page lists several of these forms."""

    code = forms.CharField(
        label=_("Code"),
        max_length=32,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "spellcheck": "false"}
        ),
    )

    def __init__(self, device: SMSDevice, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", f"confirm-%s-{device.pk}")
        super().__init__(*args, **kwargs)
        self.device = device
        self.fields["code"].label = _("Code sent to %(number)s") % {"number": device.masked_number}
