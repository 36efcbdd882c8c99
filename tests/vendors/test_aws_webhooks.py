"""AWS End User Messaging delivery events, as SNS notifications over real
HTTP: the sandbox confirms the subscription and posts its signed events to a
running Django server; forged, replayed, out-of-order and malformed
notifications change nothing."""

import io
import json
import time
from datetime import timedelta

import pytest
import requests
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.utils import timezone

from django_sms_gateway.dispatch import build_backend, build_message
from django_sms_gateway.models import DeliveryRecord
from django_sms_gateway.webhooks.aws import delivery_of, signed_string, trusted_sns_url
from sms_sandbox.aws import CERTIFICATE_PATH, SNS_TOPIC_ARN

from .helpers import LOCMEM_ENTRY, NUMBER, gateway_entry

pytest.importorskip("botocore", reason="the AWS backend needs the [aws] extra (botocore) for signing")
pytest.importorskip("cryptography", reason="SNS signatures need the [aws] extra (cryptography)")

pytestmark = [pytest.mark.urls("tests.vendors.urls"), pytest.mark.usefixtures("aws_credentials")]

CONFIGURATION_SET = "otp-events"
PATH = "/sms/webhooks/aws/aws/"
MESSAGE_ID = "862a8790-60c0-4430-9b2b-658bdexample"
RECORD = {"gateway": "aws", "reference": MESSAGE_ID, "status": "accepted",
          "delivery": DeliveryRecord.Delivery.ACCEPTED}
DELIVERED, FAILED = DeliveryRecord.Delivery.DELIVERED, DeliveryRecord.Delivery.FAILED


def aws_entry(sandbox, **options):
    receipts = {"configuration_set": CONFIGURATION_SET, "sns_topic_arn": SNS_TOPIC_ARN,
                "sns_test_url": sandbox.base_url("aws")}
    return gateway_entry("aws", sandbox, timeout=2, **{**receipts, **options})


@pytest.fixture
def site(transactional_db, live_server, sandbox, settings):
    """The sandbox's AWS with the site subscribed to its events, and the site's gateways: AWS, then a backup."""
    settings.SMS_GATEWAYS = {"aws": aws_entry(sandbox), "backup": LOCMEM_ENTRY}
    aws = sandbox.vendors["aws"]
    assert aws.subscribe(sandbox.base_url("aws"), CONFIGURATION_SET, live_server.url + PATH)
    return aws


def event(event_type="TEXT_SUCCESSFUL", *, final=True, message_id=MESSAGE_ID, **extra):
    """An SMS event as AWS's "Example SMS event data" shows it."""
    return {"eventType": event_type, "eventVersion": "1.0", "eventTimestamp": 1686975103470, "isFinal": final,
            "originationPhoneNumber": "+12065550152", "destinationPhoneNumber": NUMBER,
            "isInternationalSend": False, "messageId": message_id, "messageRequestTimestamp": 1686975103170,
            "messageEncoding": "GSM", "messageType": "TRANSACTIONAL", "messageStatus": event_type[5:],
            "messageStatusDescription": "", "totalMessageParts": 1, **extra}


def post(live_server, envelope, **headers):
    body = envelope if isinstance(envelope, bytes | str) else json.dumps(envelope)
    sns_type = envelope.get("Type", "") if isinstance(envelope, dict) else ""
    return requests.post(live_server.url + PATH, data=body, timeout=10,
                         headers={"Content-Type": "text/plain; charset=UTF-8",
                                  "x-amz-sns-message-type": sns_type, **headers})


def notify(site, sandbox, live_server, *args, version="2", topic_arn=SNS_TOPIC_ARN, **kwargs):
    envelope = site.notification(sandbox.base_url("aws"), event(*args, **kwargs), version=version,
                                 topic_arn=topic_arn)
    return post(live_server, envelope)


def wait_for_events(aws, sent, seconds=5.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and aws.event_counts()["sent"] < sent:
        time.sleep(0.02)
    return aws.event_counts()


# -- the sandbox's events reach the site ---------------------------------------------------------


def test_the_subscription_is_confirmed_by_fetching_its_subscribe_url(site):
    # The fixture asserted subscribe() saw the endpoint GET the SubscribeURL.
    assert site.event_counts() == {"sent": 0, "failed": 0, "skipped": 0}


def test_a_delivered_event_marks_the_record_delivered(site, sandbox, device):
    device.generate_challenge()
    assert json.loads(sandbox.last_request("aws").body)["ConfigurationSetName"] == CONFIGURATION_SET
    record = DeliveryRecord.objects.get(gateway="aws")
    assert wait_for_events(site, 2) == {"sent": 2, "failed": 0, "skipped": 0}
    record.refresh_from_db()
    assert (record.status, record.delivery, record.segments) == ("TEXT_SUCCESSFUL", DELIVERED, 1)
    assert record.delivered_at is not None


def test_an_undelivered_event_marks_the_record_failed_and_fails_over(site, sandbox, device, sms_outbox):
    sandbox.set_fault("aws", "undelivered", count=1)
    device.generate_challenge()
    assert wait_for_events(site, 2) == {"sent": 2, "failed": 0, "skipped": 0}
    record = DeliveryRecord.objects.get(gateway="aws")
    assert (record.status, record.delivery) == ("TEXT_BLOCKED", FAILED)
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and not sms_outbox:
        time.sleep(0.02)
    assert [message.recipient for message in sms_outbox] == [NUMBER]
    device.refresh_from_db()
    assert device.verify_token(sms_outbox[0].code)


def test_a_silent_send_is_accepted_and_reports_nothing(site, sandbox, device):
    sandbox.set_fault("aws", "silent", count=1)
    device.generate_challenge()
    record = DeliveryRecord.objects.get(gateway="aws")
    time.sleep(0.3)  # several delivery delays: a receipt would have come
    assert site.event_counts() == {"sent": 0, "failed": 0, "skipped": 0}
    record.refresh_from_db()
    assert record.delivery == DeliveryRecord.Delivery.ACCEPTED and record.delivered_at is None


def test_a_silent_send_fails_over_once_its_deadline_passed(site, sandbox, device, sms_outbox):
    sandbox.set_fault("aws", "silent", count=1)
    device.generate_challenge()
    assert sandbox.messages == []  # accepted, never delivered
    record = DeliveryRecord.objects.get(gateway="aws")
    assert record.deliver_by is not None  # a gateway with receipts gets a deadline
    DeliveryRecord.objects.filter(pk=record.pk).update(deliver_by=timezone.now() - timedelta(seconds=1))
    call_command("smsfailover", stdout=io.StringIO())
    record.refresh_from_db()
    assert record.delivery == DeliveryRecord.Delivery.MISSING
    assert [message.recipient for message in sms_outbox] == [NUMBER]


def test_a_configuration_set_nobody_subscribed_to_publishes_nowhere(transactional_db, sandbox, aws_credentials):
    backend = build_backend("aws", aws_entry(sandbox, configuration_set="other-set"))
    try:
        result = backend.send(build_message(NUMBER, "123456"), timeout=2)
    finally:
        backend.close()
    assert result.status == "accepted"
    time.sleep(0.3)
    assert sandbox.vendors["aws"].event_counts() == {"sent": 0, "failed": 0, "skipped": 1}


# -- what the view accepts ------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1", "2"])
def test_both_signature_versions_are_verified(site, sandbox, live_server, record, version):
    response = notify(site, sandbox, live_server, version=version)
    assert (response.status_code, response.text) == (200, "ok\n")
    record.refresh_from_db()
    assert (record.status, record.delivery) == ("TEXT_SUCCESSFUL", DELIVERED)


def forgeries(site, base_url):
    genuine = site.notification(base_url, event())
    tampered = {**genuine, "Message": json.dumps(event("TEXT_BLOCKED"))}
    other_topic = site.notification(base_url, event("TEXT_BLOCKED"),
                                    topic_arn="arn:aws:sns:eu-west-1:123456789012:someone-else")
    return {
        "tampered message": tampered,
        "tampered message id": {**genuine, "MessageId": "another"},
        "unsigned": {key: value for key, value in genuine.items() if key != "Signature"},
        "signature not base64": {**genuine, "Signature": "%%%"},
        "another signature": {**genuine, "Signature": site.notification(base_url, event("TEXT_BLOCKED"))["Signature"]},
        "unknown signature version": {**genuine, "SignatureVersion": "3"},
        "certificate off SNS": {**genuine, "SigningCertURL": "http://127.0.0.1:9/" + CERTIFICATE_PATH},
        "certificate not a .pem": {**genuine, "SigningCertURL": base_url + "/sns/confirm?Token=x"},
        "certificate over http at an SNS name": {
            **genuine, "SigningCertURL": "http://sns.eu-west-1.amazonaws.com" + CERTIFICATE_PATH},
        "another topic": other_topic,
        "not SNS JSON": {"eventType": "TEXT_BLOCKED", "messageId": MESSAGE_ID},
        "not JSON": "TEXT_BLOCKED",
    }


def test_forged_notifications_are_refused_and_change_nothing(site, sandbox, live_server, record):
    for name, envelope in forgeries(site, sandbox.base_url("aws")).items():
        response = post(live_server, envelope)
        assert (name, response.status_code) == (name, 403)
    record.refresh_from_db()
    assert (record.status, record.delivery) == ("accepted", DeliveryRecord.Delivery.ACCEPTED)


def test_a_type_header_that_differs_from_the_body_is_refused(site, sandbox, live_server, record):
    envelope = site.notification(sandbox.base_url("aws"), event())
    response = post(live_server, envelope, **{"x-amz-sns-message-type": "SubscriptionConfirmation"})
    assert response.status_code == 403


def test_a_replayed_or_later_final_event_changes_nothing(site, sandbox, live_server, record):
    delivered = site.notification(sandbox.base_url("aws"), event("TEXT_SUCCESSFUL"))
    assert post(live_server, delivered).status_code == 200
    record.refresh_from_db()
    delivered_at = record.delivered_at
    assert post(live_server, delivered).status_code == 200  # a replay
    assert notify(site, sandbox, live_server, "TEXT_BLOCKED").status_code == 200  # another final word
    record.refresh_from_db()
    assert (record.status, record.delivery, record.delivered_at) == ("TEXT_SUCCESSFUL", DELIVERED, delivered_at)


def test_an_event_on_the_way_after_the_final_one_changes_nothing(site, sandbox, live_server, record):
    assert notify(site, sandbox, live_server, "TEXT_BLOCKED").status_code == 200
    assert notify(site, sandbox, live_server, "TEXT_PENDING", final=False).status_code == 200
    record.refresh_from_db()
    assert (record.status, record.delivery) == ("TEXT_BLOCKED", FAILED)


def test_an_event_on_the_way_keeps_the_record_accepted(site, sandbox, live_server, record):
    assert notify(site, sandbox, live_server, "TEXT_PENDING", final=False).status_code == 200
    record.refresh_from_db()
    assert (record.status, record.delivery) == ("TEXT_PENDING", DeliveryRecord.Delivery.ACCEPTED)


@pytest.mark.parametrize("message", [
    "not JSON", json.dumps(["a list"]), json.dumps({"isFinal": True, "messageId": MESSAGE_ID}),
    json.dumps({"eventType": "TEXT_SUCCESSFUL", "isFinal": True}),
    json.dumps({"eventType": "TEXT_SUCCESSFUL", "isFinal": True, "messageId": "bad id\n"}),
])
def test_a_signed_notification_without_a_readable_event_is_malformed(site, sandbox, live_server, record, message):
    envelope = site.signed({"Type": "Notification", "MessageId": "m-1", "TopicArn": SNS_TOPIC_ARN,
                            "Message": message, "Timestamp": "2026-12-06T05:00:00.000Z"}, sandbox.base_url("aws"))
    response = post(live_server, envelope)
    assert (response.status_code, response.text) == (400, "malformed body\n")
    record.refresh_from_db()
    assert record.status == "accepted"


def test_an_event_for_a_message_we_did_not_send_is_acknowledged(site, sandbox, live_server, record):
    response = notify(site, sandbox, live_server, message_id="00000000-0000-0000-0000-000000000000")
    assert (response.status_code, response.text) == (200, "ignored\n")


def test_voice_events_of_the_same_topic_are_ignored(site, sandbox, live_server, record):
    response = notify(site, sandbox, live_server, "VOICE_COMPLETED")
    assert (response.status_code, response.text) == (200, "ok\n")
    record.refresh_from_db()
    assert record.status == "accepted"


def test_a_subscribe_url_off_sns_is_not_fetched(site, sandbox, live_server):
    envelope = site.signed({"Type": "SubscriptionConfirmation", "MessageId": "m-2", "Token": "t" * 64,
                            "TopicArn": SNS_TOPIC_ARN, "Message": "confirm",
                            "SubscribeURL": live_server.url + "/elsewhere", "Timestamp": "2026-12-06T05:00:00.000Z"},
                           sandbox.base_url("aws"))
    assert post(live_server, envelope).status_code == 400


def test_a_gateway_without_a_topic_takes_no_notifications(transactional_db, live_server, sandbox, settings):
    settings.SMS_GATEWAYS = {"aws": gateway_entry("aws", sandbox, configuration_set=CONFIGURATION_SET)}
    envelope = sandbox.vendors["aws"].notification(sandbox.base_url("aws"), event())
    assert post(live_server, envelope).status_code == 404


# -- pieces ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("event_type", "final", "expected"), [
    ("TEXT_DELIVERED", True, DELIVERED), ("TEXT_SUCCESSFUL", True, DELIVERED),
    ("TEXT_SUCCESSFUL", False, None), ("TEXT_BLOCKED", True, FAILED), ("TEXT_TTL_EXPIRED", True, FAILED),
    ("TEXT_CARRIER_UNREACHABLE", True, FAILED), ("TEXT_UNKNOWN", True, FAILED),
    ("TEXT_CARRIER_UNREACHABLE", False, None), ("TEXT_PENDING", False, None), ("TEXT_QUEUED", True, None),
])
def test_event_types_map_to_deliveries_only_when_final(event_type, final, expected):
    assert delivery_of(event_type, final) == expected


def test_the_signed_string_follows_sns_field_order():
    notification = {"Type": "Notification", "MessageId": "i", "TopicArn": "t", "Message": "m", "Timestamp": "s",
                    "Subject": "j", "UnsubscribeURL": "u"}
    assert signed_string(notification) == (b"Message\nm\nMessageId\ni\nSubject\nj\nTimestamp\ns\nTopicArn\nt\n"
                                           b"Type\nNotification\n")
    del notification["Subject"]
    assert signed_string(notification) == b"Message\nm\nMessageId\ni\nTimestamp\ns\nTopicArn\nt\nType\nNotification\n"
    confirmation = {"Type": "SubscriptionConfirmation", "MessageId": "i", "TopicArn": "t", "Message": "m",
                    "Timestamp": "s", "Token": "k", "SubscribeURL": "u"}
    assert signed_string(confirmation) == (b"Message\nm\nMessageId\ni\nSubscribeURL\nu\nTimestamp\ns\nToken\nk\n"
                                           b"TopicArn\nt\nType\nSubscriptionConfirmation\n")
    assert signed_string({**confirmation, "Token": 5}) is None


@pytest.mark.parametrize(("url", "trusted"), [
    ("https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem", True),
    ("https://sns.us-gov-west-1.amazonaws.com/a.pem", True),
    ("https://sns.cn-north-1.amazonaws.com.cn/a.pem", True),
    ("https://sns.eu-west-1.amazonaws.com:443/a.pem", True),
    ("https://sns.cn-north-1.amazonaws.com/a.pem", False),
    ("http://sns.eu-west-1.amazonaws.com/a.pem", False),
    ("https://sns.eu-west-1.amazonaws.com.evil.example/a.pem", False),
    ("https://evil.example/sns.eu-west-1.amazonaws.com/a.pem", False),
    ("https://sns.eu-west-1.amazonaws.com:8443/a.pem", False),
    ("https://user@sns.eu-west-1.amazonaws.com/a.pem", False),
    ("https://sqs.eu-west-1.amazonaws.com/a.pem", False),
    ("http://127.0.0.1:8025/aws/sns/a.pem", False),
])
def test_only_sns_hosts_are_trusted(url, trusted):
    assert trusted_sns_url(url) is trusted


def test_the_test_address_is_trusted_only_below_itself():
    assert trusted_sns_url("http://127.0.0.1:8025/aws/sns/a.pem", test_url="http://127.0.0.1:8025/aws")
    assert not trusted_sns_url("http://127.0.0.1:8025/awsx/a.pem", test_url="http://127.0.0.1:8025/aws")


# -- the backend's options ------------------------------------------------------------------------


def test_receipts_need_the_topic(sandbox):
    with_topic = build_backend("a", aws_entry(sandbox))
    without = build_backend("b", gateway_entry("aws", sandbox, configuration_set=CONFIGURATION_SET))
    assert (with_topic.receipts, without.receipts) == (True, False)


@pytest.mark.parametrize(("options", "message"), [
    ({"sns_topic_arn": SNS_TOPIC_ARN}, "needs 'configuration_set' too"),
    ({"configuration_set": "a set"}, "configuration set name or ARN"),
    ({"configuration_set": "s", "sns_topic_arn": "arn:aws:sqs:eu-west-1:123456789012:q"}, "SNS topic ARN"),
    ({"configuration_set": "s", "sns_topic_arn": SNS_TOPIC_ARN, "sns_test_url": "https://sns.example.com/"},
     "loopback"),
])
def test_receipt_options_are_checked(sandbox, options, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        build_backend("aws", gateway_entry("aws", sandbox, **options))
