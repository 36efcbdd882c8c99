"""Check sms_gateway.E024: ``TWO_FACTOR_SMS_GATEWAY`` names our gateway, but django-two-factor-auth
or its phone-number plugin is not installed, so nothing would ever send through it."""

import pytest
from django.test import override_settings

from django_sms_gateway import checks
from django_sms_gateway.integrations.two_factor import GATEWAY_PATH

pytestmark = pytest.mark.django_db


def installed_without(*apps):
    from django.conf import settings

    return [app for app in settings.INSTALLED_APPS if app not in apps]


def e024(messages):
    return [message for message in messages if message.id == checks.E024]


@pytest.mark.parametrize(
    ("removed", "named"),
    [
        (("two_factor", "two_factor.plugins.phonenumber"), "'two_factor' and 'two_factor.plugins.phonenumber' are"),
        (("two_factor.plugins.phonenumber",), "'two_factor.plugins.phonenumber' is"),
    ],
)
def test_our_gateway_without_two_factor_installed_is_an_error(settings, removed, named):
    with override_settings(INSTALLED_APPS=installed_without(*removed), TWO_FACTOR_SMS_GATEWAY=GATEWAY_PATH):
        [message] = e024(checks.check_two_factor())
    assert message.is_serious() and named in message.msg and "not in INSTALLED_APPS" in message.msg
    assert "INSTALLED_APPS" in message.hint and "two-factor" in message.hint


def test_no_error_when_two_factor_is_installed_or_the_gateway_is_not_ours(settings):
    pytest.importorskip("two_factor", reason="install the test extra (django-two-factor-auth)")
    with override_settings(TWO_FACTOR_SMS_GATEWAY=GATEWAY_PATH):
        assert e024(checks.check_two_factor()) == []
    with override_settings(INSTALLED_APPS=installed_without("two_factor", "two_factor.plugins.phonenumber")):
        assert e024(checks.check_two_factor()) == []
        with override_settings(TWO_FACTOR_SMS_GATEWAY="two_factor.gateways.fake.Fake"):
            assert e024(checks.check_two_factor()) == []
