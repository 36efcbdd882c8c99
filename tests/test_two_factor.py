"""django-two-factor-auth sends its codes through our gateways."""

import logging

import pytest
from django.test import override_settings
from django.utils import translation

from django_sms_gateway import checks, signals
from django_sms_gateway.exceptions import ConfigurationError, DeliveryFailed, RecipientNotReachable, SMSUnavailable
from django_sms_gateway.integrations.two_factor import GATEWAY_PATH, Gateway
from django_sms_gateway.models import DeliveryRecord
from tests import fakes
from tests.fakes import FAIL, VENDOR_CODE

pytest.importorskip("two_factor", reason="install the test extra: pip install -e '.[test]' (django-two-factor-auth)")
from two_factor.plugins.phonenumber.models import PhoneDevice  # noqa: E402

pytestmark = pytest.mark.django_db

LOCMEM = "django_sms_gateway.backends.locmem.LocmemBackend"
NUMBER = "+4798765432"
UNAVAILABLE = "Text messages are not available right now. Please try again later."


@pytest.fixture(autouse=True)
def _two_factor(settings):
    settings.TWO_FACTOR_SMS_GATEWAY = GATEWAY_PATH


@pytest.fixture
def phone_device(user):
    """django-two-factor-auth's own SMS device for ``user``: its code, our gateways."""
    return PhoneDevice.objects.create(user=user, name="default", number=NUMBER, method="sms")


def test_generate_challenge_sends_two_factors_token(phone_device, sms_outbox):
    phone_device.generate_challenge()
    [message] = sms_outbox
    assert message.recipient == NUMBER and message.gateway == "locmem"
    assert message.text == f"Your verification code is {message.code}. It expires in 2 minutes."
    assert phone_device.verify_token(message.code)  # the token two_factor made and checks


def test_fallback_skips_vendor_made_codes(phone_device, sms_outbox):
    sent = []

    def on_sent(sender, **kwargs):
        sent.append(kwargs)

    signals.code_sent.connect(on_sent)
    try:
        with override_settings(SMS_GATEWAYS={
            "ip1": {"BACKEND": VENDOR_CODE},
            "down": {"BACKEND": FAIL},
            "up": {"BACKEND": LOCMEM},
        }):
            phone_device.generate_challenge()
    finally:
        signals.code_sent.disconnect(on_sent)
    [message] = sms_outbox
    assert message.gateway == "up"
    assert fakes.calls == [("down", NUMBER, message.code)]  # iP1-style gateway never asked
    assert list(DeliveryRecord.objects.order_by("id").values_list("gateway", "outcome", "number_masked", "device")) == [
        ("down", "failed", "+47******32", None), ("up", "sent", "+47******32", None)
    ]
    assert sent[0]["alias"] == "up" and sent[0]["number"] == "+47******32" and sent[0]["device"] == phone_device


def test_message_goes_out_in_the_active_language(phone_device, sms_outbox):
    with translation.override("nb"):
        phone_device.generate_challenge()
    assert sms_outbox[0].text == f"Din bekreftelseskode er {sms_outbox[0].code}. Den utløper om 2 minutter."


def test_no_gateway_delivered(phone_device, sms_outbox):
    with override_settings(SMS_GATEWAYS={"a": {"BACKEND": FAIL}}):
        with pytest.raises(DeliveryFailed) as info:
            phone_device.generate_challenge()
    assert "try again" in str(info.value) and not sms_outbox
    assert DeliveryRecord.objects.get().outcome == "failed"


def test_number_that_cannot_take_sms(user, sms_outbox):
    landline = PhoneDevice(user=user, name="desk", number="+4722123456", method="sms")
    with pytest.raises(RecipientNotReachable):
        Gateway().send_sms(landline, "123456")
    assert not sms_outbox


def test_only_vendor_code_gateways_is_logged_and_shown_as_unavailable(phone_device, sms_outbox, caplog):
    with override_settings(SMS_GATEWAYS={"ip1": {"BACKEND": VENDOR_CODE}}):
        with caplog.at_level(logging.ERROR, logger="django_sms_gateway"):
            for _attempt in range(2):
                with pytest.raises(SMSUnavailable) as info:
                    phone_device.generate_challenge()
                assert str(info.value) == UNAVAILABLE
                assert isinstance(info.value.__cause__, ConfigurationError)
        [message] = checks.check_two_factor()
    [logged] = [r for r in caplog.records if r.levelno == logging.ERROR]  # once per cause
    assert "sms_gateway.E011" in logged.getMessage() and "makes its own codes" in logged.getMessage()
    assert message.id == "sms_gateway.E011" and "Add a gateway" in message.hint
    assert fakes.calls == []


def test_voice_calls_are_refused_clearly(phone_device, settings, caplog):
    settings.TWO_FACTOR_CALL_GATEWAY = GATEWAY_PATH
    with caplog.at_level(logging.ERROR, logger="django_sms_gateway"):
        with pytest.raises(SMSUnavailable) as info:
            Gateway().make_call(phone_device, "123456")
    assert str(info.value) == UNAVAILABLE and "text messages only" in str(info.value.__cause__)
    assert "sms_gateway.E010" in caplog.text and "TWO_FACTOR_CALL_GATEWAY" not in str(info.value)
    [message] = checks.check_two_factor()
    assert message.id == "sms_gateway.E010" and "Remove TWO_FACTOR_CALL_GATEWAY" in message.hint


# -- the drop-in LoginView ------------------------------------------------------

def sign_in(client):
    return client.post(
        "/login/",
        {"login_view-current_step": "auth", "auth-username": "alice", "auth-password": "correct horse"},
    )


@pytest.fixture
def login_site(settings, phone_device):
    settings.ROOT_URLCONF = "tests.two_factor_urls"
    settings.LOGIN_URL = "/login/"


@pytest.mark.parametrize(
    ("gateways", "sentence"),
    [
        ({"down": {"BACKEND": FAIL}}, "We could not confirm that the text message was sent. If no code arrives, "
                                      "try again."),
        ({"refused": {"BACKEND": FAIL, "OPTIONS": {"not_sent": True}}},
         "We could not send the text message. Please try again in a few minutes."),
        ({"typo": {"BACKEND": "django_sms_gateway.backends.locmem.LocmemBackendd"}}, UNAVAILABLE),
    ],
)
def test_login_view_shows_the_safe_sentence_instead_of_a_server_error(client, login_site, gateways, sentence, caplog):
    with override_settings(SMS_GATEWAYS=gateways), caplog.at_level(logging.ERROR, logger="django_sms_gateway"):
        response = sign_in(client)
    body = response.content.decode()
    assert response.status_code == 200 and body.count(sentence) == 1
    assert "We sent you a text message" not in body  # the sentence stands in its place
    assert "LocmemBackendd" not in body and "SMS_GATEWAYS" not in body
    assert 'name="token-otp_token"' in body  # still the token step: a backup token may be used
    assert any(r.levelno == logging.ERROR for r in caplog.records)  # the cause is in the log, not on the page


def test_login_view_sends_the_code_when_the_token_step_shows(client, login_site, sms_outbox):
    response = sign_in(client)
    assert response.status_code == 200 and [m.recipient for m in sms_outbox] == [NUMBER]
    assert "We sent you a text message" in response.content.decode()  # django-two-factor-auth's own page


def test_a_phone_device_code_entered_counts_for_the_fraud_guard(user):
    """The guard judges ranges by codes entered against codes sent: the codes
    our gateway sends for django-two-factor-auth's phone devices are counted
    as sends, so their entry must count as a conversion too."""
    from freezegun import freeze_time
    from two_factor.signals import user_verified

    from django_sms_gateway import limits
    from tests.limiting import limits_cache, sending_limits

    unconfirmed = PhoneDevice.objects.create(user=user, name="new", number="+447911123456", method="sms",
                                             confirmed=False)
    with sending_limits(limits_cache(), guard={"MODE": "enforce"}), freeze_time("2026-03-02 10:00:00") as clock:
        user_verified.send(sender=__name__, request=None, user=user, device=unconfirmed)
        clock.tick(600)
        (figures,) = limits.range_figures(["+44 791112"])
        assert figures.verified == 1
        with override_settings(TWO_FACTOR_SMS_GATEWAY="two_factor.gateways.fake.Fake"):
            user_verified.send(sender=__name__, request=None, user=user, device=unconfirmed)
        assert limits.range_figures(["+44 791112"])[0].verified == 1  # another gateway's codes are not ours


def test_risk_checks_run_before_django_two_factor_auths_code_is_sent(settings, phone_device, sms_outbox):
    from django_sms_gateway.exceptions import RiskCheckRefused

    settings.OTP_SMS_RISK_CHECKS = ["tests.test_risk_checks.Refuses"]
    with pytest.raises(RiskCheckRefused) as refused:
        phone_device.generate_challenge()
    assert sms_outbox == [] and not DeliveryRecord.objects.exists()
    assert "another" in str(refused.value)  # the user-safe sentence asks for another way to sign in
