"""SIM-swap and line-type checks on Twilio Lookup v2.

Wire facts and their sources:

- ``GET https://lookups.twilio.com/v2/PhoneNumbers/{PhoneNumber}?Fields=...``,
  HTTP Basic with the account's (or an API key's) credentials, as every
  Twilio API (:mod:`django_sms_gateway.backends.twilio_api`); ``Fields`` is
  a comma-separated list, among them ``sim_swap`` and
  ``line_type_intelligence``; the answer is the phone number resource, with
  one object per field asked for. Source: Twilio's OpenAPI description of
  Lookup v2, ``spec/json/twilio_lookups_v2.json`` in
  https://github.com/twilio/twilio-oai (``LookupResponse``, ``SimSwapInfo``,
  ``LastSimSwapInfo``, ``LineTypeIntelligenceInfo`` and the ``fetchSimSwap``
  and ``fetchLineTypeIntelligence`` examples).
- ``sim_swap``: ``{"last_sim_swap": {"last_sim_swap_date", "swapped_period",
  "swapped_in_period"}, "carrier_name", "mobile_country_code",
  "mobile_network_code", "error_code"}``. ``swapped_period`` (an ISO 8601
  duration such as ``PT48H``) is set for the account at onboarding, and
  ``swapped_in_period`` says whether the SIM changed within it;
  ``last_sim_swap_date`` is null where the carrier does not give the date.
  An unsupported country or carrier answers null values; error 60620 means
  the carrier's answer was incomplete. Sources: Twilio, "SIM Swap",
  https://www.twilio.com/docs/lookup/v2-api/sim-swap, and "60620",
  https://www.twilio.com/docs/api/errors/60620
- ``line_type_intelligence``: ``{"type", "carrier_name",
  "mobile_country_code", "mobile_network_code", "error_code"}``, ``type``
  one of ``landline``, ``mobile``, ``fixedVoip``, ``nonFixedVoip``,
  ``personal``, ``tollFree``, ``premium``, ``sharedCost``, ``uan``,
  ``voicemail``, ``pager``, ``unknown``; a Canadian number without Twilio's
  approval answers error 60601. Source: Twilio, "Line Type Intelligence",
  https://www.twilio.com/docs/lookup/v2-api/line-type-intelligence
- Errors: Twilio's error document ``{"code", "message", "more_info",
  "status"}`` (401 with 20003, 404 with 20404, 429 with 20429), read by
  :meth:`~django_sms_gateway.backends.twilio_api.TwilioAPI.twilio_error`.

A field that is null, or carries an ``error_code``, is a lookup that could
not answer (the entry's ``FAIL_CLOSED`` decides).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from ..backends.base import Option
from ..backends.twilio_api import TwilioAPI
from ..exceptions import GatewayUnavailable
from . import RiskCheck, Verdict, allow, refuse

__all__ = ["LINE_TYPES", "TwilioLineTypeCheck", "TwilioLookupCheck", "TwilioSimSwapCheck"]

#: Every line ``type`` Twilio documents.
LINE_TYPES = (
    "landline", "mobile", "fixedVoip", "nonFixedVoip", "personal", "tollFree", "premium", "sharedCost", "uan",
    "voicemail", "pager", "unknown",
)
_HOURS = re.compile(r"PT([0-9]{1,5})H")


def _line_types_problem(value: Any) -> str | None:
    if isinstance(value, str) or not isinstance(value, Iterable):
        return "must be a list of Twilio line types, such as ['mobile']"
    given = list(value)
    unknown = [kind for kind in given if kind not in LINE_TYPES]
    if not given or unknown:
        shown = f" ({unknown[0]!r} is not one)" if unknown else ""
        return f"must list at least one of {', '.join(LINE_TYPES)}{shown}"
    return None


class TwilioLookupCheck(RiskCheck, TwilioAPI):
    """What both Lookup checks share: the account's credentials (options as
    the Twilio backends': ``account_sid`` and ``auth_token``, or
    ``api_key_sid`` and ``api_key_secret``; ``base_url``) and the call for
    one field."""

    options: ClassVar[dict[str, Any]] = dict(TwilioAPI.options)
    default_base_url: ClassVar[str] = "https://lookups.twilio.com"
    #: The value of ``Fields``, and the name of the answer's object for it.
    field: ClassVar[str] = ""

    def lookup(self, number: str, timeout: float) -> dict[str, Any]:
        """The answer's object for :attr:`field`; a GatewayError when Twilio
        gives none (null, or with an ``error_code``)."""
        response = self.request("GET", f"/v2/PhoneNumbers/{number}", timeout=timeout, params={"Fields": self.field},
                                auth=self.auth)
        if not response.ok:
            raise self.twilio_error(response)
        info = self.read_json(response).get(self.field)
        if not isinstance(info, dict):
            raise self.error(GatewayUnavailable, f"no {self.field} for this number", status_code=response.status)
        code = info.get("error_code")
        if code is not None:
            shown = code if isinstance(code, int) and not isinstance(code, bool) and 0 < code < 10**6 else "unlisted"
            raise self.error(GatewayUnavailable, f"Twilio Lookup error {shown}", status_code=response.status,
                             vendor_status=str(shown))
        return info


class TwilioSimSwapCheck(TwilioLookupCheck):
    """Refuses a send to a number whose SIM was swapped recently, by Twilio
    Lookup's ``sim_swap``.

    Without ``max_age`` (the default) "recently" is the ``swapped_period``
    set for the account at onboarding (``swapped_in_period``). With
    ``max_age`` (hours), a ``last_sim_swap_date`` within that many hours
    refuses too; where the carrier gives no date, ``swapped_in_period``
    decides."""

    options: ClassVar[dict[str, Any]] = {
        **TwilioLookupCheck.options,
        "max_age": Option(None, kind="int", minimum=1, maximum=24 * 366,
                          doc="hours: a SIM swapped this recently refuses the send (default: Twilio's swapped_period)"),
    }
    field: ClassVar[str] = "sim_swap"

    def check(self, number: str, *, device: Any, request: Any, timeout: float) -> Verdict:
        last = self.lookup(number, timeout).get("last_sim_swap")
        if not isinstance(last, dict):
            raise self.error(GatewayUnavailable, "no last_sim_swap for this number")
        in_period, period = last.get("swapped_in_period"), last.get("swapped_period")
        hours = _HOURS.fullmatch(period) if isinstance(period, str) else None
        within = f"{hours.group(1)} hours" if hours else "Twilio's swapped period"
        max_age = self.config["max_age"]
        swapped_at = _moment(last.get("last_sim_swap_date"))
        if max_age is not None and swapped_at is not None:
            if datetime.now(UTC) - swapped_at < timedelta(hours=max_age):
                return refuse(f"SIM swapped within {max_age} hours")
        if in_period is True:
            return refuse(f"SIM swapped within {within}")
        if in_period is False:
            return allow(f"no SIM swap within {within}")
        raise self.error(GatewayUnavailable, "answer without swapped_in_period")


class TwilioLineTypeCheck(TwilioLookupCheck):
    """Refuses a send to a number whose line type (Twilio Lookup's
    ``line_type_intelligence``) is not in ``allowed_types`` (default
    ``["mobile"]``: landlines, VoIP and the rest are refused)."""

    options: ClassVar[dict[str, Any]] = {
        **TwilioLookupCheck.options,
        "allowed_types": Option(("mobile",), kind="any", check=_line_types_problem,
                                doc=f"line types that may get codes, of: {', '.join(LINE_TYPES)}"),
    }
    field: ClassVar[str] = "line_type_intelligence"

    def check(self, number: str, *, device: Any, request: Any, timeout: float) -> Verdict:
        kind = self.lookup(number, timeout).get("type")
        if not isinstance(kind, str):
            raise self.error(GatewayUnavailable, "answer without a line type")
        if kind not in LINE_TYPES:
            return refuse("undocumented line type")
        if kind in self.config["allowed_types"]:
            return allow(f"line type {kind}")
        return refuse(f"line type {kind} is not allowed")


def _moment(value: Any) -> datetime | None:
    """An RFC 3339 date-time with a zone (``2020-04-27T10:18:50Z``), or None."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None

