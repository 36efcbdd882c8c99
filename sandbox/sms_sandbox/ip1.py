"""iP1 SMS authentications: the vendor generates, sends and checks the code.

As iP1's API help (https://api.ip1sms.com/Help) and REST API guide
(https://github.com/iP1SMS/documentation) describe it: HTTP Basic auth
(user = account id like ``ip1-12345``, password = API key).

* ``POST /api/authentications`` with ``{"Phone", "From", "MessageFormat",
  "Length", "ExpirationTime", "NumericOnly"}`` creates an authentication,
  "sends" ``MessageFormat`` with ``{0}`` replaced by a fresh code and answers
  ``{"ID", "Phone", "Created", "HasExpired", "Expires", "IsUsed", "Used"}``.
* ``POST /api/authentications/validate`` with ``{"Phone", "Code"}`` answers
  200 ``{"Valid", "Authentication", "Phone", "Code"}``: ``Valid`` true with
  the authentication (now used) when an unexpired, unused authentication of
  that phone has that code, otherwise ``Valid`` false and ``Authentication``
  null.
* ``GET /api/authentications/settings`` answers the account's defaults
  ``{"ConcurrentLimit", "From", "MessageFormat", "Length", "ExpirationTime",
  "NumericOnly"}``.
* At most ``ConcurrentLimit`` (5) active authentications per phone. iP1 does
  not document its refusal; the sandbox answers 400 with a ``Message`` naming
  the limit (*inferred*).

Errors carry ``{"Message": ...}`` as ASP.NET Web API does.
"""

from __future__ import annotations

import hmac
import itertools
import re
import secrets
import string
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

from .base import Recorder, Request, Response, Vendor, basic_credentials, iso_utc, same, utc_now

__all__ = ["CONCURRENT_LIMIT", "CREDENTIALS", "DEFAULT_MESSAGE_FORMAT", "VENDOR", "Ip1"]

#: Basic-auth user (account id) and password (API key).
CREDENTIALS = MappingProxyType({"account": "ip1-12345", "api_key": "sandbox-ip1-api-key"})
DEFAULT_MESSAGE_FORMAT = "Your code is {0}"

CREATE_ROUTE = "/api/authentications"
VALIDATE_ROUTE = "/api/authentications/validate"
SETTINGS_ROUTE = "/api/authentications/settings"
#: Active (unused, unexpired) authentications allowed per phone.
CONCURRENT_LIMIT = 5
CONCURRENT_LIMIT_MESSAGE = (
    "The maximum number of concurrent SMS authentications for this phone number has been reached."
)
_PHONE = re.compile(r"[1-9][0-9]{1,14}")
_LIMITS = {"Length": (3, 25, 5), "ExpirationTime": (1, 86400, 1200)}
_MESSAGES = {
    400: "The request is invalid.",
    401: "Authorization has been denied for this request.",
    429: "Too many requests.",
    500: "An error has occurred.",
}


class _Invalid(ValueError):
    """The request body breaks a rule; the text is the ``Message`` to answer."""


def message(status: int, text: str, headers: dict[str, str] | None = None) -> Response:
    """An iP1 error answer."""
    return Response.json(status, {"Message": text}, headers=headers)


def _integer(fields: dict[str, Any], name: str) -> int:
    low, high, default = _LIMITS[name]
    value = fields.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _Invalid(f"The field {name} must be an integer between {low} and {high}.")
    return value


def _string(fields: dict[str, Any], name: str, default: str | None = None) -> str:
    value = fields.get(name)
    if value is None:
        if default is None:
            raise _Invalid(f"The {name} field is required.")
        return default
    if not isinstance(value, str) or not value:
        raise _Invalid(f"The field {name} must be a non-empty string.")
    return value


@dataclass
class _Authentication:
    id: int
    phone: str
    code: str
    created: datetime
    expires: datetime
    used: datetime | None = None

    def as_json(self, now: datetime) -> dict[str, Any]:
        return {
            "ID": self.id,
            "Phone": self.phone,
            "Created": iso_utc(self.created),
            "HasExpired": now >= self.expires,
            "Expires": iso_utc(self.expires),
            "IsUsed": self.used is not None,
            "Used": iso_utc(self.used) if self.used else None,
        }


class Ip1(Vendor):
    """iP1's SMS authentications, held in memory until :meth:`reset`."""

    name = "ip1"
    fault_variants = {"ip1": ("400",)}

    def __init__(self, record: Recorder, *, clock: Callable[[], datetime] = utc_now) -> None:
        super().__init__(record)
        self._clock = clock
        self._lock = threading.Lock()
        self._authentications: list[_Authentication] = []
        self._ids = itertools.count(1)

    def reset(self) -> None:
        with self._lock:
            self._authentications.clear()
            self._ids = itertools.count(1)

    def handle(self, request: Request) -> Response:
        credentials = basic_credentials(request.headers.get("Authorization", ""))
        if credentials is None or not (same(credentials[0], CREDENTIALS["account"])
                                       & same(credentials[1], CREDENTIALS["api_key"])):
            return message(401, _MESSAGES[401], {"WWW-Authenticate": 'Basic realm="ip1"'})
        routes = {CREATE_ROUTE: "POST", VALIDATE_ROUTE: "POST", SETTINGS_ROUTE: "GET"}
        if request.route not in routes:
            return message(404, "No HTTP resource was found that matches the request URI "
                                f"'{request.base_url}{request.path}'.")
        if request.method != routes[request.route]:
            return message(405, f"The requested resource does not support http method "
                                f"'{request.method}'.", {"Allow": routes[request.route]})
        if request.route == SETTINGS_ROUTE:
            return Response.json(200, {"ConcurrentLimit": CONCURRENT_LIMIT, "From": "iP1",
                                       "MessageFormat": DEFAULT_MESSAGE_FORMAT, "Length": _LIMITS["Length"][2],
                                       "ExpirationTime": _LIMITS["ExpirationTime"][2], "NumericOnly": False})
        fields = request.parsed() if request.content_type == "application/json" else None
        if not isinstance(fields, dict):
            return message(400, "The request body must be a JSON object.")
        try:
            return self._create(fields) if request.route == CREATE_ROUTE else self._validate(fields)
        except _Invalid as exc:
            return message(400, str(exc))

    def fault_response(self, key: str, fault: str, request: Request) -> Response:
        status = int(fault)
        return message(status, _MESSAGES[status], {"Retry-After": "1"} if status == 429 else None)

    def _create(self, fields: dict[str, Any]) -> Response:
        phone = _string(fields, "Phone")
        if not _PHONE.fullmatch(phone):
            raise _Invalid("The field Phone must be an international number of digits only, without '+'.")
        _string(fields, "From", "iP1")
        text_format = _string(fields, "MessageFormat", DEFAULT_MESSAGE_FORMAT)
        if "{0}" not in text_format:
            raise _Invalid("The field MessageFormat must contain {0}.")
        length = _integer(fields, "Length")
        lifetime = _integer(fields, "ExpirationTime")
        numeric = fields.get("NumericOnly", False)
        if numeric is None:
            numeric = False
        if not isinstance(numeric, bool):
            raise _Invalid("The field NumericOnly must be a boolean.")
        alphabet = string.digits if numeric else string.ascii_uppercase + string.digits
        code = "".join(secrets.choice(alphabet) for _ in range(length))
        now = self._clock()
        with self._lock:
            active = sum(1 for a in self._authentications if a.phone == phone and a.used is None and now < a.expires)
            if active >= CONCURRENT_LIMIT:
                raise _Invalid(CONCURRENT_LIMIT_MESSAGE)
            authentication = _Authentication(next(self._ids), phone, code, now,
                                             now + timedelta(seconds=lifetime))
            self._authentications.append(authentication)
        self._record(self.name, "+" + phone, text_format.replace("{0}", code))
        return Response.json(200, authentication.as_json(now))

    def _validate(self, fields: dict[str, Any]) -> Response:
        """200 with ``Valid`` true and the (now used) authentication when an
        unexpired, unused authentication of that phone has that code; 200
        with ``Valid`` false and ``Authentication`` null otherwise."""
        phone, code = _string(fields, "Phone"), _string(fields, "Code")
        now = self._clock()
        with self._lock:
            for authentication in self._authentications:
                matches = hmac.compare_digest(authentication.code.encode(), code.encode())
                if (matches and authentication.phone == phone and authentication.used is None
                        and now < authentication.expires):
                    authentication.used = now
                    return Response.json(200, {"Valid": True, "Authentication": authentication.as_json(now),
                                               "Phone": phone, "Code": code})
        return Response.json(200, {"Valid": False, "Authentication": None, "Phone": phone, "Code": code})


VENDOR = Ip1
