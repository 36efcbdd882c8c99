"""Pages of the demo.

Sign-in is two steps: Django's ``LoginView`` checks the password, then the
package's SMS step (``django_sms_gateway:verify``, included in
``example_project/urls.py``) verifies the session. A user without a
confirmed phone is sent to :func:`phones` to enrol instead
(``OTP_SMS_ENROL_URL``); confirming the first phone with its code verifies
the session too, since it proves the same thing.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render, resolve_url
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django_otp import login as otp_login

from django_sms_gateway.forms import device_label, sms_devices
from django_sms_gateway.models import ChallengeOutcome, SMSDevice
from django_sms_gateway.views import phone_state

from .access import next_url, verified_if_enrolled, verified_required, with_next
from .forms import AddPhoneForm, ConfirmPhoneForm


def _report(request: HttpRequest, outcome: ChallengeOutcome) -> None:
    level = {"sent": messages.SUCCESS, "cooldown": messages.WARNING}.get(outcome.status, messages.ERROR)
    messages.add_message(request, level, outcome.message)


def _verify_session(request: HttpRequest, device: SMSDevice) -> None:
    """Mark the session as verified by ``device``, with a new session key
    (the session gains a privilege, as at password sign-in)."""
    request.session.cycle_key()
    otp_login(request, device)


class PasswordLoginView(auth_views.LoginView):
    """Step one: username and password (Django's ``LoginView``).

    Then a user with a confirmed phone goes to the SMS step; a user without
    one goes to the phones page to enrol. Either way ``next`` is kept.
    """

    template_name = "demo/login.html"

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        if not sms_devices(self.request.user):
            messages.info(self.request, _("Add your mobile number: from now on, signing in needs a code sent to it."))
        return response

    def get_success_url(self) -> str:
        target = self.get_redirect_url() or resolve_url(settings.LOGIN_REDIRECT_URL)
        step = "django_sms_gateway:verify" if sms_devices(self.request.user) else "phones"
        return with_next(reverse(step), target)


@verified_required
def home(request: HttpRequest) -> HttpResponse:
    """The protected page: only for sessions verified by a second factor."""
    return render(request, "demo/home.html", {"device": request.user.otp_device})


@verified_if_enrolled
def phones(request: HttpRequest) -> HttpResponse:
    """List the user's phones; add one (a code is sent at once to confirm it)."""
    form = AddPhoneForm(request.user, data=request.POST if request.method == "POST" else None)
    if form.is_valid():
        device = form.device
        device.save()
        outcome = device.send_challenge(request)
        if outcome.failed:
            device.delete()  # nothing half made: the user may try again
            form.add_error(None, outcome.message)
        else:
            _report(request, outcome)
            return redirect(with_next(reverse("phones"), next_url(request)))
    return _render_phones(request, add_form=form)


@require_POST
@verified_if_enrolled
def confirm_phone(request: HttpRequest, pk: int) -> HttpResponse:
    """Confirm a new phone with the code sent to it."""
    device = get_object_or_404(SMSDevice, pk=pk, user=request.user, confirmed=False)
    form = ConfirmPhoneForm(device, data=request.POST)
    if form.is_valid():
        allowed, _details = device.verify_is_allowed()
        if not allowed:
            form.add_error("code", _("Too many wrong codes. Wait a little, then try again."))
        elif device.verify_token(form.cleaned_data["code"]):
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            if not request.user.is_verified():
                _verify_session(request, device)
            messages.success(request, _("%(phone)s is confirmed.") % {"phone": device_label(device)})
            target = next_url(request)
            return redirect(target or reverse("phones"))
        else:
            form.add_error("code", _("That code is not right, or it has expired. Send a new code if needed."))
    return _render_phones(request, confirm_forms={device.pk: form})


@require_POST
@verified_if_enrolled
def send_phone_code(request: HttpRequest, pk: int) -> HttpResponse:
    """Send (again) the code that confirms a new phone."""
    device = get_object_or_404(SMSDevice, pk=pk, user=request.user, confirmed=False)
    _report(request, device.send_challenge(request))
    return redirect(with_next(reverse("phones"), next_url(request)))


@require_POST
@verified_if_enrolled
def remove_phone(request: HttpRequest, pk: int) -> HttpResponse:
    device = get_object_or_404(SMSDevice, pk=pk, user=request.user)
    label = device_label(device)
    device.delete()
    messages.success(request, _("%(phone)s was removed.") % {"phone": label})
    return redirect(with_next(reverse("phones"), next_url(request)))


def _render_phones(
    request: HttpRequest, add_form: AddPhoneForm | None = None, confirm_forms: dict[int, ConfirmPhoneForm] | None = None
) -> HttpResponse:
    confirm_forms = confirm_forms or {}
    current = getattr(request.user, "otp_device", None)
    rows = [
        phone_state(
            device,
            current=current is not None and current.persistent_id == device.persistent_id,
            confirm_form=confirm_forms.get(device.pk) or ConfirmPhoneForm(device),
        )
        for device in SMSDevice.objects.filter(user=request.user).order_by("-confirmed", "pk")
    ]
    context = {"phones": rows, "add_form": add_form or AddPhoneForm(request.user), "next": next_url(request)}
    return render(request, "demo/phones.html", context)
