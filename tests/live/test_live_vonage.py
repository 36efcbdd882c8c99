"""Real SMS through Vonage when credentials and a test number are in the
environment; skips, naming the missing variables, otherwise.

Required: ``VONAGE_API_KEY``, ``VONAGE_API_SECRET``, ``VONAGE_SENDER`` and
``SMS_LIVE_TEST_NUMBER`` (E.164; a trial account sends only to its
whitelisted numbers, status 29 otherwise).
"""

from __future__ import annotations

import pytest

from django_sms_gateway.dispatch import build_backend, build_message
from django_sms_gateway.models import generate_code
from django_sms_gateway.phone import normalize_number

from .live_env import require_env

pytestmark = pytest.mark.live


def test_sends_a_real_sms_through_vonage():
    env = require_env("VONAGE_API_KEY", "VONAGE_API_SECRET", "VONAGE_SENDER", "SMS_LIVE_TEST_NUMBER")
    backend = build_backend("vonage-live", {
        "BACKEND": "django_sms_gateway.backends.vonage.VonageBackend",
        "OPTIONS": {"api_key": env["VONAGE_API_KEY"], "api_secret": env["VONAGE_API_SECRET"],
                    "sender": env["VONAGE_SENDER"]},
        "TIMEOUT": 15,
    })
    try:
        assert backend.check_credentials(timeout=15).outcome == "accepted"
        result = backend.send(build_message(normalize_number(env["SMS_LIVE_TEST_NUMBER"]), generate_code(6)),
                              timeout=15)
        assert result.reference and result.status == "accepted"
    finally:
        backend.close()
