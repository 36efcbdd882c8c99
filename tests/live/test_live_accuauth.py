"""Sends one real SMS through AccuAuth when credentials and a test number are
in the environment; skips (naming the missing variables) otherwise.

Required: ``ACCUAUTH_API_ID``, ``ACCUAUTH_API_SECRET``, ``SMS_LIVE_TEST_NUMBER``
(E.164). Optional: ``ACCUAUTH_BASE_URL`` (default the Indonesian host; India:
``https://cloudapi.accuauth.in``), ``ACCUAUTH_TEMPLATE_ID``, ``ACCUAUTH_CONTENT``,
``ACCUAUTH_ENCODING`` (``form``/``json``), ``ACCUAUTH_PHONE_FORMAT``
(``e164``/``digits``/``national``): use them to confirm the inferred wire facts.
"""

from __future__ import annotations

import os

import pytest

from django_sms_gateway.dispatch import build_message
from django_sms_gateway.models import generate_code
from django_sms_gateway.phone import normalize_number

from .live_env import live_backend

pytestmark = pytest.mark.live

OPTIONAL = {
    "ACCUAUTH_BASE_URL": "base_url",
    "ACCUAUTH_TEMPLATE_ID": "template_id",
    "ACCUAUTH_CONTENT": "content",
    "ACCUAUTH_ENCODING": "encoding",
    "ACCUAUTH_PHONE_FORMAT": "phone_format",
}


@pytest.fixture
def backend():
    with live_backend("accuauth", "django_sms_gateway.backends.accuauth.AccuAuthBackend",
                      {"ACCUAUTH_API_ID": "api_id", "ACCUAUTH_API_SECRET": "api_secret"}, OPTIONAL) as built:
        yield built


def test_sends_a_real_sms(backend):
    number = normalize_number(os.environ["SMS_LIVE_TEST_NUMBER"])
    result = backend.send(build_message(number, generate_code(6)), timeout=15)
    assert result.status == "OK"
    assert result.reference, "AccuAuth accepted the SMS but returned no request_id"
    assert result.charge is not None and result.charge >= 1
