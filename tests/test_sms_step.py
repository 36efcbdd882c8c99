"""The shipped SMS step on a fresh site: ``path("sms/", include("django_sms_gateway.urls"))``,
SMSTokenForm's fields and messages, SMSVerifyView's flow, and user-safe errors."""

from __future__ import annotations

import html
import json
import logging
import re
from datetime import timedelta

import pytest
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.test import Client, override_settings
from django.urls import include, path, reverse
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.decorators import otp_required
from freezegun import freeze_time

from django_sms_gateway.exceptions import SendLimitExceeded
from django_sms_gateway.forms import SMSTokenForm
from django_sms_gateway.models import SMSDevice
from django_sms_gateway.testing import last_code

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse"
NUMBER = "+4798765432"
UNAVAILABLE = "Text messages are not available right now. Please try again later."
STEP = "/sms/verify/"


@login_required
@otp_required(login_url="django_sms_gateway:verify")  # OTP_LOGIN_URL is read when the decorator is applied
def protected(request):
    return HttpResponse(f"protected for {request.user.get_username()}")


def sign_in_page(request):
    return HttpResponse("password page")


urlpatterns = [
    path("sms/", include("django_sms_gateway.urls")),
    path("protected/", protected),
    path("login/", sign_in_page),
    path("enrol/", sign_in_page, name="enrol"),
]

SITE_BASE = """<html><body><header>Acme site</header>{% block content %}{% endblock %}</body></html>"""


@pytest.fixture(autouse=True)
def fresh_site(settings):
    settings.ROOT_URLCONF = __name__
    settings.LOGIN_URL = "/login/"
    settings.LOGIN_REDIRECT_URL = "/protected/"
    settings.OTP_SMS_THROTTLE_FACTOR = 0


@pytest.fixture
def signed_in(client: Client, user):
    client.force_login(user)
    return client


def send(client: Client, device: SMSDevice, url: str = STEP):
    return client.post(url, {"otp_device": device.persistent_id, "otp_challenge": "1"}, follow=True)


def enter(client: Client, device: SMSDevice, code: str, url: str = STEP):
    return client.post(url, {"otp_device": device.persistent_id, "otp_token": code})


def errors(form) -> list[str]:
    return list(form.non_field_errors())


# -- the form -----------------------------------------------------------------


def test_url_name_and_path():
    assert reverse("django_sms_gateway:verify") == STEP


def test_one_phone_is_preselected_hidden_and_masked(phone):
    SMSDevice.objects.create(user=phone.user, name="Not yet", number="+4791234567", confirmed=False)
    form = SMSTokenForm(phone.user)
    assert form.initial["otp_device"] == phone.persistent_id
    assert form.fields["otp_device"].widget.input_type == "hidden"
    assert form.fields["otp_device"].choices == [(phone.persistent_id, "Mobile (+47******32)")]
    assert form.fields["otp_device"].label == "Phone" and form.fields["otp_token"].label == "Code from the text message"


def test_several_phones_are_radio_buttons_with_the_first_chosen(phone):
    work = SMSDevice.objects.create(user=phone.user, name="Work", number="+4791234567", confirmed=True)
    form = SMSTokenForm(phone.user)
    assert form.fields["otp_device"].widget.input_type == "radio"
    assert [label for _id, label in form.fields["otp_device"].choices] == ["Mobile (+47******32)", "Work (+47******67)"]
    assert form.chosen_device == phone
    assert SMSTokenForm(phone.user, initial={"otp_device": work.persistent_id}).chosen_device == work


@override_settings(OTP_SMS_TOKEN_LENGTH=8)
def test_the_code_input_fits_the_code(phone):
    html = str(SMSTokenForm(phone.user)["otp_token"])
    for attribute in ('autocomplete="one-time-code"', 'inputmode="numeric"', 'maxlength="8"', 'pattern="[0-9]{8}"'):
        assert attribute in html


def test_a_vendor_made_code_may_hold_letters(phone):
    SMSDevice.objects.filter(pk=phone.pk).update(vendor_gateway="ip1")
    html = str(SMSTokenForm(phone.user)["otp_token"])
    assert 'pattern="[0-9A-Za-z]{6}"' in html and 'inputmode="text"' in html


def verify_form(device, code):
    return SMSTokenForm(device.user, data={"otp_device": device.persistent_id, "otp_token": code})


def other_than(code: str) -> str:
    return "000000" if code != "000000" else "111111"


def test_each_refusal_says_why(phone, sms_outbox):
    assert errors(verify_form(phone, "123456")) == ["No code is waiting for this phone. Send a code first."]
    phone.generate_challenge()
    code = last_code()
    assert errors(verify_form(phone, other_than(code))) == [
        "That code is not right. Check the text message and try again."
    ]
    assert verify_form(phone, code).is_valid()
    assert errors(verify_form(phone, code)) == ["That code was already used. Send a new code."]

    phone.refresh_from_db()
    phone.generate_challenge()
    with freeze_time(timezone.now() + timedelta(seconds=301)):
        assert errors(verify_form(phone, last_code())) == ["That code has expired. Send a new code."]


@pytest.mark.parametrize(
    ("factor", "sentence"),
    [
        (1, "Wait 1 second before the next try."),
        (60, "Wait 60 seconds before the next try."),
        (300, "Wait 5 minutes before the next try."),
    ],
)
def test_the_wait_after_a_wrong_code_is_no_lock_out(phone, sms_outbox, settings, factor, sentence):
    settings.OTP_SMS_THROTTLE_FACTOR = factor
    phone.generate_challenge()
    code = last_code()
    with freeze_time(timezone.now()):  # the right code at once after the wrong one
        verify_form(phone, other_than(code)).is_valid()
        assert errors(verify_form(phone, code)) == [sentence]


@override_settings(OTP_SMS_MAX_FAILURES=2)
def test_the_lock_out_after_too_many_wrong_codes_says_so(phone, sms_outbox):
    phone.generate_challenge()
    code = last_code()
    for _ in range(2):
        verify_form(phone, other_than(code)).is_valid()
    assert errors(verify_form(phone, code)) == [
        "Too many wrong codes were entered. This phone must be set up again before it can be used."
    ]


def test_the_challenge_button_sends_and_keeps_the_form_invalid(phone, sms_outbox):
    form = SMSTokenForm(phone.user, data={"otp_device": phone.persistent_id, "otp_challenge": "1"})
    assert not form.is_valid()
    assert form.challenge.status == "sent"
    assert errors(form) == ["We sent a code by text message to +47******32."]
    assert [m.recipient for m in sms_outbox] == [NUMBER]


def test_a_generic_limit_refusal_says_when_to_try_again(phone, monkeypatch):
    def refuse(self, request=None, **options):
        raise SendLimitExceeded("number", retry_after=250)

    monkeypatch.setattr(SMSDevice, "send_code", refuse)
    outcome = phone.send_challenge()
    assert outcome.failed
    assert outcome.message == "Too many text messages were requested. Please try again in 5 minutes."


# -- the view -----------------------------------------------------------------


def test_protected_page_sends_an_unverified_user_to_the_step_and_back(signed_in, phone, sms_outbox):
    step = signed_in.get("/protected/")
    assert step.status_code == 302 and step["Location"] == f"{STEP}?next=/protected/"

    page = signed_in.get(step["Location"])
    body = page.content.decode()
    assert page.status_code == 200 and "<title>Enter your code</title>" in body  # our own plain page
    assert 'id="sms-send"' in body and 'id="sms-verify"' in body and "Mobile (+47******32)" in body
    assert "sms-step.js" in body and sms_outbox == []

    sent = send(signed_in, phone, step["Location"])
    assert sent.redirect_chain == [(step["Location"], 302)]
    assert 'id="sms-notice"' in sent.content.decode() and "We sent a code" in sent.content.decode()
    assert 'id="sms-notice"' not in signed_in.get(step["Location"]).content.decode()  # shown once

    key = signed_in.session.session_key
    done = enter(signed_in, phone, last_code(), step["Location"])
    assert done.status_code == 302 and done["Location"] == "/protected/"
    assert signed_in.session.session_key != key
    assert signed_in.session[DEVICE_ID_SESSION_KEY] == phone.persistent_id
    assert signed_in.get("/protected/").content == b"protected for alice"
    assert signed_in.get(STEP)["Location"] == "/protected/"  # already verified


def test_foreign_next_is_dropped(signed_in, phone, sms_outbox):
    send(signed_in, phone)
    done = enter(signed_in, phone, last_code(), f"{STEP}?next=https://evil.example/")
    assert done["Location"] == "/protected/"


def test_anonymous_users_go_to_the_password_page(client):
    assert client.get(STEP)["Location"] == f"/login/?next={STEP}"


def test_the_page_extends_the_sites_base_template(signed_in, phone, settings):
    settings.TEMPLATES = [
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "OPTIONS": {
                "loaders": [
                    ("django.template.loaders.locmem.Loader", {"site/base.html": SITE_BASE}),
                    "django.template.loaders.app_directories.Loader",
                ],
                "context_processors": ["django.template.context_processors.request"],
            },
        }
    ]
    settings.OTP_SMS_BASE_TEMPLATE = "site/base.html"
    body = signed_in.get(STEP).content.decode()
    assert "<header>Acme site</header>" in body and 'id="sms-step"' in body


def test_a_user_without_a_phone_is_sent_to_enrol_when_the_site_says_where(signed_in, settings):
    assert 'id="sms-no-phone"' in signed_in.get(STEP).content.decode()
    settings.OTP_SMS_ENROL_URL = "enrol"
    assert signed_in.get(f"{STEP}?next=/protected/")["Location"] == "/enrol/?next=%2Fprotected%2F"


@override_settings(SMS_GATEWAYS={"signicat": {"BACKEND": "django_sms_gateway.backends.signicat.SignicatBacknd"}})
def test_a_misconfigured_gateway_shows_the_safe_sentence_and_logs_an_error_once(signed_in, phone, caplog):
    with caplog.at_level(logging.ERROR, logger="django_sms_gateway"):
        first = send(signed_in, phone)
        second = send(signed_in, phone)
    for response in (first, second):
        body = response.content.decode()
        assert response.status_code == 200 and UNAVAILABLE in body
        assert "SignicatBacknd" not in body and "SMS_GATEWAYS" not in body
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "SMS_GATEWAYS['signicat']" in record.getMessage() and "SignicatBacknd" in record.getMessage()


@override_settings(
    OTP_SMS_BREAKER_THRESHOLD=1,
    OTP_SMS_BREAKER_COOLOFF=600,
    SMS_GATEWAYS={
        "broken": {"BACKEND": "tests.fakes.FailingBackend", "OPTIONS": {"error": "GatewayUnavailable"}},
        "locmem": {"BACKEND": "django_sms_gateway.backends.locmem.LocmemBackend"},
    },
)
def test_a_gateway_skipped_by_an_open_circuit_is_logged_at_info(phone, sms_outbox, caplog):
    phone.generate_challenge()
    with caplog.at_level(logging.INFO, logger="django_sms_gateway"):
        phone.generate_challenge()
    assert "SMS gateway 'broken' skipped for +47******32 (circuit open)" in caplog.text
    assert [m.gateway for m in sms_outbox] == ["locmem", "locmem"]


@pytest.mark.parametrize(
    ("language", "unavailable", "wrong"),
    [
        ("nb", "Tekstmeldinger er ikke tilgjengelige akkurat nå.", "Koden er feil."),
        ("sv", "Sms kan inte skickas just nu.", "Koden är fel."),
        ("id", "SMS tidak tersedia saat ini.", "Kode itu salah."),
    ],
)
def test_the_step_speaks_the_shipped_languages(phone, sms_outbox, language, unavailable, wrong):
    from django.utils import translation

    from django_sms_gateway.exceptions import SMSUnavailable

    phone.generate_challenge()
    with translation.override(language):
        assert str(SMSUnavailable()).startswith(unavailable)
        assert errors(verify_form(phone, other_than(last_code())))[0].startswith(wrong)


def test_a_phone_that_is_not_the_users_is_not_echoed(signed_in, phone, sms_outbox):
    bogus = "<b>not-a-device</b>"
    response = signed_in.post(STEP, {"otp_device": bogus, "otp_challenge": "1"})
    body = response.content.decode()
    assert response.status_code == 200 and sms_outbox == []
    assert "Choose one of your phones." in body
    assert "not-a-device" not in body


def notice_and_actions(response) -> tuple[str, str]:
    body = response.content.decode()
    notice = re.search(r'<p class="sms-notice[^>]*>(.*?)</p>', body, re.S)
    actions = re.search(r'<p class="sms-actions">(.*?)</p>', body, re.S)
    assert notice and actions
    return notice.group(1), actions.group(1)


def test_after_a_send_that_may_have_gone_out_the_page_says_so_and_waits_to_try_again(signed_in, phone, settings):
    settings.OTP_SMS_COOLDOWN_DURATION = 60
    settings.SMS_GATEWAYS = {"down": {"BACKEND": "tests.fakes.FailingBackend"}}  # after the request was made
    with freeze_time(timezone.now()):
        notice, actions = notice_and_actions(send(signed_in, phone))
    assert notice == "We could not confirm that the text message was sent. If no code arrives, try again."
    assert ">Send code<" in actions and "new code" not in actions
    assert "You can try again in <span data-sms-seconds>60</span> seconds." in actions


def test_after_a_send_that_reached_no_vendor_the_page_shows_no_wait(signed_in, phone, settings):
    settings.OTP_SMS_COOLDOWN_DURATION = 60
    settings.SMS_GATEWAYS = {"refused": {"BACKEND": "tests.fakes.FailingBackend", "OPTIONS": {"not_sent": True}}}
    notice, actions = notice_and_actions(send(signed_in, phone))
    assert notice == "We could not send the text message. Please try again in a few minutes."
    assert ">Send code<" in actions and "data-sms-cooldown" not in actions and "sms-cooldown" not in actions


def test_every_count_of_the_resend_wait_has_its_plural_form(signed_in, phone, sms_outbox, settings):
    settings.OTP_SMS_COOLDOWN_DURATION = 3
    start = timezone.now()
    with freeze_time(start):
        send(signed_in, phone)
    with freeze_time(start + timedelta(seconds=2)):
        page = signed_in.get(STEP).content.decode()
        again = phone.send_challenge()
    assert "You can ask for a new code in <span data-sms-seconds>1</span> second." in page
    assert again.message == "A code was sent recently. You can ask for a new one in 1 second."
    # What the page's script counts down with: each plural form, and for each count which one.
    hint = re.search(r'id="sms-cooldown"[^>]*data-sms-sentences="([^"]*)" data-sms-forms="([^"]*)"', page)
    assert hint is not None
    sentences, forms = json.loads(html.unescape(hint.group(1))), hint.group(2)
    assert [sentences[int(form)] for form in forms] == [
        "You can ask for a new code in %(count)d seconds.", "You can ask for a new code in %(count)d second."
    ]


def test_the_page_is_never_cached(signed_in, phone):
    assert "no-cache" in signed_in.get(STEP)["Cache-Control"]
