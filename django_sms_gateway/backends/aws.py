"""AWS End User Messaging SMS (``pinpoint-sms-voice-v2``): ``SendTextMessage``.

Wire facts and their sources, all from the service model that AWS ships in
botocore (``botocore/data/pinpoint-sms-voice-v2/2022-03-31/service-2.json``)
unless said otherwise:

- Protocol ``json`` 1.0 (:mod:`.aws_json`): target prefix
  ``PinpointSMSVoiceV2``, signing name ``sms-voice``; endpoint
  ``https://sms-voice.{region}.{partition's DNS suffix}`` (endpoint prefix
  ``sms-voice``; the suffixes in :mod:`.aws_json`).
- Request ``{"DestinationPhoneNumber", "OriginationIdentity"?, "MessageBody",
  "MessageType": "TRANSACTIONAL"|"PROMOTIONAL", "ConfigurationSetName"?,
  "MaxPrice"? ("[0-9]{0,2}\\.[0-9]{1,5}"), "TimeToLive"? (5-259200 s),
  "DryRun"?}``; answer ``{"MessageId"}``.
- Errors: ``ServiceQuotaExceededException``, ``ThrottlingException``,
  ``AccessDeniedException``, ``ResourceNotFoundException``,
  ``ValidationException`` (with ``Reason``), ``ConflictException`` (with
  ``Reason``, e.g. ``DESTINATION_PHONE_NUMBER_OPTED_OUT``),
  ``InternalServerException``.
- An unsigned request's error is not in the service model, and its name
  differs between AWS front ends: ``MissingAuthenticationToken`` (AWS's
  "Common Errors"; query-protocol services such as STS answer it) and
  ``MissingAuthenticationTokenException`` (what endpoints behind API Gateway
  and JSON-protocol endpoints answer); both are a refused credential.
- Accepted means a ``MessageId`` in a 200 answer. With ``dry_run`` AWS checks
  the request and sends nothing: use it only to try a configuration.
- ``ConfigurationSetName`` is a ``ConfigurationSetNameOrArn``: 1-256 of
  ``[A-Za-z0-9_:/-]``. Delivery events are published only for sends naming a
  configuration set, to that set's event destinations ("Event destinations
  in AWS End User Messaging SMS",
  https://docs.aws.amazon.com/sms-voice/latest/userguide/configuration-sets-event-destinations.html);
  an Amazon SNS destination with an HTTPS subscription is how a web site
  receives them ("Create an Amazon SNS event destination",
  https://docs.aws.amazon.com/sms-voice/latest/userguide/configuration-sets-sns-add.html).
  The receipts are read by :mod:`django_sms_gateway.webhooks.aws`, which
  accepts notifications of the ``sns_topic_arn`` option's topic only ("Reject
  any message with an unexpected TopicArn", "Verifying the signatures of
  Amazon SNS messages",
  https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html).
- A topic ARN is ``arn:{partition}:sns:{region}:{12-digit account}:{name}``,
  the name up to 256 letters, digits, hyphens and underscores (Amazon SNS
  ``CreateTopic`` API reference, ``Name``).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, ClassVar
from urllib.parse import urlsplit

from ..checks import E005
from ..exceptions import (
    ConfigurationError,
    GatewayAuthError,
    GatewayError,
    GatewayRateLimited,
    GatewayUnavailable,
    RecipientRefused,
    RequestRejected,
)
from .aws_json import AWSJSONBackend, error_answer, plain_word
from .base import CredentialCheck, Option, SendResult, SMSMessage
from .http import VendorResponse, summarize

__all__ = ["AWSEndUserMessagingBackend"]

SERVICE = "sms-voice"
AUTH_ERRORS = frozenset({"AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException",
                         "IncompleteSignature", "MissingAuthenticationToken", "MissingAuthenticationTokenException",
                         "ExpiredTokenException"})
THROTTLE_ERRORS = frozenset({"ThrottlingException", "ServiceQuotaExceededException"})
#: ``Reason`` values saying this number may not be texted at all (opted out, or blocked by the
#: site's own protect configuration): no other vendor is tried.
RECIPIENT_REASONS = frozenset({"DESTINATION_PHONE_NUMBER_OPTED_OUT",
                               "DESTINATION_COUNTRY_BLOCKED_BY_PROTECT_CONFIGURATION",
                               "DESTINATION_PHONE_NUMBER_BLOCKED_BY_PROTECT_NUMBER_OVERRIDE"})
#: ``Reason`` values about this AWS account's reach (another vendor may serve the number).
ACCOUNT_REACH_REASONS = frozenset({"DESTINATION_PHONE_NUMBER_NOT_VERIFIED", "DESTINATION_COUNTRY_BLOCKED",
                                   "COUNTRY_NOT_ENABLED"})
#: Error names and reasons kept in a failure's reason (the SendTextMessage API reference).
KNOWN_NAMES = AUTH_ERRORS | THROTTLE_ERRORS | RECIPIENT_REASONS | ACCOUNT_REACH_REASONS | frozenset(
    {"ValidationException", "ConflictException", "ResourceNotFoundException", "InternalServerException",
     "CANNOT_PARSE", "FIELD_VALIDATION_FAILED", "INVALID_PARAMETER", "PRICE_OVER_THRESHOLD",
     "INVALID_IDENTITY_FOR_DESTINATION_COUNTRY", "INVALID_ARN"}
)


def _price_problem(value: str) -> str | None:
    return None if re.fullmatch(r"[0-9]{0,2}\.[0-9]{1,5}", value) else "must look like '0.05' (up to 99.99999)"


def _configuration_set_problem(value: str) -> str | None:
    if re.fullmatch(r"[A-Za-z0-9_:/-]{1,256}", value):
        return None
    return "must be a configuration set name or ARN (1-256 of letters, digits, '_', ':', '/', '-')"


#: ``arn:{partition}:sns:{region}:{account}:{topic name}``.
TOPIC_ARN = re.compile(r"arn:aws[a-z-]*:sns:[a-z]{2,4}(-[a-z]+)+-[0-9]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}")


def _topic_arn_problem(value: str) -> str | None:
    if TOPIC_ARN.fullmatch(value):
        return None
    return f"must be an SNS topic ARN such as 'arn:aws:sns:eu-west-1:123456789012:sms-events', not {value!r}"


def is_loopback_url(value: str) -> bool:
    """True for an http(s) URL whose host is ``localhost`` or a loopback address."""
    parts = urlsplit(value)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https"):
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _loopback_problem(value: str) -> str | None:
    return None if is_loopback_url(value) else "must be a loopback URL (it is for tests against the sandbox only)"


class AWSEndUserMessagingBackend(AWSJSONBackend):
    """Sends through AWS End User Messaging SMS (SendTextMessage)."""

    options: ClassVar[dict[str, Any]] = {
        **AWSJSONBackend.options,
        "origination_identity": Option(None, kind="text", doc="Phone number, sender ID, pool id or their ARN."),
        "message_type": Option("TRANSACTIONAL", kind="choice", choices=("TRANSACTIONAL", "PROMOTIONAL")),
        "max_price": Option(None, kind="text", check=_price_problem, doc="Most to pay per message part, in USD."),
        "time_to_live": Option(None, kind="int", minimum=5, maximum=259200, doc="Seconds AWS tries to deliver."),
        "configuration_set": Option(None, kind="text", check=_configuration_set_problem,
                                    doc="ConfigurationSetName sent with each message, for event destinations."),
        "sns_topic_arn": Option(None, kind="text", check=_topic_arn_problem,
                                doc="The SNS topic the configuration set publishes events to: its signed "
                                    "notifications are read as delivery receipts."),
        "sns_test_url": Option(None, kind="url", check=_loopback_problem,
                               doc="Tests only: a loopback address (the sandbox's) trusted like an AWS SNS host "
                                   "for signing certificates and subscription confirmations."),
        "dry_run": Option(False, kind="bool", doc="Check the request at AWS and send nothing."),
    }
    signing_name: ClassVar[str] = SERVICE
    endpoint_prefix: ClassVar[str] = SERVICE
    target_prefix: ClassVar[str] = "PinpointSMSVoiceV2"
    max_segments = 1

    def check_options(self) -> None:
        super().check_options()
        if self.config["sns_topic_arn"] and not self.config["configuration_set"]:
            raise self.config_error("option 'sns_topic_arn' needs 'configuration_set' too: AWS publishes "
                                    "delivery events only for messages sent with a configuration set")
        if self.config["sns_topic_arn"]:
            try:
                import cryptography  # noqa: F401
            except ImportError:
                raise ConfigurationError(
                    f"SMS_GATEWAYS[{self.alias!r}] ({type(self).__name__}): option 'sns_topic_arn' needs the "
                    "cryptography package to verify SNS signatures",
                    check_id=E005, hint="pip install 'django-otp-sms-gateway[aws]'",
                    obj=f"SMS_GATEWAYS[{self.alias!r}]",
                ) from None

    @property
    def receipts(self) -> bool:
        """True when sends name a configuration set and its SNS topic's
        notifications are read (``sns_topic_arn``)."""
        return bool(self.config["sns_topic_arn"])

    def send(self, message: SMSMessage, *, timeout: float) -> SendResult:
        info = self.checked_parts(message, "this gateway sends one")
        body: dict[str, Any] = {
            "DestinationPhoneNumber": message.recipient,
            "MessageBody": message.text,
            "MessageType": self.config["message_type"],
            "TimeToLive": self.config["time_to_live"] or max(5, message.validity),
            # An identity AWS knows (number, sender ID, pool, ARN); none: AWS picks one of the account's.
            "OriginationIdentity": self.config["origination_identity"] or self.config["sender"],
            "MaxPrice": self.config["max_price"],
            "ConfigurationSetName": self.config["configuration_set"],
            "DryRun": self.config["dry_run"] or None,
        }
        response = self.call("SendTextMessage", {k: v for k, v in body.items() if v is not None}, timeout)
        if response.status != 200:
            raise self._failure(response)
        message_id = self.read_json(response).get("MessageId")
        if not isinstance(message_id, str) or not 0 < len(message_id) <= 100 or not message_id.isprintable():
            raise self.error(GatewayUnavailable, "unexpected answer (no MessageId)", status_code=response.status)
        return SendResult(reference=message_id, status="accepted", segments=info.segments)

    def _failure(self, response: VendorResponse) -> GatewayError:
        name, answer = error_answer(response)
        reason = plain_word(answer.get("Reason"))
        kwargs: dict[str, Any] = {"status_code": response.status, "vendor_status": reason or name}
        label = summarize([name, reason], known=KNOWN_NAMES) if name else f"HTTP {response.status}"
        if name in AUTH_ERRORS:
            return self.error(GatewayAuthError, f"credentials refused ({label})", **kwargs)
        if name in THROTTLE_ERRORS:
            return self.error(GatewayRateLimited, f"throttled ({label})", **kwargs)
        if response.status >= 500 or name == "InternalServerException":
            return self.error(GatewayUnavailable, f"vendor error ({label})", **kwargs)
        if reason in RECIPIENT_REASONS:
            return self.error(RecipientRefused, f"recipient refused ({label})", **kwargs)
        return self.error(RequestRejected, f"request refused ({label})", **kwargs)

    def check_credentials(self, *, timeout: float) -> CredentialCheck:
        """``DescribeAccountAttributes``: read-only, and refused without valid credentials."""
        try:
            response = self.call("DescribeAccountAttributes", {}, timeout)
        except GatewayAuthError as exc:
            return CredentialCheck("refused", exc.reason)
        except GatewayError as exc:
            return CredentialCheck("unchecked", f"AWS did not answer ({exc.reason})")
        if response.status == 200:
            return CredentialCheck("accepted", "AWS answered DescribeAccountAttributes")
        name, _answer = error_answer(response)
        if name in AUTH_ERRORS:
            return CredentialCheck("refused", f"AWS refused the credentials ({name})")
        return CredentialCheck("unchecked", f"unexpected answer (HTTP {response.status})")
