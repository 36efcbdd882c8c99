"""Sends one real SMS through Infobip, Sinch or AWS End User Messaging when
their credentials and a test number are in the environment; each skips
(naming the missing variables) otherwise.

- Infobip: ``INFOBIP_BASE_URL``, ``INFOBIP_API_KEY``, ``INFOBIP_SENDER``.
- Sinch: ``SINCH_SERVICE_PLAN_ID``, ``SINCH_API_TOKEN``, ``SINCH_SENDER``;
  optional ``SINCH_REGION`` (``us``, ``eu``, ``au``, ``br``, ``ca``).
- AWS: ``AWS_REGION`` and credentials in botocore's chain (for instance
  ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``); optional
  ``AWS_ORIGINATION_IDENTITY``.

Every test needs ``SMS_LIVE_TEST_NUMBER`` (E.164) too.
"""

from __future__ import annotations

import pytest

from django_sms_gateway.dispatch import build_backend, build_message
from django_sms_gateway.models import generate_code
from django_sms_gateway.phone import normalize_number

from .live_env import optional_env, require_env

pytestmark = pytest.mark.live


def send_once(alias: str, backend_path: str, options: dict[str, str], number: str) -> None:
    backend = build_backend(alias, {"BACKEND": backend_path, "OPTIONS": options, "TIMEOUT": 15})
    try:
        result = backend.send(build_message(normalize_number(number), generate_code(6)), timeout=15)
    finally:
        backend.close()
    assert result.reference, f"{alias} accepted the SMS but gave no message id"


def test_infobip_sends_a_real_sms():
    env = require_env("INFOBIP_BASE_URL", "INFOBIP_API_KEY", "INFOBIP_SENDER", "SMS_LIVE_TEST_NUMBER")
    send_once("infobip-live", "django_sms_gateway.backends.infobip.InfobipBackend",
              {"base_url": env["INFOBIP_BASE_URL"], "api_key": env["INFOBIP_API_KEY"],
               "sender": env["INFOBIP_SENDER"]}, env["SMS_LIVE_TEST_NUMBER"])


def test_sinch_sends_a_real_sms():
    env = require_env("SINCH_SERVICE_PLAN_ID", "SINCH_API_TOKEN", "SINCH_SENDER", "SMS_LIVE_TEST_NUMBER")
    send_once("sinch-live", "django_sms_gateway.backends.sinch.SinchBackend",
              {"service_plan_id": env["SINCH_SERVICE_PLAN_ID"], "api_token": env["SINCH_API_TOKEN"],
               "sender": env["SINCH_SENDER"], "region": optional_env("SINCH_REGION", "us")},
              env["SMS_LIVE_TEST_NUMBER"])


def test_aws_sends_a_real_sms():
    pytest.importorskip("botocore", reason="live AWS test: install the [aws] extra")
    env = require_env("AWS_REGION", "SMS_LIVE_TEST_NUMBER")
    options = {"region": env["AWS_REGION"]}
    identity = optional_env("AWS_ORIGINATION_IDENTITY")
    if identity:
        options["origination_identity"] = identity
    send_once("aws-live", "django_sms_gateway.backends.aws.AWSEndUserMessagingBackend", options,
              env["SMS_LIVE_TEST_NUMBER"])
