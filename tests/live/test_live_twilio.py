"""Real SMS through Twilio (Messages and Verify) when credentials and a test
number are in the environment; skips, naming the missing variables, otherwise.

Messages: ``TWILIO_ACCOUNT_SID``, credentials, ``TWILIO_SENDER`` (or
``TWILIO_MESSAGING_SERVICE_SID``) and ``SMS_LIVE_TEST_NUMBER`` (E.164).
Verify: ``TWILIO_ACCOUNT_SID``, credentials, ``TWILIO_VERIFY_SERVICE_SID``
and ``SMS_LIVE_TEST_NUMBER``. Credentials: ``TWILIO_API_KEY_SID`` with
``TWILIO_API_KEY_SECRET`` (a Standard key will do), else ``TWILIO_AUTH_TOKEN``.

With Twilio's test credentials (``TWILIO_SENDER=+15005550006``) no SMS is
sent and the number may be a magic one.
"""

from __future__ import annotations

import os

import pytest

from django_sms_gateway.dispatch import build_backend, build_message
from django_sms_gateway.models import generate_code
from django_sms_gateway.phone import normalize_number

from .live_env import optional_env, require_env

pytestmark = pytest.mark.live


def twilio_backend(path, options):
    return build_backend("twilio-live", {"BACKEND": f"django_sms_gateway.backends.twilio.{path}",
                                         "OPTIONS": options, "TIMEOUT": 15})


def twilio_credentials() -> dict[str, str]:
    """An API key from the environment when one is set, else the Auth Token."""
    key, secret = optional_env("TWILIO_API_KEY_SID"), optional_env("TWILIO_API_KEY_SECRET")
    if key and secret:
        return {"api_key_sid": key, "api_key_secret": secret}
    return {"auth_token": require_env("TWILIO_AUTH_TOKEN")["TWILIO_AUTH_TOKEN"]}


def test_sends_a_real_sms_through_twilio_messages():
    env = require_env("TWILIO_ACCOUNT_SID", "SMS_LIVE_TEST_NUMBER")
    sender, service = optional_env("TWILIO_SENDER"), optional_env("TWILIO_MESSAGING_SERVICE_SID")
    if not sender and not service:
        pytest.skip("live test: set TWILIO_SENDER or TWILIO_MESSAGING_SERVICE_SID to send a real SMS")
    backend = twilio_backend("TwilioBackend", {
        "account_sid": env["TWILIO_ACCOUNT_SID"], **twilio_credentials(),
        **({"messaging_service_sid": service} if service else {"sender": sender}),
    })
    try:
        assert backend.check_credentials(timeout=15).outcome == "accepted"
        result = backend.send(build_message(normalize_number(env["SMS_LIVE_TEST_NUMBER"]), generate_code(6)),
                              timeout=15)
        assert result.reference and result.reference.startswith(("SM", "MM"))
    finally:
        backend.close()


def test_starts_a_real_verification_and_refuses_a_wrong_code():
    env = require_env("TWILIO_ACCOUNT_SID", "TWILIO_VERIFY_SERVICE_SID", "SMS_LIVE_TEST_NUMBER")
    backend = twilio_backend("TwilioVerifyBackend", {
        "account_sid": env["TWILIO_ACCOUNT_SID"], **twilio_credentials(),
        "service_sid": env["TWILIO_VERIFY_SERVICE_SID"],
    })
    number = normalize_number(env["SMS_LIVE_TEST_NUMBER"])
    try:
        assert backend.check_credentials(timeout=15).outcome == "accepted"
        assert backend.send(build_message(number, generate_code(6)), timeout=15).status == "pending"
        # Letters cannot be the digits Twilio sent: a "no" (pending, or 60200), never an outage.
        assert backend.verify(number, "Z" * int(os.environ.get("OTP_SMS_TOKEN_LENGTH", "6")), timeout=15) is False
    finally:
        backend.close()
