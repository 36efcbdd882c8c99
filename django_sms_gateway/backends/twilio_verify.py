"""Twilio Verify: :class:`TwilioVerifyBackend`, the vendor makes, sends and
checks the code (like iP1).

Wire facts and their public sources (the shared ones, HTTP Basic and the
error document, are in :mod:`.twilio_api`): Verify
(https://www.twilio.com/docs/verify/api/verification and
``/verification-check``): ``POST {base_url}/v2/Services/{ServiceSid}/Verifications``
with ``To`` and ``Channel=sms`` answers 201 ``{"sid": "VE...", "status":
"pending"}``; ``POST .../VerificationCheck`` with ``To`` and ``Code``
answers 200 with ``status`` (``approved`` only for the right code) and
``valid`` (true only then); 404 (20404) when no pending verification is
left (expired, approved, canceled, or deleted after the fifth wrong code:
Twilio, "How to test Verify without getting rate limited",
https://www.twilio.com/en-us/blog/test-verify-no-rate-limits); 60200 invalid
parameter, 60202 too many checks, 60203 too many sends (429). Service
check: ``GET /v2/Services/{ServiceSid}`` with its ``code_length``.

At Verify, a 20429 is taken to be about the number (*inferred* from the
20429 error page, whose Verify causes are all per number: hook
:attr:`TwilioVerifyBackend.recipient_limit_codes`): another vendor is tried
and Twilio's circuit breaker is not charged, so that nobody who types a
number can open it for everyone.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..conf import settings
from ..exceptions import GatewayUnavailable, RecipientRefused
from .base import CredentialCheck, Option, SendResult, SMSMessage, is_e164
from .twilio_api import TwilioAPI, error_code, sid_option

__all__ = ["VERIFY_CODE_LENGTHS", "TwilioVerifyBackend"]

#: Verify code lengths a Verify Service can be set to.
VERIFY_CODE_LENGTHS = range(4, 11)


class TwilioVerifyBackend(TwilioAPI):
    """Twilio Verify makes, sends and checks the code (like iP1).

    OPTIONS: ``account_sid`` and ``service_sid`` (``VA...``), required, with
    ``api_key_sid`` and ``api_key_secret`` or ``auth_token`` (see
    :class:`.TwilioAPI`); ``locale`` (Twilio's ``Locale`` of the SMS text; omitted:
    Twilio picks); ``base_url`` (default ``https://verify.twilio.com``).

    The text is the Verify Service's, so ``OTP_SMS_MESSAGE`` is not used;
    the Service's code length must equal ``OTP_SMS_TOKEN_LENGTH`` (codes of
    another length are refused on our side; ``sendtestsms --check`` says so).
    """

    options: ClassVar[dict[str, Any]] = {
        **TwilioAPI.options,
        "service_sid": sid_option("VA", "the Verify Service"),
        "locale": Option(None, kind="text", doc="Locale of Verify's SMS text, such as 'nb'"),
    }
    default_base_url: ClassVar[str] = "https://verify.twilio.com"
    verifies_codes: ClassVar[bool] = True
    recipient_limit_codes: ClassVar[frozenset[int]] = TwilioAPI.recipient_limit_codes | {20429}
    rate_limit_codes: ClassVar[frozenset[int]] = frozenset()
    uses_site_message: bool = False

    def check_options(self) -> None:
        super().check_options()
        length = settings.OTP_SMS_TOKEN_LENGTH
        if length not in VERIFY_CODE_LENGTHS:
            raise self.config_error(f"Twilio Verify makes codes of 4 to 10 digits; OTP_SMS_TOKEN_LENGTH is {length}")

    @property
    def service_path(self) -> str:
        return f"/v2/Services/{self.config['service_sid']}"

    def send(self, message: SMSMessage, *, timeout: float) -> SendResult:
        if not is_e164(message.recipient):
            raise self.error(RecipientRefused, "recipient is not an E.164 number")
        fields = {"To": message.recipient, "Channel": "sms"}
        if self.config["locale"]:
            fields["Locale"] = self.config["locale"]
        response = self.request("POST", f"{self.service_path}/Verifications", timeout=timeout, data=fields,
                                auth=self.auth)
        if not response.ok:
            raise self.twilio_error(response)
        data = self.read_json(response)
        sid = data.get("sid")
        if response.status != 201 or not isinstance(sid, str) or not sid.startswith("VE") \
                or data.get("status") != "pending":
            raise self.error(GatewayUnavailable, f"answer is not a pending verification (HTTP {response.status})",
                             status_code=response.status)
        return SendResult(reference=sid[:128], status="pending")

    def verify(self, recipient: str, code: str, *, timeout: float) -> bool:
        """True only for a 200 whose ``status`` is ``approved`` and whose
        ``valid`` is true; False when Verify says no (200 pending, 404 no
        pending verification, 60202 too many checks, 60200 a code it cannot
        take). Raises a GatewayError when Verify cannot answer, so the
        device neither accepts nor counts a failure."""
        response = self.request("POST", f"{self.service_path}/VerificationCheck", timeout=timeout,
                                data={"To": recipient, "Code": code}, auth=self.auth)
        if response.status == 200:
            data = self.read_json(response)
            return data.get("status") == "approved" and data.get("valid") is True
        if response.status == 404 or error_code(response.body) in (60200, 60202):
            return False
        if response.ok:  # a 2xx other than the documented 200 says nothing about the code
            raise self.error(GatewayUnavailable, f"unexpected answer (HTTP {response.status})",
                             status_code=response.status)
        raise self.twilio_error(response)

    def check_credentials(self, *, timeout: float) -> CredentialCheck:
        outcome, service = self._get_check(self.service_path, timeout=timeout)
        length = service.get("code_length") if service else None
        expected = settings.OTP_SMS_TOKEN_LENGTH
        if outcome.outcome == "accepted" and length != expected:
            return CredentialCheck("accepted", f"Twilio accepted the credentials, but the Verify Service makes "
                                               f"codes of {length} digits and OTP_SMS_TOKEN_LENGTH is {expected}")
        return outcome
