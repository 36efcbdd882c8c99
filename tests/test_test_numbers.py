"""Fixed test numbers (``OTP_SMS_TEST_NUMBERS``): a listed number is sent nothing and takes only its
listed code, with the throttle, the single use per challenge and the lock-out of a real code; each
use is logged at WARNING (masked) and signalled; checks E043, W033 and W034."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.test import Client
from django.urls import include, path
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.decorators import otp_required
from freezegun import freeze_time

from django_sms_gateway import checks, signals
from django_sms_gateway.conf import read_test_numbers
from django_sms_gateway.exceptions import ConfigurationError
from django_sms_gateway.models import DeliveryRecord, SMSDevice
from django_sms_gateway.phone import FixedCodeChallenge, normalize_number
from tests import fakes

pytestmark = pytest.mark.django_db

NUMBER = "+15555550100"
CODE = "246810"
MASKED = "+1********00"
FAIL = "tests.fakes.FailingBackend"
LOCMEM = "django_sms_gateway.backends.locmem.LocmemBackend"


@login_required
@otp_required(login_url="django_sms_gateway:verify")
def protected(request):
    return HttpResponse("protected")


urlpatterns = [path("sms/", include("django_sms_gateway.urls")), path("protected/", protected)]


@pytest.fixture(autouse=True)
def listed(settings):
    settings.OTP_SMS_TEST_NUMBERS = {NUMBER: CODE, "+447700900123": "135790"}
    settings.ROOT_URLCONF = __name__
    settings.LOGIN_URL = "/login/"
    settings.LOGIN_REDIRECT_URL = "/protected/"


@pytest.fixture
def reviewer(user):
    return SMSDevice.objects.create(user=user, name="Review phone", number=NUMBER, confirmed=True)


@pytest.fixture
def uses():
    seen = []

    def receiver(sender, **kwargs):
        seen.append((kwargs["number"], kwargs["action"], kwargs["device"].pk))

    signals.test_number_used.connect(receiver)
    yield seen
    signals.test_number_used.disconnect(receiver)


def test_the_shipped_step_signs_in_with_the_fixed_code_and_sends_nothing(user, reviewer, settings, sms_outbox,
                                                                         uses, caplog):
    settings.SMS_GATEWAYS = {"down": {"BACKEND": FAIL}, "locmem": {"BACKEND": LOCMEM}}
    settings.OTP_SMS_LIMITS = {"number": (1, 3600), "user": (1, 3600)}  # no limit counts a test number
    client = Client()
    client.force_login(user)
    with caplog.at_level(logging.WARNING, logger="django_sms_gateway"):
        for _ in range(3):
            response = client.post("/sms/verify/?next=/protected/", {"otp_device": reviewer.persistent_id,
                                                                      "otp_challenge": "1"})
            assert response.status_code == 302
        page = client.get(response["Location"]).content.decode()
        assert f"We sent a code by text message to {MASKED}." in page
        response = client.post("/sms/verify/", {"otp_device": reviewer.persistent_id, "otp_token": CODE,
                                                "next": "/protected/"})
    assert response.status_code == 302 and response["Location"] == "/protected/"
    assert client.session[DEVICE_ID_SESSION_KEY] == reviewer.persistent_id
    assert client.get("/protected/").content == b"protected"
    assert sms_outbox == [] and fakes.calls == [] and not DeliveryRecord.objects.exists()
    assert uses == [(MASKED, "sent", reviewer.pk)] * 3 + [(MASKED, "verified", reviewer.pk)]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 4 and all(MASKED in w and NUMBER not in w and CODE not in w for w in warnings)


def test_only_the_listed_code_of_this_number_is_accepted(reviewer):
    assert isinstance(reviewer.send_code(), FixedCodeChallenge)
    assert not reviewer.verify_token("135790")  # another test number's code
    reviewer.throttling_failure_count = 0
    SMSDevice.objects.filter(pk=reviewer.pk).update(throttling_failure_count=0, throttling_failure_timestamp=None)
    assert not reviewer.verify_token("000000")


def test_no_code_without_a_challenge(reviewer):
    assert not reviewer.verify_token(CODE)  # nothing was asked for: no code is waiting


def test_single_use_per_challenge(reviewer, settings):
    settings.OTP_SMS_THROTTLE_FACTOR = 0
    reviewer.generate_challenge()
    assert reviewer.verify_token(CODE)
    assert not reviewer.verify_token(CODE)  # spent
    reviewer.generate_challenge()
    assert reviewer.verify_token(CODE)  # a new challenge, the same listed code


def test_the_code_expires_with_its_challenge(reviewer):
    reviewer.generate_challenge()
    with freeze_time(timezone.now() + timedelta(seconds=301)):  # OTP_SMS_TOKEN_VALIDITY, 300 by default
        assert not reviewer.verify_token(CODE)


def test_a_wrong_code_throttles_the_listed_code(reviewer, settings):
    settings.OTP_SMS_THROTTLE_FACTOR = 60
    reviewer.generate_challenge()
    assert not reviewer.verify_token("111111")
    assert not reviewer.verify_token(CODE)  # throttled: wait 60 seconds
    reviewer.refresh_from_db()
    assert reviewer.throttling_failure_count == 1  # a refusal while throttled is not counted


def test_the_lock_out_refuses_the_listed_code(reviewer, settings):
    settings.OTP_SMS_THROTTLE_FACTOR = 0
    settings.OTP_SMS_MAX_FAILURES = 3
    reviewer.generate_challenge()
    for _ in range(3):
        assert not reviewer.verify_token("111111")
    reviewer.generate_challenge()  # a new challenge does not reset the count (NIST SP 800-63B rev. 4, 3.1.3.2)
    assert not reviewer.verify_token(CODE)
    allowed, details = reviewer.verify_is_allowed()
    assert not allowed and details["reason"] == "rebind_required"


def test_the_cooldown_still_applies(reviewer, settings):
    settings.OTP_SMS_COOLDOWN_DURATION = 60
    assert isinstance(reviewer.send_code(), FixedCodeChallenge)
    assert reviewer.send_code() is None
    assert "You can ask for a new one in" in reviewer.generate_challenge()


def test_an_unlisted_number_is_sent_as_usual(user, sms_outbox):
    device = SMSDevice.objects.create(user=user, name="phone", number="+4798765432", confirmed=True)
    device.generate_challenge()
    [message] = sms_outbox
    assert message.recipient == "+4798765432" and message.code != CODE


def test_a_listed_number_is_taken_as_written_even_outside_every_numbering_plan(settings):
    assert normalize_number("+1 555-555-0100") == NUMBER
    settings.OTP_SMS_TEST_NUMBERS = {}
    with pytest.raises(ValidationError):
        normalize_number("+1 555-555-0100")


# -- django-two-factor-auth's wizard ------------------------------------------------------------------

def test_the_two_factor_wizard_signs_in_with_the_fixed_code(user, settings, sms_outbox, uses):
    pytest.importorskip("two_factor", reason="install the test extra (django-two-factor-auth)")
    from django_sms_gateway.integrations.two_factor import GATEWAY_PATH

    settings.TWO_FACTOR_SMS_GATEWAY = GATEWAY_PATH
    settings.ROOT_URLCONF = "tests.two_factor_urls"
    settings.LOGIN_REDIRECT_URL = "/account/two_factor/"
    device = SMSDevice.objects.create(user=user, name="default", number=NUMBER, confirmed=True)
    client = Client()
    response = client.post(
        "/login/", {"login_view-current_step": "auth", "auth-username": "alice", "auth-password": "correct horse"}
    )
    body = response.content.decode()
    assert response.status_code == 200 and 'name="token-otp_token"' in body
    assert f"We sent a code by text message to {MASKED}." in body
    wrong = client.post("/login/", {"login_view-current_step": "token", "token-otp_token": "111111"})
    assert wrong.status_code == 200 and 'name="token-otp_token"' in wrong.content.decode()
    SMSDevice.objects.filter(pk=device.pk).update(throttling_failure_timestamp=None)  # skip the 1-second wait
    response = client.post("/login/", {"login_view-current_step": "token", "token-otp_token": CODE})
    assert response.status_code == 302
    assert client.session[DEVICE_ID_SESSION_KEY] == device.persistent_id
    assert sms_outbox == []
    assert [action for _number, action, _pk in uses] == ["sent", "verified"]


def test_two_factors_phone_device_with_a_listed_number_is_sent_nothing(user, settings, sms_outbox, uses):
    pytest.importorskip("two_factor", reason="install the test extra (django-two-factor-auth)")
    from two_factor.plugins.phonenumber.models import PhoneDevice

    from django_sms_gateway.integrations.two_factor import GATEWAY_PATH

    settings.TWO_FACTOR_SMS_GATEWAY = GATEWAY_PATH
    phone = PhoneDevice.objects.create(user=user, name="default", number=NUMBER, method="sms")
    phone.generate_challenge()
    assert sms_outbox == [] and not DeliveryRecord.objects.exists()
    assert uses == [(MASKED, "sent", phone.pk)]


# -- checks ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("value", "words"),
    [
        ({NUMBER: "12345"}, "at least 6 ASCII digits"),
        ({NUMBER: "24681a"}, "at least 6 ASCII digits"),
        ({NUMBER: "٢٤٦٨١٠"}, "at least 6 ASCII digits"),
        ({NUMBER: 246810}, "at least 6 ASCII digits"),
        ({NUMBER: "24681012"}, "OTP_SMS_TOKEN_LENGTH is 6"),
        ({"15555550100": CODE}, "not an E.164 number"),
        ({"+1 555 555 0100": CODE}, "not an E.164 number"),
        ({"+05555550100": CODE}, "not an E.164 number"),
        ([NUMBER], "must be a dict"),
    ],
)
def test_wrong_test_numbers_are_e043(settings, value, words):
    settings.DEBUG = True
    settings.OTP_SMS_TEST_NUMBERS = value
    messages = checks.check_test_numbers()
    assert [m.id for m in messages] == [checks.E043]
    assert words in messages[0].msg
    assert "24681" not in messages[0].msg and "٢" not in messages[0].msg  # a code is never repeated
    with pytest.raises(ConfigurationError):
        SMSDevice(number=NUMBER).send_code()


def test_w033_whenever_set_without_debug(settings):
    settings.DEBUG = False
    [message] = checks.check_test_numbers()
    assert message.id == checks.W033 and not message.is_serious() and "2 number(s)" in message.msg
    settings.DEBUG = True
    assert checks.check_test_numbers() == []
    settings.DEBUG = False
    settings.OTP_SMS_TEST_NUMBERS = {}
    assert checks.check_test_numbers() == []


def test_w034_for_a_number_someone_could_own(settings):
    settings.DEBUG = True
    settings.OTP_SMS_TEST_NUMBERS = {"+4798765432": CODE}
    [message] = checks.check_test_numbers()
    assert message.id == checks.W034 and "+47******32" in message.msg and "+4798765432" not in message.msg


def test_the_reader_keeps_the_listed_values():
    assert read_test_numbers({NUMBER: CODE}) == {NUMBER: CODE}
    assert read_test_numbers(None) == {}
