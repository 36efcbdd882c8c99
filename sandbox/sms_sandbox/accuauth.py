"""AccuAuth (ADVANCE.AI) ``POST /data/send_sms_otp``.

As AccuAuth's ``send_sms_otp`` page describes it: headers ``X-DF-API-ID`` / ``X-DF-API-SECRET``; fields ``phone_number``
(required), ``template_id`` and ``content`` (template variables ``name:value``
joined by ``,``). The vendor holds the templates and renders the text.
Success: ``{"status": "OK", "charge_info": {"charge": N}, "request_id"}``;
errors: ``{"status", "reason", "request_id"}`` with the documented HTTP status
of each status name.

The body encoding is not published. The sandbox reads form fields, as every
public client sends them: a body of another type (JSON) has no fields, so it
gets the page's own error example, ``argument 'phone_number': not found``.
``phone_number`` may be E.164 with or without ``+``, or national with a
leading ``0``, read as Indonesian (the host's country). Every template needs
the ``code`` variable.
"""

from __future__ import annotations

import re
import uuid
from types import MappingProxyType
from typing import Any

from .base import Request, Response, Vendor, same
from .segments import segments

__all__ = [
    "CREDENTIALS", "DEFAULT_TEMPLATE_ID", "ERROR_STATUSES", "NATIONAL_COUNTRY_CODE", "TEMPLATES", "VENDOR", "AccuAuth",
]

#: Values of the ``X-DF-API-ID`` and ``X-DF-API-SECRET`` headers.
CREDENTIALS = MappingProxyType(
    {"api_id": "sandbox-accuauth-id", "api_secret": "sandbox-accuauth-secret"}
)

#: Template used when the request names none.
DEFAULT_TEMPLATE_ID = "default"
#: The templates "registered" with the sandbox, by ``template_id``.
TEMPLATES = MappingProxyType({
    DEFAULT_TEMPLATE_ID: "Your verification code is {code}. It expires in {expire_at} minutes.",
    "otp_short": "Code: {code}",
})

#: Documented error status names and their HTTP status.
ERROR_STATUSES = MappingProxyType({
    "FAILED": 400,
    "INVALID_ARGUMENT": 400,
    "UNAUTHORIZED": 401,
    "KEY_EXPIRED": 401,
    "NO_PERMISSION": 403,
    "OUT_OF_QUOTA": 403,
    "RATE_LIMIT_EXCEEDED": 403,
    "NOT_FOUND": 404,
    "INTERNAL_ERROR": 500,
})

ROUTE = "/data/send_sms_otp"
_PHONE = re.compile(r"\+?[1-9][0-9]{1,14}")
_NATIONAL = re.compile(r"0[1-9][0-9]{5,13}")
#: Country code a national ``0...`` number is read in: the Indonesian host's.
NATIONAL_COUNTRY_CODE = "62"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_REASONS = {
    "FAILED": "SMS sending failed",
    "UNAUTHORIZED": "Unauthorized or access is denied",
    "KEY_EXPIRED": "Your API ID has expired",
    "NO_PERMISSION": "You are not authorized to use this API",
    "OUT_OF_QUOTA": "API calls quota exceeded",
    "RATE_LIMIT_EXCEEDED": "API request frequency exceeds the limit",
    "NOT_FOUND": "Requested API cannot be found",
    "INTERNAL_ERROR": "Internal server error",
    "INVALID_ARGUMENT": "Request parameter is invalid",
}


class InvalidArgument(ValueError):
    """The request is invalid; the message is the ``reason`` to answer."""


def request_id() -> str:
    """A fresh ``TID`` + 32 hex digits request id."""
    return "TID" + uuid.uuid4().hex


def failure(status_name: str, reason: str | None = None, *, http_status: int | None = None,
            headers: dict[str, str] | None = None) -> Response:
    """An AccuAuth error answer for one of :data:`ERROR_STATUSES`."""
    return Response.json(
        http_status or ERROR_STATUSES[status_name],
        {"status": status_name, "reason": reason or _REASONS[status_name], "request_id": request_id()},
        headers=headers,
    )


def parse_content(content: str) -> dict[str, str]:
    """Template variables from ``"name:value,name:value"``.

    Raises :class:`InvalidArgument` for a pair without ``:``, a bad or repeated
    name, or an empty value.
    """
    variables: dict[str, str] = {}
    for pair in content.split(",") if content else []:
        name, colon, value = pair.partition(":")
        name = name.strip()
        if not colon or not _NAME.fullmatch(name) or not value or name in variables:
            raise InvalidArgument(f"argument 'content': malformed variable {pair!r}, expected name:value")
        variables[name] = value
    return variables


def render(template: str, variables: dict[str, str]) -> str:
    """Fill ``{name}`` placeholders; a missing variable is an invalid argument."""
    def value(match: re.Match[str]) -> str:
        try:
            return variables[match.group(1)]
        except KeyError:
            raise InvalidArgument(f"argument 'content': variable '{match.group(1)}' not found") from None

    return _PLACEHOLDER.sub(value, template)


def compose(fields: dict[str, Any]) -> tuple[str, str]:
    """``(recipient in E.164, rendered text)`` for the request ``fields``."""
    for name in ("phone_number", "template_id", "content"):
        if fields.get(name) is not None and not isinstance(fields[name], str):
            raise InvalidArgument(f"argument '{name}': must be a string")
    phone = fields.get("phone_number")
    if not phone:
        raise InvalidArgument("argument 'phone_number': not found")
    if _NATIONAL.fullmatch(phone):
        phone = NATIONAL_COUNTRY_CODE + phone[1:]
    elif not _PHONE.fullmatch(phone):
        raise InvalidArgument("argument 'phone_number': invalid phone number")
    template_id = fields.get("template_id") or DEFAULT_TEMPLATE_ID
    if template_id not in TEMPLATES:
        raise InvalidArgument(f"argument 'template_id': template {template_id!r} not found")
    variables = parse_content(fields.get("content") or "")
    if "code" not in variables:
        raise InvalidArgument("argument 'content': variable 'code' not found")
    return "+" + phone.lstrip("+"), render(TEMPLATES[template_id], variables)


class AccuAuth(Vendor):
    """AccuAuth's send_sms_otp; stateless apart from the recorded messages."""

    name = "accuauth"
    fault_variants = {"accuauth": tuple(ERROR_STATUSES)}

    def handle(self, request: Request) -> Response:
        if not (same(request.headers.get("X-DF-API-ID", ""), CREDENTIALS["api_id"])
                & same(request.headers.get("X-DF-API-SECRET", ""), CREDENTIALS["api_secret"])):
            return failure("UNAUTHORIZED", "invalid X-DF-API-ID or X-DF-API-SECRET")
        if request.route != ROUTE or request.method != "POST":
            return failure("NOT_FOUND")
        # A form-reading server: any other body (JSON) holds no fields.
        fields = request.parsed() if request.content_type == "application/x-www-form-urlencoded" else {}
        if not isinstance(fields, dict):
            return failure("INVALID_ARGUMENT", "request body is not valid form data")
        try:
            recipient, text = compose(fields)
        except InvalidArgument as exc:
            return failure("INVALID_ARGUMENT", str(exc))
        self._record(self.name, recipient, text)
        return Response.json(200, {"status": "OK", "charge_info": {"charge": segments(text)},
                                   "request_id": request_id()})

    def fault_response(self, key: str, fault: str, request: Request) -> Response:
        if fault == "429":
            return failure("RATE_LIMIT_EXCEEDED", http_status=429, headers={"Retry-After": "1"})
        by_code = {"500": "INTERNAL_ERROR", "401": "UNAUTHORIZED"}
        return failure(by_code.get(fault, fault))


VENDOR = AccuAuth
