"""The CAMARA SIM Swap API (``check`` and ``retrieve-date``) behind an OAuth 2.0 token endpoint.

As the API describes itself (CAMARA SimSwap, release r3.2, API version
2.1.0, ``code/API_definitions/sim-swap.yaml``,
https://github.com/camaraproject/SimSwap/blob/r3.2/code/API_definitions/sim-swap.yaml):

* ``POST /sim-swap/v2/check`` with ``{"phoneNumber", "maxAge"}`` answers 200
  ``{"swapped": bool}``: whether the SIM changed within ``maxAge`` hours
  (1 to 2400, default 240). ``POST /sim-swap/v2/retrieve-date`` with
  ``{"phoneNumber"}`` answers ``{"latestSimChange": date-time or null}``.
* Errors are ``{"status", "code", "message"}``: 400 ``INVALID_ARGUMENT``
  (a body or ``phoneNumber`` that does not fit ``^\\+[1-9][0-9]{4,14}$``),
  400 ``OUT_OF_RANGE`` (``maxAge`` outside 1..2400), 401 ``UNAUTHENTICATED``
  (no valid token), 403 ``PERMISSION_DENIED`` (a token without the scope
  ``sim-swap:check`` / ``sim-swap:retrieve-date`` or ``sim-swap``), 422
  ``MISSING_IDENTIFIER`` (no ``phoneNumber`` with a two-legged token) and
  ``SERVICE_NOT_APPLICABLE`` (a number the operator does not serve), 429
  ``TOO_MANY_REQUESTS``; 500 ``INTERNAL`` and 503 ``UNAVAILABLE`` as CAMARA
  Commonalities' ``CAMARA_common.yaml`` writes them. An ``x-correlator``
  header is echoed.

*Inferred* (CAMARA leaves it to each operator's onboarding): the token
endpoint, here ``POST /token`` with HTTP Basic client credentials and
``grant_type=client_credentials`` (RFC 6749 section 4.4), errors as RFC
6749 section 5.2.

Switches: :meth:`Camara.set_sim_swap` (the SIM of a number was swapped N
hours ago), :meth:`Camara.set_not_applicable` (a number the operator does
not serve). Fault keys ``camara`` (the API) and ``camara-token``; besides
the common faults, ``422`` and ``503`` answer CAMARA's documents.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from datetime import timedelta
from types import MappingProxyType
from typing import Any

from .base import Recorder, Request, Response, Vendor, basic_credentials, iso_utc, same, utc_now

__all__ = ["API_PATH", "CREDENTIALS", "VENDOR", "Camara"]

#: Client credentials the sandbox's token endpoint accepts.
CREDENTIALS = MappingProxyType({"client_id": "sandbox-camara-client", "client_secret": "sandbox-camara-secret"})
#: Where the API lives below the vendor prefix: a check's ``base_url`` is ``{base_url("camara")}{API_PATH}``.
API_PATH = "/sim-swap/v2"
TOKEN_ROUTE = "/token"  # noqa: S105 (a path, not a password)
CHECK_ROUTE = API_PATH + "/check"
RETRIEVE_ROUTE = API_PATH + "/retrieve-date"
_PHONE = re.compile(r"\+[1-9][0-9]{4,14}")
_CORRELATOR = re.compile(r"[a-zA-Z0-9\-_:;./<>{}]{0,256}")
_MESSAGES = {
    "INVALID_ARGUMENT": "Client specified an invalid argument, request body or query param.",
    "OUT_OF_RANGE": "Client specified an invalid range.",
    "UNAUTHENTICATED": "Request not authenticated due to missing, invalid, or expired credentials. "
                       "A new authentication is required.",
    "PERMISSION_DENIED": "Client does not have sufficient permissions to perform this action.",
    "MISSING_IDENTIFIER": "The device cannot be identified.",
    "SERVICE_NOT_APPLICABLE": "The service is not available for the provided identifier.",
    "TOO_MANY_REQUESTS": "Rejected due to request rate limit overpassed.",
    "INTERNAL": "Unknown server error. Typically a server bug.",
    "UNAVAILABLE": "Service Unavailable.",
}
_FAULT_CODES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 422: "SERVICE_NOT_APPLICABLE",
                429: "TOO_MANY_REQUESTS", 500: "INTERNAL", 503: "UNAVAILABLE"}


def error(status: int, code: str, headers: dict[str, str] | None = None) -> Response:
    """A CAMARA ``ErrorInfo`` answer."""
    return Response.json(status, {"status": status, "code": code, "message": _MESSAGES[code]}, headers=headers)


def oauth_error(status: int, code: str) -> Response:
    retry = {"Retry-After": "1"} if status == 429 else {}
    return Response.json(status, {"error": code}, headers={"Cache-Control": "no-store", **retry})


class Camara(Vendor):
    """A CAMARA SIM Swap API with its token endpoint; every number's SIM is
    unswapped (activated long ago) until :meth:`set_sim_swap` says otherwise."""

    name = "camara"
    fault_variants = {"camara": ("422", "503"), "camara-token": ()}

    def __init__(self, record: Recorder, *, token_ttl: int = 3600) -> None:
        super().__init__(record)
        self._token_ttl = token_ttl
        self._lock = threading.Lock()
        self._tokens: dict[str, tuple[float, frozenset[str]]] = {}
        self._swaps: dict[str, float] = {}
        self._not_applicable: set[str] = set()

    def fault_key(self, route: str) -> str:
        return "camara-token" if route == TOKEN_ROUTE else "camara"

    # -- switches ---------------------------------------------------------------

    def set_sim_swap(self, number: str, hours_ago: float | None) -> None:
        """The SIM of ``number`` was swapped ``hours_ago`` hours ago (None: never)."""
        if hours_ago is not None and (isinstance(hours_ago, bool) or not isinstance(hours_ago, int | float)
                                      or hours_ago < 0):
            raise ValueError(f"hours_ago must be a number of hours of at least 0 or None, not {hours_ago!r}")
        with self._lock:
            if hours_ago is None:
                self._swaps.pop(number, None)
            else:
                self._swaps[number] = time.time() - hours_ago * 3600

    def set_not_applicable(self, number: str, not_applicable: bool = True) -> None:
        """Whether the operator serves ``number`` (422 ``SERVICE_NOT_APPLICABLE`` when not)."""
        with self._lock:
            (self._not_applicable.add if not_applicable else self._not_applicable.discard)(number)

    def reset(self) -> None:
        with self._lock:
            self._tokens.clear()
            self._swaps.clear()
            self._not_applicable.clear()

    # -- answers ----------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        if request.route == TOKEN_ROUTE:
            return self._token(request) if request.method == "POST" else oauth_error(405, "invalid_request")
        if request.route in (CHECK_ROUTE, RETRIEVE_ROUTE):
            if request.method != "POST":
                return Response(405, headers={"Allow": "POST"})
            return self._api(request)
        return Response.json(404, {"status": 404, "code": "NOT_FOUND", "message": "The specified resource is "
                                   "not found."})

    def fault_response(self, key: str, fault: str, request: Request) -> Response:
        status = int(fault)
        if key == "camara-token":
            return oauth_error(status, {401: "invalid_client", 429: "temporarily_unavailable"}.get(
                status, "server_error"))
        return error(status, _FAULT_CODES[status], {"Retry-After": "1"} if status == 429 else None)

    def _token(self, request: Request) -> Response:
        credentials = basic_credentials(request.headers.get("Authorization", ""))
        if credentials is None or not (same(credentials[0], CREDENTIALS["client_id"])
                                       & same(credentials[1], CREDENTIALS["client_secret"])):
            return oauth_error(401, "invalid_client")
        form = request.parsed() if request.content_type == "application/x-www-form-urlencoded" else None
        if not isinstance(form, dict) or "grant_type" not in form:
            return oauth_error(400, "invalid_request")
        if form["grant_type"] != "client_credentials":
            return oauth_error(400, "unsupported_grant_type")
        scopes = frozenset(form.get("scope", "").split())
        token = secrets.token_urlsafe(32)
        with self._lock:
            now = time.monotonic()
            self._tokens = {t: v for t, v in self._tokens.items() if v[0] > now}
            self._tokens[token] = (now + self._token_ttl, scopes)
        return Response.json(200, {"access_token": token, "token_type": "Bearer", "expires_in": self._token_ttl,
                                   "scope": " ".join(sorted(scopes))}, headers={"Cache-Control": "no-store"})

    def _scopes(self, header: str) -> frozenset[str] | None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer":
            return None
        with self._lock:
            entry = self._tokens.get(token.strip())
        return entry[1] if entry is not None and entry[0] > time.monotonic() else None

    def _api(self, request: Request) -> Response:
        correlator = request.headers.get("x-correlator")
        headers = {"x-correlator": correlator} if correlator is not None and _CORRELATOR.fullmatch(correlator) \
            else None
        scopes = self._scopes(request.headers.get("Authorization", ""))
        if scopes is None:
            return error(401, "UNAUTHENTICATED", headers)
        operation = "check" if request.route == CHECK_ROUTE else "retrieve-date"
        if not scopes & {f"sim-swap:{operation}", "sim-swap"}:
            return error(403, "PERMISSION_DENIED", headers)
        body = request.parsed() if request.content_type == "application/json" else None
        if not isinstance(body, dict):
            return error(400, "INVALID_ARGUMENT", headers)
        number = body.get("phoneNumber")
        if number is None:
            return error(422, "MISSING_IDENTIFIER", headers)
        if not isinstance(number, str) or not _PHONE.fullmatch(number):
            return error(400, "INVALID_ARGUMENT", headers)
        with self._lock:
            swapped_at, not_applicable = self._swaps.get(number), number in self._not_applicable
        if not_applicable:
            return error(422, "SERVICE_NOT_APPLICABLE", headers)
        if operation == "retrieve-date":
            change = None if swapped_at is None else iso_utc(utc_now() - timedelta(seconds=time.time() - swapped_at))
            return Response.json(200, {"latestSimChange": change}, headers=headers)
        max_age: Any = body.get("maxAge", 240)
        if isinstance(max_age, bool) or not isinstance(max_age, int):
            return error(400, "INVALID_ARGUMENT", headers)
        if not 1 <= max_age <= 2400:
            return error(400, "OUT_OF_RANGE", headers)
        swapped = swapped_at is not None and time.time() - swapped_at <= max_age * 3600
        return Response.json(200, {"swapped": swapped}, headers=headers)


VENDOR = Camara
