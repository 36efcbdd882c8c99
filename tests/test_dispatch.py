"""Ordered fallback, country skipping, one code per challenge, user-safe failures."""

import logging

import pytest
from django.test import override_settings
from django.utils.translation import gettext_lazy, ngettext_lazy, npgettext_lazy

from django_sms_gateway.dispatch import build_message
from django_sms_gateway.exceptions import (
    ConfigurationError,
    DeliveryFailed,
    NoGatewayForNumber,
    RecipientNotReachable,
    SMSUnavailable,
)
from django_sms_gateway.models import DeliveryRecord
from tests import fakes
from tests.fakes import FAIL, OK

pytestmark = pytest.mark.django_db

LOCMEM = "django_sms_gateway.backends.locmem.LocmemBackend"
NUMBER = "+4798765432"


def gateways(*entries):
    return override_settings(SMS_GATEWAYS={alias: entry for alias, entry in entries})


def test_falls_back_in_order_with_the_same_code(device, sms_outbox):
    with gateways(("a", {"BACKEND": FAIL}), ("b", {"BACKEND": FAIL, "OPTIONS": {"error": "GatewayTimeout"}}),
                  ("c", {"BACKEND": LOCMEM}), ("d", {"BACKEND": OK})):
        device.generate_challenge()
    assert [c[0] for c in fakes.calls] == ["a", "b"]
    codes = {c[2] for c in fakes.calls} | {sms_outbox[0].code}
    assert len(codes) == 1 and sms_outbox[0].gateway == "c"
    assert list(DeliveryRecord.objects.order_by("id").values_list("gateway", "outcome")) == [
        ("a", "failed"), ("b", "failed"), ("c", "sent")
    ]


def test_skips_gateways_whose_countries_exclude_the_number(device, sms_outbox):
    with gateways(("se", {"BACKEND": OK, "COUNTRIES": ["SE"]}), ("no", {"BACKEND": LOCMEM, "COUNTRIES": ["no"]})):
        device.generate_challenge()
    assert fakes.calls == [] and sms_outbox[0].gateway == "no"
    assert DeliveryRecord.objects.get(gateway="se").outcome == "skipped"


def test_number_no_gateway_serves_is_refused_clearly(device, sms_outbox):
    with gateways(("se", {"BACKEND": LOCMEM, "COUNTRIES": ["SE", "DK"]})):
        with pytest.raises(NoGatewayForNumber) as info:
            device.generate_challenge()
    assert "country" in str(info.value) and not sms_outbox


def test_all_failing_raises_user_safe_error_with_attempts(device, sms_outbox, caplog):
    caplog.set_level(logging.DEBUG)
    with gateways(("a", {"BACKEND": FAIL}), ("b", {"BACKEND": "tests.fakes.ExplodingBackend"})):
        with pytest.raises(DeliveryFailed) as info:
            device.generate_challenge()
    err = info.value
    assert [a.alias for a in err.attempts] == ["a", "b"] and all(a.outcome == "failed" for a in err.attempts)
    assert all(a.elapsed >= 0 for a in err.attempts)
    text = str(err)
    assert "secret-body" not in text and "made to fail" not in text and "+47" not in text
    code = fakes.calls[0][2]
    assert code not in text and code not in caplog.text and "98765432" not in caplog.text


NOT_SENT = {"BACKEND": FAIL, "OPTIONS": {"error": "GatewayConnectionError", "not_sent": True}}


def test_a_send_no_vendor_took_gives_back_the_cooldown_the_code_and_the_limit_counts(device, sms_outbox):
    """Every attempt failed before its request could reach the vendor: no
    SMS can arrive, so nothing of it may count against the user."""
    from tests.test_limits import sending_limits

    with override_settings(OTP_SMS_COOLDOWN_DURATION=60), sending_limits(number=(1, 3600)):
        for _ in range(3):  # an outage: the user presses again and again
            with gateways(("a", NOT_SENT)), pytest.raises(DeliveryFailed) as info:
                device.generate_challenge()
            assert info.value.may_have_sent is False
        code = fakes.calls[0][2]
        assert device.verify_token(code) is False
        device.generate_challenge()  # neither the cooldown nor the number limit (1 a hour) is spent
    assert len(sms_outbox) == 1


def test_a_send_a_vendor_may_have_taken_keeps_its_code_its_cooldown_and_its_count(device, sms_outbox):
    """A 5xx or a timeout after the request went out may still deliver the
    SMS: its code stays good, and asking again waits for the cooldown."""
    from tests.test_limits import sending_limits

    with override_settings(OTP_SMS_COOLDOWN_DURATION=60), sending_limits(number=(1, 3600)):
        with gateways(("a", {"BACKEND": FAIL})), pytest.raises(DeliveryFailed) as info:
            device.generate_challenge()
        assert info.value.may_have_sent is True
        sentence = device.generate_challenge()
        assert "You can ask for a new one in" in sentence and not sms_outbox
        assert device.verify_token(fakes.calls[0][2]) is True


def test_recipient_refused_stops_the_walk(device, sms_outbox):
    with gateways(("a", {"BACKEND": FAIL, "OPTIONS": {"error": "RecipientRefused"}}), ("b", {"BACKEND": LOCMEM})):
        with pytest.raises(RecipientNotReachable):
            device.generate_challenge()
    assert not sms_outbox


def test_request_rejected_tries_next(device, sms_outbox):
    with gateways(("a", {"BACKEND": FAIL, "OPTIONS": {"error": "RequestRejected"}}), ("b", {"BACKEND": LOCMEM})):
        device.generate_challenge()
    assert sms_outbox[0].gateway == "b"


def test_time_budget_skips_remaining_gateways(device, sms_outbox, monkeypatch):
    import django_sms_gateway.dispatch as dispatch

    clock = iter([0.0, 0.0, 100.0, 100.0, 100.0, 100.0])
    monkeypatch.setattr(dispatch.time, "monotonic", lambda: next(clock))
    with gateways(("a", {"BACKEND": FAIL}), ("b", {"BACKEND": LOCMEM})):
        with pytest.raises(DeliveryFailed) as info:
            device.generate_challenge()
    assert [(a.alias, a.outcome, a.reason) for a in info.value.attempts][1] == ("b", "skipped", "time budget spent")


def test_same_code_after_fallback_verifies(device, sms_outbox):
    with gateways(("a", {"BACKEND": FAIL}), ("b", {"BACKEND": LOCMEM})):
        device.generate_challenge()
    assert device.verify_token(fakes.calls[0][2]) is True


@pytest.mark.parametrize(("fault", "reason"), [("hang", "timeout"), ("refuse", "connection failed")])
def test_a_request_that_reached_the_vendor_is_never_repeated_there(sandbox, device, sms_outbox, fault, reason):
    """A read timeout or a connection reset after the request was sent may
    have sent the SMS: the next vendor is tried, the same one never again."""
    from tests.vendors.helpers import zignsec_entry

    sandbox.set_fault("zignsec", fault)
    with gateways(("zignsec", zignsec_entry(sandbox, TIMEOUT=0.3)), ("backup", {"BACKEND": LOCMEM})):
        device.generate_challenge()
    assert sandbox.stats["zignsec"]["requests"] == 1 and sms_outbox[0].gateway == "backup"
    failed = DeliveryRecord.objects.get(gateway="zignsec")
    assert failed.outcome == "failed" and failed.reason == reason


def test_the_walk_tries_each_gateway_once(device, sms_outbox):
    """A refused connection is retried once inside the HTTP layer (urllib3's
    Retry, tests/vendors/test_http_retry.py); the walk itself never calls a
    gateway twice, and a check of our own that refused the message before any
    request would only refuse it again."""
    refused_here = {"BACKEND": FAIL, "OPTIONS": {"error": "RequestRejected", "not_sent": True}}
    with gateways(("a", NOT_SENT), ("b", refused_here), ("c", {"BACKEND": LOCMEM})):
        device.generate_challenge()
    assert [c[0] for c in fakes.calls] == ["a", "b"] and sms_outbox[0].gateway == "c"


# -- OTP_SMS_MESSAGE: one text, or a form chosen by the minutes --------------------------------------


SINGULAR = "{token} is valid for {minutes} minute"
PLURAL = "{token} is valid for {minutes} minutes"


@pytest.mark.parametrize(
    "message",
    [
        pytest.param(ngettext_lazy(SINGULAR, PLURAL), id="ngettext_lazy"),
        pytest.param(ngettext_lazy(SINGULAR, PLURAL, "minutes"), id="ngettext_lazy-with-key"),
        pytest.param(npgettext_lazy("sms", SINGULAR, PLURAL), id="npgettext_lazy"),
        pytest.param((SINGULAR, PLURAL), id="pair"),
        pytest.param([SINGULAR, gettext_lazy(PLURAL)], id="list-with-a-lazy-plural"),
    ],
)
def test_a_plural_message_names_the_minutes_in_the_right_form(message, settings):
    settings.OTP_SMS_MESSAGE = message
    assert build_message(NUMBER, "123456", validity=60).text == "123456 is valid for 1 minute"
    assert build_message(NUMBER, "123456", validity=61).text == "123456 is valid for 2 minutes"


@pytest.mark.parametrize("message", [PLURAL, gettext_lazy(PLURAL)], ids=["string", "gettext_lazy"])
def test_a_single_text_is_used_for_every_number_of_minutes(message, settings):
    settings.OTP_SMS_MESSAGE = message
    assert build_message(NUMBER, "123456", validity=60).text == "123456 is valid for 1 minutes"


def test_a_message_of_another_kind_is_a_configuration_error(settings, device, sms_outbox):
    settings.OTP_SMS_MESSAGE = 42
    with pytest.raises(ConfigurationError) as info:
        build_message(NUMBER, "123456")
    assert info.value.check_id == "sms_gateway.E002" and "ngettext_lazy" in info.value.hint
    with pytest.raises(SMSUnavailable):
        device.generate_challenge()
    assert sms_outbox == []
