"""Each signal fires with the gateway alias and a masked number, never a code."""

import functools

import pytest
from django.test import override_settings

import django_sms_gateway
from django_sms_gateway import signals
from django_sms_gateway.exceptions import DeliveryFailed
from django_sms_gateway.testing import last_code
from tests import fakes
from tests.fakes import FAIL

pytestmark = pytest.mark.django_db

MASKED = "+47******32"
LOCMEM = "django_sms_gateway.backends.locmem.LocmemBackend"


@pytest.fixture
def received():
    """Connects a receiver to every signal; yields the (signal name, kwargs) it saw."""
    names = ("code_sent", "gateway_failed", "delivery_failed", "limit_hit", "code_verified", "code_refused")
    with fakes.signals_received(*names) as seen:
        yield seen


def assert_no_code(seen, code):
    for _name, kwargs in seen:
        assert code not in repr(kwargs)
        assert "98765432" not in repr({k: v for k, v in kwargs.items() if k != "device"})


def test_fallback_then_sent(device, sms_outbox, received):
    with override_settings(SMS_GATEWAYS={"down": {"BACKEND": FAIL}, "up": {"BACKEND": LOCMEM}}):
        device.generate_challenge()
    assert [name for name, _ in received] == ["gateway_failed", "code_sent"]
    failed, sent = received[0][1], received[1][1]
    assert failed["alias"] == "down" and failed["number"] == MASKED and failed["reason"] == "made to fail"
    assert sent["alias"] == "up" and sent["number"] == MASKED and sent["device"] == device
    assert sent["delivery"].alias == "up"
    assert_no_code(received, last_code())


def test_delivery_failed(device, sms_outbox, received):
    with override_settings(SMS_GATEWAYS={"a": {"BACKEND": FAIL}, "b": {"BACKEND": FAIL}}):
        with pytest.raises(DeliveryFailed):
            device.generate_challenge()
    assert [name for name, _ in received] == ["gateway_failed", "gateway_failed", "delivery_failed"]
    failed = received[-1][1]
    assert failed["aliases"] == ("a", "b") and failed["number"] == MASKED
    assert [a.alias for a in failed["attempts"]] == ["a", "b"]
    assert_no_code(received, fakes.calls[0][2])


def test_code_verified(device, sms_outbox, received):
    device.generate_challenge()
    code = last_code()
    received.clear()
    assert device.verify_token(code)
    assert received == [("code_verified", {"alias": None, "number": MASKED, "device": device})]


@pytest.mark.parametrize(
    ("typed", "reason"), [("wrong", "wrong, expired or malformed code"), ("reused", "wrong, expired or malformed code")]
)
def test_code_refused(device, sms_outbox, received, typed, reason):
    device.generate_challenge()
    code = last_code()
    if typed == "reused":
        assert device.verify_token(code)
    received.clear()
    assert not device.verify_token(code if typed == "reused" else "12345x")
    assert received == [
        ("code_refused", {"alias": None, "number": MASKED, "device": device, "reason": reason})
    ]
    assert_no_code(received, code)


def test_code_refused_while_throttled(device, sms_outbox, received):
    device.generate_challenge()
    code = last_code()
    assert not device.verify_token("12345x")
    received.clear()
    assert not device.verify_token(code)  # right code, but within the throttle delay
    assert received == [("code_refused", {"alias": None, "number": MASKED, "device": device, "reason": "throttled"})]
    assert django_sms_gateway.outbox


@pytest.mark.parametrize("name", ["gateway_failed", "code_sent", "code_verified"])
def test_a_receiver_that_raises_is_logged_and_breaks_nothing(device, sms_outbox, name, caplog):
    def broken(sender, **kwargs):
        raise RuntimeError("alerting is down")

    getattr(signals, name).connect(broken)
    try:
        gateways = {"first": {"BACKEND": FAIL}, "second": {"BACKEND": LOCMEM}}
        with override_settings(SMS_GATEWAYS=gateways):
            device.generate_challenge()
            assert [m.gateway for m in django_sms_gateway.outbox] == ["second"]
            assert device.verify_token(last_code()) is True
    finally:
        getattr(signals, name).disconnect(broken)
    errors = [r for r in caplog.records if r.levelname == "ERROR" and "signal receiver" in r.getMessage()]
    assert len(errors) == 1 and "RuntimeError" in errors[0].getMessage()
    assert errors[0].exc_info is not None


class CallableReceiver:
    """A receiver object (no ``__qualname__``), as metrics clients often are."""

    def __call__(self, sender, **kwargs):
        raise RuntimeError("alerting is down")


@pytest.mark.parametrize("kind", ["partial", "callable-object"])
def test_a_receiver_without_a_qualname_that_raises_breaks_nothing(device, sms_outbox, kind, caplog):
    """Django's send_robust names a failing receiver by ``__qualname__``; a
    functools.partial or callable object has none, and the AttributeError
    raised while logging must not escape the notice."""
    def broken(channel, sender, **kwargs):
        raise RuntimeError("alerting is down")

    receiver = functools.partial(broken, "sms") if kind == "partial" else CallableReceiver()
    signals.code_sent.connect(receiver, weak=False)
    try:
        with override_settings(SMS_GATEWAYS={"only": {"BACKEND": LOCMEM}}):
            device.generate_challenge()
    finally:
        signals.code_sent.disconnect(receiver)
    assert [m.gateway for m in django_sms_gateway.outbox] == ["only"]
    errors = [r for r in caplog.records if r.levelname == "ERROR" and "signal receiver" in r.getMessage()]
    assert len(errors) == 1 and "RuntimeError" in errors[0].getMessage()
