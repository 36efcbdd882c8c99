"""The generic webhook view and helpers every vendor module builds on:
the order of the steps, and the signature and replay helpers."""

import json

import pytest
from django.test import RequestFactory, override_settings

from django_sms_gateway.backends.locmem import LocmemBackend
from django_sms_gateway.webhooks.base import (
    MalformedWebhook,
    StatusReport,
    WebhookRefused,
    WebhookView,
    any_digest_matches,
    check_fresh,
    describe_envelope,
    hmac_sha256_hex,
    timestamp_seconds,
)

from .helpers import LOCMEM_ENTRY

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("webhook_gateways")]
RECORD = {"gateway": "toy", "reference": "ref-1", "status": "queued"}


class ToyView(WebhookView):
    """A vendor whose signature is the header ``X-Toy: <hex HMAC of the body>``."""

    backend_class = LocmemBackend
    vendor = "Toy"
    steps: list[str] = []

    def verify(self, request, body, backend):
        self.steps.append("verify")
        if not any_digest_matches([request.headers.get("X-Toy", "")], hmac_sha256_hex("k", body)):
            raise WebhookRefused("signature does not match")

    def parse(self, request, body, backend):
        self.steps.append("parse")
        try:
            return [StatusReport(**item) for item in json.loads(body)]
        except (ValueError, TypeError):
            raise MalformedWebhook("not a list of reports") from None

    def final_statuses(self, backend):
        return ["delivered"]


def call(body, *, alias="toy", signature=None):
    ToyView.steps = []
    request = RequestFactory().post("/", body, content_type="application/json",
                                    headers={"X-Toy": signature or hmac_sha256_hex("k", body)})
    return ToyView.as_view()(request, alias=alias)


def gateways(sandbox):
    return {"toy": LOCMEM_ENTRY}


@pytest.fixture(autouse=True)
def _small_bodies(settings):
    settings.OTP_SMS_WEBHOOK_MAX_BYTES = 256


def test_reports_are_written_onto_the_records_of_that_reference(record):
    response = call(json.dumps([{"reference": "ref-1", "status": "delivered", "segments": 2}]).encode())
    assert (response.status_code, response.content) == (200, b"ok\n")
    record.refresh_from_db()
    assert (record.status, record.segments) == ("delivered", 2)
    assert ToyView.steps == ["verify", "parse"]


def test_steps_run_in_order_and_each_refusal_stops_the_next(record):
    assert call(b"[]", alias="nope").status_code == 404 and ToyView.steps == []
    assert call(b"[" + b" " * 300 + b"]").status_code == 413 and ToyView.steps == []
    assert call(b"[]", signature="0" * 64).status_code == 403 and ToyView.steps == ["verify"]
    assert call(b"5").status_code == 400 and ToyView.steps == ["verify", "parse"]
    assert call(json.dumps([{"reference": "other", "status": "x"}]).encode()).status_code == 404
    record.refresh_from_db()
    assert record.status == "queued"


def test_a_verified_body_that_reports_nothing_is_ok(record):
    assert call(b"[]").status_code == 200


def test_only_post_and_no_csrf_token_needed(record):
    request = RequestFactory().get("/")
    assert ToyView.as_view()(request, alias="toy").status_code == 405
    assert getattr(ToyView.as_view(), "csrf_exempt", False) is True


@pytest.mark.parametrize(("raw", "seconds"), [
    ("1700000000", 1700000000.0),
    ("1700000000123", 1700000000.123),  # milliseconds
    ("", None), ("17e8", None), ("-1", None), ("１２", None), ("1" * 14, None),
])
def test_timestamp_seconds_takes_seconds_or_milliseconds(raw, seconds):
    assert timestamp_seconds(raw) == seconds


def test_check_fresh_refuses_old_and_future_times():
    check_fresh(1000.0, tolerance=300, now=1200.0)
    for stamp in (699.0, 1501.0):
        with pytest.raises(WebhookRefused, match="tolerance"):
            check_fresh(stamp, tolerance=300, now=1000.0)


def test_any_digest_matches_checks_every_candidate():
    good = hmac_sha256_hex("k", b"body")
    assert any_digest_matches(["0" * 64, good.upper()], good)
    assert not any_digest_matches(["0" * 64], good) and not any_digest_matches([], good)


def test_describe_envelope_never_shows_a_value():
    text = describe_envelope(json.dumps({"to": "+4798765432", "code": "123456", "n": 3}).encode())
    assert text == "{'to': str, 'code': str, 'n': int}"
    assert describe_envelope(b"\xff") == "not JSON (1 bytes)"
    assert describe_envelope(b"[1]") == "JSON list, not an object"


def test_a_misconfigured_gateway_is_404_and_logged_at_error(caplog):
    with override_settings(SMS_GATEWAYS={"toy": {"BACKEND": "django_sms_gateway.backends.locmem.LocmemBackend",
                                                 "OPTIONS": {"nope": 1}}}):
        response = call(b"[]")
    assert response.status_code == 404 and b"nope" not in response.content
    assert [r.levelname for r in caplog.records] == ["ERROR"] and "misconfigured" in caplog.text
