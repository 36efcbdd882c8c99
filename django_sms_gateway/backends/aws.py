"""AWS End User Messaging SMS (``pinpoint-sms-voice-v2``): ``SendTextMessage``.

Wire facts and their sources, all from the service model that AWS ships in
botocore (``botocore/data/pinpoint-sms-voice-v2/2022-03-31/service-2.json``)
unless said otherwise:

- Protocol ``json`` 1.0: ``POST {base_url}/`` with ``X-Amz-Target:
  PinpointSMSVoiceV2.SendTextMessage`` and ``Content-Type:
  application/x-amz-json-1.0``; signed with SigV4, signing name
  ``sms-voice``; endpoint ``https://sms-voice.{region}.amazonaws.com``
  (endpoint prefix ``sms-voice``).
- Request ``{"DestinationPhoneNumber", "OriginationIdentity"?, "MessageBody",
  "MessageType": "TRANSACTIONAL"|"PROMOTIONAL", "ConfigurationSetName"?,
  "MaxPrice"? ("[0-9]{0,2}\\.[0-9]{1,5}"), "TimeToLive"? (5-259200 s),
  "DryRun"?}``; answer ``{"MessageId"}``.
- Errors: ``ServiceQuotaExceededException``, ``ThrottlingException``,
  ``AccessDeniedException``, ``ResourceNotFoundException``,
  ``ValidationException`` (with ``Reason``), ``ConflictException`` (with
  ``Reason``, e.g. ``DESTINATION_PHONE_NUMBER_OPTED_OUT``),
  ``InternalServerException``. The error's name travels in the body's
  ``__type`` (possibly ``namespace#Name``) or the ``X-Amzn-ErrorType``
  header, as in every AWS JSON protocol (botocore's JSON error parser).
- Credentials come from botocore's standard chain (environment, shared
  files, container and instance roles); signing is botocore's ``SigV4Auth``.
  Install the ``[aws]`` extra. Only the HTTP call is ours, so the deadline,
  size bound and keep-alive session are those of every backend.
- Accepted means a ``MessageId`` in a 200 answer. With ``dry_run`` AWS checks
  the request and sends nothing: use it only to try a configuration.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any, ClassVar

import requests

from ..exceptions import (
    ConfigurationError,
    GatewayAuthError,
    GatewayError,
    GatewayRateLimited,
    GatewayUnavailable,
    RecipientRefused,
    RequestRejected,
)
from ..vendor_json import UnreadableJSON, read_json_object
from .base import OPTIONS_CHECK_ID, CredentialCheck, Option, SendResult, SMSMessage
from .http import HTTPBackend, VendorResponse
from .vendor_text import summarize

__all__ = ["AWSEndUserMessagingBackend"]

SERVICE = "sms-voice"
TARGET = "PinpointSMSVoiceV2.{operation}"
CONTENT_TYPE = "application/x-amz-json-1.0"
AUTH_ERRORS = frozenset({"AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException",
                         "IncompleteSignature", "MissingAuthenticationToken", "ExpiredTokenException"})
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
_NAME = re.compile(r"[A-Za-z_]{1,64}")


def _price_problem(value: str) -> str | None:
    return None if re.fullmatch(r"[0-9]{0,2}\.[0-9]{1,5}", value) else "must look like '0.05' (up to 99.99999)"


class _SigV4(requests.auth.AuthBase):
    """Signs a prepared request with botocore, with credentials fetched per call."""

    def __init__(self, credentials: Any, region: str) -> None:
        self.credentials, self.region = credentials, region

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        signed = AWSRequest(method=request.method, url=request.url, data=request.body,
                            headers={name: request.headers[name] for name in ("Content-Type", "X-Amz-Target")})
        SigV4Auth(self.credentials.get_frozen_credentials(), SERVICE, self.region).add_auth(signed)
        request.headers.update(dict(signed.headers.items()))
        return request


class AWSEndUserMessagingBackend(HTTPBackend):
    """Sends through AWS End User Messaging SMS (SendTextMessage)."""

    options: ClassVar[dict[str, Any]] = {
        **HTTPBackend.options,
        "region": Option(kind="text", doc="The AWS Region, such as 'eu-west-1'."),
        "origination_identity": Option(None, kind="text", doc="Phone number, sender ID, pool id or their ARN."),
        "message_type": Option("TRANSACTIONAL", kind="choice", choices=("TRANSACTIONAL", "PROMOTIONAL")),
        "max_price": Option(None, kind="text", check=_price_problem, doc="Most to pay per message part, in USD."),
        "time_to_live": Option(None, kind="int", minimum=5, maximum=259200, doc="Seconds AWS tries to deliver."),
        "configuration_set": Option(None, kind="text", doc="ConfigurationSetName for event destinations."),
        "dry_run": Option(False, kind="bool", doc="Check the request at AWS and send nothing."),
    }
    max_segments = 1

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._credentials: Any = None
        self._credentials_lock = threading.Lock()

    def vendor_base_url(self) -> str:
        return f"https://{SERVICE}.{self.config['region']}.amazonaws.com"

    def check_options(self) -> None:
        try:
            import botocore  # noqa: F401
        except ImportError:
            raise ConfigurationError(
                f"SMS_GATEWAYS[{self.alias!r}] ({type(self).__name__}): needs botocore for AWS signing",
                check_id=OPTIONS_CHECK_ID, hint="pip install 'django-otp-sms-gateway[aws]'",
                obj=f"SMS_GATEWAYS[{self.alias!r}]",
            ) from None
        if not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-[0-9]", self.config["region"]):
            raise self.config_error(f"option 'region' must be an AWS Region such as 'eu-west-1', "
                                    f"not {self.config['region']!r}")

    def send(self, message: SMSMessage, *, timeout: float) -> SendResult:
        info = self.checked_parts(message, "this gateway sends one")
        body: dict[str, Any] = {
            "DestinationPhoneNumber": message.recipient,
            "MessageBody": message.text,
            "MessageType": self.config["message_type"],
            "TimeToLive": self.config["time_to_live"] or max(5, message.validity),
            # An identity AWS knows (number, sender ID, pool, ARN); none: AWS picks one of the account's.
            "OriginationIdentity": self.config["origination_identity"] or self.config["sender"] or message.sender,
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

    def call(self, operation: str, body: dict[str, Any], timeout: float) -> VendorResponse:
        """One signed call of ``operation`` with JSON ``body``."""
        headers = {"Content-Type": CONTENT_TYPE, "X-Amz-Target": TARGET.format(operation=operation)}
        return self.request("POST", "/", timeout=timeout, data=json.dumps(body).encode(), headers=headers,
                            auth=_SigV4(self.credentials(), self.config["region"]))

    def credentials(self) -> Any:
        """botocore's credential chain, resolved once (refreshable ones renew themselves)."""
        import botocore.exceptions
        import botocore.session

        with self._credentials_lock:
            if self._credentials is None:
                try:
                    self._credentials = botocore.session.get_session().get_credentials()
                except botocore.exceptions.BotoCoreError as exc:
                    raise self.error(GatewayAuthError, "AWS credentials could not be loaded", not_sent=True) from exc
            if self._credentials is None:
                raise self.error(GatewayAuthError, "no AWS credentials found", not_sent=True)
            return self._credentials

    def _failure(self, response: VendorResponse) -> GatewayError:
        name, reason = _error_name(response)
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
        name, _reason = _error_name(response)
        if name in AUTH_ERRORS:
            return CredentialCheck("refused", f"AWS refused the credentials ({name})")
        return CredentialCheck("unchecked", f"unexpected answer (HTTP {response.status})")


def _error_name(response: VendorResponse) -> tuple[str | None, str | None]:
    """The AWS error name and its ``Reason``, when they are plain words."""
    try:
        answer = read_json_object(response.body)
    except UnreadableJSON:
        answer = {}
    raw = answer.get("__type") or response.headers.get("X-Amzn-ErrorType") or ""
    name = str(raw).rpartition("#")[2].partition(":")[0]
    reason = answer.get("Reason")
    return (name if _NAME.fullmatch(name) else None,
            reason if isinstance(reason, str) and _NAME.fullmatch(reason) else None)
