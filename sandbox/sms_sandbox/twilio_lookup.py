"""Twilio Lookup v2 (``GET /v2/PhoneNumbers/{PhoneNumber}``) with the ``sim_swap`` and
``line_type_intelligence`` fields, under ``/twilio_lookup`` (Twilio serves it from
``lookups.twilio.com`` with the account's credentials).

As Twilio documents it (the OpenAPI description of Lookup v2,
``spec/json/twilio_lookups_v2.json`` in https://github.com/twilio/twilio-oai;
"SIM Swap", https://www.twilio.com/docs/lookup/v2-api/sim-swap; "Line Type
Intelligence", https://www.twilio.com/docs/lookup/v2-api/line-type-intelligence):

* HTTP Basic with the Account SID and Auth Token or an API key (the same
  credentials as :mod:`.twilio`); 401 with code 20003 otherwise, in Twilio's
  error document ``{"code", "message", "more_info", "status"}``.
* ``Fields`` is a comma-separated list; the answer is the phone number
  resource (``calling_country_code``, ``country_code``, ``phone_number``,
  ``national_format``, ``valid``, ``validation_errors``, ``url`` and one
  object per data field, null when not asked for).
* ``sim_swap``: ``{"last_sim_swap": {"last_sim_swap_date", "swapped_period",
  "swapped_in_period"}, "carrier_name", "mobile_country_code",
  "mobile_network_code", "error_code"}``; ``swapped_period`` is the
  account's, set at onboarding (here ``PT48H``, a constructor option).
* ``line_type_intelligence``: ``{"type", "carrier_name",
  "mobile_country_code", "mobile_network_code", "error_code"}``.

*Inferred*: a number that is not E.164 answers ``valid: false`` with
``validation_errors: ["NOT_A_NUMBER"]`` and null data fields; the sandbox's
own ``country_code`` table is short (null for other calling codes); an
unknown name in ``Fields`` answers 400 with code 60200.

Switches: :meth:`TwilioLookup.set_sim_swap` (swapped N hours ago; the date
may be withheld, as some carriers do), :meth:`TwilioLookup.set_line_type`
and :meth:`TwilioLookup.set_error` (a field's ``error_code``, such as 60620
or 60601). Fault key ``twilio_lookup``, common faults only.
"""

from __future__ import annotations

import re
import threading
import time
from datetime import timedelta
from typing import Any
from urllib.parse import unquote

from . import twilio
from .base import Recorder, Request, Response, Vendor, basic_credentials, same, utc_now

__all__ = ["CREDENTIALS", "FIELDS", "LINE_TYPES", "VENDOR", "TwilioLookup"]

#: The account's credentials, as the Messages and Verify imitation takes them.
CREDENTIALS = twilio.CREDENTIALS
#: Data fields the imitation answers, and the rest Twilio documents (answered null).
FIELDS = ("sim_swap", "line_type_intelligence")
OTHER_FIELDS = ("validation", "caller_name", "call_forwarding", "line_status", "identity_match", "reassigned_number",
                "sms_pumping_risk", "phone_number_quality_score", "pre_fill")
LINE_TYPES = ("landline", "mobile", "fixedVoip", "nonFixedVoip", "personal", "tollFree", "premium", "sharedCost",
              "uan", "voicemail", "pager", "unknown")
_ROUTE = re.compile(r"/v2/PhoneNumbers/([^/]+)")
_E164 = re.compile(r"\+[1-9][0-9]{1,14}")
_COUNTRIES = {"1": "US", "44": "GB", "45": "DK", "46": "SE", "47": "NO", "62": "ID", "358": "FI"}
_FAULTS = {"500": (20500, 500, "Internal Server Error"), "401": (20003, 401, "Authenticate"),
           "429": (20429, 429, "Too Many Requests")}


def error(code: int, status: int, message: str) -> Response:
    """Twilio's error document (a 429 says when to try again)."""
    return Response.json(status, {"code": code, "message": message,
                                  "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status},
                         headers={"Retry-After": "1"} if status == 429 else None)


class TwilioLookup(Vendor):
    """Lookup v2: every number is a mobile line whose SIM was never swapped
    until a switch says otherwise."""

    name = "twilio_lookup"
    fault_variants = {"twilio_lookup": ()}

    def __init__(self, record: Recorder, *, swapped_period_hours: int = 48) -> None:
        super().__init__(record)
        self._period = swapped_period_hours
        self._lock = threading.Lock()
        self._swaps: dict[str, tuple[float, bool]] = {}
        self._types: dict[str, str] = {}
        self._errors: dict[tuple[str, str], int] = {}

    # -- switches ---------------------------------------------------------------

    def set_sim_swap(self, number: str, hours_ago: float | None, *, with_date: bool = True) -> None:
        """The SIM of ``number`` was swapped ``hours_ago`` hours ago (None:
        never); ``with_date=False`` withholds ``last_sim_swap_date``."""
        if hours_ago is not None and (isinstance(hours_ago, bool) or not isinstance(hours_ago, int | float)
                                      or hours_ago < 0):
            raise ValueError(f"hours_ago must be a number of hours of at least 0 or None, not {hours_ago!r}")
        with self._lock:
            if hours_ago is None:
                self._swaps.pop(number, None)
            else:
                self._swaps[number] = (time.time() - hours_ago * 3600, with_date)

    def set_line_type(self, number: str, line_type: str | None) -> None:
        """The line type of ``number`` (None: ``mobile``)."""
        if line_type is not None and line_type not in LINE_TYPES:
            raise ValueError(f"unknown line type {line_type!r}; choose from {', '.join(LINE_TYPES)}")
        with self._lock:
            if line_type is None:
                self._types.pop(number, None)
            else:
                self._types[number] = line_type

    def set_error(self, number: str, field: str, code: int | None) -> None:
        """``field`` of ``number`` answers ``error_code`` ``code`` (None: no error)."""
        if field not in FIELDS:
            raise ValueError(f"unknown field {field!r}; choose from {', '.join(FIELDS)}")
        with self._lock:
            if code is None:
                self._errors.pop((number, field), None)
            else:
                self._errors[(number, field)] = code

    def reset(self) -> None:
        with self._lock:
            self._swaps.clear()
            self._types.clear()
            self._errors.clear()

    # -- answers ----------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        match = _ROUTE.fullmatch(request.route)
        if match is None:
            return error(20404, 404, "The requested resource was not found")
        if request.method != "GET":
            return error(20004, 405, "Method not allowed")
        credentials = basic_credentials(request.headers.get("Authorization", ""))
        if credentials is None or not self._authorized(*credentials):
            return error(20003, 401, "Authenticate")
        fields = [name.strip() for name in request.params.get("Fields", "").split(",") if name.strip()]
        if any(name not in FIELDS + OTHER_FIELDS for name in fields):
            return error(60200, 400, "Invalid parameter")
        return Response.json(200, self._resource(unquote(match.group(1)), fields, request))

    def fault_response(self, key: str, fault: str, request: Request) -> Response:
        return error(*_FAULTS[fault])

    def _authorized(self, user: str, password: str) -> bool:
        account = same(user, twilio.CREDENTIALS["account_sid"]) & same(password, twilio.CREDENTIALS["auth_token"])
        key = same(user, twilio.API_KEY["api_key_sid"]) & same(password, twilio.API_KEY["api_key_secret"])
        return account or key

    def _resource(self, number: str, fields: list[str], request: Request) -> dict[str, Any]:
        valid = _E164.fullmatch(number) is not None
        digits = number[1:]
        code = next((c for c in sorted(_COUNTRIES, key=len, reverse=True) if digits.startswith(c)), None)
        resource: dict[str, Any] = {
            "calling_country_code": code if valid else None,
            "country_code": _COUNTRIES.get(code or "") if valid else None,
            "phone_number": number if valid else None,
            "national_format": None,
            "valid": valid,
            "validation_errors": None if valid else ["NOT_A_NUMBER"],
            **dict.fromkeys(("caller_name", "sim_swap", "call_forwarding", "line_status", "line_type_intelligence",
                             "identity_match", "reassigned_number", "sms_pumping_risk",
                             "phone_number_quality_score", "pre_fill")),
            "url": f"{request.base_url}{request.path}",
        }
        if not valid:
            return resource
        with self._lock:
            swap, line_type = self._swaps.get(number), self._types.get(number, "mobile")
            errors = {field: self._errors.get((number, field)) for field in FIELDS}
        if "sim_swap" in fields:
            resource["sim_swap"] = self._sim_swap(swap, errors["sim_swap"])
        if "line_type_intelligence" in fields:
            resource["line_type_intelligence"] = self._line_type(line_type, errors["line_type_intelligence"])
        return resource

    def _sim_swap(self, swap: tuple[float, bool] | None, code: int | None) -> dict[str, Any]:
        carrier = {"carrier_name": "Sandbox Mobile", "mobile_country_code": "242", "mobile_network_code": "01"}
        if code is not None:
            return {"last_sim_swap": None, **carrier, "error_code": code}
        swapped_at, with_date = swap if swap is not None else (None, False)
        age = None if swapped_at is None else time.time() - swapped_at
        date = None
        if age is not None and with_date:
            date = (utc_now() - timedelta(seconds=age)).replace(microsecond=0).isoformat().replace("+00:00", "Z")
        return {
            "last_sim_swap": {
                "last_sim_swap_date": date,
                "swapped_period": f"PT{self._period}H",
                "swapped_in_period": age is not None and age <= self._period * 3600,
            },
            **carrier,
            "error_code": None,
        }

    def _line_type(self, line_type: str, code: int | None) -> dict[str, Any]:
        if code is not None:
            return {"mobile_country_code": None, "mobile_network_code": None, "carrier_name": None, "type": None,
                    "error_code": code}
        mobile = line_type == "mobile"
        return {
            "mobile_country_code": "242" if mobile else None,
            "mobile_network_code": "01" if mobile else None,
            "carrier_name": "Sandbox Mobile" if mobile else ("Sandbox Telecom" if line_type == "landline" else None),
            "type": line_type,
            "error_code": None,
        }


VENDOR = TwilioLookup
