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
"""

from __future__ import annotations

import re
import secrets
from types import MappingProxyType
from typing import Any

from .base import E164, Request, Response, Vendor, parse_body, same

__all__ = ["AWS", "CREDENTIALS", "OPTED_OUT_PREFIX", "VENDOR"]

CREDENTIALS = MappingProxyType(
    {"aws_access_key_id": "AKIASANDBOXEXAMPLE01", "aws_secret_access_key": "sandbox-aws-secret-access-key"}
)
OPTED_OUT_PREFIX = "+1500555"
_MEDIA_TYPE = "application/x-amz-json-1.0"
_AUTH = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[A-Z0-9]+)/(?P<date>[0-9]{8})/(?P<region>[a-z0-9-]+)/"
    r"(?P<service>[a-z0-9-]+)/aws4_request, ?SignedHeaders=(?P<signed>[a-z0-9;-]+), ?Signature=(?P<sig>[0-9a-f]{64})"
)


def aws_error(status: int, name: str, message: str, **extra: str) -> Response:
    """An AWS JSON-protocol error answer."""
    return Response.json(status, {"__type": name, "message": message, **extra},
                         content_type=_MEDIA_TYPE, headers={"X-Amzn-ErrorType": name})


class AWS(Vendor):
    """SendTextMessage and DescribeAccountAttributes. Fault key ``aws``;
    own faults ``throttled`` and ``validation``."""

    name = "aws"
    fault_variants = {"aws": ("throttled", "validation")}

    def handle(self, request: Request) -> Response:
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
        if not payload.get("DryRun"):
            self._record(self.name, number, payload["MessageBody"])
        return Response.json(200, {"MessageId": secrets.token_hex(16)},
                             content_type=_MEDIA_TYPE)

    def fault_response(self, key: str, fault: str, request: Request) -> Response:
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
