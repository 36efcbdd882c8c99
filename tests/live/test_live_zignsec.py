"""Sends one real SMS through ZignSec and polls its session.

Needs ``ZIGNSEC_API_KEY``, ``ZIGNSEC_SENDER`` (a number in international
format, or an approved sender ID) and ``SMS_LIVE_TEST_NUMBER`` (E.164);
optional ``ZIGNSEC_BASE_URL`` (default the test gateway,
``https://test-gateway.zignsec.com``; production is
``https://gateway.zignsec.com``). Run with ``pytest -m live tests/live``.
"""

import time

import pytest

from django_sms_gateway.backends.zignsec import ZignSecBackend
from django_sms_gateway.dispatch import build_message
from django_sms_gateway.webhooks.zignsec import poll_session

from .live_env import optional_env, require_env

pytestmark = pytest.mark.live


def test_live_zignsec_sends_one_sms_and_reports_its_status():
    env = require_env("ZIGNSEC_API_KEY", "ZIGNSEC_SENDER", "SMS_LIVE_TEST_NUMBER")
    backend = ZignSecBackend(
        "zignsec-live",
        {
            "api_key": env["ZIGNSEC_API_KEY"],
            "sender": env["ZIGNSEC_SENDER"],
            "base_url": optional_env("ZIGNSEC_BASE_URL", "https://test-gateway.zignsec.com"),
        },
        timeout=15,
    )
    try:
        result = backend.send(build_message(env["SMS_LIVE_TEST_NUMBER"], "123456"), timeout=15)
        assert result.reference and result.status
        deadline = time.monotonic() + 60
        state = poll_session(backend, result.reference)
        while not state.final and time.monotonic() < deadline:
            time.sleep(3)
            state = poll_session(backend, result.reference)
        assert state.session_id == result.reference
        assert state.status == "delivered", f"session still {state.status!r} after 60 s"
    finally:
        backend.close()
