"""AWS End User Messaging SMS delivery events, received as Amazon SNS notifications.

Setup (AWS's "Event destinations", "Create an Amazon SNS event destination"):
a configuration set (the gateway's ``configuration_set`` option, sent as
``ConfigurationSetName`` with each message), an event destination of that
set that publishes text events to an SNS topic (``sns_topic_arn``), and an
HTTPS subscription of that topic to
``https://example.com/sms/webhooks/aws/<alias>/``. SNS first POSTs a
``SubscriptionConfirmation``; this view confirms it by fetching its
``SubscribeURL``.

SNS envelope and signature (Amazon SNS, "HTTP/HTTPS notification JSON
format", https://docs.aws.amazon.com/sns/latest/dg/http-notification-json.html,
and "HTTP/HTTPS subscription confirmation JSON format";
"Verifying the signatures of Amazon SNS messages",
https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html
and its "when using HTTP query-based requests" page):

- The body is JSON: ``Type`` (``Notification``, ``SubscriptionConfirmation``,
  ``UnsubscribeConfirmation``), ``MessageId``, ``TopicArn``, ``Subject``?,
  ``Message``, ``Timestamp``, ``SignatureVersion``, ``Signature`` (base64),
  ``SigningCertURL``, and ``Token`` / ``SubscribeURL`` on confirmations.
- The signed string is ``"{name}\\n{value}\\n"`` for each of ``Message``,
  ``MessageId``, ``Subject`` (only when present), ``Timestamp``,
  ``TopicArn``, ``Type`` for a notification, and ``Message``, ``MessageId``,
  ``SubscribeURL``, ``Timestamp``, ``Token``, ``TopicArn``, ``Type`` for a
  confirmation, in that order.
- ``SignatureVersion`` ``1`` is RSA PKCS#1 v1.5 over SHA-1, ``2`` over
  SHA-256, with the public key of the X.509 certificate at
  ``SigningCertURL``, which must be fetched over HTTPS from an SNS host
  (``sns.{region}.{the partition's DNS suffix}``; :func:`trusted_sns_url`);
  a ``.pem`` path is *inferred* from the certificates SNS names.
  A message whose ``TopicArn`` is not the expected topic is refused.
- The verification itself is the ``cryptography`` package's (the ``[aws]``
  extra); certificates are cached per URL.

SNS signs no freshness limit it documents, so a captured notification
verifies for ever; it only repeats what AWS said, and a final delivery, once
recorded, is never changed.

The event (the notification's ``Message``; "Example SMS event data",
https://docs.aws.amazon.com/end-user-messaging/latest/userguide/nx-features-messaging-events.html):
``eventType``, ``isFinal`` ("True if this is the final status for the
message"), ``messageId`` (the ``MessageId`` SendTextMessage answered),
``messageStatus``, ``totalMessageParts``... The ``eventType`` is kept raw as
the record's status. Event types ("Event types for SMS, MMS, and voice",
https://docs.aws.amazon.com/sms-voice/latest/userguide/configuration-sets-event-types.html;
the ``EventType`` enum of botocore's pinpoint-sms-voice-v2 service model):

- delivered: ``TEXT_DELIVERED`` and ``TEXT_SUCCESSFUL`` ("Depending on the
  destination country the TEXT_DELIVERED and TEXT_SUCCESSFUL events may be
  used interchangeably"), when ``isFinal`` is true;
- failed: ``TEXT_INVALID``, ``TEXT_INVALID_MESSAGE``, ``TEXT_UNREACHABLE``,
  ``TEXT_CARRIER_UNREACHABLE``, ``TEXT_BLOCKED``, ``TEXT_CARRIER_BLOCKED``,
  ``TEXT_SPAM``, ``TEXT_UNKNOWN`` (AWS's answer when no carrier event came
  in 72 hours), ``TEXT_TTL_EXPIRED`` and ``TEXT_PROTECT_BLOCKED``, when
  ``isFinal`` is true;
- on the way: ``TEXT_QUEUED``, ``TEXT_PENDING``, ``TEXT_SENT`` and any
  event whose ``isFinal`` is not true.

Voice, media and RCS events of the same topic are acknowledged and ignored.
The topic may also carry events of messages another application sent with
the configuration set: a notification for a message we did not record is
acknowledged (200 ``ignored``), so SNS does not retry it.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import threading
from typing import Any, ClassVar
from urllib.parse import urlsplit

import requests
from django.http import HttpRequest, HttpResponse

from ..backends.aws import AWSEndUserMessagingBackend
from ..backends.aws_json import dns_suffix
from ..backends.http import UnreadableJSON, read_json
from ..models import DeliveryRecord
from .base import MalformedWebhook, StatusReport, WebhookRefused, WebhookView, plain, status_word

__all__ = [
    "DELIVERED_EVENTS",
    "FAILED_EVENTS",
    "PENDING_EVENTS",
    "AWSWebhookView",
    "aws_events_webhook",
    "delivery_of",
    "signed_string",
    "trusted_sns_url",
]

logger = logging.getLogger("django_sms_gateway")

DELIVERED_EVENTS = frozenset({"TEXT_DELIVERED", "TEXT_SUCCESSFUL"})
FAILED_EVENTS = frozenset({
    "TEXT_INVALID", "TEXT_INVALID_MESSAGE", "TEXT_UNREACHABLE", "TEXT_CARRIER_UNREACHABLE", "TEXT_BLOCKED",
    "TEXT_CARRIER_BLOCKED", "TEXT_SPAM", "TEXT_UNKNOWN", "TEXT_TTL_EXPIRED", "TEXT_PROTECT_BLOCKED",
})
PENDING_EVENTS = frozenset({"TEXT_QUEUED", "TEXT_PENDING", "TEXT_SENT"})

NOTIFICATION_FIELDS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
CONFIRMATION_FIELDS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
TYPES = frozenset({"Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation"})
_SNS_HOST = re.compile(r"sns\.(?P<region>[a-z]{2,4}(?:-[a-z]+)+-[0-9]+)\.(?P<suffix>[a-z0-9.-]+)")
_MESSAGE_ID = re.compile(r"[A-Za-z0-9-]{1,100}")
#: Seconds for fetching a signing certificate or confirming a subscription.
FETCH_TIMEOUT = 5.0
#: Most bytes of a signing certificate (a PEM certificate is about 2 KB).
CERTIFICATE_MAX_BYTES = 16_384
#: Signing certificates kept, by URL (SNS rotates them rarely).
CACHE_SIZE = 16

_certificates: dict[str, Any] = {}
_certificates_lock = threading.Lock()


def delivery_of(event_type: str, is_final: bool) -> str | None:
    """``DeliveryRecord.Delivery.DELIVERED`` or ``.FAILED`` for a final event, None for one on the way."""
    if not is_final:
        return None
    if event_type in DELIVERED_EVENTS:
        return DeliveryRecord.Delivery.DELIVERED
    if event_type in FAILED_EVENTS:
        return DeliveryRecord.Delivery.FAILED
    return None


def signed_string(envelope: dict[str, Any]) -> bytes | None:
    """The string SNS signs for ``envelope`` (by its ``Type``), or None when a
    field it needs is missing or not a string."""
    fields = NOTIFICATION_FIELDS if envelope.get("Type") == "Notification" else CONFIRMATION_FIELDS
    parts = []
    for name in fields:
        if name == "Subject" and name not in envelope:
            continue
        value = envelope.get(name)
        if not isinstance(value, str):
            return None
        parts.append(f"{name}\n{value}\n")
    return "".join(parts).encode()


def trusted_sns_url(url: str, *, test_url: str | None = None) -> bool:
    """True for an HTTPS URL on an SNS host (``sns.{region}.{the region's
    partition DNS suffix}``, as ``sns.eu-west-1.amazonaws.com``), or one
    under ``test_url`` (the gateway's ``sns_test_url``, a loopback address)."""
    if test_url and url.startswith(test_url.rstrip("/") + "/"):
        return True
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    match = _SNS_HOST.fullmatch(parts.hostname or "")
    return (parts.scheme == "https" and port in (None, 443) and not parts.username and match is not None
            and match["suffix"] == dns_suffix(match["region"]))


def _certificate(url: str) -> Any:
    """The X.509 certificate at ``url`` (cached), or None when it cannot be had."""
    from cryptography import x509

    with _certificates_lock:
        if url in _certificates:
            return _certificates[url]
    try:
        with requests.get(url, timeout=FETCH_TIMEOUT, stream=True, allow_redirects=False) as response:
            pem = response.raw.read(CERTIFICATE_MAX_BYTES + 1, decode_content=True)
            status = response.status_code
    except (requests.RequestException, OSError):
        logger.warning("AWS webhook: the SNS signing certificate could not be fetched")
        return None
    if status != 200 or len(pem) > CERTIFICATE_MAX_BYTES:
        logger.warning("AWS webhook: the SNS signing certificate could not be fetched (HTTP %s)", status)
        return None
    try:
        certificate = x509.load_pem_x509_certificate(pem)
    except ValueError:
        logger.warning("AWS webhook: the SNS signing certificate is not a PEM certificate")
        return None
    with _certificates_lock:
        if len(_certificates) >= CACHE_SIZE:
            _certificates.pop(next(iter(_certificates)))
        _certificates[url] = certificate
    return certificate


def _signature_matches(certificate: Any, signature: bytes, message: bytes, version: str) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        return False
    algorithm = hashes.SHA256() if version == "2" else hashes.SHA1()  # noqa: S303 (SNS SignatureVersion 1)
    try:
        key.verify(signature, message, padding.PKCS1v15(), algorithm)
    except InvalidSignature:
        return False
    return True


def _envelope(body: bytes) -> dict[str, Any] | None:
    try:
        envelope = read_json(body)
    except UnreadableJSON:
        return None
    return envelope if isinstance(envelope, dict) else None


class AWSWebhookView(WebhookView):
    """Records the SMS events an SNS topic notifies for messages sent through the alias."""

    backend_class = AWSEndUserMessagingBackend
    vendor = "AWS"
    #: The header SNS names the message type in.
    type_header: ClassVar[str] = "x-amz-sns-message-type"

    def accepts(self, backend: AWSEndUserMessagingBackend) -> bool:
        return backend.receipts

    def verify(self, request: HttpRequest, body: bytes, backend: AWSEndUserMessagingBackend) -> None:
        envelope = _envelope(body)
        if envelope is None or envelope.get("Type") not in TYPES:
            raise WebhookRefused("not an SNS message")
        header = request.headers.get(self.type_header)
        if header is not None and header != envelope["Type"]:
            raise WebhookRefused("message type header and body differ")
        if envelope.get("TopicArn") != backend.config["sns_topic_arn"]:
            raise WebhookRefused("another topic")
        version = envelope.get("SignatureVersion")
        cert_url = envelope.get("SigningCertURL")
        if version not in ("1", "2") or not isinstance(cert_url, str):
            raise WebhookRefused("no SignatureVersion 1 or 2 signature")
        if not trusted_sns_url(cert_url, test_url=backend.config["sns_test_url"]) or not \
                urlsplit(cert_url).path.endswith(".pem"):
            raise WebhookRefused("signing certificate not on an SNS host")
        message = signed_string(envelope)
        try:
            signature = base64.b64decode(str(envelope.get("Signature", "")), validate=True)
        except (binascii.Error, ValueError):
            signature = b""
        if message is None or not signature:
            raise WebhookRefused("unsigned fields")
        certificate = _certificate(cert_url)
        if certificate is None or not _signature_matches(certificate, signature, message, version):
            raise WebhookRefused("bad signature")

    def parse(self, request: HttpRequest, body: bytes, backend: AWSEndUserMessagingBackend) -> list[StatusReport]:
        envelope = _envelope(body) or {}
        if envelope["Type"] == "SubscriptionConfirmation":
            self.confirm(envelope, backend)
            return []
        if envelope["Type"] == "UnsubscribeConfirmation":
            logger.warning("AWS webhook: the SNS subscription of topic %s was removed", envelope["TopicArn"])
            return []
        try:
            event = read_json(envelope["Message"].encode())
        except UnreadableJSON:
            raise MalformedWebhook("the notification's Message is not JSON") from None
        if not isinstance(event, dict):
            raise MalformedWebhook("the notification's Message is not a JSON object")
        event_type = status_word(event.get("eventType"))
        if event_type is None:
            raise MalformedWebhook("no usable eventType")
        if not event_type.startswith("TEXT_"):
            return []
        message_id = event.get("messageId")
        if not isinstance(message_id, str) or not _MESSAGE_ID.fullmatch(message_id):
            raise MalformedWebhook("no usable messageId")
        parts = event.get("totalMessageParts")
        segments = parts if isinstance(parts, int) and not isinstance(parts, bool) and 0 < parts <= 255 else None
        return [StatusReport(message_id, event_type, segments, delivery_of(event_type, event.get("isFinal") is True))]

    def confirm(self, envelope: dict[str, Any], backend: AWSEndUserMessagingBackend) -> None:
        """Confirm a verified subscription: GET its ``SubscribeURL`` (an SNS host only)."""
        url = envelope.get("SubscribeURL")
        if not isinstance(url, str) or not trusted_sns_url(url, test_url=backend.config["sns_test_url"]):
            raise MalformedWebhook("SubscribeURL not on an SNS host")
        try:
            response = requests.get(url, timeout=FETCH_TIMEOUT, allow_redirects=False)
            status = response.status_code
            response.close()
        except requests.RequestException:
            status = None
        if status == 200:
            logger.info("AWS webhook: confirmed the SNS subscription of topic %s", envelope["TopicArn"])
        else:
            logger.error("AWS webhook: the SNS subscription of topic %s could not be confirmed (%s)",
                         envelope["TopicArn"], f"HTTP {status}" if status else "no answer")

    def final_statuses(self, backend: AWSEndUserMessagingBackend) -> frozenset[str]:
        return DELIVERED_EVENTS | FAILED_EVENTS

    def unknown_reference(self, alias: str) -> HttpResponse:
        logger.info("AWS webhook for gateway %r: an event of a message we did not record", alias)
        return plain("ignored", 200)


aws_events_webhook = AWSWebhookView.as_view()
