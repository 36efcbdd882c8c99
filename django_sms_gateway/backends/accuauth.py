"""AccuAuth (ADVANCE.AI) ``send_sms_otp``: the vendor holds the message
template; we send the code and its lifetime as template variables.

Wire protocol (vendor document ``send_sms_otp`` and the project's vendor notes)::

    POST {base_url}/data/send_sms_otp
    X-DF-API-ID: <api_id>
    X-DF-API-SECRET: <api_secret>

    {"phone_number": "+6281234567890", "template_id": "...", "content": "code:123456,expire_at:5"}

    200 {"status": "OK", "charge_info": {"charge": 1}, "request_id": "TID..."}
    4xx/5xx {"status": "<ERROR STATUS>", "reason": "...", "request_id": "TID..."}

Not published by the vendor, so options (see ``OPTIONS`` below): the body
encoding (``encoding``: JSON assumed, form as the alternative) and the phone
format (``phone_format``: E.164 with ``+`` assumed, bare digits as the
alternative).

The vendor's ``reason`` text is never copied into our errors: it may echo
the number or the content (which holds the code). Our ``reason`` carries the
vendor's status word and, for ``INVALID_ARGUMENT``, the name of the field the
vendor complained about when it is one of the fields we send.
"""

from __future__ import annotations

import json
import re
import string
from dataclasses import dataclass
from typing import Any, ClassVar

from ..exceptions import (
    GatewayAuthError,
    GatewayError,
    GatewayRateLimited,
    GatewayUnavailable,
    RequestRejected,
)
from .base import REQUIRED, SendResult, SMSMessage
from .http import HTTPBackend, VendorResponse

__all__ = [
    "INDIA_BASE_URL",
    "INDONESIA_BASE_URL",
    "STATUS_ERRORS",
    "AccuAuthBackend",
    "ContentError",
    "ContentTemplate",
]

#: Production host for Indonesia (the default).
INDONESIA_BASE_URL = "https://cloudapi.indonesia.accuauth.com"
#: Production host for India.
INDIA_BASE_URL = "https://cloudapi.accuauth.in"

SEND_PATH = "/data/send_sms_otp"
DEFAULT_CONTENT = "code:{token},expire_at:{minutes}"

#: Documented error ``status`` words -> (our error class, our reason). Every
#: one of them tries the next gateway: none says the number itself is bad
#: (we send only numbers that passed ``normalize_number``).
STATUS_ERRORS: dict[str, tuple[type[GatewayError], str]] = {
    # 400: the vendor could not send this SMS; another vendor may.
    "FAILED": (GatewayUnavailable, "sending failed"),
    # 400: our payload does not suit this account (phone format, template id
    # or content variables): our configuration, not the user's number.
    "INVALID_ARGUMENT": (RequestRejected, "request rejected as invalid"),
    # 401/403: credentials or API rights at this vendor.
    "UNAUTHORIZED": (GatewayAuthError, "credentials refused"),
    "KEY_EXPIRED": (GatewayAuthError, "API ID expired"),
    "NO_PERMISSION": (GatewayAuthError, "no permission for send_sms_otp"),
    # 403: our quota or request rate at this vendor.
    "OUT_OF_QUOTA": (GatewayRateLimited, "API quota exhausted"),
    "RATE_LIMIT_EXCEEDED": (GatewayRateLimited, "rate limited"),
    # 404: the API is not at this address: base_url is wrong.
    "NOT_FOUND": (GatewayUnavailable, "API not found (check base_url)"),
    # 500.
    "INTERNAL_ERROR": (GatewayUnavailable, "vendor internal error"),
}

#: Fields we send; an ``INVALID_ARGUMENT`` reason naming one is reported by name.
_FIELDS = ("phone_number", "template_id", "content")
_ARGUMENT = re.compile(r"argument\s+'([a-z_]+)'")
_STATUS_WORD = re.compile(r"[A-Z][A-Z0-9_]{0,31}")
_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PLACEHOLDERS = frozenset({"token", "minutes"})
_REFERENCE = re.compile(r"[\x21-\x7e]{1,128}")


class ContentError(ValueError):
    """A ``content`` option is not usable; the text says why."""


@dataclass(frozen=True)
class ContentTemplate:
    """A checked ``content`` option: ``name:value`` pairs joined by ``,``, whose
    values may use ``{token}`` (required once at least) and ``{minutes}``.

    The code (ASCII digits) and the minutes (an integer) never contain ``,``
    or ``:``, so the rendered content always parses back into the same pairs.
    Literal ``{`` and ``}`` are written ``{{`` and ``}}`` (``str.format`` rules).
    """

    source: str

    def __post_init__(self) -> None:
        if not isinstance(self.source, str) or not self.source:
            raise ContentError("must be a non-empty string such as 'code:{token},expire_at:{minutes}'")
        names: set[str] = set()
        used: set[str] = set()
        for pair in self.source.split(","):
            name, colon, value = pair.partition(":")
            if not colon or not value:
                raise ContentError(f"{pair!r} is not a name:value pair (pairs are joined by ',')")
            if not _VARIABLE_NAME.fullmatch(name):
                raise ContentError(f"{name!r} is not a template variable name")
            if name in names:
                raise ContentError(f"variable {name!r} is given twice")
            names.add(name)
            used |= self._placeholders(value)
        if "token" not in used:
            raise ContentError("must carry the code: put {token} in one variable's value")

    @staticmethod
    def _placeholders(value: str) -> set[str]:
        try:
            parsed = list(string.Formatter().parse(value))
        except ValueError as exc:
            raise ContentError(f"value {value!r} is malformed: {exc}") from None
        found = set()
        for literal, field, spec, conversion in parsed:
            if ":" in literal:
                raise ContentError(f"value {value!r} contains ':', which would split the pair")
            if field is None:
                continue
            if field not in _PLACEHOLDERS:
                raise ContentError(f"unknown placeholder {{{field}}} (allowed: {{token}}, {{minutes}})")
            if spec or conversion:
                raise ContentError(f"placeholder {{{field}}} may not carry a format spec or conversion")
            found.add(field)
        return found

    def render(self, token: str, minutes: int) -> str:
        return self.source.format(token=token, minutes=minutes)


class AccuAuthBackend(HTTPBackend):
    """Sends the code through AccuAuth's ``send_sms_otp``.

    OPTIONS: ``api_id`` and ``api_secret`` (required); ``template_id`` (the
    template AccuAuth registered for you; omitted: the account's default);
    ``content`` (template variables, default ``code:{token},expire_at:{minutes}``);
    ``encoding`` (``"json"``, default, or ``"form"``); ``phone_format``
    (``"e164"``, default: ``+6281...``, or ``"digits"``: ``6281...``);
    ``base_url`` (default the Indonesian host; :data:`INDIA_BASE_URL` for
    India). ``sender`` is accepted for uniformity with the other backends
    but unused: the API has no sender field (the sender belongs to the
    template registered at AccuAuth).

    :class:`~django_sms_gateway.backends.base.SendResult` carries
    ``reference`` = ``request_id`` and ``charge`` = ``charge_info.charge``
    (the number of billed SMS, which is also the number of parts).
    """

    options: ClassVar[dict[str, Any]] = {
        **HTTPBackend.options,
        "api_id": REQUIRED,
        "api_secret": REQUIRED,
        "template_id": None,
        "content": DEFAULT_CONTENT,
        "encoding": "json",
        "phone_format": "e164",
    }
    default_base_url: ClassVar[str] = INDONESIA_BASE_URL
    #: The vendor renders the text from its own template, not OTP_SMS_MESSAGE,
    #: so our template's length says nothing about the parts sent; the
    #: billed count comes back as ``charge``. 255 is the most parts a
    #: concatenated SMS can have.
    max_segments: int = 255
    #: The text is AccuAuth's template, which we cannot end with OTP_SMS_ORIGIN's line.
    adds_origin_lines: ClassVar[bool] = False

    def check_options(self) -> None:
        for name in ("api_id", "api_secret"):
            value = self.config[name]
            if not isinstance(value, str) or not value.strip():
                raise self.config_error(f"option {name!r} must be a non-empty string")
            if any(not c.isprintable() for c in value):
                raise self.config_error(f"option {name!r} contains control characters")
        template_id = self.config["template_id"]
        if template_id is not None and (not isinstance(template_id, str) or not template_id.strip()):
            raise self.config_error("option 'template_id' must be a non-empty string or None")
        try:
            self.content = ContentTemplate(self.config["content"])
        except ContentError as exc:
            raise self.config_error(f"option 'content' {exc}") from None
        if self.config["encoding"] not in ("json", "form"):
            raise self.config_error(f"option 'encoding' must be 'json' or 'form', not {self.config['encoding']!r}")
        if self.config["phone_format"] not in ("e164", "digits"):
            raise self.config_error(
                f"option 'phone_format' must be 'e164' or 'digits', not {self.config['phone_format']!r}"
            )

    # -- request ------------------------------------------------------------

    def payload(self, message: SMSMessage) -> dict[str, str]:
        """The request fields for ``message``."""
        phone = message.recipient if self.config["phone_format"] == "e164" else message.recipient.lstrip("+")
        fields = {"phone_number": phone}
        if self.config["template_id"] is not None:
            fields["template_id"] = self.config["template_id"]
        fields["content"] = self.content.render(message.code, message.minutes)
        return fields

    def send(self, message: SMSMessage, *, timeout: float) -> SendResult:
        fields = self.payload(message)
        body = {"json": fields} if self.config["encoding"] == "json" else {"data": fields}
        response = self.request(
            "POST",
            SEND_PATH,
            timeout=timeout,
            headers={"X-DF-API-ID": self.config["api_id"], "X-DF-API-SECRET": self.config["api_secret"]},
            **body,
        )
        return self.read_result(response)

    # -- answer -------------------------------------------------------------

    def read_result(self, response: VendorResponse) -> SendResult:
        """The result of an ``OK`` answer; any other answer raises the
        :class:`GatewayError` of its ``status`` (or of its HTTP status when
        the ``status`` word is not a documented one)."""
        data = self._json_object(response)
        fields = data if data is not None else {}
        status = fields.get("status")
        word = status if isinstance(status, str) and _STATUS_WORD.fullmatch(status) else None
        if response.ok and word == "OK":
            charge = _charge(fields.get("charge_info"))
            reference = _reference(fields.get("request_id"))
            return SendResult(reference=reference, status="OK", segments=charge, charge=charge)
        if word in STATUS_ERRORS:
            cls, reason = STATUS_ERRORS[word]
            if word == "INVALID_ARGUMENT":
                reason += _argument_named(fields.get("reason"))
            raise self.error(cls, f"{reason} ({word}, HTTP {response.status})",
                             status_code=response.status, vendor_status=word)
        self.raise_for_status(response, vendor_status=word)
        if data is None:
            # 2xx and not JSON: we cannot tell whether the SMS was accepted.
            raise self.error(GatewayUnavailable, "unreadable answer (not a JSON object)", status_code=response.status)
        raise self.error(
            GatewayUnavailable,
            f"unexpected status {word or 'missing'} (HTTP {response.status})",
            status_code=response.status, vendor_status=word,
        )

    def client_error(self, response: VendorResponse, vendor_status: str | None) -> GatewayError:
        if response.status == 404:
            return self.error(GatewayUnavailable, "API not found (HTTP 404, check base_url)",
                              status_code=404, vendor_status=vendor_status)
        return super().client_error(response, vendor_status)

    @staticmethod
    def _json_object(response: VendorResponse) -> dict[str, Any] | None:
        try:
            data = json.loads(response.body)
        except (ValueError, UnicodeDecodeError):
            return None
        return data if isinstance(data, dict) else None


def _charge(charge_info: Any) -> int | None:
    """``charge_info.charge`` when it is a non-negative integer, else None.

    The SMS was accepted by then: a missing or odd charge must not turn the
    send into a failure (the next gateway would send a second SMS)."""
    if not isinstance(charge_info, dict):
        return None
    charge = charge_info.get("charge")
    if isinstance(charge, bool) or not isinstance(charge, int) or not 0 <= charge <= 2**31 - 1:
        return None
    return charge


def _reference(value: Any) -> str | None:
    """The vendor's ``request_id`` when it is printable ASCII, at most 128 characters."""
    return value if isinstance(value, str) and _REFERENCE.fullmatch(value) else None


def _argument_named(reason: Any) -> str:
    """``" (argument 'content')"`` when the vendor's reason names one of our
    fields, else ``""``. Only the field name is kept, never the vendor text."""
    if not isinstance(reason, str):
        return ""
    match = _ARGUMENT.search(reason[:500])
    if match and match.group(1) in _FIELDS:
        return f" (argument {match.group(1)!r})"
    return ""
