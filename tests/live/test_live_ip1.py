"""Sends one real SMS authentication through iP1 when credentials and a test
number are in the environment; skips (naming the missing variables) otherwise.

Required: ``IP1_ACCOUNT`` (``ip1-...``), ``IP1_API_KEY``, ``SMS_LIVE_TEST_NUMBER``
(E.164). Optional: ``IP1_BASE_URL``, ``IP1_SENDER``.

Besides sending, it checks the documented validate answer: a code that cannot
be the one sent (letters, while the authentication is numeric-only) comes
back as 200 with ``"Valid": false``, which the backend reads as "not valid"
(False), not as an outage.
"""

from __future__ import annotations

import os

import pytest

from django_sms_gateway.dispatch import build_message
from django_sms_gateway.models import generate_code
from django_sms_gateway.phone import normalize_number

from .live_env import live_backend

pytestmark = pytest.mark.live

@pytest.fixture
def backend():
    with live_backend("ip1", "django_sms_gateway.backends.ip1.IP1Backend",
                      {"IP1_ACCOUNT": "account", "IP1_API_KEY": "api_key"},
                      {"IP1_BASE_URL": "base_url", "IP1_SENDER": "sender"}) as built:
        yield built


def test_sends_a_real_sms_authentication_and_refuses_a_wrong_code(backend):
    number = normalize_number(os.environ["SMS_LIVE_TEST_NUMBER"])
    message = build_message(number, generate_code(6))
    result = backend.send(message, timeout=15)
    assert result.reference, "iP1 created the authentication but returned no ID"
    assert backend.verify(number, "Z" * len(message.code), timeout=15) is False
