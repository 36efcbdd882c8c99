"""Twilio Programmable Messaging: :class:`TwilioBackend` sends our code.

Wire facts and their public sources (the shared ones, HTTP Basic and the
error document, are in :mod:`.twilio_api`):

- Send: ``POST {base_url}/2010-04-01/Accounts/{AccountSid}/Messages.json``
  with ``To``, ``Body``, ``From`` or ``MessagingServiceSid``, optional
  ``StatusCallback``; the answer is ``201 Created`` with the Message resource:
  ``sid`` (``SM`` + 32 hex), ``status`` (``queued``, or ``accepted`` through a
  Messaging Service), ``num_segments`` (a string; "0" through a Messaging
  Service) (Twilio "Messages resource" API reference,
  https://www.twilio.com/docs/messaging/api/message-resource).
- Credentials check: ``GET /2010-04-01/Accounts/{AccountSid}.json`` (Accounts
  resource, https://www.twilio.com/docs/iam/api/account); with an API key,
  which may be a Standard key that the Accounts resource refuses, one page
  of one message, ``GET .../Messages.json?PageSize=1`` ("Read multiple
  Message resources", same Messages reference).
- Status callbacks are signed with the Auth Token, whatever the calls
  authenticate with ("Webhooks security",
  https://www.twilio.com/docs/usage/webhooks/webhooks-security).

Twilio Verify, where Twilio makes the code, is :mod:`.twilio_verify`.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from ..exceptions import GatewayUnavailable
from .base import CredentialCheck, Option, SendResult, SMSMessage
from .twilio_api import TwilioAPI, sid_option

__all__ = ["MESSAGE_SID", "TwilioBackend"]

MESSAGE_SID = re.compile(r"(SM|MM)[0-9a-fA-F]{32}")
#: Message statuses that mean Twilio will not deliver it.
FAILED_STATUSES = frozenset({"failed", "undelivered", "canceled"})


class TwilioBackend(TwilioAPI):
    """Sends our code through Twilio's Messages resource.

    OPTIONS: ``account_sid`` (required) and ``api_key_sid`` with
    ``api_key_secret``, or ``auth_token`` (see :class:`.TwilioAPI`; a
    ``status_callback`` needs the Auth Token, which signs it); ``sender`` (the
    ``From``: a Twilio number, short code or alphanumeric sender ID) or
    ``messaging_service_sid`` (``MG...``; then Twilio picks the sender from
    the service and ``From`` is not sent); ``status_callback`` (the URL of
    :func:`django_sms_gateway.webhooks.twilio.twilio_status_webhook` for this
    alias); ``max_segments`` (default 10: Twilio takes up to 1600
    characters); ``base_url`` (default ``https://api.twilio.com``).
    """

    options: ClassVar[dict[str, Any]] = {
        **TwilioAPI.options,
        "sender": Option(None, kind="sender", doc="From: a Twilio number, short code or alphanumeric ID"),
        "messaging_service_sid": sid_option("MG", "a Messaging Service to send through instead of sender", None),
        "status_callback": Option(None, kind="url", doc="URL Twilio posts status changes to"),
        "max_segments": Option(10, kind="int", minimum=1, maximum=10, doc="most SMS parts per message"),
    }
    default_base_url: ClassVar[str] = "https://api.twilio.com"

    def check_options(self) -> None:
        super().check_options()
        if self.config["status_callback"] and self.config["auth_token"] is None:
            raise self.config_error("option 'auth_token' is required with 'status_callback': "
                                    "Twilio signs its status callbacks with the Auth Token")
        if self.config["sender"] is None and self.config["messaging_service_sid"] is None:
            raise self.config_error("option 'sender' or 'messaging_service_sid' is required by Twilio")
        self.max_segments = self.config["max_segments"]

    @property
    def receipts(self) -> bool:
        """True when ``status_callback`` is set: Twilio then posts each status change there."""
        return bool(self.config["status_callback"])

    def payload(self, message: SMSMessage) -> dict[str, str]:
        """The form fields for ``message``; a GatewayError, with nothing
        sent, when Twilio would refuse it."""
        service = self.config["messaging_service_sid"]
        parts_note = f"this gateway sends at most {self.max_segments}"
        if service:
            self.checked_parts(message, parts_note)
            fields = {"To": message.recipient, "MessagingServiceSid": service}
        else:
            sender, _info = self.checked_text_message(message, parts_note)
            fields = {"To": message.recipient, "From": sender}
        fields["Body"] = message.text
        if self.config["status_callback"]:
            fields["StatusCallback"] = self.config["status_callback"]
        return fields

    def send(self, message: SMSMessage, *, timeout: float) -> SendResult:
        path = f"/2010-04-01/Accounts/{self.config['account_sid']}/Messages.json"
        response = self.request("POST", path, timeout=timeout, data=self.payload(message), auth=self.auth)
        if not response.ok:
            raise self.twilio_error(response)
        data = self.read_json(response)
        sid, status = data.get("sid"), data.get("status")
        if response.status != 201 or not isinstance(sid, str) or not MESSAGE_SID.fullmatch(sid):
            raise self.error(GatewayUnavailable, f"answer is not a created message (HTTP {response.status})",
                             status_code=response.status)
        if not isinstance(status, str) or not status or status in FAILED_STATUSES:
            code = data.get("error_code")
            raise self.error(GatewayUnavailable, f"message {status or 'without status'} (Twilio {code})",
                             status_code=response.status, vendor_status=str(status)[:32])
        return SendResult(reference=sid, status=status[:32], segments=_segments(data.get("num_segments")))

    def check_credentials(self, *, timeout: float) -> CredentialCheck:
        account = f"/2010-04-01/Accounts/{self.config['account_sid']}"
        if self.uses_api_key:
            outcome, _page = self._get_check(f"{account}/Messages.json?PageSize=1", timeout=timeout)
        else:
            outcome, _account = self._get_check(f"{account}.json", timeout=timeout)
        return outcome


def _segments(value: Any) -> int | None:
    """``num_segments`` (a string of digits); None for "0" (not known yet)."""
    if isinstance(value, str) and value.isdigit() and value != "0":
        return int(value)
    return None
