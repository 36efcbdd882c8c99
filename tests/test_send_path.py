"""One send through the shipped SMS step passes few of the package's modules.

A newcomer follows a send by reading the modules it runs through; each new
feature that spreads it further makes that harder. The count is taken with
``sys.setprofile`` over the whole POST that asks for a code (middleware,
view, form, device, limits and their counters, walk, breaker, message text,
backend base, HTTP base and vendor module), once the site is warm (settings
read, gateways built), with the Infobip backend talking to the sandbox over
real HTTP.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import include, path

from django_sms_gateway.models import SMSDevice

from .vendors.helpers import gateway_entry, package_modules_run

urlpatterns = [path("sms/", include("django_sms_gateway.urls"))]
#: The most modules of the package one send may run through.
MOST_MODULES = 12


@pytest.mark.django_db
def test_one_send_through_the_sms_step_passes_at_most_twelve_modules(settings, sandbox, user):
    settings.SMS_GATEWAYS = {"infobip": gateway_entry("infobip", sandbox)}
    settings.ROOT_URLCONF = __name__
    settings.OTP_SMS_COOLDOWN_DURATION = 0
    settings.OTP_SMS_LIMITS = {}  # every sending limit on, at its default
    device = SMSDevice.objects.create(user=user, name="Mobile", number="+4798765432", confirmed=True)
    client = Client()
    client.force_login(user)

    def send():
        response = client.post("/sms/verify/", {"otp_device": device.persistent_id, "otp_challenge": "1"})
        assert response.status_code == 302

    send()  # warm: settings read, gateways built, templates compiled
    modules = package_modules_run(send)

    assert [m["vendor"] for m in sandbox.messages] == ["infobip", "infobip"]
    assert len(modules) <= MOST_MODULES, " ".join(sorted(modules))
