"""iP1 SMS authentications: the vendor makes, sends and checks the code.

Sources: iP1's API help (https://api.ip1sms.com/Help), one page per endpoint:
POST-api-authentications, POST-api-authentications-validate (a wrong code is
a 200 with ``"Valid": false``), GET-api-authentications-settings
(``ConcurrentLimit``, the active authentications allowed per phone); HTTP
Basic with the account id ``ip1-12345`` and the API key: iP1's REST API guide
(https://github.com/iP1SMS/documentation, REST-API.md). *Inferred*, each a
hook: ``Phone`` as digits without ``+`` (:meth:`~IP1Backend.phone`),
upper-case codes (:meth:`~IP1Backend.vendor_code`), how the ConcurrentLimit
refusal reads (:meth:`~IP1Backend.concurrent_limit_reached`), one SMS part
(``max_segments``), a v2 key's shape (:func:`api_key_problem`), the
``MessageFormat`` rule (:func:`~django_sms_gateway.backends.templates.format_problem`).

No delivery receipts: the authentications API takes no callback and its
answer says nothing of delivery (POST-api-authentications), so ``receipts``
stays False.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from ..checks import E005
from ..conf import settings
from ..exceptions import GatewayError, GatewayUnavailable, RequestRejected
from ..text import append_origin_lines
from .base import CredentialCheck, Option, SendResult, SMSMessage, matches
from .http import HTTPBackend, UnreadableJSON, VendorResponse, json_object_or_empty, read_json, whole_number
from .templates import CODE_SLOT, configured_format_problem, format_problem

__all__ = ["CODE_LENGTHS", "LIFETIMES", "ConcurrentLimitReached", "IP1Backend", "api_key_problem"]

CREATE_PATH = "/api/authentications"
VALIDATE_PATH = "/api/authentications/validate"
SETTINGS_PATH = "/api/authentications/settings"
#: ``Length`` and ``ExpirationTime`` (seconds) the API accepts.
CODE_LENGTHS = range(3, 26)
LIFETIMES = range(1, 86401)

_JWT = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


class ConcurrentLimitReached(RequestRejected):
    """iP1 refused a new authentication: the number already has as many
    active ones as the account's ``ConcurrentLimit`` allows. The next
    gateway sends our own code instead."""


def api_key_problem(value: str) -> str | None:
    """Refuses what looks like a ``/v2`` Bearer token (a ``Bearer`` prefix or
    a JWT), which the v1 authentications API rejects."""
    if value.lower().startswith("bearer ") or _JWT.fullmatch(value):
        return ("looks like an iP1 v2 Bearer token; SMS authentications use the v1 API: "
                "give the API key shown with your account id (ip1-...) in iP1's portal")
    return None


class IP1Backend(HTTPBackend):
    """Sends the code through iP1's SMS authentications and checks it there."""

    options: ClassVar[dict[str, Any]] = {
        **HTTPBackend.options,
        "account": Option(kind="credential", doc="Account id, ip1-NNNNN (Basic auth user).", check=matches(
            r"ip1-[0-9]+", "must be your iP1 account id, such as 'ip1-12345' (the user name of iP1's v1 API)")),
        "api_key": Option(kind="secret", check=api_key_problem, doc="The account's v1 API key (Basic auth password)."),
        "message_format": Option(None, check=format_problem,
                                 doc="SMS text with {0} for iP1's code (default: OTP_SMS_MESSAGE)."),
        "numeric_only": Option(True, kind="bool", doc="Digits only (False: upper-case letters too)."),
    }
    default_base_url: ClassVar[str] = "https://api.ip1sms.com"
    verifies_codes: ClassVar[bool] = True
    #: iP1 does not say how it splits a long authentication text: keep to one SMS.
    max_segments: int = 1
    wrong_url_statuses: ClassVar[frozenset[int]] = frozenset({404, 405})

    def check_options(self) -> None:
        length, validity = settings.OTP_SMS_TOKEN_LENGTH, settings.OTP_SMS_TOKEN_VALIDITY
        if length not in CODE_LENGTHS:
            raise self.config_error(f"iP1 makes codes of 3 to 25 characters; OTP_SMS_TOKEN_LENGTH is {length}")
        if validity not in LIFETIMES:
            raise self.config_error(f"iP1 keeps codes 1 to 86400 seconds; OTP_SMS_TOKEN_VALIDITY is {validity}")
        self.uses_site_message = self.config["message_format"] is None
        problem = configured_format_problem(self.config["message_format"], code_length=length, validity=validity,
                                            max_segments=self.max_segments)
        if problem:
            raise self.config_error(problem.text, check_id=problem.check_id or E005)

    # -- hooks for what iP1 does not document ---------------------------------

    def message_format(self, message: SMSMessage) -> str:
        """The ``MessageFormat`` for ``message``: iP1 puts its code at every
        ``{0}``, the origin-bound line's too."""
        explicit = self.config["message_format"]
        if explicit:
            return append_origin_lines(explicit, CODE_SLOT, message.template.binding if message.template else None)
        return message.render(CODE_SLOT)

    def phone(self, recipient: str) -> str:
        """``Phone`` for an E.164 number: international digits without ``+``."""
        return recipient.lstrip("+")

    def vendor_code(self, code: str) -> str:
        """The code as iP1 wrote it: its letters are upper-case, people type either."""
        return code.upper()

    def code_accepted(self, answer: Any) -> bool:
        """Whether a 2xx validate answer accepts the code: only the boolean
        ``"Valid": true`` does (iP1 answers a wrong code with 200 too)."""
        return isinstance(answer, dict) and answer.get("Valid") is True

    def concurrent_limit_reached(self, response: VendorResponse) -> bool:
        """Whether a refused create says the number has too many active
        authentications: a 4xx whose ``Message`` speaks of a limit of
        concurrent or active authentications."""
        answer = json_object_or_empty(response.body) if response.status in (400, 403, 409, 429) else {}
        text = str(answer.get("Message", "")).lower()
        return "concurrent" in text or ("active" in text and "limit" in text)

    # -- the request and the answer ------------------------------------------

    def payload(self, message: SMSMessage) -> dict[str, Any]:
        """The create request; :class:`RequestRejected` when the message cannot
        be put in iP1's terms (the next gateway then sends our own code)."""
        length, lifetime = len(message.code), int(message.validity)
        if length not in CODE_LENGTHS:
            raise self.error(RequestRejected, f"code length {length} outside iP1's 3-25")
        if lifetime not in LIFETIMES:
            raise self.error(RequestRejected, f"code lifetime {lifetime}s outside iP1's 1-86400s")
        text_format = self.message_format(message)
        problem = format_problem(text_format)
        if problem:
            raise self.error(RequestRejected, f"message cannot be an iP1 MessageFormat: it {problem}")
        fields: dict[str, Any] = {"Phone": self.phone(message.recipient)}
        if self.config["sender"]:
            fields["From"] = self.config["sender"]
        fields.update(MessageFormat=text_format, Length=length, ExpirationTime=lifetime,
                      NumericOnly=self.config["numeric_only"])
        return fields

    def send(self, message: SMSMessage, *, timeout: float) -> SendResult:
        response = self.request("POST", CREATE_PATH, timeout=timeout, json=self.payload(message), auth=self.auth)
        if self.concurrent_limit_reached(response):
            raise self.error(ConcurrentLimitReached, "too many active iP1 authentications for this number",
                             status_code=response.status, vendor_status="ConcurrentLimit")
        self.raise_for_status(response)
        ident = whole_number(self.read_json(response).get("ID"))
        if ident is None:
            raise self.error(GatewayUnavailable, "answer without an authentication ID", status_code=response.status)
        return SendResult(reference=str(ident), status="created")

    def verify(self, recipient: str, code: str, *, timeout: float) -> bool:
        """True only for a 2xx saying ``"Valid": true``; False for a wrong code
        (any other 2xx JSON, a 4xx but 401/403/429); a GatewayError when iP1
        cannot answer (nothing accepted, nothing counted)."""
        fields = {"Phone": self.phone(recipient), "Code": self.vendor_code(code)}
        response = self.request("POST", VALIDATE_PATH, timeout=timeout, json=fields, auth=self.auth)
        if response.ok:
            try:
                answer = read_json(response.body)
            except UnreadableJSON as exc:
                raise self.error(GatewayUnavailable, "unreadable answer", status_code=response.status) from exc
            return self.code_accepted(answer)
        if 400 <= response.status < 500 and response.status not in (401, 403, 429):
            return False
        self.raise_for_status(response)
        raise self.error(GatewayUnavailable, f"unexpected answer (HTTP {response.status})",
                         status_code=response.status)

    def check_credentials(self, *, timeout: float) -> CredentialCheck:
        """Reads the account's authentication settings: nothing is sent."""
        try:
            response = self.request("GET", SETTINGS_PATH, timeout=timeout, auth=self.auth)
            if response.status in (401, 403):
                return CredentialCheck("refused", f"iP1 refused the account id and API key (HTTP {response.status})")
            self.raise_for_status(response)
            limit = whole_number(self.read_json(response).get("ConcurrentLimit"))
        except GatewayError as exc:
            return CredentialCheck("unchecked", f"no verdict from iP1: {exc.reason}")
        if limit is None:
            return CredentialCheck("unchecked", "unexpected answer from iP1 (no authentication settings)")
        return CredentialCheck("accepted", f"iP1 accepted the account id and API key (ConcurrentLimit {limit})")

    @property
    def auth(self) -> tuple[str, str]:
        return (self.config["account"], self.config["api_key"])
