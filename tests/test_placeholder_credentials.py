"""A guide's example credentials ("...", "xxx", "<your-api-key>") or empty ones are a configuration
error (sms_gateway.E005) of every vendor's credential options, never a gateway that fails at login."""

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from django_sms_gateway import checks
from django_sms_gateway.backends.base import placeholder_problem
from django_sms_gateway.dispatch import build_backend
from django_sms_gateway.exceptions import ConfigurationError
from tests.vendors.helpers import VENDORS, credentials

#: Vendor -> its credential options beyond the sandbox's (optional ones, the other way to authenticate).
MORE_CREDENTIALS = {
    "twilio": {"api_key_sid": "SK" + "0" * 32, "api_key_secret": "sandbox-twilio-api-key-secret"},
    "twilio-verify": {"api_key_sid": "SK" + "0" * 32, "api_key_secret": "sandbox-twilio-api-key-secret"},
    "vonage": {"signature_secret": "sandbox-vonage-signature-secret"},
    "zignsec": {"webhook_secret": "sandbox-zignsec-webhook-secret"},
}
CREDENTIAL_OPTIONS = [
    (vendor, name)
    for vendor in VENDORS
    for name in {**credentials(vendor), **MORE_CREDENTIALS.get(vendor, {})}
]
PLACEHOLDERS = ["...", "\u2026", "xxx", "XXXXXXXX", "<your-api-key>", "<API_KEY>", "{{ api_key }}", "${API_KEY}",
                "changeme", "CHANGE_ME", "your-api-key", "YOUR_AUTH_TOKEN", "API_KEY", "None"]


def entry(vendor, **options):
    backend, defaults = VENDORS[vendor]
    return {"BACKEND": backend, "OPTIONS": {"base_url": "https://vendor.example", **defaults, **credentials(vendor),
                                            **MORE_CREDENTIALS.get(vendor, {}), **options}}


def test_every_vendor_with_options_of_its_own_credentials_is_covered():
    assert {vendor for vendor, _name in CREDENTIAL_OPTIONS} == set(VENDORS) - {"aws"}  # AWS: botocore's chain
    for vendor in VENDORS:
        build_backend(vendor, entry(vendor))  # the real-looking credentials are accepted


@pytest.mark.parametrize(("vendor", "name"), CREDENTIAL_OPTIONS)
@pytest.mark.parametrize("placeholder", ["...", "xxx", "<your-api-key>", "changeme"])
def test_a_placeholder_credential_is_a_configuration_error(vendor, name, placeholder):
    with pytest.raises(ConfigurationError) as error:
        build_backend(vendor, entry(vendor, **{name: placeholder}))
    assert error.value.check_id == checks.E005
    assert f"option {name!r} is a placeholder, not a credential" in error.value.message
    if placeholder != "...":
        assert placeholder not in error.value.message and placeholder not in error.value.hint


@pytest.mark.parametrize(("vendor", "name"), CREDENTIAL_OPTIONS)
@pytest.mark.parametrize("empty", ["", "   "])
def test_an_empty_credential_is_a_configuration_error(vendor, name, empty):
    with pytest.raises(ConfigurationError) as error:
        build_backend(vendor, entry(vendor, **{name: empty}))
    assert error.value.check_id == checks.E005 and f"option {name!r}" in error.value.message


def test_a_masked_copy_is_a_configuration_error():
    with pytest.raises(ConfigurationError) as error:
        build_backend("infobip", entry("infobip", api_key="a1b2...9f0e"))
    assert "'api_key' looks masked or cut short" in error.value.message and "9f0e" not in error.value.message


def test_example_credentials_left_as_dots_fail_manage_py_check():
    """The contract's SMS_GATEWAYS example, copied without filling in the credentials."""
    gateways = {
        "signicat": {
            "BACKEND": "django_sms_gateway.backends.signicat.SignicatBackend",
            "OPTIONS": {"client_id": "...", "client_secret": "...", "sender": "Acme"},
            "COUNTRIES": ["NO", "SE", "DK", "FI"],
            "TIMEOUT": 5,
        },
        "zignsec": {
            "BACKEND": "django_sms_gateway.backends.zignsec.ZignSecBackend",
            "OPTIONS": {"api_key": "...", "sender": "+4740003410"},
        },
    }
    with override_settings(SMS_GATEWAYS=gateways), pytest.raises(SystemCheckError) as failed:
        call_command("check")
    report = str(failed.value)
    assert "sms_gateway.E005" in report
    assert "SMS_GATEWAYS['signicat']" in report and "'client_id' is a placeholder" in report
    assert "SMS_GATEWAYS['zignsec']" in report and "'api_key' is a placeholder" in report


@pytest.mark.parametrize("value", PLACEHOLDERS)
def test_what_counts_as_a_placeholder(value):
    assert placeholder_problem(value) is not None


@pytest.mark.parametrize("value", [
    "x", "id", "k", "secret", "wrong", "plan1", "5a1db0c5", "SandboxSecret1", "ip1-12345", "sandbox-ip1-api-key",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln", "AC7f3c9e2d41b8a6057e1d2c3b4a5f6e7d", "f2d1.9a_8-c7", "myapp-prod",
])
def test_real_looking_credentials_are_not_placeholders(value):
    assert placeholder_problem(value) is None
