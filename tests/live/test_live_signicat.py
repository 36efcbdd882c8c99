"""Sends one real SMS through Signicat.

Needs ``SIGNICAT_CLIENT_ID``, ``SIGNICAT_CLIENT_SECRET`` and
``SMS_LIVE_TEST_NUMBER`` (E.164); optional ``SIGNICAT_BASE_URL`` (default
production, ``https://id.signicat.com``; ``https://preprod.signicat.com`` for
pre-production credentials) and ``SMS_LIVE_SENDER`` (default ``Test``).
Run with ``pytest -m live tests/live``.
"""

import pytest

from django_sms_gateway.backends.signicat import SignicatBackend
from django_sms_gateway.dispatch import build_message

from .live_env import optional_env, require_env

pytestmark = pytest.mark.live


def test_live_signicat_sends_one_sms():
    env = require_env("SIGNICAT_CLIENT_ID", "SIGNICAT_CLIENT_SECRET", "SMS_LIVE_TEST_NUMBER")
    options = {
        "client_id": env["SIGNICAT_CLIENT_ID"],
        "client_secret": env["SIGNICAT_CLIENT_SECRET"],
        "sender": optional_env("SMS_LIVE_SENDER", "Test"),
    }
    if optional_env("SIGNICAT_BASE_URL"):
        options["base_url"] = optional_env("SIGNICAT_BASE_URL")
    backend = SignicatBackend("signicat-live", options, timeout=15)
    try:
        result = backend.send(build_message(env["SMS_LIVE_TEST_NUMBER"], "123456"), timeout=15)
        assert result.status == "accepted"
        # A second message reuses the token.
        token = backend._token
        backend.send(build_message(env["SMS_LIVE_TEST_NUMBER"], "654321"), timeout=15)
        assert backend._token is token
    finally:
        backend.close()
