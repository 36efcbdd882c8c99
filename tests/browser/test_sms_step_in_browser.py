"""The shipped SMS step (``django_sms_gateway:verify``) in a real browser.

Password, then the step, then the code, then the protected page of the
example site, which includes ``django_sms_gateway.urls``; the code input's
attributes, Enter submitting the code, the resend countdown, the safe
sentence for a misconfigured gateway, and the WebOTP script against a stubbed
``navigator.credentials``. Codes come from the locmem outbox (the live server
runs in this process).
"""

from __future__ import annotations

import logging
import re

import pytest
from django.contrib.auth import get_user_model

from django_sms_gateway.models import SMSDevice
from django_sms_gateway.testing import last_code
from tests.example_site import example_settings

from .helpers import ARTIFACTS, shot

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct horse battery"
NUMBER = "+4798765432"
STEP = re.compile(r"/sms/verify/")
UNAVAILABLE = "Text messages are not available right now. Please try again later."

#: Stands in for a browser with WebOTP: records each request and resolves it
#: when the test calls window.deliverOtp(code), as Chrome does when the SMS arrives.
WEBOTP_STUB = """
window.OTPCredential = function OTPCredential() {};
window.otpRequests = [];
Object.defineProperty(navigator, "credentials", {
  configurable: true,
  value: {
    get: function (options) {
      window.otpRequests.push({transport: options.otp.transport, signal: Boolean(options.signal)});
      return new Promise(function (resolve) {
        window.deliverOtp = function (code) { resolve({type: "otp", id: "", code: code}); };
      });
    }
  }
});
"""


@pytest.fixture
def site(settings, live_server, static_root, sms_outbox):
    def configure(**overrides):
        for name, value in example_settings(STATIC_ROOT=static_root, OTP_SMS_THROTTLE_FACTOR=0, **overrides).items():
            setattr(settings, name, value)
        return live_server.url

    user = get_user_model().objects.create_user("walter", password=PASSWORD)
    SMSDevice.objects.create(user=user, name="Work phone", number=NUMBER, confirmed=True)
    return configure


def sign_in(page, url: str) -> None:
    page.goto(url + "/")
    page.fill("#id_username", "walter")
    page.fill("#id_password", PASSWORD)
    page.click("#sign-in")
    page.wait_for_url(STEP)


def test_sign_in_through_the_shipped_step_with_enter_and_the_countdown(browser_page, site, sms_outbox):
    page = browser_page
    sign_in(page, site(OTP_SMS_COOLDOWN_DURATION=4))
    code_input = page.locator("#id_otp_token")
    assert code_input.get_attribute("autocomplete") == "one-time-code"
    assert code_input.get_attribute("inputmode") == "numeric"
    assert code_input.get_attribute("maxlength") == "6" and code_input.get_attribute("pattern") == "[0-9]{6}"
    assert page.inner_text("#sms-phone") == "Work phone (+47******32)"

    page.click("#sms-send")
    page.wait_for_selector("#sms-notice")
    assert "We sent a code by text message to +47******32." in page.inner_text("#sms-notice")
    assert [m.recipient for m in sms_outbox] == [NUMBER]

    # The resend button waits out the cooldown, counting down, then comes back.
    assert page.is_disabled("#sms-send")
    first = int(page.inner_text("#sms-cooldown [data-sms-seconds]"))
    page.wait_for_function(
        f"Number(document.querySelector('#sms-cooldown [data-sms-seconds]').textContent) < {first}"
    )
    # Each count in its plural form: "1 second", never "1 seconds".
    page.wait_for_function(
        "document.querySelector('#sms-cooldown').textContent === 'You can ask for a new code in 1 second.'"
    )
    page.wait_for_function("!document.querySelector('#sms-send').disabled", timeout=8_000)
    assert page.is_hidden("#sms-cooldown")

    # Enter in the code box verifies (it is not the resend form's button).
    code_input.fill(last_code())
    code_input.press("Enter")
    page.wait_for_selector("#verified-device")
    assert "+47******32" in page.inner_text("#verified-device")
    assert len(sms_outbox) == 1  # Enter sent no second code


def test_a_misconfigured_gateway_shows_the_safe_sentence(browser_page, site, caplog):
    page = browser_page
    url = site(SMS_GATEWAYS={"signicat": {"BACKEND": "django_sms_gateway.backends.signicat.SignicatBacknd"}})
    sign_in(page, url)
    with caplog.at_level(logging.ERROR, logger="django_sms_gateway"):
        page.click("#sms-send")
        page.wait_for_selector("#sms-notice")
    assert page.inner_text("#sms-notice") == UNAVAILABLE
    body = page.content()
    assert "SMS_GATEWAYS" not in body and "SignicatBacknd" not in body
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any("SMS_GATEWAYS['signicat']" in message for message in errors)


def test_webotp_fills_in_and_submits_the_code(browser_context, site, sms_outbox):
    browser_context.add_init_script(WEBOTP_STUB)
    page = browser_context.new_page()
    sign_in(page, site(OTP_SMS_COOLDOWN_DURATION=0))
    page.click("#sms-send")
    page.wait_for_selector("#sms-notice")
    page.wait_for_function("typeof window.deliverOtp === 'function'")
    assert page.evaluate("window.otpRequests") == [{"transport": ["sms"], "signal": True}]

    page.evaluate("code => window.deliverOtp(code)", last_code())
    page.wait_for_selector("#verified-device")
    assert "+47******32" in page.inner_text("#verified-device")


def test_screenshot_of_the_shipped_step(browser_context, site, sms_outbox):
    """The plain page (no OTP_SMS_BASE_TEMPLATE) after a code was sent, at a phone's width."""
    page = browser_context.new_page()
    page.set_viewport_size({"width": 420, "height": 640})
    sign_in(page, site(OTP_SMS_COOLDOWN_DURATION=60, OTP_SMS_BASE_TEMPLATE=None))
    page.click("#sms-send")
    page.wait_for_selector("#sms-notice")
    page.fill("#id_otp_token", "4821")
    shot(page, "sms-step")
    assert (ARTIFACTS / "sms-step.png").stat().st_size > 0
