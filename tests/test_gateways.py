"""The SMS_GATEWAYS registry: built once, rebuilt on settings change, clear configuration errors."""

import io

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from django_sms_gateway.backends.console import ConsoleBackend
from django_sms_gateway.backends.locmem import LocmemBackend
from django_sms_gateway.dispatch import gateways

LOCMEM = "django_sms_gateway.backends.locmem.LocmemBackend"


def test_instances_are_built_once_and_reset_on_settings_change():
    first = gateways["locmem"]
    assert gateways["locmem"] is first and isinstance(first, LocmemBackend)
    with override_settings(SMS_GATEWAYS={"x": {"BACKEND": LOCMEM}, "y": {"BACKEND": LOCMEM, "TIMEOUT": 2}}):
        assert [b.alias for b in gateways] == ["x", "y"] and gateways["y"].timeout == 2
    assert gateways["locmem"] is not first


@override_settings(SMS_GATEWAYS=None)
def test_no_setting_means_console_backend():
    (backend,) = gateways.all()
    assert isinstance(backend, ConsoleBackend)


@override_settings(OTP_SMS_SENDER="Acme", SMS_GATEWAYS={"a": {"BACKEND": LOCMEM}})
def test_sender_falls_back_to_setting():
    assert gateways["a"].config["sender"] == "Acme"


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"BACKEND": "no.such.Backend"}, "SMS_GATEWAYS['bad']: cannot import BACKEND 'no.such.Backend'"),
        ({"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}, "is not a django_sms_gateway backend"),
        ({}, "'BACKEND' is required"),
        ({"BACKEND": LOCMEM, "OPTIONS": {"colour": "red"}}, "unknown option 'colour'"),
        ({"BACKEND": LOCMEM, "TIMOUT": 3}, "unknown key 'TIMOUT'"),
        ({"BACKEND": LOCMEM, "TIMEOUT": 0}, "'TIMEOUT' must be a positive number"),
        ({"BACKEND": LOCMEM, "COUNTRIES": "NO"}, "'COUNTRIES' must be a list"),
        ({"BACKEND": LOCMEM, "COUNTRIES": ["NO", "XX"]}, "'XX', which is not an ISO 3166 region"),
        ({"BACKEND": LOCMEM, "OPTIONS": ["sender"]}, "'OPTIONS' must be a dict"),
        ({"BACKEND": LOCMEM, "BREAKER": 3}, "unknown key 'BREAKER'"),
        ({"BACKEND": LOCMEM, "BREAKER_THRESHOLD": -1}, "'BREAKER_THRESHOLD' must be a whole number"),
        ({"BACKEND": LOCMEM, "BREAKER_THRESHOLD": 2.5}, "'BREAKER_THRESHOLD' must be a whole number"),
        ({"BACKEND": LOCMEM, "BREAKER_THRESHOLD": True}, "'BREAKER_THRESHOLD' must be a whole number"),
        ({"BACKEND": LOCMEM, "BREAKER_COOLOFF": 0}, "'BREAKER_COOLOFF' must be a positive number"),
        ({"BACKEND": LOCMEM, "BREAKER_COOLOFF": "30"}, "'BREAKER_COOLOFF' must be a positive number"),
        ("locmem", "must be a dict"),
    ],
)
def test_configuration_errors_name_alias_and_problem(entry, message):
    with override_settings(SMS_GATEWAYS={"bad": entry}):
        with pytest.raises(ImproperlyConfigured) as info:
            gateways.all()
    assert message in str(info.value) and "bad" in str(info.value)


def test_missing_required_option_is_named():
    from tests.fakes import RecordingBackend

    class NeedsKey(RecordingBackend):
        options = {"api_key": __import__("django_sms_gateway.backends.base", fromlist=["Option"]).Option()}

    with pytest.raises(ImproperlyConfigured, match=r"SMS_GATEWAYS\['v'\] \(NeedsKey\): option 'api_key' is required"):
        NeedsKey("v", {})


def test_console_backend_prints_message(db):
    stream = io.StringIO()
    backend = ConsoleBackend("dev", {"stream": stream})
    from django_sms_gateway.dispatch import build_message

    backend.send(build_message("+4798765432", "123456"), timeout=1)
    assert "123456" in stream.getvalue() and "+4798765432" in stream.getvalue()


def test_system_check_reports_bad_gateway_and_long_template():
    from django_sms_gateway.checks import check_gateways

    with override_settings(SMS_GATEWAYS={"bad": {"BACKEND": "nope.Nope"}}):  # E004: unimportable BACKEND
        assert [m.id for m in check_gateways()] == ["sms_gateway.E004"]
    with override_settings(SMS_GATEWAYS={"one": {"BACKEND": "tests.fakes.RecordingBackend"}},
                           OTP_SMS_MESSAGE="{token} " + "x" * 200):
        assert [m.id for m in check_gateways()] == ["sms_gateway.E003"]
    with override_settings(OTP_SMS_MESSAGE="no code here", DEBUG=True):
        assert [m.id for m in check_gateways()] == ["sms_gateway.E002"]


def test_breaker_settings_come_from_the_entry_else_the_global_settings():
    entries = {"own": {"BACKEND": LOCMEM, "BREAKER_THRESHOLD": 5, "BREAKER_COOLOFF": 2.5},
               "off": {"BACKEND": LOCMEM, "BREAKER_THRESHOLD": None}, "global": {"BACKEND": LOCMEM}}
    with override_settings(SMS_GATEWAYS=entries, OTP_SMS_BREAKER_THRESHOLD=4, OTP_SMS_BREAKER_COOLOFF=60):
        assert [(b.breaker_threshold, b.breaker_cooloff) for b in gateways] == [(5, 2.5), (0, 60.0), (4, 60.0)]
        with override_settings(OTP_SMS_BREAKER_THRESHOLD=7):  # a change rebuilds the backends
            assert gateways["global"].breaker_threshold == 7


@override_settings(OTP_SMS_BREAKER_COOLOFF=-5, SMS_GATEWAYS={"a": {"BACKEND": LOCMEM}})
def test_bad_global_breaker_setting_is_named():
    with pytest.raises(ImproperlyConfigured, match=r"OTP_SMS_BREAKER_COOLOFF \(used by SMS_GATEWAYS\['a'\]\)"):
        gateways.all()
