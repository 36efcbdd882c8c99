"""The SMS step's restricted-authenticator notice in a real browser (NIST SP 800-63B rev. 4, 3.2.9),
and a fixed test number signing in with its listed code: the example site, password first."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model

from django_sms_gateway.models import SMSDevice
from tests.example_site import example_settings

from .helpers import shot

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct horse battery"
NUMBER = "+15555550100"
CODE = "246810"
STEP = re.compile(r"/sms/verify/")
NOTICE = ("Codes sent by text message are the weaker kind of second factor: they can be intercepted, or "
          "redirected to another SIM card. Set up a stronger sign-in method")


@pytest.fixture
def site(settings, live_server, static_root, sms_outbox):
    def configure(**overrides):
        values = example_settings(STATIC_ROOT=static_root, OTP_SMS_THROTTLE_FACTOR=0,
                                  OTP_SMS_TEST_NUMBERS={NUMBER: CODE}, **overrides)
        for name, value in values.items():
            setattr(settings, name, value)
        return live_server.url

    user = get_user_model().objects.create_user("reviewer", password=PASSWORD)
    SMSDevice.objects.create(user=user, name="Review phone", number=NUMBER, confirmed=True)
    return configure


def sign_in(page, url: str) -> None:
    page.goto(url + "/")
    page.fill("#id_username", "reviewer")
    page.fill("#id_password", PASSWORD)
    page.click("#sign-in")
    page.wait_for_url(STEP)


def test_the_step_shows_the_notice_and_its_link(browser_page, site, sms_outbox):
    page = browser_page
    url = site(OTP_SMS_ALTERNATIVE_URL="phones")  # a URL name of the example site
    sign_in(page, url)
    notice = page.locator("#sms-restricted-notice")
    assert notice.is_visible() and notice.inner_text() == NOTICE
    link = page.locator("#sms-alternative-link")
    assert link.is_visible() and link.get_attribute("href") == "/account/phones/"

    # A test number: nothing is sent, and its listed code signs in.
    page.click("#sms-send")
    page.wait_for_selector("#sms-notice")
    assert "We sent a code by text message to +1********00." in page.inner_text("#sms-notice")
    shot(page, "restricted-notice")
    page.fill("#id_otp_token", CODE)
    page.press("#id_otp_token", "Enter")
    page.wait_for_selector("#verified-device")
    assert sms_outbox == []


def test_the_notice_can_be_turned_off(browser_page, site):
    page = browser_page
    sign_in(page, site(OTP_SMS_RESTRICTED_NOTICE=False, OTP_SMS_ALTERNATIVE_URL="phones"))
    assert page.locator("#sms-verify").is_visible()
    assert page.locator("#sms-restricted-notice").count() == 0 and page.locator("#sms-alternative-link").count() == 0
