"""The SMS step: after the password, send a code to one of the user's phones
and check it.

Include the package's URLs and point django-otp at the step::

    path("sms/", include("django_sms_gateway.urls")),   # sms/verify/ = "django_sms_gateway:verify"
    OTP_LOGIN_URL = "django_sms_gateway:verify"          # where otp_required sends unverified users

A verified session goes on to ``next`` (when it is a safe URL on this site),
else to ``LOGIN_REDIRECT_URL``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render, resolve_url
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import ngettext
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django_otp import login as otp_login

from .conf import alternative_link, settings
from .exceptions import ConfigurationError
from .forms import SMSTokenForm, device_label
from .models import ChallengeOutcome, SMSDevice

__all__ = ["SMSVerifyView"]

#: Session keys: the phone last chosen (to preselect it), and the outcome of
#: the last "send code" to show once on the page it redirects to.
CHOSEN_DEVICE_KEY = "django_sms_gateway_device"
NOTICE_KEY = "django_sms_gateway_notice"


@method_decorator([sensitive_post_parameters("otp_token"), csrf_protect, never_cache], name="dispatch")
class SMSVerifyView(LoginRequiredMixin, View):
    """Verify a signed-in session with a code sent by SMS.

    Attributes a subclass (or ``as_view(...)``) may set:

    - ``template_name``: the page (``django_sms_gateway/verify.html``).
    - ``base_template``: the template it extends; None reads
      ``OTP_SMS_BASE_TEMPLATE``, whose default is a plain page of our own.
    - ``form_class``: :class:`~django_sms_gateway.forms.SMSTokenForm`.
    - ``success_url``: where to go without a ``next``; None:
      ``LOGIN_REDIRECT_URL``.
    - ``no_device_url``: where to send a user without a confirmed phone
      (to enrol one, ``next`` kept); None reads ``OTP_SMS_ENROL_URL``, whose
      default None lets the page say so.
    - ``success_url_allowed_hosts``: other hosts ``next`` may point at.

    Sending a code answers with a redirect to this page (a reload must not
    send another code); the outcome is shown once there. Like Django's
    ``LoginView``, the page is never cached and error reports hide the
    posted code.
    """

    template_name = "django_sms_gateway/verify.html"
    base_template: str | None = None
    form_class = SMSTokenForm
    success_url: str | None = None
    no_device_url: str | None = None
    success_url_allowed_hosts: set[str] = set()

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if is_verified(request.user):
            return HttpResponseRedirect(self.get_success_url())
        form = self.get_form(data=None)
        enrol_url = self.no_device_url or settings.OTP_SMS_ENROL_URL
        if not form.devices and enrol_url:
            target = self.get_redirect_url()
            url = resolve_url(enrol_url)
            return HttpResponseRedirect(f"{url}?{urlencode({'next': target})}" if target else url)
        return self.render_page(form)

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if is_verified(request.user):
            return HttpResponseRedirect(self.get_success_url())
        form = self.get_form(data=request.POST)
        chosen = form.chosen_device
        if chosen is not None:
            request.session[CHOSEN_DEVICE_KEY] = chosen.persistent_id
        if form.is_valid():
            return self.form_valid(form)
        if form.challenge is not None:
            request.session[NOTICE_KEY] = [form.challenge.status, form.challenge.message]
            return HttpResponseRedirect(request.get_full_path())
        return self.render_page(form)

    def form_valid(self, form: SMSTokenForm) -> HttpResponse:
        """Mark the session verified by the device, with a new session key
        (the session gains a privilege, as at password sign-in)."""
        device = form.get_user().otp_device
        target = self.get_success_url()
        self.request.session.pop(CHOSEN_DEVICE_KEY, None)
        self.request.session.cycle_key()
        otp_login(self.request, device)
        return HttpResponseRedirect(target)

    def get_form(self, data: Any) -> SMSTokenForm:
        initial = {}
        chosen = self.request.session.get(CHOSEN_DEVICE_KEY)
        if chosen:
            initial["otp_device"] = chosen
        return self.form_class(self.request.user, self.request, data=data, initial=initial)

    def get_success_url(self) -> str:
        return self.get_redirect_url() or resolve_url(self.success_url or settings.LOGIN_REDIRECT_URL)

    def get_redirect_url(self) -> str:
        """``next`` (POST first, then GET) if it is a safe URL, else ""."""
        candidate = self.request.POST.get("next") or self.request.GET.get("next") or ""
        allowed = {self.request.get_host(), *self.success_url_allowed_hosts}
        safe = url_has_allowed_host_and_scheme(
            candidate, allowed_hosts=allowed, require_https=self.request.is_secure()
        )
        return candidate if safe else ""

    def get_base_template(self) -> str:
        return self.base_template or settings.OTP_SMS_BASE_TEMPLATE

    def get_context_data(self, form: SMSTokenForm) -> dict[str, Any]:
        stored = self.request.session.pop(NOTICE_KEY, None)
        notice = ChallengeOutcome(*stored) if stored else None
        failed = notice is not None and notice.failed
        chosen = form.chosen_device
        phones = [
            phone_state(device, after_failure=failed, chosen=chosen is not None and device.pk == chosen.pk)
            for device in form.devices
        ]
        if chosen is not None and chosen.has_pending_code():
            form.fields["otp_token"].widget.attrs["autofocus"] = True
        return {
            "form": form,
            "next": self.get_redirect_url(),
            "phones": phones,
            "chosen": next((p for p in phones if p["chosen"]), None),
            "notice": notice,
            "base_template": self.get_base_template(),
            **restricted_notice(),
        }

    def render_page(self, form: SMSTokenForm) -> HttpResponse:
        return render(self.request, self.template_name, self.get_context_data(form))


def is_verified(user: Any) -> bool:
    """django-otp's ``user.is_verified()``; False when ``OTPMiddleware`` did
    not add it (check :data:`~django_sms_gateway.checks.W002` reports that)."""
    check = getattr(user, "is_verified", None)
    return bool(check()) if callable(check) else False


def phone_state(device: SMSDevice, *, after_failure: bool = False, **extra: Any) -> dict[str, Any]:
    """What the page shows about one phone: its label, the seconds before a
    new code may be sent with the :func:`countdown` that says so, and
    whether a code is waiting. ``after_failure``: the page reports a send
    that failed, so the wait is to try again, not for a new code."""
    cooldown = device.cooldown_seconds()
    return {
        "device": device,
        "label": device_label(device),
        "cooldown": cooldown,
        "countdown": countdown(cooldown, after_failure=after_failure) if cooldown else None,
        "pending": device.has_pending_code(),
        **extra,
    }


def _new_code_in(seconds: int) -> str:
    return ngettext(
        "You can ask for a new code in %(count)d second.", "You can ask for a new code in %(count)d seconds.", seconds
    )


def _try_again_in(seconds: int) -> str:
    return ngettext("You can try again in %(count)d second.", "You can try again in %(count)d seconds.", seconds)


#: Where a countdown sentence has its number.
COUNT_SLOT = re.compile(r"%\(count\)[ds]")


def countdown(seconds: int, *, after_failure: bool = False) -> dict[str, Any]:
    """The hint for a wait of ``seconds`` before the next send, in the active
    language: ``html``, the sentence now, with the number in
    ``<span data-sms-seconds>``; for the page's script, which counts down,
    ``sentences`` (JSON: each plural form, ``%(count)d`` for the number) and
    ``forms`` (for each count from 0 to ``seconds``, the digit of its form in
    ``sentences``), so that every count reads in its right plural form."""
    hint: Callable[[int], str] = _try_again_in if after_failure else _new_code_in
    sentences: list[str] = []
    forms = []
    for count in range(seconds + 1):
        sentence = hint(count)
        if sentence not in sentences:
            sentences.append(sentence)
        forms.append(str(sentences.index(sentence)))
    parts = COUNT_SLOT.split(sentences[int(forms[-1])], maxsplit=1)
    html = format_html("{}<span data-sms-seconds>{}</span>{}", parts[0], seconds, parts[1]) if len(parts) == 2 \
        else format_html("{}", parts[0])
    return {"html": html, "sentences": json.dumps(sentences), "forms": "".join(forms)}


# -- the restricted-authenticator notice ----------------------------------------------------------------

logger = logging.getLogger("django_sms_gateway")


def restricted_notice() -> dict[str, Any]:
    """The template context of the notice that text messages are the weaker
    factor (``django_sms_gateway/restricted_notice.html``): ``restricted_notice``
    (``OTP_SMS_RESTRICTED_NOTICE``) and ``alternative_url`` (``OTP_SMS_ALTERNATIVE_URL``
    resolved, or None). A wrong setting or a URL name that does not resolve
    is logged at ERROR (check E044) and the notice shows without a link."""
    try:
        if not settings.OTP_SMS_RESTRICTED_NOTICE:
            return {"restricted_notice": False, "alternative_url": None}
        url = alternative_link()
    except ConfigurationError as exc:
        logger.error("The SMS step's notice has no link: %s (%s)", exc.message, exc.check_id)
        url = None
    return {"restricted_notice": True, "alternative_url": url}
