"""ZignSec Two-Factor Authentication SMS v5: the session request and its answers.

Sources: ZignSec, "Two-Factor Authentication SMS, Version 5"
(https://docs.zignsec.com/2fa/sms-verification/): ``POST
/core/api/sessions/two_factor_auth/sms`` with ``{"metadata": {"from", "to",
"message", "max_message_parts"}, "relay_state"?, "webhook"?}`` answers ``200
{"data": {"id", "status": "pending"}}``, or 400, 401, 404, 500; ``GET
/core/api/sessions/{id}`` gives ``data.status`` and
``data.number_of_message_parts``; the key goes raw in ``Authorization``.
ZignSec's general API page (https://docs.zignsec.com/api/api-general/): new
APIs take it in ``Zs-Product-Key`` (option ``auth_scheme``). The error object
``{"errors": [{"code", "description"}]}``:
https://docs.zignsec.com/api-2/error-handling/. *Inferred*: that the v5
gateway answers that object (a bare ``message`` is read too), the status
vocabulary (options ``final_statuses`` and ``failed_statuses``: the page
names no failure words), alphanumeric senders. Webhooks and
status polling live in :mod:`django_sms_gateway.webhooks.zignsec`.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import quote

from ..exceptions import GatewayError, GatewayUnavailable, RequestRejected
from .base import SEGMENTS_MAX, CredentialCheck, Option, SendResult, SMSMessage, status_words_problem
from .http import HTTPBackend, VendorResponse, json_object_or_empty, summarize, whole_number

__all__ = ["AUTH_SCHEMES", "SESSION_ID", "SessionStatus", "ZignSecBackend", "error_messages"]

SEND_PATH = "/core/api/sessions/two_factor_auth/sms"
SESSION_PATH = "/core/api/sessions/{id}"
#: ``auth_scheme`` -> the header that carries the key.
AUTH_SCHEMES: Mapping[str, str] = {"authorization": "Authorization", "zs-product-key": "Zs-Product-Key"}
#: What a session id may look like before it goes into a URL or the database.
SESSION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


@dataclass(frozen=True, slots=True)
class SessionStatus:
    """A session's state as ZignSec reports it; ``status`` is kept raw."""

    session_id: str
    status: str
    segments: int | None = None
    final_statuses: frozenset[str] = frozenset({"delivered"})

    @property
    def final(self) -> bool:
        """True when the status cannot change any more (compared without
        case; unknown words: False)."""
        return self.status.casefold() in {word.casefold() for word in self.final_statuses}


class ZignSecBackend(HTTPBackend):
    """Sends through ZignSec's two-factor SMS sessions (options: :attr:`options`)."""

    options: ClassVar[Mapping[str, Any]] = {
        **HTTPBackend.options,
        "sender": Option(None, kind="sender", doc="metadata.from (falls back to OTP_SMS_SENDER)"),
        "api_key": Option(kind="secret", doc="the API key (subscription key) from ZignSec"),
        "auth_scheme": Option("authorization", kind="choice", choices=tuple(AUTH_SCHEMES),
                              doc="header carrying the key: legacy raw Authorization, or Zs-Product-Key"),
        "max_message_parts": Option(1, kind="int", minimum=1, maximum=255,
                                    doc="most SMS parts a message may take, sent as metadata.max_message_parts"),
        "webhook_url": Option(None, kind="url", doc="sent as each session's webhook"),
        "webhook_secret": Option(None, kind="secret", doc="key that verifies webhook signatures"),
        "final_statuses": Option(("delivered",), check=status_words_problem,
                                 doc="status words after which a session does not change (any case)"),
        "failed_statuses": Option(("failed", "undelivered", "expired", "rejected"), check=status_words_problem,
                                  doc="final status words that say the SMS will not be delivered (any case)"),
    }
    default_base_url: ClassVar[str] = "https://gateway.zignsec.com"
    #: Statuses of a session just created that mean ZignSec took the message
    #: (the page: "Typically ``pending``"); a subclass may add more.
    accepted_statuses: ClassVar[frozenset[str]] = frozenset({"pending"})
    #: Set from the ``final_statuses`` option (the ``failed_statuses`` words are final too).
    final_statuses: frozenset[str]
    #: Set from the ``failed_statuses`` option, casefolded.
    failed_statuses: frozenset[str]
    #: Error descriptions a reason may repeat: ZignSec's 2FA SMS v5 page lists
    #: these error types; the exact text of an answer's description is
    #: *inferred*. Any other shows as "unlisted vendor message".
    known_errors: ClassVar[tuple[str, ...]] = (
        "invalid request", "the request is malformed", "unauthorized", "not found",
    )

    def check_options(self) -> None:
        self.max_segments = self.config["max_message_parts"]
        self.failed_statuses = frozenset(word.casefold() for word in self.config["failed_statuses"])
        self.final_statuses = frozenset(self.config["final_statuses"])
        if self.config["webhook_url"] and not self.config["webhook_secret"]:
            raise self.config_error("option 'webhook_url' needs 'webhook_secret' too, to verify its webhooks")
        if self.config["sender"] is None:
            raise self.config_error("option 'sender' is required by ZignSec (or set OTP_SMS_SENDER)")

    @property
    def receipts(self) -> bool:
        """True when ``webhook_url`` is set (it needs ``webhook_secret``): each
        session then reports its status there."""
        return bool(self.config["webhook_url"])

    def delivery_of(self, status: str) -> str | None:
        """``"delivered"`` or ``"failed"`` (``DeliveryRecord.Delivery``) for a
        final word, None for one on the way: a final word not in
        ``failed_statuses`` says the SMS was delivered."""
        word = status.casefold()
        if word in self.failed_statuses:
            return "failed"
        return "delivered" if word in {w.casefold() for w in self.final_statuses} else None

    def auth_headers(self) -> dict[str, str]:
        """The header that authenticates a call (``auth_scheme``)."""
        return {AUTH_SCHEMES[self.config["auth_scheme"]]: self.config["api_key"]}

    def send(self, message: SMSMessage, *, timeout: float) -> SendResult:
        payload, segments = self.build_payload(message)
        response = self.request("POST", SEND_PATH, timeout=timeout, json=payload, headers=self.auth_headers())
        if response.status == 400:
            raise self._rejected(response, message)
        self.raise_for_status(response)
        data = self.read_json(response).get("data") if response.status == 200 else None
        session_id, status = (data.get("id"), data.get("status")) if isinstance(data, dict) else (None, None)
        if not isinstance(session_id, str) or not SESSION_ID.fullmatch(session_id):
            raise self.error(GatewayUnavailable, "answer without a usable session id", status_code=response.status)
        # Final words are not a yes: a final status may be a failure.
        if not isinstance(status, str) or status.casefold() not in {w.casefold() for w in self.accepted_statuses}:
            raise self.error(GatewayUnavailable, "answer does not say the session was accepted",
                             status_code=response.status)
        return SendResult(reference=session_id, status=status[:32], segments=segments)

    def build_payload(self, message: SMSMessage) -> tuple[dict[str, Any], int]:
        """The session request for ``message`` and the parts its text takes;
        a GatewayError, with nothing sent, when ZignSec could not take it."""
        sender, info = self.checked_text_message(message, f"max_message_parts is {self.max_segments}")
        payload: dict[str, Any] = {
            "metadata": {"from": sender, "to": message.recipient, "message": message.text,
                         "max_message_parts": self.max_segments},
            # Ours, to match ZignSec's logs with ours: never the number or the code.
            "relay_state": f"{self.alias[:32]}.{secrets.token_hex(8)}",
        }
        if self.config["webhook_url"]:
            payload["webhook"] = self.config["webhook_url"]
        return payload, info.segments

    def _rejected(self, response: VendorResponse, message: SMSMessage) -> GatewayError:
        detail = summarize(error_messages(response.body), known=self.known_errors)
        return self.error(RequestRejected, "request rejected (HTTP 400)" + (f": {detail}" if detail else ""),
                          status_code=400)

    def session_status(self, session_id: str, *, timeout: float | None = None) -> SessionStatus:
        """``GET /core/api/sessions/{id}``: :class:`RequestRejected` for an
        unknown session, ``ValueError`` for a malformed id."""
        if not isinstance(session_id, str) or not SESSION_ID.fullmatch(session_id):
            raise ValueError(f"not a ZignSec session id: {session_id!r}")
        response = self.request("GET", SESSION_PATH.format(id=quote(session_id, safe="")),
                                timeout=self.timeout if timeout is None else timeout, headers=self.auth_headers())
        if response.status == 404:
            raise self.error(RequestRejected, "session not found (HTTP 404)", status_code=404)
        self.raise_for_status(response)
        data = self.read_json(response).get("data")
        data = data if isinstance(data, dict) else {}
        status, parts = data.get("status"), data.get("number_of_message_parts")
        if not isinstance(status, str) or not status:
            raise self.error(GatewayUnavailable, "status answer without a status", status_code=response.status)
        return SessionStatus(session_id, status[:32], whole_number(parts, 0, SEGMENTS_MAX), self.final_statuses)

    def check_credentials(self, *, timeout: float) -> CredentialCheck:
        """Read a session that cannot exist: 404 means the key was taken, 401/403 refused."""
        try:
            self.session_status(str(uuid.uuid4()), timeout=timeout)
        except RequestRejected:
            return CredentialCheck("accepted", "ZignSec took the API key (unknown session: 404)")
        except GatewayError as error:
            if error.status_code in (401, 403):
                return CredentialCheck("refused", f"ZignSec refused the API key (HTTP {error.status_code})")
            return CredentialCheck("unchecked", f"ZignSec could not answer: {error.reason}")
        return CredentialCheck("unchecked", "ZignSec answered for a session that should not exist")


def error_messages(body: bytes) -> list[object]:
    """Messages of a ZignSec error answer: ``errors[].description`` of the
    published error object, or a bare ``message`` (*inferred*)."""
    answer = json_object_or_empty(body)
    errors = answer.get("errors")
    messages = [(e.get("description") or e.get("message")) if isinstance(e, dict) else e
                for e in (errors if isinstance(errors, list) else [])]
    return messages or [answer.get("message")]
