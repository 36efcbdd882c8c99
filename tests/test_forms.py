"""SMSDevice with django-otp's own forms and login view, unchanged:
``OTPAuthenticationForm`` (username, password and code in one form, the
``otp_challenge`` button sending the code), ``OTPTokenForm`` and
``django_otp.views.LoginView``."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import RequestFactory, override_settings
from django.urls import path
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.forms import OTPAuthenticationForm, OTPTokenForm
from django_otp.views import LoginView

from django_sms_gateway.models import SMSDevice
from django_sms_gateway.testing import last_code

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse"
FAILING_GATEWAYS = {"broken": {"BACKEND": "tests.fakes.FailingBackend", "OPTIONS": {"error": "GatewayUnavailable"}}}

LOGIN_TEMPLATE = """{{ form.non_field_errors }}
<form method="post">{% csrf_token %}{{ form.as_p }}
<button type="submit" name="otp_challenge" value="1">Send code</button><button type="submit">Sign in</button></form>"""

urlpatterns = [path("login/", LoginView.as_view(template_name="otp_login.html"))]


def auth_form(**data) -> OTPAuthenticationForm:
    request = RequestFactory().post("/login/")
    return OTPAuthenticationForm(request, data={"username": "alice", "password": PASSWORD, **data})


def errors(form) -> list[str]:
    return list(form.non_field_errors())


def test_password_alone_asks_for_the_code_and_offers_the_sms_device(phone, sms_outbox):
    form = auth_form()
    assert not form.is_valid()
    assert errors(form) == ["Please enter your OTP token."]
    assert form.get_user() == phone.user
    assert (phone.persistent_id, "Mobile") in form.fields["otp_device"].widget.choices
    assert sms_outbox == []


def test_challenge_button_sends_the_code_and_the_code_signs_in(phone, sms_outbox):
    challenged = auth_form(otp_device=phone.persistent_id, otp_challenge="1")
    assert not challenged.is_valid()
    assert errors(challenged) == ["OTP Challenge: We sent a code by text message to +47******32."]
    assert [m.recipient for m in sms_outbox] == ["+4798765432"]

    wrong = auth_form(otp_device=phone.persistent_id, otp_token="000000" if last_code() != "000000" else "111111")
    assert not wrong.is_valid()
    assert errors(wrong) == ["Invalid token. Please make sure you have entered it correctly."]

    with override_settings(OTP_SMS_THROTTLE_FACTOR=0):
        right = auth_form(otp_device=phone.persistent_id, otp_token=last_code())
        assert right.is_valid(), right.errors
    assert right.get_user().otp_device == phone

    reused = auth_form(otp_device=phone.persistent_id, otp_token=last_code())
    assert not reused.is_valid()


def test_wrong_password_sends_nothing_and_checks_no_code(phone, sms_outbox):
    form = OTPAuthenticationForm(
        RequestFactory().post("/login/"),
        data={"username": "alice", "password": "wrong", "otp_device": phone.persistent_id, "otp_challenge": "1"},
    )
    assert not form.is_valid()
    assert form.get_user() is None and sms_outbox == []


def test_another_users_device_is_ignored(phone, sms_outbox):
    bob = get_user_model().objects.create_user("bob", password=PASSWORD)
    bobs = SMSDevice.objects.create(user=bob, name="Bob", number="+4791234567", confirmed=True)
    bobs.generate_challenge()
    form = auth_form(otp_device=bobs.persistent_id, otp_token=last_code())
    assert not form.is_valid()
    assert errors(form) == ["Please select a device."]
    assert SMSDevice.objects.get(pk=bobs.pk).token is not None  # bob's code is untouched


@override_settings(SMS_GATEWAYS=FAILING_GATEWAYS)
def test_failed_delivery_reaches_the_form_as_user_safe_text(phone):
    form = auth_form(otp_device=phone.persistent_id, otp_challenge="1")
    assert not form.is_valid()
    assert errors(form) == [
        "Error generating challenge: We could not send the text message. Please try again in a few minutes."
    ]


def test_otp_token_form_verifies_a_signed_in_user(phone, sms_outbox):
    challenged = OTPTokenForm(phone.user, data={"otp_device": phone.persistent_id, "otp_challenge": "1"})
    assert not challenged.is_valid()
    assert "We sent a code by text message to +47******32." in errors(challenged)[0]
    form = OTPTokenForm(phone.user, data={"otp_device": phone.persistent_id, "otp_token": last_code()})
    assert form.is_valid(), form.errors
    assert form.get_user().otp_device == phone


@override_settings(
    ROOT_URLCONF=__name__,
    TEMPLATES=[
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "OPTIONS": {
                "loaders": [("django.template.loaders.locmem.Loader", {"otp_login.html": LOGIN_TEMPLATE})],
                "context_processors": ["django.template.context_processors.csrf"],
            },
        }
    ],
)
def test_django_otp_login_view_signs_in_with_one_form(client, phone, sms_outbox):
    credentials = {"username": "alice", "password": PASSWORD, "otp_device": phone.persistent_id}
    challenged = client.post("/login/", {**credentials, "otp_challenge": "1"})
    assert challenged.status_code == 200
    assert "We sent a code by text message to +47******32." in challenged.content.decode()
    assert DEVICE_ID_SESSION_KEY not in client.session

    signed_in = client.post("/login/", {**credentials, "otp_token": last_code()})
    assert signed_in.status_code == 302
    assert client.session[DEVICE_ID_SESSION_KEY] == phone.persistent_id


@override_settings(SMS_GATEWAYS={"signicat": {"BACKEND": "django_sms_gateway.backends.signicat.SignicatBacknd"}})
def test_django_otps_own_form_shows_no_settings_text_for_a_misconfigured_gateway(phone, caplog):
    form = OTPTokenForm(phone.user, data={"otp_device": phone.persistent_id, "otp_challenge": "1"})
    assert not form.is_valid()
    assert errors(form) == [
        "Error generating challenge: Text messages are not available right now. Please try again later."
    ]
    assert "SMS_GATEWAYS['signicat']" in caplog.text  # the cause is logged for the site's operators
