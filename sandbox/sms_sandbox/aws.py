"""AWS End User Messaging SMS (``pinpoint-sms-voice-v2``), JSON 1.0 protocol.

As the service model in botocore describes it: ``POST /`` with ``X-Amz-Target:
PinpointSMSVoiceV2.<Operation>``, ``Content-Type: application/x-amz-json-1.0``
and a SigV4 ``Authorization`` for the service ``sms-voice``.
``SendTextMessage`` answers ``{"MessageId"}``; ``DescribeAccountAttributes``
answers ``{"AccountAttributes": [...]}``. Errors are JSON ``{"__type",
"message", "Reason"?}`` with the name also in ``X-Amzn-ErrorType``, 400 for the
caller's errors and 500 for ``InternalServerException``. A signature by
another key is ``UnrecognizedClientException``, a wrong one
``InvalidSignatureException`` (403), as AWS answers.

The signature is recomputed with botocore when it is installed (the
``[aws]`` extra); without it only the credential scope is checked. Numbers
starting with ``+1500555`` answer ``ConflictException``
``DESTINATION_PHONE_NUMBER_OPTED_OUT``, so tests reach that answer.

Delivery events, as AWS publishes them to an Amazon SNS event destination
of the configuration set a message names (``ConfigurationSetName``):

* :meth:`AWS.subscribe` stands for the site's setup (a configuration set, its
  SNS event destination, an HTTPS subscription of the topic): it POSTs a
  signed ``SubscriptionConfirmation`` to the endpoint, and the subscription
  is confirmed when the endpoint GETs its ``SubscribeURL``
  (``/aws/sns/confirm?Token=...``). Only loopback endpoints are called.
* A message sent with a subscribed configuration set gets, after the
  delivery delay, SNS ``Notification`` POSTs whose ``Message`` is the SMS
  event JSON of AWS's "Example SMS event data": ``TEXT_PENDING``
  (``isFinal`` false), then ``TEXT_SUCCESSFUL`` (``isFinal`` true,
  ``messageStatus`` ``SUCCESSFUL``, "Message has been accepted by phone
  carrier", as AWS's example). Delivery faults on the ``aws`` key (a send
  answers as usual, the message never reaches the inbox): ``undelivered``
  ends with ``TEXT_BLOCKED`` (``isFinal`` true) instead, ``silent`` sends no
  event.
* Envelopes are signed as SNS signs them ("Verifying the signatures of
  Amazon SNS messages": ``SignatureVersion`` 2, RSA PKCS#1 v1.5 over SHA-256
  of ``"{name}\\n{value}\\n"`` per signed field) with a key and self-signed
  certificate the sandbox makes at first use, served at
  ``SigningCertURL`` ``/aws/sns/SimpleNotificationService-sandbox.pem``.
  A client accepts that loopback address only when told to (the backend's
  ``sns_test_url``). Signing needs the ``cryptography`` package (the
  ``[aws]`` extra): without it no event is sent (counted as skipped).
  Requests under ``/aws/sns/`` share the fault key ``aws``.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from .base import (
    E164,
    Recorder,
    Request,
    Response,
    Vendor,
    call_back,
    is_loopback_host,
    iso_utc,
    parse_body,
    same,
    utc_now,
)
from .segments import segments

__all__ = ["AWS", "CREDENTIALS", "DELIVERY_FAULTS", "OPTED_OUT_PREFIX", "SNS_TOPIC_ARN", "VENDOR", "signed_string"]

CREDENTIALS = MappingProxyType(
    {"aws_access_key_id": "AKIASANDBOXEXAMPLE01", "aws_secret_access_key": "sandbox-aws-secret-access-key"}
)
OPTED_OUT_PREFIX = "+1500555"
#: The topic the sandbox's configuration sets publish to (:meth:`AWS.subscribe`).
SNS_TOPIC_ARN = "arn:aws:sns:eu-west-1:123456789012:sms-sandbox-events"
CERTIFICATE_PATH = "/sns/SimpleNotificationService-sandbox.pem"
#: SNS's signed fields, in order ("Verifying the signatures of Amazon SNS messages").
NOTIFICATION_FIELDS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
CONFIRMATION_FIELDS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
#: Faults that let a send through and change what follows it: ``silent`` (no
#: event, never delivered), ``undelivered`` (a final failure event).
DELIVERY_FAULTS = ("silent", "undelivered")
#: Events per delivery outcome: (eventType, isFinal, messageStatus, messageStatusDescription).
EVENTS: dict[str, tuple[tuple[str, bool, str, str], ...]] = {
    "delivered": (("TEXT_PENDING", False, "PENDING", "Message is pending delivery"),
                  ("TEXT_SUCCESSFUL", True, "SUCCESSFUL", "Message has been accepted by phone carrier")),
    "undelivered": (("TEXT_PENDING", False, "PENDING", "Message is pending delivery"),
                    ("TEXT_BLOCKED", True, "BLOCKED", "Message has been blocked by the recipient's carrier")),
    "silent": (),
}
_MEDIA_TYPE = "application/x-amz-json-1.0"
_AUTH = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[A-Z0-9]+)/(?P<date>[0-9]{8})/(?P<region>[a-z0-9-]+)/"
    r"(?P<service>[a-z0-9-]+)/aws4_request, ?SignedHeaders=(?P<signed>[a-z0-9;-]+), ?Signature=(?P<sig>[0-9a-f]{64})"
)


def aws_error(status: int, name: str, message: str, **extra: str) -> Response:
    """An AWS JSON-protocol error answer."""
    return Response.json(status, {"__type": name, "message": message, **extra},
                         content_type=_MEDIA_TYPE, headers={"X-Amzn-ErrorType": name})


def signed_string(envelope: dict[str, str]) -> bytes:
    """What SNS signs in ``envelope``: ``"{name}\\n{value}\\n"`` for each signed
    field of its ``Type`` that it has."""
    fields = NOTIFICATION_FIELDS if envelope["Type"] == "Notification" else CONFIRMATION_FIELDS
    return "".join(f"{name}\n{envelope[name]}\n" for name in fields if name in envelope).encode()


@dataclass
class _Subscription:
    endpoint: str
    topic_arn: str
    token: str
    arn: str
    confirmed: bool = False


class AWS(Vendor):
    """SendTextMessage and DescribeAccountAttributes, and the SNS events of
    subscribed configuration sets. Fault key ``aws``: own faults
    ``throttled`` and ``validation``, and ``silent`` / ``undelivered``
    (accept, then send no event / a final failure event)."""

    name = "aws"
    fault_variants = {"aws": ("throttled", "validation", "silent", "undelivered")}

    def __init__(self, record: Recorder, *, delivery_delay: float = 0.05) -> None:
        super().__init__(record)
        self._delay = delivery_delay
        self._lock = threading.Lock()
        self._subscriptions: dict[str, _Subscription] = {}
        self._events = {"sent": 0, "failed": 0, "skipped": 0}
        self._generation = 0
        self._stopping = threading.Event()
        self._signer: tuple[Any, bytes] | None = None

    def reset(self) -> None:
        with self._lock:
            self._subscriptions.clear()
            self._events = dict.fromkeys(self._events, 0)
            self._generation += 1

    def stop(self) -> None:
        self._stopping.set()

    def event_counts(self) -> dict[str, int]:
        """SNS notifications ``sent`` (2xx), ``failed`` and ``skipped`` (no
        confirmed subscription, not loopback, or no ``cryptography``)."""
        with self._lock:
            return dict(self._events)

    def subscribe(self, base_url: str, configuration_set: str, endpoint: str, *,
                  topic_arn: str = SNS_TOPIC_ARN) -> bool:
        """Publish the events of ``configuration_set`` to ``topic_arn`` and
        subscribe ``endpoint`` (a loopback URL) to it: POST the signed
        ``SubscriptionConfirmation``. ``base_url`` is the sandbox's AWS
        address (``sandbox.base_url("aws")``). True once the endpoint has
        confirmed (it GETs the ``SubscribeURL`` while answering)."""
        if not is_loopback_host(urlsplit(endpoint).hostname or ""):
            raise ValueError("the sandbox only calls loopback endpoints")
        token = secrets.token_hex(32)
        subscription = _Subscription(endpoint, topic_arn, token, f"{topic_arn}:{uuid.uuid4()}")
        with self._lock:
            self._subscriptions[configuration_set] = subscription
        envelope = {
            "Type": "SubscriptionConfirmation", "MessageId": str(uuid.uuid4()), "Token": token,
            "TopicArn": topic_arn,
            "Message": f"You have chosen to subscribe to the topic {topic_arn}.\nTo confirm the subscription, "
                       "visit the SubscribeURL included in this message.",
            "SubscribeURL": f"{base_url}/sns/confirm?Action=ConfirmSubscription&TopicArn={topic_arn}&Token={token}",
            "Timestamp": iso_utc(utc_now()),
        }
        self._post(subscription, self.signed(envelope, base_url))
        with self._lock:
            return subscription.confirmed

    def signed(self, envelope: dict[str, str], base_url: str, *, version: str = "2") -> dict[str, str]:
        """``envelope`` with ``SignatureVersion``, ``Signature`` and
        ``SigningCertURL`` as SNS adds them, signed with the sandbox's key
        (``version`` "1": SHA-1, "2": SHA-256). Raises ImportError without
        ``cryptography``."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        key, _pem = self._keys()
        algorithm = hashes.SHA256() if version == "2" else hashes.SHA1()  # noqa: S303 (SNS SignatureVersion 1)
        signature = key.sign(signed_string(envelope), padding.PKCS1v15(), algorithm)
        return {**envelope, "SignatureVersion": version, "Signature": base64.b64encode(signature).decode(),
                "SigningCertURL": base_url + CERTIFICATE_PATH}

    def notification(self, base_url: str, event: dict[str, Any], *, topic_arn: str = SNS_TOPIC_ARN,
                     version: str = "2") -> dict[str, str]:
        """A signed SNS ``Notification`` whose ``Message`` is ``event`` as JSON."""
        envelope = {"Type": "Notification", "MessageId": str(uuid.uuid4()), "TopicArn": topic_arn,
                    "Message": json.dumps(event, separators=(",", ":")), "Timestamp": iso_utc(utc_now()),
                    "UnsubscribeURL": f"{base_url}/sns/unsubscribe?SubscriptionArn={topic_arn}:sandbox"}
        return self.signed(envelope, base_url, version=version)

    def _keys(self) -> tuple[Any, bytes]:
        """The sandbox's RSA key and its self-signed certificate (PEM), made once."""
        import datetime

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        with self._lock:
            if self._signer is None:
                key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
                name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.sandbox.invalid")])
                now = datetime.datetime.now(datetime.UTC)
                certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                               .public_key(key.public_key()).serial_number(x509.random_serial_number())
                               .not_valid_before(now - datetime.timedelta(days=1))
                               .not_valid_after(now + datetime.timedelta(days=365))
                               .sign(key, hashes.SHA256()))
                self._signer = (key, certificate.public_bytes(serialization.Encoding.PEM))
            return self._signer

    def _sns(self, request: Request) -> Response:
        if request.method == "GET" and request.route == CERTIFICATE_PATH:
            try:
                return Response(200, self._keys()[1], "application/x-x509-ca-cert")
            except ImportError:
                return Response(404, b"", "text/plain")
        if request.method == "GET" and request.route == "/sns/confirm":
            token = request.params.get("Token", "")
            with self._lock:
                for subscription in self._subscriptions.values():
                    if token and same(subscription.token, token):
                        subscription.confirmed = True
                        body = ('<ConfirmSubscriptionResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">'
                                f"<ConfirmSubscriptionResult><SubscriptionArn>{subscription.arn}"
                                "</SubscriptionArn></ConfirmSubscriptionResult></ConfirmSubscriptionResponse>")
                        return Response(200, body.encode(), "text/xml")
            return Response(404, b"<ErrorResponse><Error><Code>NotFound</Code></Error></ErrorResponse>", "text/xml")
        return Response(404, b"", "text/plain")

    def _publish(self, base_url: str, configuration_set: str, message_id: str, payload: dict[str, Any],
                 delivery: str, generation: int) -> None:
        """Post the events of ``delivery`` for one message, a delivery delay apart."""
        sent_at = int(time.time() * 1000)
        for event_type, final, status, description in EVENTS[delivery]:
            if self._stopping.wait(self._delay):
                return
            with self._lock:
                subscription = self._subscriptions.get(configuration_set)
                if generation != self._generation:
                    return
                if subscription is None or not subscription.confirmed:
                    self._events["skipped"] += 1
                    return
            event = {
                "eventType": event_type, "eventVersion": "1.0", "eventTimestamp": int(time.time() * 1000),
                "isFinal": final, "originationPhoneNumber": payload.get("OriginationIdentity", "+12065550152"),
                "destinationPhoneNumber": payload["DestinationPhoneNumber"], "isInternationalSend": False,
                "messageId": message_id, "messageRequestTimestamp": sent_at, "messageEncoding": "GSM",
                "messageType": payload.get("MessageType", "TRANSACTIONAL"), "messageStatus": status,
                "messageStatusDescription": description, "totalMessageParts": segments(payload["MessageBody"]),
                "totalMessagePrice": 0.00581, "totalCarrierFee": 0.0,
            }
            try:
                envelope = self.notification(base_url, event, topic_arn=subscription.topic_arn)
            except ImportError:
                with self._lock:
                    self._events["skipped"] += 1
                return
            outcome = self._post(subscription, envelope)
            with self._lock:
                if generation == self._generation:
                    self._events[outcome] += 1

    def _post(self, subscription: _Subscription, envelope: dict[str, str]) -> str:
        """POST ``envelope`` to the subscription's endpoint with SNS's headers."""
        headers = {
            "Content-Type": "text/plain; charset=UTF-8", "x-amz-sns-message-type": envelope["Type"],
            "x-amz-sns-message-id": envelope["MessageId"], "x-amz-sns-topic-arn": envelope["TopicArn"],
            "User-Agent": "Amazon Simple Notification Service Agent",
        }
        if envelope["Type"] == "Notification":
            headers["x-amz-sns-subscription-arn"] = subscription.arn
        body = json.dumps(envelope, separators=(",", ":")).encode()
        return call_back(urlsplit(subscription.endpoint), "POST", body=body, headers=headers, timeout=5.0)

    def handle(self, request: Request, *, delivery: str = "delivered") -> Response:
        """Answer ``request``; a message it sends ends ``delivery``: ``delivered``,
        or a delivery fault (:data:`DELIVERY_FAULTS`)."""
        if request.route.startswith("/sns/"):
            return self._sns(request)
        if request.method != "POST" or request.route not in ("", "/"):
            return aws_error(404, "UnknownOperationException", "Unknown operation")
        problem = _signature_problem(request)
        if problem:
            return aws_error(403 if problem[0] == "InvalidSignatureException" else 400, *problem)
        operation = request.headers.get("X-Amz-Target", "").removeprefix("PinpointSMSVoiceV2.")
        # The JSON 1.0 media type is not "+json", so the body is decoded here.
        payload = parse_body("application/json", request.body) if request.content_type == _MEDIA_TYPE else None
        if operation == "DescribeAccountAttributes":
            return Response.json(200, {"AccountAttributes": [{"Name": "ACCOUNT_TIER", "Value": "SANDBOX"}]})
        if operation != "SendTextMessage":
            return aws_error(400, "UnknownOperationException", "Unknown operation")
        invalid = _invalid(payload)
        if invalid or not isinstance(payload, dict):
            return aws_error(400, "ValidationException", invalid or "", Reason="FIELD_VALIDATION_FAILED")
        number = payload["DestinationPhoneNumber"]
        if number.startswith(OPTED_OUT_PREFIX):
            return aws_error(400, "ConflictException", "The destination phone number is opted out",
                             Reason="DESTINATION_PHONE_NUMBER_OPTED_OUT")
        message_id = str(uuid.uuid4())
        if not payload.get("DryRun"):
            if delivery == "delivered":
                self._record(self.name, number, payload["MessageBody"])
            configuration_set = payload.get("ConfigurationSetName")
            if isinstance(configuration_set, str) and delivery != "silent":
                with self._lock:
                    generation = self._generation
                threading.Thread(target=self._publish, name=f"aws-events-{message_id}", daemon=True,
                                 args=(request.base_url + "/aws", configuration_set, message_id, payload,
                                       delivery, generation)).start()
        return Response.json(200, {"MessageId": message_id}, content_type=_MEDIA_TYPE)

    def fault_response(self, key: str, fault: str, request: Request) -> Response:
        if fault in DELIVERY_FAULTS:
            return self.handle(request, delivery=fault)
        if fault in ("429", "throttled"):
            return aws_error(400, "ThrottlingException", "Rate exceeded")
        if fault == "401":
            return aws_error(400, "UnrecognizedClientException", "The security token included in the request is "
                             "invalid")
        if fault == "validation":
            return aws_error(400, "ValidationException", "1 validation error detected", Reason="CANNOT_PARSE")
        return aws_error(500, "InternalServerException", "Internal server error")


def _invalid(payload: Any) -> str | None:
    if not isinstance(payload, dict):
        return "The request body is not a SendTextMessageRequest"
    if not isinstance(payload.get("DestinationPhoneNumber"), str) or not E164.fullmatch(
        payload["DestinationPhoneNumber"]
    ):
        return "Value at 'destinationPhoneNumber' failed to satisfy constraint: E.164"
    if not isinstance(payload.get("MessageBody"), str) or not 1 <= len(payload["MessageBody"]) <= 1600:
        return "Value at 'messageBody' failed to satisfy constraint: length 1 to 1600"
    if payload.get("MessageType", "TRANSACTIONAL") not in ("TRANSACTIONAL", "PROMOTIONAL"):
        return "Value at 'messageType' failed to satisfy enum value set"
    ttl = payload.get("TimeToLive", 5)
    if isinstance(ttl, bool) or not isinstance(ttl, int) or not 5 <= ttl <= 259200:
        return "Value at 'timeToLive' failed to satisfy constraint: 5 to 259200"
    return None


def _signature_problem(request: Request) -> tuple[str, str] | None:
    """None when the request is signed by the sandbox's key for ``sms-voice``."""
    match = _AUTH.fullmatch(request.headers.get("Authorization", ""))
    if match is None or "X-Amz-Date" not in request.headers:
        return "MissingAuthenticationTokenException", "Missing Authentication Token"
    if not same(match["key"], CREDENTIALS["aws_access_key_id"]):
        return "UnrecognizedClientException", "The security token included in the request is invalid"
    if match["service"] != "sms-voice" or "host" not in match["signed"].split(";"):
        return "InvalidSignatureException", "Credential should be scoped to correct service: 'sms-voice'"
    expected = _expected_signature(request, match)
    if expected is not None and not same(expected, match["sig"]):
        return "InvalidSignatureException", ("The request signature we calculated does not match the signature "
                                             "you provided")
    return None


def _expected_signature(request: Request, match: re.Match[str]) -> str | None:
    """The SigV4 signature of ``request`` as botocore computes it, or None without botocore."""
    try:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials
    except ImportError:
        return None
    signed = match["signed"].split(";")
    headers = {name: value for name, value in request.headers.items() if name.lower() in signed}
    aws_request = AWSRequest(method=request.method, url=request.base_url + request.path, data=request.body,
                             headers=headers)
    aws_request.context["timestamp"] = request.headers["X-Amz-Date"]
    signer = SigV4Auth(Credentials(match["key"], CREDENTIALS["aws_secret_access_key"]), match["service"],
                       match["region"])
    canonical = signer.canonical_request(aws_request)
    return str(signer.signature(signer.string_to_sign(aws_request, canonical), aws_request))


VENDOR = AWS
