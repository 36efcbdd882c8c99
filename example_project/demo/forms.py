"""Forms of the demo's phone enrolment (the SMS step is the package's own)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from django_sms_gateway.models import SMSDevice


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
