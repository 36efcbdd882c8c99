"""The restricted-authenticator kit (NIST SP 800-63B rev. 4, 3.2.9): the SMS step's notice that text
messages are the weaker factor, its link to a stronger one (``OTP_SMS_ALTERNATIVE_URL``), the switch
that turns it off (``OTP_SMS_RESTRICTED_NOTICE``), and the checks E044 and W032."""

from __future__ import annotations

import logging

import pytest
from django.http import HttpResponse
from django.test import Client, override_settings
from django.urls import include, path
from django.utils import translation

from django_sms_gateway import checks
from django_sms_gateway.models import SMSDevice

pytestmark = pytest.mark.django_db

NOTICE = ("Codes sent by text message are the weaker kind of second factor: they can be intercepted, or "
          "redirected to another SIM card.")
LINK_TEXT = "Set up a stronger sign-in method"


def security_page(request):
    return HttpResponse("security keys and authenticator apps")


urlpatterns = [
    path("sms/", include("django_sms_gateway.urls")),
    path("account/security/", security_page, name="account-security"),
    path("account/", include(([path("keys/", security_page, name="keys")], "account"))),
]


@pytest.fixture(autouse=True)
def site(settings):
    settings.ROOT_URLCONF = __name__
    settings.LOGIN_URL = "/login/"


@pytest.fixture
def client(user):
    SMSDevice.objects.create(user=user, name="Mobile", number="+4798765432", confirmed=True)
    client = Client()
    client.force_login(user)
    return client


def step(client) -> str:
    response = client.get("/sms/verify/")
    assert response.status_code == 200
    return response.content.decode()


def test_the_step_shows_the_notice_by_default_without_a_link(client):
    body = step(client)
    assert 'id="sms-restricted-notice"' in body and NOTICE in body
    assert 'id="sms-alternative-link"' not in body and LINK_TEXT not in body


@pytest.mark.parametrize(
    ("setting", "href"),
    [
        ("account-security", "/account/security/"),  # a URL name
        ("account:keys", "/account/keys/"),  # a namespaced URL name
        ("/account/security/", "/account/security/"),  # a path on this site
        ("https://id.example.com/security", "https://id.example.com/security"),  # an identity provider
    ],
)
def test_the_notice_links_to_the_alternative(client, settings, setting, href):
    settings.OTP_SMS_ALTERNATIVE_URL = setting
    body = step(client)
    assert f'<a href="{href}" id="sms-alternative-link">{LINK_TEXT}</a>' in body
    assert checks.check_restricted_authenticator() == []


def test_the_notice_can_be_turned_off(client, settings):
    settings.OTP_SMS_RESTRICTED_NOTICE = False
    settings.OTP_SMS_ALTERNATIVE_URL = "account-security"
    body = step(client)
    assert "sms-restricted-notice" not in body and NOTICE not in body and LINK_TEXT not in body


def test_the_notice_is_translated(client):
    with translation.override("nb"):
        body = client.get("/sms/verify/", HTTP_ACCEPT_LANGUAGE="nb").content.decode()
    assert 'id="sms-restricted-notice"' in body and NOTICE not in body


def test_a_name_that_does_not_resolve_leaves_the_notice_without_a_link(client, settings, caplog):
    settings.OTP_SMS_ALTERNATIVE_URL = "no-such-page"
    with caplog.at_level(logging.ERROR, logger="django_sms_gateway"):
        body = step(client)
    assert NOTICE in body and "sms-alternative-link" not in body
    assert "sms_gateway.E044" in caplog.text and "no-such-page" in caplog.text
    [message] = checks.check_restricted_authenticator()
    assert message.id == checks.E044 and "does not reverse" in message.msg


@pytest.mark.parametrize(
    "value",
    ["javascript:alert(1)", "security/", "//evil.example/", "ftp://example.com/", "https://", 42, ["/a/"]],
)
def test_a_value_that_is_no_url_or_name_is_e044(client, settings, value, caplog):
    settings.OTP_SMS_ALTERNATIVE_URL = value
    [message] = checks.check_restricted_authenticator()
    assert message.id == checks.E044 and message.is_serious() and "OTP_SMS_ALTERNATIVE_URL" in message.msg
    with caplog.at_level(logging.ERROR, logger="django_sms_gateway"):
        body = step(client)  # the login page still works
    assert NOTICE in body and "sms-alternative-link" not in body and "javascript" not in body


def test_a_notice_switch_that_is_not_a_bool_is_e044(settings):
    settings.OTP_SMS_RESTRICTED_NOTICE = "no"
    [message] = checks.check_restricted_authenticator()
    assert message.id == checks.E044 and "OTP_SMS_RESTRICTED_NOTICE" in message.msg
    assert not [m for m in checks.check_codes() if "RESTRICTED_NOTICE" in m.msg]  # reported once


# -- W032: an unrestricted alternative -------------------------------------------------------------

def installed(*extra):
    base = ["django.contrib.auth", "django.contrib.contenttypes", "django.contrib.sessions",
            "django.contrib.messages", "django.contrib.admin", "django_otp", "django_sms_gateway"]
    return [*base, *extra]


def w032(messages):
    return [m for m in messages if m.id == checks.W032]


@pytest.mark.parametrize(
    "extra",
    [
        (),
        ("django_otp.plugins.otp_static",),  # backup codes are for recovery
        ("django_otp.plugins.otp_email",),  # email is no out-of-band channel (3.1.3.1)
        ("django_otp.plugins.otp_static", "django_otp.plugins.otp_email"),
    ],
)
def test_only_restricted_factors_installed_is_w032(extra):
    with override_settings(INSTALLED_APPS=installed(*extra)):
        [message] = w032(checks.check_restricted_authenticator())
    assert not message.is_serious() and "3.2.9" in message.msg and "otp_totp" in message.hint


@pytest.mark.parametrize("extra", [("django_otp.plugins.otp_totp",), ("django_otp.plugins.otp_hotp",)])
def test_an_unrestricted_device_type_silences_w032(extra):
    with override_settings(INSTALLED_APPS=installed(*extra)):
        assert w032(checks.check_restricted_authenticator()) == []


def test_two_factors_phone_device_is_restricted_too():
    pytest.importorskip("two_factor", reason="install the test extra (django-two-factor-auth)")
    from django_sms_gateway.conf import unrestricted_factors

    with override_settings(INSTALLED_APPS=installed("two_factor", "two_factor.plugins.phonenumber")):
        assert unrestricted_factors() == []
        assert w032(checks.check_restricted_authenticator())
    with override_settings(INSTALLED_APPS=installed("two_factor", "two_factor.plugins.phonenumber",
                                                    "django_otp.plugins.otp_totp")):
        assert unrestricted_factors() == ["otp_totp.TOTPDevice"]


# -- django-two-factor-auth's token step -------------------------------------------------------------

def test_two_factor_token_step_shows_the_notice_for_a_text_message_device(user, settings, sms_outbox):
    pytest.importorskip("two_factor", reason="install the test extra (django-two-factor-auth)")
    from two_factor.plugins.phonenumber.models import PhoneDevice

    from django_sms_gateway.integrations.two_factor import GATEWAY_PATH

    settings.TWO_FACTOR_SMS_GATEWAY = GATEWAY_PATH
    settings.ROOT_URLCONF = "tests.two_factor_urls"
    settings.OTP_SMS_ALTERNATIVE_URL = "https://id.example.com/security"
    PhoneDevice.objects.create(user=user, name="default", number="+4798765432", method="sms")
    response = Client().post(
        "/login/", {"login_view-current_step": "auth", "auth-username": "alice", "auth-password": "correct horse"}
    )
    body = response.content.decode()
    assert response.status_code == 200 and len(sms_outbox) == 1
    assert "We sent you a text message" in body and NOTICE in body
    assert 'href="https://id.example.com/security" id="sms-alternative-link"' in body
    assert 'name="token-otp_token"' in body

    settings.OTP_SMS_RESTRICTED_NOTICE = False
    body = Client().post(
        "/login/", {"login_view-current_step": "auth", "auth-username": "alice", "auth-password": "correct horse"}
    ).content.decode()
    assert "We sent you a text message" in body and NOTICE not in body
