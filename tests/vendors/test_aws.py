"""AWS End User Messaging backend over real HTTP against the sandbox: a
SendTextMessage signed by botocore (the sandbox recomputes the signature),
only a MessageId counts as sent, and AWS's error answers."""

import json
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from django_sms_gateway.dispatch import build_backend, build_message
from django_sms_gateway.exceptions import (
    GatewayAuthError,
    GatewayRateLimited,
    GatewayUnavailable,
    RecipientRefused,
    RequestRejected,
)
from sms_sandbox import CREDENTIALS

from .helpers import NUMBER, FixedAnswer, gateway_entry

pytest.importorskip("botocore", reason="the AWS backend needs the [aws] extra (botocore) for signing")

VENDOR = "aws"
CODE = "161803"


pytestmark = pytest.mark.usefixtures("aws_credentials")


def test_send_text_message_is_signed_and_shaped_as_the_service_model(sandbox, make_backend):
    backend = make_backend(origination_identity="pool-0123", max_price="0.05",
                          configuration_set="otp-events")
    result = backend.send(build_message(NUMBER, CODE, validity=300), timeout=2)

    request = sandbox.last_request("aws")
    assert request.method == "POST" and request.path == "/aws/"
    assert request.headers["X-Amz-Target"] == "PinpointSMSVoiceV2.SendTextMessage"
    assert request.headers["Content-Type"] == "application/x-amz-json-1.0"
    assert request.headers["Authorization"].startswith(
        f"AWS4-HMAC-SHA256 Credential={CREDENTIALS['aws']['aws_access_key_id']}/")
    assert "/eu-west-1/sms-voice/aws4_request" in request.headers["Authorization"]
    body = json.loads(request.body)
    assert body == {"DestinationPhoneNumber": NUMBER, "MessageBody": build_message(NUMBER, CODE).text,
                    "MessageType": "TRANSACTIONAL", "TimeToLive": 300, "OriginationIdentity": "pool-0123",
                    "MaxPrice": "0.05", "ConfigurationSetName": "otp-events"}
    assert result.reference and result.status == "accepted"
    assert [(m["vendor"], m["recipient"]) for m in sandbox.messages] == [("aws", NUMBER)]


def test_a_wrong_secret_fails_the_signature_check(sandbox, make_backend, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    with pytest.raises(GatewayAuthError, match="InvalidSignatureException"):
        make_backend().send(build_message(NUMBER, CODE), timeout=2)
    assert sandbox.messages == []


def test_an_unknown_key_is_refused(make_backend, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAOTHERKEY00000000")
    with pytest.raises(GatewayAuthError, match="UnrecognizedClientException"):
        make_backend().send(build_message(NUMBER, CODE), timeout=2)


def test_no_credentials_anywhere_is_an_auth_failure_that_sent_nothing(sandbox, make_backend, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(GatewayAuthError, match="no AWS credentials") as failed:
        make_backend().send(build_message(NUMBER, CODE), timeout=2)
    assert failed.value.not_sent and sandbox.last_request("aws") is None


def test_dry_run_sends_nothing(sandbox, make_backend):
    make_backend(dry_run=True).send(build_message(NUMBER, CODE), timeout=2)
    assert sandbox.last_request("aws") is not None and sandbox.messages == []


def test_opted_out_destination_is_the_recipients_refusal(make_backend):
    with pytest.raises(RecipientRefused, match="recipient refused \\(ConflictException; "
                                               "DESTINATION_PHONE_NUMBER_OPTED_OUT\\)") as refused:
        make_backend().send(build_message("+15005550006", CODE), timeout=2)
    assert not refused.value.counts_against_vendor and not refused.value.retry_next


@pytest.mark.parametrize(("fault", "error", "reason"), [
    ("throttled", GatewayRateLimited, "ThrottlingException"),
    ("401", GatewayAuthError, "UnrecognizedClientException"),
    ("validation", RequestRejected, "ValidationException; CANNOT_PARSE"),
    ("500", GatewayUnavailable, "InternalServerException"),
])
def test_aws_error_answers_map_to_our_errors(sandbox, make_backend, fault, error, reason):
    sandbox.set_fault("aws", fault)
    with pytest.raises(error, match=reason):
        make_backend().send(build_message(NUMBER, CODE), timeout=2)


@pytest.mark.parametrize("answer", [{}, {"MessageId": ""}, {"MessageId": 12}])
def test_only_a_message_id_is_a_yes(make_backend, answer):
    with FixedAnswer(200, answer) as vendor, pytest.raises(GatewayUnavailable, match="no MessageId"):
        make_backend(base_url=vendor.url).send(build_message(NUMBER, CODE), timeout=2)


@pytest.mark.parametrize(("options", "problem"), [
    ({"region": "Europe"}, "'region' must be an AWS Region"),
    ({"max_price": "five"}, "'max_price' must look like"),
    ({"time_to_live": 1}, "'time_to_live' must be a whole number from 5 to 259200"),
    ({"message_type": "MARKETING"}, "'message_type' must be one of"),
])
def test_options_are_checked_at_start_up(options, problem):
    with pytest.raises(ImproperlyConfigured, match=problem):
        build_backend("aws", gateway_entry("aws", None, base_url="https://sms-voice.eu-west-1.amazonaws.com",
                                           **options))


def test_without_botocore_the_gateway_is_a_configuration_error_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "botocore", None)  # what an install without the [aws] extra imports
    with pytest.raises(ImproperlyConfigured, match="needs botocore for AWS signing") as info:
        build_backend("aws", gateway_entry("aws", None, base_url="https://sms-voice.eu-west-1.amazonaws.com"))
    assert info.value.hint == "pip install 'django-otp-sms-gateway[aws]'"


@pytest.mark.parametrize(("region", "host"), [
    ("eu-west-1", "sms-voice.eu-west-1.amazonaws.com"),
    ("us-gov-west-1", "sms-voice.us-gov-west-1.amazonaws.com"),
    ("cn-north-1", "sms-voice.cn-north-1.amazonaws.com.cn"),
    ("cn-northwest-1", "sms-voice.cn-northwest-1.amazonaws.com.cn"),
    ("eusc-de-east-1", "sms-voice.eusc-de-east-1.amazonaws.eu"),
    ("us-iso-east-1", "sms-voice.us-iso-east-1.c2s.ic.gov"),
    ("us-isob-east-1", "sms-voice.us-isob-east-1.sc2s.sgov.gov"),
    ("eu-isoe-west-1", "sms-voice.eu-isoe-west-1.cloud.adc-e.uk"),
    ("us-isof-south-1", "sms-voice.us-isof-south-1.csp.hci.ic.gov"),
])
def test_default_endpoint_is_regional_under_the_partitions_dns_suffix(region, host):
    """The suffix of the region's partition, as botocore's endpoint data (partitions.json) gives it."""
    entry = gateway_entry("aws", None, base_url="https://x.example", region=region)
    del entry["OPTIONS"]["base_url"]
    assert build_backend("aws", entry).base_url == f"https://{host}"


def unsigned(monkeypatch):
    """The SigV4 signer adds nothing: the request goes without a token."""
    monkeypatch.setattr("django_sms_gateway.backends.aws_json._SigV4.__call__", lambda self, request: request)


def test_a_request_without_a_token_is_a_credentials_refusal(sandbox, make_backend, monkeypatch):
    """AWS answers an unsigned request with MissingAuthenticationTokenException."""
    unsigned(monkeypatch)
    with pytest.raises(GatewayAuthError, match="MissingAuthenticationTokenException"):
        make_backend().send(build_message(NUMBER, CODE), timeout=2)
    checked = make_backend().check_credentials(timeout=2)
    assert checked.outcome == "refused" and "MissingAuthenticationTokenException" in checked.detail
    assert "Authorization" not in sandbox.last_request("aws").headers and sandbox.messages == []


@pytest.mark.parametrize("name", ["MissingAuthenticationToken", "MissingAuthenticationTokenException"])
@pytest.mark.parametrize("status", [400, 403])
def test_the_missing_token_error_is_recognised_under_both_names(make_backend, name, status):
    with FixedAnswer(status, {"__type": name, "message": "Missing Authentication Token"}) as vendor:
        with pytest.raises(GatewayAuthError, match=name):
            make_backend(base_url=vendor.url).send(build_message(NUMBER, CODE), timeout=2)
        assert make_backend(base_url=vendor.url).check_credentials(timeout=2).outcome == "refused"


def test_credential_check(make_backend, monkeypatch):
    assert make_backend().check_credentials(timeout=2).outcome == "accepted"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAOTHERKEY00000000")
    assert make_backend().check_credentials(timeout=2).outcome == "refused"
