"""iP1 SMS authentications: the vendor makes, sends and checks the code.

Wire protocol (vendor document "SMS authentications" and the project's vendor notes),
HTTP Basic auth with the account id (``ip1-12345``) and the API key::

    POST {base_url}/api/authentications
    {"Phone": "4798765432", "From": "Acme", "MessageFormat": "Your code is {0}",
     "Length": 6, "ExpirationTime": 300, "NumericOnly": true}
    200 {"ID": 1, "Phone": ..., "Created": ..., "HasExpired": false, "Expires": ..., "IsUsed": false, "Used": null}

    POST {base_url}/api/authentications/validate
    {"Phone": "4798765432", "Code": "123456"}
    2xx: the code is right (and now used); 4xx: it is not.

The code we made for the challenge is not sent: iP1 makes its own, of
``OTP_SMS_TOKEN_LENGTH`` characters, valid ``OTP_SMS_TOKEN_VALIDITY``
seconds. :class:`~django_sms_gateway.models.SMSDevice` remembers that this
gateway holds the code and asks :meth:`IP1Backend.verify`; throttling,
expiry and single use still apply on our side. When iP1 fails and a later
gateway sends our code, that code is the one that counts.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from ..conf import settings
from ..exceptions import GatewayError, GatewayUnavailable, RequestRejected
from ..origin import ORIGIN_CHECK_ID, origin_binding
from ..text import TemplateError, append_origin_lines, compile_template, origin_line_problem, segment_info
from .addressing import sender_problem
from .base import REQUIRED, SendResult, SMSMessage
from .http import HTTPBackend, VendorResponse

__all__ = ["CODE_LENGTHS", "LIFETIMES", "IP1Backend"]

CREATE_PATH = "/api/authentications"
VALIDATE_PATH = "/api/authentications/validate"
#: ``Length`` the API accepts.
CODE_LENGTHS = range(3, 26)
#: ``ExpirationTime`` (seconds) the API accepts.
LIFETIMES = range(1, 86401)

#: Any brace that is not part of the ``{0}`` placeholder.
_STRAY_BRACE = re.compile(r"[{}]")


class IP1Backend(HTTPBackend):
    """Sends the code through iP1's SMS authentications and checks it there.

    OPTIONS: ``account`` (the account id, ``ip1-...``) and ``api_key``
    (required); ``message_format`` (the text with ``{0}`` where iP1 puts the
    code; default: ``OTP_SMS_MESSAGE`` of the active language rendered with
    ``{0}`` for the code); ``numeric_only`` (default True: digits only, as our
    own codes; False lets iP1 use upper-case letters too); ``sender``
    (``From``; omitted: iP1's default sender); ``base_url`` (default
    ``https://api.ip1sms.com``).
    """

    options: ClassVar[dict[str, Any]] = {
        **HTTPBackend.options,
        "account": REQUIRED,
        "api_key": REQUIRED,
        "message_format": None,
        "numeric_only": True,
    }
    default_base_url: ClassVar[str] = "https://api.ip1sms.com"
    verifies_codes: ClassVar[bool] = True
    #: iP1 does not say how it splits a long authentication text: keep to one SMS.
    max_segments: int = 1

    def check_options(self) -> None:
        for name in ("account", "api_key"):
            value = self.config[name]
            if not isinstance(value, str) or not value.strip():
                raise self.config_error(f"option {name!r} must be a non-empty string")
            if any(not c.isprintable() for c in value):
                raise self.config_error(f"option {name!r} contains control characters")
        if ":" in self.config["account"]:
            raise self.config_error("option 'account' may not contain ':' (it is the Basic auth user name)")
        if not isinstance(self.config["numeric_only"], bool):
            raise self.config_error("option 'numeric_only' must be True or False")
        sender = self.config["sender"]
        problem = sender_problem(sender) if sender is not None else None
        if problem:
            raise self.config_error(f"option 'sender' {problem}")
        length = int(settings.OTP_SMS_TOKEN_LENGTH)
        if length not in CODE_LENGTHS:
            raise self.config_error(f"iP1 makes codes of 3 to 25 characters; OTP_SMS_TOKEN_LENGTH is {length}")
        validity = int(settings.OTP_SMS_TOKEN_VALIDITY)
        if validity not in LIFETIMES:
            raise self.config_error(
                f"iP1 keeps codes 1 to 86400 seconds; OTP_SMS_TOKEN_VALIDITY is {validity}"
            )
        text_format = self.config["message_format"]
        self.uses_site_message = text_format is None
        if text_format is None:
            self._check_default_format(validity)
        else:
            problem = format_problem(text_format)
            if problem:
                raise self.config_error(f"option 'message_format' {problem}")
            binding = origin_binding()
            problem = origin_line_problem(text_format) if binding is not None and binding.origin else None
            if problem:
                raise self.config_error(f"option 'message_format' {problem}", check_id=ORIGIN_CHECK_ID)
            worst = segment_info(append_origin_lines(text_format, "{0}", binding).replace("{0}", "W" * length))
            if worst.segments > self.max_segments:
                raise self.config_error(
                    f"option 'message_format' needs {worst.segments} SMS parts with a {length}-character "
                    f"code; iP1 sends at most {self.max_segments}"
                )

    def _check_default_format(self, validity: int) -> None:
        """OTP_SMS_MESSAGE, rendered with ``{0}``, must be a usable MessageFormat
        (its length is the system check's business: sms_gateway.E003)."""
        try:
            template = compile_template(str(settings.OTP_SMS_MESSAGE))
        except TemplateError:
            return  # reported by the sms_gateway.E002 system check
        rendered = template.render(
            "{0}", minutes=max(1, (validity + 59) // 60), site_name=str(settings.OTP_SMS_SITE_NAME or "")
        )
        problem = format_problem(rendered)
        if problem:
            raise self.config_error(
                f"OTP_SMS_MESSAGE cannot be iP1's MessageFormat: it {problem}; set option 'message_format'"
            )

    # -- sending ------------------------------------------------------------

    def message_format(self, message: SMSMessage) -> str:
        """The ``MessageFormat`` for ``message``."""
        explicit = self.config["message_format"]
        if explicit:  # iP1 puts its code at every {0}, the origin-bound line's too (inferred: .NET format items)
            return append_origin_lines(explicit, "{0}", message.template.binding if message.template else None)
        return message.render("{0}")

    def payload(self, message: SMSMessage) -> dict[str, Any]:
        """The body of the create request; raises :class:`RequestRejected`
        when the message cannot be expressed in iP1's terms (so the next
        gateway sends our own code instead)."""
        length, lifetime = len(message.code), int(message.validity)
        if length not in CODE_LENGTHS:
            raise self.error(RequestRejected, f"code length {length} outside iP1's 3-25")
        if lifetime not in LIFETIMES:
            raise self.error(RequestRejected, f"code lifetime {lifetime}s outside iP1's 1-86400s")
        text_format = self.message_format(message)
        problem = format_problem(text_format)
        if problem:
            raise self.error(RequestRejected, f"message cannot be an iP1 MessageFormat: it {problem}")
        fields: dict[str, Any] = {"Phone": message.recipient.lstrip("+")}
        if self.config["sender"]:
            fields["From"] = self.config["sender"]
        fields.update(
            MessageFormat=text_format,
            Length=length,
            ExpirationTime=lifetime,
            NumericOnly=self.config["numeric_only"],
        )
        return fields

    def send(self, message: SMSMessage, *, timeout: float) -> SendResult:
        response = self.request("POST", CREATE_PATH, timeout=timeout, json=self.payload(message), auth=self.auth)
        self.raise_for_status(response)
        data = self.read_json(response)
        ident = data.get("ID")
        reference = str(ident) if isinstance(ident, int) and not isinstance(ident, bool) else None
        return SendResult(reference=reference, status="created")

    # -- checking -----------------------------------------------------------

    def verify(self, recipient: str, code: str, *, timeout: float) -> bool:
        """Ask iP1 whether ``code`` is the one it sent to ``recipient`` (E.164).

        True for a 2xx answer with a JSON object (the authentication), False
        for a 4xx other than 401/403/429 (wrong, expired or used code).
        Raises :class:`~django_sms_gateway.exceptions.GatewayError` when iP1
        cannot answer (transport failure, 401/403/429, 5xx, unreadable 2xx),
        so the device neither accepts nor counts a failure.

        The code is sent upper-cased: iP1's codes are digits and upper-case
        letters, and people type them in either case.
        """
        response = self.request(
            "POST",
            VALIDATE_PATH,
            timeout=timeout,
            json={"Phone": recipient.lstrip("+"), "Code": code.upper()},
            auth=self.auth,
        )
        if response.ok:
            # Only a real answer accepts a code: an empty or foreign 2xx body
            # (a catch-all server at a wrong base_url) must not let anyone in.
            self.read_json(response)
            return True
        if 400 <= response.status < 500 and response.status not in (401, 403, 429):
            return False
        self.raise_for_status(response)
        raise self.error(GatewayUnavailable, f"unexpected answer (HTTP {response.status})",
                         status_code=response.status)

    @property
    def auth(self) -> tuple[str, str]:
        return (self.config["account"], self.config["api_key"])

    def client_error(self, response: VendorResponse, vendor_status: str | None) -> GatewayError:
        if response.status in (404, 405):
            return self.error(GatewayUnavailable, f"API not found (HTTP {response.status}, check base_url)",
                              status_code=response.status)
        return self.error(RequestRejected, f"request rejected (HTTP {response.status})", status_code=response.status)


def format_problem(text_format: Any) -> str | None:
    """Why ``text_format`` is not a usable iP1 ``MessageFormat``, or None.

    It must contain ``{0}``. Other braces are refused: iP1 documents ``{0}``
    as a .NET-style format item, and a stray brace would make its formatter
    fail or swallow text.
    """
    if not isinstance(text_format, str) or not text_format.strip():
        return "must be a non-empty string containing {0}"
    if "{0}" not in text_format:
        return "must contain {0} (where iP1 puts the code)"
    if _STRAY_BRACE.search(text_format.replace("{0}", "")):
        return "may contain no '{' or '}' other than {0}"
    return None

