"""AccuAuth (ADVANCE.AI) ``send_sms_otp``: the vendor holds the message
template; we send the code and its lifetime as template variables.

Source: AccuAuth's ``send_sms_otp`` API page (Indonesian host): ``POST
/data/send_sms_otp``, headers ``X-DF-API-ID`` / ``X-DF-API-SECRET``, fields
``phone_number``, ``template_id`` and ``content`` (``code:1234,expire_at:5``);
``200 {"status": "OK", "charge_info": {"charge": N}, "request_id"}``; errors
``{"status", "reason", "request_id"}`` with each status word's HTTP status.
The India host (:data:`INDIA_BASE_URL`) is not on a public page we found.
*Inferred*, so options: ``encoding`` (``form``: every public client sends
form fields, and the page's error example ``argument 'phone_number': not
found`` is what a form-reading server answers to JSON) and ``phone_format``.

No delivery receipts: the page documents no callback field and no status
endpoint, and ``OK`` says the request succeeded; ``receipts`` stays False.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from ..exceptions import GatewayAuthError, GatewayError, GatewayRateLimited, GatewayUnavailable, RequestRejected
from .base import PHONE_FORMATS, CredentialCheck, Option, SendResult, SMSMessage
from .http import HTTPBackend, VendorResponse, json_object_or_none, whole_number
from .templates import content_problem

__all__ = ["INDIA_BASE_URL", "INDONESIA_BASE_URL", "STATUS_ERRORS", "AccuAuthBackend"]

#: Production host for Indonesia (the default).
INDONESIA_BASE_URL = "https://cloudapi.indonesia.accuauth.com"
#: Production host for India.
INDIA_BASE_URL = "https://cloudapi.accuauth.in"

SEND_PATH = "/data/send_sms_otp"
DEFAULT_CONTENT = "code:{token},expire_at:{minutes}"

#: Documented error ``status`` words -> (our error class, our reason). Each
#: tries the next gateway: none says the number itself is bad (we send only
#: normalised numbers), and INVALID_ARGUMENT means our payload does not suit
#: this account (phone format, template id or content variables).
STATUS_ERRORS: dict[str, tuple[type[GatewayError], str]] = {
    "FAILED": (GatewayUnavailable, "sending failed"),  # 400
    "INVALID_ARGUMENT": (RequestRejected, "request rejected as invalid"),  # 400
    "UNAUTHORIZED": (GatewayAuthError, "credentials refused"),  # 401
    "KEY_EXPIRED": (GatewayAuthError, "API ID expired"),  # 401
    "NO_PERMISSION": (GatewayAuthError, "no permission for send_sms_otp"),  # 403
    "OUT_OF_QUOTA": (GatewayRateLimited, "API quota exhausted"),  # 403
    "RATE_LIMIT_EXCEEDED": (GatewayRateLimited, "rate limited"),  # 403
    "NOT_FOUND": (GatewayUnavailable, "API not found (check base_url)"),  # 404
    "INTERNAL_ERROR": (GatewayUnavailable, "vendor internal error"),  # 500
}

#: Fields we send; an ``INVALID_ARGUMENT`` reason naming one is reported by name.
_FIELDS = ("phone_number", "template_id", "content")
_ARGUMENT = re.compile(r"argument\s+'([a-z_]+)'")
_STATUS_WORD = re.compile(r"[A-Z][A-Z0-9_]{0,31}")
_REFERENCE = re.compile(r"[\x21-\x7e]{1,128}")


class AccuAuthBackend(HTTPBackend):
    """Sends the code through AccuAuth's ``send_sms_otp`` (``sender`` is
    accepted but unused: the sender belongs to AccuAuth's template)."""

    options: ClassVar[dict[str, Any]] = {
        **HTTPBackend.options,
        "api_id": Option(kind="credential", doc="X-DF-API-ID."),
        "api_secret": Option(kind="secret", doc="X-DF-API-SECRET."),
        "template_id": Option(None, kind="text", doc="Template registered at AccuAuth (default: the account's)."),
        "content": Option(DEFAULT_CONTENT, kind="text", check=content_problem,
                          doc="Template variables name:value joined by ',', with {token} and {minutes}."),
        "encoding": Option("form", kind="choice", choices=("form", "json"), doc="How the body is encoded."),
        "phone_format": Option("e164", kind="choice", choices=tuple(PHONE_FORMATS),
                               doc="phone_number as +6281... (e164), 6281... (digits) or 081... (national)."),
    }
    default_base_url: ClassVar[str] = INDONESIA_BASE_URL
    wrong_url_statuses: ClassVar[frozenset[int]] = frozenset({404})
    #: The vendor renders the text from its own template, so OTP_SMS_MESSAGE's
    #: length says nothing about the parts sent; the billed count comes back
    #: as ``charge``. 255 is the most parts a concatenated SMS can have.
    max_segments: int = 255
    #: The text is AccuAuth's template, which we cannot end with OTP_SMS_ORIGIN's line.
    adds_origin_lines: ClassVar[bool] = False

    def check_credentials(self, *, timeout: float) -> CredentialCheck:
        return CredentialCheck("unsupported", "AccuAuth has no call that checks credentials; only a real send can tell")

    # -- request ------------------------------------------------------------

    def payload(self, message: SMSMessage) -> dict[str, str]:
        """The request fields for ``message``."""
        fields = {"phone_number": PHONE_FORMATS[self.config["phone_format"]](message.recipient)}
        if self.config["template_id"] is not None:
            fields["template_id"] = self.config["template_id"]
        # The option's check (a ContentTemplate) vouched that str.format fills exactly these two names.
        fields["content"] = self.config["content"].format(token=message.code, minutes=message.minutes)
        return fields

    def send(self, message: SMSMessage, *, timeout: float) -> SendResult:
        fields = self.payload(message)
        body = {"json": fields} if self.config["encoding"] == "json" else {"data": fields}
        headers = {"X-DF-API-ID": self.config["api_id"], "X-DF-API-SECRET": self.config["api_secret"]}
        return self.read_result(self.request("POST", SEND_PATH, timeout=timeout, headers=headers, **body))

    # -- answer -------------------------------------------------------------

    def read_result(self, response: VendorResponse) -> SendResult:
        """The result of an ``OK`` answer; any other answer raises the
        :class:`GatewayError` of its ``status`` (or of its HTTP status when
        the ``status`` word is not a documented one)."""
        data = json_object_or_none(response.body)
        fields = data if data is not None else {}
        status = fields.get("status")
        word = status if isinstance(status, str) and _STATUS_WORD.fullmatch(status) else None
        if response.ok and word == "OK":
            # The SMS was accepted: an odd charge or request_id is left out, never a failure
            # (the next gateway would send a second SMS). The charge is the billed SMS parts.
            charge_info = fields.get("charge_info")
            charge = whole_number(charge_info.get("charge"), 0, 2**31 - 1) if isinstance(charge_info, dict) else None
            reference = fields.get("request_id")
            reference = reference if isinstance(reference, str) and _REFERENCE.fullmatch(reference) else None
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


def _argument_named(reason: Any) -> str:
    """``" (argument 'content')"`` when the vendor's reason names one of our
    fields, else ``""``. Only the field name is kept, never the vendor's
    text (it may echo the number, or the content, which holds the code)."""
    if not isinstance(reason, str):
        return ""
    match = _ARGUMENT.search(reason[:500])
    if match and match.group(1) in _FIELDS:
        return f" (argument {match.group(1)!r})"
    return ""
